//! Contracts and the payments ledger, per backend: the bodies of the `Store` methods that
//! `impl_store!` delegates to, expanded as a private module `contracts` next to the
//! backend's store type (see `store_writes` for why this is a macro).
//!
//! SQLite note that shapes every transaction here: the first statement of a transaction
//! is a write. A WAL transaction that reads first and writes later fails at once (not
//! after the busy timeout) when another writer committed in between, so each transaction
//! takes the write lock before it looks at anything.

/// A module `contracts` of async functions taking the backend's pool.
macro_rules! contracts {
    ($db:ty) => {
        mod contracts {
            use super::writes::{insert_event, wake_contract, Conn};
            use lienlock_domain::{
                ContractId, Currency, DeviceId, LenderCtx, PaymentId, Timestamp,
            };
            use lienlock_store::{
                ContractRecord, PaymentInsert, PaymentRecord, StoreError, StoreResult,
                TimelineEvent,
            };
            use $crate::error::{classify, contract_unique, is_fk_violation, is_unique_violation};
            use $crate::rows::{
                decode_all, entry_kind_columns, terms_json, ContractRow, PaymentRow,
            };
            use $crate::sql;

            type Pool = sqlx::Pool<$db>;

            /// Rows per page: at least one, so a page always makes progress, and bounded.
            pub(super) fn page(limit: u32) -> i64 {
                i64::from(limit.clamp(1, 1000))
            }

            fn tenant_mismatch() -> StoreError {
                StoreError::Backend("tenant mismatch".into())
            }

            /// The checks every contract write makes before it sends anything.
            pub(super) fn check_contract(c: &ContractRecord) -> StoreResult<String> {
                if !c.state.is_active() && c.next_evaluation_at.is_some() {
                    return Err(StoreError::Backend(format!(
                        "contract {} is {} but has a next evaluation time",
                        c.id,
                        c.state.as_str()
                    )));
                }
                terms_json(&c.terms)
            }

            pub(super) async fn create_contract(
                pool: &Pool,
                ctx: &LenderCtx,
                c: &ContractRecord,
                event: &TimelineEvent,
            ) -> StoreResult<()> {
                if c.lender_id != ctx.lender_id || event.lender_id != ctx.lender_id {
                    return Err(tenant_mismatch());
                }
                if event.device_id != c.device_id {
                    return Err(StoreError::Backend(
                        "the contract's event names another device".into(),
                    ));
                }
                let terms = check_contract(c)?;
                let _turn = crate::write_turn::take(pool).await;
                let mut tx = pool.begin().await.map_err(classify)?;
                // Ownership check and the device's row lock in one statement; the lock
                // keeps the device's timeline in `seq` order (see `append_events`).
                let owned = sqlx::query(sql::TOUCH_DEVICE_OWNED)
                    .bind(c.device_id.to_string())
                    .bind(ctx.lender_id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                if owned.rows_affected() == 0 {
                    return Err(StoreError::NotFound("device"));
                }
                let inserted = sqlx::query(sql::INSERT_CONTRACT)
                    .bind(c.id.to_string())
                    .bind(c.lender_id.to_string())
                    .bind(c.device_id.to_string())
                    .bind(c.reference.as_deref())
                    .bind(c.terms.currency().code())
                    .bind(terms)
                    .bind(c.policy.as_deref())
                    .bind(c.state.as_str())
                    .bind(c.created_at.as_millis())
                    .bind(c.updated_at.as_millis())
                    .bind(c.next_evaluation_at.map(Timestamp::as_millis))
                    .bind(c.version)
                    .bind(c.wake_seq)
                    .execute(&mut *tx)
                    .await;
                if let Err(e) = inserted {
                    if !is_unique_violation(&e) {
                        return Err(classify(e));
                    }
                    // A reused id may clash with several indexes at once, and the backends
                    // report different ones; ask outside the failed transaction.
                    drop(tx);
                    let exists = sqlx::query(sql::CONTRACT_EXISTS)
                        .bind(c.id.to_string())
                        .fetch_optional(pool)
                        .await
                        .map_err(classify)?;
                    return Err(match exists {
                        Some(_) => StoreError::Duplicate("contract id"),
                        None => contract_unique(e),
                    });
                }
                insert_event(&mut tx, event).await?;
                tx.commit().await.map_err(classify)
            }

            /// At most one contract, decoded.
            async fn one<'q>(
                pool: &Pool,
                q: sqlx::query::QueryAs<
                    'q,
                    $db,
                    ContractRow,
                    <$db as sqlx::Database>::Arguments<'q>,
                >,
            ) -> StoreResult<Option<ContractRecord>> {
                let row = q.fetch_optional(pool).await.map_err(classify)?;
                row.map(ContractRow::decode).transpose()
            }

            pub(super) async fn contract(
                pool: &Pool,
                ctx: &LenderCtx,
                id: ContractId,
            ) -> StoreResult<Option<ContractRecord>> {
                let q = sqlx::query_as(sql::CONTRACT_SCOPED)
                    .bind(id.to_string())
                    .bind(ctx.lender_id.to_string());
                one(pool, q).await
            }

            pub(super) async fn contract_unscoped(
                pool: &Pool,
                id: ContractId,
            ) -> StoreResult<Option<ContractRecord>> {
                let q = sqlx::query_as(sql::CONTRACT_UNSCOPED).bind(id.to_string());
                one(pool, q).await
            }

            pub(super) async fn active_contract(
                pool: &Pool,
                device: DeviceId,
            ) -> StoreResult<Option<ContractRecord>> {
                let q = sqlx::query_as(sql::ACTIVE_CONTRACT).bind(device.to_string());
                one(pool, q).await
            }

            pub(super) async fn contract_for_device(
                pool: &Pool,
                ctx: &LenderCtx,
                device: DeviceId,
            ) -> StoreResult<Option<ContractRecord>> {
                let q = sqlx::query_as(sql::CONTRACT_FOR_DEVICE)
                    .bind(ctx.lender_id.to_string())
                    .bind(device.to_string());
                one(pool, q).await
            }

            pub(super) async fn contract_by_reference(
                pool: &Pool,
                ctx: &LenderCtx,
                reference: &str,
            ) -> StoreResult<Option<ContractRecord>> {
                let q = sqlx::query_as(sql::CONTRACT_BY_REFERENCE)
                    .bind(ctx.lender_id.to_string())
                    .bind(reference.to_owned());
                one(pool, q).await
            }

            pub(super) async fn list_contracts(
                pool: &Pool,
                ctx: &LenderCtx,
                after: Option<ContractId>,
                limit: u32,
            ) -> StoreResult<Vec<ContractRecord>> {
                let q = match after {
                    None => sqlx::query_as(sql::LIST_CONTRACTS).bind(ctx.lender_id.to_string()),
                    Some(after) => sqlx::query_as(sql::LIST_CONTRACTS_AFTER)
                        .bind(ctx.lender_id.to_string())
                        .bind(after.to_string()),
                };
                let rows: Vec<ContractRow> = q
                    .bind(page(limit))
                    .fetch_all(pool)
                    .await
                    .map_err(classify)?;
                decode_all(rows, ContractRow::decode)
            }

            // ---- payments -------------------------------------------------------------

            /// The entry holding `p`'s idempotency key, else its external reference.
            async fn existing_payment(
                conn: &mut Conn,
                p: &PaymentRecord,
            ) -> StoreResult<Option<PaymentRecord>> {
                let lender = p.lender_id.to_string();
                if let Some(key) = &p.idempotency_key {
                    let row: Option<PaymentRow> = sqlx::query_as(sql::PAYMENT_BY_KEY)
                        .bind(&lender)
                        .bind(key)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(classify)?;
                    if let Some(row) = row {
                        return row.decode().map(Some);
                    }
                }
                if let Some(external) = &p.external_ref {
                    let row: Option<PaymentRow> = sqlx::query_as(sql::PAYMENT_BY_EXTERNAL_REF)
                        .bind(&lender)
                        .bind(&p.channel)
                        .bind(external)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(classify)?;
                    if let Some(row) = row {
                        return row.decode().map(Some);
                    }
                }
                Ok(None)
            }

            /// The currency of one of the lender's contracts; `None` when it is not theirs.
            async fn contract_currency(
                conn: &mut Conn,
                ctx: &LenderCtx,
                contract: ContractId,
            ) -> StoreResult<Option<String>> {
                let stored: Option<(String,)> = sqlx::query_as(sql::CONTRACT_CURRENCY)
                    .bind(contract.to_string())
                    .bind(ctx.lender_id.to_string())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(classify)?;
                Ok(stored.map(|(code,)| code))
            }

            /// Refuses a contract that is not the lender's or is in another currency.
            async fn check_currency(
                conn: &mut Conn,
                ctx: &LenderCtx,
                contract: ContractId,
                currency: Currency,
            ) -> StoreResult<()> {
                match contract_currency(conn, ctx, contract).await? {
                    None => Err(StoreError::NotFound("contract")),
                    Some(code) if code != currency.code() => {
                        Err(StoreError::Conflict("currency differs"))
                    }
                    Some(_) => Ok(()),
                }
            }

            /// After a foreign-key violation on a new entry: which parent is not the
            /// lender's, asked outside the failed transaction.
            async fn missing_parent(
                pool: &Pool,
                ctx: &LenderCtx,
                contract: Option<ContractId>,
            ) -> StoreError {
                if let Some(contract) = contract {
                    let mut conn = match pool.acquire().await {
                        Ok(conn) => conn,
                        Err(e) => return classify(e),
                    };
                    match contract_currency(&mut conn, ctx, contract).await {
                        Ok(None) => return StoreError::NotFound("contract"),
                        Ok(Some(_)) => {}
                        Err(e) => return e,
                    }
                }
                // The other parent: the payment a reversal names.
                StoreError::NotFound("payment")
            }

            pub(super) async fn insert_payment(
                pool: &Pool,
                ctx: &LenderCtx,
                p: &PaymentRecord,
                wake_at: Timestamp,
                event: Option<&TimelineEvent>,
            ) -> StoreResult<PaymentInsert> {
                if p.lender_id != ctx.lender_id
                    || event.is_some_and(|e| e.lender_id != ctx.lender_id)
                {
                    return Err(tenant_mismatch());
                }
                if p.amount <= 0 {
                    return Err(StoreError::Backend(format!(
                        "payment amount {} is not positive",
                        p.amount
                    )));
                }
                let (kind, reverses) = entry_kind_columns(&p.kind);
                let _turn = crate::write_turn::take(pool).await;
                let mut tx = pool.begin().await.map_err(classify)?;
                // Insert first (see the module doc); a taken key or reference inserts
                // nothing, and then the holder is returned.
                let inserted = sqlx::query(sql::INSERT_PAYMENT)
                    .bind(p.id.to_string())
                    .bind(p.lender_id.to_string())
                    .bind(p.contract_id.map(|c| c.to_string()))
                    .bind(kind)
                    .bind(reverses)
                    .bind(p.amount)
                    .bind(p.currency.code())
                    .bind(p.received_at.as_millis())
                    .bind(p.recorded_at.as_millis())
                    .bind(&p.channel)
                    .bind(p.external_ref.as_deref())
                    .bind(p.payer_hint.as_deref())
                    .bind(p.idempotency_key.as_deref())
                    .bind(&p.request_hash[..])
                    .bind(p.assigned_at.map(Timestamp::as_millis))
                    .execute(&mut *tx)
                    .await;
                let inserted = match inserted {
                    Ok(done) => done,
                    Err(e) if is_fk_violation(&e) => {
                        drop(tx);
                        return Err(missing_parent(pool, ctx, p.contract_id).await);
                    }
                    Err(e) => return Err(classify(e)),
                };
                if inserted.rows_affected() == 0 {
                    // Dropping `tx` rolls back; nothing was written anyway.
                    return match existing_payment(&mut tx, p).await? {
                        Some(existing) => Ok(PaymentInsert::Existing(existing)),
                        None => Err(StoreError::Duplicate("payment id")),
                    };
                }
                // The event before the wake-up: its foreign key share-locks the device row,
                // and a device save locks the device before it updates the contract, so
                // taking them in the other order here could deadlock with it.
                if let Some(e) = event {
                    insert_event(&mut tx, e).await?;
                }
                if let Some(contract) = p.contract_id {
                    check_currency(&mut tx, ctx, contract, p.currency).await?;
                    wake_contract(&mut tx, ctx.lender_id, contract, wake_at).await?;
                }
                tx.commit().await.map_err(classify)?;
                Ok(PaymentInsert::Inserted)
            }

            pub(super) async fn contract_payments(
                pool: &Pool,
                ctx: Option<&LenderCtx>,
                contract: ContractId,
            ) -> StoreResult<Vec<PaymentRecord>> {
                let q = match ctx {
                    Some(ctx) => sqlx::query_as(sql::CONTRACT_PAYMENTS)
                        .bind(contract.to_string())
                        .bind(ctx.lender_id.to_string()),
                    None => {
                        sqlx::query_as(sql::CONTRACT_PAYMENTS_UNSCOPED).bind(contract.to_string())
                    }
                };
                let rows: Vec<PaymentRow> = q.fetch_all(pool).await.map_err(classify)?;
                decode_all(rows, PaymentRow::decode)
            }

            pub(super) async fn unmatched_payments(
                pool: &Pool,
                ctx: &LenderCtx,
                after: Option<PaymentId>,
                limit: u32,
            ) -> StoreResult<Vec<PaymentRecord>> {
                let q = match after {
                    None => sqlx::query_as(sql::UNMATCHED_PAYMENTS).bind(ctx.lender_id.to_string()),
                    Some(after) => sqlx::query_as(sql::UNMATCHED_PAYMENTS_AFTER)
                        .bind(ctx.lender_id.to_string())
                        .bind(after.to_string()),
                };
                let rows: Vec<PaymentRow> = q
                    .bind(page(limit))
                    .fetch_all(pool)
                    .await
                    .map_err(classify)?;
                decode_all(rows, PaymentRow::decode)
            }

            pub(super) async fn payment(
                conn: &mut Conn,
                ctx: &LenderCtx,
                id: PaymentId,
            ) -> StoreResult<Option<PaymentRecord>> {
                let row: Option<PaymentRow> = sqlx::query_as(sql::PAYMENT_SCOPED)
                    .bind(id.to_string())
                    .bind(ctx.lender_id.to_string())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(classify)?;
                row.map(PaymentRow::decode).transpose()
            }

            pub(super) async fn assign_payment(
                pool: &Pool,
                ctx: &LenderCtx,
                id: PaymentId,
                contract: ContractId,
                at: Timestamp,
            ) -> StoreResult<PaymentRecord> {
                let _turn = crate::write_turn::take(pool).await;
                let mut tx = pool.begin().await.map_err(classify)?;
                // Write first (see the module doc): only an unmatched entry of the lender
                // changes, and the foreign key refuses another lender's contract.
                let assigned = sqlx::query(sql::ASSIGN_PAYMENT)
                    .bind(contract.to_string())
                    .bind(at.as_millis())
                    .bind(id.to_string())
                    .bind(ctx.lender_id.to_string())
                    .execute(&mut *tx)
                    .await;
                let assigned = match assigned {
                    Ok(done) => done,
                    Err(e) if is_fk_violation(&e) => return Err(StoreError::NotFound("contract")),
                    Err(e) => return Err(classify(e)),
                };
                if assigned.rows_affected() == 0 {
                    return Err(match payment(&mut tx, ctx, id).await? {
                        None => StoreError::NotFound("payment"),
                        Some(_) => StoreError::Conflict("already assigned"),
                    });
                }
                let Some(assigned) = payment(&mut tx, ctx, id).await? else {
                    return Err(StoreError::NotFound("payment"));
                };
                check_currency(&mut tx, ctx, contract, assigned.currency).await?;
                wake_contract(&mut tx, ctx.lender_id, contract, at).await?;
                tx.commit().await.map_err(classify)?;
                Ok(assigned)
            }
        }
    };
}

pub(crate) use contracts;
