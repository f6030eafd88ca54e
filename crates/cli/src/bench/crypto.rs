//! `lienlock bench crypto`: what each piece of a check-in's cryptography costs one core,
//! through the project's own code paths: a check-in's signature verified alone and in
//! batches, its MAC checked (version 5), a lease signed alone and in a batch, and a MAC key
//! handed out. The check-in figures of docs/benchmarks.md (eleventh round) rest on these.

use clap::Args;
use lienlock_domain::{DeviceId, Imei, LeaseState, RestrictionProfile, Timestamp};
use lienlock_wire::{
    sign_batch, verify_checkins, CheckIn, CheckInVersion, DeviceKey, Lease, LockScreen, ServerKey,
    SignedCheckIn, UnsignedLease,
};
use std::time::Instant;

/// `bench crypto`.
#[derive(Debug, Args)]
pub struct CryptoArgs {
    /// Operations per timed pass.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(64..=1_000_000))]
    n: u64,
    /// Timed passes; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: u32,
}

/// Prints one JSON line: microseconds per operation, the median of the passes.
pub fn run(a: CryptoArgs) -> anyhow::Result<()> {
    let n = a.n as usize;
    let server = ServerKey::generate();
    let phones: Vec<DeviceKey> = (0..n).map(|_| DeviceKey::generate()).collect();
    let checkin = |key: &DeviceKey, version| CheckIn {
        version,
        imei: Imei::parse("490154203237518").expect("a valid IMEI"),
        device_key: key.public(),
        counter: 7,
        device_time: Timestamp::from_millis(1_700_000_000_000),
        held_lease_seq: 6,
        notice_ack: 0,
        server_key_id: Some(server.id()),
        user_since: 0,
        reports: Vec::new(),
        signals: Vec::new(),
    };
    let signed: Vec<SignedCheckIn> = phones
        .iter()
        .map(|k| SignedCheckIn::seal(&checkin(k, CheckInVersion::V4), k))
        .collect();
    let maced: Vec<SignedCheckIn> = phones
        .iter()
        .map(|k| {
            let mac = server
                .checkin_mac_key(server.id(), &k.public())
                .expect("the server's own key");
            SignedCheckIn::seal_mac(&checkin(k, CheckInVersion::V5), &mac)
        })
        .collect();
    let leases: Vec<Lease> = phones.iter().map(|k| lease(&server, k)).collect();

    let median_us = |f: &dyn Fn()| -> f64 {
        let mut t: Vec<f64> = (0..a.runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1e6 / n as f64
            })
            .collect();
        t.sort_by(f64::total_cmp);
        (t[t.len() / 2] * 100.0).round() / 100.0
    };
    let ok = |r: bool| assert!(r, "a genuine message was refused");
    let figures = serde_json::json!({
        "n": n,
        "runs": a.runs,
        "decode_us": median_us(&|| {
            signed.iter().for_each(|s| ok(s.decode().is_ok()));
        }),
        "verify_signature_us": median_us(&|| {
            signed.iter().for_each(|s| ok(s.open().is_ok()));
        }),
        "verify_signature_batch64_us": median_us(&|| {
            for chunk in signed.chunks(64) {
                let batch = chunk.iter().map(|s| s.decode().expect("decodes")).collect();
                verify_checkins(batch).iter().for_each(|r| ok(r.is_ok()));
            }
        }),
        "verify_mac_us": median_us(&|| {
            maced.iter().for_each(|s| {
                ok(s.decode().and_then(|u| u.verify_mac(&server)).is_ok());
            });
        }),
        "sign_lease_us": median_us(&|| {
            leases.iter().for_each(|l| {
                std::hint::black_box(UnsignedLease::bare(l).sign(&server));
            });
        }),
        "sign_lease_batch64_us": median_us(&|| {
            for chunk in leases.chunks(64) {
                let batch = chunk.iter().map(UnsignedLease::bare).collect();
                std::hint::black_box(sign_batch(batch, &server));
            }
        }),
        "hand_out_mac_key_us": median_us(&|| {
            phones.iter().for_each(|k| {
                ok(server.wrapped_mac_key(Some(server.id()), &k.public()).is_some());
            });
        }),
    });
    println!("{figures}");
    Ok(())
}

/// A lease as a check-in's answer carries one: an active phone, no notices.
fn lease(server: &ServerKey, key: &DeviceKey) -> Lease {
    Lease {
        key_id: server.id(),
        device_id: DeviceId::new(),
        imei: Imei::parse("490154203237518").expect("a valid IMEI"),
        device_key: key.public(),
        sequence: 8,
        state: LeaseState::Active,
        issued_at: Timestamp::from_millis(1_700_000_000_000),
        valid_until: Timestamp::from_millis(1_700_604_800_000),
        next_checkin_at: Timestamp::from_millis(1_700_000_900_000),
        in_reply_to: 7,
        profile: RestrictionProfile::unrestricted(),
        lock_screen: LockScreen {
            lender_name: "Acme Finance".into(),
            support_phone: "+254 700 000000".into(),
            support_url: "https://acme.example/pay".into(),
            message: String::new(),
            amount_due: String::new(),
        },
        notices: Vec::new(),
        warn_at: Timestamp::from_millis(1_700_432_000_000),
        codes_through: 0,
        next_key: None,
    }
}
