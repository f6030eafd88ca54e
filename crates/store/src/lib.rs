//! The storage interface. Services decide; the store persists atomically.
//!
//! Every method that reads or writes one lender's data takes a [`LenderCtx`], so a query
//! cannot forget its tenant. The few unscoped methods serve callers that are not lenders
//! (a device proving itself with its key, API-key lookup during authentication, the
//! scheduler, the operator's CLI) and say so in their names and docs.
//!
//! Concurrency is optimistic: a [`Device`] carries a `version`; [`Store::save_device`]
//! writes only if the row still has that version and otherwise returns
//! [`StoreError::Stale`], and the caller re-reads and decides again. This needs no
//! `SELECT ... FOR UPDATE`, so SQLite and PostgreSQL behave the same, and any number of
//! server nodes can share one PostgreSQL. A [`ContractRecord`] carries its own `version`,
//! checked the same way when a [`DeviceWrite`] carries the contract; wake-ups (payments,
//! disputes) pull a contract's evaluation time in without bumping it (see
//! [`Store::insert_payment`]).

mod android;
pub mod batching;
mod codes;
mod console;
mod contracts;
mod records;
mod webhooks;

pub use android::*;
pub use codes::*;
pub use console::*;
pub use contracts::*;
pub use records::*;
pub use webhooks::*;

use async_trait::async_trait;
use lienlock_domain::{
    ApiKeyId, CodeFormat, CommandStatus, ContractId, DeviceId, DisputeId, EventKind, Imei,
    LenderCtx, LenderId, PaymentId, PolicySettings, Timestamp,
};

/// A wake-up hint for devices holding a push connection to some node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wake {
    /// These devices have something new: they should check in.
    Devices(Vec<DeviceId>),
    /// Hints may have been missed (the listener lost its connection): wake every device
    /// connected here, since a spurious check-in costs little and a missed one latency.
    All,
}

/// Hints from [`Store::listen_wakes`].
pub type WakeReceiver = tokio::sync::mpsc::Receiver<Wake>;

/// Why a storage call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Another active enrollment already uses this IMEI.
    #[error("IMEI {0} is already enrolled")]
    ImeiTaken(String),
    /// A row with this unique value exists (a duplicate id or name).
    #[error("duplicate {0}")]
    Duplicate(&'static str),
    /// The row changed since it was read; read again and retry.
    #[error("the record changed concurrently")]
    Stale,
    /// The named object (`"device"`, `"contract"`, `"payment"`, `"dispute"`) does not
    /// exist or belongs to another lender (the two are never told apart). Nothing was
    /// written.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The device already has an active contract.
    #[error("the device already has an active contract")]
    ContractExists,
    /// The change contradicts what is stored (`"already assigned"`, `"currency differs"`,
    /// `"dispute closed"`). Nothing was written.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database cannot be reached or cannot take the request now (busy, shutting
    /// down, out of connections); nothing was written. Retrying later may succeed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The database or its disk is full; nothing was written. Reads still work; writes
    /// succeed again once an operator frees space.
    #[error("storage full: {0}")]
    Full(String),
    /// The database refuses writes: a read-only file, directory or mount, or a standby;
    /// nothing was written. Needs an operator.
    #[error("storage read-only: {0}")]
    ReadOnly(String),
    /// Anything else the backend reported. Nothing was written.
    #[error("storage error: {0}")]
    Backend(String),
    /// A stored value could not be read back (corruption or a bad migration).
    #[error("corrupt record in {table}: {why}")]
    Corrupt {
        /// Which table.
        table: &'static str,
        /// What was wrong.
        why: String,
    },
}

impl StoreError {
    /// Whether the database could not take the request at all ([`StoreError::Unavailable`],
    /// [`StoreError::Full`], [`StoreError::ReadOnly`]), as opposed to refusing this one
    /// request: the node should say it is not ready, and the client should retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::Full(_) | StoreError::ReadOnly(_)
        )
    }
}

/// Shorthand for storage results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything lienlock persists. Implemented for SQLite and PostgreSQL; both pass the same
/// conformance suite.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Checks that the database takes a write (for `/readyz`): one that answers reads but
    /// refuses writes (full, read-only) is not ready.
    async fn ping(&self) -> StoreResult<()>;

    // ---- lenders and keys -------------------------------------------------------------

    /// Creates a lender together with its first API key, atomically. Operator only.
    async fn create_lender(&self, lender: &Lender, first_key: &ApiKeyRecord) -> StoreResult<()>;

    /// Sets the caller's compliance profile and policy settings (`None`: the profile's
    /// defaults). The service checks them against the profile first.
    /// In the same transaction every active contract of the lender is pulled in to be
    /// evaluated no later than `at` (a routine evaluation, not a wake-up: see
    /// [`Store::due_contracts`]), since the new settings can change any decision and a
    /// contract may otherwise sleep until its next due date.
    async fn set_lender_policy(
        &self,
        ctx: &LenderCtx,
        compliance_profile: &str,
        policy: Option<&PolicySettings>,
        at: Timestamp,
    ) -> StoreResult<()>;

    /// Adds an API key to an existing lender. Operator only.
    async fn add_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;

    /// Looks up a key during authentication, before any tenant is known.
    async fn find_api_key(&self, id: ApiKeyId) -> StoreResult<Option<ApiKeyRecord>>;

    /// The caller's own lender.
    async fn lender(&self, ctx: &LenderCtx) -> StoreResult<Lender>;

    /// A lender by id, for building a device's lease (device path) and the operator's CLI.
    async fn lender_by_id(&self, id: LenderId) -> StoreResult<Option<Lender>>;

    /// Every lender, oldest first. Operator only.
    async fn list_lenders(&self) -> StoreResult<Vec<Lender>>;

    // ---- devices ------------------------------------------------------------------------

    /// Enrolls a device and records its first timeline event, atomically. Fails with
    /// [`StoreError::ImeiTaken`] when either IMEI belongs to an enrollment that is not released.
    async fn enroll_device(
        &self,
        ctx: &LenderCtx,
        device: &Device,
        event: &TimelineEvent,
    ) -> StoreResult<()>;

    /// One of the caller's devices; `None` for a missing id or another lender's device.
    async fn device(&self, ctx: &LenderCtx, id: DeviceId) -> StoreResult<Option<Device>>;

    /// The caller's devices in id (creation) order, after a cursor, optionally by state.
    async fn list_devices(&self, ctx: &LenderCtx, query: &DeviceQuery) -> StoreResult<Vec<Device>>;

    /// The enrollment a checking-in device belongs to, found by either IMEI: the newest
    /// enrollment that is not released, or failing that the newest released one (so a
    /// released phone still learns it is free). Device path: the caller has proved only that
    /// it holds some key, which the service checks against the device's bound key.
    async fn device_for_checkin(&self, imei: &Imei) -> StoreResult<Option<Device>>;

    /// Loads what check-ins read into memory, where the backend keeps it there (a SQLite
    /// node: the views of its enrollments in force, up to a bound), and says how many it
    /// keeps; 0 where it keeps none. Slow (seconds a million phones) and never required:
    /// a node runs it in the background at start, and a check-in never waits for it.
    async fn warm_checkin_views(&self) -> StoreResult<usize> {
        Ok(0)
    }

    /// Everything a check-in reads before it decides, for the enrollment
    /// [`Store::device_for_checkin`] finds: the device, its lender, the highest LC1 code
    /// counter minted for it, its pending commands and its first undelivered notice;
    /// `None` for an unknown IMEI. The SQL backends answer in one statement (two when
    /// commands are pending), from one snapshot; this default reads them one by one, device
    /// first, as a check-in did before.
    async fn checkin_view(&self, imei: &Imei) -> StoreResult<Option<CheckinView>> {
        let Some(device) = self.device_for_checkin(imei).await? else {
            return Ok(None);
        };
        let codes_through = self.last_code_counter(device.id, CodeFormat::Lc1).await?;
        let Some(lender) = self.lender_by_id(device.lender_id).await? else {
            return Ok(None);
        };
        let pending_commands = self.pending_commands_unscoped(device.id).await?;
        let undelivered_from = self
            .device_undelivered_notices(device.id, 1)
            .await?
            .first()
            .map(|n| n.seq);
        Ok(Some(CheckinView {
            device,
            lender,
            codes_through,
            pending_commands,
            undelivered_from,
        }))
    }

    /// A device by id without tenant scope. Scheduler only.
    async fn device_unscoped(&self, id: DeviceId) -> StoreResult<Option<Device>>;

    /// The caller's device with this IMEI (either slot): the enrollment that is not
    /// released, else the newest (as [`Store::device_for_checkin`], within the tenant).
    /// For matching a payer who named an IMEI.
    async fn device_by_imei(&self, ctx: &LenderCtx, imei: &Imei) -> StoreResult<Option<Device>>;

    /// Writes a changed device if its stored version still equals `write.device.version`,
    /// bumping the version, and in the same transaction inserts the new commands, moves the
    /// listed commands out of `pending`, appends the events, updates the contract (with the
    /// same version check on the contract row), queues the new notices and marks delivered
    /// ones. Returns [`StoreError::Stale`] (and writes nothing) when the device, the
    /// contract or any listed command changed since it was read. Changing a contract back
    /// to `active` while another is active is [`StoreError::ContractExists`]; a reference
    /// another contract of the lender uses is [`StoreError::Duplicate`]. Parts that name
    /// another device or lender are refused as [`StoreError::Backend`].
    ///
    /// Not tenant-scoped (the device path and the scheduler call it); the service has read
    /// the device with the right scope first.
    async fn save_device(&self, write: &DeviceWrite) -> StoreResult<()>;

    /// Several [`Store::save_device`] writes in one transaction, each landing or not on its
    /// own: a write that is stale or refused is rolled back alone (a savepoint each) and
    /// reported in its slot of the returned list, in the order given. One commit for the
    /// lot is what makes the scheduler's pass affordable (a commit costs an fsync).
    /// `Err` means the transaction as a whole failed and none of the writes landed.
    ///
    /// Callers sort the writes by device id, so two batches touching the same devices take
    /// their row locks in the same order and cannot deadlock on PostgreSQL.
    async fn save_devices(&self, writes: &[DeviceWrite]) -> StoreResult<Vec<StoreResult<()>>>;

    /// Appends timeline events that change no device state (a refused replay).
    async fn append_events(&self, events: &[TimelineEvent]) -> StoreResult<()>;

    /// A device's timeline, oldest first, after a cursor. `None` when the device is not the
    /// caller's.
    async fn timeline(
        &self,
        ctx: &LenderCtx,
        device: DeviceId,
        after_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Option<Vec<TimelineEvent>>>;

    // ---- commands -----------------------------------------------------------------------

    /// A device's commands, oldest first, optionally only those in `status`. Used by the
    /// API (scoped by `ctx`).
    async fn device_commands(
        &self,
        ctx: &LenderCtx,
        device: DeviceId,
        status: Option<CommandStatus>,
    ) -> StoreResult<Vec<Command>>;

    /// Pending commands of one device, oldest first, without tenant scope. For the service
    /// that applies or cancels them inside a [`DeviceWrite`].
    async fn pending_commands_unscoped(&self, device: DeviceId) -> StoreResult<Vec<Command>>;

    /// Pending commands whose time has come, oldest first, at most `limit`. Scheduler only;
    /// several nodes may see the same rows, and [`Store::save_device`]'s version check
    /// makes sure only one applies each.
    async fn due_commands(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Command>>;

    // ---- contracts ----------------------------------------------------------------------

    /// Creates a contract on one of the caller's devices and records its timeline event,
    /// atomically. Errors: [`StoreError::NotFound`]`("device")` when the device is not the
    /// caller's; [`StoreError::ContractExists`] when the new contract is active and the
    /// device already has an active one; [`StoreError::Duplicate`]`("contract reference")`
    /// when another of the lender's contracts has the reference, `("contract id")` for a
    /// reused id. A record or event naming another lender or device is refused as
    /// [`StoreError::Backend`]. Write `version` and `wake_seq` as 0.
    async fn create_contract(
        &self,
        ctx: &LenderCtx,
        contract: &ContractRecord,
        event: &TimelineEvent,
    ) -> StoreResult<()>;

    /// One of the caller's contracts; `None` for a missing id or another lender's contract.
    async fn contract(
        &self,
        ctx: &LenderCtx,
        id: ContractId,
    ) -> StoreResult<Option<ContractRecord>>;

    /// The device's active contract, else its newest one; `None` when it has none or the
    /// device is not the caller's.
    async fn contract_for_device(
        &self,
        ctx: &LenderCtx,
        device: DeviceId,
    ) -> StoreResult<Option<ContractRecord>>;

    /// The caller's contract with this reference.
    async fn contract_by_reference(
        &self,
        ctx: &LenderCtx,
        reference: &str,
    ) -> StoreResult<Option<ContractRecord>>;

    /// The caller's contracts in id (creation) order after a cursor, at most `limit`
    /// (clamped to 1..=1000).
    async fn list_contracts(
        &self,
        ctx: &LenderCtx,
        after: Option<ContractId>,
        limit: u32,
    ) -> StoreResult<Vec<ContractRecord>>;

    /// A contract by id without tenant scope. Scheduler and device path only.
    async fn contract_unscoped(&self, id: ContractId) -> StoreResult<Option<ContractRecord>>;

    /// The device's active contract, if it has one, without tenant scope. Device path
    /// (check-in) and scheduler only.
    async fn active_contract_unscoped(
        &self,
        device: DeviceId,
    ) -> StoreResult<Option<ContractRecord>>;

    /// Active contracts whose evaluation time has come (`<= now`), at most `limit`:
    /// first those a wake-up (a payment, an assignment, a dispute) touched since their last
    /// evaluation, earliest wake-up first, then the rest by `next_evaluation_at`. So a
    /// payment's unlock never waits behind a backlog of routine evaluations. A save that
    /// saw the latest wake-up (same `wake_seq`) takes the contract off the wake-up list.
    ///
    /// Scheduler only. Reads through two partial indexes, so the cost follows the number
    /// of due rows, not of contracts. Several nodes may see the same rows; the contract's
    /// version check in [`Store::save_device`] makes sure only one evaluation's decision
    /// lands.
    async fn due_contracts(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<ContractRecord>>;

    /// The facts the policy engine needs about each of `contracts` (which the caller has
    /// just read): the device, ledger, notices and disputes, read with one query per kind
    /// for the whole batch, after the contracts (so a wake-up that lands in between is
    /// seen, or else kept by the `wake_seq` merge on save). In the order given; a contract
    /// whose device is gone is left out. No tenant scope: scheduler only.
    async fn contract_facts_unscoped(
        &self,
        contracts: Vec<ContractRecord>,
    ) -> StoreResult<Vec<ContractFacts>>;

    // ---- payments -----------------------------------------------------------------------

    /// Records a payment or reversal of the caller, unless one with the same idempotency
    /// key, or the same channel and external reference, exists: then nothing is written and
    /// the existing entry is returned (the key is checked first).
    ///
    /// When the entry names a contract, that contract must be the caller's
    /// ([`StoreError::NotFound`]`("contract")`) and in the entry's currency
    /// ([`StoreError::Conflict`]`("currency differs")`), and if it is active its
    /// `next_evaluation_at` becomes `min(next_evaluation_at, wake_at)` in the same
    /// transaction, so the scheduler looks at it at once.
    ///
    /// The wake-up is a hint, not a decision, so it does not bump the contract's version
    /// (a payment must not make a concurrent check-in fail). It bumps the contract's
    /// `wake_seq` instead, and a contract save that read an older `wake_seq` keeps the
    /// earlier of its own and the stored `next_evaluation_at`: an evaluation that ran
    /// without seeing this payment can postpone the contract no later than `wake_at`.
    ///
    /// A reversal of an entry that is not the caller's is
    /// [`StoreError::NotFound`]`("payment")`; a reused id is
    /// [`StoreError::Duplicate`]`("payment id")`; a non-positive amount or a record of
    /// another lender is refused as [`StoreError::Backend`].
    async fn insert_payment(
        &self,
        ctx: &LenderCtx,
        payment: &PaymentRecord,
        wake_at: Timestamp,
    ) -> StoreResult<PaymentInsert>;

    /// [`Store::insert_payment`] together with the entry's timeline event, in the same
    /// transaction: an acknowledged payment never lacks its entry on the device's
    /// timeline. Nothing at all is written when the entry already exists. The event must
    /// be the caller's ([`StoreError::Backend`] otherwise).
    async fn insert_payment_with_event(
        &self,
        ctx: &LenderCtx,
        payment: &PaymentRecord,
        wake_at: Timestamp,
        event: &TimelineEvent,
    ) -> StoreResult<PaymentInsert>;

    /// One of the caller's ledger entries; `None` for a missing id or another lender's.
    async fn payment(&self, ctx: &LenderCtx, id: PaymentId) -> StoreResult<Option<PaymentRecord>>;

    /// The caller's entries matched to a contract, ordered by `(received_at, id)`; empty
    /// for another lender's contract.
    async fn contract_payments(
        &self,
        ctx: &LenderCtx,
        contract: ContractId,
    ) -> StoreResult<Vec<PaymentRecord>>;

    /// [`Store::contract_payments`] without tenant scope. Scheduler and device path only.
    async fn contract_payments_unscoped(
        &self,
        contract: ContractId,
    ) -> StoreResult<Vec<PaymentRecord>>;

    /// The caller's unmatched entries in id (arrival) order after a cursor, at most
    /// `limit` (clamped to 1..=1000).
    async fn unmatched_payments(
        &self,
        ctx: &LenderCtx,
        after: Option<PaymentId>,
        limit: u32,
    ) -> StoreResult<Vec<PaymentRecord>>;

    /// Assigns one of the caller's unmatched entries to one of the caller's contracts at
    /// `at`, wakes the contract as [`Store::insert_payment`] does (with `at`), and returns
    /// the entry as now stored. Errors: [`StoreError::NotFound`]`("payment")` or
    /// `("contract")`; [`StoreError::Conflict`]`("already assigned")` (even to the same
    /// contract) or `("currency differs")`.
    async fn assign_payment(
        &self,
        ctx: &LenderCtx,
        payment: PaymentId,
        contract: ContractId,
        at: Timestamp,
    ) -> StoreResult<PaymentRecord>;

    // ---- notices --------------------------------------------------------------------------

    /// A device's undelivered notices, lowest `seq` first, at most `limit` (clamped to
    /// 1..=1000). Device path: no tenant scope.
    async fn device_undelivered_notices(
        &self,
        device: DeviceId,
        limit: u32,
    ) -> StoreResult<Vec<NoticeRecord>>;

    /// Every notice caused by a contract, by `seq`. For the policy engine: no tenant scope.
    async fn contract_notices(&self, contract: ContractId) -> StoreResult<Vec<NoticeRecord>>;

    /// A device's notices by `seq`, for the API; `None` when the device is not the caller's.
    async fn device_notices(
        &self,
        ctx: &LenderCtx,
        device: DeviceId,
    ) -> StoreResult<Option<Vec<NoticeRecord>>>;

    // ---- disputes -------------------------------------------------------------------------

    /// Opens a dispute on one of the caller's devices, appends its timeline event, and
    /// wakes the device's active contract (at `event.at`, as [`Store::insert_payment`]
    /// does), atomically. Errors: [`StoreError::NotFound`]`("device")`, or `("contract")`
    /// when `contract_id` is not a contract of that device;
    /// [`StoreError::Duplicate`]`("dispute id")`. A dispute that is already closed, or a
    /// record or event naming another lender or device, is refused as
    /// [`StoreError::Backend`].
    async fn open_dispute(
        &self,
        ctx: &LenderCtx,
        dispute: &DisputeRecord,
        event: &TimelineEvent,
    ) -> StoreResult<()>;

    /// [`Store::open_dispute`] for a dispute the borrower opened from the phone: the device
    /// proved it holds the device's bound key, so the tenant is the device's lender
    /// (`dispute.lender_id`), not an API caller. Device path only.
    async fn open_dispute_from_device(
        &self,
        dispute: &DisputeRecord,
        event: &TimelineEvent,
    ) -> StoreResult<()>;

    /// Changes an open dispute of the caller (grants or changes a temporary unlock, or
    /// closes it), appends the event and wakes the device's active contract at `event.at`,
    /// atomically. Only `temporary_unlock_until`, `closed_at`, `closed_by` and
    /// `resolution` are written; the rest of the record is ignored. Errors:
    /// [`StoreError::NotFound`]`("dispute")`; [`StoreError::Conflict`]`("dispute closed")`
    /// when it was closed already (a closed dispute is final). No version check: of two
    /// concurrent changes to an open dispute the last wins.
    async fn update_dispute(
        &self,
        ctx: &LenderCtx,
        dispute: &DisputeRecord,
        event: &TimelineEvent,
    ) -> StoreResult<()>;

    /// One of the caller's disputes.
    async fn dispute(&self, ctx: &LenderCtx, id: DisputeId) -> StoreResult<Option<DisputeRecord>>;

    /// A device's disputes, oldest first; `None` when the device is not the caller's.
    async fn device_disputes(
        &self,
        ctx: &LenderCtx,
        device: DeviceId,
    ) -> StoreResult<Option<Vec<DisputeRecord>>>;

    /// The disputes naming a contract, oldest first. For the policy engine: no tenant scope.
    async fn contract_disputes_unscoped(
        &self,
        contract: ContractId,
    ) -> StoreResult<Vec<DisputeRecord>>;

    // ----- offline unlock codes -----

    /// Stores a newly minted code and appends `event` (its timeline entry) in one
    /// transaction. Errors: [`StoreError::NotFound`]`("device")` when the device is not the
    /// caller's; [`StoreError::Duplicate`]`("code counter")` when the device already has a
    /// code of this format with this counter (another node minted one at the same moment:
    /// mint again with the next counter). A code naming a payment that already has one
    /// writes nothing and returns [`CodeInsert::ExistingForPayment`].
    async fn insert_unlock_code(
        &self,
        ctx: &LenderCtx,
        code: &UnlockCodeRecord,
        event: &TimelineEvent,
    ) -> StoreResult<CodeInsert>;

    /// The highest counter among a device's codes of `format`, 0 when it has none. No
    /// tenant scope: callers found the device in their own scope first.
    async fn last_code_counter(&self, device: DeviceId, format: CodeFormat) -> StoreResult<u32>;

    /// The caller's codes for a device, newest first, at most `limit`; `None` when the
    /// device is not the caller's.
    async fn device_codes(
        &self,
        ctx: &LenderCtx,
        device: DeviceId,
        limit: u32,
    ) -> StoreResult<Option<Vec<UnlockCodeRecord>>>;

    /// The code that came with one of the caller's payments.
    async fn code_for_payment(
        &self,
        ctx: &LenderCtx,
        payment: PaymentId,
    ) -> StoreResult<Option<UnlockCodeRecord>>;

    /// Marks the device's codes of `format` with these counters as redeemed at `at`, unless
    /// they are already, and returns the ones it marked, by ascending counter. Counters no
    /// code has are ignored. No tenant scope: the device proved itself with its key.
    async fn redeem_codes_unscoped(
        &self,
        device: DeviceId,
        format: CodeFormat,
        counters: &[u32],
        at: Timestamp,
    ) -> StoreResult<Vec<UnlockCodeRecord>>;

    /// The code format a device of the caller's is configured for (`lc1` unless changed);
    /// `None` when the device is not the caller's.
    async fn device_code_format(
        &self,
        ctx: &LenderCtx,
        device: DeviceId,
    ) -> StoreResult<Option<CodeFormat>>;

    /// Configures a device's code format. [`StoreError::NotFound`]`("device")` when the
    /// device is not the caller's. Counters are per format, so switching back and forth
    /// never reuses one.
    async fn set_device_code_format(
        &self,
        ctx: &LenderCtx,
        device: DeviceId,
        format: CodeFormat,
    ) -> StoreResult<()>;

    // ----- wake-up hints between nodes -----

    /// Tells every node (this one included) that these devices should check in: on
    /// PostgreSQL a `NOTIFY` every node `LISTEN`s to, on SQLite (one node) an in-process
    /// channel. Call it after the change committed. Best effort: a lost hint costs the
    /// device latency (it still checks in on its own schedule), never a command.
    async fn notify_devices(&self, devices: &[DeviceId]) -> StoreResult<()>;

    /// Hints published from now on, by any node. The receiver ends when the store is
    /// dropped; if it is not read, hints are dropped, not buffered without bound.
    async fn listen_wakes(&self) -> StoreResult<WakeReceiver>;

    /// Whether this node may run the scheduler now. On PostgreSQL one node at a time
    /// holds a session-level advisory lock on a connection of its own and keeps it until
    /// it stops or loses that connection; every other node asks again at each tick and
    /// takes over within a tick of the holder's end. So no scheduled work is done twice,
    /// and a node's death stops it for one tick at most. SQLite serves one node: always.
    async fn scheduler_turn(&self) -> StoreResult<bool>;

    // ----- tamper signals -----

    /// Records tamper signals, each with its timeline event, in one transaction: a signal
    /// already recorded (same device, device key, kind and `seq`) is skipped with its
    /// event, so a signal the device sends again lands once, even from two concurrent
    /// check-ins. When any is new, the device's active contract is woken at `wake_at` (as
    /// a payment wakes it), since the lender's policy may restrict for it. Returns how many
    /// were new. Device path: no tenant scope; each record and event names its device.
    async fn record_tamper_unscoped(
        &self,
        signals: &[(TamperRecord, TimelineEvent)],
        wake_at: Timestamp,
    ) -> StoreResult<usize>;

    /// The tamper signals recorded for these devices, by device, then oldest first. For
    /// the policy engine: no tenant scope.
    async fn tamper_unscoped(&self, devices: &[DeviceId]) -> StoreResult<Vec<TamperRecord>>;

    // --- The console ---

    /// Adds a console user. [`StoreError::Duplicate`]`("email")` when the address is taken
    /// (by any lender); [`StoreError::NotFound`]`("lender")` when the lender does not exist.
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()>;

    /// The user signing in with this (lowercased) address, of whichever lender. Unscoped:
    /// sign-in is how a person comes to have a lender.
    async fn user_by_email_unscoped(&self, email: &str) -> StoreResult<Option<UserRecord>>;

    /// Disables the user with this (lowercased) address from `at`: they cannot sign in, and
    /// their open sessions stop working. Unscoped: the operator's command. `false` when no
    /// such user exists; disabling a disabled user keeps the first time.
    async fn disable_user_unscoped(&self, email: &str, at: Timestamp) -> StoreResult<bool>;

    /// The lender's users, by e-mail address.
    async fn list_users(&self, ctx: &LenderCtx) -> StoreResult<Vec<UserRecord>>;

    /// Records a sign-in.
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()>;

    /// The session with this token hash and its user, whatever their state (the caller
    /// checks expiry, revocation and a disabled user). Unscoped: the cookie is the
    /// credential.
    async fn session_unscoped(
        &self,
        token_hash: &[u8; 32],
    ) -> StoreResult<Option<(SessionRecord, UserRecord)>>;

    /// Ends a session (sign-out). Ending an ended or unknown session is not an error.
    async fn revoke_session(&self, token_hash: &[u8; 32], at: Timestamp) -> StoreResult<()>;

    /// The dashboard's counts: devices by state and by automatic restriction, and devices
    /// in arrears by how long.
    async fn portfolio_counts(
        &self,
        ctx: &LenderCtx,
        now: Timestamp,
    ) -> StoreResult<PortfolioCounts>;

    /// Payments less reversals received since `since`, summed per day and currency. A day
    /// is `(received_at + offset_ms) / 86_400_000`: the caller passes its zone's offset.
    async fn daily_payments(
        &self,
        ctx: &LenderCtx,
        since: Timestamp,
        offset_ms: i64,
    ) -> StoreResult<Vec<DailyPayments>>;

    /// The lender's timeline entries of these kinds since `since`, oldest first, at most
    /// `limit`: what the dashboard's lock, unlock and cure figures are computed from.
    async fn lender_events_since(
        &self,
        ctx: &LenderCtx,
        kinds: &[EventKind],
        since: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<TimelineEvent>>;
    // ----- the audit trail -----

    /// Appends an entry to the end of its chain (`entry.chain`), hashing it onto the chain's
    /// last row, in one transaction. Appends to one chain are serialized, across nodes too.
    async fn append_audit(
        &self,
        entry: lienlock_domain::audit::AuditEntry,
    ) -> StoreResult<lienlock_domain::audit::AuditRecord>;

    /// Rows of a chain in order, after `after_seq`, at most `limit`. Not tenant-scoped: the
    /// service passes the caller's own lender id as the chain, and the operator any chain.
    async fn audit_rows(
        &self,
        chain: &str,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<lienlock_domain::audit::AuditRecord>>;

    /// A chain's head: its last row's seq and hash; `None` for an empty chain.
    async fn audit_head(&self, chain: &str) -> StoreResult<Option<(i64, [u8; 32])>>;

    /// Every chain that has a head or a row. Operator only.
    async fn audit_chains(&self) -> StoreResult<Vec<String>>;

    // ----- the Android channel (migration 0009) -----

    /// The caller's Android settings, `None` before it set them.
    async fn android_settings(&self, ctx: &LenderCtx)
        -> StoreResult<Option<AndroidSettingsRecord>>;

    /// A lender's Android settings, for a phone's call (which has no lender caller).
    async fn android_settings_unscoped(
        &self,
        lender: LenderId,
    ) -> StoreResult<Option<AndroidSettingsRecord>>;

    /// Writes the caller's Android settings, keeping its key.
    async fn set_android_settings(
        &self,
        ctx: &LenderCtx,
        settings: &lienlock_domain::android::AndroidSettings,
        at: Timestamp,
    ) -> StoreResult<()>;

    /// Replaces the hash of the caller's check-in key; `false` (nothing written) before the
    /// caller set its settings.
    async fn set_android_key(
        &self,
        ctx: &LenderCtx,
        hash: &[u8; 32],
        at: Timestamp,
    ) -> StoreResult<bool>;

    /// The lender whose check-in key hashes to `hash`: authentication of a phone's call.
    async fn android_lender_by_key_unscoped(
        &self,
        hash: &[u8; 32],
    ) -> StoreResult<Option<LenderId>>;

    /// One of the caller's phones on the Android channel, `None` before it was seen or
    /// configured there.
    async fn android_device(
        &self,
        ctx: &LenderCtx,
        device: DeviceId,
    ) -> StoreResult<Option<AndroidDeviceRecord>>;

    /// A phone's Android record, for its own call.
    async fn android_device_unscoped(
        &self,
        device: DeviceId,
    ) -> StoreResult<Option<AndroidDeviceRecord>>;

    /// Writes `part` of a phone's Android record (the whole record when it has none yet)
    /// and its timeline events in one transaction, and `updated_at` with either.
    /// [`StoreError::NotFound`]`("device")` when the device is not the record's lender's.
    async fn save_android_device(
        &self,
        record: &AndroidDeviceRecord,
        part: AndroidPart,
        events: &[TimelineEvent],
    ) -> StoreResult<()>;

    /// The enrollment a phone naming itself by serial number belongs to, across lenders:
    /// one that is not released first, then the newest.
    async fn device_by_serial_unscoped(&self, serial: &str) -> StoreResult<Option<Device>>;

    // ----- the lender's own API keys -----

    /// The caller's keys, revoked ones too, oldest first.
    async fn list_api_keys(&self, ctx: &LenderCtx) -> StoreResult<Vec<ApiKeyRecord>>;

    /// Adds a key for the caller's lender (`key.lender_id` must be the caller's).
    async fn create_api_key(&self, ctx: &LenderCtx, key: &ApiKeyRecord) -> StoreResult<()>;

    /// Ends one of the caller's keys at `at` (or earlier, if it already ends earlier).
    /// `false` when the caller has no such key or it already ended by then.
    async fn revoke_api_key(
        &self,
        ctx: &LenderCtx,
        id: ApiKeyId,
        at: Timestamp,
    ) -> StoreResult<bool>;

    /// Replaces one of the caller's keys: adds `new` and ends `old` at `old_until`, in one
    /// transaction. `false` (and nothing written) when `old` is not the caller's live key.
    async fn rotate_api_key(
        &self,
        ctx: &LenderCtx,
        old: ApiKeyId,
        new: &ApiKeyRecord,
        old_until: Timestamp,
    ) -> StoreResult<bool>;
}

/// A tamper signal as recorded: reported by a device (a changed SIM, a clock set back, root
/// or a debugger, wrong codes) or seen by the server (a factory reset). Its identity is
/// `(device_id, device_key, kind, seq)`: recorded once, however often the device repeats it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TamperRecord {
    /// Owner of the device.
    pub lender_id: LenderId,
    /// The device.
    pub device_id: DeviceId,
    /// The device key that reported it (the bound key).
    pub device_key: [u8; 32],
    /// What it says.
    pub kind: lienlock_domain::policy::TamperKind,
    /// The device's number for it; for a factory reset, the check-in counter at which the
    /// new user partition began.
    pub seq: i64,
    /// The device's wall clock when it was first seen (a claim).
    pub seen_wall: Timestamp,
    /// The device's trusted time when it was first seen (a claim).
    pub seen_trusted: Timestamp,
    /// Kind-specific value (see `lienlock_wire::TamperSignal::value`).
    pub value: i64,
    /// Server time when recorded: what the policy engine counts from.
    pub recorded_at: Timestamp,
}
