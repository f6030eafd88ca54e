//! Any bytes as the JSON a lender sends: contract terms (with their schedule and time
//! zone), policy settings, per-contract overrides and a restriction profile. Never a panic
//! (nor a runaway schedule). Terms that are accepted have 1 to 520 positive installments,
//! numbered from 1, strictly increasing in date and summing exactly to financed + fees, and
//! survive a JSON round trip; settings and profiles survive one too, and checking settings
//! against every compliance profile never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_domain::contract::MAX_INSTALLMENTS;
use lienlock_domain::{
    Capability, ComplianceProfile, ContractTerms, PolicyOverrides, PolicySettings,
    RestrictionProfile,
};

fn round_trips<T>(v: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_vec(v).expect("serializes");
    assert_eq!(&serde_json::from_slice::<T>(&json).expect("reads back"), v);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(terms) = serde_json::from_slice::<ContractTerms>(data) {
        let list = terms.installments();
        assert!(!list.is_empty() && list.len() <= MAX_INSTALLMENTS);
        let owed = terms.financed().minor() + terms.fees().minor();
        assert_eq!(terms.amount_owed(), owed);
        assert_eq!(
            list.iter().map(|i| i128::from(i.amount)).sum::<i128>(),
            i128::from(owed)
        );
        for (n, i) in list.iter().enumerate() {
            assert!(i.amount > 0);
            assert_eq!(usize::try_from(i.number).ok(), Some(n + 1));
        }
        assert!(list.windows(2).all(|w| w[0].due < w[1].due));
        round_trips(&terms);
    }
    if let Ok(settings) = serde_json::from_slice::<PolicySettings>(data) {
        round_trips(&settings);
        let _ = settings.validate();
        for profile in ComplianceProfile::all() {
            let _ = profile.check(&settings);
        }
        let _ = settings.with_overrides(&PolicyOverrides::default());
    }
    if let Ok(overrides) = serde_json::from_slice::<PolicyOverrides>(data) {
        round_trips(&overrides);
    }
    if let Ok(profile) = serde_json::from_slice::<RestrictionProfile>(data) {
        round_trips(&profile);
        for c in Capability::ALL {
            if c.is_protected() {
                assert!(profile.allows(c), "{c:?} restricted");
            }
        }
        let (level, mask) = profile.to_wire();
        assert_eq!(RestrictionProfile::from_wire(level, mask), Ok(profile));
    }
});
