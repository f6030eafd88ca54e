//! One scheduler at a time across nodes sharing a database.

use lienlock_store_sql::testing::{Backend, TestDb};
use std::time::Duration;

async fn one_node_at_a_time_has_the_schedulers_turn(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let a = db.store().await;
    assert!(a.scheduler_turn().await.unwrap());
    assert!(a.scheduler_turn().await.unwrap(), "the holder keeps it");
    if backend == Backend::Sqlite {
        return;
    }
    let b = db.store().await;
    let c = db.store().await;
    assert!(!b.scheduler_turn().await.unwrap());
    assert!(!c.scheduler_turn().await.unwrap());
    // The holder stops: one of the others takes over, and only one.
    drop(a);
    let mut took = None;
    for _ in 0..100 {
        let (tb, tc) = (
            b.scheduler_turn().await.unwrap(),
            c.scheduler_turn().await.unwrap(),
        );
        assert!(!(tb && tc), "two nodes at once");
        if tb || tc {
            took = Some(tb);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b_took = took.expect("another node takes the turn once the holder is gone");
    let (holder, other) = if b_took { (&b, &c) } else { (&c, &b) };
    assert!(holder.scheduler_turn().await.unwrap());
    assert!(!other.scheduler_turn().await.unwrap());
}

lienlock_store_sql::backend_tests!(one_node_at_a_time_has_the_schedulers_turn);
