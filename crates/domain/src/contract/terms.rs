//! Contract terms: the money, the schedule and the lender's time zone.

use super::{ContractError, Installment, ScheduleSpec};
use crate::money::{add_minor, Currency, Money};
use crate::zone;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

/// Terms as a lender writes them (API body, import file). Turned into [`ContractTerms`] by
/// [`ContractTerms::new`], which checks everything.
///
/// The amount owed through lienlock is `financed + fees`. The down payment is paid at the
/// counter before the device leaves the shop; it is recorded for the lender's books and the
/// borrower's receipt, and is never part of the installments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermsSpec {
    /// The currency every amount is in.
    pub currency: Currency,
    /// Minor units financed (price less down payment); positive.
    pub financed: i64,
    /// Minor units paid up front; recorded only; zero or more.
    #[serde(default)]
    pub down_payment: i64,
    /// Minor units of fees and interest added to what is owed; zero or more.
    #[serde(default)]
    pub fees: i64,
    /// When installments fall due.
    pub schedule: ScheduleSpec,
    /// The lender's IANA time zone: due dates are calendar dates there.
    pub time_zone: String,
}

/// Validated contract terms with their installment schedule.
///
/// The only ways in are [`ContractTerms::new`] and serde (which calls it), so a value of this
/// type always has installments that are positive, in date order and sum exactly to
/// [`ContractTerms::amount_owed`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TermsSpec", into = "TermsSpec")]
pub struct ContractTerms {
    spec: TermsSpec,
    zone: TimeZone,
    owed: i64,
    installments: Vec<Installment>,
}

impl ContractTerms {
    /// Checks `spec` and builds its schedule.
    pub fn new(mut spec: TermsSpec) -> Result<Self, ContractError> {
        if spec.financed <= 0 {
            return Err(ContractError::FinancedNotPositive(spec.financed));
        }
        if spec.down_payment < 0 {
            return Err(ContractError::NegativeDownPayment(spec.down_payment));
        }
        if spec.fees < 0 {
            return Err(ContractError::NegativeFees(spec.fees));
        }
        let owed = add_minor(spec.financed, spec.fees)?;
        let zone = zone::lookup(&spec.time_zone)
            .map_err(|_| ContractError::UnknownTimeZone(spec.time_zone.clone()))?;
        // Store the canonical spelling ("asia/kolkata" becomes "Asia/Kolkata").
        if let Some(name) = zone.iana_name() {
            spec.time_zone = name.to_owned();
        }
        let installments = spec.schedule.installments(owed)?;
        Ok(Self {
            spec,
            zone,
            owed,
            installments,
        })
    }

    /// The terms as written (with the time zone's canonical name).
    pub fn spec(&self) -> &TermsSpec {
        &self.spec
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.spec.currency
    }

    /// The financed amount.
    pub fn financed(&self) -> Money {
        Money::new(self.spec.currency, self.spec.financed)
    }

    /// The down payment (recorded only; not owed through lienlock).
    pub fn down_payment(&self) -> Money {
        Money::new(self.spec.currency, self.spec.down_payment)
    }

    /// Fees added to what is owed.
    pub fn fees(&self) -> Money {
        Money::new(self.spec.currency, self.spec.fees)
    }

    /// What the installments add up to: financed plus fees, in minor units.
    pub fn amount_owed(&self) -> i64 {
        self.owed
    }

    /// The schedule as the lender described it.
    pub fn schedule(&self) -> &ScheduleSpec {
        &self.spec.schedule
    }

    /// The lender's time zone, in which due dates are calendar dates.
    pub fn time_zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The lender's time zone's IANA name.
    pub fn time_zone_name(&self) -> &str {
        &self.spec.time_zone
    }

    /// The installments, oldest first.
    pub fn installments(&self) -> &[Installment] {
        &self.installments
    }
}

impl TryFrom<TermsSpec> for ContractTerms {
    type Error = ContractError;
    fn try_from(spec: TermsSpec) -> Result<Self, Self::Error> {
        Self::new(spec)
    }
}

impl From<ContractTerms> for TermsSpec {
    fn from(t: ContractTerms) -> Self {
        t.spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn spec() -> TermsSpec {
        TermsSpec {
            currency: Currency::parse("KES").unwrap(),
            financed: 1_200_000,
            down_payment: 300_000,
            fees: 100_000,
            schedule: ScheduleSpec::Monthly {
                first_due: date(2026, 1, 31),
                day_of_month: 31,
                count: 12,
            },
            time_zone: "africa/nairobi".into(),
        }
    }

    #[test]
    fn owed_is_financed_plus_fees_and_the_schedule_sums_to_it() {
        let t = ContractTerms::new(spec()).unwrap();
        assert_eq!(t.amount_owed(), 1_300_000);
        assert_eq!(
            t.installments().iter().map(|i| i.amount).sum::<i64>(),
            1_300_000
        );
        assert_eq!(t.time_zone_name(), "Africa/Nairobi");
        assert_eq!(t.down_payment().to_string(), "KES 3000.00");
        assert_eq!(t.installments()[1].due, date(2026, 2, 28));
    }

    #[test]
    fn bad_terms_are_refused() {
        let with = |f: fn(&mut TermsSpec)| {
            let mut s = spec();
            f(&mut s);
            ContractTerms::new(s).unwrap_err()
        };
        assert_eq!(
            with(|s| s.financed = 0),
            ContractError::FinancedNotPositive(0)
        );
        assert_eq!(
            with(|s| s.down_payment = -1),
            ContractError::NegativeDownPayment(-1)
        );
        assert_eq!(with(|s| s.fees = -1), ContractError::NegativeFees(-1));
        assert!(matches!(
            with(|s| {
                s.financed = i64::MAX;
                s.fees = 1;
            }),
            ContractError::Money(_)
        ));
        assert_eq!(
            with(|s| s.time_zone = "Nowhere/Else".into()),
            ContractError::UnknownTimeZone("Nowhere/Else".into())
        );
    }

    #[test]
    fn json_round_trips_and_revalidates() {
        let t = ContractTerms::new(spec()).unwrap();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<ContractTerms>(&json).unwrap(), t);
        let broken = json.replace("1200000", "-5");
        assert!(serde_json::from_str::<ContractTerms>(&broken).is_err());
    }
}
