//! `lienlock serve` and the pieces `demo` and `ctl` share with it.

use crate::config::ServerConfig;
use anyhow::Context;
use lienlock_domain::SystemClock;
use lienlock_server::service::WebhookSettings;
use lienlock_server::{secrets, AppState, Service};
use std::sync::Arc;
use std::time::Duration;

/// Opens the database and secrets named by `config` and assembles the services.
pub async fn service(config: &ServerConfig) -> anyhow::Result<Service> {
    if config.database.is_none() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
        writable(&config.data_dir)?;
    }
    let (store, webhooks) = lienlock_store_sql::open_with_webhooks(&config.database_url())
        .await
        .with_context(|| {
            format!(
                "opening the database {}",
                crate::config::redact_password(&config.database_url())
            )
        })?;
    let signer = secrets::signing_key(&config.signing_key_path())?;
    let secret = secrets::server_secret(&config.secret_path())?;
    Ok(Service::new(
        store,
        Arc::new(SystemClock),
        signer,
        secret,
        config.lease_settings()?,
    )
    .with_webhooks(webhooks, WebhookSettings::default()))
}

/// Fails with the directory and the operating system's reason (a read-only mount, a full
/// disk, missing permissions) when a file cannot be created in `dir`: SQLite needs to
/// create its journal files next to the database, and would otherwise report only that it
/// cannot open "the database file".
fn writable(dir: &std::path::Path) -> anyhow::Result<()> {
    let probe = dir.join(".lienlock-write-probe");
    let result = std::fs::write(&probe, b"probe");
    let _ = std::fs::remove_file(&probe);
    result.with_context(|| format!("the data directory {} is not writable", dir.display()))
}

/// A running server: where it listens, and how to stop it.
#[derive(Debug)]
pub struct Running {
    /// Base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// Resolves when the server has stopped.
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds and starts serving in the background until `shutdown` completes.
pub async fn start(
    config: &ServerConfig,
    service: Service,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let url = format!("http://{}", listener.local_addr()?);
    let every = Duration::from_millis(config.scheduler_interval_ms.max(10));
    let handle = tokio::spawn(lienlock_server::serve(
        listener,
        AppState::with_push(service, config.push_limits())
            .with_device_rate(config.device_rate_per_ip)
            .with_max_in_flight(config.max_in_flight),
        every,
        shutdown,
    ));
    Ok(Running { url, handle })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Runs `lienlock serve` until a signal.
pub async fn run(config: ServerConfig) -> anyhow::Result<()> {
    let service = service(&config).await?;
    let public = service.signer().public();
    let running = start(&config, service, shutdown_signal()).await?;
    println!("lienlock serving on {}", running.url);
    println!(
        "lease-signing key {} (pin this in device provisioning): {}",
        public.id(),
        public.to_hex()
    );
    running.handle.await??;
    Ok(())
}
