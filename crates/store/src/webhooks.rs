//! Webhooks to lenders as stored: each lender's endpoint, and the outbox of deliveries with
//! every attempt made to send them.
//!
//! A delivery is written in the transaction of the change it reports, so a change that
//! committed is never left unreported and a change that rolled back never reported. The
//! worker that sends them claims due rows ([`WebhookStore::claim_webhook_deliveries`]),
//! posts them, and records each attempt ([`WebhookStore::record_webhook_attempt`]).
//!
//! This is a trait of its own rather than more methods on [`crate::Store`]: the backends
//! implement both, and a server is handed both (`Service::with_webhooks`), so a store
//! wrapper that knows nothing of webhooks (the benchmark's call counter) keeps working.

use crate::{PaymentRecord, StoreResult, TimelineEvent};
use async_trait::async_trait;
use lienlock_domain::{
    DeviceId, EventId, EventKind, Imei, LenderCtx, LenderId, PaymentId, Timestamp,
};
use std::fmt;

/// What a webhook reports: its `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WebhookEvent {
    /// The lender locked the device.
    DeviceLocked,
    /// The lender unlocked the device.
    DeviceUnlocked,
    /// The device was released for ever.
    DeviceReleased,
    /// The device reported tampering (a clock set back).
    DeviceTamper,
    /// A dispute was opened (by staff or from the phone).
    DisputeOpened,
    /// A payment matched no device.
    PaymentUnmatched,
    /// Someone looked the device's IMEI up in the public check.
    ImeiChecked,
}

impl WebhookEvent {
    /// Every type, in the order the API lists them.
    pub const ALL: [WebhookEvent; 7] = [
        WebhookEvent::DeviceLocked,
        WebhookEvent::DeviceUnlocked,
        WebhookEvent::DeviceReleased,
        WebhookEvent::DeviceTamper,
        WebhookEvent::DisputeOpened,
        WebhookEvent::PaymentUnmatched,
        WebhookEvent::ImeiChecked,
    ];

    /// The stable name sent as `type` and used in filters.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::DeviceLocked => "device.locked",
            WebhookEvent::DeviceUnlocked => "device.unlocked",
            WebhookEvent::DeviceReleased => "device.released",
            WebhookEvent::DeviceTamper => "device.tamper",
            WebhookEvent::DisputeOpened => "dispute.opened",
            WebhookEvent::PaymentUnmatched => "payment.unmatched",
            WebhookEvent::ImeiChecked => "imei.checked",
        }
    }

    /// Reads [`Self::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The webhook a timeline entry of this kind sends, if any.
    ///
    /// The backends enqueue deliveries with a trigger on the timeline (migration
    /// `0007_webhooks.sql`), the one place every event passes whichever statement inserts
    /// it; the conformance suite checks that the trigger follows this mapping for every
    /// kind. A new mapping therefore needs a migration that replaces the trigger as well.
    pub fn for_event(kind: EventKind) -> Option<Self> {
        match kind {
            EventKind::Locked => Some(WebhookEvent::DeviceLocked),
            EventKind::Unlocked => Some(WebhookEvent::DeviceUnlocked),
            EventKind::Released => Some(WebhookEvent::DeviceReleased),
            // device.tamper: a tamper signal from the device (`tamper`), or the older
            // agents' clock set-back report (`tamper_reported`).
            EventKind::Tamper | EventKind::TamperReported => Some(WebhookEvent::DeviceTamper),
            EventKind::DisputeOpened => Some(WebhookEvent::DisputeOpened),
            EventKind::ImeiChecked => Some(WebhookEvent::ImeiChecked),
            EventKind::Enrolled
            | EventKind::KeyRegistered
            | EventKind::KeyChangeRequested
            | EventKind::KeyApproved
            | EventKind::CommandScheduled
            | EventKind::CommandSuperseded
            | EventKind::CommandCancelled
            | EventKind::ReplayRefused
            | EventKind::ContractCreated
            | EventKind::PaymentRecorded
            | EventKind::PaymentReversed
            | EventKind::NoticeQueued
            | EventKind::NoticeDelivered
            | EventKind::RestrictionChanged
            | EventKind::ContractPaidOff
            | EventKind::TemporaryUnlock
            | EventKind::DisputeClosed
            | EventKind::CodeIssued
            | EventKind::CodeRedeemed
            | EventKind::Android => None,
        }
    }
}

/// A delivery's id, which is also the `webhook-id` it is sent with (the same on every
/// attempt). It is the id of the timeline entry or the payment it reports: a UUIDv7, so
/// ids sort by creation and a lender can look the reported object up by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId(EventId);

impl DeliveryId {
    /// The delivery reporting this timeline entry.
    pub fn for_event(id: EventId) -> Self {
        Self(id)
    }

    /// The delivery reporting this payment.
    pub fn for_payment(id: PaymentId) -> Self {
        Self(EventId::from_bytes(id.to_bytes()))
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for DeliveryId {
    type Err = <EventId as std::str::FromStr>::Err;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

/// A webhook signing secret: `whsec_` and the base64 of 32 random bytes. Stored as it is,
/// since the server signs with it; never shown again after it was set, and hidden from
/// `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// Wraps a secret's text.
    pub fn new(text: String) -> Self {
        Self(text)
    }

    /// The secret's text, for signing and for showing it the one time.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(hidden)")
    }
}

/// A lender's webhook endpoint. A lender has at most one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// Owner.
    pub lender_id: LenderId,
    /// Where deliveries are posted: an `http` or `https` URL.
    pub url: String,
    /// The types sent; `None` for every type.
    pub event_types: Option<Vec<WebhookEvent>>,
    /// The signing secret.
    pub secret: WebhookSecret,
    /// When the secret was set (at creation or the last rotation).
    pub secret_set_at: Timestamp,
    /// When created.
    pub created_at: Timestamp,
    /// When the URL or the filter last changed.
    pub updated_at: Timestamp,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Not yet acknowledged; another attempt is due at `next_attempt_at`.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up: every attempt failed, or the endpoint was removed.
    Failed,
}

impl DeliveryStatus {
    /// `pending`, `delivered` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Reads [`Self::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// One webhook message and how its delivery went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// Id, and the `webhook-id`.
    pub id: DeliveryId,
    /// The lender it goes to.
    pub lender_id: LenderId,
    /// What it reports.
    pub event: WebhookEvent,
    /// The device concerned, if any.
    pub device_id: Option<DeviceId>,
    /// That device's IMEI.
    pub imei: Option<Imei>,
    /// The timeline entry reported (device events, IMEI checks).
    pub event_id: Option<EventId>,
    /// The payment reported (`payment.unmatched`).
    pub payment_id: Option<PaymentId>,
    /// When the reported change happened (and the delivery was written).
    pub created_at: Timestamp,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it is due to be sent (again); `None` once delivered or failed.
    pub next_attempt_at: Option<Timestamp>,
    /// The HTTP status of the last attempt, if the endpoint answered.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the endpoint acknowledged it.
    pub delivered_at: Option<Timestamp>,
    /// The body as sent (every attempt sends the same bytes); `None` before the first.
    pub payload: Option<String>,
}

/// One attempt to send a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookAttempt {
    /// 1 for the first attempt, then 2, 3, ...
    pub n: u32,
    /// When it started.
    pub at: Timestamp,
    /// The endpoint's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Why it failed, if it did (a non-2xx status, a timeout, a refused connection).
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: u32,
}

/// What a payload is built from, for a delivery sent for the first time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliverySource {
    /// A timeline entry, with the device's IMEI and the reference of its contract (the
    /// active one, else the newest), if it has one.
    Event {
        /// The entry.
        event: TimelineEvent,
        /// The device's IMEI.
        imei: Imei,
        /// The lender's contract reference.
        contract_reference: Option<String>,
    },
    /// A payment.
    Payment(PaymentRecord),
}

/// A delivery claimed by this node for one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedDelivery {
    /// The delivery as claimed.
    pub delivery: WebhookDelivery,
    /// Proves the claim when the attempt is recorded.
    pub claim: String,
    /// The endpoint's URL now.
    pub url: String,
    /// The endpoint's secret now.
    pub secret: WebhookSecret,
    /// What to build the payload from when `delivery.payload` is `None`.
    pub source: Option<DeliverySource>,
}

/// What happens to a delivery after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// Acknowledged.
    Delivered,
    /// Try again at this time.
    RetryAt(Timestamp),
    /// Give up.
    Failed,
}

/// The outcome of one attempt, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The delivery.
    pub delivery: DeliveryId,
    /// The claim it was sent under.
    pub claim: String,
    /// The body sent; kept with the first attempt, so retries send the same bytes.
    pub payload: String,
    /// The attempt.
    pub attempt: WebhookAttempt,
    /// What now.
    pub next: NextStep,
}

/// Storage of webhook endpoints and deliveries. Implemented by both backends.
#[async_trait]
pub trait WebhookStore: Send + Sync + fmt::Debug + 'static {
    /// Sets the caller's endpoint: creates it with `new_secret`, or changes the URL and
    /// filter of the existing one and keeps its secret. `true` when it was created (so
    /// `new_secret` is now its secret), `false` when it existed.
    async fn put_webhook_endpoint(
        &self,
        ctx: &LenderCtx,
        url: &str,
        event_types: Option<&[WebhookEvent]>,
        new_secret: &WebhookSecret,
        at: Timestamp,
    ) -> StoreResult<bool>;

    /// The caller's endpoint, if it has one.
    async fn webhook_endpoint(&self, ctx: &LenderCtx) -> StoreResult<Option<WebhookEndpoint>>;

    /// Replaces the caller's secret. `false` when it has no endpoint.
    async fn rotate_webhook_secret(
        &self,
        ctx: &LenderCtx,
        secret: &WebhookSecret,
        at: Timestamp,
    ) -> StoreResult<bool>;

    /// Removes the caller's endpoint; its pending deliveries fail (last error "webhook
    /// removed") in the same transaction. `false` when it had none.
    async fn delete_webhook_endpoint(&self, ctx: &LenderCtx, at: Timestamp) -> StoreResult<bool>;

    /// The caller's deliveries, newest first, those older than `before` when given, at most
    /// `limit` (clamped to 1..=1000).
    async fn webhook_deliveries(
        &self,
        ctx: &LenderCtx,
        before: Option<DeliveryId>,
        limit: u32,
    ) -> StoreResult<Vec<WebhookDelivery>>;

    /// One of the caller's deliveries with its attempts, oldest attempt first; `None` for a
    /// missing id or another lender's delivery.
    async fn webhook_delivery(
        &self,
        ctx: &LenderCtx,
        id: DeliveryId,
    ) -> StoreResult<Option<(WebhookDelivery, Vec<WebhookAttempt>)>>;

    /// Claims up to `limit` pending deliveries due at `now` (oldest due first) whose lender
    /// still has an endpoint, until `lease_until`: no other claim takes them before then,
    /// so several nodes never send the same delivery at once, and a node that dies
    /// mid-attempt holds it only until the lease ends. Unscoped: the delivery worker only.
    async fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>>;

    /// Records an attempt made under a claim and moves the delivery on (delivered, due
    /// again, or failed), in one transaction, ending the claim. `false` (nothing written)
    /// when the claim was lost: its lease ran out and another claim took the delivery.
    async fn record_webhook_attempt(&self, record: &AttemptRecord) -> StoreResult<bool>;

    /// How many deliveries are pending, all lenders together (the operator's backlog
    /// gauge). Unscoped.
    async fn webhook_backlog(&self) -> StoreResult<u64>;
}
