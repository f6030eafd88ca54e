//! The payments chart, drawn on the server as SVG: no script, no library, readable by a
//! screen reader through its title and the per-day titles of its bars.

use super::format::money;
use crate::html::escape;
use lienlock_store::DailyPayments;
use std::fmt::Write;

const W: f64 = 720.0;
const H: f64 = 220.0;
const LEFT: f64 = 8.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 16.0;

fn date(day: i64) -> String {
    jiff::Timestamp::from_second(day * 86_400)
        .map(|t| t.strftime("%m-%d").to_string())
        .unwrap_or_default()
}

/// Bars of net payments per day from `first_day` for `days` days, in the currency with the
/// most money received (a portfolio is almost always in one currency; others are named
/// under the chart).
pub fn payments(daily: &[DailyPayments], first_day: i64, days: i64) -> String {
    let mut totals: Vec<(String, i64)> = Vec::new();
    for d in daily {
        match totals.iter_mut().find(|(c, _)| *c == d.currency) {
            Some((_, t)) => *t += d.net_amount,
            None => totals.push((d.currency.clone(), d.net_amount)),
        }
    }
    totals.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let Some((currency, total)) = totals.first().cloned() else {
        return "<p id=\"chart-empty\">No payments in this period.</p>".into();
    };
    let per_day: Vec<(i64, i64, u64)> = (0..days)
        .map(|i| {
            let day = first_day + i;
            daily
                .iter()
                .find(|d| d.day == day && d.currency == currency)
                .map_or((day, 0, 0), |d| (day, d.net_amount.max(0), d.count))
        })
        .collect();
    let max = per_day.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    let slot = (W - LEFT) / days as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" id="payments-chart" viewBox="0 0 {W} {H}" role="img" aria-labelledby="chart-title"><title id="chart-title">Payments received per day over the last {days} days: {} in all</title>"#,
        escape(&money(&currency, total))
    );
    for (i, (day, amount, count)) in per_day.iter().enumerate() {
        let h = (H - BOTTOM - TOP) * (*amount as f64) / (max as f64);
        let x = LEFT + slot * i as f64 + slot * 0.15;
        let y = H - BOTTOM - h;
        let _ = write!(
            svg,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="#0b57d0"><title>{}: {} ({count} payments)</title></rect>"##,
            slot * 0.7,
            date(*day),
            escape(&money(&currency, *amount)),
        );
        if i % 5 == 0 {
            let _ = write!(
                svg,
                r#"<text x="{x:.1}" y="{:.1}">{}</text>"#,
                H - 6.0,
                date(*day)
            );
        }
    }
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="12">highest day: {}</text></svg>"#,
        escape(&money(&currency, max))
    );
    if totals.len() > 1 {
        let others: Vec<String> = totals[1..].iter().map(|(c, t)| money(c, *t)).collect();
        let _ = write!(
            svg,
            "<p class=\"muted\">Also received: {}.</p>",
            escape(&others.join(", "))
        );
    }
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_day_in_the_main_currency() {
        let daily = vec![
            DailyPayments {
                day: 10,
                currency: "KES".into(),
                net_amount: 5_000,
                count: 2,
            },
            DailyPayments {
                day: 12,
                currency: "KES".into(),
                net_amount: 10_000,
                count: 1,
            },
            DailyPayments {
                day: 12,
                currency: "UGX".into(),
                net_amount: 700,
                count: 1,
            },
        ];
        let svg = payments(&daily, 10, 5);
        assert_eq!(svg.matches("<rect").count(), 5);
        assert!(svg.contains("KES 150.00 in all"), "{svg}");
        assert!(svg.contains("Also received: UGX 700."), "{svg}");
        assert_eq!(
            payments(&[], 10, 5),
            "<p id=\"chart-empty\">No payments in this period.</p>"
        );
    }
}
