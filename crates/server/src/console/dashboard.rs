//! The portfolio dashboard.

use super::format::{level, money};
use super::{chart, render, ConsoleError, Me, Session};
use crate::app::AppState;
use crate::service::CHART_DAYS;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct Dashboard {
    me: Option<Me>,
    lender: String,
    at: String,
    /// (label, value, element id)
    cards: Vec<(String, String, &'static str)>,
    states: Vec<(String, u64)>,
    /// (filter value, label, devices, amounts)
    buckets: Vec<(&'static str, &'static str, u64, String)>,
    chart_days: i64,
    chart: String,
}

/// The arrears buckets: filter value and label.
pub const BUCKETS: [(&str, &str); 4] = [
    ("1-30", "1 to 30 days"),
    ("31-60", "31 to 60 days"),
    ("61-90", "61 to 90 days"),
    ("90+", "over 90 days"),
];

fn minutes(ms: i64) -> String {
    if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{:.1} min", ms as f64 / 60_000.0)
    } else {
        format!("{:.1} h", ms as f64 / 3_600_000.0)
    }
}

pub(super) async fn page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, ConsoleError> {
    let ctx = &session.0.ctx;
    let lender = state.service.lender(ctx).await?;
    let p = state.service.portfolio(ctx).await?;
    let locks = &p.locks;
    let mut cards = vec![
        (
            "Locks today".to_owned(),
            locks.locks_today.to_string(),
            "locks-today",
        ),
        (
            "Unlocks today".to_owned(),
            locks.unlocks_today.to_string(),
            "unlocks-today",
        ),
        (
            format!(
                "Cure rate after a lock ({} days)",
                crate::service::WINDOW_DAYS
            ),
            locks.cure_rate().map_or("no locks yet".into(), |r| {
                format!("{r:.0}% of {}", locks.locks)
            }),
            "cure-rate",
        ),
    ];
    let (median, p95) = locks
        .payment_to_unlock()
        .map_or(("none yet".into(), "none yet".into()), |(m, p)| {
            (minutes(m), minutes(p))
        });
    cards.push(("Payment to unlock, median".into(), median, "unlock-median"));
    cards.push((
        "Payment to unlock, 95th percentile".into(),
        p95,
        "unlock-p95",
    ));
    let mut states: Vec<(String, u64)> = p
        .counts
        .by_state
        .iter()
        .map(|(s, n)| (format!("Lender: {}", s.as_str()), *n))
        .collect();
    states.extend(
        p.counts
            .by_policy_level
            .iter()
            .map(|(l, n)| (format!("Active, policy at {}", level(*l)), *n)),
    );
    let buckets = BUCKETS
        .iter()
        .zip(p.counts.arrears_buckets.iter())
        .map(|((key, label), b)| {
            let amounts: Vec<String> = b.amounts.iter().map(|(c, a)| money(c, *a)).collect();
            let amounts = if amounts.is_empty() {
                "none".into()
            } else {
                amounts.join(", ")
            };
            (*key, *label, b.devices, amounts)
        })
        .collect();
    let page = Dashboard {
        me: Some(session.me()),
        lender: lender.name,
        at: super::format::time(p.at),
        cards,
        states,
        buckets,
        chart_days: CHART_DAYS,
        chart: chart::payments(&p.daily, p.first_day, CHART_DAYS),
    };
    Ok(render(StatusCode::OK, &page))
}
