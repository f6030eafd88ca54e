//! HTTP routes. Handlers extract, call one service method, and map the result.

mod codes;
mod contracts;
mod device_api;
mod device_import;
mod devices;
mod disputes;
mod health;
mod payments;
mod public;
mod push;

use crate::app::AppState;
use crate::error::ApiError;
use axum::Router;

/// Every route the server answers.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(health::routes())
        .merge(devices::routes())
        .merge(device_import::routes())
        .merge(device_api::routes())
        .merge(contracts::routes())
        .merge(payments::routes())
        .merge(disputes::routes())
        .merge(codes::routes())
        .merge(push::routes())
        .merge(public::routes())
        .merge(crate::console::routes())
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}
