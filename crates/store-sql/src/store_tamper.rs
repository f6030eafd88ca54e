//! Tamper signals, per backend: the bodies of the two `Store` methods that `impl_store!`
//! delegates to, expanded as a private module `tamper`. Statements live here so the
//! feature stays in one file (one text for both backends); the table is migration 0008.

/// Skips a signal already recorded, which is what makes a repeated one land once.
pub(crate) const INSERT: &str = "INSERT INTO tamper_signals \
     (lender_id, device_id, device_key, kind, seq, seen_wall, seen_trusted, value, recorded_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (device_id, device_key, kind, seq) DO NOTHING";

/// Completed with `(id, ...)` and [`OF_DEVICES_ORDER`].
pub(crate) const OF_DEVICES: &str = "SELECT lender_id, device_id, device_key, kind, seq, \
     seen_wall, seen_trusted, value, recorded_at FROM tamper_signals WHERE device_id IN ";

pub(crate) const OF_DEVICES_ORDER: &str = " ORDER BY device_id, recorded_at, kind, seq";

/// Ids per `IN (...)` list, far below either backend's parameter limit.
pub(crate) const CHUNK: usize = 1000;

/// A module `tamper` of async functions taking the backend's pool.
macro_rules! tamper {
    ($db:ty) => {
        mod tamper {
            use super::writes::{insert_event, wake_device_contract};
            use lienlock_domain::policy::TamperKind;
            use lienlock_domain::{DeviceId, Timestamp};
            use lienlock_store::{StoreError, StoreResult, TamperRecord, TimelineEvent};
            use $crate::error::classify;
            use $crate::sql;
            use $crate::store_tamper as q;

            type Pool = sqlx::Pool<$db>;
            type Row = (String, String, Vec<u8>, String, i64, i64, i64, i64, i64);

            pub(super) async fn record(
                pool: &Pool,
                signals: &[(TamperRecord, TimelineEvent)],
                wake_at: Timestamp,
            ) -> StoreResult<usize> {
                if signals.is_empty() {
                    return Ok(0);
                }
                for (r, e) in signals {
                    if r.device_id != e.device_id || r.lender_id != e.lender_id {
                        return Err(StoreError::Backend(
                            "a tamper signal's event names another device".into(),
                        ));
                    }
                }
                let _turn = crate::write_turn::take(pool).await;
                let mut tx = pool.begin().await.map_err(classify)?;
                // The device rows' locks first, as `append_events` takes them, so one
                // device's events commit in `seq` order. Sorted: no deadlock.
                let mut devices: Vec<(DeviceId, lienlock_domain::LenderId)> = signals
                    .iter()
                    .map(|(r, _)| (r.device_id, r.lender_id))
                    .collect();
                devices.sort_by_key(|(d, _)| *d);
                devices.dedup();
                for (device, _) in &devices {
                    sqlx::query(sql::TOUCH_DEVICE)
                        .bind(device.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                }
                let mut new = 0;
                let mut woken = Vec::new();
                for (r, event) in signals {
                    let inserted = sqlx::query(q::INSERT)
                        .bind(r.lender_id.to_string())
                        .bind(r.device_id.to_string())
                        .bind(&r.device_key[..])
                        .bind(r.kind.as_str())
                        .bind(r.seq)
                        .bind(r.seen_wall.as_millis())
                        .bind(r.seen_trusted.as_millis())
                        .bind(r.value)
                        .bind(r.recorded_at.as_millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?
                        .rows_affected();
                    if inserted == 1 {
                        insert_event(&mut tx, event).await?;
                        new += 1;
                        woken.push((r.lender_id, r.device_id));
                    }
                }
                woken.dedup();
                for (lender, device) in woken {
                    wake_device_contract(&mut tx, lender, device, wake_at).await?;
                }
                tx.commit().await.map_err(classify)?;
                Ok(new)
            }

            pub(super) async fn of_devices(
                pool: &Pool,
                devices: &[DeviceId],
            ) -> StoreResult<Vec<TamperRecord>> {
                let mut out = Vec::new();
                for chunk in devices.chunks(q::CHUNK) {
                    let mut b = sqlx::QueryBuilder::<$db>::new(q::OF_DEVICES);
                    b.push("(");
                    let mut list = b.separated(", ");
                    for d in chunk {
                        list.push_bind(d.to_string());
                    }
                    b.push(")").push(q::OF_DEVICES_ORDER);
                    let rows: Vec<Row> =
                        b.build_query_as().fetch_all(pool).await.map_err(classify)?;
                    for row in rows {
                        out.push(decode(row)?);
                    }
                }
                Ok(out)
            }

            fn decode(row: Row) -> StoreResult<TamperRecord> {
                let corrupt = |why: String| StoreError::Corrupt {
                    table: "tamper_signals",
                    why,
                };
                let (lender, device, key, kind, seq, wall, trusted, value, recorded) = row;
                let key_len = key.len();
                Ok(TamperRecord {
                    lender_id: lender
                        .parse()
                        .map_err(|e| corrupt(format!("lender_id {lender:?}: {e}")))?,
                    device_id: device
                        .parse()
                        .map_err(|e| corrupt(format!("device_id {device:?}: {e}")))?,
                    device_key: key
                        .try_into()
                        .map_err(|_| corrupt(format!("device_key has {key_len} bytes")))?,
                    kind: TamperKind::parse(&kind)
                        .ok_or_else(|| corrupt(format!("unknown kind {kind:?}")))?,
                    seq,
                    seen_wall: Timestamp::from_millis(wall),
                    seen_trusted: Timestamp::from_millis(trusted),
                    value,
                    recorded_at: Timestamp::from_millis(recorded),
                })
            }
        }
    };
}

pub(crate) use tamper;
