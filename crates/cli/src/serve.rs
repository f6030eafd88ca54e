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
    tokio::spawn(warm_checkin_views(store.clone()));
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

/// Loads the store's check-in views in the background (a SQLite node keeps them in memory),
/// so that the first wave of check-ins after a start reads no more than later ones do.
async fn warm_checkin_views(store: Arc<dyn lienlock_store::Store>) {
    let started = std::time::Instant::now();
    match store.warm_checkin_views().await {
        Ok(0) => {}
        Ok(views) => tracing::info!(
            views,
            seconds = started.elapsed().as_secs_f64(),
            "check-in views loaded"
        ),
        // Only slower check-ins: each reads its phone from the database until kept.
        Err(e) => tracing::warn!(error = %e, "cannot load the check-in views"),
    }
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
    /// The metrics listener's base URL, when one was configured.
    pub metrics_url: Option<String>,
    /// The dedicated Android gRPC address, when configured, e.g. `http://127.0.0.1:8843`.
    pub android_url: Option<String>,
    /// Resolves when the server (and the Android listener) has stopped.
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds and starts serving in the background until `shutdown` completes. With
/// `metrics_listen` set, also serves `/metrics` there (until the process ends: scrapes
/// during a drain show it).
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
    let state = AppState::with_push(service, config.push_limits())
        .with_device_rate(config.device_rate_per_ip)
        .with_max_in_flight(config.max_in_flight)
        .with_android(config.android_options()?);
    let metrics_url = match config.metrics_listen {
        None => None,
        Some(addr) => {
            anyhow::ensure!(
                lienlock_server::telemetry::recorder().is_some(),
                "cannot install the metrics recorder"
            );
            let metrics = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening for metrics on {addr}"))?;
            let metrics_url = format!("http://{}", metrics.local_addr()?);
            let app = lienlock_server::telemetry::metrics_router(state.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(metrics, app).await {
                    tracing::error!(error = %e, "metrics listener stopped");
                }
            });
            Some(metrics_url)
        }
    };
    let android = match config.android_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr} for Android"))?,
        ),
        None => None,
    };
    let android_url = match &android {
        Some(l) => Some(format!("http://{}", l.local_addr()?)),
        None => None,
    };
    // One shutdown for both listeners.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let android_task = android.map(|l| {
        tokio::spawn(lienlock_server::android::serve(
            l,
            state.clone(),
            stopped(stop_rx.clone()),
        ))
    });
    let main = lienlock_server::serve(listener, state, every, stopped(stop_rx));
    let handle = tokio::spawn(async move {
        let result = main.await;
        if let Some(t) = android_task {
            t.await.map_err(std::io::Error::other)??;
        }
        result
    });
    Ok(Running {
        url,
        metrics_url,
        android_url,
        handle,
    })
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

/// Runs `lienlock serve` until a signal, then drains: no new connections, push streams
/// closed (phones reconnect to another node), requests in flight given
/// `shutdown_grace_secs` to finish.
pub async fn run(config: ServerConfig) -> anyhow::Result<()> {
    let service = service(&config).await?;
    // A production node's tuning, so here and not in `demo` or `ctl`.
    if config.database.is_none() {
        if let Some(advice) = crate::readahead::check(&config.data_dir) {
            tracing::warn!("{advice}");
        }
    }
    let public = service.signer().public();
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel();
    let shutdown = async move {
        shutdown_signal().await;
        let _ = signalled_tx.send(());
    };
    let mut running = start(&config, service, shutdown).await?;
    println!("lienlock serving on {}", running.url);
    if let Some(m) = &running.metrics_url {
        println!("metrics on {m}/metrics");
    }
    if let Some(a) = &running.android_url {
        println!("Android Device Lock Controller (gRPC) also on {a}");
    }
    println!(
        "lease-signing key {} (pin this in device provisioning): {}",
        public.id(),
        public.to_hex()
    );
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    // Biased, the signal first: it is sent before the listeners are told to stop, so a
    // server that stopped because of it is never mistaken for one that stopped on its own
    // (which would skip the grace period and its log line).
    tokio::select! {
        biased;
        signalled = signalled_rx => {
            if signalled.is_err() {
                return Ok((&mut running.handle).await??);
            }
        }
        done = &mut running.handle => return Ok(done??),
    }
    match tokio::time::timeout(grace, &mut running.handle).await {
        Ok(done) => {
            done??;
            tracing::info!("drained; stopped");
            Ok(())
        }
        Err(_) => {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "requests still in flight after the grace period; stopping anyway"
            );
            Ok(())
        }
    }
}
