//! The two partitions on disk: what survives a restart, a factory reset, and damage.

mod common;

use common::{other_imei, Fixture};
use lienlock_agent::{Agent, AgentConfig, AgentError, Enforcement, Layout, LockReason};
use lienlock_domain::LeaseState;
use lienlock_wire::{ServerKey, SignedCheckIn};
use std::fs;

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn first_start_creates_the_persistent_partition() {
    let f = Fixture::new();
    let agent = f.open();
    let layout = Layout::new(f.data());
    assert_eq!(
        names(&layout.persistent_dir()),
        ["counter", "identity.key", "provisioning.json"]
    );
    // The user partition records only when it was begun: at counter 0, as old as the
    // identity.
    assert_eq!(names(&layout.user_dir()), ["install.json"]);
    assert_eq!(agent.user_since(), 0);
    assert_eq!(agent.counter(), 0);
    assert_eq!(
        agent.enforcement(),
        Enforcement::Locked {
            why: LockReason::NoLease,
            lock_screen: None,
            profile: lienlock_domain::RestrictionProfile::full_lock(),
            notices: Vec::new(),
        }
    );
    let provisioning = fs::read_to_string(layout.provisioning()).unwrap();
    assert!(
        provisioning.contains(&f.server.public().to_hex()),
        "{provisioning}"
    );
}

#[cfg(unix)]
#[test]
fn identity_key_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    f.open();
    let mode = fs::metadata(Layout::new(f.data()).identity())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn identity_lease_and_counter_survive_reopen() {
    let f = Fixture::new();
    let mut agent = f.open();
    let key = agent.device_public_key();
    let (env, counter) = f.answer(&mut agent, 1, LeaseState::Active);
    agent.accept_lease(&env, counter).unwrap();
    let before = agent.enforcement();
    drop(agent);

    let agent = f.reopen();
    assert_eq!(agent.device_public_key(), key);
    assert_eq!(agent.counter(), counter);
    assert_eq!(agent.held_lease().unwrap().sequence, 1);
    assert_eq!(agent.enforcement(), before);
    assert!(matches!(before, Enforcement::Run { .. }));
    // Every write went through a rename: no temporary file is left anywhere.
    let layout = agent.layout();
    for dir in [layout.persistent_dir(), layout.user_dir()] {
        assert!(
            names(&dir).iter().all(|n| !n.starts_with('.')),
            "{:?}",
            names(&dir)
        );
    }
}

#[test]
fn counter_strictly_increases_across_reopen_and_is_persisted_before_use() {
    let f = Fixture::new();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let mut agent = f.open();
        for _ in 0..2 {
            let (signed, counter) = agent.build_checkin().unwrap();
            assert_eq!(signed.open().unwrap().counter, counter);
            // Already on disk when the request exists: a crash now cannot reuse it.
            let on_disk = fs::read_to_string(agent.layout().counter()).unwrap();
            assert_eq!(on_disk.trim(), counter.to_string());
            seen.push(counter);
        }
    }
    assert_eq!(seen, [1, 2, 3, 4, 5, 6]);
}

#[test]
fn checkin_is_signed_by_the_device_and_names_the_held_lease() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (signed, _) = agent.build_checkin().unwrap();
    let c = signed.open().unwrap();
    assert_eq!(
        (c.imei, c.device_key, c.held_lease_seq),
        (agent.imei(), agent.device_public_key(), 0)
    );
    assert_eq!(c.device_time, common::T0);

    let (env, counter) = f.answer(&mut agent, 7, LeaseState::Active);
    agent.accept_lease(&env, counter).unwrap();
    let (signed, _) = agent.build_checkin().unwrap();
    assert_eq!(signed.open().unwrap().held_lease_seq, 7);
    // The JSON body is what the server receives.
    let json = serde_json::to_string(&signed).unwrap();
    assert!(serde_json::from_str::<SignedCheckIn>(&json)
        .unwrap()
        .open()
        .is_ok());
}

#[test]
fn factory_reset_keeps_identity_and_counter_but_drops_the_lease() {
    let f = Fixture::new();
    let mut agent = f.open();
    let key = agent.device_public_key();
    let (env, counter) = f.answer(&mut agent, 3, LeaseState::Active);
    agent.accept_lease(&env, counter).unwrap();
    drop(agent);

    Agent::factory_reset(f.data()).unwrap();
    let mut agent = f.reopen();
    assert_eq!(agent.device_public_key(), key);
    assert_eq!(agent.counter(), counter);
    assert!(agent.held_lease().is_none());
    assert!(matches!(
        agent.enforcement(),
        Enforcement::Locked {
            why: LockReason::NoLease,
            ..
        }
    ));
    // The new user partition began after `counter` check-ins, and every check-in says so:
    // that is how the server tells a reset.
    assert_eq!(agent.user_since(), counter);
    let (signed, next) = agent.build_checkin().unwrap();
    assert_eq!(next, counter + 1);
    assert_eq!(signed.open().unwrap().user_since, counter);
    drop(agent);
    assert_eq!(
        f.reopen().user_since(),
        counter,
        "kept until the next reset"
    );
}

#[test]
fn release_survives_factory_reset() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (env, counter) = f.answer(&mut agent, 2, LeaseState::Released);
    agent.accept_lease(&env, counter).unwrap();
    assert_eq!(agent.enforcement(), Enforcement::Free);
    drop(agent);

    Agent::factory_reset(f.data()).unwrap();
    let agent = f.reopen();
    assert!(agent.held_lease().is_none());
    assert!(agent.is_released());
    assert_eq!(agent.enforcement(), Enforcement::Free);
}

#[test]
fn lost_release_marker_is_repaired_from_the_held_release_lease() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (env, counter) = f.answer(&mut agent, 2, LeaseState::Released);
    agent.accept_lease(&env, counter).unwrap();
    let marker = agent.layout().released();
    drop(agent);

    fs::remove_file(&marker).unwrap();
    let agent = f.reopen();
    assert_eq!(agent.enforcement(), Enforcement::Free);
    assert!(marker.exists());
}

#[test]
fn forged_release_marker_frees_nothing() {
    let f = Fixture::new();
    let mut agent = f.open();
    // A genuine-looking release, but signed by a key the device does not pin.
    let rogue = ServerKey::generate();
    let mut lease = f.lease(&agent, 9, LeaseState::Released, 1);
    lease.key_id = rogue.id();
    let forged = lienlock_wire::LeaseEnvelope::seal(&lease, &rogue);
    fs::write(
        agent.layout().released(),
        serde_json::to_vec(&forged).unwrap(),
    )
    .unwrap();
    let (env, counter) = f.answer(&mut agent, 1, LeaseState::Locked);
    agent.accept_lease(&env, counter).unwrap();
    drop(agent);

    let agent = f.reopen();
    assert!(!agent.is_released());
    assert!(matches!(
        agent.enforcement(),
        Enforcement::Locked {
            why: LockReason::Lender,
            ..
        }
    ));
}

#[test]
fn damaged_or_tampered_lease_file_means_no_lease() {
    let f = Fixture::new();
    let mut agent = f.open();
    let (env, counter) = f.answer(&mut agent, 4, LeaseState::Active);
    agent.accept_lease(&env, counter).unwrap();
    let path = agent.layout().lease();
    drop(agent);
    let good = fs::read(&path).unwrap();

    // Truncated, not JSON, empty.
    for bad in [&good[..good.len() / 2], b"not json".as_slice(), b""] {
        fs::write(&path, bad).unwrap();
        let agent = f.reopen();
        assert!(agent.held_lease().is_none());
        assert!(matches!(
            agent.enforcement(),
            Enforcement::Locked {
                why: LockReason::NoLease,
                ..
            }
        ));
    }

    // Valid JSON whose signed bytes were edited (a different state, say): does not verify.
    let mut stored: serde_json::Value = serde_json::from_slice(&good).unwrap();
    let lease_b64 = stored["lease"].as_str().unwrap().to_owned();
    let mut chars: Vec<char> = lease_b64.chars().collect();
    chars[20] = if chars[20] == 'A' { 'B' } else { 'A' };
    stored["lease"] = serde_json::Value::String(chars.into_iter().collect());
    fs::write(&path, serde_json::to_vec(&stored).unwrap()).unwrap();
    assert!(f.reopen().held_lease().is_none());

    fs::write(&path, &good).unwrap();
    assert_eq!(f.reopen().held_lease().unwrap().sequence, 4);
}

#[test]
fn damaged_counter_or_identity_is_an_error_not_a_fresh_start() {
    let f = Fixture::new();
    let layout = Layout::new(f.data());
    f.open();
    fs::write(layout.counter(), "twelve").unwrap();
    assert!(matches!(
        Agent::open_existing(f.data(), f.clock.clone()),
        Err(AgentError::Corrupt { .. })
    ));

    fs::write(layout.counter(), "12\n").unwrap();
    fs::remove_file(layout.identity()).unwrap();
    assert!(matches!(
        Agent::open(f.config(), f.clock.clone()),
        Err(AgentError::Corrupt { .. })
    ));
}

#[test]
fn provisioning_that_contradicts_the_persisted_one_is_refused() {
    let f = Fixture::new();
    f.open();
    let other_key = AgentConfig {
        server_key: ServerKey::generate().public(),
        ..f.config()
    };
    let e = Agent::open(other_key, f.clock.clone()).unwrap_err();
    assert!(
        matches!(e, AgentError::Provisioning(ref m) if m.contains("server key")),
        "{e}"
    );

    let other = AgentConfig {
        imei: other_imei(),
        ..f.config()
    };
    let e = Agent::open(other, f.clock.clone()).unwrap_err();
    assert!(
        matches!(e, AgentError::Provisioning(ref m) if m.contains("IMEI")),
        "{e}"
    );

    // A moved server (same key) is fine and remembered.
    let moved = AgentConfig {
        server_url: "https://new.example".into(),
        ..f.config()
    };
    Agent::open(moved, f.clock.clone()).unwrap();
    assert_eq!(f.reopen().server_url(), "https://new.example");
}

#[test]
fn open_existing_needs_a_provisioned_directory_and_bad_urls_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(lienlock_domain::SystemClock);
    let e = Agent::open_existing(dir.path(), clock.clone()).unwrap_err();
    assert!(matches!(e, AgentError::Provisioning(_)), "{e}");

    let f = Fixture::with_url("ftp://nope");
    assert!(matches!(
        Agent::open(f.config(), clock),
        Err(AgentError::Provisioning(_))
    ));
}

#[test]
fn stale_temporary_files_from_a_crash_are_swept_on_open() {
    let f = Fixture::new();
    let agent = f.open();
    let stale = agent
        .layout()
        .persistent_dir()
        .join(".counter.tmp-00000000deadbeef");
    drop(agent);
    fs::write(&stale, "999").unwrap();
    let agent = f.reopen();
    assert!(!stale.exists());
    assert_eq!(agent.counter(), 0);
}
