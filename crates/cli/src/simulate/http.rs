//! The simulator's HTTP calls: retried while the server is busy or out of reach, and its
//! refusals read.

use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use std::time::Duration;

/// Tries per request for answers that may succeed later (503, transport errors).
const ATTEMPTS: u32 = 4;
/// Wait before the second try; doubles with every further one.
const RETRY_BASE: Duration = Duration::from_millis(250);

/// Sends, retrying 503 answers and transport errors [`ATTEMPTS`] times in all with doubling
/// waits. The last answer is returned whatever its status; `Err` is the last transport error.
pub async fn send(make: impl Fn() -> RequestBuilder) -> Result<Response, String> {
    send_noting(make, &mut false).await
}

/// [`send`], also setting `retried_after_transport` when a transport error was retried.
pub async fn send_noting(
    make: impl Fn() -> RequestBuilder,
    retried_after_transport: &mut bool,
) -> Result<Response, String> {
    let mut wait = RETRY_BASE;
    let mut attempt = 1;
    loop {
        let sent = make().send().await;
        let retry = match &sent {
            Ok(resp) => resp.status() == StatusCode::SERVICE_UNAVAILABLE,
            Err(_) => true,
        };
        if !retry || attempt >= ATTEMPTS {
            return sent.map_err(|e| format!("{:#}", anyhow::Error::new(e)));
        }
        *retried_after_transport |= sent.is_err();
        attempt += 1;
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
}

/// The error body every `/v1/` route uses.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// `code: message` from an error body, else the status and the start of the body.
pub fn refusal(status: StatusCode, text: &str) -> String {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(b) => format!("{}: {}", b.error.code, b.error.message),
        Err(_) => format!(
            "HTTP {status}: {}",
            text.chars().take(200).collect::<String>()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_read() {
        let body = r#"{"error":{"code":"imei_taken","message":"IMEI in use"}}"#;
        assert_eq!(
            refusal(StatusCode::CONFLICT, body),
            "imei_taken: IMEI in use"
        );
        assert_eq!(
            refusal(StatusCode::BAD_GATEWAY, "oops"),
            "HTTP 502 Bad Gateway: oops"
        );
    }
}
