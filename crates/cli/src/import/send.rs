//! Sending rows to the lender API, with bounded concurrency and retries, and reading the
//! answers.

use super::csv::PaymentBody;
use super::*;

#[derive(Debug)]
pub(super) enum Outcome {
    /// The server holds the payment: `new` when this run recorded it.
    Recorded {
        new: bool,
        matched: bool,
        id: String,
        external_ref: String,
    },
    /// Not recorded, and why.
    Refused(String),
}

/// The counts printed at the end.
/// Sends the rows that parsed, `concurrency` at a time, with a progress bar on stderr.
/// Returns every row's outcome, in file order.
pub(super) async fn send_all(
    api: Arc<Api>,
    rows: Vec<(usize, Result<PaymentBody, String>)>,
    concurrency: usize,
) -> anyhow::Result<Vec<(usize, Outcome)>> {
    let to_send = rows.iter().filter(|(_, r)| r.is_ok()).count();
    let bar = ProgressBar::new(to_send as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows {elapsed} (eta {eta})")
    {
        bar.set_style(style);
    }
    let mut outcomes: Vec<(usize, Option<Outcome>)> = Vec::with_capacity(rows.len());
    let mut tasks = tokio::task::JoinSet::new();
    for (line, row) in rows {
        let i = outcomes.len();
        match row {
            Err(why) => outcomes.push((line, Some(Outcome::Refused(why)))),
            Ok(body) => {
                outcomes.push((line, None));
                while tasks.len() >= concurrency {
                    settle(tasks.join_next().await, &mut outcomes, &bar)?;
                }
                let api = api.clone();
                tasks.spawn(async move { (i, api.record(body).await) });
            }
        }
    }
    while !tasks.is_empty() {
        settle(tasks.join_next().await, &mut outcomes, &bar)?;
    }
    bar.finish_and_clear();
    Ok(outcomes
        .into_iter()
        .map(|(line, o)| (line, o.unwrap_or(Outcome::Refused("not sent".into()))))
        .collect())
}

type Finished = Option<Result<(usize, Result<Outcome, Fatal>), tokio::task::JoinError>>;

/// Files a finished request's outcome. A fatal answer stops the import: returning drops the
/// remaining tasks, which aborts them.
pub(super) fn settle(
    done: Finished,
    outcomes: &mut [(usize, Option<Outcome>)],
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let Some(done) = done else { return Ok(()) };
    let (i, outcome) = done.context("a request task failed")?;
    let outcome = outcome.map_err(|Fatal(why)| {
        bar.abandon();
        anyhow!(
            "stopped: {why}. Rows sent so far may be recorded; \
             running the import again does not record them twice"
        )
    })?;
    outcomes[i].1 = Some(outcome);
    bar.inc(1);
    Ok(())
}

/// An answer that no other row would get differently (a refused API key), so the import
/// stops instead of reporting it for every row.
#[derive(Debug)]
pub(super) struct Fatal(String);

/// The error body every `/v1/` route uses.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorBody {
    pub(super) error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
pub(super) struct ErrorDetail {
    pub(super) code: String,
    pub(super) message: String,
}

/// The parts of a recorded payment the report uses.
#[derive(Debug, Deserialize)]
pub(super) struct Recorded {
    pub(super) id: String,
    pub(super) matched: bool,
}

/// The lender API, as this command uses it.
#[derive(Debug)]
pub(super) struct Api {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) key: String,
}

impl Api {
    pub(super) fn new(server: &str, key: &str) -> anyhow::Result<Self> {
        let base = server.trim_end_matches('/').to_owned();
        reqwest::Url::parse(&base).with_context(|| format!("--server {server:?} is not a URL"))?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("setting up HTTP")?;
        Ok(Self {
            http,
            base,
            key: key.to_owned(),
        })
    }

    /// Checks that the server answers and takes the key (`GET /v1/lender`).
    pub(super) async fn check(&self) -> anyhow::Result<()> {
        let resp = self
            .http
            .get(format!("{}/v1/lender", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let why = refusal(status, &resp.text().await.unwrap_or_default());
        bail!("{} refused the API key check: {why}", self.base)
    }

    /// Sends one payment, retrying answers that may succeed later. Retrying is safe: the
    /// idempotency key makes a repeat of a request that did land answer "already recorded".
    async fn record(&self, body: PaymentBody) -> Result<Outcome, Fatal> {
        let key = format!("{KEY_PREFIX}{}", body.external_ref);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt == ATTEMPTS;
            let backoff = Duration::from_millis(250 << attempt);
            let sent = self
                .http
                .post(format!("{}/v1/payments", self.base))
                .bearer_auth(&self.key)
                .header("Idempotency-Key", &key)
                .json(&body)
                .send()
                .await;
            let resp = match sent {
                Ok(resp) => resp,
                Err(e) if last => return Ok(Outcome::Refused(unsure(&e))),
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            let status = resp.status();
            if status == StatusCode::SERVICE_UNAVAILABLE && !last {
                tokio::time::sleep(backoff.max(retry_after(&resp))).await;
                continue;
            }
            let text = match resp.text().await {
                Ok(text) => text,
                Err(e) if last => return Ok(Outcome::Refused(unsure(&e))),
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            return answer(status, &text, body.external_ref);
        }
    }
}

/// Reads the server's answer to one payment.
pub(super) fn answer(
    status: StatusCode,
    text: &str,
    external_ref: String,
) -> Result<Outcome, Fatal> {
    match status {
        StatusCode::CREATED | StatusCode::OK => match serde_json::from_str::<Recorded>(text) {
            Ok(r) => Ok(Outcome::Recorded {
                new: status == StatusCode::CREATED,
                matched: r.matched,
                id: r.id,
                external_ref,
            }),
            Err(e) => Ok(Outcome::Refused(format!(
                "the server answered {status} with an unexpected body ({e})"
            ))),
        },
        // The same for every row: report it once and stop.
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(Fatal(refusal(status, text))),
        _ => {
            let why = refusal(status, text);
            // The server speaks of the key; the back office knows the row by its reference.
            Ok(Outcome::Refused(
                if why.starts_with("idempotency_key_reused:") {
                    format!(
                        "idempotency_key_reused: external_ref {external_ref} was recorded \
                         before with other details (amount, currency, received_at, \
                         contract_id, imei or reference)"
                    )
                } else {
                    why
                },
            ))
        }
    }
}

/// `code: message` from an error body, else the status and the start of the body.
pub(super) fn refusal(status: StatusCode, text: &str) -> String {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(b) => format!("{}: {}", b.error.code, b.error.message),
        Err(_) => format!(
            "HTTP {status}: {}",
            text.chars().take(200).collect::<String>()
        ),
    }
}

/// A transport failure after the last try: the request may or may not have landed.
pub(super) fn unsure(e: &reqwest::Error) -> String {
    format!("no answer from the server ({e}); it may or may not be recorded: run the import again")
}

/// The server's `Retry-After` in seconds, at most 30; zero when absent.
pub(super) fn retry_after(resp: &reqwest::Response) -> Duration {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::ZERO, |s| Duration::from_secs(s.min(30)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read() {
        let ok = r#"{"id":"p1","matched":false}"#;
        assert!(matches!(
            answer(StatusCode::OK, ok, "T".into()),
            Ok(Outcome::Recorded {
                new: false,
                matched: false,
                ..
            })
        ));
        let bad = r#"{"error":{"code":"invalid_request","message":"currency: no"}}"#;
        match answer(StatusCode::UNPROCESSABLE_ENTITY, bad, "T".into()) {
            Ok(Outcome::Refused(why)) => assert_eq!(why, "invalid_request: currency: no"),
            other => panic!("{other:?}"),
        }
        assert!(answer(StatusCode::UNAUTHORIZED, bad, "T".into()).is_err());
        let reused = r#"{"error":{"code":"idempotency_key_reused","message":"key"}}"#;
        match answer(StatusCode::CONFLICT, reused, "TX-1".into()) {
            Ok(Outcome::Refused(why)) => assert!(why.contains("external_ref TX-1"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
