//! A lender's policy settings: when to remind, when to restrict, how long notices run, and
//! the quiet hours during which no lock starts.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest threshold in days (ten years): larger values are typing mistakes.
pub const MAX_DAYS: u16 = 3650;
/// The longest period in hours (one year).
pub const MAX_HOURS: u32 = 24 * 365;

/// Why settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A value that makes no sense on its own (out of range, levels out of order).
    #[error("{field}: {reason}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A value looser than the lender's compliance profile allows.
    #[error("{field} is looser than profile {profile} allows: must be {required}, got {got}")]
    LooserThanProfile {
        /// The profile's name.
        profile: &'static str,
        /// The setting.
        field: &'static str,
        /// What the profile requires ("at least 90", "covering 22:00-06:00").
        required: String,
        /// What was configured.
        got: String,
    },
    /// A profile name that ships with no profile.
    #[error("unknown compliance profile {0:?}")]
    UnknownProfile(String),
}

/// Days before a due date on which a reminder goes out, as a set of 0..=30 (0 is the due
/// date itself). A bit set rather than a list: it is `Copy`, has no duplicates or order to
/// get wrong, and checking a day is one instruction.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<u8>", into = "Vec<u8>")]
pub struct ReminderDays(u32);

impl ReminderDays {
    /// The furthest ahead a reminder can be set, in days.
    pub const MAX_DAY: u8 = 30;

    /// No reminders before due dates.
    pub const NONE: ReminderDays = ReminderDays(0);

    /// The set of `days`, each 0..=30.
    pub fn new(days: &[u8]) -> Result<Self, PolicyError> {
        let mut bits = 0u32;
        for d in days {
            if *d > Self::MAX_DAY {
                return Err(PolicyError::Invalid {
                    field: "reminder_days_before",
                    reason: "reminder days are 0 to 30",
                });
            }
            bits |= 1 << d;
        }
        Ok(Self(bits))
    }

    /// For compile-time profile data; bits above 30 are dropped.
    pub(crate) const fn from_bits(bits: u32) -> Self {
        Self(bits & 0x7fff_ffff)
    }

    /// Whether a reminder goes out `days` before the due date.
    pub fn contains(self, days: i32) -> bool {
        (0..=i32::from(Self::MAX_DAY)).contains(&days) && self.0 & (1 << days) != 0
    }

    /// The furthest-ahead reminder day, if any.
    pub fn max(self) -> Option<u8> {
        // The highest set bit; at most 30, so the conversion cannot fail.
        (self.0 != 0).then(|| u8::try_from(31 - self.0.leading_zeros()).unwrap_or(Self::MAX_DAY))
    }

    /// The days, ascending.
    pub fn days(self) -> impl Iterator<Item = u8> {
        (0..=Self::MAX_DAY).filter(move |d| self.0 & (1 << d) != 0)
    }

    /// Whether `self` has every reminder `other` has.
    pub fn includes(self, other: ReminderDays) -> bool {
        self.0 & other.0 == other.0
    }
}

impl fmt::Debug for ReminderDays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.days()).finish()
    }
}

impl TryFrom<Vec<u8>> for ReminderDays {
    type Error = PolicyError;
    fn try_from(v: Vec<u8>) -> Result<Self, Self::Error> {
        Self::new(&v)
    }
}

impl From<ReminderDays> for Vec<u8> {
    fn from(r: ReminderDays) -> Self {
        r.days().collect()
    }
}

/// A daily window of device-local time, `[start, end)` in minutes after midnight. It may wrap
/// midnight (20:00-08:00); `start == end` is an empty window.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct QuietHours {
    start: u16,
    end: u16,
}

impl QuietHours {
    /// No quiet hours.
    pub const NONE: QuietHours = QuietHours { start: 0, end: 0 };

    /// The window from `start` to `end`, minutes after midnight (each below 1440).
    pub fn new(start: u16, end: u16) -> Result<Self, PolicyError> {
        if start >= 1440 || end >= 1440 {
            return Err(PolicyError::Invalid {
                field: "quiet_hours",
                reason: "times are 00:00 to 23:59",
            });
        }
        Ok(Self { start, end })
    }

    /// For compile-time profile data. Callers pass minutes below 1440.
    pub(crate) const fn from_minutes(start: u16, end: u16) -> Self {
        Self {
            start: start % 1440,
            end: end % 1440,
        }
    }

    /// Reads `"20:00-08:00"`.
    pub fn parse(s: &str) -> Result<Self, PolicyError> {
        let bad = PolicyError::Invalid {
            field: "quiet_hours",
            reason: "expected HH:MM-HH:MM",
        };
        let (a, b) = s.split_once('-').ok_or(bad.clone())?;
        let minutes = |t: &str| -> Option<u16> {
            let (h, m) = t.split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60).then_some(h * 60 + m)
        };
        match (minutes(a), minutes(b)) {
            (Some(start), Some(end)) => Self::new(start, end),
            _ => Err(bad),
        }
    }

    /// Start, minutes after midnight.
    pub fn start(self) -> u16 {
        self.start
    }

    /// End (exclusive), minutes after midnight.
    pub fn end(self) -> u16 {
        self.end
    }

    /// Whether the window is empty.
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// Whether `minute` (after midnight) falls inside the window.
    pub fn contains(self, minute: u16) -> bool {
        if self.start <= self.end {
            self.start <= minute && minute < self.end
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// Whether every minute of `other` is inside `self`.
    pub fn covers(self, other: QuietHours) -> bool {
        // 1440 steps, only when a lender saves settings: simpler to trust than interval
        // algebra on windows that wrap midnight.
        (0..1440).all(|m| !other.contains(m) || self.contains(m))
    }

    /// The window's length in minutes.
    pub fn len_minutes(self) -> u16 {
        (self.end + 1440 - self.start) % 1440
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

impl fmt::Debug for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QuietHours({self})")
    }
}

impl TryFrom<String> for QuietHours {
    type Error = PolicyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<QuietHours> for String {
    fn from(q: QuietHours) -> Self {
        q.to_string()
    }
}

/// A lender's policy settings. Days are days overdue: 1 on the day after a due date.
///
/// Build them from a profile's [`defaults`](super::ComplianceProfile::defaults), change what
/// the lender wants (or apply [`PolicyOverrides`] for one contract), then run
/// [`ComplianceProfile::check`](super::ComplianceProfile::check) before saving.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySettings {
    /// Days before a due date on which a reminder goes out.
    pub reminder_days_before: ReminderDays,
    /// While overdue, a reminder on day 1 and then every this many days; 0 for none.
    pub overdue_reminder_every_days: u16,
    /// Days overdue during which the device shows nothing (reminders are still sent).
    pub grace_days: u16,
    /// Days overdue from which a persistent banner shows.
    pub banner_after_days: u16,
    /// Days overdue from which apps may be restricted (the first lock level).
    pub restricted_apps_after_days: u16,
    /// Days overdue from which the device may be fully locked.
    pub full_lock_after_days: u16,
    /// Days overdue on which the (first) lock notice is queued.
    pub lock_notice_after_days: u16,
    /// Hours between the lock notice's delivery and the earliest lock.
    pub notice_min_hours_before_lock: u32,
    /// Hours after the first notice's delivery when a second notice is queued; 0 for none.
    pub second_notice_after_hours: u32,
    /// Hours between the second notice's delivery and the earliest lock.
    pub second_notice_min_hours_before_lock: u32,
    /// Hours a level is held before the next one may start (restrictions are graduated:
    /// even a contract that is already far overdue climbs one level at a time).
    pub min_hours_per_level: u32,
    /// Device-local hours in which no automatic lock starts.
    pub quiet_hours: QuietHours,
    /// How long a phone may go without a check-in before its lease runs out, and the
    /// warning before that. Absent in settings saved before it existed: the default.
    #[serde(default)]
    pub offline: super::OfflinePolicy,
    /// What each kind of tamper signal does: `notify` (the default) or `restrict`, which
    /// the compliance profile may forbid. Absent in settings saved before it existed:
    /// notify only.
    #[serde(default)]
    pub tamper: super::TamperPolicy,
}

impl PolicySettings {
    /// Checks the settings on their own (ranges and level order); the profile check is
    /// [`ComplianceProfile::check`](super::ComplianceProfile::check).
    pub fn validate(&self) -> Result<(), PolicyError> {
        let invalid = |field, reason| Err(PolicyError::Invalid { field, reason });
        let days = [
            (
                "overdue_reminder_every_days",
                self.overdue_reminder_every_days,
            ),
            ("grace_days", self.grace_days),
            ("banner_after_days", self.banner_after_days),
            (
                "restricted_apps_after_days",
                self.restricted_apps_after_days,
            ),
            ("full_lock_after_days", self.full_lock_after_days),
            ("lock_notice_after_days", self.lock_notice_after_days),
        ];
        for (field, v) in days {
            if v > MAX_DAYS {
                return invalid(field, "at most 3650 days");
            }
        }
        let hours = [
            (
                "notice_min_hours_before_lock",
                self.notice_min_hours_before_lock,
            ),
            ("second_notice_after_hours", self.second_notice_after_hours),
            (
                "second_notice_min_hours_before_lock",
                self.second_notice_min_hours_before_lock,
            ),
            ("min_hours_per_level", self.min_hours_per_level),
        ];
        for (field, v) in hours {
            if v > MAX_HOURS {
                return invalid(field, "at most 8760 hours");
            }
        }
        if self.banner_after_days <= self.grace_days {
            return invalid("banner_after_days", "must be after the grace days");
        }
        if self.restricted_apps_after_days < self.banner_after_days {
            return invalid(
                "restricted_apps_after_days",
                "must not come before the banner",
            );
        }
        if self.full_lock_after_days < self.restricted_apps_after_days {
            return invalid(
                "full_lock_after_days",
                "must not come before restricted apps",
            );
        }
        if self.lock_notice_after_days == 0 {
            return invalid("lock_notice_after_days", "at least 1");
        }
        if self.second_notice_after_hours == 0 && self.second_notice_min_hours_before_lock > 0 {
            return invalid(
                "second_notice_min_hours_before_lock",
                "set without a second notice",
            );
        }
        self.offline.validate()
    }

    /// These settings with a contract's overrides applied.
    pub fn with_overrides(&self, o: &PolicyOverrides) -> PolicySettings {
        PolicySettings {
            reminder_days_before: o.reminder_days_before.unwrap_or(self.reminder_days_before),
            overdue_reminder_every_days: o
                .overdue_reminder_every_days
                .unwrap_or(self.overdue_reminder_every_days),
            grace_days: o.grace_days.unwrap_or(self.grace_days),
            banner_after_days: o.banner_after_days.unwrap_or(self.banner_after_days),
            restricted_apps_after_days: o
                .restricted_apps_after_days
                .unwrap_or(self.restricted_apps_after_days),
            full_lock_after_days: o.full_lock_after_days.unwrap_or(self.full_lock_after_days),
            lock_notice_after_days: o
                .lock_notice_after_days
                .unwrap_or(self.lock_notice_after_days),
            notice_min_hours_before_lock: o
                .notice_min_hours_before_lock
                .unwrap_or(self.notice_min_hours_before_lock),
            second_notice_after_hours: o
                .second_notice_after_hours
                .unwrap_or(self.second_notice_after_hours),
            second_notice_min_hours_before_lock: o
                .second_notice_min_hours_before_lock
                .unwrap_or(self.second_notice_min_hours_before_lock),
            min_hours_per_level: o.min_hours_per_level.unwrap_or(self.min_hours_per_level),
            quiet_hours: o.quiet_hours.unwrap_or(self.quiet_hours),
            // The lease is the phone's, not the contract's: no per-contract override.
            offline: self.offline,
            // Tamper signals are about the phone too.
            tamper: self.tamper,
        }
    }
}

/// Per-contract changes to a lender's [`PolicySettings`]; `None` keeps the lender's value.
/// The result must still pass the profile check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyOverrides {
    /// See [`PolicySettings::reminder_days_before`].
    pub reminder_days_before: Option<ReminderDays>,
    /// See [`PolicySettings::overdue_reminder_every_days`].
    pub overdue_reminder_every_days: Option<u16>,
    /// See [`PolicySettings::grace_days`].
    pub grace_days: Option<u16>,
    /// See [`PolicySettings::banner_after_days`].
    pub banner_after_days: Option<u16>,
    /// See [`PolicySettings::restricted_apps_after_days`].
    pub restricted_apps_after_days: Option<u16>,
    /// See [`PolicySettings::full_lock_after_days`].
    pub full_lock_after_days: Option<u16>,
    /// See [`PolicySettings::lock_notice_after_days`].
    pub lock_notice_after_days: Option<u16>,
    /// See [`PolicySettings::notice_min_hours_before_lock`].
    pub notice_min_hours_before_lock: Option<u32>,
    /// See [`PolicySettings::second_notice_after_hours`].
    pub second_notice_after_hours: Option<u32>,
    /// See [`PolicySettings::second_notice_min_hours_before_lock`].
    pub second_notice_min_hours_before_lock: Option<u32>,
    /// See [`PolicySettings::min_hours_per_level`].
    pub min_hours_per_level: Option<u32>,
    /// See [`PolicySettings::quiet_hours`].
    pub quiet_hours: Option<QuietHours>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reminder_days_are_a_set_of_0_to_30() {
        let r = ReminderDays::new(&[3, 1, 0, 1]).unwrap();
        assert_eq!(r.days().collect::<Vec<_>>(), [0, 1, 3]);
        assert!(r.contains(0) && r.contains(3) && !r.contains(2));
        assert!(!r.contains(-1) && !r.contains(31) && !r.contains(i32::MAX));
        assert_eq!(r.max(), Some(3));
        assert_eq!(ReminderDays::NONE.max(), None);
        assert!(ReminderDays::new(&[31]).is_err());
        assert_eq!(ReminderDays::new(&[30]).unwrap().max(), Some(30));
        assert_eq!(serde_json::to_string(&r).unwrap(), "[0,1,3]");
    }

    #[test]
    fn quiet_hours_wrap_midnight() {
        let q = QuietHours::parse("20:00-08:00").unwrap();
        assert!(q.contains(20 * 60) && q.contains(0) && q.contains(479));
        assert!(!q.contains(480) && !q.contains(19 * 60 + 59));
        assert_eq!(q.len_minutes(), 12 * 60);
        let day = QuietHours::parse("13:00-14:30").unwrap();
        assert!(day.contains(13 * 60) && !day.contains(14 * 60 + 30));
        assert!(QuietHours::NONE.is_empty() && !QuietHours::NONE.contains(0));
        assert!(q.covers(QuietHours::parse("22:00-06:00").unwrap()));
        assert!(!q.covers(QuietHours::parse("19:00-06:00").unwrap()));
        assert!(q.covers(QuietHours::NONE));
        for bad in [
            "24:00-01:00",
            "8:00-09:00",
            "08:00",
            "08:60-09:00",
            "aa:bb-cc:dd",
        ] {
            assert!(QuietHours::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&q).unwrap(), r#""20:00-08:00""#);
    }

    proptest! {
        #[test]
        fn quiet_hours_text_round_trips(start in 0u16..1440, end in 0u16..1440) {
            let q = QuietHours::new(start, end).unwrap();
            prop_assert_eq!(QuietHours::parse(&q.to_string()), Ok(q));
            prop_assert_eq!((0..1440).filter(|m| q.contains(*m)).count(), usize::from(q.len_minutes()));
        }
    }
}
