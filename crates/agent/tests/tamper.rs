//! Tamper signals on the device: a changed SIM, root or a debugger from the (simulated)
//! platform, a burst of wrong codes; carried by every check-in until one is answered, and
//! nothing about the user with them.

mod common;

use common::*;
use lienlock_agent::{Integrity, SimulatedPlatform, SimulatedState, WRONG_CODES_SIGNAL};
use lienlock_domain::policy::TamperKind;
use lienlock_domain::LeaseState;
use lienlock_wire::unlock_code::{CodeKey, CodeKind, UnlockCode};
use std::sync::Arc;

const FIRST_SIM: &str = "8925401234567890123";
const OTHER_SIM: &str = "8925409876543210987";

fn platform(f: &Fixture) -> SimulatedPlatform {
    SimulatedPlatform::new(f.data().join("platform.json"))
}

fn set(p: &SimulatedPlatform, sim: Option<&str>, rooted: bool) {
    p.set(&SimulatedState {
        sim: sim.map(str::to_owned),
        integrity: Integrity {
            rooted,
            debugger: false,
        },
    })
    .unwrap();
}

#[test]
fn a_sim_swap_is_signalled_until_a_check_in_is_answered_and_the_sim_never_leaves() {
    let f = Fixture::new();
    let p = platform(&f);
    set(&p, Some(FIRST_SIM), false);
    let mut agent = f.open();
    agent.observe_device();
    assert!(agent.pending_tamper_signals().is_empty(), "the first SIM");
    set(&p, Some(OTHER_SIM), false);
    agent.observe_device();
    agent.observe_device();
    let pending = agent.pending_tamper_signals().to_vec();
    assert_eq!(pending.len(), 1, "one swap, one signal");
    assert_eq!(
        (pending[0].kind, pending[0].seq),
        (TamperKind::SimChanged, 1)
    );
    // Every check-in carries it until one is answered (a lost answer loses nothing).
    for _ in 0..2 {
        let (signed, _) = agent.build_checkin().unwrap();
        let sent = signed.open().unwrap();
        assert_eq!(sent.signals.len(), 1);
        assert_eq!(sent.signals[0].kind, TamperKind::SimChanged);
        assert_eq!(sent.signals[0].value, 0);
        // Neither SIM identity is in the request, nor anywhere the agent keeps.
        let body = format!("{:?}{}", sent, signed.body);
        assert!(!body.contains(FIRST_SIM) && !body.contains(OTHER_SIM));
    }
    for entry in walk(f.data()) {
        if entry.ends_with("platform.json") {
            continue; // the simulated phone itself
        }
        let text = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&text);
        assert!(
            !text.contains(FIRST_SIM) && !text.contains(OTHER_SIM),
            "{}",
            entry.display()
        );
    }
    // Kept across a restart and a factory reset (it lives in the persistent partition).
    drop(agent);
    lienlock_agent::Agent::factory_reset(f.data()).unwrap();
    let agent = f.reopen();
    assert_eq!(agent.pending_tamper_signals(), pending);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn root_reported_by_the_platform_is_a_signal_and_an_injected_platform_works_too() {
    let f = Fixture::new();
    let mut agent = f.open();
    let p = Arc::new(SimulatedPlatform::new(f.data().join("elsewhere.json")));
    agent.set_platform(p.clone());
    agent.observe_device();
    assert!(agent.pending_tamper_signals().is_empty());
    set(&p, None, true);
    agent.observe_device();
    let pending = agent.pending_tamper_signals();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].kind, pending[0].value),
        (TamperKind::DebugOrRoot, 1)
    );
}

#[test]
fn a_burst_of_wrong_codes_is_a_signal() {
    let f = Fixture::new();
    let mono = ManualMonotonic::new();
    let mut agent = f.open();
    agent.set_monotonic(mono.clone());
    let (env, counter) = f.answer(&mut agent, 1, LeaseState::Active);
    agent.accept_lease(&env, counter).unwrap();
    for i in 0..WRONG_CODES_SIGNAL {
        let wrong = UnlockCode {
            kind: CodeKind::Unlock,
            counter: 1 + i as u32,
            paid_until: jiff::civil::date(2024, 6, 1),
        }
        .encode(&CodeKey::from_bytes([9; 32]), &f.device_id)
        .unwrap();
        assert!(agent.enter_code(&wrong).is_err());
        agent.observe_device();
        // Past each lockout (at most 16 minutes for the fifth).
        pass(&f, &mono, 20 * 60_000);
        if i + 1 < WRONG_CODES_SIGNAL {
            assert!(agent.pending_tamper_signals().is_empty(), "after {}", i + 1);
        }
    }
    let pending = agent.pending_tamper_signals();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].kind, TamperKind::WrongCodes);
    assert_eq!(pending[0].value, WRONG_CODES_SIGNAL as i64);
}
