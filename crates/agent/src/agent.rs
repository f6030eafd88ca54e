//! The agent: one device's identity, counter and held lease, and the operations on them.

use crate::atomic;
use crate::codes::{CodeRefusal, Codes, Grant};
use crate::config::{AgentConfig, Provisioning};
use crate::enforcement::{decide, with_grant, Enforcement};
use crate::error::{AgentError, ErrorCode, LeaseRefusal};
use crate::judge::{judge, Verdict};
use crate::keyring::Keyring;
use crate::layout::Layout;
use crate::mac_key::MacKey;
use crate::persistent;
use crate::platform::{Platform, SimulatedPlatform};
use crate::stats::RunStats;
use crate::tamper::{PendingSignal, Tamper};
use crate::transport::{DisputeAck, ServerClient};
use crate::trusted::{ClockMonotonic, ClockSetBack, Monotonic, SetBack, TrustedTime};
use crate::user;
use crate::verify::{VerifiedLease, Verifier};
use lienlock_domain::policy::TamperKind;
use lienlock_domain::{Clock, Imei, LeaseState, Timestamp};
use lienlock_wire::unlock_code::CodeKey;
use lienlock_wire::{
    CheckIn, CheckInVersion, DeviceKey, DeviceReport, DisputeRequest, Lease, LeaseEnvelope,
    ReportKind, ServerPublicKey, SignedCheckIn, SignedDispute, MAX_REPORTS,
};
use std::path::Path;
use std::sync::Arc;

/// A device agent bound to a data directory.
///
/// One process per data directory: the check-in counter is read once at open and then kept
/// in memory, so two agents on one directory could both use the same counter.
#[derive(Debug)]
pub struct Agent {
    layout: Layout,
    pub(crate) provisioning: Provisioning,
    pub(crate) key: DeviceKey,
    verifier: Verifier,
    pub(crate) client: ServerClient,
    /// The last counter used (persisted before use).
    counter: u64,
    released: bool,
    held: Option<VerifiedLease>,
    time: TrustedTime,
    codes: Codes,
    /// What `codes.json` looked like when last read (modified, length).
    codes_stamp: Option<(Option<std::time::SystemTime>, u64)>,
    /// Tamper signals on their way to the server.
    tamper: Tamper,
    /// The server keys trusted (more than the provisioned one after a rotation).
    keyring: Keyring,
    /// Where the SIM identity and the integrity checks come from.
    platform: Arc<dyn Platform>,
    /// The check-in counter used when the user partition was begun (see `user`).
    user_since: u64,
    /// The key check-ins are authenticated with instead of a signature, once the server
    /// handed one out (docs/protocol.md, section 2a).
    mac: Option<MacKey>,
    /// Check-ins left before a MAC key is asked for again, after a server older than MAC
    /// keys refused the request for one: without it every signed check-in to such a
    /// server took two round trips. Not persisted; a restart asks again at once.
    mac_ask_after: u32,
    pub(crate) stats: Option<Arc<RunStats>>,
}

/// Signed check-ins made without asking for a MAC key once a server refused the field:
/// about eighteen hours at a 17-minute interval, so a server upgraded meanwhile is asked
/// again within a day.
const MAC_ASK_EVERY: u32 = 64;

/// What [`Agent::accept_lease`] did with a lease it did not refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// Stored; it is now the held lease. `state == Released` means the device is now free
    /// for ever.
    Accepted {
        /// Its sequence number.
        sequence: u64,
        /// What it says.
        state: LeaseState,
    },
    /// It is the lease already held, byte for byte.
    AlreadyHeld {
        /// Its sequence number.
        sequence: u64,
    },
    /// Genuine, but the device is already released, which nothing undoes; not stored.
    AlreadyReleased,
}

/// What one successful [`Agent::check_in`] achieved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckInOutcome {
    /// The counter the check-in used.
    pub counter: u64,
    /// What happened to the server's lease.
    pub lease: LeaseOutcome,
    /// Enforcement right after.
    pub enforcement: Enforcement,
}

/// What [`Agent::enter_code`] did with a good code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeAccepted {
    /// What the code grants.
    pub grant: Grant,
    /// Enforcement right after.
    pub enforcement: Enforcement,
}

impl Agent {
    /// Opens (or on first start, creates) the agent in `config.data_dir`.
    ///
    /// On first start this creates the identity key and a zero counter, then records the
    /// provisioning last, so a crash half-way leaves a directory that is simply provisioned
    /// again. Later starts refuse a server key or IMEI that differs from the persisted one:
    /// re-pointing a financed phone at another server or identity must not be one flag away.
    /// A different server URL is accepted and persisted (servers move; the pinned key is
    /// what identifies the server).
    pub fn open(config: AgentConfig, clock: Arc<dyn Clock>) -> Result<Self, AgentError> {
        Provisioning::validate_url(&config.server_url)?;
        let layout = Layout::new(config.data_dir);
        prepare_dirs(&layout)?;
        let wanted = Provisioning {
            server_url: config.server_url,
            server_key: config.server_key,
            imei: config.imei,
        };
        let provisioning = match persistent::read_provisioning(&layout)? {
            Some(have) => reconcile(&layout, have, wanted)?,
            None => {
                first_start(&layout, &wanted)?;
                wanted
            }
        };
        Self::load(layout, provisioning, clock)
    }

    /// Opens an already provisioned data directory, taking server URL, key and IMEI from its
    /// persistent partition.
    pub fn open_existing(
        data_dir: impl AsRef<Path>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AgentError> {
        let layout = Layout::new(data_dir.as_ref());
        let provisioning = persistent::read_provisioning(&layout)?.ok_or_else(|| {
            AgentError::Provisioning(format!(
                "{} is not provisioned: start the agent once with server URL, server key and IMEI",
                layout.root().display()
            ))
        })?;
        prepare_dirs(&layout)?;
        Self::load(layout, provisioning, clock)
    }

    /// What a factory reset does to the agent's storage: the user partition is wiped, the
    /// persistent one (identity, counter, provisioning, release) is kept. Call it while no
    /// agent has the directory open, as a real reset happens with the agent stopped.
    pub fn factory_reset(data_dir: impl AsRef<Path>) -> Result<(), AgentError> {
        user::wipe(&Layout::new(data_dir.as_ref()))
    }

    fn load(
        layout: Layout,
        provisioning: Provisioning,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AgentError> {
        let key = persistent::read_identity(&layout)?;
        let counter = persistent::read_counter(&layout)?;
        let keyring = Keyring::load(&layout, provisioning.server_key)
            .map_err(|e| AgentError::corrupt(layout.server_keys(), e.to_string()))?;
        let verifier = Verifier {
            server_keys: keyring.trusted(),
            imei: provisioning.imei,
            device_key: key.public(),
        };
        // Before anything writes a lease: a user partition without a lease and without a
        // record was begun just now.
        let user_since = user::install_since(&layout, counter);
        let client = ServerClient::new(&provisioning.server_url)?;
        let mut released = persistent::read_released(&layout, &verifier);
        let held = user::read_lease(&layout, &verifier);
        if let Some(h) = held
            .as_ref()
            .filter(|h| h.lease.state == LeaseState::Released)
        {
            if !released {
                // The marker is written before the lease, so it can only have been lost
                // since; the signed release is right here, so repair it.
                released = true;
                if let Err(e) = persistent::write_released(&layout, &h.envelope) {
                    tracing::warn!(error = %e, "cannot repair the release marker");
                }
            }
        }
        // The injected clock stands in for the monotonic clock until `set_monotonic`: right
        // for simulations and tests, where one clock drives server and devices alike.
        let mono = Arc::new(ClockMonotonic(clock.clone()));
        let mut time = TrustedTime::load(&layout, clock, mono);
        let codes =
            Codes::load(&layout).map_err(|e| AgentError::corrupt(layout.codes(), e.to_string()))?;
        let mut tamper = Tamper::load(&layout)
            .map_err(|e| AgentError::corrupt(layout.tamper(), e.to_string()))?;
        // Clock set-backs an older agent kept as reports become tamper signals, once.
        for i in time.legacy_incidents().to_vec() {
            let at = (i.detected_at, i.detected_at);
            tamper
                .raise(&layout, TamperKind::ClockSetBack, at, i.by_ms)
                .map_err(|e| AgentError::io(layout.tamper(), e))?;
        }
        time.clear_legacy(&layout)
            .map_err(|e| AgentError::io(layout.trusted_time(), e))?;
        let platform = Arc::new(SimulatedPlatform::new(layout.platform()));
        let mac = MacKey::load(&layout);
        Ok(Self {
            layout,
            provisioning,
            key,
            verifier,
            client,
            counter,
            released,
            held,
            time,
            codes,
            codes_stamp: None,
            tamper,
            keyring,
            platform,
            user_since,
            mac,
            mac_ask_after: 0,
            stats: None,
        })
    }

    /// Reads the SIM identity and the integrity checks from `platform` (see [`Platform`]).
    /// Without it the agent reads the simulated platform's `platform.json` in its data
    /// directory.
    pub fn set_platform(&mut self, platform: Arc<dyn Platform>) {
        self.platform = platform;
    }

    /// Uses `mono` as the monotonic clock trusted time counts with (see [`Monotonic`]). A
    /// real device passes [`crate::SystemMonotonic`]; without it the agent's injected clock
    /// serves, which cannot tell a clock set back from time passing.
    pub fn set_monotonic(&mut self, mono: Arc<dyn Monotonic>) {
        self.time.set_monotonic(mono);
    }

    /// Counts what [`Agent::run_with`] does into `stats` (shared by a simulated fleet).
    pub fn set_stats(&mut self, stats: Arc<RunStats>) {
        self.stats = Some(stats);
    }

    /// Looks at the wall clock against trusted time: a clock set back becomes a tamper
    /// signal (reported at the next check-in), and the persisted floor is kept current.
    /// Returns a newly opened incident. Failing to persist is logged, since trusted time
    /// itself is unaffected while the agent runs.
    pub fn observe_time(&mut self) -> Option<ClockSetBack> {
        let seen = match self.time.observe(&self.layout) {
            Ok(seen) => seen,
            Err(e) => {
                tracing::warn!(error = %e, "cannot record trusted time");
                return None;
            }
        };
        let wall = self.time.wall_now();
        let recorded = match seen {
            Some(SetBack::Opened(i)) => {
                tracing::warn!(
                    by_ms = i.by_ms,
                    "the wall clock was set back; trusted time is unaffected"
                );
                let at = (wall, i.detected_at);
                self.tamper
                    .raise(&self.layout, TamperKind::ClockSetBack, at, i.by_ms)
                    .map(|_| ())
            }
            Some(SetBack::Grew(lag)) => {
                self.tamper
                    .bump(&self.layout, TamperKind::ClockSetBack, lag)
            }
            None => Ok(()),
        };
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "cannot record a tamper signal");
        }
        match seen {
            Some(SetBack::Opened(i)) => Some(i),
            _ => None,
        }
    }

    /// Looks for tampering: the clock ([`Agent::observe_time`]), the SIM card and the
    /// integrity checks (from the [`Platform`]), and a burst of wrong unlock codes. What it
    /// finds waits in the persistent partition for the next check-in. The run loop calls it
    /// at every wake, and [`Agent::check_in`] before each check-in.
    pub fn observe_device(&mut self) {
        self.observe_time();
        self.reload_codes();
        let at = (self.time.wall_now(), self.trusted_now());
        let sim = self.platform.sim_identity();
        let integrity = self.platform.integrity();
        let results = [
            self.tamper.observe_sim(&self.layout, sim.as_deref(), at),
            self.tamper.observe_integrity(&self.layout, integrity, at),
            self.tamper
                .observe_wrong_codes(&self.layout, self.codes.wrong_at(), at),
        ];
        for r in results {
            if let Err(e) = r {
                tracing::warn!(error = %e, "cannot record a tamper signal");
            }
        }
    }

    /// Tamper signals seen and not yet acknowledged by the server, by `seq`.
    pub fn pending_tamper_signals(&self) -> &[PendingSignal] {
        self.tamper.pending()
    }

    /// Makes the next check-in: increments the counter, persists it, and only then signs,
    /// so no crash can ever lead to a counter being used twice. Returns the signed request
    /// and its counter (the `in_reply_to` its answer must carry).
    ///
    /// With a check-in MAC key for the server key it names, the check-in is version 5,
    /// authenticated by that key; without one it is version 4, signed, and asks for one.
    pub fn build_checkin(&mut self) -> Result<(SignedCheckIn, u64), AgentError> {
        let counter = self.next_counter()?;
        let mac = self.mac_key().map(|m| m.key.clone());
        let checkin = CheckIn {
            version: if mac.is_some() {
                CheckInVersion::V5
            } else {
                CheckInVersion::V4
            },
            imei: self.provisioning.imei,
            device_key: self.key.public(),
            counter,
            device_time: self.trusted_now(),
            held_lease_seq: self.held.as_ref().map_or(0, |h| h.lease.sequence),
            // The notices of the held lease were handed to the platform to show when the
            // lease was accepted; acknowledging them is what makes them count as delivered.
            notice_ack: self.held.as_ref().map_or(0, |h| {
                h.lease.notices.iter().map(|n| n.seq).max().unwrap_or(0)
            }),
            server_key_id: Some(self.keyring.newest()),
            user_since: self.user_since,
            reports: self.reports(),
            signals: self.tamper.to_wire(),
        };
        let signed = match mac {
            Some(mac) => SignedCheckIn::seal_mac(&checkin, &mac),
            None => {
                let ask = self.mac_ask_after == 0;
                self.mac_ask_after = self.mac_ask_after.saturating_sub(1);
                SignedCheckIn {
                    want_mac_key: ask,
                    ..SignedCheckIn::seal(&checkin, &self.key)
                }
            }
        };
        Ok((signed, counter))
    }

    /// The check-in MAC key, if the device holds one for the server key its check-ins
    /// name: after a rotation it names the new key, and signs until it is given that
    /// key's.
    fn mac_key(&self) -> Option<&MacKey> {
        let named = self.keyring.newest();
        self.mac.as_ref().filter(|m| m.server_key == named)
    }

    /// Keeps the MAC key an answer carried, if it carried one this device can read: called
    /// once the answer's lease is accepted, so the key came with a lease from a trusted
    /// server key. Failing to store it only means signing again next time.
    fn take_mac_key(&mut self, envelope: &LeaseEnvelope) {
        let Some(mac) = MacKey::from_answer(envelope, &self.key, &self.keyring.trusted()) else {
            return;
        };
        if let Err(e) = mac.store(&self.layout) {
            tracing::warn!(error = %e, "cannot store the check-in MAC key");
        }
        self.mac = Some(mac);
    }

    /// What the next check-in reports: the codes taken offline (the server must know of
    /// them before its lease can supersede them), at most [`MAX_REPORTS`]; the rest wait
    /// for the following check-in. Tampering travels as signals.
    fn reports(&self) -> Vec<DeviceReport> {
        self.codes.reports(MAX_REPORTS)
    }

    /// Takes the next counter value, persisting it before anything is signed with it, so no
    /// crash can ever lead to a counter being used twice.
    fn next_counter(&mut self) -> Result<u64, AgentError> {
        let counter = self.counter.checked_add(1).ok_or_else(|| {
            AgentError::corrupt(self.layout.counter(), "check-in counter is exhausted")
        })?;
        persistent::write_counter(&self.layout, counter)?;
        self.counter = counter;
        Ok(counter)
    }

    /// Opens a dispute from the phone ("I paid: receipt ..."): signed by the identity key
    /// with the next counter (shared with check-ins). While it is open the server starts no
    /// automatic restriction.
    pub async fn open_dispute(&mut self, reason: &str) -> Result<DisputeAck, AgentError> {
        let counter = self.next_counter()?;
        let req = DisputeRequest {
            imei: self.provisioning.imei,
            device_key: self.key.public(),
            counter,
            device_time: self.trusted_now(),
            reason: reason.to_owned(),
        };
        self.client
            .post_dispute(&SignedDispute::seal(&req, &self.key))
            .await
    }

    /// Sends a signed check-in as-is and returns the server's envelope, neither verified nor
    /// stored. [`Agent::check_in`] is the normal path; this one lets a caller send a request
    /// of its choosing (a replay, for instance).
    pub async fn send_checkin(&self, checkin: &SignedCheckIn) -> Result<LeaseEnvelope, AgentError> {
        self.client.post_checkin(checkin).await
    }

    /// Takes a lease answering check-in `in_reply_to`, or says why not. Checks, in order:
    /// the signature against the pinned server key; that the lease names this device's IMEI
    /// and key; its sequence against the held lease (lower: rollback; equal: must be the same
    /// bytes, and then nothing happens); that it answers `in_reply_to` and that this is the
    /// latest check-in. Only then is it stored, atomically; a release is also recorded in the
    /// persistent partition, first, so it outlives a factory reset.
    pub fn accept_lease(
        &mut self,
        envelope: &LeaseEnvelope,
        in_reply_to: u64,
    ) -> Result<LeaseOutcome, LeaseRefusal> {
        let offered = self.verifier.verify(envelope)?;
        let sequence = offered.lease.sequence;
        if judge(self.held.as_ref(), &offered, in_reply_to, self.counter)? == Verdict::AlreadyHeld {
            return Ok(LeaseOutcome::AlreadyHeld { sequence });
        }
        if self.released {
            return Ok(LeaseOutcome::AlreadyReleased);
        }
        let state = offered.lease.state;
        if state == LeaseState::Released {
            persistent::write_released(&self.layout, &offered.envelope)
                .map_err(|e| LeaseRefusal::NotStored(e.to_string()))?;
            self.released = true;
            if let Err(e) = user::write_lease(&self.layout, &offered.envelope) {
                // The release is already durable in the persistent partition; the copy in the
                // user partition is a convenience.
                tracing::warn!(error = %e, "release recorded, but the lease file was not updated");
            }
        } else {
            user::write_lease(&self.layout, &offered.envelope)
                .map_err(|e| LeaseRefusal::NotStored(e.to_string()))?;
        }
        self.note_server_time(offered.lease.issued_at);
        // Only now, with the lease stored: a key learned from a lease that was not taken
        // would be trusted on the word of nothing the device holds.
        match self
            .keyring
            .learn(&self.layout, offered.signer, offered.lease.next_key)
        {
            Ok(true) => self.verifier.server_keys = self.keyring.trusted(),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot record the server's keys"),
        }
        if let Err(e) = self
            .codes
            .reconciled(&self.layout, offered.lease.codes_through)
        {
            // Only delays voiding codes the lease made unnecessary; the next lease retries.
            tracing::warn!(error = %e, "cannot record the lease's code counter");
        }
        self.held = Some(offered);
        self.take_mac_key(envelope);
        Ok(LeaseOutcome::Accepted { sequence, state })
    }

    /// One full check-in: look for tampering, build and persist the counter, post, verify
    /// and store the answer.
    pub async fn check_in(&mut self) -> Result<CheckInOutcome, AgentError> {
        self.observe_device();
        let mac = self.mac_key().is_some();
        let (mut signed, mut counter) = self.build_checkin()?;
        let carried = self.reports();
        let signals_through = self.tamper.to_wire().iter().map(|s| s.seq).max();
        let envelope = match self.client.post_checkin(&signed).await {
            Err(AgentError::Server {
                code: ErrorCode::BadSignature,
                ..
            }) if mac => {
                // The server no longer takes this MAC key (it retired the server key, or
                // the key was damaged on its way here): forget it and sign this check-in
                // again, under the next counter, asking for a new key.
                self.mac = None;
                if let Err(e) = MacKey::forget(&self.layout) {
                    tracing::warn!(error = %e, "cannot remove the refused check-in MAC key");
                }
                (signed, counter) = self.build_checkin()?;
                self.client.post_checkin(&signed).await?
            }
            Err(AgentError::Server { status: 422, .. }) if signed.want_mac_key => {
                // A server older than MAC keys refuses the field it does not know. It took
                // nothing from the request, so the same signed check-in goes again without
                // it, its counter still fresh.
                signed.want_mac_key = false;
                self.mac_ask_after = MAC_ASK_EVERY;
                self.client.post_checkin(&signed).await?
            }
            answer => answer?,
        };
        let lease = self.accept_lease(&envelope, counter)?;
        // The server answered this very check-in, so it has recorded what it carried, and
        // its lease was cut knowing about every code reported: that lease now rules.
        if let Some(seq) = signals_through {
            if let Err(e) = self.tamper.acknowledged(&self.layout, seq) {
                tracing::warn!(error = %e, "cannot record that tamper signals were delivered");
            }
        }
        let codes_through = carried
            .iter()
            .filter(|r| r.kind == ReportKind::CodeRedeemed)
            .filter_map(|r| u32::try_from(r.value).ok())
            .max()
            .unwrap_or(0);
        if let Err(e) = self.codes.reconciled(&self.layout, codes_through) {
            tracing::warn!(error = %e, "cannot record that codes were reconciled");
        }
        Ok(CheckInOutcome {
            counter,
            lease,
            enforcement: self.enforcement(),
        })
    }

    /// What the device must do now, judged at [`Agent::trusted_now`].
    /// An unlock code's grant, while one is in force, loosens it (see [`with_grant`]).
    pub fn enforcement(&self) -> Enforcement {
        let now = self.trusted_now();
        let held = self.held.as_ref().map(|h| &h.lease);
        with_grant(
            decide(self.released, held, now),
            self.codes.grant(now),
            held,
            now,
        )
    }

    /// Takes an unlock code the borrower typed (from a payment receipt, or read out by the
    /// lender's support), offline. A good code extends or unlocks the phone until its date
    /// at once and is reported to the server at the next check-in, whose lease then rules.
    ///
    /// A wrong code (well formed, not this phone's) starts a wait of 1 minute, doubling
    /// with each further wrong code up to 512 minutes; during the wait nothing is checked.
    /// The count and the wait are persisted, so a restart does not clear them, and a
    /// reboot restarts the wait in full. A typo caught by the check digit, or a code
    /// already used, costs nothing.
    pub fn enter_code(&mut self, text: &str) -> Result<CodeAccepted, CodeRefusal> {
        if self.released {
            return Err(CodeRefusal::Released);
        }
        self.reload_codes();
        let stored = |e: std::io::Error| CodeRefusal::NotStored(e.to_string());
        if let Some(retry_in) = self
            .codes
            .lockout_left(&self.layout, self.time.mono())
            .map_err(stored)?
        {
            return Err(CodeRefusal::LockedOut { retry_in });
        }
        let device_id = self
            .held
            .as_ref()
            .map(|h| h.lease.device_id)
            .or_else(|| self.codes.device_id())
            .ok_or(CodeRefusal::NotEnrolled)?;
        // A code's key comes from the server key: one per key trusted, since during a
        // rotation the server may mint with the key the phone has only just learned.
        let keys: Vec<CodeKey> = self
            .keyring
            .trusted()
            .iter()
            .filter_map(|k| self.key.agree_with_server(k))
            .map(|shared| CodeKey::agreed(&shared, &device_id))
            .collect();
        if keys.is_empty() {
            return Err(CodeRefusal::NotEnrolled);
        }
        let now = self.trusted_now();
        match self
            .codes
            .redeem(&self.layout, text, &keys, device_id, now)?
        {
            Ok(grant) => {
                tracing::info!(counter = grant.counter, until = ?grant.until, "unlock code taken");
                Ok(CodeAccepted {
                    grant,
                    enforcement: self.enforcement(),
                })
            }
            Err(e) if e.counts_toward_lockout() => {
                let retry_in = self
                    .codes
                    .wrong(&self.layout, self.time.mono(), now)
                    .map_err(stored)?;
                tracing::warn!(retry_in_s = retry_in.as_secs(), "wrong unlock code");
                Err(CodeRefusal::Wrong { retry_in })
            }
            Err(e) => Err(CodeRefusal::Invalid(e)),
        }
    }

    /// Re-reads the code file, which another process (the lock screen, `lienlock agent
    /// enter-code`) may have written. A file that cannot be read keeps what was loaded.
    ///
    /// Read only when its modification time or size changed: the run loop calls this at
    /// every wake, and a simulated fleet has thousands of agents in one process.
    pub fn reload_codes(&mut self) {
        let stamp = std::fs::metadata(self.layout.codes())
            .ok()
            .map(|m| (m.modified().ok(), m.len()));
        if stamp == self.codes_stamp {
            return;
        }
        match Codes::load(&self.layout) {
            Ok(codes) => {
                self.codes = codes;
                self.codes_stamp = stamp;
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the unlock code file"),
        }
    }

    /// The time decisions are made at: server time at the last accepted lease plus the
    /// monotonic time elapsed since (see `trusted`), never earlier than the highest trusted
    /// time handed out before nor than the held lease's `issued_at`. Setting the wall clock
    /// back therefore cannot stretch a lease; after a reboot, when the elapsed time is lost,
    /// the wall clock is used but held to the persisted floor.
    pub fn trusted_now(&self) -> Timestamp {
        let mut now = self.time.now();
        if let Some(h) = &self.held {
            now = now.max(h.lease.issued_at);
        }
        now
    }

    /// The lease currently held, if any.
    pub fn held_lease(&self) -> Option<&Lease> {
        self.held.as_ref().map(|h| &h.lease)
    }

    /// Whether a release was accepted (ever, across factory resets).
    pub fn is_released(&self) -> bool {
        self.released
    }

    /// The last check-in counter used (0 before the first check-in).
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// The device's public identity key.
    pub fn device_public_key(&self) -> [u8; 32] {
        self.key.public()
    }

    /// The enrolled IMEI.
    pub fn imei(&self) -> Imei {
        self.provisioning.imei
    }

    /// The server key the device trusts now: the provisioned one, or the one a rotation
    /// moved it to.
    pub fn server_key(&self) -> ServerPublicKey {
        self.keyring.current()
    }

    /// Every server key trusted now: the current one and, while a rotation is announced,
    /// the next.
    pub fn trusted_server_keys(&self) -> Vec<ServerPublicKey> {
        self.keyring.trusted()
    }

    /// The check-in counter used when the user partition was begun: 0 unless the phone
    /// was factory reset since it first checked in.
    pub fn user_since(&self) -> u64 {
        self.user_since
    }

    /// The server base URL.
    pub fn server_url(&self) -> &str {
        &self.provisioning.server_url
    }

    /// Where each file lives.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Anchors trusted time to a fresh server time. Failing to persist it only loses what
    /// the held lease's `issued_at` provides anyway, so it is logged, not fatal.
    fn note_server_time(&mut self, t: Timestamp) {
        if let Err(e) = self.time.anchor(&self.layout, t) {
            tracing::warn!(error = %e, "cannot record the time anchor");
        }
    }
}

/// Creates both partitions if needed and sweeps temporary files a crash left behind.
fn prepare_dirs(layout: &Layout) -> Result<(), AgentError> {
    for dir in [layout.persistent_dir(), layout.user_dir()] {
        atomic::create_dir(&dir).map_err(|e| AgentError::io(&dir, e))?;
        atomic::remove_stale_temps(&dir).map_err(|e| AgentError::io(&dir, e))?;
    }
    Ok(())
}

fn first_start(layout: &Layout, p: &Provisioning) -> Result<(), AgentError> {
    persistent::write_identity(layout, &DeviceKey::generate())?;
    persistent::write_counter(layout, 0)?;
    persistent::write_provisioning(layout, p)
}

fn reconcile(
    layout: &Layout,
    have: Provisioning,
    wanted: Provisioning,
) -> Result<Provisioning, AgentError> {
    // A key the device moved to by a rotation is as good as the provisioned one; it stays
    // the provisioning record's key either way.
    let rotated_to = Keyring::load(layout, have.server_key)
        .map(|k| k.trusts(&wanted.server_key))
        .unwrap_or(false);
    if have.server_key != wanted.server_key && !rotated_to {
        return Err(AgentError::Provisioning(format!(
            "this device is pinned to server key {}, not {}",
            have.server_key.to_hex(),
            wanted.server_key.to_hex()
        )));
    }
    if have.imei != wanted.imei {
        return Err(AgentError::Provisioning(format!(
            "this device was provisioned with IMEI {}, not {}",
            have.imei, wanted.imei
        )));
    }
    let wanted = Provisioning {
        server_key: have.server_key,
        ..wanted
    };
    if have.server_url != wanted.server_url {
        persistent::write_provisioning(layout, &wanted)?;
    }
    Ok(wanted)
}
