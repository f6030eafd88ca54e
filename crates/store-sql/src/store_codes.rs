//! Offline unlock codes, per backend: the bodies of the `Store` methods that `impl_store!`
//! delegates to, expanded as a private module `codes` (see `store_contracts` for the
//! write-first rule every transaction here follows). Its statements live here, not in
//! `sql`, so the feature stays in one file; the same rules apply (one text for both
//! backends).

macro_rules! code_cols {
    () => {
        "id, lender_id, device_id, format, counter, kind, paid_until, code, payment_id, \
         issued_at, issued_by, reason, redeemed_at"
    };
}

/// The columns of `unlock_codes`, in `UnlockCodeRow`'s order.
pub(crate) const CODE_COLS: &str = code_cols!();

pub(crate) const INSERT_CODE: &str = concat!(
    "INSERT INTO unlock_codes (",
    code_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);

/// Served by the partial unique index `unlock_codes_payment`.
pub(crate) const CODE_FOR_PAYMENT: &str = concat!(
    "SELECT ",
    code_cols!(),
    " FROM unlock_codes WHERE payment_id = $1 AND lender_id = $2"
);

pub(crate) const CODE_EXISTS: &str = "SELECT id FROM unlock_codes WHERE id = $1";

/// Served by the `(device_id, format, counter)` unique index.
pub(crate) const LAST_CODE_COUNTER: &str = "SELECT COALESCE(MAX(counter), 0) \
     FROM unlock_codes WHERE device_id = $1 AND format = $2";

/// Newest first; the counter and then the id break ties between codes issued in one
/// millisecond, so the order is the same on both backends.
pub(crate) const DEVICE_CODES: &str = concat!(
    "SELECT ",
    code_cols!(),
    " FROM unlock_codes WHERE device_id = $1 AND lender_id = $2 \
     ORDER BY issued_at DESC, counter DESC, id DESC LIMIT $3"
);

pub(crate) const DEVICE_CODE_FORMAT: &str =
    "SELECT code_format FROM devices WHERE id = $1 AND lender_id = $2";

/// Leaves the version alone: the format is not part of the `Device` record, so a check-in
/// that read the device before this change is not stale.
pub(crate) const SET_DEVICE_CODE_FORMAT: &str =
    "UPDATE devices SET code_format = $1 WHERE id = $2 AND lender_id = $3";

/// A module `codes` of async functions taking the backend's pool.
macro_rules! codes {
    ($db:ty) => {
        mod codes {
            use super::writes::{insert_event, Conn};
            use lienlock_domain::{CodeFormat, DeviceId, LenderCtx, PaymentId, Timestamp};
            use lienlock_store::{
                CodeInsert, StoreError, StoreResult, TimelineEvent, UnlockCodeRecord,
            };
            use $crate::error::{classify, is_fk_violation, is_unique_violation};
            use $crate::rows::{code_counter, code_format, decode_all, UnlockCodeRow};
            use $crate::sql;
            use $crate::store_codes as q;

            type Pool = sqlx::Pool<$db>;

            /// Most counters per `IN (...)` list, far below either backend's parameter
            /// limit; a device reports a handful per check-in.
            const CHUNK: usize = 1000;

            /// Whether the device is the lender's; the one read that does not lock it.
            async fn owns_device(
                pool: &Pool,
                ctx: &LenderCtx,
                device: DeviceId,
            ) -> StoreResult<bool> {
                let owned = sqlx::query(sql::DEVICE_OWNED)
                    .bind(device.to_string())
                    .bind(ctx.lender_id.to_string())
                    .fetch_optional(pool)
                    .await
                    .map_err(classify)?;
                Ok(owned.is_some())
            }

            async fn for_payment(
                conn: &mut Conn,
                ctx: &LenderCtx,
                payment: PaymentId,
            ) -> StoreResult<Option<UnlockCodeRecord>> {
                let row: Option<UnlockCodeRow> = sqlx::query_as(q::CODE_FOR_PAYMENT)
                    .bind(payment.to_string())
                    .bind(ctx.lender_id.to_string())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(classify)?;
                row.map(UnlockCodeRow::decode).transpose()
            }

            pub(super) async fn insert_unlock_code(
                pool: &Pool,
                ctx: &LenderCtx,
                c: &UnlockCodeRecord,
                event: &TimelineEvent,
            ) -> StoreResult<CodeInsert> {
                if event.device_id != c.device_id {
                    return Err(StoreError::Backend(
                        "the code's event names another device".into(),
                    ));
                }
                let _turn = crate::write_turn::take(pool).await;
                let mut tx = pool.begin().await.map_err(classify)?;
                // Ownership check and the device's row lock in one statement. The lock
                // keeps the timeline in `seq` order (see `append_events`) and makes a
                // concurrent code for the same payment wait here, then find this one.
                let owned = sqlx::query(sql::TOUCH_DEVICE_OWNED)
                    .bind(c.device_id.to_string())
                    .bind(ctx.lender_id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                if owned.rows_affected() == 0 {
                    return Err(StoreError::NotFound("device"));
                }
                // After the device check, so another lender's caller learns nothing more.
                if c.lender_id != ctx.lender_id || event.lender_id != ctx.lender_id {
                    return Err(StoreError::Backend("tenant mismatch".into()));
                }
                if let Some(payment) = c.payment_id {
                    if let Some(existing) = for_payment(&mut tx, ctx, payment).await? {
                        return Ok(CodeInsert::ExistingForPayment(Box::new(existing)));
                    }
                }
                let inserted = sqlx::query(q::INSERT_CODE)
                    .bind(c.id.to_string())
                    .bind(c.lender_id.to_string())
                    .bind(c.device_id.to_string())
                    .bind(c.format.as_str())
                    .bind(i64::from(c.counter))
                    .bind(c.kind.as_str())
                    .bind(c.paid_until.to_string())
                    .bind(&c.code)
                    .bind(c.payment_id.map(|p| p.to_string()))
                    .bind(c.issued_at.as_millis())
                    .bind(c.issued_by.to_text())
                    .bind(c.reason.as_deref())
                    .bind(c.redeemed_at.map(Timestamp::as_millis))
                    .execute(&mut *tx)
                    .await;
                match inserted {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        // PostgreSQL has aborted the transaction: ask outside it.
                        drop(tx);
                        return clash(pool, ctx, c).await;
                    }
                    // The device was checked above, so the parent missing is the payment.
                    Err(e) if is_fk_violation(&e) => return Err(StoreError::NotFound("payment")),
                    Err(e) => return Err(classify(e)),
                }
                insert_event(&mut tx, event).await?;
                tx.commit().await.map_err(classify)?;
                Ok(CodeInsert::Inserted)
            }

            /// Which unique index a refused code hit. A code for the payment committed in
            /// between (a race the device lock does not cover, for a code of another
            /// device) is returned like one found before the insert.
            async fn clash(
                pool: &Pool,
                ctx: &LenderCtx,
                c: &UnlockCodeRecord,
            ) -> StoreResult<CodeInsert> {
                let mut conn = pool.acquire().await.map_err(classify)?;
                if let Some(payment) = c.payment_id {
                    if let Some(existing) = for_payment(&mut conn, ctx, payment).await? {
                        return Ok(CodeInsert::ExistingForPayment(Box::new(existing)));
                    }
                }
                let exists = sqlx::query(q::CODE_EXISTS)
                    .bind(c.id.to_string())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(classify)?;
                Err(match exists {
                    Some(_) => StoreError::Duplicate("code id"),
                    None => StoreError::Duplicate("code counter"),
                })
            }

            pub(super) async fn last_code_counter(
                pool: &Pool,
                device: DeviceId,
                format: CodeFormat,
            ) -> StoreResult<u32> {
                let (last,): (i64,) = sqlx::query_as(q::LAST_CODE_COUNTER)
                    .bind(device.to_string())
                    .bind(format.as_str())
                    .fetch_one(pool)
                    .await
                    .map_err(classify)?;
                code_counter("unlock_codes", last)
            }

            pub(super) async fn device_codes(
                pool: &Pool,
                ctx: &LenderCtx,
                device: DeviceId,
                limit: u32,
            ) -> StoreResult<Option<Vec<UnlockCodeRecord>>> {
                if !owns_device(pool, ctx, device).await? {
                    return Ok(None);
                }
                let rows: Vec<UnlockCodeRow> = sqlx::query_as(q::DEVICE_CODES)
                    .bind(device.to_string())
                    .bind(ctx.lender_id.to_string())
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await
                    .map_err(classify)?;
                decode_all(rows, UnlockCodeRow::decode).map(Some)
            }

            pub(super) async fn code_for_payment(
                pool: &Pool,
                ctx: &LenderCtx,
                payment: PaymentId,
            ) -> StoreResult<Option<UnlockCodeRecord>> {
                let mut conn = pool.acquire().await.map_err(classify)?;
                for_payment(&mut conn, ctx, payment).await
            }

            pub(super) async fn redeem_codes(
                pool: &Pool,
                device: DeviceId,
                format: CodeFormat,
                counters: &[u32],
                at: Timestamp,
            ) -> StoreResult<Vec<UnlockCodeRecord>> {
                let mut counters = counters.to_vec();
                counters.sort_unstable();
                counters.dedup();
                if counters.is_empty() {
                    return Ok(Vec::new());
                }
                let _turn = crate::write_turn::take(pool).await;
                let mut tx = pool.begin().await.map_err(classify)?;
                let mut rows: Vec<UnlockCodeRow> = Vec::with_capacity(counters.len());
                for chunk in counters.chunks(CHUNK) {
                    // `redeemed_at IS NULL`: a code taken earlier keeps its first time.
                    let mut b =
                        sqlx::QueryBuilder::<$db>::new("UPDATE unlock_codes SET redeemed_at = ");
                    b.push_bind(at.as_millis())
                        .push(" WHERE device_id = ")
                        .push_bind(device.to_string())
                        .push(" AND format = ")
                        .push_bind(format.as_str())
                        .push(" AND redeemed_at IS NULL AND counter IN (");
                    let mut list = b.separated(", ");
                    for &counter in chunk {
                        list.push_bind(i64::from(counter));
                    }
                    b.push(") RETURNING ").push(q::CODE_COLS);
                    rows.extend(
                        b.build_query_as::<UnlockCodeRow>()
                            .fetch_all(&mut *tx)
                            .await
                            .map_err(classify)?,
                    );
                }
                // Decoded before the commit: a corrupt row is reported with nothing marked.
                let mut codes = decode_all(rows, UnlockCodeRow::decode)?;
                tx.commit().await.map_err(classify)?;
                // RETURNING promises no order.
                codes.sort_by_key(|c| c.counter);
                Ok(codes)
            }

            pub(super) async fn device_code_format(
                pool: &Pool,
                ctx: &LenderCtx,
                device: DeviceId,
            ) -> StoreResult<Option<CodeFormat>> {
                let row: Option<(String,)> = sqlx::query_as(q::DEVICE_CODE_FORMAT)
                    .bind(device.to_string())
                    .bind(ctx.lender_id.to_string())
                    .fetch_optional(pool)
                    .await
                    .map_err(classify)?;
                row.map(|(f,)| code_format("devices", "code_format", &f))
                    .transpose()
            }

            pub(super) async fn set_device_code_format(
                pool: &Pool,
                ctx: &LenderCtx,
                device: DeviceId,
                format: CodeFormat,
            ) -> StoreResult<()> {
                let _turn = crate::write_turn::take(pool).await;
                let set = sqlx::query(q::SET_DEVICE_CODE_FORMAT)
                    .bind(format.as_str())
                    .bind(device.to_string())
                    .bind(ctx.lender_id.to_string())
                    .execute(pool)
                    .await
                    .map_err(classify)?;
                if set.rows_affected() == 0 {
                    return Err(StoreError::NotFound("device"));
                }
                Ok(())
            }
        }
    };
}

pub(crate) use codes;
