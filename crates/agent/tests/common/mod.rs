//! A device data directory, a server key and a controllable clock, plus lease signing.

#![allow(dead_code)] // each test binary uses a different part of this

use lienlock_agent::{Agent, AgentConfig};
use lienlock_domain::{
    DeviceId, Imei, LeaseState, ManualClock, RestrictionLevel, RestrictionProfile, Timestamp,
};
use lienlock_wire::{Lease, LeaseEnvelope, LockScreen, ServerKey};
use std::path::Path;
use std::sync::Arc;

/// 2023-11-14, an arbitrary but realistic epoch-ms start.
pub const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);
pub const HOUR_MS: i64 = 3_600_000;

pub fn imei() -> Imei {
    Imei::parse("490154203237518").unwrap()
}

pub fn other_imei() -> Imei {
    Imei::parse("356938035643809").unwrap()
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub server: ServerKey,
    pub clock: Arc<ManualClock>,
    pub device_id: DeviceId,
    pub url: String,
}

impl Fixture {
    pub fn new() -> Self {
        Self::with_url("http://127.0.0.1:9")
    }

    pub fn with_url(url: &str) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            server: ServerKey::generate(),
            clock: Arc::new(ManualClock::new(T0)),
            device_id: DeviceId::new(),
            url: url.to_owned(),
        }
    }

    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> AgentConfig {
        AgentConfig {
            data_dir: self.data().to_owned(),
            server_url: self.url.clone(),
            server_key: self.server.public(),
            imei: imei(),
        }
    }

    pub fn open(&self) -> Agent {
        Agent::open(self.config(), self.clock.clone()).unwrap()
    }

    pub fn reopen(&self) -> Agent {
        Agent::open_existing(self.data(), self.clock.clone()).unwrap()
    }

    /// An active lease for `agent`, issued now, valid for an hour, answering `in_reply_to`.
    pub fn lease(
        &self,
        agent: &Agent,
        sequence: u64,
        state: LeaseState,
        in_reply_to: u64,
    ) -> Lease {
        let now = lienlock_domain::Clock::now(&*self.clock);
        Lease {
            key_id: self.server.id(),
            device_id: self.device_id,
            imei: agent.imei(),
            device_key: agent.device_public_key(),
            sequence,
            state,
            issued_at: now,
            valid_until: now.plus_millis(HOUR_MS),
            next_checkin_at: now.plus_millis(HOUR_MS / 4),
            in_reply_to,
            profile: match state {
                LeaseState::Locked => RestrictionProfile::full_lock(),
                _ => RestrictionProfile::unrestricted(),
            },
            lock_screen: lock_screen(),
            notices: Vec::new(),
            warn_at: now.plus_millis(HOUR_MS),
            codes_through: 0,
            next_key: None,
        }
    }

    pub fn seal(&self, lease: &Lease) -> LeaseEnvelope {
        LeaseEnvelope::seal(lease, &self.server)
    }

    /// Builds a check-in and returns a signed answer to it with the given sequence and state.
    pub fn answer(
        &self,
        agent: &mut Agent,
        sequence: u64,
        state: LeaseState,
    ) -> (LeaseEnvelope, u64) {
        let (_, counter) = agent.build_checkin().unwrap();
        (
            self.seal(&self.lease(agent, sequence, state, counter)),
            counter,
        )
    }
}

pub fn lock_screen() -> LockScreen {
    LockScreen {
        lender_name: "Acme Finance".into(),
        support_phone: "+254 700 000000".into(),
        support_url: "https://acme.example/pay".into(),
        message: "Pay the overdue installment to unlock.".into(),
        amount_due: "KES 1,500.00".into(),
    }
}

pub fn reminder() -> RestrictionProfile {
    RestrictionProfile::new(RestrictionLevel::Reminder, []).unwrap()
}

/// A monotonic clock the test moves, with a boot id it can change (a reboot).
#[derive(Debug)]
pub struct ManualMonotonic {
    boot: std::sync::Mutex<String>,
    elapsed_ms: std::sync::atomic::AtomicU64,
}

impl ManualMonotonic {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            boot: std::sync::Mutex::new("boot-1".into()),
            elapsed_ms: std::sync::atomic::AtomicU64::new(5_000),
        })
    }

    pub fn advance(&self, ms: i64) {
        self.elapsed_ms
            .fetch_add(ms as u64, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn reboot(&self, id: &str) {
        *self.boot.lock().unwrap() = id.into();
        self.elapsed_ms
            .store(1_000, std::sync::atomic::Ordering::SeqCst);
    }
}

impl lienlock_agent::Monotonic for ManualMonotonic {
    fn boot_id(&self) -> String {
        self.boot.lock().unwrap().clone()
    }

    fn elapsed(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.elapsed_ms.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// Real time passing: both the wall clock and the monotonic clock move.
pub fn pass(f: &Fixture, mono: &ManualMonotonic, ms: i64) {
    f.clock.advance_millis(ms);
    mono.advance(ms);
}
