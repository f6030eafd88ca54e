//! Trusted time under wall-clock changes, restarts and reboots: the wall clock set back
//! never stretches a lease, is detected and reported once, and trusted time never moves
//! backwards.

mod common;

use common::*;
use lienlock_agent::{Agent, Enforcement, FLOOR_EVERY};
use lienlock_domain::policy::TamperKind;
use lienlock_domain::{Clock, LeaseState};
use std::sync::Arc;

fn agent_with(f: &Fixture, mono: &Arc<ManualMonotonic>, reopen: bool) -> Agent {
    let mut agent = if reopen { f.reopen() } else { f.open() };
    agent.set_monotonic(mono.clone());
    agent
}

/// An agent holding an active lease issued at T0, valid for an hour.
fn with_lease(f: &Fixture, mono: &Arc<ManualMonotonic>) -> Agent {
    let mut agent = agent_with(f, mono, false);
    let (env, counter) = f.answer(&mut agent, 1, LeaseState::Active);
    agent.accept_lease(&env, counter).unwrap();
    agent
}

#[test]
fn a_clock_set_back_does_not_stretch_the_lease_and_is_reported_once() {
    let f = Fixture::new();
    let mono = ManualMonotonic::new();
    let mut agent = with_lease(&f, &mono);
    assert_eq!(agent.trusted_now(), T0);

    // 50 minutes pass, then the borrower sets the clock back three hours.
    pass(&f, &mono, 50 * 60_000);
    f.clock.advance_millis(-3 * HOUR_MS);
    assert_eq!(agent.trusted_now(), T0.plus_millis(50 * 60_000));
    let incident = agent.observe_time().expect("the set-back is noticed");
    assert_eq!(incident.by_ms, 3 * HOUR_MS);
    assert_eq!(incident.detected_at, T0.plus_millis(50 * 60_000));
    assert!(
        agent.observe_time().is_none(),
        "one incident, not one per look"
    );

    // Eleven minutes later the lease has run out by trusted time, though the wall clock
    // says it has hours left.
    pass(&f, &mono, 11 * 60_000);
    agent.observe_time();
    assert!(f.clock.now() < agent.held_lease().unwrap().valid_until);
    assert!(matches!(agent.enforcement(), Enforcement::Locked { .. }));

    // The next check-in carries the incident as a tamper signal; once answered it is not
    // carried again.
    let pending = agent.pending_tamper_signals().to_vec();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].kind, TamperKind::ClockSetBack);
    assert_eq!(pending[0].seen_trusted, incident.detected_at);
    assert_eq!(pending[0].value, 3 * HOUR_MS);
    let (signed, counter) = agent.build_checkin().unwrap();
    let sent = signed.open().unwrap();
    assert!(sent.reports.is_empty(), "tampering travels as signals");
    assert_eq!(sent.signals.len(), 1);
    assert_eq!(sent.signals[0].kind, TamperKind::ClockSetBack);
    assert_eq!(sent.signals[0].value, 3 * HOUR_MS);
    assert_eq!(sent.signals[0].seen_trusted, incident.detected_at);
    assert_eq!(
        sent.signals[0].seen_wall,
        f.clock.now().plus_millis(-11 * 60_000)
    );
    // Unanswered, it stays: the next check-in carries it again.
    assert_eq!(agent.pending_tamper_signals().len(), 1);
    // The clock set further back raises the waiting signal's value, not a second signal.
    f.clock.advance_millis(-HOUR_MS);
    assert!(agent.observe_time().is_none());
    assert_eq!(agent.pending_tamper_signals().len(), 1);
    assert!(agent.pending_tamper_signals()[0].value > 3 * HOUR_MS);
    let _ = counter;
}

#[test]
fn trusted_time_survives_a_restart_and_a_reboot_never_goes_back() {
    let f = Fixture::new();
    let mono = ManualMonotonic::new();
    let mut agent = with_lease(&f, &mono);
    pass(&f, &mono, 30 * 60_000);
    agent.observe_time();
    drop(agent);

    // A restart within the same boot: the anchor still holds, whatever the wall says.
    f.clock.advance_millis(-10 * HOUR_MS);
    let mut agent = agent_with(&f, &mono, true);
    assert_eq!(agent.trusted_now(), T0.plus_millis(30 * 60_000));
    assert!(
        agent.observe_time().is_some(),
        "set back seen after the restart"
    );
    drop(agent);

    // A reboot loses the elapsed time: the wall clock is used, held to the floor.
    pass(&f, &mono, 5 * 60_000);
    mono.reboot("boot-2");
    let agent = agent_with(&f, &mono, true);
    let floor = T0.plus_millis(30 * 60_000);
    assert!(agent.trusted_now() >= floor, "never before the floor");
    assert!(
        agent.trusted_now() <= floor.plus_millis(FLOOR_EVERY.as_millis() as i64),
        "a reboot plus a set-back gains at most the floor's step"
    );
    // The incident seen before the reboot is still waiting to be reported.
    assert_eq!(agent.pending_tamper_signals().len(), 1);

    // With the wall clock right again after the reboot, time runs from the wall clock.
    f.clock.set(T0.plus_millis(2 * HOUR_MS));
    assert_eq!(agent.trusted_now(), T0.plus_millis(2 * HOUR_MS));
}

#[test]
fn a_clock_set_forward_or_small_drift_is_not_tampering() {
    let f = Fixture::new();
    let mono = ManualMonotonic::new();
    let mut agent = with_lease(&f, &mono);
    pass(&f, &mono, 10 * 60_000);
    // Forward: trusted time follows the monotonic clock, not the wall.
    f.clock.advance_millis(5 * HOUR_MS);
    assert_eq!(agent.trusted_now(), T0.plus_millis(10 * 60_000));
    assert!(agent.observe_time().is_none());
    // A minute of drift behind is within tolerance.
    f.clock.set(T0.plus_millis(9 * 60_000));
    assert!(agent.observe_time().is_none());
    assert!(agent.pending_tamper_signals().is_empty());
}

#[test]
fn a_new_lease_re_anchors_and_trusted_time_never_moves_backwards() {
    let f = Fixture::new();
    let mono = ManualMonotonic::new();
    let mut agent = with_lease(&f, &mono);
    pass(&f, &mono, 20 * 60_000);
    // The server's clock is a little behind ours: accepting its lease must not move
    // trusted time back.
    let before = agent.trusted_now();
    let (_, counter) = agent.build_checkin().unwrap();
    let mut lease = f.lease(&agent, 2, LeaseState::Active, counter);
    lease.issued_at = before.plus_millis(-5_000);
    agent.accept_lease(&f.seal(&lease), counter).unwrap();
    assert_eq!(agent.trusted_now(), before);
    pass(&f, &mono, 1_000);
    assert_eq!(agent.trusted_now(), before.plus_millis(1_000));
}
