//! The scheduler: applies scheduled commands when they come due, and evaluates the
//! contracts whose evaluation time has come (found through an index, so a tick costs what
//! the due contracts cost, not what the portfolio does). Runs on every node; the store's
//! version checks keep two nodes from applying the same decision.

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
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        match service.apply_due_commands(BATCH).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(devices = n, "applied scheduled commands"),
            Err(e) => tracing::warn!(error = %e, "scheduler tick failed; retrying next tick"),
        }
        match service.evaluate_due_contracts(BATCH).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(contracts = n, "evaluated contracts"),
            Err(e) => tracing::warn!(error = %e, "contract evaluation failed; retrying next tick"),
        }
    }
}
