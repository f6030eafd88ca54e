//! Records and helpers shared by the suite.

use lienlock_domain::{
    ApiKeyId, CommandId, CommandKind, CommandStatus, DeviceState, EventId, EventKind, Imei,
    KeyStatus, LenderCtx, LenderId, RestrictionProfile, Role, Timestamp,
};
use lienlock_store::{
    Actor, ApiKeyRecord, Command, Device, DeviceWrite, Lender, Store, TimelineEvent,
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
        api_key_id: key.id,
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
    DeviceWrite {
        device: d.clone(),
        new_commands: Vec::new(),
        resolved_commands: Vec::new(),
        events: Vec::new(),
    }
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
