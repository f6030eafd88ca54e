//! The audit trail and lenders' own API-key management, per backend: the bodies of the
//! `Store` methods that `impl_store!` delegates to, expanded as a private module `audit`.
//! Statements live here so the feature stays in one file (one text for both backends).

/// Creates the chain's head row if this is the chain's first append. `$1` first, as SQLite
/// numbers parameters in the order they appear.
pub(crate) const HEAD_CREATE: &str = "INSERT INTO audit_heads (chain, seq, hash) \
     VALUES ($1, 0, $2) ON CONFLICT (chain) DO NOTHING";

/// A write that changes nothing but takes the head row's lock (PostgreSQL) or the database's
/// write lock (SQLite) before the head is read, so two appends to one chain queue rather
/// than both reading the same head.
pub(crate) const HEAD_TOUCH: &str = "UPDATE audit_heads SET seq = seq WHERE chain = $1";

pub(crate) const HEAD: &str = "SELECT seq, hash FROM audit_heads WHERE chain = $1";

pub(crate) const HEAD_SET: &str = "UPDATE audit_heads SET seq = $1, hash = $2 WHERE chain = $3";

macro_rules! audit_cols {
    () => {
        "chain, seq, at, actor, role, address, action, object, reason, outcome, request_id, \
         prev_hash, hash"
    };
}

pub(crate) const INSERT_ROW: &str = concat!(
    "INSERT INTO audit_log (",
    audit_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);

/// Served by the primary key.
pub(crate) const ROWS: &str = concat!(
    "SELECT ",
    audit_cols!(),
    " FROM audit_log WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3"
);

pub(crate) const CHAINS: &str =
    "SELECT chain FROM audit_heads UNION SELECT chain FROM audit_log ORDER BY 1";

pub(crate) const LENDER_KEYS: &str = "SELECT \
     id, lender_id, role, label, secret_hmac, created_at, revoked_at \
     FROM api_keys WHERE lender_id = $1 ORDER BY created_at, id";

/// Brings a key's end forward, never back: a key revoked earlier stays revoked from then.
pub(crate) const REVOKE_KEY: &str = "UPDATE api_keys SET revoked_at = $1 \
     WHERE id = $2 AND lender_id = $3 AND (revoked_at IS NULL OR revoked_at > $4)";

/// A module `audit` of async functions taking the backend's pool.
macro_rules! audit {
    ($db:ty) => {
        mod audit {
            use super::writes::insert_key;
            use lienlock_domain::audit::{chain_next, AuditEntry, AuditRecord};
            use lienlock_domain::{ApiKeyId, LenderCtx, Timestamp};
            use lienlock_store::{ApiKeyRecord, StoreError, StoreResult};
            use $crate::error::classify;
            use $crate::rows::{decode_all, ApiKeyRow};
            use $crate::store_audit as q;

            type Pool = sqlx::Pool<$db>;

            #[derive(Debug, sqlx::FromRow)]
            struct Row {
                chain: String,
                seq: i64,
                at: i64,
                actor: String,
                role: String,
                address: String,
                action: String,
                object: String,
                reason: String,
                outcome: String,
                request_id: String,
                prev_hash: Vec<u8>,
                hash: Vec<u8>,
            }

            fn hash32(what: &str, seq: i64, v: Vec<u8>) -> StoreResult<[u8; 32]> {
                v.try_into().map_err(|v: Vec<u8>| StoreError::Corrupt {
                    table: "audit_log",
                    why: format!("row {seq}: {what} has {} bytes, not 32", v.len()),
                })
            }

            impl Row {
                fn decode(self) -> StoreResult<AuditRecord> {
                    Ok(AuditRecord {
                        seq: self.seq,
                        prev_hash: hash32("prev_hash", self.seq, self.prev_hash)?,
                        hash: hash32("hash", self.seq, self.hash)?,
                        entry: AuditEntry {
                            chain: self.chain,
                            at: Timestamp::from_millis(self.at),
                            actor: self.actor,
                            role: self.role,
                            address: self.address,
                            action: self.action,
                            object: self.object,
                            reason: self.reason,
                            outcome: self.outcome,
                            request_id: self.request_id,
                        },
                    })
                }
            }

            pub(super) async fn append(pool: &Pool, entry: AuditEntry) -> StoreResult<AuditRecord> {
                let _turn = crate::write_turn::take(pool).await;
                let mut tx = pool.begin().await.map_err(classify)?;
                // Write first (the head's lock), read after: see `HEAD_TOUCH`.
                sqlx::query(q::HEAD_CREATE)
                    .bind(&entry.chain)
                    .bind(lienlock_domain::audit::GENESIS.to_vec())
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                sqlx::query(q::HEAD_TOUCH)
                    .bind(&entry.chain)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                let (seq, hash): (i64, Vec<u8>) = sqlx::query_as(q::HEAD)
                    .bind(&entry.chain)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(classify)?;
                let head = match seq {
                    0 => None,
                    s => Some((s, hash32("head hash", s, hash)?)),
                };
                let r = chain_next(head, entry);
                let e = &r.entry;
                sqlx::query(q::INSERT_ROW)
                    .bind(&e.chain)
                    .bind(r.seq)
                    .bind(e.at.as_millis())
                    .bind(&e.actor)
                    .bind(&e.role)
                    .bind(&e.address)
                    .bind(&e.action)
                    .bind(&e.object)
                    .bind(&e.reason)
                    .bind(&e.outcome)
                    .bind(&e.request_id)
                    .bind(r.prev_hash.to_vec())
                    .bind(r.hash.to_vec())
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                sqlx::query(q::HEAD_SET)
                    .bind(r.seq)
                    .bind(r.hash.to_vec())
                    .bind(&e.chain)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                tx.commit().await.map_err(classify)?;
                Ok(r)
            }

            pub(super) async fn rows(
                pool: &Pool,
                chain: &str,
                after_seq: i64,
                limit: u32,
            ) -> StoreResult<Vec<AuditRecord>> {
                let rows: Vec<Row> = sqlx::query_as(q::ROWS)
                    .bind(chain)
                    .bind(after_seq)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await
                    .map_err(classify)?;
                decode_all(rows, Row::decode)
            }

            pub(super) async fn head(
                pool: &Pool,
                chain: &str,
            ) -> StoreResult<Option<(i64, [u8; 32])>> {
                let row: Option<(i64, Vec<u8>)> = sqlx::query_as(q::HEAD)
                    .bind(chain)
                    .fetch_optional(pool)
                    .await
                    .map_err(classify)?;
                match row {
                    None | Some((0, _)) => Ok(None),
                    Some((s, h)) => Ok(Some((s, hash32("head hash", s, h)?))),
                }
            }

            pub(super) async fn chains(pool: &Pool) -> StoreResult<Vec<String>> {
                let rows: Vec<(String,)> = sqlx::query_as(q::CHAINS)
                    .fetch_all(pool)
                    .await
                    .map_err(classify)?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }

            pub(super) async fn keys(
                pool: &Pool,
                ctx: &LenderCtx,
            ) -> StoreResult<Vec<ApiKeyRecord>> {
                let rows: Vec<ApiKeyRow> = sqlx::query_as(q::LENDER_KEYS)
                    .bind(ctx.lender_id.to_string())
                    .fetch_all(pool)
                    .await
                    .map_err(classify)?;
                decode_all(rows, ApiKeyRow::decode)
            }

            fn own(ctx: &LenderCtx, key: &ApiKeyRecord) -> StoreResult<()> {
                if key.lender_id == ctx.lender_id {
                    Ok(())
                } else {
                    Err(StoreError::Backend("a key for another lender".into()))
                }
            }

            pub(super) async fn create_key(
                pool: &Pool,
                ctx: &LenderCtx,
                key: &ApiKeyRecord,
            ) -> StoreResult<()> {
                own(ctx, key)?;
                let _turn = crate::write_turn::take(pool).await;
                let mut conn = pool.acquire().await.map_err(classify)?;
                insert_key(&mut conn, key).await
            }

            async fn revoke_in<'c, E>(
                conn: E,
                ctx: &LenderCtx,
                id: ApiKeyId,
                at: Timestamp,
            ) -> StoreResult<bool>
            where
                E: sqlx::Executor<'c, Database = $db>,
            {
                let done = sqlx::query(q::REVOKE_KEY)
                    .bind(at.as_millis())
                    .bind(id.to_string())
                    .bind(ctx.lender_id.to_string())
                    .bind(at.as_millis())
                    .execute(conn)
                    .await
                    .map_err(classify)?;
                Ok(done.rows_affected() > 0)
            }

            pub(super) async fn revoke_key(
                pool: &Pool,
                ctx: &LenderCtx,
                id: ApiKeyId,
                at: Timestamp,
            ) -> StoreResult<bool> {
                revoke_in(pool, ctx, id, at).await
            }

            pub(super) async fn rotate_key(
                pool: &Pool,
                ctx: &LenderCtx,
                old: ApiKeyId,
                new: &ApiKeyRecord,
                old_until: Timestamp,
            ) -> StoreResult<bool> {
                own(ctx, new)?;
                let _turn = crate::write_turn::take(pool).await;
                let mut tx = pool.begin().await.map_err(classify)?;
                if !revoke_in(&mut *tx, ctx, old, old_until).await? {
                    return Ok(false);
                }
                insert_key(&mut tx, new).await?;
                tx.commit().await.map_err(classify)?;
                Ok(true)
            }
        }
    };
}
pub(crate) use audit;
