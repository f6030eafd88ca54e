//! `save_device`'s optimistic concurrency and atomicity, counters, and the timeline.

use crate::fixtures::*;
use lienlock_domain::{CommandKind, CommandStatus, DeviceState, EventKind, KeyStatus};
use lienlock_store::{CommandResolution, StoreError};
use lienlock_store_sql::backend_tests;

backend_tests!(
    second_write_from_the_same_read_is_stale,
    resolving_a_non_pending_command_is_stale,
    counters_round_trip_up_to_i64_max,
    timeline_is_ordered_and_paged
);

async fn second_write_from_the_same_read_is_stale(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let read = enroll(&store, &ctx, imei(1), None).await;

    let mut first = write(&read);
    first.device.state = DeviceState::Locked;
    first.device.updated_at = at(50);
    first
        .new_commands
        .push(command(&read, CommandKind::Unlock, 500));
    first.events.push(event(&read, EventKind::Locked, 50));
    let saved = save(&store, first.clone()).await;
    assert_eq!(saved.version, read.version + 1);

    // A second writer that read the same version: refused, and none of its parts land.
    let mut second = write(&read);
    second.device.state = DeviceState::Released;
    second
        .new_commands
        .push(command(&read, CommandKind::Lock, 60));
    second.events.push(event(&read, EventKind::Released, 60));
    assert!(matches!(
        store.save_device(&second).await,
        Err(StoreError::Stale)
    ));

    assert_eq!(
        store.device(&ctx, read.id).await.unwrap(),
        Some(saved.clone())
    );
    let commands = store.device_commands(&ctx, read.id, None).await.unwrap();
    assert_eq!(commands, first.new_commands);
    let timeline = timeline_ids(&store, &ctx, &read).await;
    assert_eq!(timeline.len(), 2);
    assert_eq!(timeline[1], first.events[0].id);

    // Retrying from a fresh read succeeds and bumps the version again.
    let mut retry = write(&saved);
    retry.device.state = DeviceState::Released;
    let released = save(&store, retry).await;
    assert_eq!(released.version, read.version + 2);
}

async fn resolving_a_non_pending_command_is_stale(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    let lock = command(&d, CommandKind::Lock, 100);
    let unlock = command(&d, CommandKind::Unlock, 200);
    let mut w = write(&d);
    w.new_commands = vec![lock.clone(), unlock.clone()];
    let d = save(&store, w).await;

    // Applying the lock resolves it.
    let mut apply = write(&d);
    apply.device.state = DeviceState::Locked;
    apply.resolved_commands.push(CommandResolution {
        id: lock.id,
        status: CommandStatus::Applied,
        at: at(100),
    });
    apply.events.push(event(&d, EventKind::Locked, 100));
    let d = save(&store, apply).await;
    let pending = store.pending_commands_unscoped(d.id).await.unwrap();
    assert_eq!(pending, vec![unlock.clone()]);
    let applied = store
        .device_commands(&ctx, d.id, Some(CommandStatus::Applied))
        .await
        .unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].id, lock.id);
    assert_eq!(applied[0].resolved_at, Some(at(100)));

    // A current device version, but one listed command is no longer pending: nothing of
    // the write may land, not even the parts before the failing resolution.
    let mut late = write(&d);
    late.device.state = DeviceState::Active;
    late.new_commands
        .push(command(&d, CommandKind::Release, 900));
    late.resolved_commands = vec![
        CommandResolution {
            id: unlock.id,
            status: CommandStatus::Applied,
            at: at(200),
        },
        CommandResolution {
            id: lock.id,
            status: CommandStatus::Superseded,
            at: at(200),
        },
    ];
    late.events.push(event(&d, EventKind::Unlocked, 200));
    assert!(matches!(
        store.save_device(&late).await,
        Err(StoreError::Stale)
    ));

    assert_eq!(store.device(&ctx, d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(
        store.pending_commands_unscoped(d.id).await.unwrap(),
        vec![unlock]
    );
    assert_eq!(
        store.device_commands(&ctx, d.id, None).await.unwrap().len(),
        2
    );
    assert_eq!(timeline_ids(&store, &ctx, &d).await.len(), 2);
}

async fn counters_round_trip_up_to_i64_max(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let max = i64::MAX as u64;
    let mut d = device(&ctx, imei(1), None);
    d.last_counter = max;
    d.pending_counter = max - 1;
    d.lease_seq = 1 << 40;
    store
        .enroll_device(&ctx, &d, &event(&d, EventKind::Enrolled, 1))
        .await
        .unwrap();
    assert_eq!(store.device(&ctx, d.id).await.unwrap(), Some(d.clone()));

    let mut w = write(&d);
    w.device.lease_seq = max;
    w.device.key_status = KeyStatus::Bound;
    w.device.device_key = Some([9; 32]);
    let d = save(&store, w).await;

    // Beyond i64::MAX: refused before anything is written.
    let mut too_big = write(&d);
    too_big.device.last_counter = max + 1;
    too_big.events.push(event(&d, EventKind::KeyRegistered, 5));
    assert!(matches!(
        store.save_device(&too_big).await,
        Err(StoreError::Backend(_))
    ));
    assert_eq!(store.device(&ctx, d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(timeline_ids(&store, &ctx, &d).await.len(), 1);

    let mut fresh = device(&ctx, imei(2), None);
    fresh.pending_counter = u64::MAX;
    let e = store
        .enroll_device(&ctx, &fresh, &event(&fresh, EventKind::Enrolled, 1))
        .await;
    assert!(matches!(e, Err(StoreError::Backend(_))), "{e:?}");
    assert_eq!(store.device_unscoped(fresh.id).await.unwrap(), None);
}

async fn timeline_is_ordered_and_paged(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    let noise = enroll(&store, &ctx, imei(2), None).await;

    // Appended events (no state change) and saved ones interleave in insertion order,
    // whatever their `at` says.
    let replay = [
        event(&d, EventKind::ReplayRefused, 30),
        event(&noise, EventKind::ReplayRefused, 30),
        event(&d, EventKind::ReplayRefused, 10),
    ];
    store.append_events(&replay).await.unwrap();
    let mut w = write(&d);
    w.device.state = DeviceState::Locked;
    w.events = vec![
        event(&d, EventKind::Locked, 20),
        event(&d, EventKind::CommandScheduled, 21),
    ];
    save(&store, w.clone()).await;
    store.append_events(&[]).await.unwrap();

    let all = store
        .timeline(&ctx, d.id, None, 100)
        .await
        .unwrap()
        .unwrap();
    let kinds: Vec<_> = all.iter().map(|e| e.kind).collect();
    use EventKind::*;
    assert_eq!(
        kinds,
        [
            Enrolled,
            ReplayRefused,
            ReplayRefused,
            Locked,
            CommandScheduled
        ]
    );
    assert!(all.windows(2).all(|p| p[0].seq < p[1].seq));
    assert_eq!(all[2].id, replay[2].id);
    assert!(all.iter().all(|e| e.device_id == d.id));

    // Cursor: strictly after, limited.
    let page = store
        .timeline(&ctx, d.id, Some(all[1].seq), 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page, all[2..4]);
    let rest = store
        .timeline(&ctx, d.id, Some(page[1].seq), 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest, all[4..]);
    let end = store
        .timeline(&ctx, d.id, Some(all[4].seq), 2)
        .await
        .unwrap()
        .unwrap();
    assert!(end.is_empty());

    // An event for a device that does not exist is refused, and takes its batch with it.
    let ghost = device(&ctx, imei(3), None);
    let batch = [
        event(&d, EventKind::ReplayRefused, 40),
        event(&ghost, EventKind::ReplayRefused, 40),
    ];
    assert!(store.append_events(&batch).await.is_err());
    assert_eq!(timeline_ids(&store, &ctx, &d).await.len(), 5);
}
