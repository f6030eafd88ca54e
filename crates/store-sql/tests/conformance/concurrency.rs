//! Racing writers: the guarantees must hold under real concurrency, not only in sequence.

use crate::fixtures::*;
use lienlock_domain::{DeviceState, EventKind};
use lienlock_store::StoreError;
use lienlock_store_sql::backend_tests;

backend_tests!(
    racing_saves_admit_exactly_one,
    racing_crossed_enrollments_admit_one
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
