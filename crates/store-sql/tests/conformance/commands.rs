//! The scheduler's view of commands.

use crate::fixtures::*;
use lienlock_domain::{CommandKind, CommandStatus};
use lienlock_store::CommandResolution;
use lienlock_store_sql::backend_tests;

backend_tests!(due_commands_oldest_first_and_limited);

async fn due_commands_oldest_first_and_limited(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let a = lender(&store, "A").await;
    let b = lender(&store, "B").await;
    let d1 = enroll(&store, &a, imei(1), None).await;
    let d2 = enroll(&store, &b, imei(2), None).await;

    let late = command(&d1, CommandKind::Lock, 300);
    let early = command(&d2, CommandKind::Lock, 100);
    let done = command(&d1, CommandKind::Unlock, 50);
    let future = command(&d2, CommandKind::Unlock, 10_000);
    let middle = command(&d2, CommandKind::Release, 200);
    let mut w = write(&d1);
    w.new_commands = vec![late.clone(), done.clone()];
    save(&store, w).await;
    let mut w = write(&d2);
    w.new_commands = vec![future, middle.clone(), early.clone()];
    save(&store, w).await;
    let d1 = store.device_unscoped(d1.id).await.unwrap().unwrap();
    let mut w = write(&d1);
    w.resolved_commands.push(CommandResolution {
        id: done.id,
        status: CommandStatus::Cancelled,
        at: at(60),
    });
    save(&store, w).await;

    let ids = |cs: Vec<lienlock_store::Command>| cs.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let due = store.due_commands(at(1_000), 10).await.unwrap();
    assert_eq!(ids(due), [early.id, middle.id, late.id]);
    assert_eq!(
        ids(store.due_commands(at(1_000), 2).await.unwrap()),
        [early.id, middle.id]
    );
    // Due exactly at its time.
    assert_eq!(
        ids(store.due_commands(at(200), 10).await.unwrap()),
        [early.id, middle.id]
    );
    assert!(store.due_commands(at(99), 10).await.unwrap().is_empty());
    assert!(store.due_commands(at(1_000), 0).await.unwrap().is_empty());
    assert_eq!(store.due_commands(at(1_000), 1).await.unwrap()[0], early);
}
