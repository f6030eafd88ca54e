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
//! server nodes can share one PostgreSQL.

mod records;

pub use records::*;

use async_trait::async_trait;
use lienlock_domain::{ApiKeyId, CommandStatus, DeviceId, Imei, LenderCtx, LenderId, Timestamp};

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
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
    /// The database cannot be reached or is read-only/full; nothing was written.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
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

/// Shorthand for storage results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything lienlock persists. Implemented for SQLite and PostgreSQL; both pass the same
/// conformance suite.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Checks that the database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    // ---- lenders and keys -------------------------------------------------------------

    /// Creates a lender together with its first API key, atomically. Operator only.
    async fn create_lender(&self, lender: &Lender, first_key: &ApiKeyRecord) -> StoreResult<()>;

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

    /// A device by id without tenant scope. Scheduler only.
    async fn device_unscoped(&self, id: DeviceId) -> StoreResult<Option<Device>>;

    /// Writes a changed device if its stored version still equals `write.device.version`,
    /// bumping the version, and in the same transaction inserts the new commands, moves the
    /// listed commands out of `pending` and appends the events. Returns
    /// [`StoreError::Stale`] (and writes nothing) when the device or any listed command
    /// changed since it was read.
    async fn save_device(&self, write: &DeviceWrite) -> StoreResult<()>;

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
}
