//! Before any phone runs: the server's key, and the phones enrolled through the lender API.

use super::http::{refusal, send, send_noting};
use anyhow::{anyhow, bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use lienlock_domain::Imei;
use lienlock_wire::ServerPublicKey;
use reqwest::StatusCode;
use serde::Deserialize;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// Most phones one run can enroll: the IMEI has six digits for the phone's index.
pub const MAX_DEVICES: u32 = 1_000_000;
/// How many refusal reasons are kept for the report.
pub const SHOWN_REASONS: usize = 5;

/// The lender API, as the simulator uses it.
#[derive(Clone, Debug)]
pub struct Api {
    pub http: reqwest::Client,
    /// Server base URL, without a trailing slash.
    pub base: Arc<str>,
    pub key: Arc<str>,
}

/// What enrollment achieved.
#[derive(Debug, Default)]
pub struct Enrolled {
    /// The phones the server took, in no particular order.
    pub imeis: Vec<Imei>,
    /// Phones the server refused.
    pub errors: u64,
    /// The first few refusals, with the phone's IMEI.
    pub reasons: Vec<String>,
}

/// The IMEI of phone `index` (below [`MAX_DEVICES`]) in run `block`: "35", the run block and
/// the index as six digits each, and the Luhn check digit.
pub fn imei(block: u32, index: u32) -> anyhow::Result<Imei> {
    Ok(Imei::from_body(&format!(
        "35{:06}{:06}",
        block % MAX_DEVICES,
        index % MAX_DEVICES
    ))?)
}

/// A run block nobody chose: different from run to run.
pub fn random_block() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(now);
    h.write_u32(std::process::id());
    u32::try_from(h.finish() % u64::from(MAX_DEVICES)).unwrap_or(0)
}

impl Api {
    /// Checks that the server answers and takes the key (`GET /v1/lender`).
    pub async fn check(&self) -> anyhow::Result<()> {
        let url = format!("{}/v1/lender", self.base);
        let resp = send(|| self.http.get(&url).bearer_auth(&*self.key))
            .await
            .map_err(|e| anyhow!("cannot reach the server at {}: {e}", self.base))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        bail!(
            "{} refused the API key: {}",
            self.base,
            refusal(status, &resp.text().await.unwrap_or_default())
        )
    }

    /// The lease-signing key from `GET /device/v1/server-key`.
    pub async fn server_key(&self) -> anyhow::Result<ServerPublicKey> {
        #[derive(Deserialize)]
        struct KeyBody {
            public_key: String,
        }
        let url = format!("{}/device/v1/server-key", self.base);
        let resp = send(|| self.http.get(&url))
            .await
            .map_err(|e| anyhow!("cannot reach the server at {}: {e}", self.base))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            bail!("GET {url}: {}", refusal(status, &text));
        }
        let body: KeyBody = resp
            .json()
            .await
            .with_context(|| format!("GET {url}: not a server key"))?;
        ServerPublicKey::from_hex(&body.public_key)
            .with_context(|| format!("GET {url}: public_key"))
    }

    /// Enrolls phones 0..devices of run `block`, `concurrency` requests at a time, with a
    /// progress bar on stderr. Stops early, with an error, when the server cannot be reached
    /// or refuses the API key: every other phone would fail the same way.
    pub async fn enroll_all(
        &self,
        block: u32,
        devices: u32,
        concurrency: u32,
    ) -> anyhow::Result<Enrolled> {
        let bar = ProgressBar::new(u64::from(devices));
        if let Ok(style) = ProgressStyle::with_template(
            "enrolling {bar:40} {pos}/{len} {per_sec} {elapsed} (eta {eta})",
        ) {
            bar.set_style(style);
        }
        let next = Arc::new(AtomicU32::new(0));
        let fatal: Arc<Mutex<Option<String>>> = Arc::default();
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..concurrency.clamp(1, devices.max(1)) {
            let (api, next, fatal, bar) = (self.clone(), next.clone(), fatal.clone(), bar.clone());
            workers.spawn(async move {
                let mut done = Enrolled::default();
                // Bounded: every turn takes a fresh index, and indexes end at `devices`.
                loop {
                    if fatal.lock().map_or(true, |f| f.is_some()) {
                        break;
                    }
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= devices {
                        break;
                    }
                    let imei = match imei(block, index) {
                        Ok(imei) => imei,
                        Err(e) => {
                            done.refused(format!("phone {index}: {e}"));
                            continue;
                        }
                    };
                    match api.enroll(imei).await {
                        Row::Enrolled => done.imeis.push(imei),
                        Row::Refused(why) => done.refused(format!("IMEI {imei}: {why}")),
                        Row::Fatal(why) => {
                            if let Ok(mut f) = fatal.lock() {
                                f.get_or_insert(why);
                            }
                        }
                    }
                    bar.inc(1);
                }
                done
            });
        }
        let mut all = Enrolled::default();
        while let Some(done) = workers.join_next().await {
            let done = done.context("an enrollment task failed")?;
            all.imeis.extend(done.imeis);
            all.errors += done.errors;
            let room = SHOWN_REASONS.saturating_sub(all.reasons.len());
            all.reasons.extend(done.reasons.into_iter().take(room));
        }
        let fatal = fatal.lock().ok().and_then(|mut f| f.take());
        if let Some(why) = fatal {
            bar.abandon();
            bail!(
                "enrollment stopped after {} of {devices} phones: {why}",
                all.imeis.len()
            );
        }
        bar.finish_and_clear();
        Ok(all)
    }

    /// `POST /v1/devices` for one phone.
    async fn enroll(&self, imei: Imei) -> Row {
        let url = format!("{}/v1/devices", self.base);
        let body = serde_json::json!({ "imei": imei.as_str() });
        let mut retried_after_transport = false;
        let sent = send_noting(
            || self.http.post(&url).bearer_auth(&*self.key).json(&body),
            &mut retried_after_transport,
        )
        .await;
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => return Row::Fatal(format!("cannot reach the server at {}: {e}", self.base)),
        };
        let status = resp.status();
        if status.is_success() {
            return Row::Enrolled;
        }
        let why = refusal(status, &resp.text().await.unwrap_or_default());
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Row::Fatal(format!("the server refused the API key: {why}"))
            }
            // The IMEI is this run's own, so when a try that got no answer is followed by
            // "taken", that try is what took it.
            StatusCode::CONFLICT if retried_after_transport && why.starts_with("imei_taken") => {
                Row::Enrolled
            }
            _ => Row::Refused(why),
        }
    }
}

impl Enrolled {
    fn refused(&mut self, why: String) {
        self.errors += 1;
        if self.reasons.len() < SHOWN_REASONS {
            self.reasons.push(why);
        }
    }
}

/// One phone's enrollment.
enum Row {
    Enrolled,
    Refused(String),
    /// An answer every other phone would get too: stop enrolling.
    Fatal(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imeis_are_valid_and_distinct() {
        let a = imei(123_456, 0).unwrap();
        assert_eq!(&a.as_str()[..14], "35123456000000");
        assert_eq!(Imei::parse(a.as_str()).unwrap(), a);
        let last = imei(999_999, MAX_DEVICES - 1).unwrap();
        assert_eq!(&last.as_str()[..14], "35999999999999");
        assert_ne!(imei(1, 2).unwrap(), imei(2, 1).unwrap());
        assert!(random_block() < MAX_DEVICES);
    }
}
