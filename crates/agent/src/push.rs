//! The device end of the push channel: hold a connection, report hints, reconnect with
//! jittered backoff, and fall back to long polls on networks that cut streams.
//!
//! A hint only means "check in now"; everything that matters still comes in a signed lease
//! from a check-in, so nothing here is trusted beyond that.

use crate::error::AgentError;
use crate::schedule::{Backoff, RunPolicy};
use crate::transport::ServerClient;
use lienlock_domain::{Imei, Timestamp};
use lienlock_wire::{DeviceKey, SignedSubscribe, SubscribeRequest};
use std::time::Duration;
use tokio::time::Instant;

/// No byte for this long means the connection is dead (the server sends a heartbeat every
/// 25 seconds by default), even if no error surfaced: a NAT may drop a mapping silently.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(65);

/// How long a long poll may take before the device gives up on it (the server answers
/// after 50 seconds without a hint).
pub const POLL_TIMEOUT: Duration = Duration::from_secs(75);

/// Streams that end before their first byte, in a row, before the device concludes its
/// network cuts streams and switches to long polls.
const STREAM_FAILURES_BEFORE_POLL: u32 = 3;

/// What happened on the push channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PushEvent {
    /// Connected (or reconnected): check in once, for anything missed meanwhile.
    Connected,
    /// A hint: check in now.
    Hint,
    /// The connection ended; the channel reconnects by itself.
    Lost,
    /// The server has no push endpoint (or refuses this device for good): stop trying.
    Unsupported,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Stream,
    Poll,
}

/// An open event stream and what has been read of it.
struct Stream {
    response: reqwest::Response,
    buf: Vec<u8>,
    got_bytes: bool,
}

/// The push channel of one agent.
pub(crate) struct PushChannel {
    client: ServerClient,
    key: DeviceKey,
    imei: Imei,
    mode: Mode,
    backoff: Backoff,
    /// Set after a failure: the earliest moment to try again.
    retry_at: Option<Instant>,
    stream: Option<Stream>,
    /// Whether the last poll succeeded (so a failed one reports `Lost` once).
    polling_ok: bool,
    short_streams: u32,
}

impl std::fmt::Debug for PushChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushChannel")
            .field("mode", &self.mode)
            .field("connected", &self.stream.is_some())
            .finish_non_exhaustive()
    }
}

impl PushChannel {
    pub(crate) fn new(
        client: ServerClient,
        key: DeviceKey,
        imei: Imei,
        policy: &RunPolicy,
    ) -> Self {
        Self {
            client,
            key,
            imei,
            mode: Mode::Stream,
            backoff: Backoff::new(policy),
            retry_at: None,
            stream: None,
            polling_ok: false,
            short_streams: 0,
        }
    }

    /// Whether a stream or a successful poll is up.
    pub(crate) fn is_connected(&self) -> bool {
        self.stream.is_some() || (self.mode == Mode::Poll && self.polling_ok)
    }

    /// Waits for the next event. `now` is trusted time, which the subscription carries.
    /// Cancel-safe in the way the run loop needs: dropping the future loses at most a
    /// partly read line, which only costs a hint.
    pub(crate) async fn next(&mut self, now: Timestamp) -> PushEvent {
        loop {
            if let Some(at) = self.retry_at {
                tokio::time::sleep_until(at).await;
                self.retry_at = None;
            }
            match self.mode {
                Mode::Stream => {
                    if self.stream.is_none() {
                        match self.open(now, "sse", None).await {
                            Ok(response) => {
                                self.stream = Some(Stream {
                                    response,
                                    buf: Vec::new(),
                                    got_bytes: false,
                                });
                                return PushEvent::Connected;
                            }
                            Err(e) => {
                                if let Some(ev) = self.failed(&e) {
                                    return ev;
                                }
                                continue;
                            }
                        }
                    }
                    if let Some(ev) = self.read_stream().await {
                        return ev;
                    }
                }
                Mode::Poll => match self.open(now, "poll", Some(POLL_TIMEOUT)).await {
                    Ok(response) => {
                        let first = !self.polling_ok;
                        self.polling_ok = true;
                        self.backoff.reset();
                        let wake = response
                            .json::<serde_json::Value>()
                            .await
                            .ok()
                            .and_then(|v| v.get("wake").and_then(serde_json::Value::as_bool))
                            .unwrap_or(false);
                        if first {
                            return PushEvent::Connected;
                        }
                        if wake {
                            return PushEvent::Hint;
                        }
                    }
                    Err(e) => {
                        let was = std::mem::replace(&mut self.polling_ok, false);
                        if let Some(ev) = self.failed(&e) {
                            return ev;
                        }
                        if was {
                            return PushEvent::Lost;
                        }
                    }
                },
            }
        }
    }

    /// Reads the open stream until an event worth reporting; `None` to go round again.
    async fn read_stream(&mut self) -> Option<PushEvent> {
        let stream = self.stream.as_mut()?;
        let chunk = tokio::time::timeout(IDLE_TIMEOUT, stream.response.chunk()).await;
        match chunk {
            Ok(Ok(Some(bytes))) => {
                stream.got_bytes = true;
                self.short_streams = 0;
                self.backoff.reset();
                stream.buf.extend_from_slice(&bytes);
                let hint = take_events(&mut stream.buf);
                hint.then_some(PushEvent::Hint)
            }
            // Ended, failed, or silent for too long.
            _ => {
                let got_bytes = stream.got_bytes;
                self.stream = None;
                if !got_bytes {
                    self.short_streams += 1;
                    if self.short_streams >= STREAM_FAILURES_BEFORE_POLL {
                        tracing::info!("push streams keep being cut; switching to long polls");
                        self.mode = Mode::Poll;
                    }
                }
                self.retry_at = Some(Instant::now() + self.backoff.next_delay(None));
                Some(PushEvent::Lost)
            }
        }
    }

    async fn open(
        &self,
        now: Timestamp,
        mode: &str,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, AgentError> {
        let req = SubscribeRequest {
            imei: self.imei,
            device_key: self.key.public(),
            device_time: now,
            nonce: rand::random(),
        };
        self.client
            .open_push(&SignedSubscribe::seal(&req, &self.key), mode, timeout)
            .await
    }

    /// Schedules a retry after a failed attempt; `Some` when the server will never take
    /// push from this device (no such endpoint, the device released or unknown).
    fn failed(&mut self, e: &AgentError) -> Option<PushEvent> {
        if let AgentError::Server { status, .. } = e {
            if matches!(status, 404 | 405 | 409) {
                tracing::info!(error = %e, "the server offers this device no push channel");
                return Some(PushEvent::Unsupported);
            }
        }
        tracing::debug!(error = %e, "push connection failed");
        self.retry_at = Some(Instant::now() + self.backoff.next_delay(e.retry_after()));
        None
    }
}

/// Takes the complete events (ended by a blank line) out of `buf`; true if one of them
/// is a `wake`. Comments (heartbeats) and `ready` only show the connection is alive.
fn take_events(buf: &mut Vec<u8>) -> bool {
    let mut wake = false;
    while let Some(end) = find_blank_line(buf) {
        let event: Vec<u8> = buf.drain(..end.1).collect();
        let text = String::from_utf8_lossy(&event[..end.0]);
        wake |= text.lines().any(|l| l.trim_end() == "event: wake");
    }
    // A stream that never ends an event cannot grow the buffer without bound.
    if buf.len() > 64 * 1024 {
        buf.clear();
    }
    wake
}

/// The first event's end: (end of its text, end including the blank line).
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_on_blank_lines_and_wakes_found() {
        let mut buf = b"event: ready\ndata: {}\n\n:hb\n\nevent: wa".to_vec();
        assert!(!take_events(&mut buf));
        assert_eq!(buf, b"event: wa");
        buf.extend_from_slice(b"ke\ndata: {}\n\n");
        assert!(take_events(&mut buf));
        assert!(buf.is_empty());
        let mut crlf = b"event: wake\r\ndata: {}\r\n\r\n".to_vec();
        assert!(take_events(&mut crlf));
    }

    #[test]
    fn a_runaway_stream_does_not_grow_the_buffer() {
        let mut buf = vec![b'x'; 70 * 1024];
        assert!(!take_events(&mut buf));
        assert!(buf.is_empty());
    }
}
