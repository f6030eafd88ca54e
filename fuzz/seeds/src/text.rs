//! Seeds of the text targets: CSV files, IMEIs, amounts, names and lender JSON.

use jiff::civil::date;
use lienlock_domain::{
    ContractTerms, Currency, PolicyOverrides, PolicySettings, QuietHours, RestrictionLevel,
    RestrictionProfile, ScheduleSpec, TermsSpec,
};

fn bytes(texts: &[&str]) -> Vec<Vec<u8>> {
    texts.iter().map(|t| t.as_bytes().to_vec()).collect()
}

/// RFC 4180 corner cases.
pub fn csv() -> Vec<Vec<u8>> {
    bytes(&[
        "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\r\n\n\"two\nlines\",2,3\n4,,\"\"",
        "\u{feff}imei,model\n490154203237518,X1\n",
        "\"\"\n,\n\r\n\r\r\n",
        "a\n\"open\nstill",
    ])
}

/// Device files as lenders upload them.
pub fn device_csv() -> Vec<Vec<u8>> {
    bytes(&[
        "imei,imei2,serial,model\n490154203237518,356938035643809,SN-1,Tecno Spark\n352099001761481,,,\n",
        "\u{feff}Model , IMEI\r\n\"Itel, A70\",490154203237518\r\n",
        "imei\n490154203237519\n\n49015420323751\n",
        "imei,imei\n1,2\n",
    ])
}

/// Payment statements as `lienlock ctl payments import` reads them.
pub fn payments_csv() -> Vec<Vec<u8>> {
    bytes(&[
        "external_ref,amount,currency,received_at,contract_id,imei,reference\n\
         MP-1,1250.50,KES,2026-03-01T09:30:00+03:00,,490154203237518,\n\
         MP-2,1500,JPY,,0190a3f4-8c1e-7d2a-9b3c-4d5e6f708192,,INV-7\n",
        "\u{feff}External_Ref,Amount,Currency,Reference\r\n\"A,1\",0.005,KWD,\"x\"\"y\"\r\n",
        "external_ref,amount,currency,imei\nX,-3,KES,1\nY,92233720368547758.07,KES,\n",
    ])
}

/// IMEIs, valid and nearly so.
pub fn imeis() -> Vec<Vec<u8>> {
    bytes(&[
        "490154203237518",
        "356938035643809",
        "490154203237519",
        "49015420323751",
        "49015420323751٣",
        "000000000000000",
    ])
}

/// Input of the `money` target: a currency code, a space, then the amount.
pub fn money() -> Vec<Vec<u8>> {
    bytes(&[
        "KES 1250.50",
        "JPY 1500",
        "KWD -0.005",
        "KES 92233720368547758.07",
        "KES -92233720368547758.08",
        "USD 0",
        "EUR 1.",
        "kes 1",
    ])
}

/// Names, states, ids and addresses people and peers type.
pub fn words() -> Vec<Vec<u8>> {
    bytes(&[
        "lock",
        "unlock",
        "release",
        "pending",
        "active",
        "locked",
        "released",
        "bound",
        "change_pending",
        "owner",
        "agent",
        "viewer",
        "lock_notice",
        "due_reminder",
        "borrower",
        "lc1",
        "openpaygo",
        "extend_until",
        "20:00-08:00",
        "Africa/Nairobi",
        "asia/kolkata",
        "0190a3f4-8c1e-7d2a-9b3c-4d5e6f708192",
        "default",
        "  Reason: paid at the shop  ",
        "Owner@Example.COM",
        "llk_0190a3f48c1e7d2a9b3c4d5e6f708192_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "replayed_checkin",
        "https://lienlock.example/base",
    ])
}

/// Contract terms, policy settings, overrides and restriction profiles as JSON.
pub fn lender_json() -> Vec<Vec<u8>> {
    let kes = Currency::parse("KES").expect("known currency");
    let schedules = [
        ScheduleSpec::Monthly {
            first_due: date(2026, 1, 31),
            day_of_month: 31,
            count: 12,
        },
        ScheduleSpec::Weekly {
            first_due: date(2026, 1, 5),
            count: 520,
        },
        ScheduleSpec::Biweekly {
            first_due: date(9999, 1, 1),
            count: 3,
        },
        ScheduleSpec::Explicit(vec![
            (date(2026, 2, 1), 600_000),
            (date(2026, 3, 1), 700_000),
        ]),
    ];
    let mut out: Vec<Vec<u8>> = schedules
        .into_iter()
        .map(|schedule| TermsSpec {
            currency: kes,
            financed: 1_200_000,
            down_payment: 300_000,
            fees: 100_000,
            schedule,
            time_zone: "africa/nairobi".into(),
        })
        .map(|spec| match ContractTerms::new(spec.clone()) {
            Ok(terms) => serde_json::to_vec(&terms),
            Err(_) => serde_json::to_vec(&spec),
        })
        .filter_map(Result::ok)
        .collect();
    // From JSON, so settings added later with a default need no change here.
    let settings: Result<PolicySettings, _> = serde_json::from_value(serde_json::json!({
        "reminder_days_before": [3, 1, 0],
        "overdue_reminder_every_days": 3,
        "grace_days": 3,
        "banner_after_days": 5,
        "restricted_apps_after_days": 10,
        "full_lock_after_days": 30,
        "lock_notice_after_days": 7,
        "notice_min_hours_before_lock": 72,
        "second_notice_after_hours": 24,
        "second_notice_min_hours_before_lock": 24,
        "min_hours_per_level": 48,
        "quiet_hours": "20:00-08:00",
        "offline": {"lock_after_days": 7, "warn_days_before": 2},
    }));
    if let Ok(settings) = settings {
        out.extend(serde_json::to_vec(&settings));
    }
    out.extend(serde_json::to_vec(&PolicyOverrides {
        grace_days: Some(10),
        quiet_hours: QuietHours::parse("22:00-06:00").ok(),
        ..PolicyOverrides::default()
    }));
    out.extend(serde_json::to_vec(&RestrictionProfile::preset(
        RestrictionLevel::RestrictedApps,
    )));
    out
}
