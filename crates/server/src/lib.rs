//! The lienlock server as a library: `lienlock serve` and the tests start it the same way,
//! on a listener they choose, with a shutdown future.

pub mod android;
pub mod apikey;
pub mod app;
pub mod audit;
pub mod auth;
pub mod console;
pub mod error;
pub mod extract;
pub mod html;
pub mod openapi;
pub mod ops;
pub mod push;
pub mod ratelimit;
pub mod routes;
pub mod scheduler;
pub mod secrets;
pub mod service;
pub mod shed;
pub mod telemetry;
pub mod views;

pub use app::{serve, AppState, LeaseSettings, StateParts};
pub use error::ApiError;
pub use service::{Service, ServiceError};
