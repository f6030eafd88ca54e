//! Time zones and the conversions between lienlock's [`Timestamp`] and local calendars.
//!
//! Due dates are calendar dates in the lender's zone and quiet hours are times of day in the
//! device's zone, so both need the IANA database. Lookups go to the copy of the database
//! compiled into the binary (jiff's bundled tzdb), not to files on the host: every server,
//! test and simulation then agrees on when a date starts, and a host without a zoneinfo
//! directory still works. The cost is that new zone rules arrive with a dependency update.

use crate::time::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use std::sync::OnceLock;

/// Why a time-zone name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?} (expected an IANA name such as \"Africa/Nairobi\")")]
pub struct UnknownTimeZone(pub String);

fn database() -> &'static TimeZoneDatabase {
    static DB: OnceLock<TimeZoneDatabase> = OnceLock::new();
    DB.get_or_init(TimeZoneDatabase::bundled)
}

/// The zone named `name` (an IANA name such as `"Asia/Kolkata"`, case-insensitive).
///
/// Each call reads the zone's rules afresh; callers that evaluate often keep the returned
/// [`TimeZone`], which is cheap to clone.
pub fn lookup(name: &str) -> Result<TimeZone, UnknownTimeZone> {
    // Only IANA names: fixed offsets and POSIX strings would silently ignore daylight saving.
    if name.is_empty() || name.len() > 64 {
        return Err(UnknownTimeZone(name.to_owned()));
    }
    database()
        .get(name)
        .map_err(|_| UnknownTimeZone(name.to_owned()))
}

/// `t` as a jiff timestamp, clamped into the range jiff supports (about ±9999 years), so no
/// stored value can make a conversion fail.
pub fn to_jiff(t: Timestamp) -> jiff::Timestamp {
    match jiff::Timestamp::from_millisecond(t.as_millis()) {
        Ok(ts) => ts,
        Err(_) if t.as_millis() < 0 => jiff::Timestamp::MIN,
        Err(_) => jiff::Timestamp::MAX,
    }
}

/// `t` as a lienlock timestamp (epoch milliseconds).
pub fn from_jiff(t: jiff::Timestamp) -> Timestamp {
    Timestamp::from_millis(t.as_millisecond())
}

/// The local date and time at `t` in `tz`.
pub fn local(t: Timestamp, tz: &TimeZone) -> DateTime {
    tz.to_datetime(to_jiff(t))
}

/// The first instant of `date` in `tz`. On a day that starts with a daylight-saving gap
/// (São Paulo used to skip from 00:00 to 01:00) that is the first instant that exists.
/// `None` only at the very edge of the supported range.
pub fn start_of_day(date: Date, tz: &TimeZone) -> Option<Timestamp> {
    tz.to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .ok()
        .map(from_jiff)
}

/// The instant of `date` at `minute_of_day` (0..1440) local time in `tz`. A time skipped by
/// a daylight-saving gap maps to the instant just after the gap; a repeated time to its
/// first occurrence.
pub fn at_minute(date: Date, minute_of_day: u16, tz: &TimeZone) -> Option<Timestamp> {
    let h = i8::try_from(minute_of_day / 60).ok()?;
    let m = i8::try_from(minute_of_day % 60).ok()?;
    let time = jiff::civil::Time::new(h, m, 0, 0).ok()?;
    tz.to_timestamp(date.to_datetime(time)).ok().map(from_jiff)
}

/// A count of days since 1970-01-01 for `date`: cheap to compute and subtract, which the
/// policy engine does for every contract on every pass. (Proleptic Gregorian, after
/// Howard Hinnant's `days_from_civil`.)
pub fn day_number(date: Date) -> i32 {
    let (y, m, d) = (
        i32::from(date.year()),
        i32::from(date.month()),
        i32::from(date.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn names_are_looked_up_in_the_bundled_database() {
        let tz = lookup("Asia/Kolkata").unwrap();
        assert_eq!(tz.iana_name(), Some("Asia/Kolkata"));
        assert!(lookup("Africa/Nairobi").is_ok());
        assert!(lookup("UTC").is_ok());
        for bad in [
            "",
            "Mars/Olympus",
            "+05:30",
            "EST5EDT,M3.2.0,M11.1.0",
            "../etc",
        ] {
            assert!(lookup(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn day_numbers_match_jiff() {
        for d in [
            date(1970, 1, 1),
            date(2000, 2, 29),
            date(2024, 3, 1),
            date(1969, 12, 31),
            date(-9999, 1, 1),
            date(9999, 12, 31),
        ] {
            let expected = d.duration_since(date(1970, 1, 1)).as_secs() / 86_400;
            assert_eq!(i64::from(day_number(d)), expected, "{d}");
        }
    }

    #[test]
    fn kolkata_midnight_is_1830_utc_the_day_before() {
        let tz = lookup("Asia/Kolkata").unwrap();
        let t = start_of_day(date(2026, 3, 11), &tz).unwrap();
        assert_eq!(
            to_jiff(t).to_string(),
            "2026-03-10T18:30:00Z",
            "midnight in India"
        );
    }

    #[test]
    fn a_day_that_starts_in_a_gap_starts_after_it() {
        // São Paulo's last daylight-saving switch skipped 2018-11-04 00:00-01:00 (UTC-3 → -2).
        let tz = lookup("America/Sao_Paulo").unwrap();
        let t = start_of_day(date(2018, 11, 4), &tz).unwrap();
        assert_eq!(to_jiff(t).to_string(), "2018-11-04T03:00:00Z");
    }

    #[test]
    fn out_of_range_timestamps_clamp() {
        assert_eq!(
            to_jiff(Timestamp::from_millis(i64::MAX)),
            jiff::Timestamp::MAX
        );
        assert_eq!(
            to_jiff(Timestamp::from_millis(i64::MIN)),
            jiff::Timestamp::MIN
        );
    }
}
