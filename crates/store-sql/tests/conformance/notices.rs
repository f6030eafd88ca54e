//! Notices queued through `save_device`, their delivery, and disputes.

use crate::fixtures::*;
use lienlock_domain::{EventKind, RestrictionLevel};
use lienlock_store::{Actor, StoreError};
use lienlock_store_sql::backend_tests;

backend_tests!(
    notices_are_queued_listed_and_delivered,
    notice_numbers_are_checked,
    disputes_open_change_and_close_once,
    disputes_are_invisible_to_other_lenders,
    corrupt_notice_and_dispute_rows_are_reported
);

async fn notices_are_queued_listed_and_delivered(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    let (d, c) = device_with_contract(&store, &ctx, 1, 100).await;
    let (noise, _) = device_with_contract(&store, &ctx, 2, 100).await;

    let mut w = write(&d);
    w.device.notice_seq = 2;
    w.device.policy_level = RestrictionLevel::PersistentBanner;
    let first = notice(&d, Some(&c), 1);
    let second = notice(&d, None, 2);
    w.new_notices = vec![second.clone(), first.clone()];
    let d = save(&store, w).await;
    assert_eq!(d.notice_seq, 2);
    let mut w = write(&noise);
    w.device.notice_seq = 1;
    w.new_notices.push(notice(&noise, None, 1));
    save(&store, w).await;

    assert_eq!(
        store.device_undelivered_notices(d.id, 10).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(
        store.device_undelivered_notices(d.id, 1).await.unwrap(),
        vec![first.clone()]
    );
    assert_eq!(
        store.contract_notices(c.id).await.unwrap(),
        vec![first.clone()]
    );
    assert_eq!(
        store.device_notices(&ctx, d.id).await.unwrap(),
        Some(vec![first.clone(), second.clone()])
    );
    assert_eq!(store.device_notices(&other, d.id).await.unwrap(), None);

    // The device acknowledges up to 1, and in the same write a third notice is queued.
    let mut w = write(&d);
    w.device.notice_seq = 3;
    let third = notice(&d, Some(&c), 3);
    w.new_notices.push(third.clone());
    w.notices_delivered = Some((1, at(500)));
    let d = save(&store, w).await;
    let mut delivered = first.clone();
    delivered.delivered_at = Some(at(500));
    assert_eq!(
        store.device_undelivered_notices(d.id, 10).await.unwrap(),
        vec![second.clone(), third.clone()]
    );
    assert_eq!(
        store.contract_notices(c.id).await.unwrap(),
        vec![delivered.clone(), third.clone()]
    );
    // Acknowledging again later never moves an earlier delivery time; the other device's
    // notices are untouched.
    let mut w = write(&d);
    w.notices_delivered = Some((3, at(900)));
    save(&store, w).await;
    assert!(store
        .device_undelivered_notices(d.id, 10)
        .await
        .unwrap()
        .is_empty());
    let all = store.device_notices(&ctx, d.id).await.unwrap().unwrap();
    let times: Vec<_> = all.iter().map(|n| n.delivered_at).collect();
    assert_eq!(times, [Some(at(500)), Some(at(900)), Some(at(900))]);
    assert_eq!(
        store
            .device_undelivered_notices(noise.id, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn notice_numbers_are_checked(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (d, c) = device_with_contract(&store, &ctx, 1, 100).await;
    let (other_device, other_contract) = device_with_contract(&store, &ctx, 2, 100).await;
    let mut w = write(&d);
    w.device.notice_seq = 1;
    w.new_notices.push(notice(&d, Some(&c), 1));
    let d = save(&store, w).await;

    let refused = |mut w: lienlock_store::DeviceWrite, n: lienlock_store::NoticeRecord| {
        w.new_notices.push(n);
        w.events.push(event(&d, EventKind::Locked, 50));
        w
    };
    let mut bumped_seq = write(&d);
    bumped_seq.device.notice_seq = 2;
    // Numbers beyond the device's counter, zero, or another device's notice: refused.
    for w in [
        refused(write(&d), notice(&d, None, 2)),
        refused(bumped_seq.clone(), notice(&d, None, 0)),
        refused(bumped_seq.clone(), notice(&other_device, None, 2)),
    ] {
        assert!(
            matches!(store.save_device(&w).await, Err(StoreError::Backend(_))),
            "{:?}",
            w.new_notices
        );
    }
    // A number already used: a duplicate, and the write's other parts do not land.
    assert_err(
        store
            .save_device(&refused(bumped_seq.clone(), notice(&d, None, 1)))
            .await,
        StoreError::Duplicate("notice id or seq"),
    );
    // A contract of another device: refused by the database.
    assert!(store
        .save_device(&refused(
            bumped_seq.clone(),
            notice(&d, Some(&other_contract), 2)
        ))
        .await
        .is_err());
    assert_eq!(store.device(&ctx, d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(
        store
            .device_notices(&ctx, d.id)
            .await
            .unwrap()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(timeline_ids(&store, &ctx, &d).await.len(), 2);
}

async fn disputes_open_change_and_close_once(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (d, c) = device_with_contract(&store, &ctx, 1, 10_000).await;
    let first = dispute(&d, Some(&c), 100);
    let opened = event(&d, EventKind::CommandScheduled, 100);
    store.open_dispute(&ctx, &first, &opened).await.unwrap();
    assert_eq!(
        store.dispute(&ctx, first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        timeline_ids(&store, &ctx, &d).await.last(),
        Some(&opened.id)
    );
    // One without a contract, opened by support.
    let mut second = dispute(&d, None, 200);
    second.opened_by = Actor::from(ctx.principal);
    store
        .open_dispute(&ctx, &second, &event(&d, EventKind::CommandScheduled, 200))
        .await
        .unwrap();
    assert_eq!(
        store.device_disputes(&ctx, d.id).await.unwrap(),
        Some(vec![first.clone(), second.clone()])
    );
    assert_eq!(
        store.contract_disputes_unscoped(c.id).await.unwrap(),
        vec![first.clone()]
    );

    // Support grants a temporary unlock, then closes it.
    let mut changed = first.clone();
    changed.temporary_unlock_until = Some(at(5_000));
    changed.reason = "ignored: only the mutable fields are written".into();
    store
        .update_dispute(&ctx, &changed, &event(&d, EventKind::Unlocked, 300))
        .await
        .unwrap();
    let mut want = first.clone();
    want.temporary_unlock_until = Some(at(5_000));
    assert_eq!(
        store.dispute(&ctx, first.id).await.unwrap(),
        Some(want.clone())
    );
    let mut closed = want.clone();
    closed.closed_at = Some(at(400));
    closed.closed_by = Some(Actor::from(ctx.principal));
    closed.resolution = Some("payment found: QX81".into());
    store
        .update_dispute(&ctx, &closed, &event(&d, EventKind::CommandScheduled, 400))
        .await
        .unwrap();
    assert_eq!(
        store.dispute(&ctx, first.id).await.unwrap(),
        Some(closed.clone())
    );
    let events = timeline_ids(&store, &ctx, &d).await.len();

    // Closed is final: no reopening, no new unlock, and no event.
    let mut reopen = closed.clone();
    reopen.closed_at = None;
    reopen.closed_by = None;
    assert_err(
        store
            .update_dispute(&ctx, &reopen, &event(&d, EventKind::Unlocked, 500))
            .await,
        StoreError::Conflict("dispute closed"),
    );
    let mut extend = closed.clone();
    extend.temporary_unlock_until = Some(at(9_000));
    assert_err(
        store
            .update_dispute(&ctx, &extend, &event(&d, EventKind::Unlocked, 500))
            .await,
        StoreError::Conflict("dispute closed"),
    );
    assert_eq!(store.dispute(&ctx, first.id).await.unwrap(), Some(closed));
    assert_eq!(timeline_ids(&store, &ctx, &d).await.len(), events);

    // Opening needs an open record, a fresh id, and a contract of the same device.
    let mut already_closed = dispute(&d, None, 600);
    already_closed.closed_at = Some(at(600));
    assert!(matches!(
        store
            .open_dispute(
                &ctx,
                &already_closed,
                &event(&d, EventKind::CommandScheduled, 600)
            )
            .await,
        Err(StoreError::Backend(_))
    ));
    assert_err(
        store
            .open_dispute(&ctx, &second, &event(&d, EventKind::CommandScheduled, 600))
            .await,
        StoreError::Duplicate("dispute id"),
    );
    let (_, c2) = device_with_contract(&store, &ctx, 2, 10_000).await;
    assert_err(
        store
            .open_dispute(
                &ctx,
                &dispute(&d, Some(&c2), 600),
                &event(&d, EventKind::CommandScheduled, 600),
            )
            .await,
        StoreError::NotFound("contract"),
    );
    assert_eq!(timeline_ids(&store, &ctx, &d).await.len(), events);
    assert_eq!(
        store
            .device_disputes(&ctx, d.id)
            .await
            .unwrap()
            .unwrap()
            .len(),
        2
    );
}

async fn disputes_are_invisible_to_other_lenders(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    let (d, c) = device_with_contract(&store, &ctx, 1, 10_000).await;
    let mine = dispute(&d, Some(&c), 100);
    store
        .open_dispute(&ctx, &mine, &event(&d, EventKind::CommandScheduled, 100))
        .await
        .unwrap();

    assert_eq!(store.dispute(&other, mine.id).await.unwrap(), None);
    assert_eq!(store.device_disputes(&other, d.id).await.unwrap(), None);

    // Records relabelled to the other lender still cannot reach this lender's device.
    let mut theirs = dispute(&d, None, 200);
    theirs.lender_id = other.lender_id;
    let mut e = event(&d, EventKind::CommandScheduled, 200);
    e.lender_id = other.lender_id;
    assert_err(
        store.open_dispute(&other, &theirs, &e).await,
        StoreError::NotFound("device"),
    );
    let mut close = mine.clone();
    close.lender_id = other.lender_id;
    close.closed_at = Some(at(300));
    assert_err(
        store.update_dispute(&other, &close, &e).await,
        StoreError::NotFound("dispute"),
    );
    // And a record of another lender than the caller is refused outright.
    assert!(matches!(
        store
            .open_dispute(&other, &dispute(&d, None, 200), &event(&d, EventKind::Locked, 200))
            .await,
        Err(StoreError::Backend(m)) if m.contains("tenant")
    ));
    assert_eq!(
        store.device_disputes(&ctx, d.id).await.unwrap(),
        Some(vec![mine])
    );
    // An unknown dispute on one's own device.
    let ghost = dispute(&d, None, 300);
    assert_err(
        store
            .update_dispute(&ctx, &ghost, &event(&d, EventKind::Locked, 300))
            .await,
        StoreError::NotFound("dispute"),
    );
}

async fn corrupt_notice_and_dispute_rows_are_reported(backend: Backend) {
    let Some((db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (d, c) = device_with_contract(&store, &ctx, 1, 10_000).await;
    let mut w = write(&d);
    w.device.notice_seq = 1;
    w.new_notices.push(notice(&d, Some(&c), 1));
    save(&store, w).await;
    store
        .open_dispute(
            &ctx,
            &dispute(&d, Some(&c), 100),
            &event(&d, EventKind::CommandScheduled, 100),
        )
        .await
        .unwrap();
    let corrupt = |r: Result<_, StoreError>, table: &str| match r {
        Err(StoreError::Corrupt { table: t, .. }) => assert_eq!(t, table),
        other => panic!("expected Corrupt in {table}, got {other:?}"),
    };
    db.exec_raw("UPDATE notices SET seq = -1").await;
    corrupt(store.contract_notices(c.id).await.map(drop), "notices");
    db.exec_raw("UPDATE disputes SET opened_by = 'nobody'")
        .await;
    corrupt(
        store.device_disputes(&ctx, d.id).await.map(drop),
        "disputes",
    );
    db.exec_raw("UPDATE devices SET policy_level = 9").await;
    corrupt(store.device(&ctx, d.id).await.map(drop), "devices");
}
