//! The scheduler's view of contracts: what is due, wake-ups by payments and disputes, and
//! how a contract save merges with a wake-up it did not see.

use crate::fixtures::*;
use lienlock_domain::{ContractState, EventKind, RestrictionLevel};
use lienlock_store::StoreError;
use lienlock_store_sql::backend_tests;
use lienlock_store_sql::testing::Backend as B;

backend_tests!(
    due_contracts_are_oldest_first_and_limited,
    a_payment_wakes_its_contract_without_a_new_version,
    a_wake_up_during_an_evaluation_is_not_lost,
    a_stale_contract_version_writes_nothing,
    due_contracts_read_through_the_index
);

async fn due_contracts_are_oldest_first_and_limited(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    let (_, c300) = device_with_contract(&store, &ctx, 1, 300).await;
    let (_, c100) = device_with_contract(&store, &other, 2, 100).await;
    let (_, c200a) = device_with_contract(&store, &ctx, 3, 200).await;
    let (_, c200b) = device_with_contract(&store, &ctx, 4, 200).await;
    let (_, _later) = device_with_contract(&store, &ctx, 5, 900).await;
    // A closed contract is never due, whatever time it holds.
    let (d6, c6) = device_with_contract(&store, &ctx, 6, 50).await;
    let mut w = write(&d6);
    let mut closed = c6.clone();
    closed.state = ContractState::PaidOff;
    closed.next_evaluation_at = None;
    w.contract = Some(closed);
    save(&store, w).await;

    let ids =
        |v: Vec<lienlock_store::ContractRecord>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    // Across lenders, by time then id, up to and including `now`.
    assert_eq!(
        ids(store.due_contracts(at(300), 10).await.unwrap()),
        vec![c100.id, c200a.id, c200b.id, c300.id]
    );
    assert_eq!(
        ids(store.due_contracts(at(299), 10).await.unwrap()),
        vec![c100.id, c200a.id, c200b.id]
    );
    assert_eq!(
        ids(store.due_contracts(at(1_000), 2).await.unwrap()),
        vec![c100.id, c200a.id]
    );
    assert!(store.due_contracts(at(99), 10).await.unwrap().is_empty());
    assert!(store.due_contracts(at(1_000), 0).await.unwrap().is_empty());
    // Full records come back.
    assert_eq!(store.due_contracts(at(100), 1).await.unwrap(), vec![c100]);
}

async fn a_payment_wakes_its_contract_without_a_new_version(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (d, c) = device_with_contract(&store, &ctx, 1, 10_000).await;
    assert!(store.due_contracts(at(600), 10).await.unwrap().is_empty());

    store
        .insert_payment(&ctx, &payment(&ctx, Some(&c), 100, 500), at(600))
        .await
        .unwrap();
    let woken = reread(&store, &c).await;
    assert_eq!(woken.next_evaluation_at, Some(at(600)));
    assert_eq!(woken.version, c.version);
    assert_eq!(woken.wake_seq, c.wake_seq + 1);
    assert_eq!(
        store.due_contracts(at(600), 10).await.unwrap(),
        vec![woken.clone()]
    );

    // A later wake-up never postpones an earlier evaluation, but still counts.
    store
        .insert_payment(&ctx, &payment(&ctx, Some(&c), 100, 700), at(700))
        .await
        .unwrap();
    let again = reread(&store, &c).await;
    assert_eq!(again.next_evaluation_at, Some(at(600)));
    assert_eq!(again.wake_seq, c.wake_seq + 2);

    // Disputes wake the device's active contract too: opening, and changing.
    let mut w = write(&d);
    let mut evaluated = again.clone();
    evaluated.next_evaluation_at = Some(at(10_000));
    w.contract = Some(evaluated);
    save(&store, w).await;
    let mut dsp = dispute(&d, Some(&c), 800);
    store
        .open_dispute(&ctx, &dsp, &event(&d, EventKind::CommandScheduled, 800))
        .await
        .unwrap();
    let opened = reread(&store, &c).await;
    assert_eq!(opened.next_evaluation_at, Some(at(800)));
    assert_eq!(opened.version, again.version + 1);
    let mut w = write(&store.device(&ctx, d.id).await.unwrap().unwrap());
    let mut evaluated = opened.clone();
    evaluated.next_evaluation_at = Some(at(10_000));
    w.contract = Some(evaluated);
    save(&store, w).await;
    dsp.temporary_unlock_until = Some(at(5_000));
    store
        .update_dispute(&ctx, &dsp, &event(&d, EventKind::Unlocked, 900))
        .await
        .unwrap();
    assert_eq!(reread(&store, &c).await.next_evaluation_at, Some(at(900)));

    // A payment to a closed contract wakes nothing.
    let d = store.device(&ctx, d.id).await.unwrap().unwrap();
    let current = reread(&store, &c).await;
    let mut w = write(&d);
    let mut closed = current.clone();
    closed.state = ContractState::PaidOff;
    closed.next_evaluation_at = None;
    w.contract = Some(closed);
    save(&store, w).await;
    store
        .insert_payment(&ctx, &payment(&ctx, Some(&c), 100, 950), at(950))
        .await
        .unwrap();
    let closed = reread(&store, &c).await;
    assert_eq!(closed.next_evaluation_at, None);
    assert_eq!(closed.wake_seq, current.wake_seq);
}

async fn a_wake_up_during_an_evaluation_is_not_lost(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (d, c) = device_with_contract(&store, &ctx, 1, 100).await;

    // The scheduler reads the due contract...
    let read = store.due_contracts(at(100), 10).await.unwrap().remove(0);
    // ...a payment arrives and wakes it at 150...
    store
        .insert_payment(&ctx, &payment(&ctx, Some(&c), 100, 140), at(150))
        .await
        .unwrap();
    // ...and the evaluation, which did not see the payment, decides "next week".
    let mut w = write(&d);
    let mut decided = read.clone();
    decided.next_evaluation_at = Some(at(100_000));
    decided.updated_at = at(160);
    w.contract = Some(decided.clone());
    w.device.policy_level = RestrictionLevel::Reminder;
    w.device.policy_level_since = at(160);
    let d = save(&store, w).await;
    assert_eq!(d.policy_level, RestrictionLevel::Reminder);
    assert_eq!(d.policy_level_since, at(160));

    // The decision landed, but the contract stays due at the wake-up time.
    let stored = reread(&store, &c).await;
    assert_eq!(stored.version, read.version + 1);
    assert_eq!(stored.updated_at, at(160));
    assert_eq!(
        stored.next_evaluation_at,
        Some(at(100)),
        "min(stored, decided)"
    );
    assert_eq!(
        store.due_contracts(at(150), 10).await.unwrap(),
        vec![stored.clone()]
    );

    // The next evaluation reads the current wake count and sees the payment: its choice
    // stands.
    let mut w = write(&d);
    let mut decided = stored.clone();
    decided.next_evaluation_at = Some(at(100_000));
    w.contract = Some(decided.clone());
    save(&store, w).await;
    assert_eq!(reread(&store, &c).await, bumped(decided));
    assert!(store
        .due_contracts(at(99_999), 10)
        .await
        .unwrap()
        .is_empty());

    // An evaluation that closes the contract clears the time even after a wake-up.
    let read = reread(&store, &c).await;
    store
        .insert_payment(&ctx, &payment(&ctx, Some(&c), 100, 200), at(200))
        .await
        .unwrap();
    let d = store.device(&ctx, d.id).await.unwrap().unwrap();
    let mut w = write(&d);
    let mut paid = read.clone();
    paid.state = ContractState::PaidOff;
    paid.next_evaluation_at = None;
    w.contract = Some(paid);
    save(&store, w).await;
    assert_eq!(reread(&store, &c).await.next_evaluation_at, None);
}

async fn a_stale_contract_version_writes_nothing(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (d, c) = device_with_contract(&store, &ctx, 1, 100).await;
    // Another writer saved the contract (through another device read; the device version
    // moved on too, so re-read it to isolate the contract's check).
    let mut w = write(&d);
    let mut first = c.clone();
    first.next_evaluation_at = Some(at(200));
    w.contract = Some(first);
    let d = save(&store, w).await;
    let current = reread(&store, &c).await;

    // A current device version with the old contract version: nothing of it lands.
    let mut w = write(&d);
    w.device.notice_seq = 1;
    w.device.policy_level = RestrictionLevel::FullLock;
    let mut late = c.clone();
    late.state = ContractState::Cancelled;
    late.next_evaluation_at = None;
    w.contract = Some(late);
    w.new_notices.push(notice(&d, Some(&c), 1));
    w.events.push(event(&d, EventKind::Locked, 300));
    w.new_commands
        .push(command(&d, lienlock_domain::CommandKind::Lock, 300));
    assert_err(store.save_device(&w).await, StoreError::Stale);
    assert_eq!(store.device(&ctx, d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(reread(&store, &c).await, current);
    assert!(store.contract_notices(c.id).await.unwrap().is_empty());
    assert!(store
        .device_commands(&ctx, d.id, None)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(timeline_ids(&store, &ctx, &d).await.len(), 2);

    // A contract of another device cannot ride along with this one.
    let (_, c2) = device_with_contract(&store, &ctx, 2, 100).await;
    let mut w = write(&d);
    w.contract = Some(c2.clone());
    assert!(matches!(
        store.save_device(&w).await,
        Err(StoreError::Backend(_))
    ));
    assert_eq!(reread(&store, &c2).await, c2);
}

async fn due_contracts_read_through_the_index(backend: Backend) {
    let Some((db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    for n in 0..20 {
        device_with_contract(&store, &ctx, n, i64::from(n) * 10).await;
    }
    let plan = match db.backend() {
        B::Sqlite => sqlite_plan(db.url(), "EXPLAIN QUERY PLAN ").await,
        B::Postgres => {
            // Tiny tables are cheaper to scan; forbid that to see whether the index fits.
            postgres_plan(db.url(), "SET enable_seqscan = off", "EXPLAIN ").await
        }
    };
    assert!(
        plan.contains("contracts_due"),
        "the due query should read the contracts_due index:\n{plan}"
    );
    // SQLite must not sort the result itself: the index gives the order.
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    assert!(!plan.to_lowercase().contains("seq scan"), "{plan}");
}

/// The store's due query (all columns, so no index covers it), with literal values.
fn due_sql() -> String {
    "SELECT * FROM contracts WHERE state = 'active' AND next_evaluation_at <= 1700000000100 \
     ORDER BY next_evaluation_at, id LIMIT 5"
        .into()
}

async fn sqlite_plan(url: &str, explain: &str) -> String {
    use sqlx::{Connection, Row};
    let path = url.strip_prefix("sqlite://").unwrap();
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let rows = sqlx::query(&format!("{explain}{}", due_sql()))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.get::<String, _>("detail"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn postgres_plan(url: &str, setup: &str, explain: &str) -> String {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(setup).execute(&mut conn).await.unwrap();
    sqlx::query("ANALYZE contracts")
        .execute(&mut conn)
        .await
        .unwrap();
    let rows = sqlx::query(&format!("{explain}{}", due_sql()))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.get::<String, _>(0))
        .collect::<Vec<_>>()
        .join("\n")
}
