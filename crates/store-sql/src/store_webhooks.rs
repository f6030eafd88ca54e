//! Webhook endpoints and the delivery outbox, per backend: `impl WebhookStore` for a store
//! type, stamped out by [`impl_webhooks!`] as `impl_store!` does for `Store` (see
//! `store_impl` for why a macro). Statements and rows live here so the feature stays in one
//! file.
//!
//! Deliveries are enqueued by triggers (migration 0007), in the transaction of the timeline
//! entry or payment they report; this file only configures endpoints, lists deliveries and
//! serves the delivery worker: claim due rows, record attempts.

use lienlock_domain::{Imei, Timestamp};
use lienlock_store::{
    DeliveryStatus, StoreError, StoreResult, WebhookAttempt, WebhookDelivery, WebhookEndpoint,
    WebhookEvent, WebhookSecret,
};
use std::fmt::Display;
use std::str::FromStr;

/// SQLite numbers `$N` parameters in the order they first appear, so every statement here
/// mentions them in ascending order.
pub(crate) const UPDATE_ENDPOINT: &str = "UPDATE webhook_endpoints \
     SET url = $1, event_types = $2, updated_at = $3 WHERE lender_id = $4";

pub(crate) const INSERT_ENDPOINT: &str = "INSERT INTO webhook_endpoints \
     (lender_id, url, event_types, secret, secret_set_at, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";

pub(crate) const ENDPOINT: &str = "SELECT lender_id, url, event_types, secret, secret_set_at, \
     created_at, updated_at FROM webhook_endpoints WHERE lender_id = $1";

pub(crate) const ROTATE_SECRET: &str = "UPDATE webhook_endpoints \
     SET secret = $1, secret_set_at = $2 WHERE lender_id = $3";

pub(crate) const DELETE_ENDPOINT: &str = "DELETE FROM webhook_endpoints WHERE lender_id = $1";

/// What is pending when an endpoint goes has nowhere to go.
pub(crate) const FAIL_PENDING: &str = "UPDATE webhook_deliveries \
     SET status = 'failed', next_attempt_at = NULL, claim = NULL, last_error = $1 \
     WHERE lender_id = $2 AND status = 'pending'";

macro_rules! delivery_cols {
    () => {
        "d.id, d.lender_id, d.event_type, d.device_id, dev.imei, d.event_id, d.payment_id, \
         d.created_at, d.status, d.attempts, d.next_attempt_at, d.last_status, d.last_error, \
         d.delivered_at, d.payload"
    };
}

pub(crate) const DELIVERIES: &str = concat!(
    "SELECT ",
    delivery_cols!(),
    " FROM webhook_deliveries d LEFT JOIN devices dev ON dev.id = d.device_id \
     WHERE d.lender_id = $1 ORDER BY d.id DESC LIMIT $2"
);

pub(crate) const DELIVERIES_BEFORE: &str = concat!(
    "SELECT ",
    delivery_cols!(),
    " FROM webhook_deliveries d LEFT JOIN devices dev ON dev.id = d.device_id \
     WHERE d.lender_id = $1 AND d.id < $2 ORDER BY d.id DESC LIMIT $3"
);

pub(crate) const DELIVERY: &str = concat!(
    "SELECT ",
    delivery_cols!(),
    " FROM webhook_deliveries d LEFT JOIN devices dev ON dev.id = d.device_id \
     WHERE d.id = $1 AND d.lender_id = $2"
);

pub(crate) const ATTEMPTS: &str = "SELECT n, at, status_code, error, duration_ms \
     FROM webhook_attempts WHERE delivery_id = $1 ORDER BY n";

/// Whether anything is due: a read through the partial index, so an idle worker's poll
/// takes no write lock (on SQLite every UPDATE does, even one that matches nothing).
pub(crate) const ANY_DUE: &str = "SELECT id FROM webhook_deliveries \
     WHERE status = 'pending' AND next_attempt_at <= $1 LIMIT 1";

/// Pending deliveries; counted through the partial index on pending rows.
pub(crate) const BACKLOG: &str = "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'";

/// Claims due deliveries (SQLite: the statement takes the single write lock, so two
/// claims cannot pick the same rows). A claim moves `next_attempt_at` to the end of its
/// lease: the row is not due again until then, through the same index.
pub(crate) const CLAIM_SQLITE: &str = "UPDATE webhook_deliveries \
     SET next_attempt_at = $1, claim = $2 \
     WHERE id IN (SELECT d.id FROM webhook_deliveries d \
         WHERE d.status = 'pending' AND d.next_attempt_at <= $3 \
         AND EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.lender_id = d.lender_id) \
         ORDER BY d.next_attempt_at, d.id LIMIT $4) \
     RETURNING id";

/// [`CLAIM_SQLITE`] for PostgreSQL: rows another node is claiming right now are skipped
/// rather than waited for, so nodes claiming at once each get other rows.
pub(crate) const CLAIM_POSTGRES: &str = "UPDATE webhook_deliveries \
     SET next_attempt_at = $1, claim = $2 \
     WHERE id IN (SELECT d.id FROM webhook_deliveries d \
         WHERE d.status = 'pending' AND d.next_attempt_at <= $3 \
         AND EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.lender_id = d.lender_id) \
         ORDER BY d.next_attempt_at, d.id LIMIT $4 FOR UPDATE OF d SKIP LOCKED) \
     RETURNING id";

/// The claimed rows with their endpoint; `IN (...)` is appended.
pub(crate) const CLAIMED_HEAD: &str = concat!(
    "SELECT ",
    delivery_cols!(),
    ", w.url, w.secret FROM webhook_deliveries d \
     JOIN webhook_endpoints w ON w.lender_id = d.lender_id \
     LEFT JOIN devices dev ON dev.id = d.device_id WHERE d.id IN "
);

pub(crate) const EVENT_BY_ID: &str = "SELECT seq, id, device_id, lender_id, at, kind, actor, \
     reason, detail FROM timeline_events WHERE id = $1 AND lender_id = $2";

/// The device's active contract's reference, else its newest contract's.
pub(crate) const CONTRACT_REFERENCE: &str = "SELECT reference FROM contracts \
     WHERE device_id = $1 AND lender_id = $2 \
     ORDER BY CASE WHEN state = 'active' THEN 0 ELSE 1 END, id DESC LIMIT 1";

/// Only under the claim the attempt was made with, and only while pending.
pub(crate) const FINISH_ATTEMPT: &str = "UPDATE webhook_deliveries \
     SET attempts = attempts + 1, status = $1, next_attempt_at = $2, claim = NULL, \
     payload = COALESCE(payload, $3), last_status = $4, last_error = $5, delivered_at = $6 \
     WHERE id = $7 AND claim = $8 AND status = 'pending'";

/// Numbered with the delivery's new attempt count.
pub(crate) const INSERT_ATTEMPT: &str = "INSERT INTO webhook_attempts \
     (delivery_id, n, at, status_code, error, duration_ms) \
     SELECT id, attempts, $1, $2, $3, $4 FROM webhook_deliveries WHERE id = $5";

/// The filter as stored: `None` for every type, else each name between commas.
pub(crate) fn types_column(types: Option<&[WebhookEvent]>) -> Option<String> {
    types.map(|types| {
        let mut s = String::from(",");
        for t in types {
            s.push_str(t.as_str());
            s.push(',');
        }
        s
    })
}

fn corrupt(table: &'static str, why: String) -> StoreError {
    StoreError::Corrupt { table, why }
}

fn parsed<T: FromStr<Err = E>, E: Display>(
    table: &'static str,
    column: &str,
    v: &str,
) -> StoreResult<T> {
    v.parse()
        .map_err(|e| corrupt(table, format!("{column} {v:?}: {e}")))
}

fn event_type(table: &'static str, v: &str) -> StoreResult<WebhookEvent> {
    WebhookEvent::parse(v).ok_or_else(|| corrupt(table, format!("unknown event type {v:?}")))
}

fn small<T: TryFrom<i64>>(table: &'static str, column: &str, v: i64) -> StoreResult<T> {
    T::try_from(v).map_err(|_| corrupt(table, format!("{column} out of range ({v})")))
}

/// A `webhook_endpoints` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EndpointRow {
    lender_id: String,
    url: String,
    event_types: Option<String>,
    secret: String,
    secret_set_at: i64,
    created_at: i64,
    updated_at: i64,
}

impl EndpointRow {
    pub(crate) fn decode(self) -> StoreResult<WebhookEndpoint> {
        const T: &str = "webhook_endpoints";
        let event_types = match self.event_types {
            None => None,
            Some(list) => Some(
                list.split(',')
                    .filter(|t| !t.is_empty())
                    .map(|t| event_type(T, t))
                    .collect::<StoreResult<Vec<_>>>()?,
            ),
        };
        Ok(WebhookEndpoint {
            lender_id: parsed(T, "lender_id", &self.lender_id)?,
            url: self.url,
            event_types,
            secret: WebhookSecret::new(self.secret),
            secret_set_at: Timestamp::from_millis(self.secret_set_at),
            created_at: Timestamp::from_millis(self.created_at),
            updated_at: Timestamp::from_millis(self.updated_at),
        })
    }
}

/// A `webhook_deliveries` row with its device's IMEI.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    id: String,
    lender_id: String,
    event_type: String,
    device_id: Option<String>,
    imei: Option<String>,
    event_id: Option<String>,
    payment_id: Option<String>,
    created_at: i64,
    status: String,
    attempts: i64,
    next_attempt_at: Option<i64>,
    last_status: Option<i64>,
    last_error: Option<String>,
    delivered_at: Option<i64>,
    payload: Option<String>,
}

impl DeliveryRow {
    pub(crate) fn decode(self) -> StoreResult<WebhookDelivery> {
        const T: &str = "webhook_deliveries";
        Ok(WebhookDelivery {
            id: parsed(T, "id", &self.id)?,
            lender_id: parsed(T, "lender_id", &self.lender_id)?,
            event: event_type(T, &self.event_type)?,
            device_id: self
                .device_id
                .map(|d| parsed(T, "device_id", &d))
                .transpose()?,
            imei: self
                .imei
                .map(|i| Imei::parse(&i).map_err(|e| corrupt("devices", format!("imei: {e}"))))
                .transpose()?,
            event_id: self
                .event_id
                .map(|e| parsed(T, "event_id", &e))
                .transpose()?,
            payment_id: self
                .payment_id
                .map(|p| parsed(T, "payment_id", &p))
                .transpose()?,
            created_at: Timestamp::from_millis(self.created_at),
            status: DeliveryStatus::parse(&self.status)
                .ok_or_else(|| corrupt(T, format!("unknown status {:?}", self.status)))?,
            attempts: small(T, "attempts", self.attempts)?,
            next_attempt_at: self.next_attempt_at.map(Timestamp::from_millis),
            last_status: self
                .last_status
                .map(|s| small(T, "last_status", s))
                .transpose()?,
            last_error: self.last_error,
            delivered_at: self.delivered_at.map(Timestamp::from_millis),
            payload: self.payload,
        })
    }
}

/// A claimed delivery with its endpoint.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ClaimedRow {
    #[sqlx(flatten)]
    delivery: DeliveryRow,
    url: String,
    secret: String,
}

impl ClaimedRow {
    pub(crate) fn decode(self) -> StoreResult<(WebhookDelivery, String, WebhookSecret)> {
        Ok((
            self.delivery.decode()?,
            self.url,
            WebhookSecret::new(self.secret),
        ))
    }
}

/// A `webhook_attempts` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AttemptRow {
    n: i64,
    at: i64,
    status_code: Option<i64>,
    error: Option<String>,
    duration_ms: i64,
}

impl AttemptRow {
    pub(crate) fn decode(self) -> StoreResult<WebhookAttempt> {
        const T: &str = "webhook_attempts";
        Ok(WebhookAttempt {
            n: small(T, "n", self.n)?,
            at: Timestamp::from_millis(self.at),
            status_code: self
                .status_code
                .map(|s| small(T, "status_code", s))
                .transpose()?,
            error: self.error,
            duration_ms: small(T, "duration_ms", self.duration_ms)?,
        })
    }
}

/// `impl lienlock_store::WebhookStore for $store`, where `$store` has a
/// `pool: sqlx::Pool<$db>` field and `$claim` is the backend's claim statement.
macro_rules! impl_webhooks {
    (store: $store:ty, db: $db:ty, claim: $claim:expr $(,)?) => {
        const _: () = {
            use lienlock_domain::{LenderCtx, Timestamp};
            use lienlock_store::{
                AttemptRecord, ClaimedDelivery, DeliveryId, DeliverySource, NextStep, StoreError,
                StoreResult, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent,
                WebhookSecret, WebhookStore,
            };
            use $crate::error::classify;
            use $crate::rows::{EventRow, PaymentRow};
            use $crate::store_webhooks as q;

            type Pool = sqlx::Pool<$db>;

            /// Rows per page: at least one, so a page always makes progress, and bounded.
            fn page(limit: u32) -> i64 {
                i64::from(limit.clamp(1, 1000))
            }

            /// What the payload of a delivery not yet sent is built from.
            async fn source(
                pool: &Pool,
                d: &WebhookDelivery,
            ) -> StoreResult<Option<DeliverySource>> {
                let lender = d.lender_id.to_string();
                if let Some(event) = d.event_id {
                    let row: Option<EventRow> = sqlx::query_as(q::EVENT_BY_ID)
                        .bind(event.to_string())
                        .bind(&lender)
                        .fetch_optional(pool)
                        .await
                        .map_err(classify)?;
                    let Some(event) = row.map(EventRow::decode).transpose()? else {
                        return Ok(None);
                    };
                    let reference: Option<(Option<String>,)> =
                        sqlx::query_as(q::CONTRACT_REFERENCE)
                            .bind(event.device_id.to_string())
                            .bind(&lender)
                            .fetch_optional(pool)
                            .await
                            .map_err(classify)?;
                    let Some(imei) = d.imei else {
                        return Ok(None);
                    };
                    return Ok(Some(DeliverySource::Event {
                        event,
                        imei,
                        contract_reference: reference.and_then(|(r,)| r),
                    }));
                }
                if let Some(payment) = d.payment_id {
                    let row: Option<PaymentRow> = sqlx::query_as($crate::sql::PAYMENT_SCOPED)
                        .bind(payment.to_string())
                        .bind(&lender)
                        .fetch_optional(pool)
                        .await
                        .map_err(classify)?;
                    return Ok(row
                        .map(PaymentRow::decode)
                        .transpose()?
                        .map(DeliverySource::Payment));
                }
                Ok(None)
            }

            #[async_trait::async_trait]
            impl WebhookStore for $store {
                async fn put_webhook_endpoint(
                    &self,
                    ctx: &LenderCtx,
                    url: &str,
                    event_types: Option<&[WebhookEvent]>,
                    new_secret: &WebhookSecret,
                    at: Timestamp,
                ) -> StoreResult<bool> {
                    let lender = ctx.lender_id.to_string();
                    let types = q::types_column(event_types);
                    let _turn = crate::write_turn::take(&self.pool).await;
                    let mut tx = self.pool.begin().await.map_err(classify)?;
                    // Update first (a write, see `store_contracts`); insert only when there
                    // was nothing to update. Two first PUTs at once: one inserts, the other
                    // inserts nothing and updates what the first wrote.
                    for _ in 0..2 {
                        let updated = sqlx::query(q::UPDATE_ENDPOINT)
                            .bind(url)
                            .bind(types.as_deref())
                            .bind(at.as_millis())
                            .bind(&lender)
                            .execute(&mut *tx)
                            .await
                            .map_err(classify)?;
                        if updated.rows_affected() > 0 {
                            tx.commit().await.map_err(classify)?;
                            return Ok(false);
                        }
                        let inserted = sqlx::query(q::INSERT_ENDPOINT)
                            .bind(&lender)
                            .bind(url)
                            .bind(types.as_deref())
                            .bind(new_secret.expose())
                            .bind(at.as_millis())
                            .bind(at.as_millis())
                            .bind(at.as_millis())
                            .execute(&mut *tx)
                            .await;
                        match inserted {
                            Ok(done) if done.rows_affected() > 0 => {
                                tx.commit().await.map_err(classify)?;
                                return Ok(true);
                            }
                            Ok(_) => continue,
                            Err(e) if $crate::error::is_fk_violation(&e) => {
                                return Err(StoreError::NotFound("lender"));
                            }
                            Err(e) => return Err(classify(e)),
                        }
                    }
                    Err(StoreError::Stale)
                }

                async fn webhook_endpoint(
                    &self,
                    ctx: &LenderCtx,
                ) -> StoreResult<Option<WebhookEndpoint>> {
                    let row: Option<q::EndpointRow> = sqlx::query_as(q::ENDPOINT)
                        .bind(ctx.lender_id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(classify)?;
                    row.map(q::EndpointRow::decode).transpose()
                }

                async fn rotate_webhook_secret(
                    &self,
                    ctx: &LenderCtx,
                    secret: &WebhookSecret,
                    at: Timestamp,
                ) -> StoreResult<bool> {
                    let _turn = crate::write_turn::take(&self.pool).await;
                    let done = sqlx::query(q::ROTATE_SECRET)
                        .bind(secret.expose())
                        .bind(at.as_millis())
                        .bind(ctx.lender_id.to_string())
                        .execute(&self.pool)
                        .await
                        .map_err(classify)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn delete_webhook_endpoint(
                    &self,
                    ctx: &LenderCtx,
                    _at: Timestamp,
                ) -> StoreResult<bool> {
                    let lender = ctx.lender_id.to_string();
                    let _turn = crate::write_turn::take(&self.pool).await;
                    let mut tx = self.pool.begin().await.map_err(classify)?;
                    let deleted = sqlx::query(q::DELETE_ENDPOINT)
                        .bind(&lender)
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                    if deleted.rows_affected() == 0 {
                        return Ok(false);
                    }
                    sqlx::query(q::FAIL_PENDING)
                        .bind("webhook removed")
                        .bind(&lender)
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                    tx.commit().await.map_err(classify)?;
                    Ok(true)
                }

                async fn webhook_deliveries(
                    &self,
                    ctx: &LenderCtx,
                    before: Option<DeliveryId>,
                    limit: u32,
                ) -> StoreResult<Vec<WebhookDelivery>> {
                    let q = match before {
                        None => sqlx::query_as(q::DELIVERIES).bind(ctx.lender_id.to_string()),
                        Some(before) => sqlx::query_as(q::DELIVERIES_BEFORE)
                            .bind(ctx.lender_id.to_string())
                            .bind(before.to_string()),
                    };
                    let rows: Vec<q::DeliveryRow> = q
                        .bind(page(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(classify)?;
                    rows.into_iter().map(q::DeliveryRow::decode).collect()
                }

                async fn webhook_delivery(
                    &self,
                    ctx: &LenderCtx,
                    id: DeliveryId,
                ) -> StoreResult<Option<(WebhookDelivery, Vec<WebhookAttempt>)>> {
                    let row: Option<q::DeliveryRow> = sqlx::query_as(q::DELIVERY)
                        .bind(id.to_string())
                        .bind(ctx.lender_id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(classify)?;
                    let Some(delivery) = row.map(q::DeliveryRow::decode).transpose()? else {
                        return Ok(None);
                    };
                    let rows: Vec<q::AttemptRow> = sqlx::query_as(q::ATTEMPTS)
                        .bind(id.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(classify)?;
                    let attempts = rows
                        .into_iter()
                        .map(q::AttemptRow::decode)
                        .collect::<StoreResult<Vec<_>>>()?;
                    Ok(Some((delivery, attempts)))
                }

                async fn webhook_backlog(&self) -> StoreResult<u64> {
                    let (n,): (i64,) = sqlx::query_as(q::BACKLOG)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(classify)?;
                    Ok(u64::try_from(n).unwrap_or(0))
                }

                async fn claim_webhook_deliveries(
                    &self,
                    now: Timestamp,
                    lease_until: Timestamp,
                    limit: u32,
                ) -> StoreResult<Vec<ClaimedDelivery>> {
                    let due: Option<(String,)> = sqlx::query_as(q::ANY_DUE)
                        .bind(now.as_millis())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(classify)?;
                    if due.is_none() {
                        return Ok(Vec::new());
                    }
                    let claim = uuid::Uuid::new_v4().simple().to_string();
                    let turn = crate::write_turn::take(&self.pool).await;
                    let ids: Vec<(String,)> = sqlx::query_as($claim)
                        .bind(lease_until.as_millis())
                        .bind(&claim)
                        .bind(now.as_millis())
                        .bind(page(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(classify)?;
                    drop(turn);
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut query = sqlx::QueryBuilder::<$db>::new(q::CLAIMED_HEAD);
                    query.push_tuples(ids, |mut t, (id,)| {
                        t.push_bind(id);
                    });
                    query.push(" ORDER BY d.next_attempt_at, d.id");
                    let rows: Vec<q::ClaimedRow> = query
                        .build_query_as()
                        .fetch_all(&self.pool)
                        .await
                        .map_err(classify)?;
                    let mut claimed = Vec::with_capacity(rows.len());
                    for row in rows {
                        let (delivery, url, secret) = row.decode()?;
                        let source = match delivery.payload {
                            Some(_) => None,
                            None => source(&self.pool, &delivery).await?,
                        };
                        claimed.push(ClaimedDelivery {
                            delivery,
                            claim: claim.clone(),
                            url,
                            secret,
                            source,
                        });
                    }
                    Ok(claimed)
                }

                async fn record_webhook_attempt(&self, r: &AttemptRecord) -> StoreResult<bool> {
                    let a = &r.attempt;
                    let (status, next, delivered_at) = match r.next {
                        NextStep::Delivered => ("delivered", None, Some(a.at.as_millis())),
                        NextStep::RetryAt(t) => ("pending", Some(t.as_millis()), None),
                        NextStep::Failed => ("failed", None, None),
                    };
                    let id = r.delivery.to_string();
                    let _turn = crate::write_turn::take(&self.pool).await;
                    let mut tx = self.pool.begin().await.map_err(classify)?;
                    let done = sqlx::query(q::FINISH_ATTEMPT)
                        .bind(status)
                        .bind(next)
                        .bind(&r.payload)
                        .bind(a.status_code.map(i64::from))
                        .bind(a.error.as_deref())
                        .bind(delivered_at)
                        .bind(&id)
                        .bind(&r.claim)
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                    if done.rows_affected() == 0 {
                        return Ok(false);
                    }
                    sqlx::query(q::INSERT_ATTEMPT)
                        .bind(a.at.as_millis())
                        .bind(a.status_code.map(i64::from))
                        .bind(a.error.as_deref())
                        .bind(i64::from(a.duration_ms))
                        .bind(&id)
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                    tx.commit().await.map_err(classify)?;
                    Ok(true)
                }
            }
        };
    };
}

pub(crate) use impl_webhooks;
