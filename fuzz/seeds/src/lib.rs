//! What the fuzz targets and their seed corpora share: fixed keys, valid sample messages
//! and codes, and the byte layout of each target's input.
//!
//! Everything here is deterministic (fixed key seeds, fixed ids and times), so a target can
//! recompute exactly what was signed and assert that nothing else ever verifies.

use lienlock_domain::policy::TamperKind;
use lienlock_domain::{
    DeviceId, Imei, LeaseState, RestrictionLevel, RestrictionProfile, Timestamp,
};
use lienlock_wire::codec::b64;
use lienlock_wire::lease::MAGIC_V2;
use lienlock_wire::openpaygo::{self, Format, Key, StartingCode, TokenType};
use lienlock_wire::unlock_code::{CodeKey, CodeKind, UnlockCode};
use lienlock_wire::{
    CheckIn, CheckInVersion, DeviceKey, DeviceReport, DisputeRequest, Lease, LeaseEnvelope,
    LeaseNotice, LockScreen, ReportKind, ServerKey, SignedCheckIn, SignedDispute, SignedSubscribe,
    SubscribeRequest, TamperSignal, UnsignedLease,
};

pub mod text;

/// The server key the lease targets pin.
pub fn server_key() -> ServerKey {
    ServerKey::from_secret([0x5e; 32])
}

/// A second server key: nothing signed by [`server_key`] may open under it.
pub fn other_server_key() -> ServerKey {
    ServerKey::from_secret([0xa7; 32])
}

/// The device key that signs the sample device requests.
pub fn device_key() -> DeviceKey {
    DeviceKey::from_secret([0x3c; 32])
}

/// The sample device's IMEI.
pub fn imei() -> Imei {
    Imei::parse("490154203237518").expect("a valid IMEI")
}

/// The sample device's id.
pub fn device_id() -> DeviceId {
    DeviceId::from_bytes([0x11; 16])
}

/// The `LC1` code key of the sample device.
pub fn code_key() -> CodeKey {
    CodeKey::from_bytes([0x42; 32])
}

/// The OpenPAYGO key of the sample device (the reference implementation's test key).
pub fn openpaygo_key() -> Key {
    Key::parse_hex("bc41ec9530f6dac86b1a29ab82edc5fb").expect("32 hex digits")
}

/// The OpenPAYGO starting code of the sample device.
pub fn openpaygo_start() -> StartingCode {
    StartingCode::new(123_456_789).expect("nine digits")
}

fn lock_screen(amount_due: &str) -> LockScreen {
    LockScreen {
        lender_name: "Acme Finance".into(),
        support_phone: "+254 700 000000".into(),
        support_url: "https://acme.example/pay".into(),
        message: "Pay the overdue installment to unlock. Emergency calls work.".into(),
        amount_due: amount_due.into(),
    }
}

/// Sample leases for the sample device, naming [`server_key`]: one per state, with and
/// without notices, one at the limits (longest texts, most notices), and one announcing
/// [`other_server_key`] as the next key (version 4; the others are version 3).
pub fn sample_leases() -> Vec<Lease> {
    let key_id = server_key().id();
    let base = Lease {
        key_id,
        device_id: device_id(),
        imei: imei(),
        device_key: device_key().public(),
        sequence: 7,
        state: LeaseState::Locked,
        issued_at: Timestamp::from_millis(1_700_000_000_000),
        valid_until: Timestamp::from_millis(1_700_604_800_000),
        next_checkin_at: Timestamp::from_millis(1_700_000_900_000),
        in_reply_to: 12,
        profile: RestrictionProfile::full_lock(),
        lock_screen: lock_screen("KES 1,500.00"),
        notices: vec![LeaseNotice {
            seq: 3,
            kind: "lock_notice".into(),
            message: "Your phone will be restricted after 25 Nov unless you pay.".into(),
        }],
        warn_at: Timestamp::from_millis(1_700_432_000_000),
        codes_through: 4,
        next_key: None,
    };
    let active = Lease {
        sequence: 8,
        state: LeaseState::Active,
        profile: RestrictionProfile::unrestricted(),
        lock_screen: lock_screen(""),
        notices: Vec::new(),
        ..base.clone()
    };
    let released = Lease {
        sequence: 9,
        state: LeaseState::Released,
        profile: RestrictionProfile::preset(RestrictionLevel::RestrictedApps),
        ..active.clone()
    };
    let long = "é".repeat(256);
    let limits = Lease {
        sequence: u64::MAX,
        lock_screen: LockScreen {
            lender_name: long.clone(),
            support_phone: long.clone(),
            support_url: long.clone(),
            message: long.clone(),
            amount_due: long.clone(),
        },
        notices: (0..lienlock_wire::MAX_NOTICES as u64)
            .map(|seq| LeaseNotice {
                seq,
                kind: "due_reminder".into(),
                message: long.clone(),
            })
            .collect(),
        codes_through: u32::MAX,
        ..base.clone()
    };
    let announcing = Lease {
        sequence: 10,
        next_key: Some(other_server_key().public()),
        ..active.clone()
    };
    vec![base, active, released, limits, announcing]
}

/// The version 2 encoding of a lease: version 3 without `amount_due`.
pub fn encode_v2(lease: &Lease) -> Vec<u8> {
    let mut l = lease.clone();
    l.lock_screen.amount_due = String::new();
    l.next_key = None;
    let v3 = l.encode();
    let tail: usize = 1
        + l.notices
            .iter()
            .map(|n| 8 + 2 + n.kind.len() + 2 + n.message.len())
            .sum::<usize>()
        + 8
        + 4;
    let at = v3.len() - tail - 2; // where the empty `amount_due` (its 2-byte length) sits
    let mut v2 = MAGIC_V2.to_vec();
    v2.extend_from_slice(&v3[8..at]);
    v2.extend_from_slice(&v3[at + 2..]);
    v2
}

/// Every lease encoding [`server_key`] signs here (each sample as written, and as version 2).
/// Nothing else may ever verify under it.
pub fn signed_lease_bytes() -> Vec<Vec<u8>> {
    sample_leases()
        .iter()
        .flat_map(|l| [l.encode(), encode_v2(l)])
        .collect()
}

/// An envelope for `bytes` signed by `key` (any bytes, so version 2 leases too).
pub fn envelope(bytes: &[u8], key: &ServerKey) -> LeaseEnvelope {
    LeaseEnvelope {
        key_id: key.id().to_string(),
        lease: b64(bytes),
        signature: b64(&key.sign(bytes)),
        proof: None,
        view: None,
        mac_key: None,
    }
}

/// Sample check-ins: version 3 without reports or signals, the same as version 4 and as
/// version 5 (sealed with its MAC under the sample server key), version 3 with the most
/// reports and signals, and version 2 (older agents).
pub fn sample_checkins() -> Vec<CheckIn> {
    let base = CheckIn {
        version: CheckInVersion::V3,
        imei: imei(),
        device_key: device_key().public(),
        counter: 42,
        device_time: Timestamp::from_millis(1_700_000_000_000),
        held_lease_seq: 3,
        notice_ack: 2,
        server_key_id: Some(server_key().id()),
        user_since: 0,
        reports: Vec::new(),
        signals: Vec::new(),
    };
    let reports = (0..lienlock_wire::MAX_REPORTS as i64)
        .map(|i| DeviceReport {
            kind: if i % 2 == 0 {
                ReportKind::ClockSetBack
            } else {
                ReportKind::CodeRedeemed
            },
            at: Timestamp::from_millis(1_700_000_000_000 + i),
            value: i * 3_600_000,
        })
        .collect::<Vec<_>>();
    let signals = [
        TamperKind::SimChanged,
        TamperKind::ClockSetBack,
        TamperKind::DebugOrRoot,
        TamperKind::WrongCodes,
    ]
    .into_iter()
    .zip(1u32..)
    .map(|(kind, seq)| TamperSignal {
        kind,
        seq,
        seen_wall: Timestamp::from_millis(1_700_000_000_000),
        seen_trusted: Timestamp::from_millis(1_700_000_000_000 - i64::from(seq)),
        value: i64::from(seq) * 1000,
    })
    .collect();
    vec![
        base.clone(),
        CheckIn {
            version: CheckInVersion::V4,
            ..base.clone()
        },
        CheckIn {
            version: CheckInVersion::V5,
            ..base.clone()
        },
        CheckIn {
            counter: u64::MAX,
            device_time: Timestamp::from_millis(i64::MIN),
            server_key_id: None,
            user_since: 41,
            reports: reports.clone(),
            signals,
            ..base.clone()
        },
        CheckIn {
            version: CheckInVersion::V2,
            server_key_id: None,
            reports,
            ..base
        },
    ]
}

/// Sample dispute requests.
pub fn sample_disputes() -> Vec<DisputeRequest> {
    let base = DisputeRequest {
        imei: imei(),
        device_key: device_key().public(),
        counter: 9,
        device_time: Timestamp::from_millis(1_700_000_000_000),
        reason: "I paid: receipt MP-7781".into(),
    };
    vec![
        base.clone(),
        DisputeRequest {
            reason: "ü".repeat(256),
            ..base
        },
    ]
}

/// A sample push subscription.
pub fn sample_subscribe() -> SubscribeRequest {
    SubscribeRequest {
        imei: imei(),
        device_key: device_key().public(),
        device_time: Timestamp::from_millis(1_700_000_000_000),
        nonce: [7; 16],
    }
}

/// Input of the `unlock_code` target: the device's highest accepted counter (4 bytes,
/// big-endian), then the typed text. The key and device are [`code_key`] and [`device_id`].
pub fn unlock_code_input(highest: u32, text: &str) -> Vec<u8> {
    let mut v = highest.to_be_bytes().to_vec();
    v.extend_from_slice(text.as_bytes());
    v
}

/// Reads [`unlock_code_input`] back; `None` when too short.
pub fn split_unlock_code_input(data: &[u8]) -> Option<(u32, &[u8])> {
    let (head, text) = data.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*head), text))
}

/// Valid `LC1` codes of the sample device: `(counter, text)`.
pub fn sample_unlock_codes() -> Vec<(u32, String)> {
    let dates = [
        jiff::civil::date(2024, 1, 1),
        jiff::civil::date(2026, 3, 31),
        jiff::civil::date(2068, 11, 8),
    ];
    [1u32, 2, 5, 31, 32, 33, 64, 1000, u32::MAX]
        .into_iter()
        .enumerate()
        .filter_map(|(i, counter)| {
            let code = UnlockCode {
                kind: CodeKind::ALL[i % 2],
                counter,
                paid_until: dates[i % dates.len()],
            };
            Some((counter, code.encode(&code_key(), &device_id()).ok()?))
        })
        .collect()
}

/// The format flags byte of the OpenPAYGO targets: bit 0 restricted digits, bit 1 extended.
pub fn format_of(flags: u8) -> Format {
    Format {
        restricted_digits: flags & 1 != 0,
        extended: flags & 2 != 0,
    }
}

/// The flags byte for `format` (see [`format_of`]).
pub fn format_flags(format: Format) -> u8 {
    u8::from(format.restricted_digits) | (u8::from(format.extended) << 1)
}

/// Largest device count the `openpaygo_token` target uses: decoding walks the token chain
/// from count 0, so a larger count only makes each input slower, not more interesting.
pub const OPENPAYGO_MAX_COUNT: u32 = 1024;

/// Input of the `openpaygo_token` target: format flags, the device's maximum count (2
/// bytes; taken modulo [`OPENPAYGO_MAX_COUNT`] + 1), its used mask (2 bytes), then the
/// token as typed. The key and starting code are [`openpaygo_key`] and [`openpaygo_start`].
pub fn openpaygo_input(format: Format, max: u16, mask: u16, token: &str) -> Vec<u8> {
    let mut v = vec![format_flags(format)];
    v.extend_from_slice(&max.to_be_bytes());
    v.extend_from_slice(&mask.to_be_bytes());
    v.extend_from_slice(token.as_bytes());
    v
}

/// Reads [`openpaygo_input`] back: `(format, max, mask, token)`.
pub fn split_openpaygo_input(data: &[u8]) -> Option<(Format, u32, u16, &[u8])> {
    let (head, token) = data.split_first_chunk::<5>()?;
    let max = u32::from(u16::from_be_bytes([head[1], head[2]])) % (OPENPAYGO_MAX_COUNT + 1);
    let mask = u16::from_be_bytes([head[3], head[4]]);
    Some((format_of(head[0]), max, mask, token))
}

/// Genuine OpenPAYGO tokens of the sample device in every format, each with the count the
/// device had before it: `(format, count before, token)`.
pub fn sample_openpaygo_tokens() -> Vec<(Format, u32, String)> {
    let mut out = Vec::new();
    for flags in 0..4 {
        let format = format_of(flags);
        let kinds = [
            (TokenType::AddTime, Some(7)),
            (TokenType::SetTime, Some(30)),
            (TokenType::DisablePayg, None),
            (TokenType::CounterSync, None),
        ];
        for (i, (kind, value)) in kinds.into_iter().enumerate() {
            let count = [0u32, 1, 10, 63][i];
            if let Ok(g) = openpaygo::generate(
                &openpaygo_key(),
                openpaygo_start(),
                count,
                kind,
                value,
                format,
            ) {
                out.push((format, count, g.token));
            }
        }
    }
    out
}

/// The value of a decimal amount (`-1250.5`) in minor units of a currency with `exp`
/// decimals, computed apart from `Money::parse`; `None` when it is not digits or does not
/// fit `i128`.
pub fn minor_of(s: &str, exp: u32) -> Option<i128> {
    let (negative, digits) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut n: i128 = 0;
    for b in whole.bytes().chain(frac.bytes()) {
        n = n
            .checked_mul(10)?
            .checked_add(i128::from(b.checked_sub(b'0')?))?;
    }
    let n = n.checked_mul(10i128.pow(exp.checked_sub(u32::try_from(frac.len()).ok()?)?))?;
    Some(if negative { -n } else { n })
}

/// Checks that the fixtures are what the targets take them for (each lease, request, code
/// and token is valid), so a change in the project that makes them stale shows up as an
/// error here rather than as seeds that teach the fuzzer nothing.
pub fn check() -> Result<(), String> {
    for bytes in signed_lease_bytes() {
        Lease::decode(&bytes).map_err(|e| format!("a sample lease does not decode: {e}"))?;
    }
    for c in sample_checkins() {
        CheckIn::decode(&c.encode()).map_err(|e| format!("a sample check-in: {e}"))?;
    }
    for d in sample_disputes() {
        DisputeRequest::decode(&d.encode()).map_err(|e| format!("a sample dispute: {e}"))?;
    }
    SubscribeRequest::decode(&sample_subscribe().encode())
        .map_err(|e| format!("the sample subscription: {e}"))?;
    let codes = sample_unlock_codes();
    if codes.len() < 9 {
        return Err(format!("only {} sample unlock codes", codes.len()));
    }
    for (counter, text) in codes {
        let state = lienlock_wire::unlock_code::CodeState::new(counter - 1);
        UnlockCode::decode(&text, &code_key(), &device_id(), state)
            .map_err(|e| format!("sample unlock code {text}: {e}"))?;
    }
    let tokens = sample_openpaygo_tokens();
    if tokens.len() < 16 {
        return Err(format!("only {} sample OpenPAYGO tokens", tokens.len()));
    }
    for (format, count, token) in tokens {
        let state = openpaygo::UsedCounts::new(count);
        let decoded = openpaygo::decode_with_state(
            &openpaygo_key(),
            openpaygo_start(),
            state,
            &token,
            format,
        )
        .map_err(|e| format!("sample token {token}: {e}"))?;
        if decoded.kind.accepted().is_none() {
            return Err(format!("sample token {token} is not accepted"));
        }
    }
    if text::lender_json().len() < 7 {
        return Err("a lender JSON sample no longer reads (see seeds/src/text.rs)".into());
    }
    Ok(())
}

/// Every target's seeds: `(target name, inputs)`.
pub fn seeds() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let server = server_key();
    let device = device_key();
    let leases = signed_lease_bytes();

    let lease_signature = leases
        .iter()
        .map(|bytes| {
            let mut v = server.sign(bytes).to_vec();
            v.extend_from_slice(bytes);
            v
        })
        .collect();
    let mut lease_envelope: Vec<Vec<u8>> = leases
        .iter()
        .map(|bytes| json(&envelope(bytes, &server)))
        .collect();
    // With the readable view the server adds.
    lease_envelope.extend(
        sample_leases()
            .iter()
            .map(|l| json(&LeaseEnvelope::seal(l, &server))),
    );
    // Signed in one batch, each with its path to the signed root.
    lease_envelope.extend(
        lienlock_wire::sign_batch(sample_leases().iter().map(UnsignedLease::new).collect(), &server)
            .iter()
            .map(json),
    );

    let mut device_messages: Vec<Vec<u8>> = sample_checkins().iter().map(CheckIn::encode).collect();
    device_messages.extend(sample_disputes().iter().map(DisputeRequest::encode));
    device_messages.push(sample_subscribe().encode());

    let mut device_envelopes: Vec<Vec<u8>> = sample_checkins()
        .iter()
        .map(|c| match server.checkin_mac_key(server.id(), &device.public()) {
            // A version 5 check-in with the tag the fuzz targets' server key takes.
            Some(mac) if c.version.is_mac() => json(&SignedCheckIn::seal_mac(c, &mac)),
            _ => json(&SignedCheckIn::seal(c, &device)),
        })
        .collect();
    device_envelopes.extend(
        sample_disputes()
            .iter()
            .map(|d| json(&SignedDispute::seal(d, &device))),
    );
    device_envelopes.push(json(&SignedSubscribe::seal(&sample_subscribe(), &device)));

    let keys = vec![
        server.public().to_hex().into_bytes(),
        server.public().to_hex().to_uppercase().into_bytes(),
        format!(" {}\n", other_server_key().public().to_hex()).into_bytes(),
        device.public().to_vec(),
        format!(
            r#"{{"key_id":"{}","public_key":"{}"}}"#,
            server.id(),
            server.public().to_hex()
        )
        .into_bytes(),
        b"bc41ec9530f6dac86b1a29ab82edc5fb".to_vec(),
        b"123456789".to_vec(),
    ];

    let mut unlock_code = Vec::new();
    for (counter, code) in sample_unlock_codes() {
        let below = counter.saturating_sub(1);
        unlock_code.push(unlock_code_input(below, &code));
        unlock_code.push(unlock_code_input(below, &code.replace('-', " ")));
        // Entered again: a reuse, not a guess.
        unlock_code.push(unlock_code_input(counter, &code));
    }
    unlock_code.push(unlock_code_input(0, "2432-8464-4268-9638-7883"));

    // kind, counter, days, distance below the counter, key and device bytes: see the target.
    let unlock_code_roundtrip = vec![
        [&[0u8][..], &1u32.to_be_bytes(), &820u16.to_be_bytes(), &[1]].concat(),
        [
            &[1u8][..],
            &u32::MAX.to_be_bytes(),
            &16_383u16.to_be_bytes(),
            &[32],
        ]
        .concat(),
    ];

    let mut openpaygo_token = Vec::new();
    let mut openpaygo_roundtrip = Vec::new();
    for (format, count, token) in sample_openpaygo_tokens() {
        let count16 = u16::try_from(count).unwrap_or(u16::MAX);
        openpaygo_token.push(openpaygo_input(format, count16, 0, &token));
        openpaygo_token.push(openpaygo_input(format, count16 + 2, 0xffff, &token));
        openpaygo_roundtrip.push(
            [
                &[format_flags(format), (count % 4) as u8][..],
                &count.to_be_bytes(),
                &7u32.to_be_bytes(),
            ]
            .concat(),
        );
    }

    vec![
        ("lease_decode", leases.clone()),
        ("lease_signature", lease_signature),
        ("lease_envelope", lease_envelope),
        ("device_messages", device_messages),
        ("device_envelopes", device_envelopes),
        ("keys", keys),
        ("unlock_code", unlock_code),
        ("unlock_code_roundtrip", unlock_code_roundtrip),
        ("openpaygo_token", openpaygo_token),
        ("openpaygo_roundtrip", openpaygo_roundtrip),
        ("csv", text::csv()),
        ("device_import", text::device_csv()),
        ("payments_csv", text::payments_csv()),
        ("imei", text::imeis()),
        ("money", text::money()),
        ("text_parsers", text::words()),
        ("lender_json", text::lender_json()),
    ]
}

/// Compact JSON, as the server and the agent send it.
fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("envelopes serialize")
}
