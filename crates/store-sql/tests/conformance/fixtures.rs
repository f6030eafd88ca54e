//! Records and helpers shared by the suite.

use lienlock_domain::{
    ApiKeyId, CommandId, CommandKind, CommandStatus, ContractId, ContractState, ContractTerms,
    Currency, DeviceState, DisputeId, EntryKind, EventId, EventKind, Imei, KeyStatus, LenderCtx,
    LenderId, NoticeId, PaymentId, RestrictionLevel, RestrictionProfile, Role, Timestamp,
};
use lienlock_store::{
    Actor, ApiKeyRecord, Command, ContractRecord, Device, DeviceWrite, DisputeRecord, Lender,
    NoticeRecord, PaymentRecord, Store, StoreError, TimelineEvent,
};
pub use lienlock_store_sql::testing::{Backend, TestDb};
use std::sync::Arc;

pub type DynStore = Arc<dyn Store>;

/// A fresh database and a store on it; `None` when this backend is skipped here.
pub async fn setup(backend: Backend) -> Option<(TestDb, DynStore)> {
    let db = TestDb::new(backend).await?;
    let store = db.store().await;
    Some((db, store))
}

/// A time in November 2023 plus `ms`.
pub fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + ms)
}

/// A valid IMEI numbered `n`.
pub fn imei(n: u32) -> Imei {
    Imei::from_body(&format!("35693803{n:06}")).unwrap()
}

pub fn lender_and_key(name: &str) -> (Lender, ApiKeyRecord) {
    let lender = Lender {
        id: LenderId::new(),
        name: name.into(),
        support_phone: "+254 700 000000".into(),
        support_url: "https://pay.example/".into(),
        lock_message: "Pay to unlock".into(),
        lock_profile: RestrictionProfile::full_lock(),
        compliance_profile: "default".into(),
        policy: None,
        created_at: at(0),
    };
    let key = ApiKeyRecord {
        id: ApiKeyId::new(),
        lender_id: lender.id,
        role: Role::Admin,
        label: "bootstrap".into(),
        secret_hmac: [7; 32],
        created_at: at(0),
        revoked_at: None,
    };
    (lender, key)
}

/// Creates a lender and returns an admin context for it.
pub async fn lender(store: &DynStore, name: &str) -> LenderCtx {
    let (lender, key) = lender_and_key(name);
    store.create_lender(&lender, &key).await.unwrap();
    LenderCtx {
        lender_id: lender.id,
        role: Role::Admin,
        principal: lienlock_domain::Principal::ApiKey(key.id),
    }
}

pub fn device(ctx: &LenderCtx, imei: Imei, imei2: Option<Imei>) -> Device {
    Device {
        id: lienlock_domain::DeviceId::new(),
        lender_id: ctx.lender_id,
        imei,
        imei2,
        serial: Some("R58N123".into()),
        model: None,
        state: DeviceState::Active,
        key_status: KeyStatus::Unregistered,
        device_key: None,
        pending_key: None,
        last_counter: 0,
        pending_counter: 0,
        retired_key: None,
        retired_counter: 0,
        lease_seq: 0,
        policy_level: RestrictionLevel::None,
        policy_level_since: Timestamp::from_millis(0),
        notice_seq: 0,
        arrears: None,
        last_seen_at: None,
        enrolled_at: at(1),
        updated_at: at(1),
        version: 0,
    }
}

pub fn event(d: &Device, kind: EventKind, ms: i64) -> TimelineEvent {
    TimelineEvent {
        id: EventId::new(),
        seq: 0,
        device_id: d.id,
        lender_id: d.lender_id,
        at: at(ms),
        kind,
        actor: Actor::Operator,
        reason: Some(format!("{} at {ms}", kind.as_str())),
        detail: None,
    }
}

/// Enrolls a new device of `ctx` and returns it as stored.
pub async fn enroll(store: &DynStore, ctx: &LenderCtx, imei: Imei, imei2: Option<Imei>) -> Device {
    let d = device(ctx, imei, imei2);
    store
        .enroll_device(ctx, &d, &event(&d, EventKind::Enrolled, 1))
        .await
        .unwrap();
    d
}

pub fn command(d: &Device, kind: CommandKind, effective_ms: i64) -> Command {
    Command {
        id: CommandId::new(),
        device_id: d.id,
        lender_id: d.lender_id,
        kind,
        reason: "missed payment".into(),
        status: CommandStatus::Pending,
        requested_by: Actor::ApiKey(ApiKeyId::new()),
        requested_at: at(2),
        effective_at: at(effective_ms),
        resolved_at: None,
    }
}

/// A write of `d` as read, changing nothing yet.
pub fn write(d: &Device) -> DeviceWrite {
    DeviceWrite::new(d.clone())
}

/// Saves `w` and returns the device as it now is in the store.
pub async fn save(store: &DynStore, w: DeviceWrite) -> Device {
    store.save_device(&w).await.unwrap();
    let mut d = w.device;
    d.version += 1;
    assert_eq!(
        store.device_unscoped(d.id).await.unwrap().as_ref(),
        Some(&d)
    );
    d
}

/// The ids of a device's timeline, oldest first.
pub async fn timeline_ids(store: &DynStore, ctx: &LenderCtx, d: &Device) -> Vec<EventId> {
    let events = store
        .timeline(ctx, d.id, None, 1000)
        .await
        .unwrap()
        .unwrap();
    events.into_iter().map(|e| e.id).collect()
}

// ---- contracts, payments, notices, disputes --------------------------------------------------

/// Valid terms: `financed` minor units of `currency` in 12 monthly installments.
pub fn terms(currency: &str, financed: i64) -> ContractTerms {
    serde_json::from_value(serde_json::json!({
        "currency": currency,
        "financed": financed,
        "down_payment": 30_000,
        "fees": 10_000,
        "schedule": {"monthly": {"first_due": "2026-01-31", "day_of_month": 31, "count": 12}},
        "time_zone": "Africa/Nairobi",
    }))
    .unwrap()
}

/// An active KES contract on `d`, due for evaluation at `at(next_ms)`.
pub fn contract(d: &Device, reference: Option<&str>, next_ms: i64) -> ContractRecord {
    ContractRecord {
        id: ContractId::new(),
        lender_id: d.lender_id,
        device_id: d.id,
        reference: reference.map(str::to_owned),
        terms: terms("KES", 1_200_000),
        policy: Some(r#"{"grace_days":3}"#.into()),
        state: ContractState::Active,
        created_at: at(10),
        updated_at: at(10),
        next_evaluation_at: Some(at(next_ms)),
        version: 0,
        wake_seq: 0,
    }
}

/// Creates `c` (with a timeline event) and returns it.
pub async fn create(store: &DynStore, ctx: &LenderCtx, c: ContractRecord) -> ContractRecord {
    let d = store.device(ctx, c.device_id).await.unwrap().unwrap();
    store
        .create_contract(ctx, &c, &event(&d, EventKind::CommandScheduled, 10))
        .await
        .unwrap();
    c
}

/// An enrolled device of `ctx` with an active contract due at `at(next_ms)`.
pub async fn device_with_contract(
    store: &DynStore,
    ctx: &LenderCtx,
    n: u32,
    next_ms: i64,
) -> (Device, ContractRecord) {
    let d = enroll(store, ctx, imei(n), None).await;
    let c = create(store, ctx, contract(&d, None, next_ms)).await;
    (d, c)
}

/// A payment of `amount` KES received at `at(received_ms)`, matched to `contract` if given.
pub fn payment(
    ctx: &LenderCtx,
    contract: Option<&ContractRecord>,
    amount: i64,
    received_ms: i64,
) -> PaymentRecord {
    PaymentRecord {
        id: PaymentId::new(),
        lender_id: ctx.lender_id,
        contract_id: contract.map(|c| c.id),
        kind: EntryKind::Payment,
        amount,
        currency: Currency::parse("KES").unwrap(),
        received_at: at(received_ms),
        recorded_at: at(received_ms + 5),
        channel: "api".into(),
        external_ref: None,
        payer_hint: None,
        idempotency_key: None,
        request_hash: [amount as u8; 32],
        assigned_at: None,
    }
}

/// Notice number `seq` for `d` about `contract`.
pub fn notice(d: &Device, contract: Option<&ContractRecord>, seq: u64) -> NoticeRecord {
    NoticeRecord {
        id: NoticeId::new(),
        lender_id: d.lender_id,
        device_id: d.id,
        contract_id: contract.map(|c| c.id),
        seq,
        kind: "lock_notice".into(),
        message: format!("notice {seq}"),
        created_at: at(100 + seq as i64),
        delivered_at: None,
    }
}

/// An open dispute on `d`, opened by the borrower at `at(opened_ms)`.
pub fn dispute(d: &Device, contract: Option<&ContractRecord>, opened_ms: i64) -> DisputeRecord {
    DisputeRecord {
        id: DisputeId::new(),
        lender_id: d.lender_id,
        device_id: d.id,
        contract_id: contract.map(|c| c.id),
        opened_by: Actor::Device,
        reason: "I paid: receipt QX81".into(),
        opened_at: at(opened_ms),
        temporary_unlock_until: None,
        closed_at: None,
        closed_by: None,
        resolution: None,
    }
}

/// `c` as stored now.
pub async fn reread(store: &DynStore, c: &ContractRecord) -> ContractRecord {
    store.contract_unscoped(c.id).await.unwrap().unwrap()
}

/// Asserts `r` failed with exactly `want` (compared by its text, as errors are not `Eq`).
#[track_caller]
pub fn assert_err<T: std::fmt::Debug>(r: Result<T, StoreError>, want: StoreError) {
    match r {
        Err(e) => assert_eq!(format!("{e:?}"), format!("{want:?}")),
        Ok(v) => panic!("expected {want:?}, got Ok({v:?})"),
    }
}

/// `c` as a successful save leaves it: one version on.
pub fn bumped(mut c: ContractRecord) -> ContractRecord {
    c.version += 1;
    c
}
