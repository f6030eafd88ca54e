//! What the phone's screen shows, taken from the agent: the page renders this, and its
//! version changes only when this does (not when a renewed lease merely moves a date the
//! page does not show).

use super::i18n::Arg;
use lienlock_agent::{Agent, CodeRefusal, Enforcement, LockReason};
use lienlock_domain::{RestrictionLevel, Timestamp};
use lienlock_wire::unlock_code::CodeError;
use lienlock_wire::{LeaseNotice, LockScreen};

/// Which screen the phone shows; the page's `data-state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Running; maybe with reminders.
    Active,
    /// Locked, by the lender or by an expired lease.
    Locked,
    /// Released for good.
    Free,
    /// Locked because no lease was ever received (or a reset wiped it).
    NoLease,
}

impl Screen {
    /// The `data-state` / `state.json` name.
    pub fn name(self) -> &'static str {
        match self {
            Screen::Active => "active",
            Screen::Locked => "locked",
            Screen::Free => "free",
            Screen::NoLease => "no-lease",
        }
    }
}

/// The screen's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneView {
    /// Which screen.
    pub screen: Screen,
    /// Why it is locked, when it is.
    pub why: Option<LockReason>,
    /// The lender's lock-screen content from the held lease (shown locked; its name also
    /// signs the reminders).
    pub lender: Option<LockScreen>,
    /// Reminders and notices to show, oldest first.
    pub notices: Vec<LeaseNotice>,
    /// The lender's payment banner is on (level `PersistentBanner`).
    pub payment_banner: bool,
    /// The offline warning is on: the phone locks at `locks_at`.
    pub offline_warning: bool,
    /// Running on an unlock code until `locks_at`.
    pub on_code: bool,
    /// When a running phone locks, shown only with the offline warning or a code.
    pub locks_at: Option<Timestamp>,
}

impl PhoneView {
    /// What `agent` shows now.
    pub fn of(agent: &Agent) -> Self {
        let lender = agent.held_lease().map(|l| l.lock_screen.clone());
        let mut view = PhoneView {
            screen: Screen::Active,
            why: None,
            lender,
            notices: Vec::new(),
            payment_banner: false,
            offline_warning: false,
            on_code: false,
            locks_at: None,
        };
        match agent.enforcement() {
            Enforcement::Free => view.screen = Screen::Free,
            Enforcement::Locked { why, notices, .. } => {
                view.screen = match why {
                    LockReason::NoLease => Screen::NoLease,
                    LockReason::Lender | LockReason::LeaseExpired => Screen::Locked,
                };
                view.why = Some(why);
                view.notices = notices;
            }
            Enforcement::Run {
                valid_until,
                level,
                notices,
                offline_warning,
                code,
                ..
            } => {
                view.notices = notices;
                view.payment_banner = level == RestrictionLevel::PersistentBanner;
                view.offline_warning = offline_warning;
                view.on_code = code.is_some();
                if offline_warning || code.is_some() {
                    view.locks_at = Some(valid_until);
                }
            }
        }
        view
    }

    /// The lender's name, if a lease named one.
    pub fn lender_name(&self) -> Option<&str> {
        self.lender
            .as_ref()
            .map(|l| l.lender_name.as_str())
            .filter(|n| !n.is_empty())
    }
}

/// A form's outcome, shown once on the next page: a message id and its variables,
/// translated when shown (so switching language translates it too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flash {
    /// Good news (`role=status`) or a refusal (`role=alert`).
    pub ok: bool,
    /// The message id.
    pub id: &'static str,
    /// Its variables.
    pub args: Vec<(&'static str, Arg)>,
}

impl Flash {
    /// Good news.
    pub fn ok(id: &'static str, args: Vec<(&'static str, Arg)>) -> Self {
        Self { ok: true, id, args }
    }

    /// A refusal or a failure.
    pub fn refused(id: &'static str, args: Vec<(&'static str, Arg)>) -> Self {
        Self {
            ok: false,
            id,
            args,
        }
    }

    /// Why a code was refused, in the borrower's words.
    pub fn code_refused(r: &CodeRefusal) -> Self {
        let minutes = |d: std::time::Duration| vec![("minutes", Arg::Number(minutes_up(d)))];
        match r {
            CodeRefusal::LockedOut { retry_in } => Self::refused("code-wait", minutes(*retry_in)),
            CodeRefusal::Wrong { retry_in } => Self::refused("code-wrong", minutes(*retry_in)),
            CodeRefusal::Invalid(e) => match e {
                CodeError::WrongLength { expected, .. } => Self::refused(
                    "code-length",
                    vec![("digits", Arg::Number(*expected as u64))],
                ),
                CodeError::BadCharacter(_) => Self::refused("code-characters", vec![]),
                CodeError::Typo => Self::refused("code-typo", vec![]),
                CodeError::Reused { .. } => Self::refused("code-used", vec![]),
                CodeError::UnsupportedVersion(_)
                | CodeError::ReservedKind(_)
                | CodeError::BadTag
                | CodeError::CounterOutOfRange(_)
                | CodeError::DateOutOfRange { .. } => Self::refused("code-invalid", vec![]),
            },
            CodeRefusal::Expired { until } => {
                Self::refused("code-expired", vec![("date", Arg::Text(when(*until)))])
            }
            CodeRefusal::NotEnrolled => Self::refused("code-not-enrolled", vec![]),
            CodeRefusal::Released => Self::refused("code-released", vec![]),
            CodeRefusal::NotStored(_) => Self::refused("code-not-stored", vec![]),
        }
    }
}

/// A wait in whole minutes, rounded up, at least 1 (as the agent words it).
fn minutes_up(d: std::time::Duration) -> u64 {
    d.as_secs().div_ceil(60).max(1)
}

/// A moment as the page shows it: an ISO date and time, in UTC (the phone's time zone is
/// not known to the agent).
pub fn when(t: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(t.as_millis())
        .map(|ts| ts.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| format!("{} ms", t.as_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn refusals_name_the_wait() {
        let f = Flash::code_refused(&CodeRefusal::Wrong {
            retry_in: Duration::from_secs(61),
        });
        assert_eq!(f.id, "code-wrong");
        assert_eq!(f.args, vec![("minutes", Arg::Number(2))]);
        assert!(!f.ok);
        let f = Flash::code_refused(&CodeRefusal::Invalid(CodeError::WrongLength {
            expected: 12,
            got: 3,
        }));
        assert_eq!(f.args, vec![("digits", Arg::Number(12))]);
    }

    #[test]
    fn dates_are_iso() {
        assert_eq!(
            when(Timestamp::from_millis(1_772_719_200_000)),
            "2026-03-05 14:00 UTC"
        );
    }
}
