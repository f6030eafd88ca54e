//! The records the store reads and writes. Plain data; the rules live in the domain crate
//! and the services.

use lienlock_domain::{
    ApiKeyId, CommandId, CommandKind, CommandStatus, DeviceId, DeviceState, EventId, EventKind,
    Imei, KeyStatus, LenderId, PolicySettings, RestrictionLevel, RestrictionProfile, Role,
    Timestamp,
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
    /// Last accepted check-in.
    pub last_seen_at: Option<Timestamp>,
    /// When enrolled.
    pub enrolled_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Optimistic-concurrency version; the store bumps it on every save.
    pub version: i64,
}

/// A filter and cursor for listing devices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceQuery {
    /// Only devices in this state.
    pub state: Option<DeviceState>,
    /// Only devices created after this one (keyset cursor).
    pub after: Option<DeviceId>,
    /// At most this many.
    pub limit: u32,
}

/// Who did something, as recorded on timelines and commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A lender's API key.
    ApiKey(ApiKeyId),
    /// The device's own agent.
    Device,
    /// The server's scheduler (a scheduled command coming due).
    Scheduler,
    /// The operator, from the command line.
    Operator,
    /// Someone on the public internet (the IMEI check); who exactly is not recorded.
    Public,
}

impl Actor {
    /// `api_key:<id>`, `device`, `scheduler`, `operator` or `public`.
    pub fn to_text(&self) -> String {
        match self {
            Actor::ApiKey(id) => format!("api_key:{id}"),
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
            _ => Actor::ApiKey(s.strip_prefix("api_key:")?.parse().ok()?),
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
