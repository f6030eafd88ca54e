//! The device protocol: canonical byte layouts, Ed25519 signatures and the JSON envelopes
//! that carry them. docs/protocol.md describes the same layouts byte for byte.
//!
//! Signatures always cover the exact bytes that travel (base64 inside JSON), never a
//! re-serialisation, so no two implementations can disagree about what was signed.

pub mod batch;
pub mod checkin;
pub mod codec;
pub mod dispute;
pub mod envelope;
pub mod keys;
pub mod lease;
pub mod mac;
pub mod merkle;
pub mod openpaygo;
pub mod push;
pub mod unlock_code;

pub use checkin::{
    signal_code, CheckIn, CheckInVersion, DeviceReport, ReportKind, TamperSignal, MAX_REPORTS,
    MAX_SIGNALS,
};
pub use codec::WireError;
pub use dispute::{DisputeRequest, SignedDispute};
pub use envelope::{
    sign_batch, verify_checkins, LeaseEnvelope, LeaseView, SignedCheckIn, UnsignedLease,
    UnverifiedCheckIn,
};
pub use keys::{DeviceKey, KeyId, ServerKey, ServerPublicKey, SharedSecret};
pub use lease::{Lease, LeaseNotice, LockScreen, MAX_NOTICES};
pub use mac::CheckinMacKey;
pub use push::{SignedSubscribe, SubscribeRequest};
