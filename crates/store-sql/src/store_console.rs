//! The console's storage, per backend: users and sessions for sign-in, and the dashboard's
//! aggregate reads. Expanded as a private module `console` (see `store_codes` for the
//! pattern); statements live here so the feature stays in one file.

macro_rules! user_cols {
    () => {
        "id, lender_id, email, name, role, password_hash, created_at, disabled_at"
    };
}

pub(crate) const INSERT_USER: &str = concat!(
    "INSERT INTO users (",
    user_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);

pub(crate) const USER_BY_EMAIL: &str =
    concat!("SELECT ", user_cols!(), " FROM users WHERE email = $1");

pub(crate) const LIST_USERS: &str = concat!(
    "SELECT ",
    user_cols!(),
    " FROM users WHERE lender_id = $1 ORDER BY email"
);

/// `$1` first, as SQLite numbers parameters in the order they appear.
pub(crate) const DISABLE_USER: &str = "UPDATE users SET disabled_at = COALESCE(disabled_at, $1) \
     WHERE email = $2";

pub(crate) const INSERT_SESSION: &str = "INSERT INTO console_sessions \
     (token_hash, user_id, lender_id, csrf_token, created_at, expires_at, revoked_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub(crate) const SESSION: &str = "SELECT s.token_hash AS s_token_hash, s.user_id AS s_user_id, \
     s.lender_id AS s_lender_id, s.csrf_token AS s_csrf_token, \
     s.created_at AS s_created_at, s.expires_at AS s_expires_at, \
     s.revoked_at AS s_revoked_at, u.id, u.lender_id, u.email, u.name, u.role, \
     u.password_hash, u.created_at, u.disabled_at \
     FROM console_sessions s JOIN users u ON u.id = s.user_id AND u.lender_id = s.lender_id \
     WHERE s.token_hash = $1";

pub(crate) const REVOKE_SESSION: &str = "UPDATE console_sessions SET revoked_at = $1 \
     WHERE token_hash = $2 AND revoked_at IS NULL";

/// Served by `devices_lender_state`.
pub(crate) const COUNT_BY_STATE: &str =
    "SELECT state, COUNT(*) FROM devices WHERE lender_id = $1 GROUP BY state";

/// Served by the partial index `devices_lender_policy`.
pub(crate) const COUNT_BY_POLICY: &str = "SELECT policy_level, COUNT(*) FROM devices \
     WHERE lender_id = $1 AND state = 'active' AND policy_level <> 0 GROUP BY policy_level";

/// Buckets by the oldest overdue due date against three thresholds ($1 > $2 > $3), the
/// newest first; served by the partial index `devices_lender_arrears`. Released devices
/// owe nothing the phone could be held for, so they are not counted. Parameters are
/// numbered in the order they appear: SQLite numbers `$N` parameters that way.
pub(crate) const ARREARS_BUCKETS: &str = "SELECT \
     CAST(CASE WHEN arrears_since > $1 THEN 0 WHEN arrears_since > $2 THEN 1 \
          WHEN arrears_since > $3 THEN 2 ELSE 3 END AS BIGINT) AS bucket, \
     COALESCE(arrears_currency, ''), COUNT(*), CAST(SUM(arrears_amount) AS BIGINT) \
     FROM devices WHERE lender_id = $4 AND arrears_since IS NOT NULL AND state <> 'released' \
     GROUP BY 1, 2 ORDER BY 1, 2";

/// Served by `payments_lender_received`. `kind` is 'payment' or 'reversal'. Parameters in
/// order of appearance, as in [`ARREARS_BUCKETS`].
pub(crate) const DAILY_PAYMENTS: &str = "SELECT (received_at + $1) / 86400000 AS day, \
     currency, \
     CAST(SUM(CASE WHEN kind = 'reversal' THEN -amount ELSE amount END) AS BIGINT), \
     CAST(SUM(CASE WHEN kind = 'reversal' THEN 0 ELSE 1 END) AS BIGINT) \
     FROM payments WHERE lender_id = $2 AND received_at >= $3 \
     GROUP BY 1, 2 ORDER BY 1, 2";

/// A module `console` of async functions taking the backend's pool.
macro_rules! console {
    ($db:ty) => {
        mod console {
            use lienlock_domain::{DeviceState, EventKind, LenderCtx, RestrictionLevel, Timestamp};
            use lienlock_store::{
                ArrearsBucketCount, DailyPayments, PortfolioCounts, SessionRecord, StoreError,
                StoreResult, TimelineEvent, UserRecord,
            };
            use $crate::error::{classify, is_fk_violation, is_unique_violation};
            use $crate::rows::{decode_all, EventRow, SessionUserRow, UserRow};
            use $crate::store_console as q;

            type Pool = sqlx::Pool<$db>;

            const DAY_MS: i64 = 86_400_000;

            pub(super) async fn create_user(pool: &Pool, u: &UserRecord) -> StoreResult<()> {
                let _turn = crate::write_turn::take(pool).await;
                let done = sqlx::query(q::INSERT_USER)
                    .bind(u.id.to_string())
                    .bind(u.lender_id.to_string())
                    .bind(&u.email)
                    .bind(&u.name)
                    .bind(u.role.as_str())
                    .bind(&u.password_hash)
                    .bind(u.created_at.as_millis())
                    .bind(u.disabled_at.map(Timestamp::as_millis))
                    .execute(pool)
                    .await;
                match done {
                    Ok(_) => Ok(()),
                    Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate("email")),
                    Err(e) if is_fk_violation(&e) => Err(StoreError::NotFound("lender")),
                    Err(e) => Err(classify(e)),
                }
            }

            pub(super) async fn user_by_email(
                pool: &Pool,
                email: &str,
            ) -> StoreResult<Option<UserRecord>> {
                let row: Option<UserRow> = sqlx::query_as(q::USER_BY_EMAIL)
                    .bind(email)
                    .fetch_optional(pool)
                    .await
                    .map_err(classify)?;
                row.map(UserRow::decode).transpose()
            }

            pub(super) async fn disable_user(
                pool: &Pool,
                email: &str,
                at: Timestamp,
            ) -> StoreResult<bool> {
                let _turn = crate::write_turn::take(pool).await;
                let done = sqlx::query(q::DISABLE_USER)
                    .bind(at.as_millis())
                    .bind(email)
                    .execute(pool)
                    .await
                    .map_err(classify)?;
                Ok(done.rows_affected() > 0)
            }

            pub(super) async fn list_users(
                pool: &Pool,
                ctx: &LenderCtx,
            ) -> StoreResult<Vec<UserRecord>> {
                let rows: Vec<UserRow> = sqlx::query_as(q::LIST_USERS)
                    .bind(ctx.lender_id.to_string())
                    .fetch_all(pool)
                    .await
                    .map_err(classify)?;
                decode_all(rows, UserRow::decode)
            }

            pub(super) async fn create_session(pool: &Pool, s: &SessionRecord) -> StoreResult<()> {
                let _turn = crate::write_turn::take(pool).await;
                let done = sqlx::query(q::INSERT_SESSION)
                    .bind(s.token_hash.to_vec())
                    .bind(s.user_id.to_string())
                    .bind(s.lender_id.to_string())
                    .bind(&s.csrf_token)
                    .bind(s.created_at.as_millis())
                    .bind(s.expires_at.as_millis())
                    .bind(s.revoked_at.map(Timestamp::as_millis))
                    .execute(pool)
                    .await;
                match done {
                    Ok(_) => Ok(()),
                    Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate("session")),
                    Err(e) if is_fk_violation(&e) => Err(StoreError::NotFound("user")),
                    Err(e) => Err(classify(e)),
                }
            }

            pub(super) async fn session(
                pool: &Pool,
                token_hash: &[u8; 32],
            ) -> StoreResult<Option<(SessionRecord, UserRecord)>> {
                let row: Option<SessionUserRow> = sqlx::query_as(q::SESSION)
                    .bind(token_hash.to_vec())
                    .fetch_optional(pool)
                    .await
                    .map_err(classify)?;
                row.map(SessionUserRow::decode).transpose()
            }

            pub(super) async fn revoke_session(
                pool: &Pool,
                token_hash: &[u8; 32],
                at: Timestamp,
            ) -> StoreResult<()> {
                let _turn = crate::write_turn::take(pool).await;
                sqlx::query(q::REVOKE_SESSION)
                    .bind(at.as_millis())
                    .bind(token_hash.to_vec())
                    .execute(pool)
                    .await
                    .map_err(classify)?;
                Ok(())
            }

            fn count(table: &'static str, n: i64) -> StoreResult<u64> {
                u64::try_from(n).map_err(|_| StoreError::Corrupt {
                    table,
                    why: format!("negative count {n}"),
                })
            }

            pub(super) async fn portfolio_counts(
                pool: &Pool,
                ctx: &LenderCtx,
                now: Timestamp,
            ) -> StoreResult<PortfolioCounts> {
                let lender = ctx.lender_id.to_string();
                let mut out = PortfolioCounts::default();
                let states: Vec<(String, i64)> = sqlx::query_as(q::COUNT_BY_STATE)
                    .bind(&lender)
                    .fetch_all(pool)
                    .await
                    .map_err(classify)?;
                for (state, n) in states {
                    let s = DeviceState::parse(&state).ok_or_else(|| StoreError::Corrupt {
                        table: "devices",
                        why: format!("unknown state {state:?}"),
                    })?;
                    out.by_state.push((s, count("devices", n)?));
                }
                let levels: Vec<(i64, i64)> = sqlx::query_as(q::COUNT_BY_POLICY)
                    .bind(&lender)
                    .fetch_all(pool)
                    .await
                    .map_err(classify)?;
                for (level, n) in levels {
                    let l = u8::try_from(level)
                        .ok()
                        .and_then(RestrictionLevel::from_code)
                        .ok_or_else(|| StoreError::Corrupt {
                            table: "devices",
                            why: format!("unknown policy_level {level}"),
                        })?;
                    out.by_policy_level.push((l, count("devices", n)?));
                }
                // Days overdue d = floor((now - since) / day); buckets d <= 30, 60, 90.
                let at = |days: i64| now.as_millis() - (days + 1) * DAY_MS;
                let buckets: Vec<(i64, String, i64, Option<i64>)> =
                    sqlx::query_as(q::ARREARS_BUCKETS)
                        .bind(at(30))
                        .bind(at(60))
                        .bind(at(90))
                        .bind(&lender)
                        .fetch_all(pool)
                        .await
                        .map_err(classify)?;
                for (bucket, currency, n, sum) in buckets {
                    let b: &mut ArrearsBucketCount = usize::try_from(bucket)
                        .ok()
                        .and_then(|i| out.arrears_buckets.get_mut(i))
                        .ok_or_else(|| StoreError::Backend(format!("bucket {bucket}")))?;
                    b.devices += count("devices", n)?;
                    b.amounts.push((currency, sum.unwrap_or(0)));
                }
                Ok(out)
            }

            pub(super) async fn daily_payments(
                pool: &Pool,
                ctx: &LenderCtx,
                since: Timestamp,
                offset_ms: i64,
            ) -> StoreResult<Vec<DailyPayments>> {
                let rows: Vec<(i64, String, Option<i64>, Option<i64>)> =
                    sqlx::query_as(q::DAILY_PAYMENTS)
                        .bind(offset_ms)
                        .bind(ctx.lender_id.to_string())
                        .bind(since.as_millis())
                        .fetch_all(pool)
                        .await
                        .map_err(classify)?;
                rows.into_iter()
                    .map(|(day, currency, net, n)| {
                        Ok(DailyPayments {
                            day,
                            currency,
                            net_amount: net.unwrap_or(0),
                            count: count("payments", n.unwrap_or(0))?,
                        })
                    })
                    .collect()
            }

            /// Devices in arrears within a range of due dates, most overdue first. The
            /// cursor is a device id; its row gives the position, so the page after it
            /// starts right behind it even in this order. Served by the partial index
            /// `devices_lender_arrears (lender_id, arrears_since, id)`.
            pub(super) async fn list_overdue(
                pool: &Pool,
                ctx: &LenderCtx,
                query: &lienlock_store::DeviceQuery,
                range: lienlock_store::OverdueRange,
                limit: i64,
            ) -> StoreResult<Vec<lienlock_store::Device>> {
                let mut b = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM devices WHERE lender_id = ",
                    $crate::sql::DEVICE_COLS
                ));
                let lender = ctx.lender_id.to_string();
                b.push_bind(lender.clone());
                b.push(" AND arrears_since IS NOT NULL AND arrears_since <= ")
                    .push_bind(range.at_most.as_millis());
                if let Some(after) = range.after {
                    b.push(" AND arrears_since > ").push_bind(after.as_millis());
                }
                if let Some(state) = query.state {
                    b.push(" AND state = ").push_bind(state.as_str());
                }
                if let Some(after) = query.after {
                    b.push(
                        " AND (arrears_since, id) > \
                         (SELECT c.arrears_since, c.id FROM devices c WHERE c.id = ",
                    )
                    .push_bind(after.to_string())
                    .push(" AND c.lender_id = ")
                    .push_bind(lender)
                    .push(")");
                }
                b.push(" ORDER BY arrears_since, id LIMIT ")
                    .push_bind(limit);
                let rows: Vec<$crate::rows::DeviceRow> =
                    b.build_query_as().fetch_all(pool).await.map_err(classify)?;
                let mut devices = decode_all(rows, $crate::rows::DeviceRow::decode)?;
                $crate::sqlite_unmerged::Overlay::overlay(pool, devices.iter_mut());
                Ok(devices)
            }

            pub(super) async fn lender_events_since(
                pool: &Pool,
                ctx: &LenderCtx,
                kinds: &[EventKind],
                since: Timestamp,
                limit: u32,
            ) -> StoreResult<Vec<TimelineEvent>> {
                if kinds.is_empty() {
                    return Ok(Vec::new());
                }
                let mut b = sqlx::QueryBuilder::<$db>::new(
                    "SELECT seq, id, device_id, lender_id, at, kind, actor, reason, detail \
                     FROM timeline_events WHERE lender_id = ",
                );
                b.push_bind(ctx.lender_id.to_string());
                b.push(" AND at >= ").push_bind(since.as_millis());
                b.push(" AND kind IN (");
                let mut list = b.separated(", ");
                for k in kinds {
                    list.push_bind(k.as_str());
                }
                b.push(") ORDER BY at, seq LIMIT ");
                b.push_bind(i64::from(limit));
                let rows: Vec<EventRow> =
                    b.build_query_as().fetch_all(pool).await.map_err(classify)?;
                decode_all(rows, EventRow::decode)
            }
        }
    };
}

pub(crate) use console;
