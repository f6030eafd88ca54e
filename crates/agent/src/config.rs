//! What a device is provisioned with, as given on first start and as persisted.

use crate::error::AgentError;
use lienlock_domain::Imei;
use lienlock_wire::ServerPublicKey;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything [`crate::Agent::open`] needs to start a device.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Where the `persistent/` and `user/` partitions live.
    pub data_dir: PathBuf,
    /// Base URL of the server, e.g. `https://lienlock.example`; `/device/v1/checkin` is
    /// appended.
    pub server_url: String,
    /// The server's lease-signing key, pinned for the life of the device.
    pub server_key: ServerPublicKey,
    /// The IMEI the device was enrolled by.
    pub imei: Imei,
}

/// The provisioning facts kept in the persistent partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provisioning {
    /// Base URL of the server.
    pub server_url: String,
    /// The pinned server key.
    pub server_key: ServerPublicKey,
    /// The enrolled IMEI.
    pub imei: Imei,
}

/// On-disk form: the key as hex so the file can be read (and compared) by a person.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProvisioningFile {
    server_url: String,
    server_key: String,
    imei: Imei,
}

impl Provisioning {
    /// Checks the URL is something reqwest can post to. Done at provisioning time so a typo
    /// fails loudly on first start instead of as an endless retry loop.
    pub fn validate_url(url: &str) -> Result<(), AgentError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| AgentError::Provisioning(format!("server URL {url:?}: {e}")))?;
        match parsed.scheme() {
            "http" | "https" => Ok(()),
            other => Err(AgentError::Provisioning(format!(
                "server URL {url:?}: scheme {other:?} is not http or https"
            ))),
        }
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        let file = ProvisioningFile {
            server_url: self.server_url.clone(),
            server_key: self.server_key.to_hex(),
            imei: self.imei,
        };
        // Serialising plain strings cannot fail.
        serde_json::to_vec_pretty(&file).unwrap_or_default()
    }

    pub(crate) fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let file: ProvisioningFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let server_key = ServerPublicKey::from_hex(&file.server_key).map_err(|e| e.to_string())?;
        Self::validate_url(&file.server_url).map_err(|e| e.to_string())?;
        Ok(Self {
            server_url: file.server_url,
            server_key,
            imei: file.imei,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienlock_wire::ServerKey;

    #[test]
    fn json_round_trip_and_refusals() {
        let p = Provisioning {
            server_url: "https://example.test".into(),
            server_key: ServerKey::generate().public(),
            imei: Imei::from_body("49015420323751").unwrap(),
        };
        assert_eq!(Provisioning::from_json(&p.to_json()).unwrap(), p);
        assert!(Provisioning::from_json(b"{").is_err());
        assert!(Provisioning::from_json(
            br#"{"server_url":"ftp://x","server_key":"00","imei":"490154203237518"}"#
        )
        .is_err());
    }

    #[test]
    fn url_must_be_http_or_https() {
        assert!(Provisioning::validate_url("http://127.0.0.1:8080").is_ok());
        assert!(Provisioning::validate_url("https://a.example/base").is_ok());
        assert!(Provisioning::validate_url("file:///etc").is_err());
        assert!(Provisioning::validate_url("not a url").is_err());
    }
}
