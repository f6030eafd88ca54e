//! Server configuration: defaults, then a TOML file, then environment variables
//! (`LIENLOCK__...`) and flags. Secrets are never part of it: they live in files whose
//! paths it names.

use anyhow::Context;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything `lienlock serve` needs. `Debug` hides the password of a database URL.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Where the SQLite file and the secret files live.
    pub data_dir: PathBuf,
    /// `postgres://...` for PostgreSQL; absent for SQLite in `data_dir`.
    pub database: Option<String>,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Lease-signing key file (64 hex chars, mode 600). Default: `data_dir/signing.key`.
    pub signing_key_file: Option<PathBuf>,
    /// API-key MAC secret file (64 hex chars, mode 600). Default: `data_dir/server.secret`.
    pub secret_file: Option<PathBuf>,
    /// How long an active lease lasts, in seconds.
    pub lease_ttl_secs: i64,
    /// How often devices check in, in seconds.
    pub checkin_interval_secs: i64,
    /// How often the scheduler looks for due commands, in milliseconds.
    pub scheduler_interval_ms: u64,
    /// Device requests (check-ins, push subscriptions, disputes) one client address may
    /// make per second, with ten seconds' worth at once; 0: no limit. Generous because a
    /// carrier NAT puts many phones behind one address.
    pub device_rate_per_ip: u32,
    /// Requests this node serves at once (device and lender requests together; not push
    /// streams, health or readiness). Past it requests are answered `503 overloaded` with
    /// `Retry-After` at once instead of queueing; 0: no cap.
    pub max_in_flight: usize,
    /// Push connections this node holds at most (beyond: `503 push_full`).
    pub push_max_connections: usize,
    /// Push connections one device may hold (a newer one closes the oldest).
    pub push_per_device: usize,
    /// Seconds between heartbeats on an idle push stream (keep it under the idle timeout
    /// of every proxy and NAT in front of the phones; phones give up after 65 s of silence).
    pub push_heartbeat_secs: u64,
    /// Where Prometheus scrapes `/metrics`; absent: no metrics listener. Keep it off the
    /// public interface: it is for the operator's monitoring only.
    pub metrics_listen: Option<SocketAddr>,
    /// `text` (for a terminal) or `json` (one object per line, for a log pipeline).
    pub log_format: LogFormat,
    /// On SIGTERM, how long requests in flight may take to finish before the process
    /// exits anyway.
    pub shutdown_grace_secs: u64,
    /// A second address that serves only the Android Device Lock Controller's gRPC
    /// services (`docs/android.md`); absent: they are served on `listen` only.
    pub android_listen: Option<SocketAddr>,
    /// The gRPC metadata header Android phones send their key in.
    pub android_header: String,
    /// A file (mode 600) holding the deployment's Android key, which may name any lender's
    /// phones; absent: only lenders' own keys are accepted.
    pub android_key_file: Option<PathBuf>,
}

/// How `serve` writes its log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, with the request id on every request's lines.
    Json,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let lease = lienlock_server::LeaseSettings::default();
        let push = lienlock_server::push::PushLimits::default();
        Self {
            data_dir: PathBuf::from("lienlock-data"),
            database: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            signing_key_file: None,
            secret_file: None,
            lease_ttl_secs: lease.lease_ttl_secs,
            checkin_interval_secs: lease.checkin_interval_secs,
            scheduler_interval_ms: 1000,
            push_max_connections: push.total,
            push_per_device: push.per_device,
            push_heartbeat_secs: push.heartbeat.as_secs(),
            device_rate_per_ip: 100,
            metrics_listen: None,
            log_format: LogFormat::Text,
            shutdown_grace_secs: 20,
            max_in_flight: lienlock_server::shed::DEFAULT_MAX_IN_FLIGHT,
            android_listen: None,
            android_header: lienlock_server::android::DEFAULT_HEADER.to_owned(),
            android_key_file: None,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("data_dir", &self.data_dir)
            .field("database", &self.database.as_deref().map(redact_password))
            .field("listen", &self.listen)
            .field("signing_key_file", &self.signing_key_file)
            .field("secret_file", &self.secret_file)
            .field("lease_ttl_secs", &self.lease_ttl_secs)
            .field("checkin_interval_secs", &self.checkin_interval_secs)
            .field("scheduler_interval_ms", &self.scheduler_interval_ms)
            .field("push_max_connections", &self.push_max_connections)
            .field("push_per_device", &self.push_per_device)
            .field("push_heartbeat_secs", &self.push_heartbeat_secs)
            .field("device_rate_per_ip", &self.device_rate_per_ip)
            .field("metrics_listen", &self.metrics_listen)
            .field("log_format", &self.log_format)
            .field("shutdown_grace_secs", &self.shutdown_grace_secs)
            .field("max_in_flight", &self.max_in_flight)
            .field("android_listen", &self.android_listen)
            .field("android_header", &self.android_header)
            .field("android_key_file", &self.android_key_file)
            .finish()
    }
}

/// `postgres://user:secret@host/db` becomes `postgres://user:***@host/db`.
pub(crate) fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

impl ServerConfig {
    /// The push channel's limits. A heartbeat is kept between 5 and 60 seconds: phones
    /// drop a stream silent for 65.
    pub fn push_limits(&self) -> lienlock_server::push::PushLimits {
        lienlock_server::push::PushLimits {
            per_device: self.push_per_device.max(1),
            total: self.push_max_connections,
            heartbeat: std::time::Duration::from_secs(self.push_heartbeat_secs.clamp(5, 60)),
            ..Default::default()
        }
    }

    /// Defaults, overlaid with `file` when given.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        match file {
            None => Ok(Self::default()),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading config {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing config {}", p.display()))
            }
        }
    }

    /// The database string the store opens.
    pub fn database_url(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("lienlock.db").display()))
    }

    /// Path of the signing key file.
    pub fn signing_key_path(&self) -> PathBuf {
        self.signing_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("signing.key"))
    }

    /// Path of the MAC secret file.
    pub fn secret_path(&self) -> PathBuf {
        self.secret_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("server.secret"))
    }

    /// How Android phones authenticate: the header, and the hash of the deployment's key
    /// read from `android_key_file` (which must be owner-only and hold at least 32
    /// characters).
    pub fn android_options(&self) -> anyhow::Result<lienlock_server::android::AndroidOptions> {
        let header = self.android_header.trim().to_ascii_lowercase();
        anyhow::ensure!(
            !header.is_empty()
                && header
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !header.ends_with("-bin"),
            "android_header must be a metadata name of letters, digits, '-' and '_'"
        );
        let deployment_key_hash = match &self.android_key_file {
            None => None,
            Some(p) => {
                lienlock_server::secrets::check_permissions(p)?;
                let key = zeroize::Zeroizing::new(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?,
                );
                let key = key.trim();
                anyhow::ensure!(
                    key.len() >= 32 && key.bytes().all(|b| b.is_ascii_graphic()),
                    "{} must hold a key of at least 32 printable characters",
                    p.display()
                );
                Some(lienlock_server::service::android_key_hash(key))
            }
        };
        Ok(lienlock_server::android::AndroidOptions {
            header,
            deployment_key_hash,
        })
    }

    /// Lease timing.
    pub fn lease_settings(&self) -> anyhow::Result<lienlock_server::LeaseSettings> {
        anyhow::ensure!(
            self.lease_ttl_secs >= 60,
            "lease_ttl_secs must be at least 60"
        );
        anyhow::ensure!(
            (1..=self.lease_ttl_secs).contains(&self.checkin_interval_secs),
            "checkin_interval_secs must be between 1 and lease_ttl_secs"
        );
        Ok(lienlock_server::LeaseSettings {
            lease_ttl_secs: self.lease_ttl_secs,
            checkin_interval_secs: self.checkin_interval_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_database_password() {
        let c = ServerConfig {
            database: Some("postgres://app:hunter2@db.internal/lienlock".into()),
            ..ServerConfig::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("app:***@db.internal"), "{shown}");
    }

    #[test]
    fn file_overrides_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "listen = \"0.0.0.0:9000\"\ncheckin_interval_secs = 30\n",
        )
        .unwrap();
        let c = ServerConfig::load(Some(&p)).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.checkin_interval_secs, 30);
        assert_eq!(c.lease_ttl_secs, ServerConfig::default().lease_ttl_secs);
        std::fs::write(&p, "listn = \"0.0.0.0:9000\"\n").unwrap();
        assert!(ServerConfig::load(Some(&p)).is_err());
    }

    #[test]
    fn the_sample_deployment_config_loads() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/lienlock.toml");
        let c = ServerConfig::load(Some(&p)).unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(c.metrics_listen.is_some_and(|a| a.ip().is_loopback()));
        assert!(
            c.listen.ip().is_loopback(),
            "behind a proxy on the same host"
        );
        let d = ServerConfig::default();
        let lease = c.lease_settings().unwrap();
        assert_eq!(
            lease.lease_ttl_secs, d.lease_ttl_secs,
            "the sample shows the defaults"
        );
        assert_eq!(lease.checkin_interval_secs, d.checkin_interval_secs);
        assert_eq!(c.push_limits(), d.push_limits());
        assert!(
            c.shutdown_grace_secs < 30,
            "under the unit's TimeoutStopSec"
        );
    }

    #[test]
    fn push_limits_come_from_the_file_with_a_sane_heartbeat() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "push_max_connections = 5000\npush_per_device = 0\npush_heartbeat_secs = 600\n",
        )
        .unwrap();
        let limits = ServerConfig::load(Some(&p)).unwrap().push_limits();
        assert_eq!(limits.total, 5000);
        assert_eq!(limits.per_device, 1, "at least one connection per device");
        assert_eq!(limits.heartbeat.as_secs(), 60, "phones give up after 65 s");
        assert_eq!(
            ServerConfig::default().push_limits(),
            lienlock_server::push::PushLimits::default()
        );
    }
}
