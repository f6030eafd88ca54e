//! This node's push connections: who is connected, and waking them.

use lienlock_domain::DeviceId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Bounds and timing of the push channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushLimits {
    /// Connections one device may hold at once; a newer one closes the oldest (a phone
    /// that reconnects after its network dropped the old connection silently must not be
    /// refused because of it).
    pub per_device: usize,
    /// Connections this node holds at most; beyond it new ones get 503 and retry later.
    pub total: usize,
    /// How often an idle connection carries a heartbeat, so NAT mappings and proxies keep
    /// it open and the device notices a dead one.
    pub heartbeat: Duration,
    /// How long a long-poll waits for a hint before answering "nothing".
    pub poll_timeout: Duration,
}

impl Default for PushLimits {
    fn default() -> Self {
        Self {
            per_device: 2,
            total: 100_000,
            heartbeat: Duration::from_secs(25),
            poll_timeout: Duration::from_secs(50),
        }
    }
}

/// One connection's end: a hint arrives as `()` (coalesced: one pending hint is enough),
/// and the channel closes when the connection is evicted or the node shuts down.
#[derive(Debug)]
pub struct Subscription {
    /// Hints.
    pub hints: mpsc::Receiver<()>,
    _slot: Slot,
}

/// Unregisters the connection when dropped (the client went away or the stream ended).
#[derive(Debug)]
struct Slot {
    hub: Arc<Inner>,
    device: DeviceId,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.hub.remove(self.device, self.id);
    }
}

/// Why a connection was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The node holds [`PushLimits::total`] connections.
    Full,
    /// The node is shutting down.
    Closed,
}

#[derive(Debug, Default)]
struct State {
    devices: HashMap<DeviceId, Vec<(u64, mpsc::Sender<()>)>>,
    total: usize,
    next_id: u64,
    closed: bool,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    limits: PushLimits,
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain bookkeeping behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remove(&self, device: DeviceId, id: u64) {
        let mut s = self.lock();
        if let Some(conns) = s.devices.get_mut(&device) {
            let before = conns.len();
            conns.retain(|(i, _)| *i != id);
            let removed = before - conns.len();
            if conns.is_empty() {
                s.devices.remove(&device);
            }
            s.total -= removed;
        }
    }
}

/// The push connections held by this node. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Hub(Arc<Inner>);

impl Hub {
    /// An empty hub.
    pub fn new(limits: PushLimits) -> Self {
        Self(Arc::new(Inner {
            state: Mutex::new(State::default()),
            limits,
        }))
    }

    /// Its limits.
    pub fn limits(&self) -> PushLimits {
        self.0.limits
    }

    /// Registers a connection of `device`.
    pub fn subscribe(&self, device: DeviceId) -> Result<Subscription, Refused> {
        let mut s = self.0.lock();
        if s.closed {
            return Err(Refused::Closed);
        }
        let per_device = self.0.limits.per_device.max(1);
        let held = s.devices.get(&device).map_or(0, Vec::len);
        if held < per_device && s.total >= self.0.limits.total {
            return Err(Refused::Full);
        }
        let id = s.next_id;
        s.next_id += 1;
        let (tx, rx) = mpsc::channel(1);
        let conns = s.devices.entry(device).or_default();
        let mut evicted = 0;
        while conns.len() >= per_device {
            // Dropping the sender ends that connection's stream.
            conns.remove(0);
            evicted += 1;
        }
        conns.push((id, tx));
        s.total = s.total + 1 - evicted;
        Ok(Subscription {
            hints: rx,
            _slot: Slot {
                hub: self.0.clone(),
                device,
                id,
            },
        })
    }

    /// Wakes these devices' connections here (those connected elsewhere are woken by their
    /// own node, which got the same hint).
    pub fn wake(&self, devices: &[DeviceId]) -> usize {
        let s = self.0.lock();
        let mut woken = 0;
        for d in devices {
            for (_, tx) in s.devices.get(d).into_iter().flatten() {
                // Full means a hint is already pending: one is enough.
                let _ = tx.try_send(());
                woken += 1;
            }
        }
        woken
    }

    /// Wakes every connection here (after hints may have been missed).
    pub fn wake_all(&self) -> usize {
        let s = self.0.lock();
        for (_, tx) in s.devices.values().flatten() {
            let _ = tx.try_send(());
        }
        s.total
    }

    /// Connections held now.
    pub fn connections(&self) -> usize {
        self.0.lock().total
    }

    /// Ends every connection and refuses new ones: for shutdown, which waits for open
    /// requests, so long-lived streams must end first.
    pub fn close(&self) {
        let mut s = self.0.lock();
        s.closed = true;
        s.devices.clear();
        s.total = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_device: usize, total: usize) -> PushLimits {
        PushLimits {
            per_device,
            total,
            ..PushLimits::default()
        }
    }

    #[tokio::test]
    async fn a_hint_reaches_only_its_device_and_is_coalesced() {
        let hub = Hub::new(PushLimits::default());
        let (a, b) = (DeviceId::new(), DeviceId::new());
        let mut sa = hub.subscribe(a).unwrap();
        let mut sb = hub.subscribe(b).unwrap();
        assert_eq!(hub.wake(&[a]), 1);
        hub.wake(&[a]);
        assert_eq!(sa.hints.recv().await, Some(()));
        assert!(sa.hints.try_recv().is_err(), "two hints, one wake-up");
        assert!(sb.hints.try_recv().is_err());
        assert_eq!(hub.wake_all(), 2);
        assert_eq!(sb.hints.recv().await, Some(()));
    }

    #[tokio::test]
    async fn limits_evict_the_oldest_and_refuse_past_the_total() {
        let hub = Hub::new(limits(2, 3));
        let d = DeviceId::new();
        let mut first = hub.subscribe(d).unwrap();
        let _second = hub.subscribe(d).unwrap();
        let _third = hub.subscribe(d).unwrap();
        assert_eq!(hub.connections(), 2);
        assert_eq!(first.hints.recv().await, None, "the oldest was closed");
        let _other = hub.subscribe(DeviceId::new()).unwrap();
        assert_eq!(hub.connections(), 3);
        assert_eq!(hub.subscribe(DeviceId::new()).unwrap_err(), Refused::Full);
        // A device at its own limit replaces a connection, so the total does not grow.
        let _fourth = hub.subscribe(d).unwrap();
        assert_eq!(hub.connections(), 3);
    }

    #[tokio::test]
    async fn dropping_a_subscription_frees_it_and_close_ends_all() {
        let hub = Hub::new(PushLimits::default());
        let s = hub.subscribe(DeviceId::new()).unwrap();
        assert_eq!(hub.connections(), 1);
        drop(s);
        assert_eq!(hub.connections(), 0);
        let mut s = hub.subscribe(DeviceId::new()).unwrap();
        hub.close();
        assert_eq!(s.hints.recv().await, None);
        assert_eq!(hub.subscribe(DeviceId::new()).unwrap_err(), Refused::Closed);
    }
}
