//! The scheduler's batched calls: many device writes in one transaction, facts for many
//! contracts at once, wake-ups served before routine work, and a policy change pulling
//! every contract of the lender in.

use crate::fixtures::*;
use lienlock_domain::{ContractState, Currency, DeviceState, EventKind, Money, RestrictionLevel};
use lienlock_store::{Arrears, ContractRecord, Device, DeviceWrite, StoreError};
use lienlock_store_sql::backend_tests;

backend_tests!(
    a_batch_lands_fresh_writes_and_refuses_stale_ones_alone,
    a_write_that_fails_inside_the_batch_sinks_only_itself,
    two_writes_of_one_device_in_a_batch_land_once,
    plain_check_in_writes_land_alone_and_stale_ones_fail_alone,
    plain_writes_keep_each_row_on_its_page,
    facts_for_a_batch_match_the_per_contract_reads,
    wake_ups_are_served_before_routine_evaluations,
    a_policy_change_pulls_in_the_lenders_active_contracts,
    arrears_round_trip_through_both_saves,
    arrears_are_kept_from_enrollment_and_checked_on_read
);

/// A scheduler-style write of `d` and its contract: a level, a notice and two events.
fn evaluation(d: &Device, c: &ContractRecord, next_ms: i64) -> DeviceWrite {
    let mut w = write(d);
    w.device.policy_level = RestrictionLevel::PersistentBanner;
    w.device.policy_level_since = at(500);
    w.device.notice_seq += 1;
    w.new_notices.push(notice(d, Some(c), w.device.notice_seq));
    w.events.push(event(d, EventKind::NoticeQueued, 500));
    w.events.push(event(d, EventKind::RestrictionChanged, 500));
    let mut c = c.clone();
    c.next_evaluation_at = Some(at(next_ms));
    w.contract = Some(c);
    w
}

/// Asserts that `w` landed exactly: device, contract time, notices and events.
async fn assert_landed(store: &DynStore, ctx: &lienlock_domain::LenderCtx, w: &DeviceWrite) {
    let d = store.device_unscoped(w.device.id).await.unwrap().unwrap();
    let mut want = w.device.clone();
    want.version += 1;
    assert_eq!(d, want);
    let c = w.contract.as_ref().unwrap();
    assert_eq!(reread(store, c).await, bumped(c.clone()));
    let notices = store.device_notices(ctx, d.id).await.unwrap().unwrap();
    assert_eq!(notices, w.new_notices);
    let ids = timeline_ids(store, ctx, &d).await;
    for e in &w.events {
        assert!(ids.contains(&e.id), "event {} missing", e.id);
    }
}

async fn a_batch_lands_fresh_writes_and_refuses_stale_ones_alone(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (d1, c1) = device_with_contract(&store, &ctx, 1, 100).await;
    let (d2, c2) = device_with_contract(&store, &ctx, 2, 100).await;
    let (d3, c3) = device_with_contract(&store, &ctx, 3, 100).await;
    let (d4, c4) = device_with_contract(&store, &ctx, 4, 100).await;
    let batch = vec![
        evaluation(&d1, &c1, 9_000),
        evaluation(&d2, &c2, 9_000),
        evaluation(&d3, &c3, 9_000),
        evaluation(&d4, &c4, 9_000),
    ];
    // Between the scheduler's read and its write: a check-in changes device 2, and
    // another save changes device 3 and its contract.
    let mut checkin = write(&d2);
    checkin.device.last_counter = 7;
    let d2_now = save(&store, checkin).await;
    let mut other = write(&d3);
    other.contract = Some(c3.clone());
    let d3_now = save(&store, other).await;

    let results = store.save_devices(&batch).await.unwrap();
    assert_eq!(results.len(), 4);
    assert!(results[0].is_ok() && results[3].is_ok(), "{results:?}");
    assert!(matches!(results[1], Err(StoreError::Stale)), "{results:?}");
    assert!(matches!(results[2], Err(StoreError::Stale)), "{results:?}");
    assert_landed(&store, &ctx, &batch[0]).await;
    assert_landed(&store, &ctx, &batch[3]).await;
    // The stale ones left nothing behind: not their level, notices or events.
    for (d, c) in [(&d2_now, &c2), (&d3_now, &c3)] {
        assert_eq!(store.device_unscoped(d.id).await.unwrap().as_ref(), Some(d));
        assert!(store
            .device_notices(&ctx, d.id)
            .await
            .unwrap()
            .unwrap()
            .is_empty());
        assert_eq!(reread(&store, c).await.next_evaluation_at, Some(at(100)));
    }
    assert_eq!(timeline_ids(&store, &ctx, &d2_now).await.len(), 2);
    assert!(store.save_devices(&[]).await.unwrap().is_empty());
}

async fn a_write_that_fails_inside_the_batch_sinks_only_itself(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (d1, c1) = device_with_contract(&store, &ctx, 1, 100).await;
    let (d2, c2) = device_with_contract(&store, &ctx, 2, 100).await;
    let (d3, c3) = device_with_contract(&store, &ctx, 3, 100).await;
    // Write 2 reuses an event id already in the database: nothing checked before the
    // batch writes can see that, so the batch must fall back and still land 1 and 3.
    let taken = event(&d2, EventKind::Enrolled, 400);
    store
        .append_events(std::slice::from_ref(&taken))
        .await
        .unwrap();
    let d2 = store.device_unscoped(d2.id).await.unwrap().unwrap();
    let mut bad = evaluation(&d2, &c2, 9_000);
    bad.events.push(taken);
    // Write 3 is refused before anything is sent: a notice number it did not allot.
    let mut refused = evaluation(&d3, &c3, 9_000);
    refused.new_notices[0].seq = 5;
    let batch = vec![evaluation(&d1, &c1, 9_000), bad, refused];

    let results = store.save_devices(&batch).await.unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    assert!(
        matches!(results[1], Err(StoreError::Duplicate("event id"))),
        "{results:?}"
    );
    assert!(
        matches!(results[2], Err(StoreError::Backend(_))),
        "{results:?}"
    );
    assert_landed(&store, &ctx, &batch[0]).await;
    for (d, c) in [(&d2, &c2), (&d3, &c3)] {
        assert_eq!(store.device_unscoped(d.id).await.unwrap().as_ref(), Some(d));
        assert_eq!(reread(&store, c).await.version, c.version);
        assert!(store
            .device_notices(&ctx, d.id)
            .await
            .unwrap()
            .unwrap()
            .is_empty());
    }
}

async fn two_writes_of_one_device_in_a_batch_land_once(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (d, c) = device_with_contract(&store, &ctx, 1, 100).await;
    let first = evaluation(&d, &c, 9_000);
    let mut second = evaluation(&d, &c, 8_000);
    second.new_notices[0].id = lienlock_domain::NoticeId::new();
    let results = store.save_devices(&[first.clone(), second]).await.unwrap();
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(StoreError::Stale)), "{results:?}");
    assert_landed(&store, &ctx, &first).await;
}

/// Check-in writes (the device row and nothing else; on SQLite they take a writer of their
/// own) beside a write that carries more, in one batch: fresh ones land whole, indexed
/// columns included when they change; a stale one, a second write of one device and a
/// counter beyond storage fail alone; the write with an event lands with it.
async fn plain_check_in_writes_land_alone_and_stale_ones_fail_alone(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let ds: Vec<Device> = enroll_many(&store, &ctx, 6).await;
    let plain = |d: &Device, counter: u64| {
        let mut w = write(d);
        w.device.last_counter = counter;
        w.device.lease_seq += 1;
        w.device.last_seen_at = Some(at(700));
        w.device.updated_at = at(700);
        w
    };
    let fresh = plain(&ds[0], 5);
    // Indexed columns changing in a plain write: serial and policy level.
    let mut indexed = plain(&ds[1], 5);
    indexed.device.serial = Some("SN-1".into());
    indexed.device.policy_level = RestrictionLevel::PersistentBanner;
    let stale = plain(&ds[2], 5);
    save(&store, plain(&ds[2], 3)).await;
    let mut too_big = plain(&ds[3], 5);
    too_big.device.last_counter = u64::MAX;
    let once = plain(&ds[4], 5);
    let twice = plain(&ds[4], 6);
    let mut with_event = plain(&ds[5], 5);
    with_event
        .events
        .push(event(&ds[5], EventKind::KeyRegistered, 700));
    let batch = vec![
        fresh.clone(),
        indexed.clone(),
        stale,
        too_big,
        once.clone(),
        twice,
        with_event.clone(),
    ];

    let results = store.save_devices(&batch).await.unwrap();
    for i in [0, 1, 4, 6] {
        assert!(results[i].is_ok(), "{i}: {results:?}");
        let mut want = batch[i].device.clone();
        want.version += 1;
        let got = store.device_unscoped(want.id).await.unwrap().unwrap();
        assert_eq!(got, want, "{i}");
    }
    assert!(matches!(results[2], Err(StoreError::Stale)), "{results:?}");
    assert!(
        matches!(results[3], Err(StoreError::Backend(_))),
        "{results:?}"
    );
    assert!(matches!(results[5], Err(StoreError::Stale)), "{results:?}");
    assert_eq!(
        store
            .device_unscoped(ds[2].id)
            .await
            .unwrap()
            .unwrap()
            .last_counter,
        3
    );
    assert_eq!(
        store.device_unscoped(ds[3].id).await.unwrap().as_ref(),
        Some(&ds[3])
    );
    assert!(timeline_ids(&store, &ctx, &ds[5])
        .await
        .contains(&with_event.events[0].id));
    // The indexed columns were written where the indexes see them.
    let d = store
        .checkin_view(&indexed.device.imei)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.device.serial.as_deref(), Some("SN-1"));
    assert_eq!(d.device.policy_level, RestrictionLevel::PersistentBanner);
}

/// On PostgreSQL a check-in's write, which changes no indexed column, leaves the row's new
/// version on the row's own page (a heap-only tuple update), so none of the table's
/// indexes gets a new entry: the table keeps room on each page for it (migration 0011).
/// With pages packed full, the first write of a row moved it to another page. A few rows
/// a page are written, once each, so that the room alone decides: whether the old
/// versions can be pruned yet depends on transactions elsewhere on the server. SQLite
/// updates rows in place; the test is PostgreSQL's.
async fn plain_writes_keep_each_row_on_its_page(backend: Backend) {
    let Some((db, store)) = setup(backend).await else {
        return;
    };
    if db.backend() != Backend::Postgres {
        return;
    }
    let ctx = lender(&store, "A").await;
    let ds: Vec<Device> = enroll_many(&store, &ctx, 60).await;
    let pages = || async {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(db.url())
            .await
            .unwrap();
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT id, (ctid::text::point)[0]::bigint FROM devices ORDER BY id")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        rows
    };
    let before = pages().await;
    let first_pages: std::collections::HashSet<i64> = before.iter().map(|(_, p)| *p).collect();
    assert!(first_pages.len() >= 2, "the rows fill more than one page");
    // Every eighth phone checks in, each in a transaction of its own.
    for d in ds.iter().step_by(8) {
        let mut w = write(d);
        w.device.last_counter = 1;
        w.device.lease_seq += 1;
        w.device.last_seen_at = Some(at(700));
        w.device.updated_at = at(700);
        save(&store, w).await;
    }
    assert_eq!(pages().await, before, "a check-in moved a row off its page");
}

/// `n` devices of `ctx`, enrolled one after another.
async fn enroll_many(store: &DynStore, ctx: &lienlock_domain::LenderCtx, n: u32) -> Vec<Device> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(enroll(store, ctx, imei(10 + i), None).await);
    }
    out
}

async fn facts_for_a_batch_match_the_per_contract_reads(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (d1, c1) = device_with_contract(&store, &ctx, 1, 100).await;
    let (d2, c2) = device_with_contract(&store, &ctx, 2, 100).await;
    let (_d3, c3) = device_with_contract(&store, &ctx, 3, 100).await;
    for (c, amount, ms) in [(&c1, 100, 300), (&c2, 200, 200), (&c1, 300, 100)] {
        store
            .insert_payment(&ctx, &payment(&ctx, Some(c), amount, ms), at(ms))
            .await
            .unwrap();
    }
    save(&store, evaluation(&d1, &reread(&store, &c1).await, 9_000)).await;
    store
        .open_dispute(
            &ctx,
            &dispute(&d2, Some(&c2), 700),
            &event(&d2, EventKind::CommandScheduled, 700),
        )
        .await
        .unwrap();

    let contracts = vec![
        reread(&store, &c3).await,
        reread(&store, &c1).await,
        reread(&store, &c2).await,
    ];
    let facts = store
        .contract_facts_unscoped(contracts.clone())
        .await
        .unwrap();
    assert_eq!(facts.len(), 3);
    for (f, c) in facts.iter().zip(&contracts) {
        assert_eq!(&f.contract, c, "in the order given");
        assert_eq!(
            Some(&f.device),
            store.device_unscoped(c.device_id).await.unwrap().as_ref()
        );
        assert_eq!(
            f.payments,
            store.contract_payments_unscoped(c.id).await.unwrap()
        );
        assert_eq!(f.notices, store.contract_notices(c.id).await.unwrap());
        assert_eq!(
            f.disputes,
            store.contract_disputes_unscoped(c.id).await.unwrap()
        );
    }
    assert_eq!(facts[1].payments.len(), 2);
    assert_eq!(facts[1].notices.len(), 1);
    assert_eq!(facts[2].disputes.len(), 1);
    assert!(facts[0].payments.is_empty() && facts[0].notices.is_empty());
    assert!(store
        .contract_facts_unscoped(Vec::new())
        .await
        .unwrap()
        .is_empty());
}

async fn wake_ups_are_served_before_routine_evaluations(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    // A backlog of routine evaluations due since 100, and a contract that sleeps until
    // 10 000 but is woken by a payment at 600.
    let mut backlog = Vec::new();
    for n in 1..=3 {
        backlog.push(
            device_with_contract(&store, &ctx, n, 100 + i64::from(n))
                .await
                .1,
        );
    }
    let (d, c) = device_with_contract(&store, &ctx, 9, 10_000).await;
    store
        .insert_payment(&ctx, &payment(&ctx, Some(&c), 100, 600), at(600))
        .await
        .unwrap();
    let woken = reread(&store, &c).await;
    let ids = |v: Vec<ContractRecord>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.due_contracts(at(700), 1).await.unwrap()),
        vec![c.id]
    );
    assert_eq!(
        ids(store.due_contracts(at(700), 10).await.unwrap()),
        vec![c.id, backlog[0].id, backlog[1].id, backlog[2].id],
        "woken first, then by time, each once"
    );
    // Not before its wake-up time.
    assert_eq!(
        ids(store.due_contracts(at(599), 10).await.unwrap()),
        ids(backlog.clone())
    );

    // An evaluation that saw the wake-up takes it off the list; the contract is then just
    // another routine one.
    let mut w = write(&d);
    let mut evaluated = woken.clone();
    evaluated.next_evaluation_at = Some(at(650));
    w.contract = Some(evaluated);
    save(&store, w).await;
    assert_eq!(
        ids(store.due_contracts(at(700), 10).await.unwrap()),
        vec![backlog[0].id, backlog[1].id, backlog[2].id, c.id]
    );

    // One that did not see it (an older wake count) leaves it on the list.
    let d = store.device_unscoped(d.id).await.unwrap().unwrap();
    let before = reread(&store, &c).await;
    store
        .insert_payment(&ctx, &payment(&ctx, Some(&c), 100, 800), at(800))
        .await
        .unwrap();
    let mut w = write(&d);
    let mut blind = before.clone();
    blind.next_evaluation_at = Some(at(9_000));
    w.contract = Some(blind);
    save(&store, w).await;
    assert_eq!(
        ids(store.due_contracts(at(800), 1).await.unwrap()),
        vec![c.id],
        "the unseen wake-up still comes first"
    );

    // Closing a contract takes it off for good.
    let d = store.device_unscoped(d.id).await.unwrap().unwrap();
    let mut w = write(&d);
    let mut closed = reread(&store, &c).await;
    closed.state = ContractState::PaidOff;
    closed.next_evaluation_at = None;
    w.contract = Some(closed);
    w.device.state = DeviceState::Released;
    save(&store, w).await;
    assert!(!ids(store.due_contracts(at(800), 10).await.unwrap()).contains(&c.id));
}

async fn a_policy_change_pulls_in_the_lenders_active_contracts(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    let (_, far) = device_with_contract(&store, &ctx, 1, 50_000).await;
    let (_, near) = device_with_contract(&store, &ctx, 2, 300).await;
    let (_, theirs) = device_with_contract(&store, &other, 3, 50_000).await;
    let (d4, closed) = device_with_contract(&store, &ctx, 4, 50_000).await;
    let mut w = write(&d4);
    let mut c = closed.clone();
    c.state = ContractState::Cancelled;
    c.next_evaluation_at = None;
    w.contract = Some(c);
    save(&store, w).await;

    store
        .set_lender_policy(&ctx, "default", None, at(1_000))
        .await
        .unwrap();
    let pulled = reread(&store, &far).await;
    assert_eq!(pulled.next_evaluation_at, Some(at(1_000)));
    assert_eq!(pulled.version, far.version, "a hint, not a decision");
    assert_eq!(
        pulled.wake_seq,
        far.wake_seq + 1,
        "an evaluation racing the change cannot postpone it"
    );
    assert_eq!(
        reread(&store, &near).await.next_evaluation_at,
        Some(at(300))
    );
    assert_eq!(
        reread(&store, &theirs).await.next_evaluation_at,
        Some(at(50_000))
    );
    assert_eq!(reread(&store, &closed).await.next_evaluation_at, None);
    // Routine work, not a wake-up: it does not jump the queue.
    let due: Vec<_> = store
        .due_contracts(at(1_000), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(due, vec![near.id, far.id]);
}

fn arrears(currency: &str, minor: i64, since_ms: i64) -> Option<Arrears> {
    Some(Arrears {
        amount: Money::new(Currency::parse(currency).unwrap(), minor),
        since: at(since_ms),
    })
}

/// `d` as the store has it now.
async fn stored(store: &DynStore, d: &Device) -> Device {
    store.device_unscoped(d.id).await.unwrap().unwrap()
}

async fn arrears_round_trip_through_both_saves(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (d1, c1) = device_with_contract(&store, &ctx, 1, 100).await;
    let (d2, c2) = device_with_contract(&store, &ctx, 2, 100).await;
    assert_eq!(d1.arrears, None);

    // One at a time: set, change with the state, change alone, clear (`save` checks each
    // against what the store reads back).
    let mut w = write(&d1);
    w.device.arrears = arrears("KES", 150_000, 1_000);
    let d1 = save(&store, w).await;
    let mut w = write(&d1);
    w.device.arrears = arrears("KES", 300_000, 1_000);
    w.device.state = DeviceState::Locked;
    let d1 = save(&store, w).await;
    let mut w = write(&d1);
    w.device.arrears = arrears("KES", 300_000, 2_000);
    let d1 = save(&store, w).await;
    // A save that leaves the arrears alone keeps them.
    let mut w = write(&d1);
    w.device.last_counter = 9;
    let d1 = save(&store, w).await;
    assert_eq!(
        stored(&store, &d1).await.arrears,
        arrears("KES", 300_000, 2_000)
    );
    let mut w = write(&d1);
    w.device.arrears = None;
    let d1 = save(&store, w).await;

    // In a batch, next to a write whose read went stale: the fresh one lands its arrears,
    // the stale one leaves the stored (empty) arrears as they were.
    let mut fresh = evaluation(&d1, &c1, 9_000);
    fresh.device.arrears = arrears("UGX", 55_000, 3_000);
    let mut stale = evaluation(&d2, &c2, 9_000);
    stale.device.arrears = arrears("KES", 1, 3_000);
    let mut checkin = write(&d2);
    checkin.device.last_counter = 7;
    let d2 = save(&store, checkin).await;
    let results = store.save_devices(&[fresh.clone(), stale]).await.unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    assert!(matches!(results[1], Err(StoreError::Stale)), "{results:?}");
    assert_landed(&store, &ctx, &fresh).await;
    assert_eq!(stored(&store, &d2).await, d2);

    // And back to none in a batch, with another device gaining some in the same statement.
    let d1 = stored(&store, &d1).await;
    let c1 = reread(&store, &c1).await;
    let c2 = reread(&store, &c2).await;
    let mut clear = write(&d1);
    clear.device.arrears = None;
    clear.contract = Some(c1);
    let mut gain = write(&d2);
    gain.device.arrears = arrears("KES", 42, 4_000);
    gain.contract = Some(c2);
    let results = store
        .save_devices(&[clear.clone(), gain.clone()])
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    for w in [clear, gain] {
        let mut want = w.device.clone();
        want.version += 1;
        assert_eq!(stored(&store, &want).await, want);
    }
    assert_eq!(stored(&store, &d1).await.arrears, None);
}

async fn arrears_are_kept_from_enrollment_and_checked_on_read(backend: Backend) {
    let Some((db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let mut d = device(&ctx, imei(1), None);
    d.arrears = arrears("KWD", 1_234, 5_000);
    store
        .enroll_device(&ctx, &d, &event(&d, EventKind::Enrolled, 1))
        .await
        .unwrap();
    assert_eq!(stored(&store, &d).await, d);
    // Half-set or impossible columns are corrupt, never read as some or no arrears.
    for bad in [
        "UPDATE devices SET arrears_currency = NULL",
        "UPDATE devices SET arrears_amount = 0, arrears_currency = 'KES'",
        "UPDATE devices SET arrears_amount = 5, arrears_currency = 'ZZZ'",
        "UPDATE devices SET arrears_amount = 5, arrears_currency = NULL, arrears_since = NULL",
    ] {
        db.exec_raw(bad).await;
        assert!(
            matches!(
                store.device(&ctx, d.id).await,
                Err(StoreError::Corrupt {
                    table: "devices",
                    ..
                })
            ),
            "{bad}"
        );
    }
}
