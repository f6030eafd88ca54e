//! Android's Device Lock Controller, served over gRPC: `DeviceLockCheckinService` and
//! `DeviceLockFinalizeService` (`docs/android.md`). This module only translates between
//! the protocol's messages and the use cases in `service::android_phone`.
//!
//! The calls are not lender API routes and are not in the route table: they are
//! authenticated by their own metadata header, answer gRPC statuses instead of JSON errors,
//! and are served both on the main listener (HTTP/2 without TLS, beside HTTP/1.1) and,
//! when configured, on a port of their own ([`serve`]).

mod checkin;
mod finalize;

use crate::app::AppState;
use crate::service::{PhoneError, PhoneScope, Service};
use axum::Router;
use lienlock_android::proto::device_lock_checkin_service_server::DeviceLockCheckinServiceServer;
use lienlock_android::proto::device_lock_finalize_service_server::DeviceLockFinalizeServiceServer;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tonic::{Request, Status};

/// The metadata header phones send their key in unless configured otherwise.
pub const DEFAULT_HEADER: &str = "x-devicelock-api-key";

/// How phones authenticate.
#[derive(Clone)]
pub struct AndroidOptions {
    /// The metadata header that carries the key (lowercase).
    pub header: String,
    /// SHA-256 of the deployment's key, which may name any lender's phones; `None`: only
    /// lenders' keys.
    pub deployment_key_hash: Option<[u8; 32]>,
}

impl Default for AndroidOptions {
    fn default() -> Self {
        Self {
            header: DEFAULT_HEADER.to_owned(),
            deployment_key_hash: None,
        }
    }
}

impl std::fmt::Debug for AndroidOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AndroidOptions")
            .field("header", &self.header)
            .field(
                "deployment_key",
                &self.deployment_key_hash.map(|_| "<hidden>"),
            )
            .finish()
    }
}

/// What both services share: the use cases and how callers authenticate.
#[derive(Clone, Debug)]
pub(crate) struct Phones {
    service: Service,
    options: Arc<AndroidOptions>,
}

impl Phones {
    /// Whose phones the call may concern, from its key.
    async fn scope<T>(&self, req: &Request<T>) -> Result<PhoneScope, Status> {
        let key = req
            .metadata()
            .get(self.options.header.as_str())
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Status::unauthenticated("unknown API key"))?;
        self.service
            .android_scope(key, self.options.deployment_key_hash.as_ref())
            .await
            .map_err(status)
    }
}

/// A use case's error as a gRPC status.
fn status(e: PhoneError) -> Status {
    match e {
        PhoneError::Unauthenticated => Status::unauthenticated(e.to_string()),
        PhoneError::Invalid(_) => Status::invalid_argument(e.to_string()),
        PhoneError::UnknownDevice => Status::not_found(e.to_string()),
        PhoneError::Precondition(_) => Status::failed_precondition(e.to_string()),
        PhoneError::Store(e) => {
            tracing::warn!(error = %e, "android call failed in storage");
            Status::unavailable("storage is unavailable; retry")
        }
    }
}

/// The gRPC paths of both services, routed to them.
pub fn router(state: &AppState) -> Router<AppState> {
    let phones = Phones {
        service: state.service.clone(),
        options: state.android.clone(),
    };
    Router::new()
        .route_service(
            "/devicelockcontroller.DeviceLockCheckinService/{method}",
            DeviceLockCheckinServiceServer::new(phones.clone()),
        )
        .route_service(
            "/devicelockcontroller.DeviceLockFinalizeService/{method}",
            DeviceLockFinalizeServiceServer::new(phones),
        )
}

/// Serves only the two services on `listener` until `shutdown` completes: the dedicated
/// port (`--android-listen`). The main listener serves them too.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(&state)
        .fallback(|| async {
            Status::unimplemented("no such service").into_http::<axum::body::Body>()
        })
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
