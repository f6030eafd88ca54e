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
    }
    let (store, webhooks) = lienlock_store_sql::open_with_webhooks(&config.database_url())
        .await
        .context("opening the database")?;
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

/// A running server: where it listens, and how to stop it.
#[derive(Debug)]
pub struct Running {
    /// Base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// The dedicated Android gRPC address, when configured, e.g. `http://127.0.0.1:8843`.
    pub android_url: Option<String>,
    /// Resolves when the server (and the Android listener) has stopped.
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
    let state = AppState::with_push(service, config.push_limits())
        .with_device_rate(config.device_rate_per_ip)
        .with_android(config.android_options()?);
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

/// Runs `lienlock serve` until a signal.
pub async fn run(config: ServerConfig) -> anyhow::Result<()> {
    let service = service(&config).await?;
    let public = service.signer().public();
    let running = start(&config, service, shutdown_signal()).await?;
    println!("lienlock serving on {}", running.url);
    if let Some(a) = &running.android_url {
        println!("Android Device Lock Controller (gRPC) also on {a}");
    }
    println!(
        "lease-signing key {} (pin this in device provisioning): {}",
        public.id(),
        public.to_hex()
    );
    running.handle.await??;
    Ok(())
}
