//! The insert helpers of the store, per backend: the statements that `save_device`,
//! `enroll_device` and `create_lender` combine inside one transaction. Split from
//! `store_impl` only to keep files short; expanded by `impl_store!` as a private module
//! `writes` next to the backend's store type.

/// A module `writes` of helpers taking `&mut <$db as sqlx::Database>::Connection`, so they
/// run equally on a pooled connection or inside a transaction.
macro_rules! writes {
    ($db:ty) => {
        mod writes {
            use lienlock_domain::{ContractId, DeviceId, Imei, LenderId, Timestamp};
            use lienlock_store::{ApiKeyRecord, Command, Device, StoreResult, TimelineEvent};
            use $crate::error::{classify, to_i64, unique_as};
            use $crate::rows::arrears_columns;
            use $crate::sql;

            pub(super) type Conn = <$db as sqlx::Database>::Connection;

            pub(super) async fn insert_key(conn: &mut Conn, k: &ApiKeyRecord) -> StoreResult<()> {
                sqlx::query(sql::INSERT_API_KEY)
                    .bind(k.id.to_string())
                    .bind(k.lender_id.to_string())
                    .bind(k.role.as_str())
                    .bind(&k.label)
                    .bind(&k.secret_hmac[..])
                    .bind(k.created_at.as_millis())
                    .bind(k.revoked_at.map(Timestamp::as_millis))
                    .execute(conn)
                    .await
                    .map_err(unique_as("api key id"))?;
                Ok(())
            }

            /// Counters are converted before anything is sent, so an out-of-range value fails
            /// before the transaction has written anything.
            pub(super) struct Counters {
                pub(super) last: i64,
                pub(super) pending: i64,
                pub(super) retired: i64,
                pub(super) lease_seq: i64,
                pub(super) notice_seq: i64,
            }

            pub(super) fn counters(d: &Device) -> StoreResult<Counters> {
                Ok(Counters {
                    last: to_i64(d.last_counter, "last_counter")?,
                    pending: to_i64(d.pending_counter, "pending_counter")?,
                    retired: to_i64(d.retired_counter, "retired_counter")?,
                    lease_seq: to_i64(d.lease_seq, "lease_seq")?,
                    notice_seq: to_i64(d.notice_seq, "notice_seq")?,
                })
            }

            pub(super) async fn insert_device(
                conn: &mut Conn,
                d: &Device,
                c: &Counters,
            ) -> Result<(), sqlx::Error> {
                let (amount, currency, since) = arrears_columns(d.arrears.as_ref());
                sqlx::query(sql::INSERT_DEVICE)
                    .bind(d.id.to_string())
                    .bind(d.lender_id.to_string())
                    .bind(d.imei.as_str())
                    .bind(d.imei2.as_ref().map(Imei::as_str))
                    .bind(d.serial.as_deref())
                    .bind(d.model.as_deref())
                    .bind(d.state.as_str())
                    .bind(d.key_status.as_str())
                    .bind(d.device_key.as_ref().map(|k| &k[..]))
                    .bind(d.pending_key.as_ref().map(|k| &k[..]))
                    .bind(c.last)
                    .bind(c.pending)
                    .bind(d.retired_key.as_ref().map(|k| &k[..]))
                    .bind(c.retired)
                    .bind(c.lease_seq)
                    .bind(d.last_seen_at.map(Timestamp::as_millis))
                    .bind(d.enrolled_at.as_millis())
                    .bind(d.updated_at.as_millis())
                    .bind(d.version)
                    .bind(i64::from(d.policy_level.code()))
                    .bind(c.notice_seq)
                    .bind(d.policy_level_since.as_millis())
                    .bind(amount)
                    .bind(currency)
                    .bind(since)
                    .execute(conn)
                    .await?;
                Ok(())
            }

            pub(super) async fn insert_command(conn: &mut Conn, c: &Command) -> StoreResult<()> {
                sqlx::query(sql::INSERT_COMMAND)
                    .bind(c.id.to_string())
                    .bind(c.device_id.to_string())
                    .bind(c.lender_id.to_string())
                    .bind(c.kind.as_str())
                    .bind(&c.reason)
                    .bind(c.status.as_str())
                    .bind(c.requested_by.to_text())
                    .bind(c.requested_at.as_millis())
                    .bind(c.effective_at.as_millis())
                    .bind(c.resolved_at.map(Timestamp::as_millis))
                    .execute(conn)
                    .await
                    .map_err(unique_as("command id"))?;
                Ok(())
            }

            pub(super) async fn insert_event(
                conn: &mut Conn,
                e: &TimelineEvent,
            ) -> StoreResult<()> {
                sqlx::query(sql::INSERT_EVENT)
                    .bind(e.id.to_string())
                    .bind(e.device_id.to_string())
                    .bind(e.lender_id.to_string())
                    .bind(e.at.as_millis())
                    .bind(e.kind.as_str())
                    .bind(e.actor.to_text())
                    .bind(e.reason.as_deref())
                    .bind(e.detail.as_deref())
                    .execute(conn)
                    .await
                    .map_err(unique_as("event id"))?;
                Ok(())
            }

            /// Another active enrollment's IMEIs clashing with `d`'s, if any, and which of
            /// `d`'s IMEIs is the taken one.
            pub(super) async fn imei_clash(
                conn: &mut Conn,
                d: &Device,
            ) -> StoreResult<Option<Imei>> {
                let row: Option<(String, Option<String>)> = sqlx::query_as(sql::ACTIVE_IMEI_CLASH)
                    .bind(d.id.to_string())
                    .bind(d.imei.as_str())
                    .bind(d.imei2.as_ref().map(Imei::as_str))
                    .fetch_optional(conn)
                    .await
                    .map_err(classify)?;
                Ok(row.map(|(imei, imei2)| {
                    let first = d.imei.as_str();
                    match d.imei2 {
                        Some(second) if imei != first && imei2.as_deref() != Some(first) => second,
                        _ => d.imei,
                    }
                }))
            }

            /// Pulls one of a lender's active contracts in to be evaluated no later than
            /// `at`, without bumping its version (see `sql::UPDATE_CONTRACTS_HEAD`). A closed or
            /// missing contract is left alone.
            pub(super) async fn wake_contract(
                conn: &mut Conn,
                lender: LenderId,
                contract: ContractId,
                at: Timestamp,
            ) -> StoreResult<()> {
                sqlx::query(sql::WAKE_CONTRACT)
                    .bind(at.as_millis())
                    .bind(contract.to_string())
                    .bind(lender.to_string())
                    .execute(conn)
                    .await
                    .map_err(classify)?;
                Ok(())
            }

            /// [`wake_contract`] for the device's active contract, if it has one.
            pub(super) async fn wake_device_contract(
                conn: &mut Conn,
                lender: LenderId,
                device: DeviceId,
                at: Timestamp,
            ) -> StoreResult<()> {
                sqlx::query(sql::WAKE_DEVICE_CONTRACT)
                    .bind(at.as_millis())
                    .bind(device.to_string())
                    .bind(lender.to_string())
                    .execute(conn)
                    .await
                    .map_err(classify)?;
                Ok(())
            }
        }
    };
}

pub(crate) use writes;
