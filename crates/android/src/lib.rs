//! The Android Device Lock Controller's server interface, as lienlock serves it.
//!
//! Android 14 and later ship the Device Lock Controller, a system component that asks a
//! lender's server over gRPC whether a phone is financed and how to provision it. This crate
//! holds the protocol's types and gRPC stubs, generated at build time from our own `.proto`
//! files (`proto/`), and the pure rules that turn lienlock's records into its answers
//! ([`rules`]). The server crate wires them to the store.

pub mod rules;

/// Types and gRPC stubs generated from `proto/devicelockcontroller/*.proto`.
#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]
pub mod proto {
    tonic::include_proto!("devicelockcontroller");
}
