//! The device list, the device page, its live status, and the actions staff take on it.

use super::format::{self, effective, level, maybe_time, money, overdue};
use super::{render, ConsoleError, Me, Session};
use crate::app::AppState;
use crate::error::ApiError;
use crate::service::{CodeRequest, CommandRequest, DeviceOverview, ServiceError};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use lienlock_domain::{CommandKind, DeviceId, DeviceState, LenderCtx, Role, Timestamp};
use lienlock_store::{Actor, Device, DeviceQuery, OverdueRange};
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;
const PAGE: u32 = 50;

pub(super) fn device_id(s: &str) -> Result<DeviceId, ConsoleError> {
    s.parse().map_err(|_| ConsoleError(ApiError::BadPathId))
}

/// A list row.
struct Row {
    id: String,
    imei: String,
    model: String,
    state: &'static str,
    state_class: &'static str,
    overdue: String,
    last_seen: String,
}

#[derive(Template)]
#[template(path = "console/devices.html")]
struct ListPage {
    me: Option<Me>,
    q: String,
    /// (value, label, selected)
    state_options: Vec<(&'static str, &'static str, bool)>,
    arrears_options: Vec<(&'static str, &'static str, bool)>,
    rows: Vec<Row>,
    next: Option<String>,
    note: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    arrears: String,
    after: Option<String>,
}

/// The due-date range of an arrears bucket: days overdue `d` is whole days since the due
/// date, so `lo <= d <= hi` is `now - (hi+1) days < since <= now - lo days`.
fn bucket_range(key: &str, now: Timestamp) -> Option<OverdueRange> {
    let (lo, hi) = match key {
        "1-30" => (1, Some(30)),
        "31-60" => (31, Some(60)),
        "61-90" => (61, Some(90)),
        "90+" => (91, None),
        "any" => (1, None),
        _ => return None,
    };
    let at = |days: i64| Timestamp::from_millis(now.as_millis() - days * DAY_MS);
    Some(OverdueRange {
        after: hi.map(|h| at(h + 1)),
        at_most: at(lo),
    })
}

fn row(d: &Device, now: Timestamp) -> Row {
    let e = effective(d);
    Row {
        id: d.id.to_string(),
        imei: d.imei.to_string(),
        model: d.model.clone().unwrap_or_default(),
        state: e.label,
        state_class: e.key,
        overdue: overdue(d, now),
        last_seen: maybe_time(d.last_seen_at),
    }
}

fn encode(s: &str) -> String {
    super::encode_component(s)
}

pub(super) async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let ctx = &session.0.ctx;
    let now = state.service.clock().now();
    let mut note = None;
    let lender_state =
        match q.state.as_str() {
            "" => None,
            s => Some(DeviceState::parse(s).ok_or_else(|| {
                ConsoleError(ApiError::InvalidQuery(format!("unknown state {s:?}")))
            })?),
        };
    let range = match q.arrears.as_str() {
        "" => None,
        a => Some(bucket_range(a, now).ok_or_else(|| {
            ConsoleError(ApiError::InvalidQuery(format!(
                "unknown arrears bucket {a:?}"
            )))
        })?),
    };
    let (devices, next) = if !q.q.trim().is_empty() {
        // A search names one device: by IMEI or by contract reference.
        let found = state.service.find_device(ctx, &q.q).await?;
        if found.is_none() {
            note = Some(format!(
                "No device with IMEI or contract reference {:?}.",
                q.q.trim()
            ));
        }
        (found.into_iter().collect::<Vec<_>>(), None)
    } else {
        let after = q
            .after
            .as_deref()
            .map(|a| a.parse::<DeviceId>())
            .transpose()
            .map_err(|_| ConsoleError(ApiError::InvalidQuery("bad cursor".into())))?;
        let devices = state
            .service
            .list_devices(
                ctx,
                DeviceQuery {
                    state: lender_state,
                    after,
                    limit: PAGE,
                    overdue: range,
                },
            )
            .await?;
        let next = (devices.len() == PAGE as usize)
            .then(|| devices.last())
            .flatten()
            .map(|d| {
                format!(
                    "/console/devices?state={}&arrears={}&after={}",
                    encode(&q.state),
                    encode(&q.arrears),
                    d.id
                )
            });
        (devices, next)
    };
    let state_options = [
        ("", "Any"),
        ("active", "Active"),
        ("locked", "Locked by the lender"),
        ("released", "Released"),
    ]
    .into_iter()
    .map(|(v, l)| (v, l, v == q.state))
    .collect();
    let arrears_options = [
        ("", "Any"),
        ("any", "Any arrears"),
        ("1-30", "1 to 30 days"),
        ("31-60", "31 to 60 days"),
        ("61-90", "61 to 90 days"),
        ("90+", "Over 90 days"),
    ]
    .into_iter()
    .map(|(v, l)| (v, l, v == q.arrears))
    .collect();
    let page = ListPage {
        me: Some(session.me()),
        q: q.q.clone(),
        state_options,
        arrears_options,
        rows: devices.iter().map(|d| row(d, now)).collect(),
        next,
        note,
    };
    Ok(render(StatusCode::OK, &page))
}

/// The device's status as the page shows it and its script refreshes it.
#[derive(Serialize)]
struct Status {
    state: &'static str,
    state_key: &'static str,
    state_class: &'static str,
    lender_state: &'static str,
    policy_level: &'static str,
    overdue: String,
    last_seen: String,
    imei: String,
    imei2: String,
    model: String,
    serial: String,
    key_status: &'static str,
    enrolled: String,
    id: String,
}

fn status(d: &Device, now: Timestamp) -> Status {
    let e = effective(d);
    Status {
        state: e.label,
        state_key: e.key,
        state_class: e.key,
        lender_state: d.state.as_str(),
        policy_level: level(d.policy_level),
        overdue: overdue(d, now),
        last_seen: maybe_time(d.last_seen_at),
        imei: d.imei.to_string(),
        imei2: d.imei2.map_or("none".into(), |i| i.to_string()),
        model: d.model.clone().unwrap_or_else(|| "unknown".into()),
        serial: d.serial.clone().unwrap_or_else(|| "unknown".into()),
        key_status: d.key_status.as_str(),
        enrolled: format::time(d.enrolled_at),
        id: d.id.to_string(),
    }
}

/// One action form.
struct Action {
    key: &'static str,
    title: &'static str,
    help: &'static str,
    confirm: &'static str,
    class: &'static str,
    allowed: bool,
}

fn actions(role: Role) -> Vec<Action> {
    let cmd = role.allows(lienlock_domain::Permission::Command);
    vec![
        Action {
            key: "lock",
            title: "Lock",
            help: "Locks the phone at its next check-in (at once if it is connected).",
            confirm: "lock this phone now",
            class: "danger",
            allowed: cmd,
        },
        Action {
            key: "unlock",
            title: "Unlock",
            help: "Lifts the lender's lock. The payment policy may still restrict the phone.",
            confirm: "unlock this phone",
            class: "safe",
            allowed: cmd,
        },
        Action {
            key: "release",
            title: "Release for good",
            help: "Frees the phone from the program for ever. It cannot be undone.",
            confirm: "release this phone permanently",
            class: "danger",
            allowed: cmd,
        },
        Action {
            key: "temporary_unlock",
            title: "Temporary unlock",
            help: "Opens a dispute and unlocks the phone for the hours given while it is looked into.",
            confirm: "unlock this phone temporarily",
            class: "safe",
            allowed: role.allows(lienlock_domain::Permission::HandleDisputes),
        },
        Action {
            key: "code",
            title: "Issue offline code",
            help: "A code the borrower types on a phone that cannot connect; it unlocks it until the paid-up date.",
            confirm: "issue a code for this phone",
            class: "",
            allowed: cmd,
        },
    ]
}

struct ContractView {
    reference: String,
    summary: String,
    explanation: String,
    /// (number, due, amount, paid)
    installments: Vec<(u32, String, String, String)>,
    /// (received, amount, channel, reference)
    payments: Vec<(String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "console/device.html")]
struct DevicePage {
    me: Option<Me>,
    d: Status,
    role: &'static str,
    csrf: String,
    flash: Option<String>,
    actions: Vec<Action>,
    contract: Option<ContractView>,
    android: super::android::AndroidView,
    /// (rfc3339, shown time, kind, who, what)
    timeline: Vec<(String, String, &'static str, String, String)>,
}

fn who(actor: &Actor, o: &DeviceOverview) -> String {
    match actor {
        Actor::User(id) => o.users.get(id).map_or_else(
            || format!("user {id}"),
            |u| format!("{} ({})", u.name, u.role.as_str()),
        ),
        Actor::ApiKey(id) => format!("API key {}", &id.to_string()[..8]),
        Actor::Device => "the phone".into(),
        Actor::Scheduler => "the payment policy".into(),
        Actor::Operator => "the operator".into(),
        Actor::Public => "a public IMEI check".into(),
    }
}

fn contract_view(o: &DeviceOverview) -> Option<ContractView> {
    let s = o.contract.as_ref()?;
    let c = &s.contract;
    let t = &c.terms;
    let cur = t.currency().code().to_owned();
    let st = &s.decision.standing;
    let installments = st
        .paid_per_installment(t.installments())
        .map(|(i, paid)| {
            (
                i.number,
                i.due.to_string(),
                money(&cur, i.amount),
                money(&cur, paid),
            )
        })
        .collect();
    let payments = o
        .payments
        .iter()
        .map(|p| {
            let sign = match p.kind {
                lienlock_domain::EntryKind::Reversal { .. } => -1,
                lienlock_domain::EntryKind::Payment => 1,
            };
            (
                format::time(p.received_at),
                money(p.currency.code(), sign * p.amount),
                p.channel.clone(),
                p.external_ref.clone().unwrap_or_default(),
            )
        })
        .collect();
    Some(ContractView {
        reference: c.reference.clone().unwrap_or_else(|| c.id.to_string()),
        summary: format!(
            "{}: {} paid of {} owed; {} overdue.",
            c.state.as_str(),
            money(&cur, st.total_paid),
            money(&cur, t.amount_owed()),
            money(&cur, st.overdue_amount)
        ),
        explanation: s.explanation.clone(),
        installments,
        payments,
    })
}

pub(super) async fn device_page(
    state: &AppState,
    session: &Session,
    id: DeviceId,
    flash: Option<String>,
) -> Result<Response, ConsoleError> {
    let ctx = &session.0.ctx;
    let o = state.service.device_overview(ctx, id).await?;
    let now = state.service.clock().now();
    let page = DevicePage {
        me: Some(session.me()),
        d: status(&o.device, now),
        role: ctx.role.as_str(),
        csrf: session.0.csrf_token.clone(),
        flash,
        actions: actions(ctx.role),
        contract: contract_view(&o),
        android: super::android::view(state, session, id).await?,
        timeline: o
            .timeline
            .iter()
            .map(|e| {
                let what = [e.reason.as_deref(), e.detail.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; ");
                (
                    crate::views::rfc3339(e.at),
                    format::time(e.at),
                    e.kind.as_str(),
                    who(&e.actor, &o),
                    what,
                )
            })
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

pub(super) async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let id = device_id(&id)?;
    device_page(&state, &session, id, None).await
}

pub(super) async fn state(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let id = device_id(&id)?;
    let d = state.service.device(&session.0.ctx, id).await?;
    let now = state.service.clock().now();
    Ok(Json(status(&d, now)).into_response())
}

#[derive(Deserialize)]
pub(super) struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm: String,
    hours: Option<String>,
    paid_until: Option<String>,
}

pub(super) fn invalid(field: &'static str, why: &str) -> ConsoleError {
    ConsoleError(ApiError::Service(ServiceError::Invalid {
        field,
        why: why.into(),
    }))
}

async fn act(
    state: &AppState,
    ctx: &LenderCtx,
    id: DeviceId,
    f: &ActionForm,
) -> Result<String, ConsoleError> {
    let service = &state.service;
    let command = |kind| CommandRequest {
        kind,
        reason: f.reason.clone(),
        at: None,
    };
    Ok(match f.action.as_str() {
        "lock" => {
            service.command(ctx, id, command(CommandKind::Lock)).await?;
            "Locked. The phone locks at its next check-in; a connected phone at once.".into()
        }
        "unlock" => {
            service
                .command(ctx, id, command(CommandKind::Unlock))
                .await?;
            "Unlocked.".into()
        }
        "release" => {
            service
                .command(ctx, id, command(CommandKind::Release))
                .await?;
            "Released for good.".into()
        }
        "temporary_unlock" => {
            let hours: i64 = f
                .hours
                .as_deref()
                .unwrap_or("")
                .trim()
                .parse()
                .ok()
                .filter(|h| (1..=168).contains(h))
                .ok_or_else(|| invalid("hours", "must be a whole number from 1 to 168"))?;
            let until = service.clock().now().plus_secs(hours * 3600);
            let open = service
                .device_disputes(ctx, id)
                .await?
                .into_iter()
                .find(|d| d.is_open());
            match open {
                Some(d) => {
                    service
                        .grant_temporary_unlock(ctx, d.id, until, &f.reason)
                        .await?;
                }
                None => {
                    service
                        .open_dispute(ctx, id, &f.reason, Some(until))
                        .await?;
                }
            }
            format!("Temporarily unlocked until {}.", format::time(until))
        }
        "code" => {
            let paid_until = match f.paid_until.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(d) => Some(
                    d.parse::<jiff::civil::Date>()
                        .map_err(|_| invalid("paid_until", "must be a date like 2026-12-31"))?,
                ),
            };
            let code = service
                .issue_code(
                    ctx,
                    id,
                    CodeRequest {
                        kind: None,
                        paid_until,
                        reason: f.reason.clone(),
                    },
                )
                .await?;
            format!(
                "Offline code {}: read it to the borrower. It runs the phone until {}.",
                code.code, code.paid_until
            )
        }
        other => return Err(invalid("action", &format!("unknown action {other:?}"))),
    })
}

pub(super) async fn action(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<ActionForm>,
) -> Result<Response, ConsoleError> {
    // The anti-forgery check comes first: a forged form learns nothing, not even whether
    // the device exists.
    session.check_csrf(&f.csrf)?;
    let id = device_id(&id)?;
    if f.confirm != "yes" {
        return Err(invalid("confirm", "tick the box to confirm the action"));
    }
    let done = act(&state, &session.0.ctx, id, &f).await?;
    device_page(&state, &session, id, Some(done)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_whole_days_without_gaps() {
        let now = Timestamp::from_millis(1_000 * DAY_MS);
        let r = bucket_range("1-30", now).unwrap();
        assert_eq!(r.at_most.as_millis(), 999 * DAY_MS);
        assert_eq!(r.after.unwrap().as_millis(), 969 * DAY_MS);
        let r2 = bucket_range("31-60", now).unwrap();
        assert_eq!(r2.at_most, r.after.unwrap());
        assert_eq!(bucket_range("90+", now).unwrap().after, None);
        assert!(bucket_range("7", now).is_none());
    }
}
