//! A device checking in: verify, bind or check its key, refuse replays, answer with a lease.

use super::{lease, retry_stale, Service, ServiceError};
use lienlock_domain::policy::{TamperAction, TamperKind};
use lienlock_domain::{ComplianceProfile, DeviceState, EventKind, KeyStatus, Timestamp};
use lienlock_store::{
    Actor, ContractRecord, Device, DeviceWrite, Lender, TamperRecord, TimelineEvent,
};
use lienlock_wire::{
    CheckIn, LeaseEnvelope, LeaseNotice, ReportKind, SignedCheckIn, UnverifiedCheckIn, WireError,
    MAX_NOTICES,
};

/// The highest lease sequence a phone's word can move the server's to: storage keeps
/// counters as `i64`, and one more must still fit.
const MAX_LEASE_SEQ: u64 = i64::MAX as u64 - 1;

/// How the presented key relates to the enrollment, and what to do about it.
enum KeyMatch {
    /// First registration: bind it.
    Register,
    /// The bound key.
    Bound,
    /// The key already awaiting approval.
    Pending,
    /// A key the server has not seen for this device: hold it for approval.
    New,
    /// A released device answering a key it will never bind.
    Unbound,
    /// The key an approval replaced: its old check-ins are replays; a fresh one is a phone
    /// the lender stopped trusting, held for approval like any new key.
    Retired,
}

fn classify(device: &Device, key: &[u8; 32]) -> KeyMatch {
    match device.key_status {
        KeyStatus::Unregistered => KeyMatch::Register,
        _ if device.device_key.as_ref() == Some(key) => KeyMatch::Bound,
        _ if device.pending_key.as_ref() == Some(key) => KeyMatch::Pending,
        _ if device.retired_key.as_ref() == Some(key) => KeyMatch::Retired,
        _ => KeyMatch::New,
    }
}

/// Timeline entries carry server time: the device's own clock is only a claim.
/// A phone whose policy level fell to none since its last check-in is being served its
/// first clear lease: the time since that change is how long a curing payment took to
/// reach the phone (push makes it seconds; polling, up to a check-in interval). Read off
/// the device row this check-in has anyway, so it costs no query.
fn observe_unlock_delivery(device: &Device, now: Timestamp) {
    let cleared = device.state == DeviceState::Active
        && device.policy_level == lienlock_domain::RestrictionLevel::None;
    let since_last = device
        .last_seen_at
        .is_some_and(|seen| seen < device.policy_level_since);
    if cleared && since_last {
        let ms = now
            .as_millis()
            .saturating_sub(device.policy_level_since.as_millis());
        metrics::histogram!(crate::telemetry::UNLOCK_DELIVERY).record(ms as f64 / 1000.0);
    }
}

fn event(device: &Device, at: Timestamp, kind: EventKind, detail: String) -> TimelineEvent {
    let mut e = TimelineEvent::new(device, at, kind, Actor::Device);
    e.detail = Some(detail);
    e
}

impl Service {
    /// Handles `POST /device/v1/checkin`. Every answer is counted, by outcome and by how
    /// the check-in was authenticated.
    pub async fn check_in(&self, signed: &SignedCheckIn) -> Result<LeaseEnvelope, ServiceError> {
        let (auth, result) = match signed.decode() {
            Err(e) => ("unreadable", Err(ServiceError::BadDeviceMessage(e))),
            Ok(unverified) => {
                let auth = if unverified.is_mac() {
                    "mac"
                } else {
                    "signature"
                };
                (auth, self.check_in_decoded(signed, unverified).await)
            }
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(ServiceError::Store(lienlock_store::StoreError::Unavailable(_))) => "unavailable",
            Err(_) => "refused",
        };
        metrics::counter!(crate::telemetry::CHECKINS, "outcome" => outcome, "auth" => auth)
            .increment(1);
        result
    }

    async fn check_in_decoded(
        &self,
        signed: &SignedCheckIn,
        unverified: UnverifiedCheckIn,
    ) -> Result<LeaseEnvelope, ServiceError> {
        let verified = if unverified.is_mac() {
            // An HMAC under a key derived from the server key the check-in names: a
            // fraction of a microsecond, checked here rather than queued for the verifying
            // thread (docs/protocol.md, section 2a).
            unverified.verify_mac(&self.signer)
        } else {
            self.verifier.verify(unverified).await
        };
        let checkin = verified.map_err(|e| match e {
            WireError::BadSignature => ServiceError::BadSignature,
            other => ServiceError::BadDeviceMessage(other),
        })?;
        // Storage keeps counters as signed 64-bit integers; a larger one is not a counter a
        // genuine agent (which counts up from 1) will ever send.
        if i64::try_from(checkin.counter).is_err() {
            return Err(ServiceError::BadDeviceMessage(WireError::Invalid {
                field: "counter",
                why: "above 2^63 - 1".into(),
            }));
        }
        self.reconcile_codes(&checkin).await?;
        self.record_tamper(&checkin).await?;
        let mut envelope = retry_stale(|| self.check_in_once(&checkin)).await?;
        // Asked for with a signed check-in (one that proved it holds the device key): the
        // key its next check-ins can be authenticated with instead, wrapped for it alone.
        if signed.want_mac_key && !checkin.version.is_mac() {
            envelope.mac_key = self
                .signer
                .wrapped_mac_key(checkin.server_key_id, &checkin.device_key)
                .map(|w| lienlock_wire::codec::b64(&w));
            if envelope.mac_key.is_some() {
                metrics::counter!(crate::telemetry::CHECKIN_MAC_KEYS).increment(1);
            }
        }
        Ok(envelope)
    }

    /// Tamper signals: the ones the device carried, and a factory reset the server sees
    /// itself (a user partition begun after the key had checked in, `user_since > 0`).
    /// Each goes on the timeline once, however often the device repeats it (the store
    /// skips a `(key, kind, seq)` it has), and a new one wakes the contract and has it
    /// evaluated before the lease is cut: the lender's tamper policy lives in the policy
    /// engine, which may queue a tamper notice this very lease carries. Only the bound
    /// key's fresh check-ins (or the registering key's) count, as for tamper reports.
    async fn record_tamper(&self, checkin: &CheckIn) -> Result<(), ServiceError> {
        if checkin.signals.is_empty() && checkin.user_since == 0 {
            return Ok(());
        }
        let Some(device) = self.store.device_for_checkin(&checkin.imei).await? else {
            return Ok(());
        };
        // The bound key with a fresh counter, or the key about to register (its signals
        // from before its first check-in count too; a reset before then does not: the
        // storage it would say was lost belonged to no enrollment here).
        let bound = device.key_status == KeyStatus::Bound
            && device.device_key == Some(checkin.device_key)
            && checkin.counter > device.last_counter;
        let registering = device.key_status == KeyStatus::Unregistered;
        if !(bound || registering) || device.state == DeviceState::Released {
            return Ok(());
        }
        let Some(lender) = self.store.lender_by_id(device.lender_id).await? else {
            return Ok(());
        };
        let now = self.clock.now();
        let signals = tamper_records(&device, checkin, bound, now)
            .into_iter()
            .map(|r| {
                let detail = tamper_text(&r, tamper_action(&lender, r.kind));
                (r, event(&device, now, EventKind::Tamper, detail))
            })
            .collect::<Vec<_>>();
        let new = self.store.record_tamper_unscoped(&signals, now).await?;
        if new == 0 {
            return Ok(());
        }
        tracing::info!(device = %device.id, new, "tamper signals recorded");
        if let Some(contract) = self.store.active_contract_unscoped(device.id).await? {
            self.evaluate_contract(contract.id).await?;
        }
        Ok(())
    }

    /// Codes the device took offline: marked redeemed (once; a repeated report finds
    /// nothing left to mark), put on the timeline, and the contract evaluated before the
    /// lease is cut, because the device lets that lease supersede the codes' grants. Only
    /// the bound key's fresh check-ins count; anything else is left to the normal path,
    /// which refuses or holds it.
    async fn reconcile_codes(&self, checkin: &CheckIn) -> Result<(), ServiceError> {
        let counters: Vec<u32> = checkin
            .reports
            .iter()
            .filter(|r| r.kind == ReportKind::CodeRedeemed)
            .filter_map(|r| u32::try_from(r.value).ok())
            .collect();
        if counters.is_empty() {
            return Ok(());
        }
        let Some(device) = self.store.device_for_checkin(&checkin.imei).await? else {
            return Ok(());
        };
        let own = device.key_status == KeyStatus::Bound
            && device.device_key == Some(checkin.device_key)
            && checkin.counter > device.last_counter;
        if !own {
            return Ok(());
        }
        let now = self.clock.now();
        let events = self.redeem_reported(&device, &counters, now).await?;
        if !events.is_empty() {
            self.store.append_events(&events).await?;
        }
        if let Some(contract) = self.store.active_contract_unscoped(device.id).await? {
            self.evaluate_contract(contract.id).await?;
        }
        Ok(())
    }

    async fn check_in_once(&self, checkin: &CheckIn) -> Result<LeaseEnvelope, ServiceError> {
        // One read for all of it (device, lender, codes, pending commands): see
        // `Store::checkin_view` for why the code counter read with the device is safe.
        let lienlock_store::CheckinView {
            mut device,
            lender,
            codes_through,
            pending_commands: pending,
            undelivered_from,
        } = self
            .store
            .checkin_view(&checkin.imei)
            .await?
            .ok_or(ServiceError::UnknownDevice)?;
        let now = self.clock.now();
        let key = checkin.device_key;
        let mut events = Vec::new();
        let short_key = hex::encode(&key[..8]);
        let mut key_match = classify(&device, &key);
        if device.state == DeviceState::Released {
            if let KeyMatch::New | KeyMatch::Register | KeyMatch::Retired = key_match {
                // A released phone is no one's collateral: whatever key asks learns it is
                // free, and no key binding changes (nor timeline noise) follow.
                key_match = KeyMatch::Unbound;
            }
        }
        match key_match {
            KeyMatch::Unbound => {}
            KeyMatch::Register => {
                device.device_key = Some(key);
                device.key_status = KeyStatus::Bound;
                device.last_counter = checkin.counter;
                events.push(event(
                    &device,
                    now,
                    EventKind::KeyRegistered,
                    format!("key {short_key}…"),
                ));
            }
            KeyMatch::Bound => {
                self.refuse_replay(&device, checkin, device.last_counter)
                    .await?;
                device.last_counter = checkin.counter;
            }
            KeyMatch::Pending => {
                self.refuse_replay(&device, checkin, device.pending_counter)
                    .await?;
                device.pending_counter = checkin.counter;
            }
            KeyMatch::Retired => {
                self.refuse_replay(&device, checkin, device.retired_counter)
                    .await?;
                device.retired_counter = checkin.counter;
                Self::hold_new_key(&mut device, checkin, now, &mut events);
            }
            KeyMatch::New => Self::hold_new_key(&mut device, checkin, now, &mut events),
        }
        // Scheduled commands that came due are applied before the lease is cut, so a device
        // checking in at the scheduled moment does not wait for the scheduler's next tick.
        let (resolved, due_events) = super::resolve_due(&mut device, &pending, now);
        events.extend(due_events);
        let (notices_delivered, contract) = self
            .acknowledge_notices(&device, checkin, undelivered_from, now, &mut events)
            .await?;
        // Only the device's own key speaks for the device: reports from a key awaiting
        // approval (or from a released phone) are not put on the lender's timeline.
        if matches!(key_match, KeyMatch::Bound | KeyMatch::Register) {
            events.extend(
                checkin
                    .reports
                    .iter()
                    .filter(|r| r.kind.is_tamper())
                    .map(|t| event(&device, now, EventKind::TamperReported, tamper_detail(t))),
            );
        }
        // A phone never takes a lease numbered at or below the one it holds. After the
        // server's database is restored from a backup, its sequence can be behind the
        // phone's; the device's own bound key vouches for what it holds, so the next lease
        // is numbered past it (kept within what storage holds) rather than refused until the
        // count catches up.
        if matches!(key_match, KeyMatch::Bound | KeyMatch::Register)
            && checkin.held_lease_seq < MAX_LEASE_SEQ
        {
            device.lease_seq = device.lease_seq.max(checkin.held_lease_seq);
        }
        device.lease_seq += 1;
        observe_unlock_delivery(&device, now);
        device.last_seen_at = Some(now);
        device.updated_at = now;
        let write = DeviceWrite {
            resolved_commands: resolved,
            events,
            notices_delivered,
            contract,
            ..DeviceWrite::new(device.clone())
        };
        self.checkin_writes.save(write).await?;
        // Every notice queued so far is numbered at most `notice_seq` (queuing one bumps
        // it, and the row's version with it, so one queued since the read made the write
        // above stale). A device that has acknowledged them all, or one with none
        // undelivered when it was read, has none waiting: the common check-in skips this
        // read.
        let notices = if checkin.notice_ack >= device.notice_seq || undelivered_from.is_none() {
            Vec::new()
        } else {
            self.store
                .device_undelivered_notices(device.id, MAX_NOTICES as u32)
                .await?
                .into_iter()
                .map(|n| LeaseNotice {
                    seq: n.seq,
                    kind: n.kind,
                    message: n.message,
                })
                .collect()
        };
        let (lease, key) = lease::build(
            &self.signer,
            &self.settings,
            &lender,
            &device,
            checkin,
            lease::Owed {
                notices,
                codes_through,
            },
            now,
        );
        // Signed only now, after the write: a sequence is never issued twice.
        if checkin.version.takes_batch_signatures() {
            Ok(self.lease_signer.sign(lease, key).await?)
        } else {
            Ok(lease.sign(key))
        }
    }

    /// Marks the notices the device says it has shown as delivered, and wakes its contract
    /// so the policy engine counts notice periods from this moment. Returns what the
    /// device write must carry. `undelivered_from` is the lowest notice not yet delivered
    /// when the device was read ([`lienlock_store::CheckinView`]).
    async fn acknowledge_notices(
        &self,
        device: &Device,
        checkin: &CheckIn,
        undelivered_from: Option<u64>,
        now: Timestamp,
        events: &mut Vec<TimelineEvent>,
    ) -> Result<(Option<(u64, Timestamp)>, Option<ContractRecord>), ServiceError> {
        // A device can only acknowledge what was queued for it.
        let ack = checkin.notice_ack.min(device.notice_seq);
        if ack == 0 || device.key_status != KeyStatus::Bound {
            return Ok((None, None));
        }
        // A phone repeats its acknowledgement at every check-in after showing its notices:
        // when nothing at or below it is undelivered, there is nothing to mark or read.
        if undelivered_from.is_none_or(|first| first > ack) {
            return Ok((None, None));
        }
        let newly: Vec<u64> = self
            .store
            .device_undelivered_notices(device.id, MAX_NOTICES as u32)
            .await?
            .iter()
            .filter(|n| n.seq <= ack)
            .map(|n| n.seq)
            .collect();
        if newly.is_empty() {
            return Ok((None, None));
        }
        let seqs: Vec<String> = newly.iter().map(u64::to_string).collect();
        events.push(event(
            device,
            now,
            EventKind::NoticeDelivered,
            format!("the device showed notice {}", seqs.join(", ")),
        ));
        let contract = self
            .store
            .active_contract_unscoped(device.id)
            .await?
            .map(|mut c| {
                c.next_evaluation_at = Some(now);
                c
            });
        Ok((Some((ack, now)), contract))
    }

    /// Holds a key the server does not trust for the lender's approval: the device gets
    /// locked leases until then.
    fn hold_new_key(
        device: &mut Device,
        checkin: &CheckIn,
        now: Timestamp,
        events: &mut Vec<TimelineEvent>,
    ) {
        device.pending_key = Some(checkin.device_key);
        device.pending_counter = checkin.counter;
        device.key_status = KeyStatus::ChangePending;
        events.push(event(
            device,
            now,
            EventKind::KeyChangeRequested,
            format!(
                "new key {}… awaits the lender's approval",
                hex::encode(&checkin.device_key[..8])
            ),
        ));
    }

    /// Refuses a counter that is not above `last`, recording the attempt on the timeline:
    /// the signature proves the device's key made it, so it is worth the lender's attention
    /// (a replayed request, or a restored backup of the phone).
    async fn refuse_replay(
        &self,
        device: &Device,
        checkin: &CheckIn,
        last: u64,
    ) -> Result<(), ServiceError> {
        if checkin.counter > last {
            return Ok(());
        }
        let e = event(
            device,
            self.clock.now(),
            EventKind::ReplayRefused,
            format!("counter {} is not above {last}", checkin.counter),
        );
        self.store.append_events(&[e]).await?;
        Err(ServiceError::Replay {
            counter: checkin.counter,
            last,
        })
    }
}

/// The tamper records a check-in from `device`'s key carries: its signals, and, from the
/// bound key (`with_reset`), a factory reset when its user partition began after the key's
/// first check-in.
fn tamper_records(
    device: &Device,
    checkin: &CheckIn,
    with_reset: bool,
    now: Timestamp,
) -> Vec<TamperRecord> {
    let record = |kind, seq: i64, wall, trusted, value| TamperRecord {
        lender_id: device.lender_id,
        device_id: device.id,
        device_key: checkin.device_key,
        kind,
        seq,
        seen_wall: wall,
        seen_trusted: trusted,
        value,
        recorded_at: now,
    };
    let mut out: Vec<TamperRecord> = checkin
        .signals
        .iter()
        .map(|s| {
            let seq = i64::from(s.seq);
            record(s.kind, seq, s.seen_wall, s.seen_trusted, s.value)
        })
        .collect();
    // The counter a reset partition began at identifies the reset: the same one is seen at
    // every check-in until the next reset. (A counter above 2^63 - 1 is refused earlier.)
    if let Ok(since) = i64::try_from(checkin.user_since) {
        if since > 0 && with_reset {
            let t = checkin.device_time;
            out.push(record(TamperKind::FactoryReset, since, t, t, since));
        }
    }
    out
}

/// What the lender's policy does about `kind`: its settings, else its profile's defaults.
fn tamper_action(lender: &Lender, kind: TamperKind) -> TamperAction {
    let settings = match (
        &lender.policy,
        ComplianceProfile::by_name(&lender.compliance_profile),
    ) {
        (Some(p), _) => *p,
        (None, Ok(profile)) => profile.defaults,
        (None, Err(_)) => return TamperAction::Notify,
    };
    settings.tamper.action(kind)
}

/// "sim_changed: the SIM card is not the one the phone was first seen with (first seen
/// 2026-01-01T00:00:00Z by the phone's clock); lender policy: notify". The kind comes
/// first, so it can be searched and filtered on.
fn tamper_text(r: &TamperRecord, action: TamperAction) -> String {
    let when = |t: Timestamp| {
        jiff::Timestamp::from_millisecond(t.as_millis())
            .map(|ts| ts.to_string())
            .unwrap_or_else(|_| t.to_string())
    };
    let what = match r.kind {
        TamperKind::SimChanged => {
            "the SIM card is not the one the phone was first seen with".to_owned()
        }
        TamperKind::ClockSetBack => {
            let minutes = r.value.max(0) / 60_000;
            format!(
                "the phone's clock was set back by {} h {} min; its leases run on trusted time, \
                 so this gained it nothing",
                minutes / 60,
                minutes % 60
            )
        }
        TamperKind::DebugOrRoot => match r.value {
            1 => "the phone reports it is rooted".to_owned(),
            2 => "the phone reports a debugger attached".to_owned(),
            _ => "the phone reports it is rooted and a debugger attached".to_owned(),
        },
        TamperKind::WrongCodes => format!(
            "{} wrong unlock codes were typed on the phone within a day",
            r.value
        ),
        TamperKind::FactoryReset => format!(
            "the phone was factory reset (its storage began again after check-in {}); it \
             kept its identity key",
            r.seq
        ),
    };
    let seen = match r.kind {
        TamperKind::FactoryReset => String::new(),
        _ => format!(
            " (first seen {} by the phone's clock, {} by its trusted time)",
            when(r.seen_wall),
            when(r.seen_trusted)
        ),
    };
    let policy = match action {
        TamperAction::Notify => "notify",
        TamperAction::Restrict => "restrict",
    };
    format!("{}: {what}{seen}; lender policy: {policy}", r.kind.as_str())
}

/// "the phone's clock was set back by 2 h 0 min (seen at device time 1767225000000 ms)".
fn tamper_detail(t: &lienlock_wire::DeviceReport) -> String {
    match t.kind {
        ReportKind::CodeRedeemed => {
            format!("the phone took code {} at device time {}", t.value, t.at)
        }
        ReportKind::ClockSetBack => {
            let minutes = t.value.max(0) / 60_000;
            format!(
                "the phone's clock was set back by {} h {} min (seen at device time {}); \
                 its leases run on trusted time, so this gained it nothing",
                minutes / 60,
                minutes % 60,
                t.at
            )
        }
    }
}
