//! A lender's webhook: where to post, which types, the signing secret (shown once), and
//! the deliveries with their attempts. Sending them is `webhook_delivery`'s job.

use super::{Service, ServiceError};
use base64::Engine;
use lienlock_domain::{LenderCtx, Permission};
use lienlock_store::{
    DeliveryId, StoreError, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent,
    WebhookSecret, WebhookStore,
};
use rand::RngCore;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Longest URL accepted.
const MAX_URL: usize = 2000;

/// How webhooks are delivered.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// How often the worker looks for due deliveries (tests make it short).
    pub poll_every: Duration,
    /// How long one attempt may take before it counts as failed.
    pub timeout: Duration,
    /// Whether endpoints may be on loopback, private, link-local or other non-public
    /// addresses. Off in production, so a lender's URL cannot reach into the operator's
    /// own network; tests turn it on for a receiver on 127.0.0.1.
    pub allow_private_addresses: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            poll_every: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            allow_private_addresses: false,
        }
    }
}

/// What the server needs to keep and send webhooks.
#[derive(Clone, Debug)]
pub(crate) struct Webhooks {
    pub(crate) store: Arc<dyn WebhookStore>,
    pub(crate) settings: WebhookSettings,
    pub(crate) http: reqwest::Client,
}

/// A lender's webhook as the API shows it: never the secret, except in the answer that
/// set or rotated it.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// The endpoint, its secret included (callers show it only through `new_secret`).
    pub endpoint: WebhookEndpoint,
    /// The secret, when this call created it: the one time it is shown.
    pub new_secret: Option<WebhookSecret>,
}

/// A fresh secret: `whsec_` and the base64 of 32 random bytes (the Standard Webhooks form).
pub(crate) fn new_secret() -> WebhookSecret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    WebhookSecret::new(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

fn invalid(field: &'static str, why: impl Into<String>) -> ServiceError {
    ServiceError::Invalid {
        field,
        why: why.into(),
    }
}

/// Whether an address is one a lender's endpoint may be at: globally routable unicast.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                // 100.64.0.0/10, carrier-grade NAT
                || (a == 100 && (64..128).contains(&b))
                // 198.18.0.0/15, benchmarking
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local, 2001:db8::/32 documentation
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && v6.segments()[1] == 0x0db8))
        }
    }
}

/// Refuses a URL the worker must not post to: not http(s), with credentials in it, too
/// long, or (unless allowed) naming a non-public address or `localhost`. A host name is
/// checked again when it is resolved at each attempt, so a name that later points inward
/// is refused then.
pub(crate) fn check_url(text: &str, allow_private: bool) -> Result<reqwest::Url, ServiceError> {
    if text.len() > MAX_URL {
        return Err(invalid("url", format!("longer than {MAX_URL} characters")));
    }
    let url = reqwest::Url::parse(text).map_err(|e| invalid("url", format!("{e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            "url",
            format!("must be an http or https URL, not {}:", url.scheme()),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "url",
            "must not carry a user name or password; deliveries are signed instead",
        ));
    }
    let host = match url.host_str() {
        None | Some("") => return Err(invalid("url", "has no host")),
        Some(host) => host.trim_start_matches('[').trim_end_matches(']'),
    };
    let private = match host.parse::<IpAddr>() {
        Ok(ip) => !is_public(ip),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    if private && !allow_private {
        return Err(invalid(
            "url",
            "names a loopback, private or otherwise non-public address",
        ));
    }
    Ok(url)
}

/// The filter as asked for: `None` (every type) or a non-empty list of known names.
fn parse_types(types: Option<Vec<String>>) -> Result<Option<Vec<WebhookEvent>>, ServiceError> {
    let Some(names) = types else {
        return Ok(None);
    };
    if names.is_empty() {
        return Err(invalid(
            "event_types",
            "name at least one type, or leave it out for every type",
        ));
    }
    let mut parsed = Vec::with_capacity(names.len());
    for name in &names {
        let t = WebhookEvent::parse(name).ok_or_else(|| {
            let known: Vec<_> = WebhookEvent::ALL.iter().map(|t| t.as_str()).collect();
            invalid(
                "event_types",
                format!("unknown type {name:?}; known: {}", known.join(", ")),
            )
        })?;
        if !parsed.contains(&t) {
            parsed.push(t);
        }
    }
    parsed.sort();
    Ok(Some(parsed))
}

impl Service {
    /// Enables webhooks: their storage (the same database as the store's) and how they are
    /// sent. Without this the webhook API answers 503 and no worker runs.
    pub fn with_webhooks(
        mut self,
        store: Arc<dyn WebhookStore>,
        settings: WebhookSettings,
    ) -> Self {
        let http = super::webhook_delivery::client(&settings);
        self.webhooks = Some(Webhooks {
            store,
            settings,
            http,
        });
        self
    }

    pub(crate) fn webhooks(&self) -> Result<&Webhooks, ServiceError> {
        self.webhooks.as_ref().ok_or_else(|| {
            ServiceError::Store(StoreError::Unavailable(
                "webhooks are not enabled on this server".into(),
            ))
        })
    }

    /// Pending deliveries of all lenders, for the metrics; `None` without webhooks or when
    /// the database does not answer (the scrape then keeps the last value).
    pub async fn webhook_backlog(&self) -> Option<u64> {
        let w = self.webhooks.as_ref()?;
        match w.store.webhook_backlog().await {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(error = %e, "cannot count the webhook backlog");
                None
            }
        }
    }

    /// Sets the caller's endpoint URL and type filter (`None`: every type). Creating it
    /// makes a secret, returned this once; changing it keeps the secret.
    pub async fn set_webhook(
        &self,
        ctx: &LenderCtx,
        url: &str,
        event_types: Option<Vec<String>>,
    ) -> Result<WebhookConfig, ServiceError> {
        ctx.require(Permission::ManageWebhooks)?;
        let w = self.webhooks()?;
        let url = check_url(url, w.settings.allow_private_addresses)?;
        let types = parse_types(event_types)?;
        let secret = new_secret();
        let created = w
            .store
            .put_webhook_endpoint(
                ctx,
                url.as_str(),
                types.as_deref(),
                &secret,
                self.clock.now(),
            )
            .await?;
        let endpoint = self.endpoint(w, ctx).await?;
        Ok(WebhookConfig {
            new_secret: created.then_some(endpoint.secret.clone()),
            endpoint,
        })
    }

    /// The caller's endpoint.
    pub async fn webhook(&self, ctx: &LenderCtx) -> Result<WebhookConfig, ServiceError> {
        ctx.require(Permission::ManageWebhooks)?;
        let w = self.webhooks()?;
        Ok(WebhookConfig {
            endpoint: self.endpoint(w, ctx).await?,
            new_secret: None,
        })
    }

    /// Replaces the caller's secret and returns the new one, this once. Deliveries are
    /// signed with the new secret from their next attempt.
    pub async fn rotate_webhook_secret(
        &self,
        ctx: &LenderCtx,
    ) -> Result<WebhookConfig, ServiceError> {
        ctx.require(Permission::ManageWebhooks)?;
        let w = self.webhooks()?;
        if !w
            .store
            .rotate_webhook_secret(ctx, &new_secret(), self.clock.now())
            .await?
        {
            return Err(ServiceError::NotFound);
        }
        let endpoint = self.endpoint(w, ctx).await?;
        Ok(WebhookConfig {
            new_secret: Some(endpoint.secret.clone()),
            endpoint,
        })
    }

    /// Removes the caller's endpoint; what was still pending fails.
    pub async fn remove_webhook(&self, ctx: &LenderCtx) -> Result<(), ServiceError> {
        ctx.require(Permission::ManageWebhooks)?;
        let w = self.webhooks()?;
        if w.store
            .delete_webhook_endpoint(ctx, self.clock.now())
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }

    async fn endpoint(
        &self,
        w: &Webhooks,
        ctx: &LenderCtx,
    ) -> Result<WebhookEndpoint, ServiceError> {
        w.store
            .webhook_endpoint(ctx)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// The caller's deliveries, newest first, older than `before` when given.
    pub async fn webhook_deliveries(
        &self,
        ctx: &LenderCtx,
        before: Option<DeliveryId>,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, ServiceError> {
        ctx.require(Permission::ReadWebhooks)?;
        Ok(self
            .webhooks()?
            .store
            .webhook_deliveries(ctx, before, limit)
            .await?)
    }

    /// One of the caller's deliveries with its attempts; another lender's is not found.
    pub async fn webhook_delivery(
        &self,
        ctx: &LenderCtx,
        id: DeliveryId,
    ) -> Result<(WebhookDelivery, Vec<WebhookAttempt>), ServiceError> {
        ctx.require(Permission::ReadWebhooks)?;
        self.webhooks()?
            .store
            .webhook_delivery(ctx, id)
            .await?
            .ok_or(ServiceError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_to_public_hosts_pass() {
        for ok in [
            "https://hooks.example.com/lienlock",
            "http://203.0.114.9:8080/in?x=1",
            "https://[2a00:1450::1]/in",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://hooks.example.com/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "not a url",
            "https://user:pw@hooks.example.com/",
            "http://127.0.0.1:9000/",
            "http://localhost/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:192.168.1.1]/",
            "http://100.64.0.1/",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:9000/", true).is_ok());
        assert!(check_url("ftp://127.0.0.1/", true).is_err());
        let long = format!("https://a.example/{}", "x".repeat(MAX_URL));
        assert!(check_url(&long, false).is_err());
    }

    #[test]
    fn secrets_have_the_standard_form() {
        let s = new_secret();
        let b64 = s.expose().strip_prefix("whsec_").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(raw.len(), 32);
        assert_ne!(new_secret(), s);
        assert_eq!(format!("{s:?}"), "WebhookSecret(hidden)");
    }

    #[test]
    fn filters_are_known_names_deduplicated() {
        assert_eq!(parse_types(None).unwrap(), None);
        assert_eq!(
            parse_types(Some(vec![
                "imei.checked".into(),
                "device.locked".into(),
                "imei.checked".into()
            ]))
            .unwrap(),
            Some(vec![WebhookEvent::DeviceLocked, WebhookEvent::ImeiChecked])
        );
        assert!(parse_types(Some(vec![])).is_err());
        assert!(parse_types(Some(vec!["device.exploded".into()])).is_err());
    }
}
