//! The device side of lienlock, as a library.
//!
//! An [`Agent`] owns a data directory with two partitions (see [`Layout`]): `persistent/`,
//! which survives a factory reset and holds the device's identity key, its provisioning, its
//! check-in counter and, once released, the release; and `user/`, which a reset wipes and
//! which holds the last accepted lease. It checks in with the server
//! ([`Agent::check_in`]), accepts only leases signed by the pinned server key, naming this
//! device, not older than what it holds and answering its latest request
//! ([`Agent::accept_lease`]), and decides what to enforce from the held lease and the time
//! ([`Agent::enforcement`]). [`Agent::run`] loops over all of that.
//!
//! The agent decides; applying the decision (device policy, lock screen) is the platform
//! layer's job.

mod agent;
mod atomic;
mod codes;
mod config;
mod enforcement;
mod error;
mod judge;
mod keyring;
mod layout;
mod mac_key;
mod persistent;
mod platform;
mod push;
mod run;
mod schedule;
mod stats;
mod tamper;
mod transport;
mod trusted;
mod user;
mod verify;

pub use agent::{Agent, CheckInOutcome, CodeAccepted, LeaseOutcome};
pub use codes::{lockout_after, CodeRefusal, Grant, FIRST_LOCKOUT, MAX_GRANT, MAX_LOCKOUT};
pub use config::{AgentConfig, Provisioning};
pub use enforcement::{decide, with_grant, Enforcement, LockReason};
pub use error::{AgentError, ErrorCode, LeaseRefusal};
pub use layout::Layout;
pub use platform::{Integrity, Platform, SimulatedPlatform, SimulatedState};
pub use run::{AgentJob, JobFuture, RunExit};
pub use schedule::RunPolicy;
pub use stats::{RunSnapshot, RunStats};
pub use tamper::{PendingSignal, WRONG_CODES_SIGNAL, WRONG_CODES_WINDOW};
pub use transport::{DisputeAck, ServerClient, CHECKIN_PATH, DISPUTE_PATH, PUSH_PATH};
pub use trusted::{
    ClockMonotonic, ClockSetBack, Monotonic, SystemMonotonic, FLOOR_EVERY, SET_BACK_TOLERANCE,
};
