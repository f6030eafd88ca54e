//! The server's lease-signing key rotating: the device learns a new key only from a lease
//! signed by a key it trusts, moves to it when the new key signs, then stops trusting the
//! old one; and a device that missed the announcement is led through by the old key.

mod common;

use common::*;
use jiff::civil::date;
use lienlock_agent::{Agent, LeaseOutcome, LeaseRefusal};
use lienlock_domain::LeaseState;
use lienlock_wire::unlock_code::{CodeKey, CodeKind, UnlockCode};
use lienlock_wire::{LeaseEnvelope, ServerKey, WireError};

/// A lease answering the agent's next check-in, signed by `by`, announcing `next`.
fn offer(
    f: &Fixture,
    agent: &mut Agent,
    sequence: u64,
    by: &ServerKey,
    next: Option<&ServerKey>,
) -> (LeaseEnvelope, u64) {
    let (_, counter) = agent.build_checkin().unwrap();
    let mut lease = f.lease(agent, sequence, LeaseState::Active, counter);
    lease.key_id = by.id();
    lease.next_key = next.map(ServerKey::public);
    (LeaseEnvelope::seal(&lease, by), counter)
}

fn bad_signature(r: Result<LeaseOutcome, LeaseRefusal>) -> bool {
    matches!(r, Err(LeaseRefusal::BadEnvelope(WireError::BadSignature)))
}

#[test]
fn an_agent_learns_the_next_key_from_a_lease_signed_by_its_current_key() {
    let f = Fixture::new();
    let next = ServerKey::generate();
    let mut agent = f.open();
    assert_eq!(agent.trusted_server_keys(), [f.server.public()]);
    let (env, counter) = offer(&f, &mut agent, 1, &f.server, Some(&next));
    agent.accept_lease(&env, counter).unwrap();
    assert_eq!(
        agent.trusted_server_keys(),
        [f.server.public(), next.public()]
    );
    // Its check-ins now name the newest key it trusts, so the server can sign with it.
    let (signed, _) = agent.build_checkin().unwrap();
    assert_eq!(signed.open().unwrap().server_key_id, Some(next.id()));
    // Learned in the persistent partition: a restart (or a factory reset) keeps it.
    drop(agent);
    Agent::factory_reset(f.data()).unwrap();
    assert_eq!(
        f.reopen().trusted_server_keys(),
        [f.server.public(), next.public()]
    );
}

#[test]
fn a_lease_signed_by_an_unannounced_key_is_refused() {
    let f = Fixture::new();
    let stranger = ServerKey::generate();
    let mut agent = f.open();
    let (env, counter) = offer(&f, &mut agent, 1, &stranger, None);
    assert!(bad_signature(agent.accept_lease(&env, counter)));
    assert!(agent.held_lease().is_none());
}

#[test]
fn a_key_announced_by_an_untrusted_key_is_refused_and_not_learned() {
    let f = Fixture::new();
    let stranger = ServerKey::generate();
    let announced = ServerKey::generate();
    let mut agent = f.open();
    let (env, counter) = offer(&f, &mut agent, 1, &stranger, Some(&announced));
    assert!(bad_signature(agent.accept_lease(&env, counter)));
    assert_eq!(agent.trusted_server_keys(), [f.server.public()]);
    // And a lease signed by the key it tried to announce is refused too.
    let (env, counter) = offer(&f, &mut agent, 2, &announced, None);
    assert!(bad_signature(agent.accept_lease(&env, counter)));
    // A lease that is genuine but refused for another reason teaches nothing either.
    let (env, _) = offer(&f, &mut agent, 3, &f.server, Some(&announced));
    assert!(agent.accept_lease(&env, 999).is_err());
    assert_eq!(agent.trusted_server_keys(), [f.server.public()]);
}

#[test]
fn after_promotion_an_agent_that_learned_the_key_keeps_working_and_drops_the_old_one() {
    let f = Fixture::new();
    let next = ServerKey::generate();
    let mut agent = f.open();
    let (env, counter) = offer(&f, &mut agent, 1, &f.server, Some(&next));
    agent.accept_lease(&env, counter).unwrap();
    // The server promoted `next`: its leases are taken, and it becomes the only key.
    let (env, counter) = offer(&f, &mut agent, 2, &next, None);
    assert!(matches!(
        agent.accept_lease(&env, counter),
        Ok(LeaseOutcome::Accepted { sequence: 2, .. })
    ));
    assert_eq!(agent.trusted_server_keys(), [next.public()]);
    assert_eq!(agent.server_key(), next.public());
    // The held lease (signed by the new key) verifies again after a restart.
    drop(agent);
    let mut agent = f.reopen();
    assert_eq!(agent.held_lease().map(|l| l.sequence), Some(2));
    // The old key is no longer trusted: what it signs now (a leaked copy, say) is refused.
    let (env, counter) = offer(&f, &mut agent, 3, &f.server, None);
    assert!(bad_signature(agent.accept_lease(&env, counter)));
    // Re-provisioning flags may name the key the device moved to.
    drop(agent);
    let mut config = f.config();
    config.server_key = next.public();
    assert!(Agent::open(config, f.clock.clone()).is_ok());
}

#[test]
fn an_agent_that_missed_the_announcement_is_led_through_by_the_old_key() {
    let f = Fixture::new();
    let new = ServerKey::generate();
    let mut agent = f.open();
    let (env, counter) = offer(&f, &mut agent, 1, &f.server, None);
    agent.accept_lease(&env, counter).unwrap();
    // Promoted while the phone was away: it still names the old key, so the server signs
    // its lease with the old key, announcing the new one.
    let (signed, _) = agent.build_checkin().unwrap();
    assert_eq!(signed.open().unwrap().server_key_id, Some(f.server.id()));
    let (env, counter) = offer(&f, &mut agent, 2, &f.server, Some(&new));
    agent.accept_lease(&env, counter).unwrap();
    // It now names the new key, and takes the new key's lease.
    let (signed, _) = agent.build_checkin().unwrap();
    assert_eq!(signed.open().unwrap().server_key_id, Some(new.id()));
    let (env, counter) = offer(&f, &mut agent, 3, &new, None);
    assert!(agent.accept_lease(&env, counter).is_ok());
    assert_eq!(agent.trusted_server_keys(), [new.public()]);
}

#[test]
fn a_code_minted_with_the_next_key_works_once_it_is_announced() {
    let f = Fixture::new();
    let next = ServerKey::generate();
    let mut agent = f.open();
    let (env, counter) = offer(&f, &mut agent, 1, &f.server, Some(&next));
    agent.accept_lease(&env, counter).unwrap();
    let shared = next.agree_with_device(&agent.device_public_key()).unwrap();
    let code = UnlockCode {
        kind: CodeKind::ExtendUntil,
        counter: 1,
        paid_until: date(2030, 1, 1),
    }
    .encode(&CodeKey::agreed(&shared, &f.device_id), &f.device_id)
    .unwrap();
    assert_eq!(agent.enter_code(&code).unwrap().grant.counter, 1);
}
