//! LC1 unlock codes: round trips, what a typo, a guess, another device's code and a replay
//! each come to, and the worked example of docs/protocol.md and the guessing figures of
//! docs/security.md, which this file holds to the code.

use hmac::{Hmac, Mac};
use jiff::civil::{date, Date};
use jiff::SignedDuration;
use lienlock_domain::DeviceId;
use lienlock_wire::unlock_code::{
    CodeError, CodeKey, CodeKind, CodeState, UnlockCode, COUNTER_WINDOW, FIRST_DATE, LAST_DATE,
};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use sha2::Sha256;

const PROTOCOL_MD: &str = include_str!("../../../docs/protocol.md");
const SECURITY_MD: &str = include_str!("../../../docs/security.md");

/// Damm check digit, written here again from the document rather than taken from the crate.
fn damm(digits: &[u8]) -> u8 {
    const T: [[u8; 10]; 10] = [
        [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
        [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
        [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
        [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
        [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
        [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
        [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
        [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
        [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
        [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
    ];
    digits
        .iter()
        .fold(0, |i, &d| T[usize::from(i)][usize::from(d)])
}

/// A 19-digit number written as a code with its check digit (no grouping).
fn with_check_digit(number: u64) -> String {
    let body = format!("{number:019}");
    let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
    format!("{body}{}", damm(&digits))
}

fn digits_of(code: &str) -> Vec<u8> {
    code.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

fn text_of(digits: &[u8]) -> String {
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

fn day(n: u16) -> Date {
    FIRST_DATE
        .checked_add(SignedDuration::from_hours(24 * i64::from(n)))
        .unwrap()
}

fn kind() -> impl Strategy<Value = CodeKind> {
    prop_oneof![Just(CodeKind::ExtendUntil), Just(CodeKind::Unlock)]
}

/// A device, its key, its replay state and a code it may take: the counter lies within the
/// window above the state's highest.
#[derive(Debug, Clone)]
struct Case {
    key: CodeKey,
    device: DeviceId,
    state: CodeState,
    code: UnlockCode,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<[u8; 32]>(),
        any::<[u8; 16]>(),
        prop_oneof![0u32..200, 0u32..=u32::MAX - COUNTER_WINDOW],
        1..=COUNTER_WINDOW,
        kind(),
        0u16..16_384,
    )
        .prop_map(|(key, device, highest, ahead, kind, days)| Case {
            key: CodeKey::from_bytes(key),
            device: DeviceId::from_bytes(device),
            state: CodeState::new(highest),
            code: UnlockCode {
                kind,
                counter: highest + ahead,
                paid_until: day(days),
            },
        })
}

proptest! {
    #[test]
    fn codes_round_trip_once(c in case()) {
        let text = c.code.encode(&c.key, &c.device).unwrap();
        prop_assert_eq!(text.len(), 24);
        let grouped = |g: &str| g.len() == 4 && g.bytes().all(|b| b.is_ascii_digit());
        prop_assert!(text.split('-').all(grouped), "{}", text);
        // Every LC1 code's number lies in [2^61, 2^62): it starts with 2, 3 or 4.
        prop_assert!(matches!(text.as_bytes()[0], b'2'..=b'4'), "{}", text);
        prop_assert_eq!(UnlockCode::decode(&text, &c.key, &c.device, c.state), Ok(c.code));

        let mut state = c.state;
        prop_assert_eq!(state.redeem(&text, &c.key, &c.device), Ok(c.code));
        prop_assert_eq!(state.highest_counter(), c.code.counter);
        // Never twice: the same code again is a replay, not a guess, and changes nothing.
        let again = state.redeem(&text, &c.key, &c.device);
        prop_assert_eq!(again, Err(CodeError::Reused { counter: c.code.counter }));
        prop_assert!(!again.unwrap_err().counts_toward_lockout());
        prop_assert_eq!(state.highest_counter(), c.code.counter);
    }

    #[test]
    fn every_single_digit_change_is_a_typo(c in case()) {
        let digits = digits_of(&c.code.encode(&c.key, &c.device).unwrap());
        for i in 0..digits.len() {
            for d in (0..10).filter(|&d| d != digits[i]) {
                let mut typo = digits.clone();
                typo[i] = d;
                let got = UnlockCode::decode(&text_of(&typo), &c.key, &c.device, c.state);
                prop_assert_eq!(got, Err(CodeError::Typo), "digit {} -> {}", i, d);
            }
        }
    }

    #[test]
    fn every_swap_of_neighbours_is_a_typo(c in case()) {
        let digits = digits_of(&c.code.encode(&c.key, &c.device).unwrap());
        for i in 0..digits.len() - 1 {
            if digits[i] != digits[i + 1] {
                let mut swapped = digits.clone();
                swapped.swap(i, i + 1);
                let got = UnlockCode::decode(&text_of(&swapped), &c.key, &c.device, c.state);
                prop_assert_eq!(got, Err(CodeError::Typo), "swap at {}", i);
            }
        }
    }

    #[test]
    fn a_code_works_only_on_its_own_device(
        c in case(),
        other in any::<[u8; 16]>(),
        other_key in any::<[u8; 32]>(),
    ) {
        let text = c.code.encode(&c.key, &c.device).unwrap();
        let other = DeviceId::from_bytes(other);
        prop_assume!(other != c.device);
        // Same key, other device id in the tag.
        let got = UnlockCode::decode(&text, &c.key, &other, c.state);
        prop_assert_eq!(got, Err(CodeError::BadTag));
        // The other device's own key (derived, as the server does) and id.
        let secret = [0x5a; 32];
        let mine = CodeKey::derive(&secret, &c.device);
        let text = c.code.encode(&mine, &c.device).unwrap();
        let theirs = CodeKey::derive(&secret, &other);
        let got = UnlockCode::decode(&text, &theirs, &other, c.state);
        prop_assert_eq!(got, Err(CodeError::BadTag));
        // Any other key.
        let other_key = CodeKey::from_bytes(other_key);
        prop_assume!(other_key != c.key);
        let text = c.code.encode(&c.key, &c.device).unwrap();
        let got = UnlockCode::decode(&text, &other_key, &c.device, c.state);
        prop_assert_eq!(got, Err(CodeError::BadTag));
    }

    #[test]
    fn kind_date_and_counter_are_all_bound_by_the_tag(c in case()) {
        let text = c.code.encode(&c.key, &c.device).unwrap();
        let number: u64 = text.replace('-', "")[..19].parse().unwrap();
        // Flip one payload bit (kind low bit, a counter bit, a date bit) and fix the check
        // digit, as an attacker would: the tag no longer fits.
        for bit in [59u32, 54, 58, 40, 53] {
            let forged = with_check_digit(number ^ (1 << bit));
            let got = UnlockCode::decode(&forged, &c.key, &c.device, c.state);
            prop_assert!(
                matches!(got, Err(CodeError::BadTag | CodeError::Reused { .. })),
                "bit {}: {:?}", bit, got
            );
        }
    }

    #[test]
    fn the_state_only_moves_up(
        highest in 0u32..1000,
        counters in prop::collection::vec(0u32..1100, 1..40),
    ) {
        let mut state = CodeState::new(highest);
        let mut model = highest;
        for counter in counters {
            let code = UnlockCode { kind: CodeKind::Unlock, counter, paid_until: FIRST_DATE };
            let got = state.accept(&code);
            if counter > model {
                prop_assert_eq!(got, Ok(()));
                model = counter;
            } else {
                prop_assert_eq!(got, Err(CodeError::Reused { counter }));
            }
            prop_assert_eq!(state.highest_counter(), model);
        }
    }
}

fn fixed() -> (CodeKey, DeviceId) {
    let device = "019b7a4c-0000-7000-8000-000000000001"
        .parse::<DeviceId>()
        .unwrap();
    (CodeKey::derive(&[0x5a; 32], &device), device)
}

fn code(counter: u32) -> UnlockCode {
    UnlockCode {
        kind: CodeKind::ExtendUntil,
        counter,
        paid_until: date(2026, 3, 31),
    }
}

#[test]
fn older_codes_are_refused_after_newer_ones() {
    let (key, device) = fixed();
    let texts: Vec<String> = (1..=40)
        .map(|n| code(n).encode(&key, &device).unwrap())
        .collect();
    let mut state = CodeState::default();
    // Codes 1 to 3 in order, then 10: all fine (the server may mint codes never entered).
    for n in [1usize, 2, 3, 10] {
        assert_eq!(
            state.redeem(&texts[n - 1], &key, &device),
            Ok(code(n as u32))
        );
    }
    // 5 was minted before 10 and not entered: after 10 it is refused, as a replay.
    assert_eq!(
        state.redeem(&texts[4], &key, &device),
        Err(CodeError::Reused { counter: 5 })
    );
    assert_eq!(state.highest_counter(), 10);
    // Up to 32 ahead is in the window; code 43 would be read as 11 and fail its tag.
    assert_eq!(state.redeem(&texts[39], &key, &device), Ok(code(40)));
    let far = code(40 + COUNTER_WINDOW + 1).encode(&key, &device).unwrap();
    assert_eq!(
        UnlockCode::decode(&far, &key, &device, state),
        Err(CodeError::BadTag)
    );
    // A code more than a window behind the highest is no longer recognised as a replay:
    // it is refused as a wrong code.
    assert_eq!(
        UnlockCode::decode(&texts[2], &key, &device, state),
        Err(CodeError::BadTag)
    );
}

#[test]
fn a_replay_is_named_for_one_window_then_is_a_wrong_code() {
    let (key, device) = fixed();
    let text = code(7).encode(&key, &device).unwrap();
    for highest in 0..=6 {
        assert_eq!(
            UnlockCode::decode(&text, &key, &device, CodeState::new(highest)),
            Ok(code(7))
        );
    }
    for highest in 7..=38 {
        assert_eq!(
            UnlockCode::decode(&text, &key, &device, CodeState::new(highest)),
            Err(CodeError::Reused { counter: 7 }),
            "highest {highest}"
        );
    }
    for highest in 39..=100 {
        assert_eq!(
            UnlockCode::decode(&text, &key, &device, CodeState::new(highest)),
            Err(CodeError::BadTag),
            "highest {highest}"
        );
    }
}

#[test]
fn mint_refuses_what_the_format_cannot_carry() {
    let (key, device) = fixed();
    assert_eq!(
        code(0).encode(&key, &device),
        Err(CodeError::CounterOutOfRange(0))
    );
    for paid_until in [date(2023, 12, 31), date(2068, 11, 9), date(2100, 1, 1)] {
        let got = UnlockCode {
            paid_until,
            ..code(1)
        }
        .encode(&key, &device);
        assert_eq!(
            got,
            Err(CodeError::DateOutOfRange {
                date: paid_until,
                first: FIRST_DATE,
                last: LAST_DATE
            })
        );
    }
    for paid_until in [FIRST_DATE, LAST_DATE] {
        let text = UnlockCode {
            paid_until,
            ..code(1)
        }
        .encode(&key, &device)
        .unwrap();
        let got = UnlockCode::decode(&text, &key, &device, CodeState::default()).unwrap();
        assert_eq!(got.paid_until, paid_until);
    }
}

#[test]
fn other_versions_and_reserved_kinds_are_named_not_guessed() {
    let (key, device) = fixed();
    let state = CodeState::default();
    let tail = (7u64 << 54) | (820 << 40) | 0x12_3456_789a;
    for version in [0u64, 2, 3] {
        let text = with_check_digit((version << 61) | tail);
        assert_eq!(
            UnlockCode::decode(&text, &key, &device, state),
            Err(CodeError::UnsupportedVersion(version as u8))
        );
    }
    // Numbers of 2^63 and above: the version field reads 4.
    let text = with_check_digit(9_999_999_999_999_999_999);
    assert_eq!(
        UnlockCode::decode(&text, &key, &device, state),
        Err(CodeError::UnsupportedVersion(4))
    );
    for kind in [2u64, 3] {
        let text = with_check_digit((1 << 61) | (kind << 59) | tail);
        assert_eq!(
            UnlockCode::decode(&text, &key, &device, state),
            Err(CodeError::ReservedKind(kind as u8))
        );
    }
    assert_eq!(CodeKind::ALL.len(), 2, "no release kind, ever");
}

#[test]
fn typed_forms_are_tolerated_and_junk_is_named() {
    let (key, device) = fixed();
    let text = code(7).encode(&key, &device).unwrap();
    let state = CodeState::new(6);
    let plain = text.replace('-', "");
    for typed in [
        plain.clone(),
        text.replace('-', " "),
        format!(" {} ", text.replace('-', " - ")),
        format!("{}-{}", &plain[..10], &plain[10..]),
    ] {
        assert_eq!(
            UnlockCode::decode(&typed, &key, &device, state),
            Ok(code(7)),
            "{typed:?}"
        );
    }
    for (typed, error) in [
        (format!("{plain}#"), CodeError::BadCharacter('#')),
        (text.replace('-', "/"), CodeError::BadCharacter('/')),
        (format!("O{}", &plain[1..]), CodeError::BadCharacter('O')),
        (
            plain[..16].to_string(),
            CodeError::WrongLength {
                expected: 20,
                got: 16,
            },
        ),
    ] {
        assert_eq!(
            UnlockCode::decode(&typed, &key, &device, state),
            Err(error),
            "{typed:?}"
        );
        assert!(!error.counts_toward_lockout());
    }
    assert!(CodeError::BadTag.counts_toward_lockout());
    assert!(!CodeError::Typo.counts_toward_lockout());
}

#[test]
fn random_entries_are_mostly_typos_and_never_accepted() {
    let (key, device) = fixed();
    let state = CodeState::new(6);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (mut typos, mut others) = (0u32, 0u32);
    let tries = 20_000;
    for _ in 0..tries {
        let text: String = (0..20)
            .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
            .collect();
        match UnlockCode::decode(&text, &key, &device, state) {
            Ok(code) => panic!("random {text} accepted as {code:?}"),
            Err(CodeError::Typo) => typos += 1,
            Err(_) => others += 1,
        }
    }
    // The check digit passes one random entry in ten.
    assert!((17_500..18_500).contains(&typos), "{typos} typos");
    assert_eq!(typos + others, tries);
}

// --- docs/protocol.md, worked example -------------------------------------------------

const EXAMPLE_CODE_KEY: &str = "89afb7a8c9247780cd2d9c5a5ae37854e836b292312619769d017f46c002bc5a";
const EXAMPLE_TAG_INPUT: &str = "6c69656e6c6f636b2d756e6c6f636b2d636f64652d7631019b7a4c0000700080000000000000010100000000070334";
const EXAMPLE_HMAC: &str = "f32996b184b0f5b411b2c4d9d20a86ab36588bd9de2e26b274e856f6f11c36c7";
const EXAMPLE_NUMBER: &str = "2432846442689638788";
const EXAMPLE_CODE: &str = "2432-8464-4268-9638-7883";

#[test]
fn worked_example_matches_the_document() {
    let (key, device) = fixed();
    assert_eq!(hex::encode(key.as_bytes()), EXAMPLE_CODE_KEY);

    // The tag input and HMAC as the document spells them out, computed here by hand.
    let mut input = b"lienlock-unlock-code-v1".to_vec();
    input.extend_from_slice(&device.to_bytes());
    input.extend_from_slice(&[1, 0]);
    input.extend_from_slice(&7u32.to_be_bytes());
    input.extend_from_slice(&820u16.to_be_bytes());
    assert_eq!(hex::encode(&input), EXAMPLE_TAG_INPUT);
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(&input);
    let digest = mac.finalize().into_bytes();
    assert_eq!(hex::encode(digest), EXAMPLE_HMAC);
    let tag = u64::from_be_bytes([
        0, 0, 0, digest[0], digest[1], digest[2], digest[3], digest[4],
    ]);
    let number = (1u64 << 61) | (7 << 54) | (820 << 40) | tag;
    assert_eq!(number.to_string(), EXAMPLE_NUMBER);
    assert_eq!(
        with_check_digit(number),
        EXAMPLE_CODE.replace('-', ""),
        "check digit"
    );

    // The codec agrees.
    let text = code(7).encode(&key, &device).unwrap();
    assert_eq!(text, EXAMPLE_CODE);
    assert_eq!(
        UnlockCode::decode(&text, &key, &device, CodeState::new(6)),
        Ok(code(7))
    );

    for shown in [
        EXAMPLE_CODE_KEY,
        EXAMPLE_TAG_INPUT,
        EXAMPLE_HMAC,
        EXAMPLE_NUMBER,
        EXAMPLE_CODE,
    ] {
        assert!(
            PROTOCOL_MD.contains(shown),
            "docs/protocol.md no longer shows {shown}"
        );
    }
}

// --- docs/security.md, guesses under the lockout --------------------------------------

/// Wrong entries a device lets through in `minutes`, from the first one at minute 0: after
/// the n-th wrong entry it waits 2^(n-1) minutes, at most 512.
fn guesses_within(minutes: u64) -> u64 {
    let (mut t, mut n) = (0u64, 0u64);
    while t < minutes {
        n += 1;
        t += 1 << (n - 1).min(9);
    }
    n
}

#[test]
fn guessing_figures_match_the_document() {
    let day = 24 * 60;
    let figures = [
        (day, 11),
        (7 * day, 28),
        (30 * day, 93),
        (365 * day, 1035),
        (3650 * day, 10_274),
    ];
    for (minutes, guesses) in figures {
        assert_eq!(guesses_within(minutes), guesses, "{minutes} minutes");
    }
    let section = SECURITY_MD
        .split("## Unlock codes: guessing")
        .nth(1)
        .expect("docs/security.md has the unlock-code section");
    for shown in ["| 11 |", "| 28 |", "| 93 |", "| 1 035 |", "| 10 274 |"] {
        assert!(section.contains(shown), "docs/security.md lacks {shown}");
    }
    // 2^-40 per counted guess: a year's worth is about 9.4e-10.
    let per_year = 1035.0 / 2f64.powi(40);
    assert!((9.41e-10..9.42e-10).contains(&per_year));
}
