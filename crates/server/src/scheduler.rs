//! The scheduler: applies scheduled commands when they come due, and evaluates the
//! contracts whose evaluation time has come (found through an index, so a tick costs what
//! the due contracts cost, not what the portfolio does). Runs on every node, but works only
//! on the node that holds the scheduler's turn ([`lienlock_store::Store::scheduler_turn`]),
//! so no work is done twice; the store's version checks would keep two nodes from applying
//! the same decision anyway.

use crate::service::Service;
use std::time::Duration;
use tokio::sync::watch;

/// Most commands applied in one tick; the rest wait for the next, so a burst never makes
/// a tick unbounded.
const BATCH: u32 = 500;

/// Ticks every `every` until `stop` turns true.
pub async fn run(service: Service, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let due = tokio::select! {
            due = tick.tick() => due,
            _ = stop.changed() => return,
        };
        if *stop.borrow() {
            return;
        }
        let started = tokio::time::Instant::now();
        metrics::gauge!(crate::telemetry::SCHEDULER_LAG)
            .set(started.saturating_duration_since(due).as_secs_f64());
        match service.store().scheduler_turn().await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the scheduler's turn; retrying next tick");
                continue;
            }
        }
        match service.apply_due_commands(BATCH).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(devices = n, "applied scheduled commands"),
            Err(e) => tracing::warn!(error = %e, "scheduler tick failed; retrying next tick"),
        }
        evaluate_all_due(&service, &stop).await;
        metrics::histogram!(crate::telemetry::SCHEDULER_PASS)
            .record(started.elapsed().as_secs_f64());
    }
}

/// Evaluates batch after batch until fewer than a full batch was due, so a backlog (the
/// first pass after an outage, a lender's policy change) drains at the store's speed
/// rather than one batch per tick. Each evaluation moves its contract's time past now, so
/// the loop ends; `stop` ends it sooner.
async fn evaluate_all_due(service: &Service, stop: &watch::Receiver<bool>) {
    let mut total = 0;
    loop {
        match service.evaluate_due_contracts(BATCH).await {
            Ok(n) => {
                total += n;
                if n < BATCH as usize || *stop.borrow() {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "contract evaluation failed; retrying next tick");
                break;
            }
        }
    }
    if total > 0 {
        tracing::debug!(contracts = total, "evaluated contracts");
    }
}
