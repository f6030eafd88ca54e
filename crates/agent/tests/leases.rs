//! Which leases the agent takes, and what it enforces with them.

mod common;

use common::{lock_screen, other_imei, reminder, Fixture, HOUR_MS, T0};
use lienlock_agent::{Enforcement, LeaseOutcome, LeaseRefusal, LockReason};
use lienlock_domain::{LeaseState, RestrictionProfile};
use lienlock_wire::{LeaseEnvelope, ServerKey, UnsignedLease, WireError};

fn flip_signature_bit(env: &LeaseEnvelope) -> LeaseEnvelope {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut sig = engine.decode(&env.signature).unwrap();
    sig[10] ^= 0x01;
    LeaseEnvelope {
        signature: engine.encode(sig),
        ..env.clone()
    }
}

#[test]
fn accepts_a_fresh_lease_and_ignores_the_unsigned_view() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (mut env, counter) = f.answer(&mut agent, 1, LeaseState::Active);
    // The readable copy says "released"; only the signed bytes count.
    if let Some(view) = env.view.as_mut() {
        view.state = LeaseState::Released;
    }
    assert_eq!(
        agent.accept_lease(&env, counter),
        Ok(LeaseOutcome::Accepted {
            sequence: 1,
            state: LeaseState::Active
        })
    );
    assert!(matches!(agent.enforcement(), Enforcement::Run { .. }));
}

#[test]
fn tampered_signature_is_refused() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (env, counter) = f.answer(&mut agent, 1, LeaseState::Active);
    assert_eq!(
        agent.accept_lease(&flip_signature_bit(&env), counter),
        Err(LeaseRefusal::BadEnvelope(WireError::BadSignature))
    );
    assert!(agent.held_lease().is_none());
}

/// A lease signed in a batch is taken, and kept with its path; another lease of the same
/// batch offered under that path is refused.
#[test]
fn a_lease_signed_in_a_batch_is_taken_and_kept_and_no_other_passes_with_its_path() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (_, counter) = agent.build_checkin().unwrap();
    let own = f.lease(&agent, 1, LeaseState::Active, counter);
    let mut other = own.clone();
    other.state = LeaseState::Released;
    let batch = lienlock_wire::sign_batch(
        vec![UnsignedLease::new(&other), UnsignedLease::new(&own)],
        &f.server,
    );
    // The released lease under this lease's path: refused, nothing stored.
    let forged = LeaseEnvelope {
        lease: batch[0].lease.clone(),
        ..batch[1].clone()
    };
    assert_eq!(
        agent.accept_lease(&forged, counter),
        Err(LeaseRefusal::BadEnvelope(WireError::BadSignature))
    );
    assert!(agent.held_lease().is_none());
    assert_eq!(
        agent.accept_lease(&batch[1], counter),
        Ok(LeaseOutcome::Accepted {
            sequence: 1,
            state: LeaseState::Active
        })
    );
    // Stored with its path, and verified again from disk.
    drop(agent);
    let agent = f.reopen();
    assert_eq!(agent.held_lease().map(|l| l.sequence), Some(1));
    assert!(matches!(agent.enforcement(), Enforcement::Run { .. }));
}

#[test]
fn lease_from_another_server_key_is_refused() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (_, counter) = agent.build_checkin().unwrap();
    let rogue = ServerKey::generate();
    let mut lease = f.lease(&agent, 1, LeaseState::Active, counter);
    lease.key_id = rogue.id();
    let env = LeaseEnvelope::seal(&lease, &rogue);
    assert_eq!(
        agent.accept_lease(&env, counter),
        Err(LeaseRefusal::BadEnvelope(WireError::BadSignature))
    );
    // Even naming our key's id does not help a rogue signer.
    lease.key_id = f.server.id();
    let env = LeaseEnvelope::seal(&lease, &rogue);
    assert!(matches!(
        agent.accept_lease(&env, counter),
        Err(LeaseRefusal::BadEnvelope(_))
    ));
}

#[test]
fn another_devices_lease_is_refused() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (_, counter) = agent.build_checkin().unwrap();

    let mut lease = f.lease(&agent, 1, LeaseState::Active, counter);
    lease.imei = other_imei();
    assert_eq!(
        agent.accept_lease(&f.seal(&lease), counter),
        Err(LeaseRefusal::OtherDevice { field: "imei" })
    );

    let mut lease = f.lease(&agent, 1, LeaseState::Active, counter);
    lease.device_key = lienlock_wire::DeviceKey::generate().public();
    assert_eq!(
        agent.accept_lease(&f.seal(&lease), counter),
        Err(LeaseRefusal::OtherDevice {
            field: "device_key"
        })
    );
}

#[test]
fn lower_sequence_is_a_rollback() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (old, old_counter) = f.answer(&mut agent, 4, LeaseState::Locked);
    let (new, counter) = f.answer(&mut agent, 5, LeaseState::Active);
    agent.accept_lease(&new, counter).unwrap();
    assert_eq!(
        agent.accept_lease(&old, old_counter),
        Err(LeaseRefusal::RolledBack { held: 5, got: 4 })
    );
    // Even answering the latest request, a lower sequence stays refused.
    let (_, latest) = agent.build_checkin().unwrap();
    let lower = f.seal(&f.lease(&agent, 3, LeaseState::Active, latest));
    assert_eq!(
        agent.accept_lease(&lower, latest),
        Err(LeaseRefusal::RolledBack { held: 5, got: 3 })
    );
    assert_eq!(agent.held_lease().unwrap().sequence, 5);
}

#[test]
fn same_sequence_is_a_no_op_if_identical_and_refused_otherwise() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (env, counter) = f.answer(&mut agent, 6, LeaseState::Active);
    agent.accept_lease(&env, counter).unwrap();
    assert_eq!(
        agent.accept_lease(&env, counter),
        Ok(LeaseOutcome::AlreadyHeld { sequence: 6 })
    );

    let (_, latest) = agent.build_checkin().unwrap();
    let twin = f.seal(&f.lease(&agent, 6, LeaseState::Locked, latest));
    assert_eq!(
        agent.accept_lease(&twin, latest),
        Err(LeaseRefusal::Conflicting { sequence: 6 })
    );
    assert!(matches!(agent.enforcement(), Enforcement::Run { .. }));
}

#[test]
fn lease_must_answer_the_latest_checkin() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (_, counter) = agent.build_checkin().unwrap();

    // Answers some other request.
    let env = f.seal(&f.lease(&agent, 1, LeaseState::Active, counter + 7));
    assert_eq!(
        agent.accept_lease(&env, counter),
        Err(LeaseRefusal::NotAReply {
            expected: counter,
            got: counter + 7
        })
    );

    // Answers the request it is offered for, but a newer request has been made since.
    let env = f.seal(&f.lease(&agent, 1, LeaseState::Active, counter));
    let (_, newer) = agent.build_checkin().unwrap();
    assert_eq!(
        agent.accept_lease(&env, counter),
        Err(LeaseRefusal::NotAReply {
            expected: newer,
            got: counter
        })
    );
    assert!(agent.held_lease().is_none());
}

#[test]
fn captured_old_lease_cannot_be_replayed_after_a_factory_reset() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (active, active_counter) = f.answer(&mut agent, 1, LeaseState::Active);
    agent.accept_lease(&active, active_counter).unwrap();
    let (locked, counter) = f.answer(&mut agent, 2, LeaseState::Locked);
    agent.accept_lease(&locked, counter).unwrap();
    drop(agent);

    lienlock_agent::Agent::factory_reset(f.data()).unwrap();
    let mut agent = f.reopen();
    // The reset device no longer knows it held sequence 2, but the counter remembers.
    assert_eq!(
        agent.accept_lease(&active, active_counter),
        Err(LeaseRefusal::NotAReply {
            expected: counter,
            got: active_counter
        })
    );
    let (_, fresh) = agent.build_checkin().unwrap();
    assert!(matches!(
        agent.accept_lease(&active, fresh),
        Err(LeaseRefusal::NotAReply { .. })
    ));
    assert!(matches!(
        agent.enforcement(),
        Enforcement::Locked {
            why: LockReason::NoLease,
            ..
        }
    ));
}

#[test]
fn refused_leases_leave_nothing_on_disk() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (env, counter) = f.answer(&mut agent, 1, LeaseState::Active);
    let _ = agent.accept_lease(&flip_signature_bit(&env), counter);
    let _ = agent.accept_lease(&env, counter + 1);
    assert!(!agent.layout().lease().exists());
    assert!(f.reopen().held_lease().is_none());
}

#[test]
fn release_is_final() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (env, counter) = f.answer(&mut agent, 3, LeaseState::Released);
    assert_eq!(
        agent.accept_lease(&env, counter),
        Ok(LeaseOutcome::Accepted {
            sequence: 3,
            state: LeaseState::Released
        })
    );
    let (locked, counter) = f.answer(&mut agent, 4, LeaseState::Locked);
    assert_eq!(
        agent.accept_lease(&locked, counter),
        Ok(LeaseOutcome::AlreadyReleased)
    );
    f.clock.advance_millis(1000 * HOUR_MS);
    assert_eq!(agent.enforcement(), Enforcement::Free);
}

#[test]
fn enforcement_follows_the_lease_and_its_expiry() {
    let f = Fixture::new();
    let mut agent = f.open();
    assert_eq!(
        agent.enforcement(),
        Enforcement::Locked {
            why: LockReason::NoLease,
            lock_screen: None,
            profile: RestrictionProfile::full_lock(),
            notices: Vec::new(),
        }
    );

    let (env, counter) = f.answer(&mut agent, 1, LeaseState::Active);
    agent.accept_lease(&env, counter).unwrap();
    assert_eq!(
        agent.enforcement(),
        Enforcement::Run {
            valid_until: T0.plus_millis(HOUR_MS),
            next_checkin_at: T0.plus_millis(HOUR_MS / 4),
            level: lienlock_domain::RestrictionLevel::None,
            notices: Vec::new(),
            warn_at: T0.plus_millis(HOUR_MS),
            offline_warning: false,
            code: None,
        }
    );

    f.clock.advance_millis(HOUR_MS - 1);
    assert!(matches!(agent.enforcement(), Enforcement::Run { .. }));
    f.clock.advance_millis(1);
    // The active lease carried no restrictions, so expiry falls back to the full lock.
    assert_eq!(
        agent.enforcement(),
        Enforcement::Locked {
            why: LockReason::LeaseExpired,
            lock_screen: Some(lock_screen()),
            profile: RestrictionProfile::full_lock(),
            notices: Vec::new(),
        }
    );

    let (locked, counter) = f.answer(&mut agent, 2, LeaseState::Locked);
    agent.accept_lease(&locked, counter).unwrap();
    assert_eq!(
        agent.enforcement(),
        Enforcement::Locked {
            why: LockReason::Lender,
            lock_screen: Some(lock_screen()),
            profile: RestrictionProfile::full_lock(),
            notices: Vec::new(),
        }
    );

    let (unlocked, counter) = f.answer(&mut agent, 3, LeaseState::Active);
    agent.accept_lease(&unlocked, counter).unwrap();
    assert!(matches!(agent.enforcement(), Enforcement::Run { .. }));
}

#[test]
fn expiry_applies_the_leases_own_profile_when_it_has_one() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (_, counter) = agent.build_checkin().unwrap();
    let mut lease = f.lease(&agent, 1, LeaseState::Active, counter);
    lease.profile = reminder();
    agent.accept_lease(&f.seal(&lease), counter).unwrap();
    f.clock.advance_millis(2 * HOUR_MS);
    assert!(matches!(
        agent.enforcement(),
        Enforcement::Locked { why: LockReason::LeaseExpired, profile, .. } if profile == reminder()
    ));
}

#[test]
fn setting_the_clock_back_before_the_last_checkin_gains_nothing() {
    let f = Fixture::new();
    let mut agent = f.open();
    // A short lease: valid for one minute from its issue.
    let (_, counter) = agent.build_checkin().unwrap();
    let mut lease = f.lease(&agent, 1, LeaseState::Active, counter);
    lease.valid_until = T0.plus_secs(60);
    agent.accept_lease(&f.seal(&lease), counter).unwrap();

    // The user sets the clock back a day: time is still taken as at least the server's.
    f.clock.set(T0.plus_millis(-24 * HOUR_MS));
    assert_eq!(agent.trusted_now(), T0);
    let (signed, _) = agent.build_checkin().unwrap();
    assert_eq!(signed.open().unwrap().device_time, T0);

    // ... and the floor outlives a restart.
    drop(agent);
    let agent = f.reopen();
    assert_eq!(agent.trusted_now(), T0);

    // A lease that is already over when issued stays over, whatever the clock says.
    let mut agent = agent;
    let (_, counter) = agent.build_checkin().unwrap();
    let mut lease = f.lease(&agent, 2, LeaseState::Active, counter);
    lease.issued_at = T0.plus_secs(120);
    lease.valid_until = T0.plus_secs(120);
    agent.accept_lease(&f.seal(&lease), counter).unwrap();
    assert!(matches!(
        agent.enforcement(),
        Enforcement::Locked {
            why: LockReason::LeaseExpired,
            ..
        }
    ));
}

#[test]
fn the_next_checkin_acknowledges_the_notices_of_the_held_lease() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (signed, counter) = agent.build_checkin().unwrap();
    assert_eq!(signed.open().unwrap().notice_ack, 0);
    let mut lease = f.lease(&agent, 1, LeaseState::Active, counter);
    lease.notices = vec![
        lienlock_wire::LeaseNotice {
            seq: 4,
            kind: "due_reminder".into(),
            message: "Due in 3 days".into(),
        },
        lienlock_wire::LeaseNotice {
            seq: 5,
            kind: "due_reminder".into(),
            message: "Due tomorrow".into(),
        },
    ];
    agent.accept_lease(&f.seal(&lease), counter).unwrap();
    match agent.enforcement() {
        Enforcement::Run { notices, .. } => assert_eq!(notices.len(), 2),
        other => panic!("{other:?}"),
    }
    let (signed, _) = agent.build_checkin().unwrap();
    assert_eq!(signed.open().unwrap().notice_ack, 5);
}
