//! A [`Store`] that passes every call through and records how many calls of each method
//! were made and how long they took: the profile of a scheduler pass, from outside the
//! service, without touching the server's code.

use async_trait::async_trait;
use lienlock_domain::android::AndroidSettings;
use lienlock_domain::{
    ApiKeyId, CodeFormat, CommandStatus, ContractId, DeviceId, DisputeId, Imei, LenderCtx,
    LenderId, PaymentId, PolicySettings, Timestamp,
};
use lienlock_store::{
    AndroidDeviceRecord, AndroidPart, AndroidSettingsRecord, ApiKeyRecord, CodeInsert, Command,
    ContractFacts, ContractRecord, Device, DeviceQuery, DeviceWrite, DisputeRecord, Lender,
    NoticeRecord, PaymentInsert, PaymentRecord, Store, StoreResult, TimelineEvent,
    UnlockCodeRecord, WakeReceiver,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Calls and time spent per store method.
pub type Tally = BTreeMap<&'static str, (u64, Duration)>;

/// Wraps a store and tallies its calls.
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn Store>,
    tally: Mutex<Tally>,
}

impl CountingStore {
    /// Counts the calls made to `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            tally: Mutex::new(Tally::new()),
        }
    }

    /// The tally so far, which starts again from zero.
    pub fn take(&self) -> Tally {
        std::mem::take(&mut *self.tally.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn record(&self, method: &'static str, took: Duration) {
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        let entry = tally.entry(method).or_default();
        entry.0 += 1;
        entry.1 += took;
    }
}

/// `impl Store for CountingStore` from the methods' signatures: each one times the inner
/// store's method of the same name. A macro, so the forty methods cannot drift apart; the
/// attribute is part of the expansion so `async_trait` sees the expanded methods.
macro_rules! counted {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        #[async_trait]
        impl Store for CountingStore {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    let started = Instant::now();
                    let result = self.inner.$name($($arg),*).await;
                    self.record(stringify!($name), started.elapsed());
                    result
                }
            )*
        }
    };
}

counted! {
    fn ping(&self) -> StoreResult<()>;
    fn create_lender(&self, lender: &Lender, first_key: &ApiKeyRecord) -> StoreResult<()>;
    fn set_lender_policy(&self, ctx: &LenderCtx, profile: &str, policy: Option<&PolicySettings>,
        at: Timestamp) -> StoreResult<()>;
    fn add_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    fn find_api_key(&self, id: ApiKeyId) -> StoreResult<Option<ApiKeyRecord>>;
    fn lender(&self, ctx: &LenderCtx) -> StoreResult<Lender>;
    fn lender_by_id(&self, id: LenderId) -> StoreResult<Option<Lender>>;
    fn list_lenders(&self) -> StoreResult<Vec<Lender>>;
    fn enroll_device(&self, ctx: &LenderCtx, device: &Device, event: &TimelineEvent)
        -> StoreResult<()>;
    fn device(&self, ctx: &LenderCtx, id: DeviceId) -> StoreResult<Option<Device>>;
    fn list_devices(&self, ctx: &LenderCtx, query: &DeviceQuery) -> StoreResult<Vec<Device>>;
    fn device_for_checkin(&self, imei: &Imei) -> StoreResult<Option<Device>>;
    fn device_unscoped(&self, id: DeviceId) -> StoreResult<Option<Device>>;
    fn device_by_imei(&self, ctx: &LenderCtx, imei: &Imei) -> StoreResult<Option<Device>>;
    fn save_device(&self, write: &DeviceWrite) -> StoreResult<()>;
    fn save_devices(&self, writes: &[DeviceWrite]) -> StoreResult<Vec<StoreResult<()>>>;
    fn append_events(&self, events: &[TimelineEvent]) -> StoreResult<()>;
    fn timeline(&self, ctx: &LenderCtx, device: DeviceId, after_seq: Option<i64>, limit: u32)
        -> StoreResult<Option<Vec<TimelineEvent>>>;
    fn device_commands(&self, ctx: &LenderCtx, device: DeviceId, status: Option<CommandStatus>)
        -> StoreResult<Vec<Command>>;
    fn pending_commands_unscoped(&self, device: DeviceId) -> StoreResult<Vec<Command>>;
    fn due_commands(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Command>>;
    fn create_contract(&self, ctx: &LenderCtx, contract: &ContractRecord, event: &TimelineEvent)
        -> StoreResult<()>;
    fn contract(&self, ctx: &LenderCtx, id: ContractId) -> StoreResult<Option<ContractRecord>>;
    fn contract_for_device(&self, ctx: &LenderCtx, device: DeviceId)
        -> StoreResult<Option<ContractRecord>>;
    fn contract_by_reference(&self, ctx: &LenderCtx, reference: &str)
        -> StoreResult<Option<ContractRecord>>;
    fn list_contracts(&self, ctx: &LenderCtx, after: Option<ContractId>, limit: u32)
        -> StoreResult<Vec<ContractRecord>>;
    fn contract_unscoped(&self, id: ContractId) -> StoreResult<Option<ContractRecord>>;
    fn active_contract_unscoped(&self, device: DeviceId) -> StoreResult<Option<ContractRecord>>;
    fn due_contracts(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<ContractRecord>>;
    fn contract_facts_unscoped(&self, contracts: Vec<ContractRecord>)
        -> StoreResult<Vec<ContractFacts>>;
    fn insert_payment(&self, ctx: &LenderCtx, payment: &PaymentRecord, wake_at: Timestamp)
        -> StoreResult<PaymentInsert>;
    fn insert_payment_with_event(&self, ctx: &LenderCtx, payment: &PaymentRecord,
        wake_at: Timestamp, event: &TimelineEvent) -> StoreResult<PaymentInsert>;
    fn payment(&self, ctx: &LenderCtx, id: PaymentId) -> StoreResult<Option<PaymentRecord>>;
    fn contract_payments(&self, ctx: &LenderCtx, contract: ContractId)
        -> StoreResult<Vec<PaymentRecord>>;
    fn contract_payments_unscoped(&self, contract: ContractId) -> StoreResult<Vec<PaymentRecord>>;
    fn unmatched_payments(&self, ctx: &LenderCtx, after: Option<PaymentId>, limit: u32)
        -> StoreResult<Vec<PaymentRecord>>;
    fn assign_payment(&self, ctx: &LenderCtx, payment: PaymentId, contract: ContractId,
        at: Timestamp) -> StoreResult<PaymentRecord>;
    fn device_undelivered_notices(&self, device: DeviceId, limit: u32)
        -> StoreResult<Vec<NoticeRecord>>;
    fn contract_notices(&self, contract: ContractId) -> StoreResult<Vec<NoticeRecord>>;
    fn device_notices(&self, ctx: &LenderCtx, device: DeviceId)
        -> StoreResult<Option<Vec<NoticeRecord>>>;
    fn open_dispute(&self, ctx: &LenderCtx, dispute: &DisputeRecord, event: &TimelineEvent)
        -> StoreResult<()>;
    fn open_dispute_from_device(&self, dispute: &DisputeRecord, event: &TimelineEvent)
        -> StoreResult<()>;
    fn update_dispute(&self, ctx: &LenderCtx, dispute: &DisputeRecord, event: &TimelineEvent)
        -> StoreResult<()>;
    fn dispute(&self, ctx: &LenderCtx, id: DisputeId) -> StoreResult<Option<DisputeRecord>>;
    fn device_disputes(&self, ctx: &LenderCtx, device: DeviceId)
        -> StoreResult<Option<Vec<DisputeRecord>>>;
    fn contract_disputes_unscoped(&self, contract: ContractId) -> StoreResult<Vec<DisputeRecord>>;
    fn insert_unlock_code(&self, ctx: &LenderCtx, code: &UnlockCodeRecord, event: &TimelineEvent)
        -> StoreResult<CodeInsert>;
    fn last_code_counter(&self, device: DeviceId, format: CodeFormat) -> StoreResult<u32>;
    fn device_codes(&self, ctx: &LenderCtx, device: DeviceId, limit: u32)
        -> StoreResult<Option<Vec<UnlockCodeRecord>>>;
    fn code_for_payment(&self, ctx: &LenderCtx, payment: PaymentId)
        -> StoreResult<Option<UnlockCodeRecord>>;
    fn redeem_codes_unscoped(&self, device: DeviceId, format: CodeFormat, counters: &[u32],
        at: Timestamp) -> StoreResult<Vec<UnlockCodeRecord>>;
    fn device_code_format(&self, ctx: &LenderCtx, device: DeviceId)
        -> StoreResult<Option<CodeFormat>>;
    fn set_device_code_format(&self, ctx: &LenderCtx, device: DeviceId, format: CodeFormat)
        -> StoreResult<()>;
    fn notify_devices(&self, devices: &[DeviceId]) -> StoreResult<()>;
    fn listen_wakes(&self) -> StoreResult<WakeReceiver>;
    fn scheduler_turn(&self) -> StoreResult<bool>;
    fn record_tamper_unscoped(&self, signals: &[(lienlock_store::TamperRecord, TimelineEvent)],
        wake_at: Timestamp) -> StoreResult<usize>;
    fn tamper_unscoped(&self, devices: &[DeviceId]) -> StoreResult<Vec<lienlock_store::TamperRecord>>;
    fn create_user(&self, user: &lienlock_store::UserRecord) -> StoreResult<()>;
    fn user_by_email_unscoped(&self, email: &str)
        -> StoreResult<Option<lienlock_store::UserRecord>>;
    fn disable_user_unscoped(&self, email: &str, at: Timestamp) -> StoreResult<bool>;
    fn list_users(&self, ctx: &LenderCtx) -> StoreResult<Vec<lienlock_store::UserRecord>>;
    fn create_session(&self, session: &lienlock_store::SessionRecord) -> StoreResult<()>;
    fn session_unscoped(&self, token_hash: &[u8; 32])
        -> StoreResult<Option<(lienlock_store::SessionRecord, lienlock_store::UserRecord)>>;
    fn revoke_session(&self, token_hash: &[u8; 32], at: Timestamp) -> StoreResult<()>;
    fn portfolio_counts(&self, ctx: &LenderCtx, now: Timestamp)
        -> StoreResult<lienlock_store::PortfolioCounts>;
    fn daily_payments(&self, ctx: &LenderCtx, since: Timestamp, offset_ms: i64)
        -> StoreResult<Vec<lienlock_store::DailyPayments>>;
    fn lender_events_since(&self, ctx: &LenderCtx, kinds: &[lienlock_domain::EventKind],
        since: Timestamp, limit: u32) -> StoreResult<Vec<TimelineEvent>>;
    fn append_audit(&self, entry: lienlock_domain::audit::AuditEntry)
        -> StoreResult<lienlock_domain::audit::AuditRecord>;
    fn audit_rows(&self, chain: &str, after_seq: i64, limit: u32)
        -> StoreResult<Vec<lienlock_domain::audit::AuditRecord>>;
    fn audit_head(&self, chain: &str) -> StoreResult<Option<(i64, [u8; 32])>>;
    fn audit_chains(&self) -> StoreResult<Vec<String>>;
    fn list_api_keys(&self, ctx: &LenderCtx) -> StoreResult<Vec<ApiKeyRecord>>;
    fn create_api_key(&self, ctx: &LenderCtx, key: &ApiKeyRecord) -> StoreResult<()>;
    fn revoke_api_key(&self, ctx: &LenderCtx, id: ApiKeyId, at: Timestamp) -> StoreResult<bool>;
    fn rotate_api_key(&self, ctx: &LenderCtx, old: ApiKeyId, new: &ApiKeyRecord,
        old_until: Timestamp) -> StoreResult<bool>;
    fn android_settings(&self, ctx: &LenderCtx) -> StoreResult<Option<AndroidSettingsRecord>>;
    fn android_settings_unscoped(&self, lender: LenderId)
        -> StoreResult<Option<AndroidSettingsRecord>>;
    fn set_android_settings(&self, ctx: &LenderCtx, settings: &AndroidSettings, at: Timestamp)
        -> StoreResult<()>;
    fn set_android_key(&self, ctx: &LenderCtx, hash: &[u8; 32], at: Timestamp)
        -> StoreResult<bool>;
    fn android_lender_by_key_unscoped(&self, hash: &[u8; 32]) -> StoreResult<Option<LenderId>>;
    fn android_device(&self, ctx: &LenderCtx, device: DeviceId)
        -> StoreResult<Option<AndroidDeviceRecord>>;
    fn android_device_unscoped(&self, device: DeviceId)
        -> StoreResult<Option<AndroidDeviceRecord>>;
    fn save_android_device(&self, record: &AndroidDeviceRecord, part: AndroidPart,
        events: &[TimelineEvent]) -> StoreResult<()>;
    fn device_by_serial_unscoped(&self, serial: &str) -> StoreResult<Option<Device>>;
}
