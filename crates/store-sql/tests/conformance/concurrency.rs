//! Racing writers: the guarantees must hold under real concurrency, not only in sequence.

use crate::fixtures::*;
use lienlock_domain::{DeviceState, EventKind};
use lienlock_store::StoreError;
use lienlock_store_sql::backend_tests;

backend_tests!(
    racing_saves_admit_exactly_one,
    racing_crossed_enrollments_admit_one,
    racing_plain_batches_land_or_go_stale,
    many_checkin_reads_at_once_each_get_their_own_phone
);

async fn racing_saves_admit_exactly_one(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let read = enroll(&store, &ctx, imei(1), None).await;

    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let mut w = write(&read);
            w.device.state = DeviceState::Locked;
            w.events.push(event(&read, EventKind::Locked, i));
            tokio::spawn(async move { store.save_device(&w).await })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Stale) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won, 1);
    let d = store.device(&ctx, read.id).await.unwrap().unwrap();
    assert_eq!(d.version, read.version + 1);
    assert_eq!(timeline_ids(&store, &ctx, &d).await.len(), 2);
}

async fn racing_crossed_enrollments_admit_one(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    // Each pair (n, n+1) and (n+1, n) crosses: no unique index sees the clash, only the
    // store's check. Run the rounds with real parallelism on PostgreSQL.
    for round in 0..5 {
        let (x, y) = (imei(10 * round), imei(10 * round + 1));
        let tasks: Vec<_> = [(x, y), (y, x), (x, y), (y, x)]
            .into_iter()
            .map(|(a, b)| {
                let store = store.clone();
                let d = device(&ctx, a, Some(b));
                tokio::spawn(async move {
                    store
                        .enroll_device(&ctx, &d, &event(&d, EventKind::Enrolled, 1))
                        .await
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => won += 1,
                Err(StoreError::ImeiTaken(_)) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(won, 1, "round {round}");
    }
}

/// Batches of check-in writes racing over the same devices, as the group commits of
/// several nodes on one PostgreSQL database do: every write either lands or is refused as
/// stale (none errs), and each device ends with exactly the writes that landed, none lost
/// or counted twice.
async fn racing_plain_batches_land_or_go_stale(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let mut ids = Vec::new();
    for n in 0..16 {
        ids.push(enroll(&store, &ctx, imei(100 + n), None).await.id);
    }
    ids.sort();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, ids) = (store.clone(), ids.clone());
            tokio::spawn(async move {
                let mut landed = vec![0u64; ids.len()];
                for _ in 0..15 {
                    let mut batch = Vec::new();
                    for id in &ids {
                        let mut w = write(&store.device_unscoped(*id).await.unwrap().unwrap());
                        w.device.last_counter += 1;
                        w.device.lease_seq += 1;
                        batch.push(w);
                    }
                    let results = store.save_devices(&batch).await.unwrap();
                    for (n, r) in results.into_iter().enumerate() {
                        match r {
                            Ok(()) => landed[n] += 1,
                            Err(StoreError::Stale) => {}
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                }
                landed
            })
        })
        .collect();
    let mut landed = vec![0u64; ids.len()];
    for task in tasks {
        for (n, l) in task.await.unwrap().into_iter().enumerate() {
            landed[n] += l;
        }
    }
    for (id, l) in ids.iter().zip(landed) {
        let d = store.device_unscoped(*id).await.unwrap().unwrap();
        assert!(l > 0, "no write of {id} landed");
        assert_eq!((d.last_counter, d.lease_seq), (l, l), "{id}");
    }
}

/// Check-in reads arriving together, as a fleet's do: PostgreSQL answers them many to a
/// statement and SQLite many to a transaction, and each caller must still get its own
/// phone: by its first IMEI, by its second (which the batched statement does not look
/// for), a released enrollment, or none.
async fn many_checkin_reads_at_once_each_get_their_own_phone(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let mut phones = Vec::new();
    for n in 0..40 {
        phones.push(enroll(&store, &ctx, imei(200 + n), Some(imei(300 + n))).await);
    }
    let mut released = write(&phones[0]);
    released.device.state = DeviceState::Released;
    save(&store, released).await;
    let mut reads = Vec::new();
    for round in 0..5 {
        for (n, d) in phones.iter().enumerate() {
            // By the first IMEI, by the second, and for an IMEI nobody enrolled.
            for (by, want) in [
                (d.imei, Some(d.id)),
                (d.imei2.unwrap(), Some(d.id)),
                (imei(400 + n as u32 + 40 * round), None),
            ] {
                let store = store.clone();
                reads.push(tokio::spawn(async move {
                    let got = store.checkin_view(&by).await.unwrap();
                    (by, got.map(|v| v.device.id), want)
                }));
            }
        }
    }
    for read in reads {
        let (by, got, want) = read.await.unwrap();
        assert_eq!(got, want, "read by {by}");
    }
}
