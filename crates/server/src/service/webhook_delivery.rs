//! Sending webhooks: a worker on every node claims due deliveries from the outbox, posts
//! each signed per Standard Webhooks (<https://www.standardwebhooks.com>), and records the
//! attempt. A 2xx answer delivers; anything else is tried again with exponential backoff
//! and jitter for about three days, then the delivery fails.
//!
//! At least once: a node that dies between posting and recording leaves the claim to run
//! out, and another node posts the same message again, with the same `webhook-id`, which
//! receivers use to drop repeats.

use super::webhooks::{is_public, WebhookSettings, Webhooks};
use super::{Service, ServiceError};
use crate::views::rfc3339;
use base64::Engine;
use hmac::{Hmac, Mac};
use lienlock_domain::Timestamp;
use lienlock_store::{
    AttemptRecord, ClaimedDelivery, DeliverySource, NextStep, WebhookAttempt, WebhookDelivery,
    WebhookSecret,
};
use rand::Rng;
use serde_json::json;
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Deliveries claimed per pass; they are sent concurrently.
const BATCH: u32 = 50;

/// How long after `timeout` a claim outlives its attempt before another node may take it.
const LEASE_MARGIN: Duration = Duration::from_secs(50);

/// The wait before attempt `n + 1` after `n` failed ones; after the last, the delivery fails.
/// Sums to about 2.8 days.
const BACKOFF_SECS: [i64; 9] = [
    5,
    30,
    120,
    600,
    3_600,
    6 * 3_600,
    12 * 3_600,
    86_400,
    86_400,
];

/// The most a wait is moved either way, so retries of many deliveries that failed together
/// (an endpoint that was down) do not arrive together.
const JITTER: f64 = 0.2;

/// The longest error text kept per attempt.
const MAX_ERROR: usize = 300;

/// The HTTP client deliveries are posted with: the attempt timeout, no redirects (a
/// redirect could lead anywhere, past the address check), and unless private addresses
/// are allowed, a resolver that drops non-public addresses.
pub(crate) fn client(settings: &WebhookSettings) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("lienlock-webhooks/", env!("CARGO_PKG_VERSION")));
    if !settings.allow_private_addresses {
        builder = builder.dns_resolver(Arc::new(PublicOnly));
    }
    builder.build().unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot build the webhook HTTP client; using defaults");
        reqwest::Client::new()
    })
}

/// Resolves with the system resolver and keeps only public addresses, at every attempt,
/// so a name that comes to point into the operator's network is refused then.
#[derive(Debug)]
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(
                    format!("{} resolves to no public address; refused", name.as_str()).into(),
                );
            }
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// The `webhook-signature` value: `v1,` and the base64 of HMAC-SHA256, keyed with the
/// secret's bytes, over `{id}.{timestamp}.{body}`.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &str) -> String {
    let text = secret.expose();
    let encoded = text.strip_prefix("whsec_").unwrap_or(text);
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap_or_else(|_| encoded.as_bytes().to_vec());
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// The body: `{"type", "timestamp", "data"}`. Only what the lender has already (ids, the
/// IMEI, its own contract reference, what its staff wrote); nothing about who looked an
/// IMEI up.
pub fn payload(d: &WebhookDelivery, source: &DeliverySource) -> String {
    let data = match source {
        DeliverySource::Event {
            event,
            imei,
            contract_reference,
        } => json!({
            "event_id": event.id.to_string(),
            "device_id": event.device_id.to_string(),
            "imei": imei.as_str(),
            "contract_reference": contract_reference,
            "actor": event.actor.to_text(),
            "reason": event.reason,
            "detail": event.detail,
        }),
        DeliverySource::Payment(p) => json!({
            "payment_id": p.id.to_string(),
            "amount": p.amount,
            "currency": p.currency.code(),
            "received_at": rfc3339(p.received_at),
            "channel": p.channel,
            "external_ref": p.external_ref,
        }),
    };
    json!({
        "type": d.event.as_str(),
        "timestamp": rfc3339(d.created_at),
        "data": data,
    })
    .to_string()
}

/// When to try again after `attempts` failed attempts, with `spread` in `-1.0..=1.0`
/// moving the wait by up to [`JITTER`]; `None` when it is time to give up.
pub fn retry_at(now: Timestamp, attempts: u32, spread: f64) -> Option<Timestamp> {
    let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
    let secs = *BACKOFF_SECS.get(index)?;
    let factor = 1.0 + JITTER * spread.clamp(-1.0, 1.0);
    Some(now.plus_millis((secs as f64 * 1000.0 * factor) as i64))
}

/// The most attempts a delivery gets.
pub const MAX_ATTEMPTS: u32 = BACKOFF_SECS.len() as u32 + 1;

fn truncate(mut s: String) -> String {
    if s.len() > MAX_ERROR {
        let mut end = MAX_ERROR;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// An error with its causes, which is where reqwest says what actually happened.
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    truncate(text)
}

/// Ticks every `poll_every` until `stop` turns true; does nothing when webhooks are not
/// enabled. A pass in progress is dropped at shutdown: its claims run out and another
/// node (or this one, restarted) sends those deliveries again.
pub async fn run(service: Service, mut stop: watch::Receiver<bool>) {
    let Some(every) = service.webhooks.as_ref().map(|w| w.settings.poll_every) else {
        return;
    };
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
        tokio::select! {
            result = service.deliver_due_webhooks() => match result {
                Ok(0) => {}
                Ok(n) => tracing::debug!(deliveries = n, "webhook attempts made"),
                Err(e) => tracing::warn!(error = %e, "webhook pass failed; retrying next tick"),
            },
            _ = stop.changed() => return,
        }
    }
}

impl Service {
    /// One pass of the delivery worker: claims up to a batch of due deliveries, attempts
    /// them concurrently, and records each attempt. Returns how many were attempted.
    pub async fn deliver_due_webhooks(&self) -> Result<usize, ServiceError> {
        let w = self.webhooks()?;
        let now = self.clock.now();
        let lease = w.settings.timeout + LEASE_MARGIN;
        let lease_until = now.plus_millis(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let claimed = w
            .store
            .claim_webhook_deliveries(now, lease_until, BATCH)
            .await?;
        let n = claimed.len();
        let records =
            futures_util::future::join_all(claimed.into_iter().map(|c| self.attempt(w, c))).await;
        for record in records {
            match w.store.record_webhook_attempt(&record).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    delivery = %record.delivery,
                    "webhook claim ran out before its attempt was recorded; it will be sent again"
                ),
                Err(e) => tracing::warn!(
                    delivery = %record.delivery,
                    error = %e,
                    "cannot record a webhook attempt; it will be sent again"
                ),
            }
        }
        Ok(n)
    }

    /// Posts one claimed delivery and says what became of it.
    async fn attempt(&self, w: &Webhooks, c: ClaimedDelivery) -> AttemptRecord {
        let at = self.clock.now();
        let attempts = c.delivery.attempts + 1;
        let body = match (&c.delivery.payload, &c.source) {
            (Some(sent), _) => sent.clone(),
            (None, Some(source)) => payload(&c.delivery, source),
            // The reported row is gone (it cannot be, with the foreign keys): nothing to send.
            (None, None) => {
                return AttemptRecord {
                    delivery: c.delivery.id,
                    claim: c.claim,
                    payload: String::new(),
                    attempt: WebhookAttempt {
                        n: attempts,
                        at,
                        status_code: None,
                        error: Some("what it reports is gone; nothing to send".into()),
                        duration_ms: 0,
                    },
                    next: NextStep::Failed,
                };
            }
        };
        let id = c.delivery.id.to_string();
        let timestamp = at.as_millis().div_euclid(1000);
        let started = Instant::now();
        let sent = self.post(w, &c.url, &id, timestamp, &c.secret, &body).await;
        let duration_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        let (status_code, error) = match sent {
            Ok(status) if (200..300).contains(&status) => (Some(status), None),
            Ok(status) => (Some(status), Some(format!("HTTP {status}"))),
            Err(e) => (None, Some(e)),
        };
        let next = if error.is_none() {
            NextStep::Delivered
        } else {
            let spread = rand::thread_rng().gen_range(-1.0..=1.0);
            retry_at(at, attempts, spread).map_or(NextStep::Failed, NextStep::RetryAt)
        };
        AttemptRecord {
            delivery: c.delivery.id,
            claim: c.claim,
            payload: body,
            attempt: WebhookAttempt {
                n: attempts,
                at,
                status_code,
                error,
                duration_ms,
            },
            next,
        }
    }

    /// The endpoint's status, or why there was none.
    async fn post(
        &self,
        w: &Webhooks,
        url: &str,
        id: &str,
        timestamp: i64,
        secret: &WebhookSecret,
        body: &str,
    ) -> Result<u16, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        // A literal address is not resolved, so the resolver's check does not see it.
        let literal = url
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<IpAddr>().ok());
        if let Some(ip) = literal {
            if !is_public(ip) && !w.settings.allow_private_addresses {
                return Err(format!("{ip} is not a public address; refused"));
            }
        }
        let resp = w
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", sign(secret, id, timestamp, body))
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        Ok(resp.status().as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        // From the Standard Webhooks reference libraries' tests.
        let secret = WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
        let sig = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn backoff_grows_to_about_three_days_then_gives_up() {
        let t0 = Timestamp::from_millis(0);
        let waits: Vec<i64> = (1..MAX_ATTEMPTS)
            .map(|n| retry_at(t0, n, 0.0).unwrap().as_millis() / 1000)
            .collect();
        assert_eq!(waits, BACKOFF_SECS);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        let total: i64 = waits.iter().sum();
        assert!((2 * 86_400..=3 * 86_400).contains(&total), "{total}");
        assert_eq!(retry_at(t0, MAX_ATTEMPTS, 0.0), None);
        assert_eq!(retry_at(t0, 0, 0.0), None);
        // Jitter stays within its bounds.
        assert_eq!(retry_at(t0, 1, 1.0), Some(Timestamp::from_millis(6_000)));
        assert_eq!(retry_at(t0, 1, -1.0), Some(Timestamp::from_millis(4_000)));
        assert_eq!(retry_at(t0, 1, 9.0), Some(Timestamp::from_millis(6_000)));
    }

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        let cut = truncate("é".repeat(400));
        assert!(cut.len() <= MAX_ERROR + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short".into()), "short");
    }
}
