//! The Android channel, per backend: the bodies of the `Store` methods that `impl_store!`
//! delegates to, expanded as a private module `android`. The tables are migration 0009.

pub(crate) const SETTINGS: &str =
    "SELECT lender_id, settings, key_hash, updated_at FROM android_settings WHERE lender_id = $1";

pub(crate) const UPDATE_SETTINGS: &str =
    "UPDATE android_settings SET settings = $2, updated_at = $3 WHERE lender_id = $1";

pub(crate) const INSERT_SETTINGS: &str = "INSERT INTO android_settings \
     (lender_id, settings, key_hash, updated_at) VALUES ($1, $2, NULL, $3)";

pub(crate) const SET_KEY: &str =
    "UPDATE android_settings SET key_hash = $2, updated_at = $3 WHERE lender_id = $1";

pub(crate) const LENDER_BY_KEY: &str = "SELECT lender_id FROM android_settings WHERE key_hash = $1";

pub(crate) const DEVICE: &str = "SELECT device_id, lender_id, config, provision_state, \
     failing_since, last_checkin_at, paused_at, fcm_token, registered_identifier, \
     program_complete_at, updated_at FROM android_devices WHERE device_id = $1";

pub(crate) const DEVICE_OWNED: &str = "SELECT device_id, lender_id, config, provision_state, \
     failing_since, last_checkin_at, paused_at, fcm_token, registered_identifier, \
     program_complete_at, updated_at FROM android_devices WHERE device_id = $1 AND lender_id = $2";

/// The lender's half of a record (`AndroidPart::Config`).
pub(crate) const UPDATE_DEVICE_CONFIG: &str = "UPDATE android_devices SET config = $3, \
     updated_at = $4 WHERE device_id = $1 AND lender_id = $2";

/// The phone's half of a record (`AndroidPart::Phone`).
pub(crate) const UPDATE_DEVICE_PHONE: &str = "UPDATE android_devices SET \
     provision_state = $3, failing_since = $4, last_checkin_at = $5, paused_at = $6, \
     fcm_token = $7, registered_identifier = $8, program_complete_at = $9, updated_at = $10 \
     WHERE device_id = $1 AND lender_id = $2";

pub(crate) const INSERT_DEVICE: &str = "INSERT INTO android_devices (device_id, lender_id, \
     config, provision_state, failing_since, last_checkin_at, paused_at, fcm_token, \
     registered_identifier, program_complete_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// A module `android` of async functions taking the backend's pool.
macro_rules! android {
    ($db:ty) => {
        mod android {
            use super::writes::insert_event;
            use lienlock_domain::android::{AndroidSettings, ProvisionState};
            use lienlock_domain::{DeviceId, LenderCtx, LenderId, Timestamp};
            use lienlock_store::{
                AndroidDeviceRecord, AndroidPart, AndroidSettingsRecord, Device, StoreError,
                StoreResult, TimelineEvent,
            };
            use $crate::error::{classify, unique_as};
            use $crate::rows::DeviceRow;
            use $crate::sql;
            use $crate::store_android as q;

            type Pool = sqlx::Pool<$db>;
            type SettingsRow = (String, String, Option<Vec<u8>>, i64);
            type DeviceRowA = (
                String,
                String,
                String,
                String,
                Option<i64>,
                Option<i64>,
                Option<i64>,
                Option<String>,
                Option<String>,
                Option<i64>,
                i64,
            );

            fn corrupt(table: &'static str, why: String) -> StoreError {
                StoreError::Corrupt { table, why }
            }

            pub(super) async fn settings(
                pool: &Pool,
                lender: LenderId,
            ) -> StoreResult<Option<AndroidSettingsRecord>> {
                let row: Option<SettingsRow> = sqlx::query_as(q::SETTINGS)
                    .bind(lender.to_string())
                    .fetch_optional(pool)
                    .await
                    .map_err(classify)?;
                row.map(|(lender, settings, key, at)| {
                    let c = |why: String| corrupt("android_settings", why);
                    Ok(AndroidSettingsRecord {
                        lender_id: lender
                            .parse()
                            .map_err(|e| c(format!("lender_id {lender:?}: {e}")))?,
                        settings: serde_json::from_str(&settings)
                            .map_err(|e| c(format!("settings: {e}")))?,
                        key_hash: key
                            .map(|k| {
                                let n = k.len();
                                k.try_into()
                                    .map_err(|_| c(format!("key_hash has {n} bytes")))
                            })
                            .transpose()?,
                        updated_at: Timestamp::from_millis(at),
                    })
                })
                .transpose()
            }

            pub(super) async fn set_settings(
                pool: &Pool,
                ctx: &LenderCtx,
                settings: &AndroidSettings,
                at: Timestamp,
            ) -> StoreResult<()> {
                let json = serde_json::to_string(settings)
                    .map_err(|e| StoreError::Backend(format!("android settings: {e}")))?;
                let _turn = crate::write_turn::take(pool).await;
                let mut tx = pool.begin().await.map_err(classify)?;
                let updated = sqlx::query(q::UPDATE_SETTINGS)
                    .bind(ctx.lender_id.to_string())
                    .bind(&json)
                    .bind(at.as_millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?
                    .rows_affected();
                if updated == 0 {
                    sqlx::query(q::INSERT_SETTINGS)
                        .bind(ctx.lender_id.to_string())
                        .bind(&json)
                        .bind(at.as_millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(unique_as("android settings"))?;
                }
                tx.commit().await.map_err(classify)
            }

            pub(super) async fn set_key(
                pool: &Pool,
                ctx: &LenderCtx,
                hash: &[u8; 32],
                at: Timestamp,
            ) -> StoreResult<bool> {
                let _turn = crate::write_turn::take(pool).await;
                let n = sqlx::query(q::SET_KEY)
                    .bind(ctx.lender_id.to_string())
                    .bind(&hash[..])
                    .bind(at.as_millis())
                    .execute(pool)
                    .await
                    .map_err(unique_as("android key"))?
                    .rows_affected();
                Ok(n == 1)
            }

            pub(super) async fn lender_by_key(
                pool: &Pool,
                hash: &[u8; 32],
            ) -> StoreResult<Option<LenderId>> {
                let row: Option<(String,)> = sqlx::query_as(q::LENDER_BY_KEY)
                    .bind(&hash[..])
                    .fetch_optional(pool)
                    .await
                    .map_err(classify)?;
                row.map(|(l,)| {
                    l.parse()
                        .map_err(|e| corrupt("android_settings", format!("lender_id {l:?}: {e}")))
                })
                .transpose()
            }

            pub(super) async fn device(
                pool: &Pool,
                device: DeviceId,
                lender: Option<LenderId>,
            ) -> StoreResult<Option<AndroidDeviceRecord>> {
                let row: Option<DeviceRowA> = match lender {
                    Some(l) => {
                        sqlx::query_as(q::DEVICE_OWNED)
                            .bind(device.to_string())
                            .bind(l.to_string())
                            .fetch_optional(pool)
                            .await
                    }
                    None => {
                        sqlx::query_as(q::DEVICE)
                            .bind(device.to_string())
                            .fetch_optional(pool)
                            .await
                    }
                }
                .map_err(classify)?;
                row.map(decode).transpose()
            }

            fn decode(row: DeviceRowA) -> StoreResult<AndroidDeviceRecord> {
                let c = |why: String| corrupt("android_devices", why);
                let ts = |v: Option<i64>| v.map(Timestamp::from_millis);
                let (dev, lender, config, state, failing, checkin, paused, fcm, reg, done, at) =
                    row;
                Ok(AndroidDeviceRecord {
                    device_id: dev
                        .parse()
                        .map_err(|e| c(format!("device_id {dev:?}: {e}")))?,
                    lender_id: lender
                        .parse()
                        .map_err(|e| c(format!("lender_id {lender:?}: {e}")))?,
                    config: serde_json::from_str(&config).map_err(|e| c(format!("config: {e}")))?,
                    provision_state: ProvisionState::parse(&state)
                        .ok_or_else(|| c(format!("provision_state {state:?}")))?,
                    failing_since: ts(failing),
                    last_checkin_at: ts(checkin),
                    paused_at: ts(paused),
                    fcm_token: fcm,
                    registered_identifier: reg,
                    program_complete_at: ts(done),
                    updated_at: Timestamp::from_millis(at),
                })
            }

            pub(super) async fn save_device(
                pool: &Pool,
                r: &AndroidDeviceRecord,
                part: AndroidPart,
                events: &[TimelineEvent],
            ) -> StoreResult<()> {
                if events.iter().any(|e| e.device_id != r.device_id) {
                    return Err(StoreError::Backend(
                        "an android event names another device".into(),
                    ));
                }
                let config = serde_json::to_string(&r.config)
                    .map_err(|e| StoreError::Backend(format!("android config: {e}")))?;
                let _turn = crate::write_turn::take(pool).await;
                let mut tx = pool.begin().await.map_err(classify)?;
                // The device row's lock first, as `append_events` takes it, so the device's
                // events commit in `seq` order; no row: not the lender's device.
                let owned = sqlx::query(sql::TOUCH_DEVICE_OWNED)
                    .bind(r.device_id.to_string())
                    .bind(r.lender_id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?
                    .rows_affected();
                if owned == 0 {
                    return Err(StoreError::NotFound("device"));
                }
                let (id, lender) = (r.device_id.to_string(), r.lender_id.to_string());
                let updated = match part {
                    AndroidPart::Config => sqlx::query(q::UPDATE_DEVICE_CONFIG)
                        .bind(&id)
                        .bind(&lender)
                        .bind(&config),
                    AndroidPart::Phone => bind_phone(
                        sqlx::query(q::UPDATE_DEVICE_PHONE).bind(&id).bind(&lender),
                        r,
                    ),
                }
                .bind(r.updated_at.as_millis())
                .execute(&mut *tx)
                .await
                .map_err(classify)?
                .rows_affected();
                // None yet: the whole record. The device row's lock, taken above, keeps a
                // second first save waiting until this one commits; it then updates.
                if updated == 0 {
                    let insert = sqlx::query(q::INSERT_DEVICE)
                        .bind(&id)
                        .bind(&lender)
                        .bind(&config);
                    bind_phone(insert, r)
                        .bind(r.updated_at.as_millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                }
                for e in events {
                    insert_event(&mut tx, e).await?;
                }
                tx.commit().await.map_err(classify)
            }

            type Q<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;

            /// Binds the phone's half of `r`, in the order `UPDATE_DEVICE_PHONE` and
            /// `INSERT_DEVICE` both list it (then `updated_at`).
            fn bind_phone<'q>(q: Q<'q>, r: &'q AndroidDeviceRecord) -> Q<'q> {
                let ms = |t: Option<Timestamp>| t.map(Timestamp::as_millis);
                q.bind(r.provision_state.as_str())
                    .bind(ms(r.failing_since))
                    .bind(ms(r.last_checkin_at))
                    .bind(ms(r.paused_at))
                    .bind(r.fcm_token.as_deref())
                    .bind(r.registered_identifier.as_deref())
                    .bind(ms(r.program_complete_at))
            }

            pub(super) async fn device_by_serial(
                pool: &Pool,
                serial: &str,
            ) -> StoreResult<Option<Device>> {
                let row: Option<DeviceRow> = sqlx::query_as(sql::DEVICE_BY_SERIAL)
                    .bind(serial)
                    .fetch_optional(pool)
                    .await
                    .map_err(classify)?;
                let mut device = row.map(DeviceRow::decode).transpose()?;
                $crate::sqlite_unmerged::Overlay::overlay(pool, device.as_mut());
                Ok(device)
            }
        }
    };
}

pub(crate) use android;
