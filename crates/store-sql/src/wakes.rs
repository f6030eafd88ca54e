//! Wake-up hints between server nodes: PostgreSQL `NOTIFY`/`LISTEN` on one channel, or an
//! in-process broadcast for SQLite's single node.

use crate::error::classify;
use lienlock_domain::DeviceId;
use lienlock_store::{StoreResult, Wake, WakeReceiver};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// The PostgreSQL channel every node listens on.
pub(crate) const CHANNEL: &str = "lienlock_wake";

/// Device ids per `NOTIFY`: 200 ids of 36 characters and commas stay well under
/// PostgreSQL's 8000-byte payload limit.
const IDS_PER_NOTIFY: usize = 200;

/// Hints buffered per listener before the oldest is dropped (and turned into [`Wake::All`]).
const BUFFER: usize = 4096;

/// `a,b,c`.
fn payload(ids: &[DeviceId]) -> String {
    let mut s = String::with_capacity(ids.len() * 37);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&id.to_string());
    }
    s
}

/// Reads a payload back; ids that do not parse are skipped (nothing else writes here).
fn parse(payload: &str) -> Vec<DeviceId> {
    payload
        .split(',')
        .filter_map(|s| s.parse::<DeviceId>().ok())
        .collect()
}

/// Sends one `NOTIFY` per [`IDS_PER_NOTIFY`] devices.
pub(crate) async fn pg_notify(pool: &sqlx::PgPool, devices: &[DeviceId]) -> StoreResult<()> {
    for chunk in devices.chunks(IDS_PER_NOTIFY) {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload(chunk))
            .execute(pool)
            .await
            .map_err(classify)?;
    }
    Ok(())
}

/// A dedicated listening connection, forwarding into the returned receiver until it is
/// dropped. When the connection is lost, sqlx reconnects on the next receive; hints sent
/// meanwhile are lost, so a [`Wake::All`] follows every reconnection.
pub(crate) async fn pg_listen(pool: &sqlx::PgPool) -> StoreResult<WakeReceiver> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool)
        .await
        .map_err(classify)?;
    listener.listen(CHANNEL).await.map_err(classify)?;
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        loop {
            let wake = tokio::select! {
                () = tx.closed() => return,
                next = listener.try_recv() => match next {
                    Ok(Some(n)) => Wake::Devices(parse(n.payload())),
                    // The connection was lost; the next receive reconnects.
                    Ok(None) => Wake::All,
                    Err(e) => {
                        tracing::warn!(error = %e, "wake-up listener failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Wake::All
                    }
                },
            };
            if forward(&tx, wake).is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

/// Hands a hint on without waiting: a listener that does not keep up loses hints, and
/// learns it by a [`Wake::All`] once there is room.
fn forward(tx: &mpsc::Sender<Wake>, wake: Wake) -> Result<(), ()> {
    match tx.try_send(wake) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(_)) => Ok(()),
        Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
    }
}

/// SQLite's single node: a broadcast channel inside the process.
#[derive(Clone, Debug)]
pub(crate) struct LocalWakes(broadcast::Sender<Vec<DeviceId>>);

impl Default for LocalWakes {
    fn default() -> Self {
        Self(broadcast::channel(BUFFER).0)
    }
}

impl LocalWakes {
    pub(crate) fn notify(&self, devices: &[DeviceId]) {
        // No receiver (no server listening) is not an error.
        let _ = self.0.send(devices.to_vec());
    }

    pub(crate) fn listen(&self) -> WakeReceiver {
        let mut sub = self.0.subscribe();
        let (tx, rx) = mpsc::channel(BUFFER);
        tokio::spawn(async move {
            loop {
                let wake = tokio::select! {
                    () = tx.closed() => return,
                    next = sub.recv() => match next {
                        Ok(ids) => Wake::Devices(ids),
                        Err(broadcast::error::RecvError::Lagged(_)) => Wake::All,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                };
                if forward(&tx, wake).is_err() {
                    return;
                }
            }
        });
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_fit() {
        let ids: Vec<DeviceId> = (0..IDS_PER_NOTIFY).map(|_| DeviceId::new()).collect();
        let p = payload(&ids);
        assert!(p.len() < 8000, "{}", p.len());
        assert_eq!(parse(&p), ids);
        assert!(parse("").is_empty());
        assert_eq!(parse("nonsense,x").len(), 0);
    }

    #[tokio::test]
    async fn local_hints_reach_every_listener() {
        let wakes = LocalWakes::default();
        let mut a = wakes.listen();
        let mut b = wakes.listen();
        let id = DeviceId::new();
        wakes.notify(&[id]);
        assert_eq!(a.recv().await, Some(Wake::Devices(vec![id])));
        assert_eq!(b.recv().await, Some(Wake::Devices(vec![id])));
    }
}
