//! Installment contracts: what a borrower owes for a device and when.
//!
//! [`ContractTerms`] is the parsed, validated form of a lender's [`TermsSpec`]; building one
//! also builds its installment schedule, so a contract that exists always has a schedule
//! whose installments sum exactly to the amount owed.

mod error;
mod schedule;
mod state;
mod terms;

pub use error::ContractError;
pub use schedule::{Installment, ScheduleSpec, MAX_INSTALLMENTS};
pub use state::ContractState;
pub use terms::{ContractTerms, TermsSpec};
