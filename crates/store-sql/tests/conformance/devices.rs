//! Enrollment, tenant scoping, listing, check-in lookup and corrupt rows.

use crate::fixtures::*;
use lienlock_domain::{CommandKind, DeviceState, EventKind, KeyStatus};
use lienlock_store::{DeviceQuery, StoreError};
use lienlock_store_sql::backend_tests;

backend_tests!(
    enrolled_device_round_trips,
    imei_taken_by_active_enrollments_only,
    tenants_cannot_see_each_other,
    list_pages_by_cursor_and_state,
    checkin_prefers_active_then_newest,
    unknown_stored_names_are_corrupt
);

async fn enrolled_device_round_trips(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "L").await;
    let mut d = device(&ctx, imei(1), Some(imei(2)));
    d.model = Some("Galaxy A14".into());
    d.device_key = Some([1; 32]);
    d.pending_key = Some([2; 32]);
    d.key_status = KeyStatus::ChangePending;
    d.last_seen_at = Some(at(3));
    let enrolled = event(&d, EventKind::Enrolled, 1);
    store.enroll_device(&ctx, &d, &enrolled).await.unwrap();

    assert_eq!(store.device(&ctx, d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(store.device_unscoped(d.id).await.unwrap(), Some(d.clone()));
    let timeline = store.timeline(&ctx, d.id, None, 10).await.unwrap().unwrap();
    assert_eq!(timeline.len(), 1);
    assert!(timeline[0].seq > 0, "the store assigns seq");
    assert_eq!(
        lienlock_store::TimelineEvent {
            seq: 0,
            ..timeline[0].clone()
        },
        enrolled
    );

    // The same device id twice is a duplicate, not an IMEI clash.
    let mut again = d.clone();
    again.imei = imei(3);
    again.imei2 = None;
    let e = store
        .enroll_device(&ctx, &again, &event(&again, EventKind::Enrolled, 1))
        .await;
    assert!(matches!(e, Err(StoreError::Duplicate(_))), "{e:?}");

    // The device must belong to the caller, and so must the event.
    let other = lender(&store, "Other").await;
    let foreign = device(&other, imei(4), None);
    let e = store
        .enroll_device(&ctx, &foreign, &event(&foreign, EventKind::Enrolled, 1))
        .await;
    assert!(
        matches!(&e, Err(StoreError::Backend(m)) if m.contains("tenant")),
        "{e:?}"
    );
    assert_eq!(store.device_unscoped(foreign.id).await.unwrap(), None);
}

async fn imei_taken_by_active_enrollments_only(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    let first = enroll(&store, &ctx, imei(1), Some(imei(2))).await;

    let taken = |want: u32| {
        let want = imei(want).to_string();
        move |r: Result<(), StoreError>| match r {
            Err(StoreError::ImeiTaken(got)) => assert_eq!(got, want),
            other => panic!("expected ImeiTaken({want}), got {other:?}"),
        }
    };
    // imei/imei, imei2/imei2, and both crossings; across lenders too.
    for (c, a, b, want) in [
        (&ctx, 1, None, 1),
        (&other, 9, Some(2), 2),
        (&other, 2, None, 2),
        (&ctx, 8, Some(1), 1),
        (&other, 8, Some(2), 2),
    ] {
        let d = device(c, imei(a), b.map(imei));
        taken(want)(
            store
                .enroll_device(c, &d, &event(&d, EventKind::Enrolled, 1))
                .await,
        );
        assert_eq!(
            store.device_unscoped(d.id).await.unwrap(),
            None,
            "nothing written"
        );
    }
    assert_eq!(
        store
            .list_devices(
                &ctx,
                &DeviceQuery {
                    limit: 10,
                    ..Default::default()
                }
            )
            .await
            .unwrap(),
        vec![first.clone()]
    );

    // Once released, both IMEIs are free again, in either role.
    let mut released = first.clone();
    released.state = DeviceState::Released;
    save(&store, write(&released)).await;
    enroll(&store, &other, imei(2), Some(imei(1))).await;
    // And the new enrollment holds them now.
    let d = device(&ctx, imei(1), None);
    taken(1)(
        store
            .enroll_device(&ctx, &d, &event(&d, EventKind::Enrolled, 1))
            .await,
    );
}

async fn tenants_cannot_see_each_other(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let a = lender(&store, "A").await;
    let b = lender(&store, "B").await;
    let d = enroll(&store, &a, imei(1), None).await;
    let mut w = write(&d);
    w.new_commands.push(command(&d, CommandKind::Lock, 100));
    let d = save(&store, w).await;

    assert_eq!(store.device(&b, d.id).await.unwrap(), None);
    let all = DeviceQuery {
        limit: 100,
        ..Default::default()
    };
    assert!(store.list_devices(&b, &all).await.unwrap().is_empty());
    assert_eq!(store.timeline(&b, d.id, None, 100).await.unwrap(), None);
    assert!(store
        .device_commands(&b, d.id, None)
        .await
        .unwrap()
        .is_empty());

    // The owner sees all of it.
    assert_eq!(store.device(&a, d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(store.list_devices(&a, &all).await.unwrap(), vec![d.clone()]);
    assert_eq!(
        store.device_commands(&a, d.id, None).await.unwrap().len(),
        1
    );

    // A write claiming the device for another lender matches no row.
    let mut stolen = d.clone();
    stolen.lender_id = b.lender_id;
    stolen.state = DeviceState::Released;
    assert!(matches!(
        store.save_device(&write(&stolen)).await,
        Err(StoreError::Stale)
    ));
    assert_eq!(store.device(&a, d.id).await.unwrap(), Some(d));
}

async fn list_pages_by_cursor_and_state(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    enroll(&store, &other, imei(100), None).await;
    let mut devices = Vec::new();
    for n in 0..5 {
        devices.push(enroll(&store, &ctx, imei(n), None).await);
    }
    devices.sort_by_key(|d| d.id.to_string());
    for i in [1, 3] {
        let mut locked = devices[i].clone();
        locked.state = DeviceState::Locked;
        devices[i] = save(&store, write(&locked)).await;
    }

    let page = |after, state, limit| DeviceQuery {
        state,
        after,
        limit,
        overdue: None,
    };
    let list = |q: DeviceQuery| {
        let store = store.clone();
        async move { store.list_devices(&ctx, &q).await.unwrap() }
    };
    assert_eq!(list(page(None, None, 2)).await, devices[0..2]);
    assert_eq!(
        list(page(Some(devices[1].id), None, 2)).await,
        devices[2..4]
    );
    assert_eq!(list(page(Some(devices[3].id), None, 2)).await, devices[4..]);
    assert!(list(page(Some(devices[4].id), None, 2)).await.is_empty());
    // A limit of zero still returns a page of one.
    assert_eq!(list(page(None, None, 0)).await, devices[0..1]);
    assert_eq!(list(page(None, None, u32::MAX)).await, devices);

    let locked = [devices[1].clone(), devices[3].clone()];
    assert_eq!(
        list(page(None, Some(DeviceState::Locked), 10)).await,
        locked
    );
    assert_eq!(
        list(page(Some(devices[1].id), Some(DeviceState::Locked), 10)).await,
        locked[1..]
    );
    assert_eq!(
        list(page(None, Some(DeviceState::Active), 10)).await.len(),
        3
    );
    assert!(list(page(None, Some(DeviceState::Released), 10))
        .await
        .is_empty());
}

async fn checkin_prefers_active_then_newest(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    assert_eq!(store.device_for_checkin(&imei(1)).await.unwrap(), None);

    let release = |d: lienlock_store::Device| {
        let store = store.clone();
        async move {
            let mut r = d;
            r.state = DeviceState::Released;
            save(&store, write(&r)).await
        }
    };
    let mut old = device(&ctx, imei(1), Some(imei(2)));
    old.enrolled_at = at(10);
    store
        .enroll_device(&ctx, &old, &event(&old, EventKind::Enrolled, 10))
        .await
        .unwrap();
    assert_eq!(
        store.device_for_checkin(&imei(2)).await.unwrap(),
        Some(old.clone())
    );
    let old = release(old).await;

    let mut newer = device(&ctx, imei(2), None); // the old second IMEI, now primary
    newer.enrolled_at = at(20);
    store
        .enroll_device(&ctx, &newer, &event(&newer, EventKind::Enrolled, 20))
        .await
        .unwrap();
    let newer = release(newer).await;
    // Both released: the newest.
    assert_eq!(
        store.device_for_checkin(&imei(2)).await.unwrap(),
        Some(newer.clone())
    );
    assert_eq!(
        store.device_for_checkin(&imei(1)).await.unwrap(),
        Some(old.clone())
    );

    // An active enrollment wins over newer released ones.
    let mut active = device(&ctx, imei(3), Some(imei(2)));
    active.enrolled_at = at(5);
    store
        .enroll_device(&ctx, &active, &event(&active, EventKind::Enrolled, 5))
        .await
        .unwrap();
    assert_eq!(
        store.device_for_checkin(&imei(2)).await.unwrap(),
        Some(active.clone())
    );
    assert_eq!(
        store.device_for_checkin(&imei(3)).await.unwrap(),
        Some(active)
    );
    assert_eq!(store.device_for_checkin(&imei(9)).await.unwrap(), None);
}

async fn unknown_stored_names_are_corrupt(backend: Backend) {
    let Some((db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    let mut w = write(&d);
    w.new_commands.push(command(&d, CommandKind::Lock, 100));
    save(&store, w).await;

    let corrupt = |r: Result<_, StoreError>, table: &str| match r {
        Err(StoreError::Corrupt { table: t, .. }) => assert_eq!(t, table),
        other => panic!("expected Corrupt in {table}, got {other:?}"),
    };
    db.exec_raw("UPDATE devices SET state = 'stolen'").await;
    corrupt(store.device(&ctx, d.id).await.map(drop), "devices");
    corrupt(
        store
            .list_devices(&ctx, &DeviceQuery::default())
            .await
            .map(drop),
        "devices",
    );
    db.exec_raw("UPDATE commands SET kind = 'brick'").await;
    corrupt(
        store.device_commands(&ctx, d.id, None).await.map(drop),
        "commands",
    );
    db.exec_raw("UPDATE timeline_events SET actor = 'nobody'")
        .await;
    corrupt(
        store.timeline(&ctx, d.id, None, 10).await.map(drop),
        "timeline_events",
    );
    db.exec_raw("UPDATE api_keys SET role = 'root'").await;
    corrupt(
        {
            let lienlock_domain::Principal::ApiKey(id) = ctx.principal else {
                unreachable!("fixtures authenticate by API key")
            };
            store.find_api_key(id).await.map(drop)
        },
        "api_keys",
    );
    // A profile naming a protected capability must never load.
    let profile = r#"{"level":"full_lock","restricts":["emergency_calls"]}"#;
    db.exec_raw(&format!("UPDATE lenders SET lock_profile = '{profile}'"))
        .await;
    corrupt(store.lender(&ctx).await.map(drop), "lenders");
}
