//! The records the store reads and writes. Plain data; the rules live in the domain crate
//! and the services.

use lienlock_domain::{
    ApiKeyId, CommandId, CommandKind, CommandStatus, DeviceId, DeviceState, EventId, EventKind,
    Imei, KeyStatus, LenderId, PolicySettings, Principal, RestrictionLevel, RestrictionProfile,
    Role, Timestamp, UserId,
};

use crate::{ContractRecord, NoticeRecord};

/// A lender and what its devices' lock screens show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lender {
    /// Id.
    pub id: LenderId,
    /// Display name, shown to borrowers.
    pub name: String,
    /// Support phone on the lock screen.
    pub support_phone: String,
    /// Payment or support URL on the lock screen.
    pub support_url: String,
    /// What the lock screen tells a borrower to do.
    pub lock_message: String,
    /// What a locked device restricts.
    pub lock_profile: RestrictionProfile,
    /// The compliance profile the lender picked (`default`, `in-rbi-2026-draft`).
    pub compliance_profile: String,
    /// The lender's policy settings; `None` for the profile's defaults.
    pub policy: Option<PolicySettings>,
    /// When created.
    pub created_at: Timestamp,
}

/// An API key as stored: never the secret, only its HMAC under the server secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public id, also the first part of the key string.
    pub id: ApiKeyId,
    /// Owner.
    pub lender_id: LenderId,
    /// What the key may do.
    pub role: Role,
    /// A label for people ("bootstrap", "collections integration").
    pub label: String,
    /// HMAC-SHA256 of (key id, secret part) under the server secret.
    pub secret_hmac: [u8; 32],
    /// When created.
    pub created_at: Timestamp,
    /// When revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// An enrolled device: what the lender decided, and what the server knows of its agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Id.
    pub id: DeviceId,
    /// Owner.
    pub lender_id: LenderId,
    /// Primary IMEI, the one the agent checks in with.
    pub imei: Imei,
    /// Second IMEI of a dual-SIM phone.
    pub imei2: Option<Imei>,
    /// Manufacturer serial number.
    pub serial: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Lender's decision.
    pub state: DeviceState,
    /// Whether the agent's key is trusted.
    pub key_status: KeyStatus,
    /// The bound device key.
    pub device_key: Option<[u8; 32]>,
    /// A different key awaiting the lender's approval.
    pub pending_key: Option<[u8; 32]>,
    /// Highest check-in counter accepted from the bound key.
    pub last_counter: u64,
    /// Highest check-in counter accepted from the pending key.
    pub pending_counter: u64,
    /// The key the last approval replaced; its old check-ins are refused as replays.
    pub retired_key: Option<[u8; 32]>,
    /// Highest counter accepted from the retired key while it was bound.
    pub retired_counter: u64,
    /// Sequence number of the last lease issued.
    pub lease_seq: u64,
    /// The automatic restriction the policy engine currently imposes (`None` when it
    /// imposes nothing); separate from `state`, which is the lender's explicit decision.
    pub policy_level: RestrictionLevel,
    /// When `policy_level` came into force (the epoch until the engine first decides), for
    /// graduated escalation.
    pub policy_level_since: Timestamp,
    /// The last notice sequence number assigned to this device (0 before the first). The
    /// service bumps it and numbers new notices from it in the same [`DeviceWrite`].
    pub notice_seq: u64,
    /// What the account owes past its due dates, as the policy engine last saw it; `None`
    /// when nothing is overdue or there is no active contract. Kept on the device so the
    /// lock screen and the console's arrears views need no ledger replay.
    pub arrears: Option<Arrears>,
    /// Last accepted check-in.
    pub last_seen_at: Option<Timestamp>,
    /// When enrolled.
    pub enrolled_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Optimistic-concurrency version; the store bumps it on every save.
    pub version: i64,
}

/// A device's arrears: what is overdue on its contract, and since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrears {
    /// What is unpaid on the installments already due, in the contract's currency; more
    /// than zero.
    pub amount: lienlock_domain::Money,
    /// The due date of the oldest overdue installment, as its first instant in the
    /// contract's time zone (the lender's). It is overdue from the next day on, so the
    /// days overdue are the whole days since then.
    pub since: Timestamp,
}

impl Arrears {
    /// The arrears `standing` shows on a contract with `terms`: `None` when nothing is
    /// overdue. Whether the contract is still collecting is the caller's question.
    pub fn of(
        standing: &lienlock_domain::Standing,
        terms: &lienlock_domain::ContractTerms,
    ) -> Option<Self> {
        if standing.overdue_amount <= 0 {
            return None;
        }
        // Money fills the oldest installments first, so with anything overdue the oldest
        // unpaid installment is an overdue one.
        let oldest = standing.oldest_unpaid?;
        // `None` only for a date at the very edge of the supported calendar, which no
        // schedule reaches.
        let since = lienlock_domain::zone::start_of_day(oldest.due, terms.time_zone())?;
        Some(Self {
            amount: lienlock_domain::Money::new(terms.currency(), standing.overdue_amount),
            since,
        })
    }
}

/// A filter and cursor for listing devices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceQuery {
    /// Only devices in this state.
    pub state: Option<DeviceState>,
    /// Only devices created after this one (keyset cursor); with `overdue`, the devices
    /// after this one in that order.
    pub after: Option<DeviceId>,
    /// At most this many.
    pub limit: u32,
    /// Only devices in arrears whose oldest overdue installment fell due in this range,
    /// listed most overdue first (by that date, then id) instead of by id.
    pub overdue: Option<OverdueRange>,
}

/// A range of [`Arrears::since`]: later than `after` (when given), no later than `at_most`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverdueRange {
    /// Exclusive lower bound.
    pub after: Option<Timestamp>,
    /// Inclusive upper bound.
    pub at_most: Timestamp,
}

/// Who did something, as recorded on timelines and commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A lender's API key.
    ApiKey(ApiKeyId),
    /// A lender's console user.
    User(UserId),
    /// The device's own agent.
    Device,
    /// The server's scheduler (a scheduled command coming due).
    Scheduler,
    /// The operator, from the command line.
    Operator,
    /// Someone on the public internet (the IMEI check); who exactly is not recorded.
    Public,
}

impl From<Principal> for Actor {
    fn from(p: Principal) -> Self {
        match p {
            Principal::ApiKey(id) => Actor::ApiKey(id),
            Principal::User(id) => Actor::User(id),
        }
    }
}

impl Actor {
    /// `api_key:<id>`, `user:<id>`, `device`, `scheduler`, `operator` or `public`.
    pub fn to_text(&self) -> String {
        match self {
            Actor::ApiKey(id) => format!("api_key:{id}"),
            Actor::User(id) => format!("user:{id}"),
            Actor::Device => "device".into(),
            Actor::Scheduler => "scheduler".into(),
            Actor::Operator => "operator".into(),
            Actor::Public => "public".into(),
        }
    }

    /// Reads [`Self::to_text`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "device" => Actor::Device,
            "scheduler" => Actor::Scheduler,
            "operator" => Actor::Operator,
            "public" => Actor::Public,
            _ => match s.strip_prefix("user:") {
                Some(id) => Actor::User(id.parse().ok()?),
                None => Actor::ApiKey(s.strip_prefix("api_key:")?.parse().ok()?),
            },
        })
    }
}

/// A lock, unlock or release, durable from the moment it is accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Id.
    pub id: CommandId,
    /// Target.
    pub device_id: DeviceId,
    /// Owner of the device.
    pub lender_id: LenderId,
    /// What.
    pub kind: CommandKind,
    /// Why, as the lender gave it.
    pub reason: String,
    /// Where it is in its life.
    pub status: CommandStatus,
    /// Who asked.
    pub requested_by: Actor,
    /// When asked.
    pub requested_at: Timestamp,
    /// When it takes effect (equal to `requested_at` unless scheduled).
    pub effective_at: Timestamp,
    /// When it was applied, superseded or cancelled.
    pub resolved_at: Option<Timestamp>,
}

/// One entry on a device's timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEvent {
    /// Id.
    pub id: EventId,
    /// Insertion order, assigned by the store (0 before it is stored). Timeline cursors use it.
    pub seq: i64,
    /// The device.
    pub device_id: DeviceId,
    /// Its lender.
    pub lender_id: LenderId,
    /// When.
    pub at: Timestamp,
    /// What.
    pub kind: EventKind,
    /// Who.
    pub actor: Actor,
    /// Why, when someone gave a reason.
    pub reason: Option<String>,
    /// Anything else worth showing (a command id, the counter of a refused replay).
    pub detail: Option<String>,
}

impl TimelineEvent {
    /// A new entry for `device` with no reason or detail yet (`seq` is assigned on insert).
    pub fn new(device: &Device, at: Timestamp, kind: EventKind, actor: Actor) -> Self {
        Self {
            id: EventId::new(),
            seq: 0,
            device_id: device.id,
            lender_id: device.lender_id,
            at,
            kind,
            actor,
            reason: None,
            detail: None,
        }
    }
}

/// A command leaving `pending`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandResolution {
    /// Which.
    pub id: CommandId,
    /// Applied, superseded or cancelled.
    pub status: CommandStatus,
    /// When.
    pub at: Timestamp,
}

/// One atomic change to a device and what goes with it. See [`crate::Store::save_device`].
///
/// Start from [`DeviceWrite::new`] and fill in what the change needs, so that adding a part
/// here does not touch every caller:
///
/// ```ignore
/// let write = DeviceWrite { events: vec![e], ..DeviceWrite::new(device) };
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceWrite {
    /// The new row. `version` is the version that was read; the store checks and bumps it.
    pub device: Device,
    /// Commands to insert.
    pub new_commands: Vec<Command>,
    /// Pending commands to resolve; each must still be pending.
    pub resolved_commands: Vec<CommandResolution>,
    /// Timeline entries to append.
    pub events: Vec<TimelineEvent>,
    /// A changed contract of this device. `version` is the version that was read and
    /// `wake_seq` the wake count that was read; the store checks the version and bumps it
    /// (a changed version makes the whole write [`crate::StoreError::Stale`]) and merges
    /// `next_evaluation_at` with any wake-up recorded since the read. `id`, `lender_id`,
    /// `device_id` and `created_at` are never rewritten.
    pub contract: Option<ContractRecord>,
    /// Notices to queue for this device; their `seq` must lie in
    /// `1..=device.notice_seq` and be new.
    pub new_notices: Vec<NoticeRecord>,
    /// `(seq, at)`: marks this device's undelivered notices with `seq <= seq` (including
    /// any in `new_notices`) as delivered at `at`.
    pub notices_delivered: Option<(u64, Timestamp)>,
}

impl DeviceWrite {
    /// A write of `device` that changes nothing else.
    pub fn new(device: Device) -> Self {
        Self {
            device,
            new_commands: Vec::new(),
            resolved_commands: Vec::new(),
            events: Vec::new(),
            contract: None,
            new_notices: Vec::new(),
            notices_delivered: None,
        }
    }
}

/// What a check-in reads before it decides (see `Store::checkin_view`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckinView {
    /// The enrollment.
    pub device: Device,
    /// Its lender.
    pub lender: Lender,
    /// The highest LC1 unlock-code counter minted for the device (0 for none). Read with
    /// the device: a code is minted only after its payment's evaluation wrote the device,
    /// so a code counted here is reflected in this device row, or the check-in's write
    /// finds the row changed and the check-in is redone.
    pub codes_through: u32,
    /// The device's commands still pending, oldest first.
    pub pending_commands: Vec<Command>,
    /// The lowest sequence of the device's notices not yet delivered (`None`: every
    /// notice was). A phone that showed its notices repeats its acknowledgement at every
    /// check-in; this tells the check-in there is nothing left to mark without reading the
    /// notices. Read with the device: queuing a notice bumps the device's version, so one
    /// queued after this read makes the check-in's write stale and the check-in is redone.
    pub undelivered_from: Option<u64>,
}
