//! Every other parser of a word, name or short string from outside, on the same text:
//! bounded free text, quiet hours, time-zone names, ids, the stored and API names of states
//! and kinds, compliance profile names, the agent's reading of a server error code and of a
//! server URL, the server's reading of a presented API key and of a sign-in address.
//! Never a panic. Whatever parses renders back to what was given (or its canonical form,
//! which parses to the same value); an API key parses only in its exact shape, and only the
//! minted key matches its stored MAC; a normalized address normalizes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_agent::{ErrorCode, Provisioning};
use lienlock_domain::{
    zone, BoundedText, CodeFormat, CodeGrantKind, CommandKind, CommandStatus, ComplianceProfile,
    ContractId, ContractState, DeviceId, DeviceState, DisputeOpener, EventKind, KeyStatus,
    LenderId, NoticeKind, Phase, QuietHours, Role,
};
use lienlock_server::apikey::{self, MintedKey, ServerSecret};
use lienlock_server::service::normalize_email;
use std::str::FromStr;
use std::sync::OnceLock;

fn bounded<const MAX: usize>(s: &str) {
    if let Ok(t) = BoundedText::<MAX>::parse(s) {
        assert_eq!(t.as_str(), s.trim());
        assert!(!t.as_str().is_empty() && t.as_str().chars().count() <= MAX);
        assert!(!t.as_str().chars().any(char::is_control));
        assert_eq!(BoundedText::<MAX>::parse(t.as_str()), Ok(t));
    }
}

fn id<T: FromStr + ToString + PartialEq + std::fmt::Debug>(s: &str) {
    if let Ok(v) = s.parse::<T>() {
        assert_eq!(v.to_string().parse::<T>().ok(), Some(v));
    }
}

/// `parse(s)` gives a value only for its own name.
macro_rules! names {
    ($s:expr, $($t:ty),*) => {$(
        if let Some(v) = <$t>::parse($s) {
            assert_eq!(v.as_str(), $s, stringify!($t));
        }
    )*};
}

struct Keys {
    secret: ServerSecret,
    minted: MintedKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let secret = ServerSecret::new([0x77; 32]);
        let minted = apikey::mint(&secret);
        Keys { secret, minted }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    bounded::<1>(s);
    bounded::<80>(s);
    bounded::<500>(s);

    if let Ok(q) = QuietHours::parse(s) {
        assert!(q.start() < 1440 && q.end() < 1440);
        assert_eq!(QuietHours::parse(&q.to_string()), Ok(q));
    }
    if let Ok(tz) = zone::lookup(s) {
        if let Some(name) = tz.iana_name() {
            assert!(zone::lookup(name).is_ok());
        }
    }
    id::<DeviceId>(s);
    id::<LenderId>(s);
    id::<ContractId>(s);
    names!(
        s,
        CommandKind,
        CommandStatus,
        DeviceState,
        KeyStatus,
        Role,
        EventKind,
        ContractState,
        Phase,
        NoticeKind,
        DisputeOpener
    );
    if let Ok(f) = s.parse::<CodeFormat>() {
        assert_eq!(f.as_str(), s);
    }
    if let Ok(k) = s.parse::<CodeGrantKind>() {
        assert_eq!(k.as_str(), s);
    }
    if let Ok(p) = ComplianceProfile::by_name(s) {
        assert_eq!(p.name, s);
    }

    assert_eq!(ErrorCode::parse(s).as_str(), s);
    let _ = Provisioning::validate_url(s);

    let k = keys();
    if let Some(presented) = apikey::parse(&k.secret, s) {
        assert_eq!(s.len(), 4 + 32 + 1 + 43);
        assert!(s.starts_with("llk_") && s.as_bytes()[36] == b'_');
        assert_eq!(
            presented.id.as_uuid().simple().to_string(),
            s[4..36].to_ascii_lowercase()
        );
        if presented.matches(&k.minted.secret_hmac) {
            assert_eq!(s, k.minted.plaintext.as_str());
        }
    }

    if let Ok(email) = normalize_email(s) {
        assert!(email.len() <= 254);
        assert_eq!(email.matches('@').count(), 1);
        assert_eq!(normalize_email(&email).ok().as_ref(), Some(&email));
    }
});
