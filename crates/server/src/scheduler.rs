//! The scheduler: applies scheduled commands when they come due. Runs on every node; the
//! store's version check keeps two nodes from applying the same command.

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
    }
}
