//! Notices and disputes, per backend, and the contract and notice parts of `save_device`:
//! expanded by `impl_store!` as a private module `notices` (see `store_contracts` for the
//! write-first rule every transaction here follows).

/// A module `notices` of async functions taking the backend's pool or connection.
macro_rules! notices {
    ($db:ty) => {
        mod notices {
            use super::contracts::{check_contract, page};
            use super::writes::{insert_event, wake_device_contract, Conn};
            use lienlock_domain::{ContractId, DeviceId, DisputeId, LenderCtx, Timestamp};
            use lienlock_store::{
                ContractRecord, Device, DeviceWrite, DisputeRecord, NoticeRecord, StoreError,
                StoreResult, TimelineEvent,
            };
            use $crate::error::{classify, to_i64, unique_as};
            use $crate::rows::{decode_all, DisputeRow, NoticeRow};
            use $crate::sql;

            type Pool = sqlx::Pool<$db>;

            /// The parts of a [`DeviceWrite`] beyond the device, its commands and events,
            /// checked and converted before the transaction sends anything.
            pub(super) struct Parts<'a> {
                pub(super) contract: Option<(&'a ContractRecord, String)>,
                pub(super) notices: Vec<(&'a NoticeRecord, i64)>,
                delivered: Option<(i64, Timestamp)>,
            }

            pub(super) fn prepare(w: &DeviceWrite) -> StoreResult<Parts<'_>> {
                let d = &w.device;
                let contract = match &w.contract {
                    None => None,
                    Some(c) if c.device_id != d.id || c.lender_id != d.lender_id => {
                        return Err(StoreError::Backend(format!(
                            "contract {} is not of device {}",
                            c.id, d.id
                        )))
                    }
                    Some(c) => Some((c, check_contract(c)?)),
                };
                let mut notices = Vec::with_capacity(w.new_notices.len());
                for n in &w.new_notices {
                    if n.device_id != d.id || n.lender_id != d.lender_id {
                        return Err(StoreError::Backend(format!(
                            "notice {} is not for device {}",
                            n.id, d.id
                        )));
                    }
                    // Numbered from the device's counter, which this write stores.
                    if n.seq == 0 || n.seq > d.notice_seq {
                        return Err(StoreError::Backend(format!(
                            "notice seq {} is outside 1..={}",
                            n.seq, d.notice_seq
                        )));
                    }
                    notices.push((n, to_i64(n.seq, "notice seq")?));
                }
                let delivered = w
                    .notices_delivered
                    .map(|(seq, at)| Ok::<_, StoreError>((to_i64(seq, "delivered seq")?, at)))
                    .transpose()?;
                Ok(Parts {
                    contract,
                    notices,
                    delivered,
                })
            }

            pub(super) async fn mark_delivered(
                conn: &mut Conn,
                d: &Device,
                parts: &Parts<'_>,
            ) -> StoreResult<()> {
                if let Some((seq, at)) = parts.delivered {
                    sqlx::query(sql::MARK_NOTICES_DELIVERED)
                        .bind(at.as_millis())
                        .bind(d.id.to_string())
                        .bind(seq)
                        .execute(&mut *conn)
                        .await
                        .map_err(classify)?;
                }
                Ok(())
            }

            pub(super) async fn device_undelivered_notices(
                pool: &Pool,
                device: DeviceId,
                limit: u32,
            ) -> StoreResult<Vec<NoticeRecord>> {
                let rows: Vec<NoticeRow> = sqlx::query_as(sql::UNDELIVERED_NOTICES)
                    .bind(device.to_string())
                    .bind(page(limit))
                    .fetch_all(pool)
                    .await
                    .map_err(classify)?;
                decode_all(rows, NoticeRow::decode)
            }

            pub(super) async fn contract_notices(
                pool: &Pool,
                contract: ContractId,
            ) -> StoreResult<Vec<NoticeRecord>> {
                let rows: Vec<NoticeRow> = sqlx::query_as(sql::CONTRACT_NOTICES)
                    .bind(contract.to_string())
                    .fetch_all(pool)
                    .await
                    .map_err(classify)?;
                decode_all(rows, NoticeRow::decode)
            }

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

            pub(super) async fn device_notices(
                pool: &Pool,
                ctx: &LenderCtx,
                device: DeviceId,
            ) -> StoreResult<Option<Vec<NoticeRecord>>> {
                if !owns_device(pool, ctx, device).await? {
                    return Ok(None);
                }
                let rows: Vec<NoticeRow> = sqlx::query_as(sql::DEVICE_NOTICES)
                    .bind(device.to_string())
                    .bind(ctx.lender_id.to_string())
                    .fetch_all(pool)
                    .await
                    .map_err(classify)?;
                decode_all(rows, NoticeRow::decode).map(Some)
            }

            // ---- disputes -------------------------------------------------------------

            fn check_dispute_event(
                ctx: &LenderCtx,
                d: &DisputeRecord,
                event: &TimelineEvent,
            ) -> StoreResult<()> {
                if d.lender_id != ctx.lender_id || event.lender_id != ctx.lender_id {
                    return Err(StoreError::Backend("tenant mismatch".into()));
                }
                if event.device_id != d.device_id {
                    return Err(StoreError::Backend(
                        "the dispute's event names another device".into(),
                    ));
                }
                Ok(())
            }

            /// Takes the device's row lock (keeping its timeline in `seq` order, see
            /// `append_events`) if the device is the lender's.
            async fn lock_owned_device(
                conn: &mut Conn,
                ctx: &LenderCtx,
                device: DeviceId,
            ) -> StoreResult<bool> {
                let owned = sqlx::query(sql::TOUCH_DEVICE_OWNED)
                    .bind(device.to_string())
                    .bind(ctx.lender_id.to_string())
                    .execute(&mut *conn)
                    .await
                    .map_err(classify)?;
                Ok(owned.rows_affected() > 0)
            }

            pub(super) async fn open_dispute(
                pool: &Pool,
                ctx: &LenderCtx,
                d: &DisputeRecord,
                event: &TimelineEvent,
            ) -> StoreResult<()> {
                check_dispute_event(ctx, d, event)?;
                if !d.is_open() {
                    return Err(StoreError::Backend("a new dispute must be open".into()));
                }
                let _turn = crate::write_turn::take(pool).await;
                let mut tx = pool.begin().await.map_err(classify)?;
                if !lock_owned_device(&mut tx, ctx, d.device_id).await? {
                    return Err(StoreError::NotFound("device"));
                }
                if let Some(contract) = d.contract_id {
                    let of_device = sqlx::query(sql::CONTRACT_OF_DEVICE)
                        .bind(contract.to_string())
                        .bind(ctx.lender_id.to_string())
                        .bind(d.device_id.to_string())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(classify)?;
                    if of_device.is_none() {
                        return Err(StoreError::NotFound("contract"));
                    }
                }
                sqlx::query(sql::INSERT_DISPUTE)
                    .bind(d.id.to_string())
                    .bind(d.lender_id.to_string())
                    .bind(d.device_id.to_string())
                    .bind(d.contract_id.map(|c| c.to_string()))
                    .bind(d.opened_by.to_text())
                    .bind(&d.reason)
                    .bind(d.opened_at.as_millis())
                    .bind(d.temporary_unlock_until.map(Timestamp::as_millis))
                    .bind(d.closed_at.map(Timestamp::as_millis))
                    .bind(d.closed_by.as_ref().map(|a| a.to_text()))
                    .bind(d.resolution.as_deref())
                    .execute(&mut *tx)
                    .await
                    .map_err(unique_as("dispute id"))?;
                insert_event(&mut tx, event).await?;
                wake_device_contract(&mut tx, ctx.lender_id, d.device_id, event.at).await?;
                tx.commit().await.map_err(classify)
            }

            pub(super) async fn update_dispute(
                pool: &Pool,
                ctx: &LenderCtx,
                d: &DisputeRecord,
                event: &TimelineEvent,
            ) -> StoreResult<()> {
                check_dispute_event(ctx, d, event)?;
                let _turn = crate::write_turn::take(pool).await;
                let mut tx = pool.begin().await.map_err(classify)?;
                if !lock_owned_device(&mut tx, ctx, d.device_id).await? {
                    return Err(StoreError::NotFound("dispute"));
                }
                let updated = sqlx::query(sql::UPDATE_DISPUTE)
                    .bind(d.temporary_unlock_until.map(Timestamp::as_millis))
                    .bind(d.closed_at.map(Timestamp::as_millis))
                    .bind(d.closed_by.as_ref().map(|a| a.to_text()))
                    .bind(d.resolution.as_deref())
                    .bind(d.id.to_string())
                    .bind(ctx.lender_id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                let status: Option<(String, Option<i64>)> = sqlx::query_as(sql::DISPUTE_STATUS)
                    .bind(d.id.to_string())
                    .bind(ctx.lender_id.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(classify)?;
                match status {
                    None => return Err(StoreError::NotFound("dispute")),
                    // Checked after the update, which the rollback undoes.
                    Some((device, _)) if device != d.device_id.to_string() => {
                        return Err(StoreError::Backend(
                            "the dispute is about another device".into(),
                        ))
                    }
                    Some(_) if updated.rows_affected() == 0 => {
                        return Err(StoreError::Conflict("dispute closed"))
                    }
                    Some(_) => {}
                }
                insert_event(&mut tx, event).await?;
                wake_device_contract(&mut tx, ctx.lender_id, d.device_id, event.at).await?;
                tx.commit().await.map_err(classify)
            }

            pub(super) async fn dispute(
                pool: &Pool,
                ctx: &LenderCtx,
                id: DisputeId,
            ) -> StoreResult<Option<DisputeRecord>> {
                let row: Option<DisputeRow> = sqlx::query_as(sql::DISPUTE_SCOPED)
                    .bind(id.to_string())
                    .bind(ctx.lender_id.to_string())
                    .fetch_optional(pool)
                    .await
                    .map_err(classify)?;
                row.map(DisputeRow::decode).transpose()
            }

            pub(super) async fn device_disputes(
                pool: &Pool,
                ctx: &LenderCtx,
                device: DeviceId,
            ) -> StoreResult<Option<Vec<DisputeRecord>>> {
                if !owns_device(pool, ctx, device).await? {
                    return Ok(None);
                }
                let rows: Vec<DisputeRow> = sqlx::query_as(sql::DEVICE_DISPUTES)
                    .bind(device.to_string())
                    .bind(ctx.lender_id.to_string())
                    .fetch_all(pool)
                    .await
                    .map_err(classify)?;
                decode_all(rows, DisputeRow::decode).map(Some)
            }

            pub(super) async fn contract_disputes(
                pool: &Pool,
                contract: ContractId,
            ) -> StoreResult<Vec<DisputeRecord>> {
                let rows: Vec<DisputeRow> = sqlx::query_as(sql::CONTRACT_DISPUTES)
                    .bind(contract.to_string())
                    .fetch_all(pool)
                    .await
                    .map_err(classify)?;
                decode_all(rows, DisputeRow::decode)
            }
        }
    };
}

pub(crate) use notices;
