//! The JSON shapes of API responses. Times are RFC 3339 in UTC for people and tools;
//! storage keeps epoch milliseconds.

use lienlock_domain::Timestamp;
use lienlock_store::{Command, Device, Lender, TimelineEvent};
use serde::Serialize;
use utoipa::ToSchema;

/// RFC 3339 text of a timestamp (UTC, millisecond precision).
pub fn rfc3339(t: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(t.as_millis())
        .map(|ts| ts.to_string())
        .unwrap_or_else(|_| t.as_millis().to_string())
}

/// A device.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Device)]
pub struct DeviceView {
    #[schema(format = "uuid")]
    id: String,
    /// 15 digits.
    imei: String,
    /// The second IMEI of a dual-SIM phone.
    #[schema(required)]
    imei2: Option<String>,
    #[schema(required)]
    serial: Option<String>,
    #[schema(required)]
    model: Option<String>,
    /// `active`, `locked` or `released`.
    state: &'static str,
    /// `unregistered`, `bound` or `change_pending`.
    key_status: &'static str,
    /// The key awaiting approval (hex), to be named when approving it.
    #[schema(required)]
    pending_key: Option<String>,
    lease_sequence: u64,
    #[schema(required, format = DateTime)]
    last_seen_at: Option<String>,
    #[schema(format = DateTime)]
    enrolled_at: String,
    #[schema(format = DateTime)]
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
#[derive(Debug, Serialize, ToSchema)]
pub struct DevicePage {
    /// The devices.
    pub devices: Vec<DeviceView>,
    /// Pass as `after` for the next page; null on the last page.
    #[schema(required)]
    pub next_cursor: Option<String>,
}

/// A command.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Command)]
pub struct CommandView {
    #[schema(format = "uuid")]
    id: String,
    #[schema(format = "uuid")]
    device_id: String,
    /// `lock`, `unlock` or `release`.
    kind: &'static str,
    reason: String,
    /// `pending`, `applied`, `superseded` or `cancelled`.
    status: &'static str,
    /// Who asked: `api_key:<id>`, `user:<id>`, `scheduler`, `operator`, ...
    requested_by: String,
    #[schema(format = DateTime)]
    requested_at: String,
    #[schema(format = DateTime)]
    effective_at: String,
    #[schema(required, format = DateTime)]
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
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandResult {
    /// The command.
    pub command: CommandView,
    /// The device.
    pub device: DeviceView,
}

/// A timeline entry.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventView {
    /// Position on the timeline; pass the last one seen as `after`.
    seq: i64,
    #[schema(format = "uuid")]
    id: String,
    #[schema(format = DateTime)]
    at: String,
    /// What happened (`enrolled`, `locked`, `payment_recorded`, ...).
    kind: &'static str,
    /// Who did it.
    actor: String,
    #[schema(required)]
    reason: Option<String>,
    #[schema(required)]
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
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePage {
    /// The entries, oldest first.
    pub events: Vec<EventView>,
    /// Pass as `after` for the next page; null on the last page.
    #[schema(required)]
    pub next_cursor: Option<i64>,
}

/// The caller's lender.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Lender)]
pub struct LenderView {
    #[schema(format = "uuid")]
    id: String,
    name: String,
    support_phone: String,
    support_url: String,
    lock_message: String,
    #[schema(value_type = crate::openapi::RestrictionProfileSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Installment)]
pub struct InstallmentView {
    number: u32,
    /// The due date in the lender's time zone.
    #[schema(format = Date)]
    due: String,
    amount: i64,
    paid: i64,
}

/// Where the account stands.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Standing)]
pub struct StandingView {
    total_due: i64,
    total_paid: i64,
    overdue_count: u32,
    overdue_amount: i64,
    days_overdue: i32,
    credit: i64,
    #[schema(required, format = Date)]
    next_due: Option<String>,
    paid_off: bool,
}

/// What the policy engine says now.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PolicyStatus)]
pub struct PolicyStatusView {
    /// `current`, `due_soon`, `overdue`, `lock_notice_due`, `lock_eligible`, `locked`,
    /// `paid_off` or `closed`.
    phase: &'static str,
    #[schema(value_type = crate::openapi::RestrictionLevelSchema)]
    restriction_level: lienlock_domain::RestrictionLevel,
    explanation: String,
    #[schema(required, format = DateTime)]
    next_evaluation_at: Option<String>,
}

/// A contract with its schedule, standing and status. Amounts are minor units of
/// `currency`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Contract)]
pub struct ContractView {
    #[schema(format = "uuid")]
    id: String,
    #[schema(format = "uuid")]
    device_id: String,
    #[schema(required)]
    reference: Option<String>,
    /// `active`, `paid_off`, `cancelled` or `written_off`.
    state: &'static str,
    /// ISO 4217 code.
    currency: String,
    financed: i64,
    down_payment: i64,
    fees: i64,
    amount_owed: i64,
    /// IANA name.
    time_zone: String,
    installments: Vec<InstallmentView>,
    standing: StandingView,
    status: PolicyStatusView,
    #[schema(format = DateTime)]
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Payment)]
pub struct PaymentView {
    #[schema(format = "uuid")]
    id: String,
    /// `payment` or `reversal`.
    kind: &'static str,
    /// The payment a reversal takes back.
    #[schema(required, format = "uuid")]
    reverses: Option<String>,
    #[schema(required, format = "uuid")]
    contract_id: Option<String>,
    matched: bool,
    #[schema(required)]
    payer_hint: Option<String>,
    /// Minor units; positive (for a reversal, how much it takes back).
    amount: i64,
    currency: String,
    #[schema(format = DateTime)]
    received_at: String,
    #[schema(format = DateTime)]
    recorded_at: String,
    channel: String,
    #[schema(required)]
    external_ref: Option<String>,
    /// The offline unlock code for the borrower's receipt: absent on reversals and
    /// unmatched payments; `null`, with `code_note` saying why, when none was issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<CodeView>)]
    code: Option<Option<CodeView>>,
    /// Why a payment came with no code.
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UnlockCode)]
pub struct CodeView {
    #[schema(format = "uuid")]
    id: String,
    #[schema(format = "uuid")]
    device_id: String,
    /// `lc1` or `openpaygo`.
    format: &'static str,
    counter: u32,
    /// `unlock` or `extend_until`.
    kind: &'static str,
    #[schema(format = Date)]
    paid_until: String,
    /// Until when the phone runs once the code is entered (the end of `paid_until`, UTC).
    #[schema(format = DateTime)]
    runs_until: String,
    /// What the borrower types.
    code: String,
    #[schema(required, format = "uuid")]
    payment_id: Option<String>,
    #[schema(format = DateTime)]
    issued_at: String,
    issued_by: String,
    #[schema(required)]
    reason: Option<String>,
    #[schema(required, format = DateTime)]
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Dispute)]
pub struct DisputeView {
    #[schema(format = "uuid")]
    id: String,
    #[schema(format = "uuid")]
    device_id: String,
    #[schema(required, format = "uuid")]
    contract_id: Option<String>,
    /// Who opened it (`device` when the borrower did, from the phone).
    opened_by: String,
    reason: String,
    #[schema(format = DateTime)]
    opened_at: String,
    open: bool,
    #[schema(required, format = DateTime)]
    temporary_unlock_until: Option<String>,
    #[schema(required, format = DateTime)]
    closed_at: Option<String>,
    #[schema(required)]
    closed_by: Option<String>,
    #[schema(required)]
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Notice)]
pub struct NoticeView {
    seq: u64,
    /// `due_reminder`, `overdue_reminder`, `lock_notice` or `second_lock_notice`.
    kind: String,
    message: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// When the device acknowledged showing it; only then does it count as delivered.
    #[schema(required, format = DateTime)]
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
