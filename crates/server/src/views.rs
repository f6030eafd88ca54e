//! The JSON shapes of API responses. Times are RFC 3339 in UTC for people and tools;
//! storage keeps epoch milliseconds.

use lienlock_domain::Timestamp;
use lienlock_store::{Command, Device, Lender, TimelineEvent};
use serde::Serialize;

/// RFC 3339 text of a timestamp (UTC, millisecond precision).
pub fn rfc3339(t: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(t.as_millis())
        .map(|ts| ts.to_string())
        .unwrap_or_else(|_| t.as_millis().to_string())
}

/// A device.
#[derive(Debug, Serialize)]
pub struct DeviceView {
    id: String,
    imei: String,
    imei2: Option<String>,
    serial: Option<String>,
    model: Option<String>,
    state: &'static str,
    key_status: &'static str,
    /// The key awaiting approval (hex), to be named when approving it.
    pending_key: Option<String>,
    lease_sequence: u64,
    last_seen_at: Option<String>,
    enrolled_at: String,
    updated_at: String,
}

impl From<&Device> for DeviceView {
    fn from(d: &Device) -> Self {
        Self {
            id: d.id.to_string(),
            imei: d.imei.to_string(),
            imei2: d.imei2.map(|i| i.to_string()),
            serial: d.serial.clone(),
            model: d.model.clone(),
            state: d.state.as_str(),
            key_status: d.key_status.as_str(),
            pending_key: d.pending_key.map(hex::encode),
            lease_sequence: d.lease_seq,
            last_seen_at: d.last_seen_at.map(rfc3339),
            enrolled_at: rfc3339(d.enrolled_at),
            updated_at: rfc3339(d.updated_at),
        }
    }
}

/// A page of devices.
#[derive(Debug, Serialize)]
pub struct DevicePage {
    /// The devices.
    pub devices: Vec<DeviceView>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A command.
#[derive(Debug, Serialize)]
pub struct CommandView {
    id: String,
    device_id: String,
    kind: &'static str,
    reason: String,
    status: &'static str,
    requested_by: String,
    requested_at: String,
    effective_at: String,
    resolved_at: Option<String>,
}

impl From<&Command> for CommandView {
    fn from(c: &Command) -> Self {
        Self {
            id: c.id.to_string(),
            device_id: c.device_id.to_string(),
            kind: c.kind.as_str(),
            reason: c.reason.clone(),
            status: c.status.as_str(),
            requested_by: c.requested_by.to_text(),
            requested_at: rfc3339(c.requested_at),
            effective_at: rfc3339(c.effective_at),
            resolved_at: c.resolved_at.map(rfc3339),
        }
    }
}

/// The answer to a command: the command and the device as it stands now.
#[derive(Debug, Serialize)]
pub struct CommandResult {
    /// The command.
    pub command: CommandView,
    /// The device.
    pub device: DeviceView,
}

/// A timeline entry.
#[derive(Debug, Serialize)]
pub struct EventView {
    seq: i64,
    id: String,
    at: String,
    kind: &'static str,
    actor: String,
    reason: Option<String>,
    detail: Option<String>,
}

impl From<&TimelineEvent> for EventView {
    fn from(e: &TimelineEvent) -> Self {
        Self {
            seq: e.seq,
            id: e.id.to_string(),
            at: rfc3339(e.at),
            kind: e.kind.as_str(),
            actor: e.actor.to_text(),
            reason: e.reason.clone(),
            detail: e.detail.clone(),
        }
    }
}

/// A page of timeline entries.
#[derive(Debug, Serialize)]
pub struct TimelinePage {
    /// The entries, oldest first.
    pub events: Vec<EventView>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_cursor: Option<i64>,
}

/// The caller's lender.
#[derive(Debug, Serialize)]
pub struct LenderView {
    id: String,
    name: String,
    support_phone: String,
    support_url: String,
    lock_message: String,
    lock_profile: lienlock_domain::RestrictionProfile,
}

impl From<&Lender> for LenderView {
    fn from(l: &Lender) -> Self {
        Self {
            id: l.id.to_string(),
            name: l.name.clone(),
            support_phone: l.support_phone.clone(),
            support_url: l.support_url.clone(),
            lock_message: l.lock_message.clone(),
            lock_profile: l.lock_profile,
        }
    }
}

/// One installment and how much of it is paid.
#[derive(Debug, Serialize)]
pub struct InstallmentView {
    number: u32,
    due: String,
    amount: i64,
    paid: i64,
}

/// Where the account stands.
#[derive(Debug, Serialize)]
pub struct StandingView {
    total_due: i64,
    total_paid: i64,
    overdue_count: u32,
    overdue_amount: i64,
    days_overdue: i32,
    credit: i64,
    next_due: Option<String>,
    paid_off: bool,
}

/// What the policy engine says now.
#[derive(Debug, Serialize)]
pub struct PolicyStatusView {
    phase: &'static str,
    restriction_level: lienlock_domain::RestrictionLevel,
    explanation: String,
    next_evaluation_at: Option<String>,
}

/// A contract with its schedule, standing and status. Amounts are minor units of
/// `currency`.
#[derive(Debug, Serialize)]
pub struct ContractView {
    id: String,
    device_id: String,
    reference: Option<String>,
    state: &'static str,
    currency: String,
    financed: i64,
    down_payment: i64,
    fees: i64,
    amount_owed: i64,
    time_zone: String,
    installments: Vec<InstallmentView>,
    standing: StandingView,
    status: PolicyStatusView,
    created_at: String,
}

impl From<&crate::service::ContractStatus> for ContractView {
    fn from(s: &crate::service::ContractStatus) -> Self {
        let c = &s.contract;
        let t = &c.terms;
        let st = &s.decision.standing;
        let paid = st.paid_per_installment(t.installments());
        Self {
            id: c.id.to_string(),
            device_id: c.device_id.to_string(),
            reference: c.reference.clone(),
            state: c.state.as_str(),
            currency: t.currency().code().to_owned(),
            financed: t.financed().minor(),
            down_payment: t.down_payment().minor(),
            fees: t.fees().minor(),
            amount_owed: t.amount_owed(),
            time_zone: t.time_zone_name().to_owned(),
            installments: paid
                .map(|(i, paid)| InstallmentView {
                    number: i.number,
                    due: i.due.to_string(),
                    amount: i.amount,
                    paid,
                })
                .collect(),
            standing: StandingView {
                total_due: st.total_due,
                total_paid: st.total_paid,
                overdue_count: st.overdue_count,
                overdue_amount: st.overdue_amount,
                days_overdue: st.days_overdue,
                credit: st.credit,
                next_due: st.next_due.map(|d| d.due.to_string()),
                paid_off: st.paid_off,
            },
            status: PolicyStatusView {
                phase: s.decision.phase.as_str(),
                restriction_level: s.decision.level,
                explanation: s.explanation.clone(),
                next_evaluation_at: c.next_evaluation_at.map(rfc3339),
            },
            created_at: rfc3339(c.created_at),
        }
    }
}

/// A ledger entry.
#[derive(Debug, Serialize)]
pub struct PaymentView {
    id: String,
    kind: &'static str,
    reverses: Option<String>,
    contract_id: Option<String>,
    matched: bool,
    payer_hint: Option<String>,
    amount: i64,
    currency: String,
    received_at: String,
    recorded_at: String,
    channel: String,
    external_ref: Option<String>,
    /// The offline unlock code for the borrower's receipt: absent on reversals and
    /// unmatched payments; `null`, with `code_note` saying why, when none was issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<Option<CodeView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code_note: Option<String>,
}

impl PaymentView {
    /// With the code a payment came with (or why it came with none).
    pub fn with_code(mut self, code: Option<&crate::service::PaymentCode>) -> Self {
        use crate::service::PaymentCode;
        match code {
            Some(PaymentCode::Issued(c)) => self.code = Some(Some(CodeView::from(&**c))),
            Some(PaymentCode::None(why)) => {
                self.code = Some(None);
                self.code_note = Some(why.clone());
            }
            None => {}
        }
        self
    }
}

/// An offline unlock code as issued.
#[derive(Debug, Serialize)]
pub struct CodeView {
    id: String,
    device_id: String,
    format: &'static str,
    counter: u32,
    kind: &'static str,
    paid_until: String,
    /// Until when the phone runs once the code is entered (the end of `paid_until`, UTC).
    runs_until: String,
    code: String,
    payment_id: Option<String>,
    issued_at: String,
    issued_by: String,
    reason: Option<String>,
    redeemed_at: Option<String>,
}

impl From<&lienlock_store::UnlockCodeRecord> for CodeView {
    fn from(c: &lienlock_store::UnlockCodeRecord) -> Self {
        Self {
            id: c.id.to_string(),
            device_id: c.device_id.to_string(),
            format: c.format.as_str(),
            counter: c.counter,
            kind: c.kind.as_str(),
            paid_until: c.paid_until.to_string(),
            runs_until: rfc3339(lienlock_wire::unlock_code::end_of_day_utc(c.paid_until)),
            code: c.code.clone(),
            payment_id: c.payment_id.map(|p| p.to_string()),
            issued_at: rfc3339(c.issued_at),
            issued_by: c.issued_by.to_text(),
            reason: c.reason.clone(),
            redeemed_at: c.redeemed_at.map(rfc3339),
        }
    }
}

impl From<&lienlock_store::PaymentRecord> for PaymentView {
    fn from(p: &lienlock_store::PaymentRecord) -> Self {
        let (kind, reverses) = match p.kind {
            lienlock_domain::EntryKind::Payment => ("payment", None),
            lienlock_domain::EntryKind::Reversal { of } => ("reversal", Some(of.to_string())),
        };
        Self {
            id: p.id.to_string(),
            kind,
            reverses,
            contract_id: p.contract_id.map(|c| c.to_string()),
            matched: p.contract_id.is_some(),
            payer_hint: p.payer_hint.clone(),
            amount: p.amount,
            currency: p.currency.code().to_owned(),
            received_at: rfc3339(p.received_at),
            recorded_at: rfc3339(p.recorded_at),
            channel: p.channel.clone(),
            external_ref: p.external_ref.clone(),
            code: None,
            code_note: None,
        }
    }
}

/// A dispute.
#[derive(Debug, Serialize)]
pub struct DisputeView {
    id: String,
    device_id: String,
    contract_id: Option<String>,
    opened_by: String,
    reason: String,
    opened_at: String,
    open: bool,
    temporary_unlock_until: Option<String>,
    closed_at: Option<String>,
    closed_by: Option<String>,
    resolution: Option<String>,
}

impl From<&lienlock_store::DisputeRecord> for DisputeView {
    fn from(d: &lienlock_store::DisputeRecord) -> Self {
        Self {
            id: d.id.to_string(),
            device_id: d.device_id.to_string(),
            contract_id: d.contract_id.map(|c| c.to_string()),
            opened_by: d.opened_by.to_text(),
            reason: d.reason.clone(),
            opened_at: rfc3339(d.opened_at),
            open: d.is_open(),
            temporary_unlock_until: d.temporary_unlock_until.map(rfc3339),
            closed_at: d.closed_at.map(rfc3339),
            closed_by: d.closed_by.as_ref().map(|a| a.to_text()),
            resolution: d.resolution.clone(),
        }
    }
}

/// A notice queued for a device.
#[derive(Debug, Serialize)]
pub struct NoticeView {
    seq: u64,
    kind: String,
    message: String,
    created_at: String,
    /// When the device acknowledged showing it; only then does it count as delivered.
    delivered_at: Option<String>,
}

impl From<&lienlock_store::NoticeRecord> for NoticeView {
    fn from(n: &lienlock_store::NoticeRecord) -> Self {
        Self {
            seq: n.seq,
            kind: n.kind.clone(),
            message: n.message.clone(),
            created_at: rfc3339(n.created_at),
            delivered_at: n.delivered_at.map(rfc3339),
        }
    }
}
