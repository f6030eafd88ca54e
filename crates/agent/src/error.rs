//! What can go wrong on the device, and why a lease was not taken.

use lienlock_wire::WireError;
use std::fmt;
use std::path::PathBuf;

/// Why an agent operation failed. None of these is ever a panic: bad bytes from disk or the
/// network end up here.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Reading or writing the data directory failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file in the persistent partition exists but cannot be read back. The agent stops
    /// rather than guess, because guessing the counter could reuse one, and guessing the
    /// identity would orphan the device from its enrollment.
    #[error("persistent state {path} is damaged: {why}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The provisioning facts are missing, invalid, or contradict the persisted ones.
    #[error("provisioning: {0}")]
    Provisioning(String),
    /// The server could not be reached, or the connection failed or timed out.
    #[error("transport: {0}")]
    Transport(#[source] reqwest::Error),
    /// The server answered with something that is not the protocol (not JSON, too large,
    /// an unexpected status without an error body).
    #[error("bad response from server (HTTP {status}): {why}")]
    BadResponse {
        /// HTTP status.
        status: u16,
        /// What is wrong.
        why: String,
    },
    /// The server refused the check-in with a protocol error.
    #[error("server refused the check-in (HTTP {status}, {code}): {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The machine-readable code from the error body.
        code: ErrorCode,
        /// The human-readable message from the error body.
        message: String,
        /// The server's `Retry-After`, in seconds, when it sent one (overloaded, storage
        /// unavailable, rate-limited): the agent waits at least that long.
        retry_after: Option<std::time::Duration>,
    },
    /// The server's answer was a lease the agent would not take.
    #[error("lease refused: {0}")]
    Refused(#[from] LeaseRefusal),
}

impl AgentError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// How long the server asked the device to wait before trying again, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, why: impl Into<String>) -> Self {
        Self::Corrupt {
            path: path.into(),
            why: why.into(),
        }
    }
}

/// The `error.code` of a server error body, with the codes the agent acts on named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// `replayed_checkin` (409): the counter was not above the last one the server accepted.
    /// The agent's next check-in uses a fresh counter, so retrying is enough.
    ReplayedCheckIn,
    /// `unknown_device` (404): no enrollment for this IMEI (not enrolled yet, or removed).
    UnknownDevice,
    /// `bad_signature` (401): the server could not verify the check-in signature.
    BadSignature,
    /// Any other code, kept verbatim (empty when the body had none).
    Other(String),
}

impl ErrorCode {
    /// Reads a code as sent by the server.
    pub fn parse(code: &str) -> Self {
        match code {
            "replayed_checkin" => Self::ReplayedCheckIn,
            "unknown_device" => Self::UnknownDevice,
            "bad_signature" => Self::BadSignature,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code as the server spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::ReplayedCheckIn => "replayed_checkin",
            Self::UnknownDevice => "unknown_device",
            Self::BadSignature => "bad_signature",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why [`crate::Agent::accept_lease`] did not take a lease. Nothing was stored in any case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseRefusal {
    /// The envelope does not open with the pinned server key: tampered bytes, a bad
    /// signature, another server's key, or undecodable content.
    #[error("envelope does not verify: {0}")]
    BadEnvelope(WireError),
    /// Signed by our server, but issued to another device.
    #[error("lease is for another device ({field} differs)")]
    OtherDevice {
        /// `"imei"` or `"device_key"`.
        field: &'static str,
    },
    /// Older than the lease already held: a replay or a rollback.
    #[error("lease sequence {got} is lower than the held {held}")]
    RolledBack {
        /// Sequence of the held lease.
        held: u64,
        /// Sequence of the offered lease.
        got: u64,
    },
    /// Same sequence as the held lease but different content. The server never issues two
    /// leases with one sequence number, so one of them is not genuine.
    #[error("a different lease with the held sequence {sequence}")]
    Conflicting {
        /// The shared sequence number.
        sequence: u64,
    },
    /// The lease does not answer the check-in it is offered for, or that check-in is not
    /// the device's latest. Its `issued_at` could be old, so it cannot be trusted as fresh
    /// time, and after a factory reset it could be an old lease played back.
    #[error("lease answers check-in {got}, expected {expected}")]
    NotAReply {
        /// The counter it had to answer (the device's latest check-in).
        expected: u64,
        /// The counter it names.
        got: u64,
    },
    /// The lease was valid but could not be written to disk, so it was not taken.
    #[error("lease could not be stored: {0}")]
    NotStored(String),
}
