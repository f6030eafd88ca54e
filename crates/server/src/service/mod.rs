//! The services: each public method is one use case. Handlers extract input, call one
//! method, and map the error; the services decide, and the store persists atomically.

mod android;
mod android_phone;
mod api_keys;
mod audit;
mod batch_thread;
mod checkin;
mod codes;
mod commands;
mod console_auth;
mod console_views;
mod contracts;
mod device_import;
mod devices;
mod disputes;
mod evaluate;
mod group_commit;
mod imei_check;
mod lease;
mod lender_policy;
mod payments;
mod policy;
mod portfolio;
mod push;
mod signer;
mod verifier;
mod webhook_delivery;
mod webhooks;

pub use android::{android_key_hash, ANDROID_KEY_PREFIX};
pub use android_phone::{CheckinRequest, PhoneCheckin, PhoneError, PhoneScope};
pub use api_keys::{key_live, IssuedKey, MAX_ROTATION_GRACE_SECS};
pub use audit::{ChainReport, AUDIT_PAGE};
pub use codes::{CodeRequest, PaymentCode};
pub use commands::{resolve_due, CommandRequest};
pub use console_auth::{
    max_age, normalize_email, random_token, ConsoleUser, NewUser, SignedIn, MIN_PASSWORD_CHARS,
    SESSION_SECS,
};
pub use console_views::{DeviceOverview, TIMELINE_SHOWN};
pub use contracts::{ContractRequest, ContractStatus};
pub use device_import::{
    DeviceCsv, ImportReport, RowResult, RowStatus, DEVICE_COLUMNS, MAX_IMPORT_ROWS,
};
pub use devices::EnrollRequest;
pub(crate) use evaluate::level_name;
pub use imei_check::{ImeiStatus, ImeiVerdict, PublicLender};
pub use lease::LeaseSettings;
pub use lender_policy::LenderPolicy;
pub use payments::{PaymentOutcome, PaymentRequest};
pub use portfolio::{LockFigures, Portfolio, CHART_DAYS, WINDOW_DAYS};
pub use webhook_delivery::{
    payload as webhook_payload, retry_at as webhook_retry_at, run as run_webhook_worker,
    sign as sign_webhook, MAX_ATTEMPTS as WEBHOOK_MAX_ATTEMPTS,
};
pub use webhooks::{WebhookConfig, WebhookSettings};

use crate::apikey::ServerSecret;
use lienlock_domain::csv::CsvError;
use lienlock_domain::{Clock, ContractError, ImeiError, LedgerError, PolicyError, TransitionError};
use lienlock_store::{Store, StoreError};
use lienlock_wire::{ServerKey, WireError};
use std::sync::Arc;

/// How often a use case re-reads and retries when another writer changed the same device
/// between its read and its write. Contention on one device is rare (one phone, a few
/// staff); past this the caller gets 503 and retries.
const MAX_ATTEMPTS: usize = 8;

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No such object for this lender (also for other lenders' objects).
    #[error("no such resource")]
    NotFound,
    /// A console sign-in failed: unknown address, wrong password or disabled user (never
    /// told apart).
    #[error("wrong e-mail address or password")]
    SignInFailed,
    /// The caller's role may not do this.
    #[error("your role may not {0}")]
    Forbidden(&'static str),
    /// An IMEI that fails the format or check digit.
    #[error("invalid IMEI: {0}")]
    InvalidImei(ImeiError),
    /// A field with an invalid value.
    #[error("invalid {field}: {why}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        why: String,
    },
    /// An uploaded CSV file whose syntax is wrong; nothing was written.
    #[error("malformed CSV: {0}")]
    MalformedCsv(CsvError),
    /// An uploaded CSV file that reads but cannot be used as a whole (no header, missing or
    /// unknown columns, too many rows); nothing was written.
    #[error("invalid CSV: {0}")]
    InvalidCsv(String),
    /// Another active enrollment uses this IMEI.
    #[error("IMEI {0} is already enrolled")]
    ImeiTaken(String),
    /// The command does not apply to the device's state.
    #[error(transparent)]
    Transition(TransitionError),
    /// Key approval asked for a device with no key awaiting approval.
    #[error("no device key is awaiting approval")]
    NoPendingKey,
    /// Key approval named a key other than the one now pending.
    #[error("the pending device key is not the one named; look at the device again")]
    PendingKeyChanged,
    /// A check-in whose counter is not above the last accepted one.
    #[error("check-in counter {counter} is not above {last}; replay refused")]
    Replay {
        /// What was sent.
        counter: u64,
        /// What was last accepted.
        last: u64,
    },
    /// A check-in for an IMEI with no enrollment.
    #[error("this device is not enrolled")]
    UnknownDevice,
    /// A device message that does not decode.
    #[error("malformed device message: {0}")]
    BadDeviceMessage(WireError),
    /// A device message whose signature does not verify.
    #[error("the device signature does not verify")]
    BadSignature,
    /// Contract terms that do not add up.
    #[error("invalid contract: {0}")]
    Contract(ContractError),
    /// Policy settings that are invalid or looser than the lender's compliance profile.
    #[error("policy not allowed: {0}")]
    Policy(PolicyError),
    /// A ledger entry the ledger's rules refuse (a reversal of more than was paid).
    #[error("ledger refused the entry: {0}")]
    Ledger(LedgerError),
    /// The dispute was closed; a closed dispute is final.
    #[error("the dispute is closed")]
    DisputeClosed,
    /// The idempotency key was used before with a different request.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyConflict,
    /// No unlock code can be issued (the phone never connected with its own key, it is
    /// released, the account is still behind, ...).
    #[error("no unlock code can be issued: {0}")]
    CodeUnavailable(String),
    /// This node holds all the push connections it may; the device retries later.
    #[error("this server holds as many push connections as it may; retry later")]
    PushFull,
    /// Kept losing optimistic-concurrency races.
    #[error("the device is being changed concurrently; retry")]
    Contended,
    /// Storage failed; nothing was written.
    #[error(transparent)]
    Store(StoreError),
}

impl From<lienlock_domain::Denied> for ServiceError {
    fn from(d: lienlock_domain::Denied) -> Self {
        ServiceError::Forbidden(d.0.describe())
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ImeiTaken(imei) => ServiceError::ImeiTaken(imei),
            other => ServiceError::Store(other),
        }
    }
}

/// Everything the use cases need, shared by all requests.
#[derive(Debug, Clone)]
pub struct Service {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    signer: ServerKey,
    secret: ServerSecret,
    settings: LeaseSettings,
    /// Webhook storage and sending; `None` until [`Service::with_webhooks`].
    webhooks: Option<webhooks::Webhooks>,
    /// Check-ins' device writes, committed together (`group_commit`).
    checkin_writes: group_commit::GroupCommit,
    /// Check-ins' signatures, verified together (`verifier`).
    verifier: verifier::Verifier,
    /// Leases for agents that read them, signed together (`signer`).
    lease_signer: signer::LeaseSigner,
}

impl Service {
    /// Assembles the services.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        signer: ServerKey,
        secret: ServerSecret,
        settings: LeaseSettings,
    ) -> Self {
        Self {
            checkin_writes: group_commit::GroupCommit::new(store.clone()),
            store,
            clock,
            signer,
            secret,
            settings,
            webhooks: None,
            verifier: Default::default(),
            lease_signer: Default::default(),
        }
    }

    /// The store (for health checks and operator tools).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The server secret API keys are MACed with.
    pub fn secret(&self) -> &ServerSecret {
        &self.secret
    }

    /// The lease-signing key.
    pub fn signer(&self) -> &ServerKey {
        &self.signer
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Hints to these devices, wherever they are connected, that their lease changed.
    /// Called after the change committed. A failure is logged, not returned: the change
    /// stands, and the device still checks in on its own schedule.
    pub(crate) async fn wake(&self, devices: &[lienlock_domain::DeviceId]) {
        if devices.is_empty() {
            return;
        }
        if let Err(e) = self.store.notify_devices(devices).await {
            tracing::warn!(error = %e, devices = devices.len(), "cannot send wake-up hints");
        }
    }
}

/// Runs `attempt` until it does not fail with [`StoreError::Stale`], at most
/// [`MAX_ATTEMPTS`] times.
async fn retry_stale<T, F, Fut>(mut attempt: F) -> Result<T, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ServiceError>>,
{
    for _ in 0..MAX_ATTEMPTS {
        match attempt().await {
            Err(ServiceError::Store(StoreError::Stale)) => continue,
            other => return other,
        }
    }
    Err(ServiceError::Contended)
}
