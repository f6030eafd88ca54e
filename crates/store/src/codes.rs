//! Offline unlock codes as stored: every code the server minted, what it grants, and
//! whether the device has reported taking it.

use crate::Actor;
use jiff::civil::Date;
use lienlock_domain::{
    CodeFormat, CodeGrantKind, DeviceId, LenderId, PaymentId, Timestamp, UnlockCodeId,
};

/// One issued code. Per device and format, counters are unique and increase: a device
/// takes a code only with a counter above every one it took before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnlockCodeRecord {
    /// Id.
    pub id: UnlockCodeId,
    /// Owner.
    pub lender_id: LenderId,
    /// The device it is for (its key is derived for this device alone).
    pub device_id: DeviceId,
    /// How it is written.
    pub format: CodeFormat,
    /// Its counter (an OpenPAYGO token's count).
    pub counter: u32,
    /// What it grants.
    pub kind: CodeGrantKind,
    /// The device runs until the end of this date (UTC) once the code is entered.
    pub paid_until: Date,
    /// The code as the borrower types it.
    pub code: String,
    /// The payment it came with, if any; a payment has at most one code.
    pub payment_id: Option<PaymentId>,
    /// Server time when issued.
    pub issued_at: Timestamp,
    /// Who had it issued.
    pub issued_by: Actor,
    /// Why, in staff's words (for codes issued by hand).
    pub reason: Option<String>,
    /// Server time of the check-in that reported the device took it.
    pub redeemed_at: Option<Timestamp>,
}

/// What [`crate::Store::insert_unlock_code`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeInsert {
    /// Stored.
    Inserted,
    /// The payment already has a code: it is returned and nothing was written.
    ExistingForPayment(Box<UnlockCodeRecord>),
}
