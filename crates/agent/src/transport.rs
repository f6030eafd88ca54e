//! The one HTTP call of the protocol: `POST /device/v1/checkin`.

use crate::config::Provisioning;
use crate::error::{AgentError, ErrorCode};
use lienlock_wire::{LeaseEnvelope, SignedCheckIn};
use serde::Deserialize;
use std::time::Duration;

/// Path of the check-in endpoint, relative to the server URL.
pub const CHECKIN_PATH: &str = "/device/v1/checkin";

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
    checkin_url: reqwest::Url,
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
        let url = format!("{}{CHECKIN_PATH}", server_url.trim_end_matches('/'));
        let checkin_url = reqwest::Url::parse(&url)
            .map_err(|e| AgentError::Provisioning(format!("server URL {server_url:?}: {e}")))?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // A redirect would turn the POST into a GET somewhere else; a moved server is a
            // provisioning change, not something to follow silently.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("lienlock-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(AgentError::Transport)?;
        Ok(Self { http, checkin_url })
    }

    /// The full check-in URL.
    pub fn checkin_url(&self) -> &str {
        self.checkin_url.as_str()
    }

    /// Sends a signed check-in and returns the server's envelope, unverified: verifying it is
    /// [`crate::Agent::accept_lease`]'s job. Non-200 answers become [`AgentError::Server`].
    pub async fn post_checkin(&self, checkin: &SignedCheckIn) -> Result<LeaseEnvelope, AgentError> {
        let mut response = self
            .http
            .post(self.checkin_url.clone())
            .json(checkin)
            .send()
            .await
            .map_err(AgentError::Transport)?;
        let status = response.status().as_u16();
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
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(AgentError::Transport)? {
            if body.len() + chunk.len() > MAX_RESPONSE {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        if status == 200 {
            return serde_json::from_slice(&body).map_err(|e| AgentError::BadResponse {
                status,
                why: format!("not a lease envelope: {e}"),
            });
        }
        Err(server_error(status, &body))
    }
}

/// Reads a protocol error body; anything else (a proxy's HTML page, an empty body) keeps
/// the status and a short, printable excerpt.
fn server_error(status: u16, body: &[u8]) -> AgentError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => AgentError::Server {
            status,
            code: ErrorCode::parse(&error.code),
            message: error.message,
        },
        Err(_) => AgentError::Server {
            status,
            code: ErrorCode::Other(String::new()),
            message: String::from_utf8_lossy(body).chars().take(200).collect(),
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
            br#"{"error":{"code":"replayed_checkin","message":"old"}}"#,
        );
        assert!(matches!(
            e,
            AgentError::Server { status: 409, code: ErrorCode::ReplayedCheckIn, ref message } if message == "old"
        ));
        let e = server_error(502, b"<html>bad gateway</html>");
        assert!(matches!(
            e,
            AgentError::Server { status: 502, code: ErrorCode::Other(ref c), ref message }
                if c.is_empty() && message.contains("bad gateway")
        ));
    }
}
