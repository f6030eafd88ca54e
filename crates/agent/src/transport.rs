//! The protocol's HTTP calls: `POST /device/v1/checkin` and `POST /device/v1/dispute`.

use crate::config::Provisioning;
use crate::error::{AgentError, ErrorCode};
use lienlock_wire::{LeaseEnvelope, SignedCheckIn, SignedDispute, SignedSubscribe};
use serde::Deserialize;
use std::time::Duration;

/// Path of the check-in endpoint, relative to the server URL.
pub const CHECKIN_PATH: &str = "/device/v1/checkin";

/// Where disputes are posted, relative to the server URL.
pub const DISPUTE_PATH: &str = "/device/v1/dispute";

/// Where the push connection is opened, relative to the server URL.
pub const PUSH_PATH: &str = "/device/v1/push";

/// Bound on establishing a connection, so a black-holed network fails fast.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Bound on a whole request, response body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response body read. A lease envelope is well under 4 KiB; anything much larger
/// is not the protocol and is not buffered.
pub const MAX_RESPONSE: usize = 64 * 1024;

/// A client for one server.
#[derive(Clone, Debug)]
pub struct ServerClient {
    http: reqwest::Client,
    /// For the push connection: no overall timeout (the stream is meant to last), only a
    /// connect timeout; idleness is watched by the push channel itself.
    push_http: reqwest::Client,
    checkin_url: reqwest::Url,
    dispute_url: reqwest::Url,
    push_url: reqwest::Url,
}

/// The server's receipt for a dispute opened from the phone.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct DisputeAck {
    /// The dispute's id, to quote to support.
    pub dispute_id: String,
    /// When it was opened (RFC 3339).
    pub opened_at: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl ServerClient {
    /// A client posting to `{server_url}/device/v1/checkin`.
    pub fn new(server_url: &str) -> Result<Self, AgentError> {
        Provisioning::validate_url(server_url)?;
        let base = server_url.trim_end_matches('/');
        let parse = |path: &str| {
            reqwest::Url::parse(&format!("{base}{path}"))
                .map_err(|e| AgentError::Provisioning(format!("server URL {server_url:?}: {e}")))
        };
        let checkin_url = parse(CHECKIN_PATH)?;
        let dispute_url = parse(DISPUTE_PATH)?;
        let push_url = parse(PUSH_PATH)?;
        let (http, push_http) = shared_clients()?;
        Ok(Self {
            http,
            push_http,
            checkin_url,
            dispute_url,
            push_url,
        })
    }

    /// The full check-in URL.
    pub fn checkin_url(&self) -> &str {
        self.checkin_url.as_str()
    }

    /// Opens the push connection (`mode` `sse` or `poll`) and returns the response as
    /// soon as its status is in; the caller reads the body as it comes.
    pub(crate) async fn open_push(
        &self,
        subscribe: &SignedSubscribe,
        mode: &str,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, AgentError> {
        let mut url = self.push_url.clone();
        url.query_pairs_mut().append_pair("mode", mode);
        let mut req = self.push_http.post(url).json(subscribe);
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let response = req.send().await.map_err(AgentError::Transport)?;
        let status = response.status().as_u16();
        if status == 200 {
            return Ok(response);
        }
        let wait = retry_after(&response);
        let body = response.bytes().await.unwrap_or_default();
        Err(server_error(
            status,
            wait,
            &body[..body.len().min(MAX_RESPONSE)],
        ))
    }

    /// Posts a signed check-in and returns the server's (unverified) lease envelope.
    pub async fn post_checkin(&self, checkin: &SignedCheckIn) -> Result<LeaseEnvelope, AgentError> {
        let (status, wait, body) = self.post(&self.checkin_url, checkin).await?;
        if status == 200 {
            return serde_json::from_slice(&body).map_err(|e| AgentError::BadResponse {
                status,
                why: format!("not a lease envelope: {e}"),
            });
        }
        Err(server_error(status, wait, &body))
    }

    /// Posts a signed dispute and returns the server's receipt.
    pub async fn post_dispute(&self, dispute: &SignedDispute) -> Result<DisputeAck, AgentError> {
        let (status, wait, body) = self.post(&self.dispute_url, dispute).await?;
        if status == 201 {
            return serde_json::from_slice(&body).map_err(|e| AgentError::BadResponse {
                status,
                why: format!("not a dispute receipt: {e}"),
            });
        }
        Err(server_error(status, wait, &body))
    }

    /// Posts JSON and reads at most [`MAX_RESPONSE`] bytes of the answer; also returns its
    /// status and `Retry-After`.
    async fn post<T: serde::Serialize>(
        &self,
        url: &reqwest::Url,
        body: &T,
    ) -> Result<(u16, Option<Duration>, Vec<u8>), AgentError> {
        let mut response = self
            .http
            .post(url.clone())
            .json(body)
            .send()
            .await
            .map_err(AgentError::Transport)?;
        let status = response.status().as_u16();
        let wait = retry_after(&response);
        let too_large = || AgentError::BadResponse {
            status,
            why: format!("response body over {MAX_RESPONSE} bytes"),
        };
        if response
            .content_length()
            .is_some_and(|len| len > MAX_RESPONSE as u64)
        {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(AgentError::Transport)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, wait, bytes))
    }
}

/// The HTTP clients every agent in the process shares (a simulated fleet runs thousands of
/// agents in one process; one client each would mean thousands of connection pools and TLS
/// configurations). Built once.
fn shared_clients() -> Result<(reqwest::Client, reqwest::Client), AgentError> {
    static CLIENTS: std::sync::OnceLock<(reqwest::Client, reqwest::Client)> =
        std::sync::OnceLock::new();
    if let Some(c) = CLIENTS.get() {
        return Ok(c.clone());
    }
    let build = |overall: Option<Duration>| {
        let mut b = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // A redirect would turn the POST into a GET somewhere else; a moved server is
            // a provisioning change, not something to follow silently.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("lienlock-agent/", env!("CARGO_PKG_VERSION")))
            // A phone needs one connection; a simulated fleet sharing this client must not
            // keep thousands idle (each costs the server memory and both ends a file).
            .pool_max_idle_per_host(32)
            .pool_idle_timeout(Duration::from_secs(30));
        if let Some(t) = overall {
            b = b.timeout(t);
        }
        b.build().map_err(AgentError::Transport)
    };
    let clients = (build(Some(REQUEST_TIMEOUT))?, build(None)?);
    Ok(CLIENTS.get_or_init(|| clients).clone())
}

/// The longest `Retry-After` taken at its word; the backoff caps it further.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// A `Retry-After` in seconds (the form lienlock sends). The HTTP-date form is ignored:
/// the device's clock is not to be trusted for it, and backoff applies anyway.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    parse_retry_after(
        response
            .headers()
            .get(reqwest::header::RETRY_AFTER)?
            .to_str()
            .ok()?,
    )
}

fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

fn server_error(status: u16, retry_after: Option<Duration>, body: &[u8]) -> AgentError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => AgentError::Server {
            status,
            code: ErrorCode::parse(&error.code),
            message: error.message,
            retry_after,
        },
        Err(_) => AgentError::Server {
            status,
            code: ErrorCode::Other(String::new()),
            message: String::from_utf8_lossy(body).chars().take(200).collect(),
            retry_after,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_is_joined_without_double_slash() {
        let c = ServerClient::new("http://127.0.0.1:9/").unwrap();
        assert_eq!(c.checkin_url(), "http://127.0.0.1:9/device/v1/checkin");
        let c = ServerClient::new("https://x.example/base").unwrap();
        assert_eq!(c.checkin_url(), "https://x.example/base/device/v1/checkin");
    }

    #[test]
    fn error_bodies_are_understood_or_kept() {
        let e = server_error(
            409,
            None,
            br#"{"error":{"code":"replayed_checkin","message":"old"}}"#,
        );
        assert!(matches!(
            e,
            AgentError::Server { status: 409, code: ErrorCode::ReplayedCheckIn, ref message, .. } if message == "old"
        ));
        let e = server_error(502, None, b"<html>bad gateway</html>");
        assert!(matches!(
            e,
            AgentError::Server { status: 502, code: ErrorCode::Other(ref c), ref message, .. }
                if c.is_empty() && message.contains("bad gateway")
        ));
        let e = server_error(
            503,
            Some(Duration::from_secs(1)),
            br#"{"error":{"code":"overloaded","message":"busy"}}"#,
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn retry_after_is_read_in_seconds_only() {
        assert_eq!(parse_retry_after("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after(" 1 "), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("99999999999"), Some(MAX_RETRY_AFTER));
    }
}
