//! What the simulator prints: a line of counts every second, and a JSON line at the end.

use super::enroll::Enrolled;
use super::fleet::Fleet;
use super::SimulateArgs;
use lienlock_agent::{RunSnapshot, RunStats};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::Instant;

/// How often the stop conditions are looked at.
const POLL: Duration = Duration::from_millis(100);
/// How often a line of counts is printed.
const EVERY: Duration = Duration::from_secs(1);

/// Prints a line of counts every second until the duration is up, the check-in target is
/// reached, every phone has stopped, or a signal comes. Returns the last counts seen while
/// the phones still ran (gauges such as `locked` fall to zero as they stop).
pub async fn watch(
    stats: &RunStats,
    fleet: &Fleet,
    args: &SimulateArgs,
    enrolled: usize,
    mut signal: Pin<&mut impl Future<Output = ()>>,
) -> RunSnapshot {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.duration);
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut last_line, mut last_checkins) = (start, 0);
    // Bounded by the deadline.
    loop {
        tokio::select! {
            _ = &mut signal => break,
            _ = tokio::time::sleep_until(deadline) => break,
            _ = poll.tick() => {}
        }
        let snap = stats.snapshot();
        if args.checkins.is_some_and(|target| snap.checkins >= target) || fleet.all_ended() {
            break;
        }
        let now = Instant::now();
        let since = now.duration_since(last_line);
        if since >= EVERY {
            let rate = snap.checkins.saturating_sub(last_checkins) as f64 / since.as_secs_f64();
            println!(
                "{:>6.1}s enrolled {enrolled} running {} push {} locked {} checkins/s {rate:.0} checkins {} errors {}",
                now.duration_since(start).as_secs_f64(),
                fleet.running(),
                snap.push_connected,
                snap.locked,
                snap.checkins,
                snap.failures,
            );
            (last_line, last_checkins) = (now, snap.checkins);
        }
    }
    stats.snapshot()
}

/// `x` rounded to `1 / scale`.
fn round(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale
}

/// The summary: counters after the phones stopped, gauges (`locked`, `push_connected`) as
/// they were while the phones ran.
pub fn final_line(
    args: &SimulateArgs,
    enrolled: &Enrolled,
    end: &RunSnapshot,
    gauges: &RunSnapshot,
    seconds: f64,
) -> serde_json::Value {
    serde_json::json!({
        "devices": args.devices,
        "enrolled": enrolled.imeis.len(),
        "enroll_errors": enrolled.errors,
        "checkins": end.checkins,
        "checkins_per_s": round(end.checkins as f64 / seconds.max(0.001), 10.0),
        "errors": end.failures,
        "locked": gauges.locked,
        "push_connected": gauges.push_connected,
        "seconds": round(seconds, 1000.0),
    })
}

#[cfg(test)]
mod tests {
    use super::round;

    #[test]
    fn rounds() {
        assert_eq!(round(4.00149, 1000.0), 4.001);
        assert_eq!(round(20.0 / 3.0, 10.0), 6.7);
    }
}
