//! Unlock codes typed on a phone that cannot connect: what they grant, that none works
//! twice, and the wrong-code lockout across restarts and reboots.

mod common;

use common::*;
use jiff::civil::{date, Date};
use lienlock_agent::{Agent, CodeRefusal, Enforcement, LockReason};
use lienlock_domain::{LeaseState, Timestamp};
use lienlock_wire::unlock_code::{end_of_day_utc, CodeError, CodeKey, CodeKind, UnlockCode};
use lienlock_wire::ReportKind;
use std::sync::Arc;
use std::time::Duration;

const MINUTE_MS: i64 = 60_000;

/// An agent holding a lease in `state`, issued at T0 for an hour.
fn holding(f: &Fixture, mono: &Arc<ManualMonotonic>, state: LeaseState) -> Agent {
    let mut agent = f.open();
    agent.set_monotonic(mono.clone());
    let (env, counter) = f.answer(&mut agent, 1, state);
    agent.accept_lease(&env, counter).unwrap();
    agent
}

fn reopen(f: &Fixture, mono: &Arc<ManualMonotonic>) -> Agent {
    let mut agent = f.reopen();
    agent.set_monotonic(mono.clone());
    agent
}

/// What the server would mint for this device.
fn mint(f: &Fixture, agent: &Agent, kind: CodeKind, counter: u32, paid_until: Date) -> String {
    let shared = f
        .server
        .agree_with_device(&agent.device_public_key())
        .unwrap();
    UnlockCode {
        kind,
        counter,
        paid_until,
    }
    .encode(&CodeKey::agreed(&shared, &f.device_id), &f.device_id)
    .unwrap()
}

/// A well-formed code for this device under a wrong key: a guess.
fn guess(f: &Fixture, counter: u32) -> String {
    UnlockCode {
        kind: CodeKind::Unlock,
        counter,
        paid_until: date(2024, 6, 1),
    }
    .encode(&CodeKey::from_bytes([9; 32]), &f.device_id)
    .unwrap()
}

fn locked_out(r: Result<lienlock_agent::CodeAccepted, CodeRefusal>) -> Duration {
    match r {
        Err(CodeRefusal::LockedOut { retry_in }) => retry_in,
        other => panic!("expected a lockout, got {other:?}"),
    }
}

fn wrong(r: Result<lienlock_agent::CodeAccepted, CodeRefusal>) -> Duration {
    match r {
        Err(CodeRefusal::Wrong { retry_in }) => retry_in,
        other => panic!("expected a wrong code, got {other:?}"),
    }
}

#[test]
fn an_unlock_code_lifts_a_lock_until_its_date_and_never_works_twice() {
    let f = Fixture::new();
    let mono = ManualMonotonic::new();
    let mut agent = holding(&f, &mono, LeaseState::Locked);
    assert!(agent.enforcement().is_locked());

    let code = mint(&f, &agent, CodeKind::Unlock, 1, date(2024, 1, 10));
    let taken = agent.enter_code(&code).unwrap();
    let until = end_of_day_utc(date(2024, 1, 10));
    assert_eq!(taken.grant.until, until);
    assert_eq!(taken.grant.counter, 1);
    assert!(matches!(
        taken.enforcement,
        Enforcement::Run { valid_until, code: Some(1), .. } if valid_until == until
    ));

    // The same code again is refused, and costs nothing (no lockout).
    assert!(matches!(
        agent.enter_code(&code),
        Err(CodeRefusal::Invalid(CodeError::Reused { counter: 1 }))
    ));
    let next = mint(&f, &agent, CodeKind::Unlock, 2, date(2024, 1, 12));
    agent.enter_code(&next).unwrap();

    // A restart keeps the grant and the counter: the first code is still spent.
    let mut agent = reopen(&f, &mono);
    assert!(!agent.enforcement().is_locked());
    assert!(matches!(
        agent.enter_code(&code),
        Err(CodeRefusal::Invalid(CodeError::Reused { .. }))
    ));

    // At the end of its date the lock is back.
    let left = end_of_day_utc(date(2024, 1, 12)).as_millis() - agent.trusted_now().as_millis();
    pass(&f, &mono, left);
    assert!(agent.enforcement().is_locked());
}

#[test]
fn an_extend_code_outlasts_an_expired_lease_but_not_a_lenders_lock() {
    let f = Fixture::new();
    let mono = ManualMonotonic::new();
    let mut agent = holding(&f, &mono, LeaseState::Active);
    pass(&f, &mono, 2 * HOUR_MS);
    assert!(matches!(
        agent.enforcement(),
        Enforcement::Locked {
            why: LockReason::LeaseExpired,
            ..
        }
    ));
    let code = mint(&f, &agent, CodeKind::ExtendUntil, 1, date(2024, 1, 1));
    let taken = agent.enter_code(&code).unwrap();
    assert!(matches!(
        taken.enforcement,
        Enforcement::Run { code: Some(1), .. }
    ));

    let f = Fixture::new();
    let mut agent = holding(&f, &mono, LeaseState::Locked);
    let code = mint(&f, &agent, CodeKind::ExtendUntil, 1, date(2024, 1, 1));
    let taken = agent.enter_code(&code).unwrap();
    assert!(matches!(
        taken.enforcement,
        Enforcement::Locked {
            why: LockReason::Lender,
            ..
        }
    ));
}

#[test]
fn a_code_is_reported_at_the_next_check_in() {
    let f = Fixture::new();
    let mono = ManualMonotonic::new();
    let mut agent = holding(&f, &mono, LeaseState::Locked);
    let code = mint(&f, &agent, CodeKind::Unlock, 3, date(2024, 1, 10));
    let entered_at = agent.trusted_now();
    agent.enter_code(&code).unwrap();
    let (signed, _) = agent.build_checkin().unwrap();
    let sent = signed.open().unwrap();
    assert_eq!(sent.reports.len(), 1);
    assert_eq!(sent.reports[0].kind, ReportKind::CodeRedeemed);
    assert_eq!(sent.reports[0].value, 3);
    assert_eq!(sent.reports[0].at, entered_at);
}

#[test]
fn wrong_codes_lock_out_for_longer_each_time_across_restarts_and_reboots() {
    let f = Fixture::new();
    let mono = ManualMonotonic::new();
    let mut agent = holding(&f, &mono, LeaseState::Locked);
    let good = mint(&f, &agent, CodeKind::Unlock, 1, date(2024, 1, 10));

    assert_eq!(wrong(agent.enter_code(&guess(&f, 1))).as_secs(), 60);
    // During the wait nothing is checked, not even a good code: a locked-out phone tells
    // a guesser nothing about any input.
    assert_eq!(locked_out(agent.enter_code(&good)).as_secs(), 60);
    pass(&f, &mono, MINUTE_MS);
    assert_eq!(wrong(agent.enter_code(&guess(&f, 2))).as_secs(), 120);

    // Setting the wall clock forward does not shorten the wait (it runs on the monotonic
    // clock), and neither does a restart.
    f.clock.advance_millis(10 * HOUR_MS);
    let mut agent = reopen(&f, &mono);
    assert_eq!(locked_out(agent.enter_code(&good)).as_secs(), 120);
    pass(&f, &mono, MINUTE_MS);
    assert_eq!(locked_out(agent.enter_code(&good)).as_secs(), 60);

    // A reboot restarts the wait in full.
    mono.reboot("boot-2");
    let mut agent = reopen(&f, &mono);
    assert_eq!(locked_out(agent.enter_code(&good)).as_secs(), 120);
    pass(&f, &mono, 2 * MINUTE_MS);

    // Each further wrong code doubles the wait, up to 512 minutes.
    let mut waits = Vec::new();
    for n in 3..=12 {
        waits.push(wrong(agent.enter_code(&guess(&f, n))).as_secs() / 60);
        pass(&f, &mono, 512 * MINUTE_MS);
    }
    assert_eq!(waits, [4, 8, 16, 32, 64, 128, 256, 512, 512, 512]);

    // A good code clears the count: the next wrong one waits a minute again.
    let taken = agent.enter_code(&good).unwrap();
    assert!(!taken.enforcement.is_locked());
    assert_eq!(wrong(agent.enter_code(&guess(&f, 13))).as_secs(), 60);
}

#[test]
fn typos_and_stale_codes_cost_nothing() {
    let f = Fixture::new();
    let mono = ManualMonotonic::new();
    let mut agent = holding(&f, &mono, LeaseState::Locked);
    let good = mint(&f, &agent, CodeKind::Unlock, 1, date(2024, 1, 10));
    // Swap two adjacent different digits: the check digit catches it.
    let digits: Vec<char> = good.chars().filter(char::is_ascii_digit).collect();
    let i = (0..digits.len() - 1)
        .find(|&i| digits[i] != digits[i + 1])
        .unwrap();
    let mut typo = digits.clone();
    typo.swap(i, i + 1);
    let typo: String = typo.into_iter().collect();
    assert!(matches!(
        agent.enter_code(&typo),
        Err(CodeRefusal::Invalid(CodeError::Typo))
    ));
    assert!(matches!(
        agent.enter_code("12345"),
        Err(CodeRefusal::Invalid(CodeError::WrongLength { .. }))
    ));

    // A genuine code whose date has passed is refused and not spent.
    let left = end_of_day_utc(date(2024, 1, 10)).as_millis() - T0.as_millis();
    pass(&f, &mono, left);
    assert!(matches!(
        agent.enter_code(&good),
        Err(CodeRefusal::Expired { .. })
    ));
    let later = mint(&f, &agent, CodeKind::Unlock, 1, date(2024, 2, 1));
    agent.enter_code(&later).unwrap();
}

#[test]
fn a_code_still_works_after_a_factory_reset_and_a_far_date_is_capped() {
    let f = Fixture::new();
    let mono = ManualMonotonic::new();
    let agent = holding(&f, &mono, LeaseState::Locked);
    let first = mint(&f, &agent, CodeKind::Unlock, 1, date(2024, 1, 10));
    let mut agent = agent;
    agent.enter_code(&first).unwrap();
    drop(agent);
    Agent::factory_reset(f.data()).unwrap();

    let mut agent = reopen(&f, &mono);
    assert!(agent.held_lease().is_none());
    // The grant outlives the reset (it is in the persistent partition)...
    assert!(!agent.enforcement().is_locked());
    // ...and so does the counter.
    assert!(matches!(
        agent.enter_code(&first),
        Err(CodeRefusal::Invalid(CodeError::Reused { .. }))
    ));
    // A code dated decades ahead runs for at most MAX_GRANT.
    let far = mint(&f, &agent, CodeKind::Unlock, 2, date(2068, 1, 1));
    let taken = agent.enter_code(&far).unwrap();
    let now: Timestamp = agent.trusted_now();
    assert_eq!(
        taken.grant.until,
        now.plus_millis(lienlock_agent::MAX_GRANT.as_millis() as i64)
    );
}

#[test]
fn a_phone_that_never_checked_in_takes_no_code() {
    let f = Fixture::new();
    let mut agent = f.open();
    assert!(matches!(
        agent.enter_code(&guess(&f, 1)),
        Err(CodeRefusal::NotEnrolled)
    ));
}

#[test]
fn a_lease_voids_the_codes_issued_before_it() {
    let f = Fixture::new();
    let mono = ManualMonotonic::new();
    let mut agent = f.open();
    agent.set_monotonic(mono.clone());
    let (_, counter) = agent.build_checkin().unwrap();
    let mut lease = f.lease(&agent, 1, LeaseState::Locked, counter);
    // Three codes were issued while the phone was online and never needed.
    lease.codes_through = 3;
    agent.accept_lease(&f.seal(&lease), counter).unwrap();

    let old = mint(&f, &agent, CodeKind::Unlock, 3, date(2024, 1, 10));
    assert!(matches!(
        agent.enter_code(&old),
        Err(CodeRefusal::Invalid(CodeError::Reused { counter: 3 }))
    ));
    // The window of 32 now starts above 3: code 35 works, so codes never pile up.
    let next = mint(&f, &agent, CodeKind::Unlock, 35, date(2024, 1, 10));
    assert_eq!(agent.enter_code(&next).unwrap().grant.counter, 35);
}
