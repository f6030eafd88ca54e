//! The push channel: devices hold a connection to any node and are told, with a bare
//! hint, to check in. Hints reach every node through the store ([`Store::listen_wakes`]:
//! PostgreSQL `LISTEN/NOTIFY`, or an in-process channel on SQLite), and each node wakes the
//! connections it holds. The lease still comes, signed, from a check-in, so a lost hint
//! costs latency and never a command.
//!
//! [`Store::listen_wakes`]: lienlock_store::Store::listen_wakes

mod hub;

pub use hub::{Hub, PushLimits, Refused, Subscription};

use lienlock_store::{Store, Wake};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Forwards hints from the store to `hub` until `stop` turns true, re-subscribing (with a
/// bounded wait) when the store cannot listen, and waking everyone after such a gap.
pub async fn relay(store: Arc<dyn Store>, hub: Hub, mut stop: watch::Receiver<bool>) {
    let mut wait = Duration::from_millis(200);
    loop {
        if *stop.borrow() {
            return;
        }
        match store.listen_wakes().await {
            Ok(mut rx) => {
                wait = Duration::from_millis(200);
                loop {
                    tokio::select! {
                        _ = stop.changed() => return,
                        wake = rx.recv() => match wake {
                            Some(Wake::Devices(ids)) => { hub.wake(&ids); }
                            Some(Wake::All) => { hub.wake_all(); }
                            None => break,
                        },
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for wake-up hints; retrying"),
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(wait) => {}
        }
        // Anything may have been missed meanwhile.
        hub.wake_all();
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}
