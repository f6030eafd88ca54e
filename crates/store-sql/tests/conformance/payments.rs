//! The payments ledger: idempotency, statement dedupe, unmatched payments and their
//! assignment, order, reversals, tenant isolation and corrupt rows.

use crate::fixtures::*;
use lienlock_domain::{Currency, EntryKind};
use lienlock_store::{PaymentInsert, StoreError};
use lienlock_store_sql::backend_tests;

backend_tests!(
    idempotency_key_returns_the_existing_entry,
    statement_lines_are_recorded_once_per_channel,
    racing_inserts_of_one_key_record_one,
    unmatched_payments_are_listed_and_assigned,
    assignment_is_refused_when_it_does_not_fit,
    payments_must_fit_their_contract,
    contract_payments_are_ordered_and_scoped,
    reversals_round_trip,
    payers_are_matched_by_imei_within_the_tenant,
    corrupt_payment_rows_are_reported,
    a_payment_and_its_timeline_entry_land_together
);

async fn idempotency_key_returns_the_existing_entry(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    let (_, c) = device_with_contract(&store, &ctx, 1, 5_000).await;

    let mut p = payment(&ctx, Some(&c), 10_000, 50);
    p.idempotency_key = Some("req-1".into());
    p.external_ref = Some("MP123".into());
    p.channel = "mpesa".into();
    assert_eq!(
        store.insert_payment(&ctx, &p, at(60)).await.unwrap(),
        PaymentInsert::Inserted
    );

    assert_eq!(store.payment(&ctx, p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(store.payment(&other, p.id).await.unwrap(), None);

    // The same key with another body: the first entry comes back, nothing new is written,
    // and the contract is not woken again.
    let before = reread(&store, &c).await;
    let mut again = payment(&ctx, Some(&c), 99_900, 70);
    again.idempotency_key = Some("req-1".into());
    assert_eq!(
        store.insert_payment(&ctx, &again, at(70)).await.unwrap(),
        PaymentInsert::Existing(p.clone())
    );
    assert_eq!(
        store.contract_payments(&ctx, c.id).await.unwrap(),
        vec![p.clone()]
    );
    assert_eq!(reread(&store, &c).await, before);

    // The key is checked before the contract: a retry naming a contract of another
    // currency still gets the existing entry.
    let mut retry = p.clone();
    retry.id = lienlock_domain::PaymentId::new();
    retry.currency = Currency::parse("UGX").unwrap();
    assert_eq!(
        store.insert_payment(&ctx, &retry, at(70)).await.unwrap(),
        PaymentInsert::Existing(p.clone())
    );

    // Keys are per lender.
    let (_, theirs) = device_with_contract(&store, &other, 2, 5_000).await;
    let mut their = payment(&other, Some(&theirs), 10_000, 50);
    their.idempotency_key = Some("req-1".into());
    assert_eq!(
        store.insert_payment(&other, &their, at(60)).await.unwrap(),
        PaymentInsert::Inserted
    );

    // Reusing an id (with no key or reference to match) is a duplicate.
    let mut same_id = payment(&ctx, Some(&c), 1, 80);
    same_id.id = p.id;
    assert_err(
        store.insert_payment(&ctx, &same_id, at(80)).await,
        StoreError::Duplicate("payment id"),
    );
}

async fn statement_lines_are_recorded_once_per_channel(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (_, c) = device_with_contract(&store, &ctx, 1, 5_000).await;
    let line = |n: u32| {
        let mut p = payment(&ctx, Some(&c), 1_000 * i64::from(n), 50);
        p.channel = "csv:march.csv".into();
        p.external_ref = Some(format!("TX{n}"));
        p
    };
    let lines: Vec<_> = (1..=3).map(line).collect();
    for p in &lines {
        assert_eq!(
            store.insert_payment(&ctx, p, at(60)).await.unwrap(),
            PaymentInsert::Inserted
        );
    }
    // The same file again: every line is already there.
    for (n, p) in (1..=3).zip(&lines) {
        assert_eq!(
            store.insert_payment(&ctx, &line(n), at(60)).await.unwrap(),
            PaymentInsert::Existing(p.clone())
        );
    }
    assert_eq!(store.contract_payments(&ctx, c.id).await.unwrap().len(), 3);
    // The same reference on another channel is another payment.
    let mut api = line(1);
    api.channel = "api".into();
    assert_eq!(
        store.insert_payment(&ctx, &api, at(60)).await.unwrap(),
        PaymentInsert::Inserted
    );
    assert_eq!(store.contract_payments(&ctx, c.id).await.unwrap().len(), 4);
}

async fn racing_inserts_of_one_key_record_one(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (_, c) = device_with_contract(&store, &ctx, 1, 5_000).await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let mut p = payment(&ctx, Some(&c), 100 + i, 50);
            p.idempotency_key = Some("same".into());
            tokio::spawn(async move { store.insert_payment(&ctx, &p, at(60)).await })
        })
        .collect();
    let mut inserted = 0;
    let mut existing = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(PaymentInsert::Inserted) => inserted += 1,
            Ok(PaymentInsert::Existing(p)) => existing.push(p),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(inserted, 1);
    let stored = store.contract_payments(&ctx, c.id).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(existing.iter().all(|p| *p == stored[0]));
    assert_eq!(reread(&store, &c).await.wake_seq, 1, "woken once");
}

async fn unmatched_payments_are_listed_and_assigned(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    let (_, c) = device_with_contract(&store, &ctx, 1, 5_000).await;
    let mut loose = Vec::new();
    for n in 0..3 {
        let mut p = payment(&ctx, None, 1_000 + n, 50 - n);
        p.payer_hint = Some(format!("35693803{n:06}"));
        store.insert_payment(&ctx, &p, at(60)).await.unwrap();
        loose.push(p);
    }
    let mut theirs = payment(&other, None, 500, 50);
    theirs.payer_hint = Some("LN-1".into());
    store.insert_payment(&other, &theirs, at(60)).await.unwrap();
    let matched = payment(&ctx, Some(&c), 100, 40);
    store.insert_payment(&ctx, &matched, at(60)).await.unwrap();

    // Arrival (id) order, this lender only, paged.
    assert_eq!(
        store.unmatched_payments(&ctx, None, 10).await.unwrap(),
        loose
    );
    let page = store.unmatched_payments(&ctx, None, 2).await.unwrap();
    assert_eq!(page, loose[..2]);
    assert_eq!(
        store
            .unmatched_payments(&ctx, Some(page[1].id), 2)
            .await
            .unwrap(),
        loose[2..]
    );
    assert_eq!(
        store.unmatched_payments(&other, None, 10).await.unwrap(),
        vec![theirs]
    );

    let assigned = store
        .assign_payment(&ctx, loose[1].id, c.id, at(3_000))
        .await
        .unwrap();
    let mut want = loose[1].clone();
    want.contract_id = Some(c.id);
    want.assigned_at = Some(at(3_000));
    assert_eq!(assigned, want);
    assert_eq!(
        store.unmatched_payments(&ctx, None, 10).await.unwrap(),
        vec![loose[0].clone(), loose[2].clone()]
    );
    // Ordered by received_at: the assigned one arrived at 49, the matched one at 40.
    assert_eq!(
        store.contract_payments(&ctx, c.id).await.unwrap(),
        vec![matched, want.clone()]
    );
    // Assigning wakes the contract at the assignment time.
    let woken = reread(&store, &c).await;
    assert_eq!(woken.next_evaluation_at, Some(at(60)));
    let p = store
        .assign_payment(&ctx, loose[0].id, c.id, at(10))
        .await
        .unwrap();
    assert_eq!(p.contract_id, Some(c.id));
    let woken = reread(&store, &c).await;
    assert_eq!(woken.next_evaluation_at, Some(at(10)));
    assert_eq!(woken.version, c.version, "a wake-up is not a decision");
}

async fn assignment_is_refused_when_it_does_not_fit(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    let (_, c) = device_with_contract(&store, &ctx, 1, 5_000).await;
    let (_, theirs) = device_with_contract(&store, &other, 2, 5_000).await;
    let loose = payment(&ctx, None, 1_000, 50);
    store.insert_payment(&ctx, &loose, at(60)).await.unwrap();
    let mut ugx = payment(&ctx, None, 1_000, 50);
    ugx.currency = Currency::parse("UGX").unwrap();
    store.insert_payment(&ctx, &ugx, at(60)).await.unwrap();
    let their_loose = payment(&other, None, 1_000, 50);
    store
        .insert_payment(&other, &their_loose, at(60))
        .await
        .unwrap();
    let untouched = reread(&store, &c).await;

    assert_err(
        store.assign_payment(&ctx, ugx.id, c.id, at(70)).await,
        StoreError::Conflict("currency differs"),
    );
    assert_err(
        store
            .assign_payment(&ctx, their_loose.id, c.id, at(70))
            .await,
        StoreError::NotFound("payment"),
    );
    assert_err(
        store
            .assign_payment(&ctx, loose.id, theirs.id, at(70))
            .await,
        StoreError::NotFound("contract"),
    );
    assert_err(
        store
            .assign_payment(&ctx, loose.id, lienlock_domain::ContractId::new(), at(70))
            .await,
        StoreError::NotFound("contract"),
    );
    // None of that changed anything.
    assert_eq!(
        store.unmatched_payments(&ctx, None, 10).await.unwrap(),
        vec![loose.clone(), ugx.clone()]
    );
    assert_eq!(reread(&store, &c).await, untouched);
    assert!(store
        .contract_payments(&ctx, theirs.id)
        .await
        .unwrap()
        .is_empty());

    store
        .assign_payment(&ctx, loose.id, c.id, at(70))
        .await
        .unwrap();
    // Once assigned, never again, not even to the same contract.
    assert_err(
        store.assign_payment(&ctx, loose.id, c.id, at(80)).await,
        StoreError::Conflict("already assigned"),
    );
    let (_, c2) = device_with_contract(&store, &ctx, 3, 5_000).await;
    assert_err(
        store.assign_payment(&ctx, loose.id, c2.id, at(80)).await,
        StoreError::Conflict("already assigned"),
    );
    assert_eq!(
        store.contract_payments(&ctx, c.id).await.unwrap()[0].assigned_at,
        Some(at(70))
    );
}

async fn payments_must_fit_their_contract(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    let (_, c) = device_with_contract(&store, &ctx, 1, 5_000).await;
    let (_, theirs) = device_with_contract(&store, &other, 2, 5_000).await;

    let mut ugx = payment(&ctx, Some(&c), 1_000, 50);
    ugx.currency = Currency::parse("UGX").unwrap();
    assert_err(
        store.insert_payment(&ctx, &ugx, at(60)).await,
        StoreError::Conflict("currency differs"),
    );
    assert_err(
        store
            .insert_payment(&ctx, &payment(&ctx, Some(&theirs), 1_000, 50), at(60))
            .await,
        StoreError::NotFound("contract"),
    );
    let mut zero = payment(&ctx, Some(&c), 0, 50);
    assert!(matches!(
        store.insert_payment(&ctx, &zero, at(60)).await,
        Err(StoreError::Backend(_))
    ));
    zero.amount = -5;
    assert!(matches!(
        store.insert_payment(&ctx, &zero, at(60)).await,
        Err(StoreError::Backend(_))
    ));
    // A record of another lender than the caller.
    assert!(matches!(
        store
            .insert_payment(&other, &payment(&ctx, None, 10, 50), at(60))
            .await,
        Err(StoreError::Backend(m)) if m.contains("tenant")
    ));
    assert!(store
        .contract_payments(&ctx, c.id)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .unmatched_payments(&ctx, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(reread(&store, &c).await.wake_seq, 0);
}

async fn contract_payments_are_ordered_and_scoped(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    let (_, c) = device_with_contract(&store, &ctx, 1, 5_000).await;
    let (_, c2) = device_with_contract(&store, &ctx, 2, 5_000).await;
    // Inserted out of order; two share a received_at and then go by id.
    let late = payment(&ctx, Some(&c), 3, 300);
    let tie_a = payment(&ctx, Some(&c), 1, 100);
    let tie_b = payment(&ctx, Some(&c), 2, 100);
    let early = payment(&ctx, Some(&c), 4, 50);
    let elsewhere = payment(&ctx, Some(&c2), 5, 10);
    for p in [&tie_b, &late, &elsewhere, &tie_a, &early] {
        store.insert_payment(&ctx, p, at(60)).await.unwrap();
    }
    let want = vec![early, tie_a, tie_b, late];
    assert_eq!(store.contract_payments(&ctx, c.id).await.unwrap(), want);
    assert_eq!(store.contract_payments_unscoped(c.id).await.unwrap(), want);
    assert!(store
        .contract_payments(&other, c.id)
        .await
        .unwrap()
        .is_empty());
    let ledger: Vec<_> = want.iter().map(|p| p.ledger_entry()).collect();
    assert!(lienlock_domain::Ledger::from_entries(ledger).is_ok());
}

async fn reversals_round_trip(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    let (_, c) = device_with_contract(&store, &ctx, 1, 5_000).await;
    let paid = payment(&ctx, Some(&c), 10_000, 50);
    store.insert_payment(&ctx, &paid, at(60)).await.unwrap();
    let mut back = payment(&ctx, Some(&c), 4_000, 70);
    back.kind = EntryKind::Reversal { of: paid.id };
    back.channel = "chargeback".into();
    store.insert_payment(&ctx, &back, at(80)).await.unwrap();
    assert_eq!(
        store.contract_payments(&ctx, c.id).await.unwrap(),
        vec![paid.clone(), back]
    );

    // A reversal of another lender's payment, or of none at all, cannot be stored.
    let (_, theirs) = device_with_contract(&store, &other, 2, 5_000).await;
    let mut foreign = payment(&other, Some(&theirs), 100, 70);
    foreign.kind = EntryKind::Reversal { of: paid.id };
    assert_err(
        store.insert_payment(&other, &foreign, at(80)).await,
        StoreError::NotFound("payment"),
    );
    let mut dangling = payment(&ctx, None, 100, 70);
    dangling.kind = EntryKind::Reversal {
        of: lienlock_domain::PaymentId::new(),
    };
    assert_err(
        store.insert_payment(&ctx, &dangling, at(80)).await,
        StoreError::NotFound("payment"),
    );
    assert!(store
        .contract_payments(&other, theirs.id)
        .await
        .unwrap()
        .is_empty());
}

async fn payers_are_matched_by_imei_within_the_tenant(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    let d = enroll(&store, &ctx, imei(1), Some(imei(2))).await;
    assert_eq!(
        store.device_by_imei(&ctx, &imei(1)).await.unwrap(),
        Some(d.clone())
    );
    assert_eq!(
        store.device_by_imei(&ctx, &imei(2)).await.unwrap(),
        Some(d.clone())
    );
    assert_eq!(store.device_by_imei(&other, &imei(1)).await.unwrap(), None);
    assert_eq!(store.device_by_imei(&ctx, &imei(3)).await.unwrap(), None);

    // Released and re-enrolled: the live enrollment wins.
    let mut w = write(&d);
    w.device.state = lienlock_domain::DeviceState::Released;
    save(&store, w).await;
    let again = enroll(&store, &ctx, imei(1), None).await;
    assert_eq!(
        store.device_by_imei(&ctx, &imei(1)).await.unwrap(),
        Some(again)
    );
}

async fn corrupt_payment_rows_are_reported(backend: Backend) {
    let Some((db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (_, c) = device_with_contract(&store, &ctx, 1, 5_000).await;
    store
        .insert_payment(&ctx, &payment(&ctx, Some(&c), 100, 50), at(60))
        .await
        .unwrap();
    let corrupt = |r: Result<_, StoreError>| match r {
        Err(StoreError::Corrupt { table, .. }) => assert_eq!(table, "payments"),
        other => panic!("expected Corrupt in payments, got {other:?}"),
    };
    db.exec_raw("UPDATE payments SET kind = 'reversal'").await;
    corrupt(store.contract_payments(&ctx, c.id).await.map(drop));
    db.exec_raw("UPDATE payments SET kind = 'gift'").await;
    corrupt(store.contract_payments_unscoped(c.id).await.map(drop));
    db.exec_raw("UPDATE payments SET kind = 'payment', amount = 0")
        .await;
    corrupt(store.contract_payments(&ctx, c.id).await.map(drop));
    db.exec_raw("UPDATE payments SET amount = 1, currency = 'XYZ'")
        .await;
    corrupt(store.contract_payments(&ctx, c.id).await.map(drop));
}

async fn a_payment_and_its_timeline_entry_land_together(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    let (device, c) = device_with_contract(&store, &ctx, 1, 5_000).await;
    let event = |ctx: &lienlock_domain::LenderCtx| {
        let mut e = lienlock_store::TimelineEvent::new(
            &device,
            at(60),
            lienlock_domain::EventKind::PaymentRecorded,
            lienlock_store::Actor::from(ctx.principal),
        );
        e.lender_id = ctx.lender_id;
        e.detail = Some("payment".into());
        e
    };
    let mut p = payment(&ctx, Some(&c), 10_000, 50);
    p.idempotency_key = Some("req-1".into());
    assert_eq!(
        store
            .insert_payment_with_event(&ctx, &p, at(60), &event(&ctx))
            .await
            .unwrap(),
        PaymentInsert::Inserted
    );
    let recorded = |store: DynStore, ctx: lienlock_domain::LenderCtx| async move {
        store
            .timeline(&ctx, device.id, None, 100)
            .await
            .unwrap()
            .unwrap()
            .iter()
            .filter(|e| e.kind == lienlock_domain::EventKind::PaymentRecorded)
            .count()
    };
    assert_eq!(recorded(store.clone(), ctx).await, 1);
    // A retry writes nothing, its entry neither.
    assert_eq!(
        store
            .insert_payment_with_event(&ctx, &p, at(70), &event(&ctx))
            .await
            .unwrap(),
        PaymentInsert::Existing(p.clone())
    );
    assert_eq!(recorded(store.clone(), ctx).await, 1);
    // An entry of another lender is refused, and the payment with it.
    let q = payment(&ctx, Some(&c), 1_000, 80);
    assert!(matches!(
        store
            .insert_payment_with_event(&ctx, &q, at(80), &event(&other))
            .await,
        Err(StoreError::Backend(_))
    ));
    assert_eq!(store.payment(&ctx, q.id).await.unwrap(), None);
}
