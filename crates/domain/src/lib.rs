//! lienlock's domain: the types and rules every other crate shares.
//!
//! Nothing here does I/O, touches HTTP or SQL, or reads the clock by itself: time comes in
//! as a [`Timestamp`] from an injected [`Clock`], so every rule is a deterministic function
//! that tests can drive.

pub mod android;
pub mod audit;
pub mod code;
pub mod command;
pub mod contract;
pub mod csv;
pub mod device;
pub mod ids;
pub mod imei;
pub mod ledger;
pub mod lender;
pub mod money;
pub mod permission;
pub mod policy;
pub mod profile;
pub mod text;
pub mod time;
pub mod timeline;
pub mod zone;

pub use code::{code_paid_until, CodeFormat, CodeGrantKind, NoCode, MAX_CODE_DAYS};
pub use command::{CommandKind, CommandStatus};
pub use contract::{
    ContractError, ContractState, ContractTerms, Installment, ScheduleSpec, TermsSpec,
};
pub use device::{DeviceState, KeyStatus, LeaseState, TransitionError};
pub use ids::{
    ApiKeyId, CommandId, ContractId, DeviceId, DisputeId, EventId, LenderId, NoticeId, PaymentId,
    UnlockCodeId, UserId,
};
pub use imei::{Imei, ImeiError};
pub use ledger::{DueInstallment, EntryKind, Ledger, LedgerEntry, LedgerError, Standing};
pub use lender::{LenderCtx, Principal, Role};
pub use money::{Currency, Money, MoneyError};
pub use permission::{Denied, Permission};
pub use policy::{
    evaluate, explain, AppliedLevel, ComplianceProfile, Dispute, DisputeOpener, Holds, Notice,
    NoticeKind, NoticeWait, OfflinePolicy, Phase, PolicyDecision, PolicyError, PolicyInput,
    PolicyOverrides, PolicySettings, QuietHours, ReminderDays,
};
pub use profile::{Capability, ProfileError, RestrictionLevel, RestrictionProfile};
pub use text::{BoundedText, TextError};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use timeline::EventKind;
pub use zone::UnknownTimeZone;
