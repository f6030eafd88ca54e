//! Compliance profiles: regional rules as data. A lender picks one; its settings may be
//! stricter than the profile, never looser, and the engine applies the profile's floors
//! again at evaluation time, so even settings saved before a profile tightened cannot lock
//! early.

use super::settings::{PolicyError, PolicySettings, QuietHours, ReminderDays};
use crate::profile::{Capability, RestrictionLevel};
use serde::Serialize;

/// A set of floors on [`PolicySettings`] plus the promises the server keeps for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ComplianceProfile {
    /// The name a lender picks it by.
    pub name: &'static str,
    /// What it encodes, for the console.
    pub description: &'static str,
    /// Fewest grace days.
    pub min_grace_days: u16,
    /// Fewest days overdue before a persistent banner.
    pub min_banner_after_days: u16,
    /// Fewest days overdue before any restriction of the device (restricted apps or more).
    pub min_restricted_apps_after_days: u16,
    /// Fewest days overdue before a full lock.
    pub min_full_lock_after_days: u16,
    /// Fewest days overdue before the first lock notice.
    pub min_lock_notice_after_days: u16,
    /// Fewest hours from the first notice's delivery to a lock.
    pub min_notice_hours_before_lock: u32,
    /// Fewest hours from the first notice's delivery to the second notice; above zero means
    /// a second notice is required.
    pub min_second_notice_after_hours: u32,
    /// Fewest hours from the second notice's delivery to a lock.
    pub min_second_notice_hours_before_lock: u32,
    /// Fewest hours a level is held before the next starts.
    pub min_hours_per_level: u32,
    /// Device-local hours that every lender's quiet hours must include.
    pub required_quiet_hours: QuietHours,
    /// The longest the server may take, after a payment that cures the arrears, to lift a
    /// restriction: it must re-evaluate and push (or issue an unlock code) within this.
    pub max_unlock_delay_secs: u32,
    /// Capabilities no restriction may touch. Every one of them is a protected
    /// [`Capability`], so no [`RestrictionProfile`](crate::RestrictionProfile) can block it.
    pub never_restricted: &'static [Capability],
    /// The highest level a tamper signal set to `restrict` may bring a device to, whatever
    /// the arrears (never above restricted apps, whatever this says); `None` forbids
    /// `restrict` altogether, and settings asking for it are refused.
    pub max_tamper_level: RestrictionLevel,
    /// Settings a new lender on this profile starts with.
    pub defaults: PolicySettings,
}

const PROTECTED: &[Capability] = &[
    Capability::EmergencyCalls,
    Capability::IncomingCalls,
    Capability::PublicSafetyAlerts,
    Capability::Network,
    Capability::LenderApp,
];

/// Reminders 3 days and 1 day before, and on the due date.
const REMIND_3_1_0: ReminderDays = ReminderDays::from_bits(0b1011);
/// 22:00-06:00: the night no profile lets a lock start in.
const NIGHT: QuietHours = QuietHours::from_minutes(22 * 60, 6 * 60);
/// 20:00-08:00: the default lender setting, wider than the floor.
const EVENING_TO_MORNING: QuietHours = QuietHours::from_minutes(20 * 60, 8 * 60);

/// lienlock's own baseline for lenders without a regional rule.
pub const DEFAULT_PROFILE: ComplianceProfile = ComplianceProfile {
    name: "default",
    description: "lienlock baseline: graduated restrictions, a lock notice at least 24 hours \
                  before any lock, no lock starting 22:00-06:00 device time, unlock within a \
                  minute of a curing payment",
    min_grace_days: 0,
    min_banner_after_days: 1,
    min_restricted_apps_after_days: 7,
    min_full_lock_after_days: 7,
    min_lock_notice_after_days: 1,
    min_notice_hours_before_lock: 24,
    min_second_notice_after_hours: 0,
    min_second_notice_hours_before_lock: 0,
    min_hours_per_level: 1,
    required_quiet_hours: NIGHT,
    max_unlock_delay_secs: 60,
    never_restricted: PROTECTED,
    max_tamper_level: RestrictionLevel::RestrictedApps,
    defaults: PolicySettings {
        reminder_days_before: REMIND_3_1_0,
        overdue_reminder_every_days: 3,
        grace_days: 3,
        banner_after_days: 7,
        restricted_apps_after_days: 20,
        full_lock_after_days: 30,
        lock_notice_after_days: 14,
        notice_min_hours_before_lock: 48,
        second_notice_after_hours: 0,
        second_notice_min_hours_before_lock: 0,
        min_hours_per_level: 24,
        quiet_hours: EVENING_TO_MORNING,
        offline: super::OfflinePolicy::DEFAULT,
        tamper: super::TamperPolicy::NOTIFY,
    },
};

/// India's 2026 draft rule for device-financing loans: no restriction before 90 days past
/// due; a first notice at 60 days past due giving at least 21 days; a second notice and at
/// least 7 more days; graduated restrictions; internet, incoming calls, SOS and public-safety
/// alerts never blocked; a restriction undone within one hour of payment.
pub const IN_RBI_2026_DRAFT: ComplianceProfile = ComplianceProfile {
    name: "in-rbi-2026-draft",
    description: "India, RBI 2026 draft on device-financing locks: restriction only from 90 \
                  days past due, first notice at 60 days past due with at least 21 days, a \
                  second notice and 7 more days, graduated, undo within 1 hour of payment",
    min_grace_days: 0,
    min_banner_after_days: 1,
    min_restricted_apps_after_days: 90,
    min_full_lock_after_days: 90,
    min_lock_notice_after_days: 60,
    min_notice_hours_before_lock: 21 * 24,
    min_second_notice_after_hours: 21 * 24,
    min_second_notice_hours_before_lock: 7 * 24,
    min_hours_per_level: 24,
    required_quiet_hours: NIGHT,
    max_unlock_delay_secs: 3600,
    never_restricted: PROTECTED,
    // The draft allows no restriction before 90 days past due, whatever else happened.
    max_tamper_level: RestrictionLevel::None,
    defaults: PolicySettings {
        reminder_days_before: REMIND_3_1_0,
        overdue_reminder_every_days: 7,
        grace_days: 3,
        banner_after_days: 30,
        restricted_apps_after_days: 90,
        full_lock_after_days: 100,
        lock_notice_after_days: 60,
        notice_min_hours_before_lock: 21 * 24,
        second_notice_after_hours: 21 * 24,
        second_notice_min_hours_before_lock: 7 * 24,
        min_hours_per_level: 24,
        quiet_hours: EVENING_TO_MORNING,
        offline: super::OfflinePolicy::DEFAULT,
        tamper: super::TamperPolicy::NOTIFY,
    },
};

static ALL: [ComplianceProfile; 2] = [DEFAULT_PROFILE, IN_RBI_2026_DRAFT];

impl ComplianceProfile {
    /// Every shipped profile.
    pub fn all() -> &'static [ComplianceProfile] {
        &ALL
    }

    /// The profile named `name`.
    pub fn by_name(name: &str) -> Result<&'static ComplianceProfile, PolicyError> {
        ALL.iter()
            .find(|p| p.name == name)
            .ok_or_else(|| PolicyError::UnknownProfile(name.to_owned()))
    }

    /// The `default` profile.
    pub fn default_profile() -> &'static ComplianceProfile {
        &ALL[0]
    }

    /// Refuses `settings` that are invalid or looser than this profile anywhere.
    pub fn check(&self, settings: &PolicySettings) -> Result<(), PolicyError> {
        settings.validate()?;
        let days = [
            ("grace_days", settings.grace_days, self.min_grace_days),
            (
                "banner_after_days",
                settings.banner_after_days,
                self.min_banner_after_days,
            ),
            (
                "restricted_apps_after_days",
                settings.restricted_apps_after_days,
                self.min_restricted_apps_after_days,
            ),
            (
                "full_lock_after_days",
                settings.full_lock_after_days,
                self.min_full_lock_after_days,
            ),
            (
                "lock_notice_after_days",
                settings.lock_notice_after_days,
                self.min_lock_notice_after_days,
            ),
        ];
        let hours = [
            (
                "notice_min_hours_before_lock",
                settings.notice_min_hours_before_lock,
                self.min_notice_hours_before_lock,
            ),
            (
                "second_notice_after_hours",
                settings.second_notice_after_hours,
                self.min_second_notice_after_hours,
            ),
            (
                "second_notice_min_hours_before_lock",
                settings.second_notice_min_hours_before_lock,
                self.min_second_notice_hours_before_lock,
            ),
            (
                "min_hours_per_level",
                settings.min_hours_per_level,
                self.min_hours_per_level,
            ),
        ];
        let all = days
            .into_iter()
            .map(|(f, got, min)| (f, u32::from(got), u32::from(min)))
            .chain(hours);
        for (field, got, min) in all {
            if got < min {
                return Err(self.looser(field, format!("at least {min}"), got.to_string()));
            }
        }
        if self.max_tamper_level == RestrictionLevel::None {
            if let Some(kind) = settings.tamper.first_restricting() {
                return Err(PolicyError::LooserThanProfile {
                    profile: self.name,
                    field: tamper_field(kind),
                    required: "notify (this profile allows no restriction for a tamper \
                               signal)"
                        .into(),
                    got: "restrict".into(),
                });
            }
        }
        if !settings.quiet_hours.covers(self.required_quiet_hours) {
            return Err(self.looser(
                "quiet_hours",
                format!("covering {}", self.required_quiet_hours),
                settings.quiet_hours.to_string(),
            ));
        }
        Ok(())
    }

    /// The level a `restrict` tamper signal aims for under this profile: restricted apps,
    /// or less where the profile says so.
    pub fn tamper_cap(&self) -> RestrictionLevel {
        self.max_tamper_level.min(RestrictionLevel::RestrictedApps)
    }

    fn looser(&self, field: &'static str, required: String, got: String) -> PolicyError {
        PolicyError::LooserThanProfile {
            profile: self.name,
            field,
            required,
            got,
        }
    }
}

/// The settings field naming `kind`'s action, for error messages.
fn tamper_field(kind: super::TamperKind) -> &'static str {
    match kind {
        super::TamperKind::SimChanged => "tamper.sim_changed",
        super::TamperKind::ClockSetBack => "tamper.clock_set_back",
        super::TamperKind::DebugOrRoot => "tamper.debug_or_root",
        super::TamperKind::WrongCodes => "tamper.wrong_codes",
        super::TamperKind::FactoryReset => "tamper.factory_reset",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_profiles_accept_their_own_defaults() {
        for p in ComplianceProfile::all() {
            assert_eq!(p.check(&p.defaults), Ok(()), "{}", p.name);
            assert!(p.never_restricted.iter().all(|c| c.is_protected()));
            assert_eq!(ComplianceProfile::by_name(p.name), Ok(p));
        }
        assert!(ComplianceProfile::by_name("nope").is_err());
        assert_eq!(ComplianceProfile::default_profile().name, "default");
    }

    #[test]
    fn the_rbi_profile_refuses_the_default_settings() {
        let rbi = ComplianceProfile::by_name("in-rbi-2026-draft").unwrap();
        let e = rbi.check(&DEFAULT_PROFILE.defaults).unwrap_err();
        assert_eq!(
            e,
            PolicyError::LooserThanProfile {
                profile: "in-rbi-2026-draft",
                field: "restricted_apps_after_days",
                required: "at least 90".into(),
                got: "20".into()
            }
        );
        let mut s = rbi.defaults;
        s.second_notice_after_hours = 0;
        s.second_notice_min_hours_before_lock = 0;
        assert!(matches!(
            rbi.check(&s),
            Err(PolicyError::LooserThanProfile {
                field: "second_notice_after_hours",
                ..
            })
        ));
        let mut s = rbi.defaults;
        s.lock_notice_after_days = 45;
        assert!(rbi.check(&s).is_err());
        let mut s = rbi.defaults;
        s.restricted_apps_after_days = 120;
        s.full_lock_after_days = 150;
        assert_eq!(rbi.check(&s), Ok(()), "stricter is fine");
    }

    #[test]
    fn a_profile_that_forbids_tamper_restrictions_refuses_them() {
        let rbi = ComplianceProfile::by_name("in-rbi-2026-draft").unwrap();
        let mut s = rbi.defaults;
        s.tamper.sim_changed = super::super::TamperAction::Restrict;
        assert!(matches!(
            rbi.check(&s),
            Err(PolicyError::LooserThanProfile {
                field: "tamper.sim_changed",
                ..
            })
        ));
        let mut s = DEFAULT_PROFILE.defaults;
        s.tamper.sim_changed = super::super::TamperAction::Restrict;
        assert_eq!(DEFAULT_PROFILE.check(&s), Ok(()));
        assert_eq!(
            DEFAULT_PROFILE.tamper_cap(),
            RestrictionLevel::RestrictedApps
        );
        assert_eq!(rbi.tamper_cap(), RestrictionLevel::None);
    }

    #[test]
    fn quiet_hours_must_cover_the_profile_night() {
        let mut s = DEFAULT_PROFILE.defaults;
        s.quiet_hours = QuietHours::parse("23:00-07:00").unwrap();
        assert!(matches!(
            DEFAULT_PROFILE.check(&s),
            Err(PolicyError::LooserThanProfile {
                field: "quiet_hours",
                ..
            })
        ));
        s.quiet_hours = QuietHours::parse("21:00-09:00").unwrap();
        assert_eq!(DEFAULT_PROFILE.check(&s), Ok(()));
    }

    #[test]
    fn invalid_settings_are_refused_before_the_profile_check() {
        let mut s = DEFAULT_PROFILE.defaults;
        s.full_lock_after_days = 10;
        assert!(matches!(
            DEFAULT_PROFILE.check(&s),
            Err(PolicyError::Invalid {
                field: "full_lock_after_days",
                ..
            })
        ));
        let mut s = DEFAULT_PROFILE.defaults;
        s.grace_days = 7;
        assert!(matches!(
            DEFAULT_PROFILE.check(&s),
            Err(PolicyError::Invalid {
                field: "banner_after_days",
                ..
            })
        ));
    }
}
