//! Contracts: creation, the ways to find one, one active contract per device, unique
//! references, tenant isolation and corrupt rows.

use crate::fixtures::*;
use lienlock_domain::{ContractState, EventKind};
use lienlock_store::StoreError;
use lienlock_store_sql::backend_tests;

backend_tests!(
    contract_round_trips_and_is_found_every_way,
    one_active_contract_per_device,
    references_are_unique_per_lender,
    contracts_are_invisible_to_other_lenders,
    contracts_list_by_cursor,
    closed_contracts_have_no_evaluation_time,
    corrupt_contract_rows_are_reported
);

async fn contract_round_trips_and_is_found_every_way(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    let c = contract(&d, Some("LN-001"), 500);
    let e = event(&d, EventKind::CommandScheduled, 10);
    store.create_contract(&ctx, &c, &e).await.unwrap();

    // The terms come back equal, schedule and all: JSON in, validated terms out.
    let stored = store.contract(&ctx, c.id).await.unwrap().unwrap();
    assert_eq!(stored, c);
    assert_eq!(stored.terms.installments(), c.terms.installments());
    assert_eq!(stored.terms.amount_owed(), 1_210_000);
    assert_eq!(
        store.contract_unscoped(c.id).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        store.contract_by_reference(&ctx, "LN-001").await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        store.contract_by_reference(&ctx, "LN-002").await.unwrap(),
        None
    );
    assert_eq!(
        store.contract_for_device(&ctx, d.id).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        store.active_contract_unscoped(d.id).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        store.list_contracts(&ctx, None, 10).await.unwrap(),
        vec![c.clone()]
    );
    assert_eq!(timeline_ids(&store, &ctx, &d).await.last(), Some(&e.id));

    // Without a reference or a policy.
    let bare = enroll(&store, &ctx, imei(2), None).await;
    let mut plain = contract(&bare, None, 500);
    plain.policy = None;
    let plain = create(&store, &ctx, plain).await;
    assert_eq!(reread(&store, &plain).await, plain);
}

async fn one_active_contract_per_device(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (d, first) = device_with_contract(&store, &ctx, 1, 500).await;
    let events = timeline_ids(&store, &ctx, &d).await.len();

    // A second active contract: refused, and its event is not written.
    let mut second = contract(&d, Some("LN-2"), 500);
    second.created_at = at(50);
    let e = event(&d, EventKind::CommandScheduled, 20);
    assert_err(
        store.create_contract(&ctx, &second, &e).await,
        StoreError::ContractExists,
    );
    assert_eq!(store.contract(&ctx, second.id).await.unwrap(), None);
    assert_eq!(timeline_ids(&store, &ctx, &d).await.len(), events);

    // A closed one (history) may sit next to it.
    let mut old = contract(&d, None, 0);
    old.created_at = at(5);
    old.state = ContractState::Cancelled;
    old.next_evaluation_at = None;
    let old = create(&store, &ctx, old).await;
    assert_eq!(
        store.contract_for_device(&ctx, d.id).await.unwrap(),
        Some(first.clone()),
        "the active contract comes first, whatever its age"
    );

    // Closing the first frees the device for a new one.
    let mut w = write(&d);
    let mut paid = first.clone();
    paid.state = ContractState::PaidOff;
    paid.next_evaluation_at = None;
    paid.updated_at = at(30);
    w.contract = Some(paid.clone());
    let d = save(&store, w).await;
    let paid = bumped(paid);
    assert_eq!(reread(&store, &first).await, paid);
    let second = create(&store, &ctx, second).await;
    assert_eq!(
        store.contract_for_device(&ctx, d.id).await.unwrap(),
        Some(second.clone())
    );

    // Reopening the paid-off contract now clashes with the new active one: nothing lands.
    let mut w = write(&d);
    let mut reopen = paid.clone();
    reopen.state = ContractState::Active;
    reopen.next_evaluation_at = Some(at(40));
    w.contract = Some(reopen);
    w.events.push(event(&d, EventKind::Unlocked, 40));
    assert_err(store.save_device(&w).await, StoreError::ContractExists);
    assert_eq!(store.device(&ctx, d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(reread(&store, &paid).await, paid);

    // With no active contract, the newest closed one.
    let mut w = write(&d);
    let mut cancelled = second.clone();
    cancelled.state = ContractState::Cancelled;
    cancelled.next_evaluation_at = None;
    w.contract = Some(cancelled.clone());
    save(&store, w).await;
    assert_eq!(store.active_contract_unscoped(d.id).await.unwrap(), None);
    let newest = store
        .contract_for_device(&ctx, d.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(newest.id, second.id, "created last");
    assert_ne!(newest.id, old.id);
}

async fn references_are_unique_per_lender(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    let a1 = enroll(&store, &ctx, imei(1), None).await;
    let a2 = enroll(&store, &ctx, imei(2), None).await;
    let b1 = enroll(&store, &other, imei(3), None).await;
    let c = create(&store, &ctx, contract(&a1, Some("LN-7"), 500)).await;

    let dup = contract(&a2, Some("LN-7"), 500);
    assert_err(
        store
            .create_contract(&ctx, &dup, &event(&a2, EventKind::CommandScheduled, 10))
            .await,
        StoreError::Duplicate("contract reference"),
    );
    assert_eq!(timeline_ids(&store, &ctx, &a2).await.len(), 1);
    // Another lender may use the same reference.
    create(&store, &other, contract(&b1, Some("LN-7"), 500)).await;
    // The same id again is a duplicate id, not a second active contract.
    let mut same_id = contract(&a2, None, 500);
    same_id.id = c.id;
    assert_err(
        store
            .create_contract(&ctx, &same_id, &event(&a2, EventKind::CommandScheduled, 10))
            .await,
        StoreError::Duplicate("contract id"),
    );
    let mut again = c.clone();
    again.reference = Some("LN-8".into());
    assert_err(
        store
            .create_contract(&ctx, &again, &event(&a1, EventKind::CommandScheduled, 10))
            .await,
        StoreError::Duplicate("contract id"),
    );

    // Renaming a contract onto a taken reference in a save: refused, nothing written.
    let c2 = create(&store, &ctx, contract(&a2, Some("LN-9"), 500)).await;
    let mut w = write(&a2);
    let mut renamed = c2.clone();
    renamed.reference = Some("LN-7".into());
    w.contract = Some(renamed);
    assert_err(
        store.save_device(&w).await,
        StoreError::Duplicate("contract reference"),
    );
    assert_eq!(reread(&store, &c2).await, c2);
}

async fn contracts_are_invisible_to_other_lenders(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    let c = create(&store, &ctx, contract(&d, Some("LN-1"), 500)).await;

    assert_eq!(store.contract(&other, c.id).await.unwrap(), None);
    assert_eq!(
        store.contract_by_reference(&other, "LN-1").await.unwrap(),
        None
    );
    assert_eq!(store.contract_for_device(&other, d.id).await.unwrap(), None);
    assert!(store
        .list_contracts(&other, None, 10)
        .await
        .unwrap()
        .is_empty());

    // Another lender cannot attach a contract to the device, whatever the record says.
    let mut theirs = contract(&d, None, 500);
    theirs.lender_id = other.lender_id;
    let mut e = event(&d, EventKind::CommandScheduled, 10);
    e.lender_id = other.lender_id;
    assert_err(
        store.create_contract(&other, &theirs, &e).await,
        StoreError::NotFound("device"),
    );
    // A record naming another lender than the caller is refused outright.
    let foreign = contract(&d, None, 500);
    assert!(matches!(
        store
            .create_contract(&other, &foreign, &event(&d, EventKind::CommandScheduled, 10))
            .await,
        Err(StoreError::Backend(m)) if m.contains("tenant")
    ));
    // An event about another device is refused too.
    let d2 = enroll(&store, &ctx, imei(2), None).await;
    let c2 = contract(&d2, None, 500);
    assert!(matches!(
        store
            .create_contract(&ctx, &c2, &event(&d, EventKind::CommandScheduled, 10))
            .await,
        Err(StoreError::Backend(_))
    ));
    assert_eq!(store.contract(&ctx, c2.id).await.unwrap(), None);
    // And a device that does not exist at all.
    let ghost = device(&ctx, imei(3), None);
    assert_err(
        store
            .create_contract(
                &ctx,
                &contract(&ghost, None, 500),
                &event(&ghost, EventKind::CommandScheduled, 10),
            )
            .await,
        StoreError::NotFound("device"),
    );
}

async fn contracts_list_by_cursor(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    let mut made = Vec::new();
    for n in 0..5 {
        let (_, c) = device_with_contract(&store, &ctx, n, 500).await;
        made.push(c);
        device_with_contract(&store, &other, 100 + n, 500).await;
    }
    let first = store.list_contracts(&ctx, None, 2).await.unwrap();
    assert_eq!(first, made[..2]);
    let next = store
        .list_contracts(&ctx, Some(first[1].id), 2)
        .await
        .unwrap();
    assert_eq!(next, made[2..4]);
    let rest = store
        .list_contracts(&ctx, Some(next[1].id), 100)
        .await
        .unwrap();
    assert_eq!(rest, made[4..]);
    // A zero limit still makes progress.
    assert_eq!(store.list_contracts(&ctx, None, 0).await.unwrap().len(), 1);
}

async fn closed_contracts_have_no_evaluation_time(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (d, c) = device_with_contract(&store, &ctx, 1, 500).await;
    let mut closed = c.clone();
    closed.state = ContractState::WrittenOff;
    let mut w = write(&d);
    w.contract = Some(closed.clone());
    assert!(matches!(
        store.save_device(&w).await,
        Err(StoreError::Backend(_))
    ));
    assert_eq!(reread(&store, &c).await, c);

    let d2 = enroll(&store, &ctx, imei(2), None).await;
    let mut new_closed = contract(&d2, None, 500);
    new_closed.state = ContractState::PaidOff;
    assert!(matches!(
        store
            .create_contract(
                &ctx,
                &new_closed,
                &event(&d2, EventKind::CommandScheduled, 10)
            )
            .await,
        Err(StoreError::Backend(_))
    ));
}

async fn corrupt_contract_rows_are_reported(backend: Backend) {
    let Some((db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let (d, c) = device_with_contract(&store, &ctx, 1, 500).await;
    let corrupt = |r: Result<_, StoreError>| match r {
        Err(StoreError::Corrupt { table, .. }) => assert_eq!(table, "contracts"),
        other => panic!("expected Corrupt in contracts, got {other:?}"),
    };
    let good = reread(&store, &c).await;
    let terms = serde_json::to_string(&good.terms).unwrap();

    db.exec_raw("UPDATE contracts SET terms = '{not json'")
        .await;
    corrupt(store.contract(&ctx, c.id).await.map(drop));
    // Well-formed JSON that the domain refuses (a negative financed amount).
    let refused = terms.replace("\"financed\":1200000", "\"financed\":-5");
    assert_ne!(refused, terms);
    db.exec_raw(&format!("UPDATE contracts SET terms = '{refused}'"))
        .await;
    corrupt(store.contract_for_device(&ctx, d.id).await.map(drop));
    // The currency column must agree with the terms.
    db.exec_raw(&format!(
        "UPDATE contracts SET terms = '{terms}', currency = 'UGX'"
    ))
    .await;
    corrupt(store.list_contracts(&ctx, None, 10).await.map(drop));
    db.exec_raw("UPDATE contracts SET currency = 'KES', state = 'repossessed'")
        .await;
    corrupt(store.contract_unscoped(c.id).await.map(drop));
    db.exec_raw("UPDATE contracts SET state = 'active'").await;
    assert_eq!(reread(&store, &c).await, good);
}
