//! Installment schedules: when each installment is due and how much it is.

use super::ContractError;
use crate::money::sum_minor;
use jiff::civil::Date;
use jiff::Span;
use serde::{Deserialize, Serialize};

/// The most installments a schedule may have: ten years of weekly payments. The limit keeps
/// a single contract's evaluation cheap and its storage bounded.
pub const MAX_INSTALLMENTS: usize = 520;

/// How a lender describes a schedule. Dates are calendar dates in the lender's time zone.
///
/// In the generated kinds (weekly, biweekly, monthly) the amount owed is split evenly; see
/// [`ScheduleSpec::installments`] for where the leftover minor units go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleSpec {
    /// Every 7 days from `first_due`.
    Weekly {
        /// The first due date.
        first_due: Date,
        /// How many installments (1..=520).
        count: u32,
    },
    /// Every 14 days from `first_due`.
    Biweekly {
        /// The first due date.
        first_due: Date,
        /// How many installments (1..=520).
        count: u32,
    },
    /// Once a month. The first installment is due on `first_due`; each later one falls in
    /// the following calendar month on `day_of_month`, or on that month's last day when the
    /// month is shorter (day 31 gives Feb 28, or Feb 29 in a leap year, then Mar 31, Apr 30).
    /// The day is not carried over from a short month: after Feb 28 comes Mar 31 again.
    Monthly {
        /// The first due date (it need not fall on `day_of_month`, so a first payment can be
        /// set a little earlier or later than the rest).
        first_due: Date,
        /// The day of the month later installments fall on (1..=31).
        day_of_month: u8,
        /// How many installments (1..=520).
        count: u32,
    },
    /// A list of due dates and amounts (minor units), strictly increasing in date, adding up
    /// exactly to the amount owed.
    Explicit(Vec<(Date, i64)>),
}

/// One installment of a contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installment {
    /// 1 for the first installment.
    pub number: u32,
    /// The due date in the lender's time zone. Unpaid, it becomes overdue when the next day
    /// starts there.
    pub due: Date,
    /// Minor units of the contract's currency; always positive.
    pub amount: i64,
}

impl ScheduleSpec {
    /// The installments for `owed` minor units, in due-date order, summing exactly to `owed`.
    ///
    /// Generated schedules split `owed` evenly; when it does not divide, the leftover minor
    /// units go one each to the *earliest* installments, so amounts differ by at most one
    /// minor unit and the borrower is never asked for more at the end than at the start
    /// (1000 over 3 is 334, 333, 333).
    pub fn installments(&self, owed: i64) -> Result<Vec<Installment>, ContractError> {
        match self {
            ScheduleSpec::Weekly { first_due, count } => {
                every_n_days(*first_due, 7, *count).and_then(|dates| split(owed, dates))
            }
            ScheduleSpec::Biweekly { first_due, count } => {
                every_n_days(*first_due, 14, *count).and_then(|dates| split(owed, dates))
            }
            ScheduleSpec::Monthly {
                first_due,
                day_of_month,
                count,
            } => monthly(*first_due, *day_of_month, *count).and_then(|dates| split(owed, dates)),
            ScheduleSpec::Explicit(list) => explicit(list, owed),
        }
    }
}

fn check_count(count: usize) -> Result<(), ContractError> {
    if (1..=MAX_INSTALLMENTS).contains(&count) {
        Ok(())
    } else {
        Err(ContractError::Count {
            count,
            max: MAX_INSTALLMENTS,
        })
    }
}

fn every_n_days(first: Date, step: i64, count: u32) -> Result<Vec<Date>, ContractError> {
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    check_count(count)?;
    (0..count)
        .map(|k| {
            let days = step.saturating_mul(i64::try_from(k).unwrap_or(i64::MAX));
            Span::new()
                .try_days(days)
                .ok()
                .and_then(|span| first.checked_add(span).ok())
                .ok_or(ContractError::DateOutOfRange)
        })
        .collect()
}

fn monthly(first: Date, day_of_month: u8, count: u32) -> Result<Vec<Date>, ContractError> {
    if !(1..=31).contains(&day_of_month) {
        return Err(ContractError::DayOfMonth(day_of_month));
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    check_count(count)?;
    let base = i32::from(first.year()) * 12 + i32::from(first.month()) - 1;
    let mut dates = Vec::with_capacity(count);
    dates.push(first);
    for k in 1..count {
        // `k` is at most 519 (checked above), so this fits easily.
        let months = base + i32::try_from(k).map_err(|_| ContractError::DateOutOfRange)?;
        let year =
            i16::try_from(months.div_euclid(12)).map_err(|_| ContractError::DateOutOfRange)?;
        let month =
            i8::try_from(months.rem_euclid(12) + 1).map_err(|_| ContractError::DateOutOfRange)?;
        let first_of_month =
            Date::new(year, month, 1).map_err(|_| ContractError::DateOutOfRange)?;
        let day = i8::try_from(day_of_month)
            .unwrap_or(31)
            .min(first_of_month.days_in_month());
        dates.push(Date::new(year, month, day).map_err(|_| ContractError::DateOutOfRange)?);
    }
    Ok(dates)
}

fn split(owed: i64, dates: Vec<Date>) -> Result<Vec<Installment>, ContractError> {
    let count = dates.len();
    let n = i64::try_from(count).map_err(|_| ContractError::Count {
        count,
        max: MAX_INSTALLMENTS,
    })?;
    if owed < n {
        return Err(ContractError::TooSmallToSplit { owed, count });
    }
    let (base, leftover) = (owed / n, owed % n);
    Ok(dates
        .into_iter()
        .enumerate()
        .map(|(i, due)| {
            // `i < count <= 520`, so both conversions succeed.
            let i = i64::try_from(i).unwrap_or(i64::MAX);
            Installment {
                number: u32::try_from(i + 1).unwrap_or(u32::MAX),
                due,
                amount: base + i64::from(i < leftover),
            }
        })
        .collect())
}

fn explicit(list: &[(Date, i64)], owed: i64) -> Result<Vec<Installment>, ContractError> {
    check_count(list.len())?;
    for (index, (due, amount)) in list.iter().enumerate() {
        if *amount <= 0 {
            return Err(ContractError::AmountNotPositive {
                index,
                amount: *amount,
            });
        }
        if index > 0 && list[index - 1].0 >= *due {
            return Err(ContractError::NotIncreasing { index });
        }
    }
    let sum = sum_minor(list.iter().map(|(_, a)| *a))?;
    if sum != owed {
        return Err(ContractError::SumMismatch { sum, owed });
    }
    Ok(list
        .iter()
        .zip(1u32..)
        .map(|((due, amount), number)| Installment {
            number,
            due: *due,
            amount: *amount,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn dues(s: &ScheduleSpec, owed: i64) -> Vec<String> {
        s.installments(owed)
            .unwrap()
            .iter()
            .map(|i| i.due.to_string())
            .collect()
    }

    fn amounts(s: &ScheduleSpec, owed: i64) -> Vec<i64> {
        s.installments(owed)
            .unwrap()
            .iter()
            .map(|i| i.amount)
            .collect()
    }

    #[test]
    fn weekly_steps_seven_days_across_a_leap_day() {
        let s = ScheduleSpec::Weekly {
            first_due: date(2024, 2, 22),
            count: 3,
        };
        assert_eq!(dues(&s, 300), ["2024-02-22", "2024-02-29", "2024-03-07"]);
        let s = ScheduleSpec::Weekly {
            first_due: date(2025, 2, 22),
            count: 3,
        };
        assert_eq!(dues(&s, 300), ["2025-02-22", "2025-03-01", "2025-03-08"]);
    }

    #[test]
    fn biweekly_steps_fourteen_days_across_a_year_end() {
        let s = ScheduleSpec::Biweekly {
            first_due: date(2025, 12, 20),
            count: 3,
        };
        assert_eq!(dues(&s, 300), ["2025-12-20", "2026-01-03", "2026-01-17"]);
    }

    #[test]
    fn monthly_on_the_31st_clamps_to_month_ends() {
        let s = ScheduleSpec::Monthly {
            first_due: date(2024, 1, 31),
            day_of_month: 31,
            count: 5,
        };
        assert_eq!(
            dues(&s, 500),
            [
                "2024-01-31",
                "2024-02-29",
                "2024-03-31",
                "2024-04-30",
                "2024-05-31"
            ]
        );
        let s = ScheduleSpec::Monthly {
            first_due: date(2025, 1, 31),
            day_of_month: 31,
            count: 2,
        };
        assert_eq!(dues(&s, 500), ["2025-01-31", "2025-02-28"]);
    }

    #[test]
    fn monthly_leap_years_follow_the_gregorian_rules() {
        for (year, feb) in [(2100, 28), (2000, 29), (2028, 29), (2027, 28)] {
            let s = ScheduleSpec::Monthly {
                first_due: date(year, 1, 30),
                day_of_month: 30,
                count: 2,
            };
            assert_eq!(
                s.installments(2).unwrap()[1].due,
                date(year, 2, feb),
                "{year}"
            );
        }
    }

    #[test]
    fn monthly_first_due_may_differ_from_the_day_and_crosses_years() {
        let s = ScheduleSpec::Monthly {
            first_due: date(2025, 11, 20),
            day_of_month: 5,
            count: 3,
        };
        assert_eq!(dues(&s, 3), ["2025-11-20", "2025-12-05", "2026-01-05"]);
    }

    #[test]
    fn leftover_minor_units_go_to_the_earliest_installments() {
        let s = ScheduleSpec::Weekly {
            first_due: date(2026, 1, 1),
            count: 3,
        };
        assert_eq!(amounts(&s, 1000), [334, 333, 333]);
        assert_eq!(amounts(&s, 1001), [334, 334, 333]);
        assert_eq!(amounts(&s, 999), [333, 333, 333]);
        assert_eq!(
            s.installments(2),
            Err(ContractError::TooSmallToSplit { owed: 2, count: 3 })
        );
    }

    #[test]
    fn explicit_lists_are_checked() {
        let ok = ScheduleSpec::Explicit(vec![(date(2026, 1, 1), 100), (date(2026, 1, 9), 50)]);
        assert_eq!(amounts(&ok, 150), [100, 50]);
        assert_eq!(
            ok.installments(151),
            Err(ContractError::SumMismatch {
                sum: 150,
                owed: 151
            })
        );
        let same_day = ScheduleSpec::Explicit(vec![(date(2026, 1, 1), 1), (date(2026, 1, 1), 1)]);
        assert_eq!(
            same_day.installments(2),
            Err(ContractError::NotIncreasing { index: 1 })
        );
        let zero = ScheduleSpec::Explicit(vec![(date(2026, 1, 1), 0)]);
        assert_eq!(
            zero.installments(0),
            Err(ContractError::AmountNotPositive {
                index: 0,
                amount: 0
            })
        );
        let huge =
            ScheduleSpec::Explicit(vec![(date(2026, 1, 1), i64::MAX), (date(2026, 1, 2), 1)]);
        assert!(matches!(huge.installments(1), Err(ContractError::Money(_))));
        assert!(matches!(
            ScheduleSpec::Explicit(vec![]).installments(0),
            Err(ContractError::Count { count: 0, .. })
        ));
    }

    #[test]
    fn counts_and_days_are_bounded() {
        for count in [0, 521] {
            let s = ScheduleSpec::Weekly {
                first_due: date(2026, 1, 1),
                count,
            };
            assert!(matches!(
                s.installments(100_000),
                Err(ContractError::Count { .. })
            ));
        }
        for day_of_month in [0, 32] {
            let s = ScheduleSpec::Monthly {
                first_due: date(2026, 1, 1),
                day_of_month,
                count: 1,
            };
            assert_eq!(
                s.installments(1),
                Err(ContractError::DayOfMonth(day_of_month))
            );
        }
    }

    #[test]
    fn dates_past_the_calendar_end_are_refused() {
        let s = ScheduleSpec::Weekly {
            first_due: date(9999, 12, 1),
            count: 10,
        };
        assert_eq!(s.installments(10), Err(ContractError::DateOutOfRange));
        let s = ScheduleSpec::Monthly {
            first_due: date(9999, 11, 1),
            day_of_month: 1,
            count: 3,
        };
        assert_eq!(s.installments(10), Err(ContractError::DateOutOfRange));
    }

    #[test]
    fn json_shape() {
        let s = ScheduleSpec::Monthly {
            first_due: date(2026, 1, 31),
            day_of_month: 31,
            count: 12,
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"monthly":{"first_due":"2026-01-31","day_of_month":31,"count":12}}"#
        );
        let e = ScheduleSpec::Explicit(vec![(date(2026, 1, 1), 5)]);
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"explicit":[["2026-01-01",5]]}"#
        );
    }

    fn any_date() -> impl Strategy<Value = Date> {
        (1900i16..2200, 1i8..=12, 1i8..=28).prop_map(|(y, m, d)| date(y, m, d))
    }

    fn any_generated() -> impl Strategy<Value = ScheduleSpec> {
        prop_oneof![
            (any_date(), 0u32..600)
                .prop_map(|(first_due, count)| ScheduleSpec::Weekly { first_due, count }),
            (any_date(), 0u32..600)
                .prop_map(|(first_due, count)| ScheduleSpec::Biweekly { first_due, count }),
            (any_date(), 0u8..33, 0u32..600).prop_map(|(first_due, day_of_month, count)| {
                ScheduleSpec::Monthly {
                    first_due,
                    day_of_month,
                    count,
                }
            }),
        ]
    }

    proptest! {
        /// Whatever the terms, a schedule that builds sums exactly to what is owed, its
        /// amounts differ by at most one minor unit (earlier ones larger) and its dates
        /// strictly increase.
        #[test]
        fn generated_installments_sum_exactly(spec in any_generated(), owed in prop_oneof![1i64..10_000, 1i64..=i64::MAX]) {
            match spec.installments(owed) {
                Ok(list) => {
                    prop_assert!(!list.is_empty() && list.len() <= MAX_INSTALLMENTS);
                    prop_assert_eq!(sum_minor(list.iter().map(|i| i.amount)), Ok(owed));
                    for pair in list.windows(2) {
                        prop_assert!(pair[0].due < pair[1].due);
                        prop_assert!(pair[0].amount >= pair[1].amount);
                        prop_assert!(pair[0].amount - pair[1].amount <= 1);
                        prop_assert_eq!(pair[0].number + 1, pair[1].number);
                    }
                    prop_assert!(list.iter().all(|i| i.amount > 0));
                }
                Err(ContractError::Count { .. } | ContractError::DayOfMonth(_) | ContractError::TooSmallToSplit { .. }) => {}
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }

        /// Explicit schedules build exactly when they are well-formed, and keep their amounts.
        #[test]
        fn explicit_installments_sum_exactly(
            items in proptest::collection::vec((0i64..400, 1i64..1_000_000), 1..40)
        ) {
            let mut day = date(2026, 1, 1);
            let mut list = Vec::new();
            for (gap, amount) in items {
                day = day.checked_add(Span::new().days(gap + 1)).unwrap();
                list.push((day, amount));
            }
            let owed: i64 = list.iter().map(|(_, a)| a).sum();
            let built = ScheduleSpec::Explicit(list.clone()).installments(owed).unwrap();
            prop_assert_eq!(built.iter().map(|i| i.amount).sum::<i64>(), owed);
            prop_assert_eq!(built.len(), list.len());
        }
    }
}
