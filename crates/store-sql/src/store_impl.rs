//! The one implementation of [`lienlock_store::Store`], stamped out once per backend.
//!
//! sqlx's executor traits are generic over the database, but writing this code generically
//! needs a wall of higher-ranked bounds (`for<'c> &'c mut DB::Connection: Executor<'c>`,
//! `String: Encode<'q, DB> + Type<DB>`, ... for every bound type). A macro instead expands
//! the same source against concrete pool types, so each backend's copy is type-checked on its
//! own and the logic cannot diverge. What really differs between backends stays outside:
//! DDL (the migrations), error codes (`crate::error`), and `lock_imeis`, the hook that
//! serializes concurrent enrollments of the same IMEI.

/// `impl Store for $store`, where `$store` has a `pool: sqlx::Pool<$db>` field and `$lock`
/// is `async fn(&mut <$db as sqlx::Database>::Connection, &[&Imei]) -> StoreResult<()>`.
/// `$save_devices` (`async fn(&$store, &[DeviceWrite])`) and `$direct_checkin_row`
/// (`async fn(&$store, &Imei) -> Option<StoreResult<Option<CheckinRow>>>`, `None` to read
/// with the general statement) let SQLite take check-ins' writes and reads off sqlx
/// (`sqlite_writer`, `sqlite_reader`) and PostgreSQL make many reads in one statement
/// (`postgres_reader`); `$cached_checkin_view` (`fn(&$store, &Imei) -> Option<(CheckinView,
/// bool)>`) answers a check-in's read from memory where the backend keeps views
/// (`sqlite_views`), which `$warm_checkin_views` (`async fn(&$store) -> StoreResult<usize>`)
/// loads.
macro_rules! impl_store {
    (
        store: $store:ty,
        db: $db:ty,
        lock_imeis: $lock:path,
        lock_devices: $lock_devices:ident,
        save_devices: $save_devices:path,
        direct_checkin_row: $direct_checkin_row:path,
        cached_checkin_view: $cached_checkin_view:path,
        warm_checkin_views: $warm_checkin_views:path,
        notify: $notify:path,
        listen: $listen:path,
        scheduler_turn: $turn:path $(,)?
    ) => {
        $crate::store_writes::writes!($db);
        $crate::store_contracts::contracts!($db);
        $crate::store_notices::notices!($db);
        $crate::store_batch::batch!($db, $lock_devices);
        $crate::store_facts::facts!($db);
        $crate::store_codes::codes!($db);
        $crate::store_console::console!($db);
        $crate::store_audit::audit!($db);
        $crate::store_tamper::tamper!($db);
        $crate::store_android::android!($db);

        const _: () = {
            use self::writes::{counters, imei_clash, insert_device, insert_event, insert_key};
            use lienlock_domain::{
                ApiKeyId, CodeFormat, CommandStatus, ContractId, DeviceId, DisputeId, Imei,
                LenderCtx, LenderId, PaymentId, PolicySettings, Timestamp,
            };
            use lienlock_store::{
                ApiKeyRecord, CheckinView, CodeInsert, Command, ContractRecord, Device, DeviceQuery,
                DeviceWrite, DisputeRecord, Lender, NoticeRecord, PaymentInsert, PaymentRecord,
                Store, StoreError, StoreResult, TimelineEvent, UnlockCodeRecord,
            };
            use $crate::error::{classify, is_unique_violation, unique_as};
            use $crate::sqlite_unmerged::Overlay;
            use $crate::rows::{
                decode_all, policy_json, profile_json, ApiKeyRow, CheckinRow, CommandRow, DeviceRow,
                EventRow, LenderRow,
            };
            use $crate::sql;

            use self::contracts::page;

            #[async_trait::async_trait]
            impl Store for $store {
                async fn notify_devices(&self, devices: &[DeviceId]) -> StoreResult<()> {
                    if devices.is_empty() {
                        return Ok(());
                    }
                    $notify(self, devices).await
                }

                async fn listen_wakes(&self) -> StoreResult<lienlock_store::WakeReceiver> {
                    $listen(self).await
                }

                async fn scheduler_turn(&self) -> StoreResult<bool> {
                    $turn(self).await
                }

                async fn record_tamper_unscoped(
                    &self,
                    signals: &[(lienlock_store::TamperRecord, TimelineEvent)],
                    wake_at: Timestamp,
                ) -> StoreResult<usize> {
                    tamper::record(&self.pool, signals, wake_at).await
                }

                async fn android_settings(
                    &self,
                    ctx: &LenderCtx,
                ) -> StoreResult<Option<lienlock_store::AndroidSettingsRecord>> {
                    android::settings(&self.pool, ctx.lender_id).await
                }

                async fn android_settings_unscoped(
                    &self,
                    lender: LenderId,
                ) -> StoreResult<Option<lienlock_store::AndroidSettingsRecord>> {
                    android::settings(&self.pool, lender).await
                }

                async fn set_android_settings(
                    &self,
                    ctx: &LenderCtx,
                    settings: &lienlock_domain::android::AndroidSettings,
                    at: Timestamp,
                ) -> StoreResult<()> {
                    android::set_settings(&self.pool, ctx, settings, at).await
                }

                async fn set_android_key(
                    &self,
                    ctx: &LenderCtx,
                    hash: &[u8; 32],
                    at: Timestamp,
                ) -> StoreResult<bool> {
                    android::set_key(&self.pool, ctx, hash, at).await
                }

                async fn android_lender_by_key_unscoped(
                    &self,
                    hash: &[u8; 32],
                ) -> StoreResult<Option<LenderId>> {
                    android::lender_by_key(&self.pool, hash).await
                }

                async fn android_device(
                    &self,
                    ctx: &LenderCtx,
                    device: DeviceId,
                ) -> StoreResult<Option<lienlock_store::AndroidDeviceRecord>> {
                    android::device(&self.pool, device, Some(ctx.lender_id)).await
                }

                async fn android_device_unscoped(
                    &self,
                    device: DeviceId,
                ) -> StoreResult<Option<lienlock_store::AndroidDeviceRecord>> {
                    android::device(&self.pool, device, None).await
                }

                async fn save_android_device(
                    &self,
                    record: &lienlock_store::AndroidDeviceRecord,
                    part: lienlock_store::AndroidPart,
                    events: &[TimelineEvent],
                ) -> StoreResult<()> {
                    android::save_device(&self.pool, record, part, events).await
                }

                async fn device_by_serial_unscoped(
                    &self,
                    serial: &str,
                ) -> StoreResult<Option<Device>> {
                    android::device_by_serial(&self.pool, serial).await
                }

                async fn tamper_unscoped(
                    &self,
                    devices: &[DeviceId],
                ) -> StoreResult<Vec<lienlock_store::TamperRecord>> {
                    tamper::of_devices(&self.pool, devices).await
                }

                async fn ping(&self) -> StoreResult<()> {
                    let _turn = crate::write_turn::take(&self.pool).await;
                    sqlx::query(sql::PING)
                        .execute(&self.pool)
                        .await
                        .map_err(classify)?;
                    Ok(())
                }

                async fn create_lender(
                    &self,
                    lender: &Lender,
                    first_key: &ApiKeyRecord,
                ) -> StoreResult<()> {
                    let profile = profile_json(&lender.lock_profile)?;
                    // Dropping an uncommitted transaction rolls it back, so every `?` below
                    // leaves nothing behind.
                    let _turn = crate::write_turn::take(&self.pool).await;
                    let mut tx = self.pool.begin().await.map_err(classify)?;
                    sqlx::query(sql::INSERT_LENDER)
                        .bind(lender.id.to_string())
                        .bind(&lender.name)
                        .bind(&lender.support_phone)
                        .bind(&lender.support_url)
                        .bind(&lender.lock_message)
                        .bind(profile)
                        .bind(lender.created_at.as_millis())
                        .bind(&lender.compliance_profile)
                        .bind(policy_json(lender.policy.as_ref())?)
                        .execute(&mut *tx)
                        .await
                        .map_err(unique_as("lender id"))?;
                    insert_key(&mut tx, first_key).await?;
                    tx.commit().await.map_err(classify)
                }

                async fn set_lender_policy(
                    &self,
                    ctx: &LenderCtx,
                    compliance_profile: &str,
                    policy: Option<&PolicySettings>,
                    at: Timestamp,
                ) -> StoreResult<()> {
                    let _turn = crate::write_turn::take(&self.pool).await;
                    let mut tx = self.pool.begin().await.map_err(classify)?;
                    sqlx::query(sql::SET_LENDER_POLICY)
                        .bind(compliance_profile)
                        .bind(policy_json(policy)?)
                        .bind(ctx.lender_id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                    sqlx::query(sql::PULL_IN_LENDER_CONTRACTS)
                        .bind(at.as_millis())
                        .bind(ctx.lender_id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                    tx.commit().await.map_err(classify)
                }

                async fn add_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
                    let _turn = crate::write_turn::take(&self.pool).await;
                    let mut conn = self.pool.acquire().await.map_err(classify)?;
                    insert_key(&mut conn, key).await
                }

                async fn find_api_key(&self, id: ApiKeyId) -> StoreResult<Option<ApiKeyRecord>> {
                    let row: Option<ApiKeyRow> = sqlx::query_as(sql::API_KEY_BY_ID)
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(classify)?;
                    row.map(ApiKeyRow::decode).transpose()
                }

                async fn lender(&self, ctx: &LenderCtx) -> StoreResult<Lender> {
                    // An authenticated context names a lender that exists (api_keys has a
                    // foreign key to it), so a miss is an inconsistency, not a 404.
                    self.lender_by_id(ctx.lender_id).await?.ok_or_else(|| {
                        StoreError::Backend(format!("lender {} does not exist", ctx.lender_id))
                    })
                }

                async fn lender_by_id(&self, id: LenderId) -> StoreResult<Option<Lender>> {
                    let row: Option<LenderRow> = sqlx::query_as(sql::LENDER_BY_ID)
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(classify)?;
                    row.map(LenderRow::decode).transpose()
                }

                async fn list_lenders(&self) -> StoreResult<Vec<Lender>> {
                    let rows: Vec<LenderRow> = sqlx::query_as(sql::ALL_LENDERS)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(classify)?;
                    decode_all(rows, LenderRow::decode)
                }

                async fn enroll_device(
                    &self,
                    ctx: &LenderCtx,
                    device: &Device,
                    event: &TimelineEvent,
                ) -> StoreResult<()> {
                    if device.lender_id != ctx.lender_id || event.lender_id != ctx.lender_id {
                        return Err(StoreError::Backend("tenant mismatch".into()));
                    }
                    if event.device_id != device.id {
                        return Err(StoreError::Backend(
                            "the enrollment event names another device".into(),
                        ));
                    }
                    let c = counters(device)?;
                    let _turn = crate::write_turn::take(&self.pool).await;
                    let mut tx = self.pool.begin().await.map_err(classify)?;
                    let imeis: Vec<&Imei> = std::iter::once(&device.imei)
                        .chain(device.imei2.as_ref())
                        .collect();
                    $lock(&mut tx, &imeis).await?;
                    // Insert first, check second: the insert takes SQLite's write lock, so
                    // the check below cannot be overtaken by another enrollment.
                    if let Err(e) = insert_device(&mut tx, device, &c).await {
                        if !is_unique_violation(&e) {
                            return Err(classify(e));
                        }
                        drop(tx);
                        // A duplicate id or a taken IMEI? Ask outside the failed transaction.
                        let mut conn = self.pool.acquire().await.map_err(classify)?;
                        let exists = sqlx::query(sql::DEVICE_EXISTS)
                            .bind(device.id.to_string())
                            .fetch_optional(&mut *conn)
                            .await
                            .map_err(classify)?;
                        if exists.is_some() {
                            return Err(StoreError::Duplicate("device id"));
                        }
                        let taken = imei_clash(&mut conn, device).await?.unwrap_or(device.imei);
                        return Err(StoreError::ImeiTaken(taken.to_string()));
                    }
                    if let Some(taken) = imei_clash(&mut tx, device).await? {
                        return Err(StoreError::ImeiTaken(taken.to_string()));
                    }
                    insert_event(&mut tx, event).await?;
                    tx.commit().await.map_err(classify)
                }

                async fn device(
                    &self,
                    ctx: &LenderCtx,
                    id: DeviceId,
                ) -> StoreResult<Option<Device>> {
                    let row: Option<DeviceRow> = sqlx::query_as(sql::DEVICE_SCOPED)
                        .bind(id.to_string())
                        .bind(ctx.lender_id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(classify)?;
                    let mut device = row.map(DeviceRow::decode).transpose()?;
                    self.pool.overlay(device.as_mut());
                    Ok(device)
                }

                async fn list_devices(
                    &self,
                    ctx: &LenderCtx,
                    query: &DeviceQuery,
                ) -> StoreResult<Vec<Device>> {
                    if let Some(range) = query.overdue {
                        return console::list_overdue(
                            &self.pool,
                            ctx,
                            query,
                            range,
                            page(query.limit),
                        )
                        .await;
                    }
                    let sql = sql::list_devices(query.state.is_some(), query.after.is_some());
                    let mut q = sqlx::query_as(sql).bind(ctx.lender_id.to_string());
                    if let Some(state) = query.state {
                        q = q.bind(state.as_str());
                    }
                    if let Some(after) = query.after {
                        q = q.bind(after.to_string());
                    }
                    let rows: Vec<DeviceRow> = q
                        .bind(page(query.limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(classify)?;
                    let mut devices = decode_all(rows, DeviceRow::decode)?;
                    self.pool.overlay(devices.iter_mut());
                    Ok(devices)
                }

                async fn device_for_checkin(&self, imei: &Imei) -> StoreResult<Option<Device>> {
                    let row: Option<DeviceRow> = sqlx::query_as(sql::DEVICE_FOR_CHECKIN)
                        .bind(imei.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(classify)?;
                    let mut device = row.map(DeviceRow::decode).transpose()?;
                    self.pool.overlay(device.as_mut());
                    Ok(device)
                }

                async fn warm_checkin_views(&self) -> StoreResult<usize> {
                    $warm_checkin_views(self).await
                }

                async fn checkin_view(&self, imei: &Imei) -> StoreResult<Option<CheckinView>> {
                    let (mut view, has_pending) = match $cached_checkin_view(self, imei) {
                        Some(kept) => kept,
                        None => {
                            let row: Option<CheckinRow> =
                                match $direct_checkin_row(self, imei).await {
                                    Some(row) => row?,
                                    None => sqlx::query_as(sql::CHECKIN_VIEW)
                                        .bind(imei.as_str())
                                        .fetch_optional(&self.pool)
                                        .await
                                        .map_err(classify)?,
                                };
                            match row.map(CheckinRow::decode).transpose()? {
                                Some(mut read) => {
                                    self.pool.overlay(Some(&mut read.0.device));
                                    read
                                }
                                None => return Ok(None),
                            }
                        }
                    };
                    // Rare (a lock or release scheduled ahead), so not worth widening the
                    // common statement for.
                    if has_pending {
                        view.pending_commands =
                            self.pending_commands_unscoped(view.device.id).await?;
                    }
                    Ok(Some(view))
                }

                async fn device_unscoped(&self, id: DeviceId) -> StoreResult<Option<Device>> {
                    let row: Option<DeviceRow> = sqlx::query_as(sql::DEVICE_UNSCOPED)
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(classify)?;
                    let mut device = row.map(DeviceRow::decode).transpose()?;
                    self.pool.overlay(device.as_mut());
                    Ok(device)
                }

                async fn device_by_imei(
                    &self,
                    ctx: &LenderCtx,
                    imei: &Imei,
                ) -> StoreResult<Option<Device>> {
                    let row: Option<DeviceRow> = sqlx::query_as(sql::DEVICE_BY_IMEI)
                        .bind(imei.as_str())
                        .bind(ctx.lender_id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(classify)?;
                    let mut device = row.map(DeviceRow::decode).transpose()?;
                    self.pool.overlay(device.as_mut());
                    Ok(device)
                }

                async fn save_device(&self, write: &DeviceWrite) -> StoreResult<()> {
                    let _turn = crate::write_turn::take(&self.pool).await;
                    let mut tx = self.pool.begin().await.map_err(classify)?;
                    batch::write_device(&self.pool, &mut tx, write).await?;
                    tx.commit().await.map_err(classify)?;
                    crate::count_committed([write]);
                    Ok(())
                }

                async fn save_devices(
                    &self,
                    writes: &[DeviceWrite],
                ) -> StoreResult<Vec<StoreResult<()>>> {
                    let results = $save_devices(self, writes).await?;
                    crate::count_committed(
                        writes
                            .iter()
                            .zip(&results)
                            .filter(|(_, r)| r.is_ok())
                            .map(|(w, _)| w),
                    );
                    Ok(results)
                }

                async fn append_events(&self, events: &[TimelineEvent]) -> StoreResult<()> {
                    if events.is_empty() {
                        return Ok(());
                    }
                    let _turn = crate::write_turn::take(&self.pool).await;
                    let mut tx = self.pool.begin().await.map_err(classify)?;
                    // Take each device's row lock first, as `save_device` does, so one
                    // device's events commit in `seq` order. Otherwise PostgreSQL could make
                    // a lower seq visible after a higher one, and a reader paging with
                    // `after_seq` would skip it. Sorted, so two callers cannot deadlock.
                    let mut devices: Vec<String> =
                        events.iter().map(|e| e.device_id.to_string()).collect();
                    devices.sort();
                    devices.dedup();
                    for device in devices {
                        sqlx::query(sql::TOUCH_DEVICE)
                            .bind(device)
                            .execute(&mut *tx)
                            .await
                            .map_err(classify)?;
                    }
                    for event in events {
                        insert_event(&mut tx, event).await?;
                    }
                    tx.commit().await.map_err(classify)
                }

                async fn timeline(
                    &self,
                    ctx: &LenderCtx,
                    device: DeviceId,
                    after_seq: Option<i64>,
                    limit: u32,
                ) -> StoreResult<Option<Vec<TimelineEvent>>> {
                    let owned = sqlx::query(sql::DEVICE_OWNED)
                        .bind(device.to_string())
                        .bind(ctx.lender_id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(classify)?;
                    if owned.is_none() {
                        return Ok(None);
                    }
                    let rows: Vec<EventRow> = sqlx::query_as(sql::TIMELINE)
                        .bind(device.to_string())
                        .bind(ctx.lender_id.to_string())
                        .bind(after_seq.unwrap_or(0)) // seq starts at 1 on both backends
                        .bind(page(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(classify)?;
                    decode_all(rows, EventRow::decode).map(Some)
                }

                async fn device_commands(
                    &self,
                    ctx: &LenderCtx,
                    device: DeviceId,
                    status: Option<CommandStatus>,
                ) -> StoreResult<Vec<Command>> {
                    let q = match status {
                        None => sqlx::query_as(sql::DEVICE_COMMANDS),
                        Some(_) => sqlx::query_as(sql::DEVICE_COMMANDS_IN_STATUS),
                    };
                    let mut q = q.bind(device.to_string()).bind(ctx.lender_id.to_string());
                    if let Some(status) = status {
                        q = q.bind(status.as_str());
                    }
                    let rows: Vec<CommandRow> = q.fetch_all(&self.pool).await.map_err(classify)?;
                    decode_all(rows, CommandRow::decode)
                }

                async fn pending_commands_unscoped(
                    &self,
                    device: DeviceId,
                ) -> StoreResult<Vec<Command>> {
                    let rows: Vec<CommandRow> = sqlx::query_as(sql::PENDING_COMMANDS)
                        .bind(device.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(classify)?;
                    decode_all(rows, CommandRow::decode)
                }

                async fn due_commands(
                    &self,
                    now: Timestamp,
                    limit: u32,
                ) -> StoreResult<Vec<Command>> {
                    if limit == 0 {
                        return Ok(Vec::new());
                    }
                    let rows: Vec<CommandRow> = sqlx::query_as(sql::DUE_COMMANDS)
                        .bind(now.as_millis())
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(classify)?;
                    decode_all(rows, CommandRow::decode)
                }

                // ---- contracts ----------------------------------------------------------

                async fn create_contract(
                    &self,
                    ctx: &LenderCtx,
                    contract: &ContractRecord,
                    event: &TimelineEvent,
                ) -> StoreResult<()> {
                    contracts::create_contract(&self.pool, ctx, contract, event).await
                }

                async fn contract(
                    &self,
                    ctx: &LenderCtx,
                    id: ContractId,
                ) -> StoreResult<Option<ContractRecord>> {
                    contracts::contract(&self.pool, ctx, id).await
                }

                async fn contract_for_device(
                    &self,
                    ctx: &LenderCtx,
                    device: DeviceId,
                ) -> StoreResult<Option<ContractRecord>> {
                    contracts::contract_for_device(&self.pool, ctx, device).await
                }

                async fn contract_by_reference(
                    &self,
                    ctx: &LenderCtx,
                    reference: &str,
                ) -> StoreResult<Option<ContractRecord>> {
                    contracts::contract_by_reference(&self.pool, ctx, reference).await
                }

                async fn list_contracts(
                    &self,
                    ctx: &LenderCtx,
                    after: Option<ContractId>,
                    limit: u32,
                ) -> StoreResult<Vec<ContractRecord>> {
                    contracts::list_contracts(&self.pool, ctx, after, limit).await
                }

                async fn contract_unscoped(
                    &self,
                    id: ContractId,
                ) -> StoreResult<Option<ContractRecord>> {
                    contracts::contract_unscoped(&self.pool, id).await
                }

                async fn active_contract_unscoped(
                    &self,
                    device: DeviceId,
                ) -> StoreResult<Option<ContractRecord>> {
                    contracts::active_contract(&self.pool, device).await
                }

                async fn due_contracts(
                    &self,
                    now: Timestamp,
                    limit: u32,
                ) -> StoreResult<Vec<ContractRecord>> {
                    facts::due_contracts(&self.pool, now, limit).await
                }

                async fn contract_facts_unscoped(
                    &self,
                    contracts: Vec<ContractRecord>,
                ) -> StoreResult<Vec<lienlock_store::ContractFacts>> {
                    facts::contract_facts(&self.pool, contracts).await
                }

                // ---- payments -----------------------------------------------------------

                async fn insert_payment(
                    &self,
                    ctx: &LenderCtx,
                    payment: &PaymentRecord,
                    wake_at: Timestamp,
                ) -> StoreResult<PaymentInsert> {
                    contracts::insert_payment(&self.pool, ctx, payment, wake_at, None).await
                }

                async fn insert_payment_with_event(
                    &self,
                    ctx: &LenderCtx,
                    payment: &PaymentRecord,
                    wake_at: Timestamp,
                    event: &TimelineEvent,
                ) -> StoreResult<PaymentInsert> {
                    contracts::insert_payment(&self.pool, ctx, payment, wake_at, Some(event)).await
                }

                async fn payment(
                    &self,
                    ctx: &LenderCtx,
                    id: PaymentId,
                ) -> StoreResult<Option<PaymentRecord>> {
                    let mut conn = self.pool.acquire().await.map_err(classify)?;
                    contracts::payment(&mut conn, ctx, id).await
                }

                async fn contract_payments(
                    &self,
                    ctx: &LenderCtx,
                    contract: ContractId,
                ) -> StoreResult<Vec<PaymentRecord>> {
                    contracts::contract_payments(&self.pool, Some(ctx), contract).await
                }

                async fn contract_payments_unscoped(
                    &self,
                    contract: ContractId,
                ) -> StoreResult<Vec<PaymentRecord>> {
                    contracts::contract_payments(&self.pool, None, contract).await
                }

                async fn unmatched_payments(
                    &self,
                    ctx: &LenderCtx,
                    after: Option<PaymentId>,
                    limit: u32,
                ) -> StoreResult<Vec<PaymentRecord>> {
                    contracts::unmatched_payments(&self.pool, ctx, after, limit).await
                }

                async fn assign_payment(
                    &self,
                    ctx: &LenderCtx,
                    payment: PaymentId,
                    contract: ContractId,
                    at: Timestamp,
                ) -> StoreResult<PaymentRecord> {
                    contracts::assign_payment(&self.pool, ctx, payment, contract, at).await
                }

                // ---- notices and disputes -----------------------------------------------

                async fn device_undelivered_notices(
                    &self,
                    device: DeviceId,
                    limit: u32,
                ) -> StoreResult<Vec<NoticeRecord>> {
                    notices::device_undelivered_notices(&self.pool, device, limit).await
                }

                async fn contract_notices(
                    &self,
                    contract: ContractId,
                ) -> StoreResult<Vec<NoticeRecord>> {
                    notices::contract_notices(&self.pool, contract).await
                }

                async fn device_notices(
                    &self,
                    ctx: &LenderCtx,
                    device: DeviceId,
                ) -> StoreResult<Option<Vec<NoticeRecord>>> {
                    notices::device_notices(&self.pool, ctx, device).await
                }

                async fn open_dispute(
                    &self,
                    ctx: &LenderCtx,
                    dispute: &DisputeRecord,
                    event: &TimelineEvent,
                ) -> StoreResult<()> {
                    notices::open_dispute(&self.pool, ctx, dispute, event).await
                }

                async fn open_dispute_from_device(
                    &self,
                    dispute: &DisputeRecord,
                    event: &TimelineEvent,
                ) -> StoreResult<()> {
                    // The shared code scopes by the context's lender only; the device's own
                    // lender is the tenant here, and no API key is involved.
                    let ctx = LenderCtx {
                        lender_id: dispute.lender_id,
                        role: lienlock_domain::Role::Support,
                        principal: lienlock_domain::Principal::ApiKey(ApiKeyId::from_uuid(
                            uuid::Uuid::nil(),
                        )),
                    };
                    notices::open_dispute(&self.pool, &ctx, dispute, event).await
                }

                async fn update_dispute(
                    &self,
                    ctx: &LenderCtx,
                    dispute: &DisputeRecord,
                    event: &TimelineEvent,
                ) -> StoreResult<()> {
                    notices::update_dispute(&self.pool, ctx, dispute, event).await
                }

                async fn dispute(
                    &self,
                    ctx: &LenderCtx,
                    id: DisputeId,
                ) -> StoreResult<Option<DisputeRecord>> {
                    notices::dispute(&self.pool, ctx, id).await
                }

                async fn device_disputes(
                    &self,
                    ctx: &LenderCtx,
                    device: DeviceId,
                ) -> StoreResult<Option<Vec<DisputeRecord>>> {
                    notices::device_disputes(&self.pool, ctx, device).await
                }

                async fn contract_disputes_unscoped(
                    &self,
                    contract: ContractId,
                ) -> StoreResult<Vec<DisputeRecord>> {
                    notices::contract_disputes(&self.pool, contract).await
                }

                // ---- offline unlock codes -----------------------------------------------

                async fn insert_unlock_code(
                    &self,
                    ctx: &LenderCtx,
                    code: &UnlockCodeRecord,
                    event: &TimelineEvent,
                ) -> StoreResult<CodeInsert> {
                    codes::insert_unlock_code(&self.pool, ctx, code, event).await
                }

                async fn last_code_counter(
                    &self,
                    device: DeviceId,
                    format: CodeFormat,
                ) -> StoreResult<u32> {
                    codes::last_code_counter(&self.pool, device, format).await
                }

                async fn device_codes(
                    &self,
                    ctx: &LenderCtx,
                    device: DeviceId,
                    limit: u32,
                ) -> StoreResult<Option<Vec<UnlockCodeRecord>>> {
                    codes::device_codes(&self.pool, ctx, device, limit).await
                }

                async fn code_for_payment(
                    &self,
                    ctx: &LenderCtx,
                    payment: PaymentId,
                ) -> StoreResult<Option<UnlockCodeRecord>> {
                    codes::code_for_payment(&self.pool, ctx, payment).await
                }

                async fn redeem_codes_unscoped(
                    &self,
                    device: DeviceId,
                    format: CodeFormat,
                    counters: &[u32],
                    at: Timestamp,
                ) -> StoreResult<Vec<UnlockCodeRecord>> {
                    codes::redeem_codes(&self.pool, device, format, counters, at).await
                }

                async fn device_code_format(
                    &self,
                    ctx: &LenderCtx,
                    device: DeviceId,
                ) -> StoreResult<Option<CodeFormat>> {
                    codes::device_code_format(&self.pool, ctx, device).await
                }

                async fn set_device_code_format(
                    &self,
                    ctx: &LenderCtx,
                    device: DeviceId,
                    format: CodeFormat,
                ) -> StoreResult<()> {
                    codes::set_device_code_format(&self.pool, ctx, device, format).await
                }

                async fn create_user(&self, user: &lienlock_store::UserRecord) -> StoreResult<()> {
                    console::create_user(&self.pool, user).await
                }

                async fn user_by_email_unscoped(
                    &self,
                    email: &str,
                ) -> StoreResult<Option<lienlock_store::UserRecord>> {
                    console::user_by_email(&self.pool, email).await
                }

                async fn disable_user_unscoped(
                    &self,
                    email: &str,
                    at: Timestamp,
                ) -> StoreResult<bool> {
                    console::disable_user(&self.pool, email, at).await
                }

                async fn list_users(
                    &self,
                    ctx: &LenderCtx,
                ) -> StoreResult<Vec<lienlock_store::UserRecord>> {
                    console::list_users(&self.pool, ctx).await
                }

                async fn create_session(
                    &self,
                    session: &lienlock_store::SessionRecord,
                ) -> StoreResult<()> {
                    console::create_session(&self.pool, session).await
                }

                async fn session_unscoped(
                    &self,
                    token_hash: &[u8; 32],
                ) -> StoreResult<Option<(lienlock_store::SessionRecord, lienlock_store::UserRecord)>>
                {
                    console::session(&self.pool, token_hash).await
                }

                async fn revoke_session(
                    &self,
                    token_hash: &[u8; 32],
                    at: Timestamp,
                ) -> StoreResult<()> {
                    console::revoke_session(&self.pool, token_hash, at).await
                }

                async fn portfolio_counts(
                    &self,
                    ctx: &LenderCtx,
                    now: Timestamp,
                ) -> StoreResult<lienlock_store::PortfolioCounts> {
                    console::portfolio_counts(&self.pool, ctx, now).await
                }

                async fn daily_payments(
                    &self,
                    ctx: &LenderCtx,
                    since: Timestamp,
                    offset_ms: i64,
                ) -> StoreResult<Vec<lienlock_store::DailyPayments>> {
                    console::daily_payments(&self.pool, ctx, since, offset_ms).await
                }

                async fn lender_events_since(
                    &self,
                    ctx: &LenderCtx,
                    kinds: &[lienlock_domain::EventKind],
                    since: Timestamp,
                    limit: u32,
                ) -> StoreResult<Vec<TimelineEvent>> {
                    console::lender_events_since(&self.pool, ctx, kinds, since, limit).await
                }

                async fn append_audit(
                    &self,
                    entry: lienlock_domain::audit::AuditEntry,
                ) -> StoreResult<lienlock_domain::audit::AuditRecord> {
                    audit::append(&self.pool, entry).await
                }

                async fn audit_rows(
                    &self,
                    chain: &str,
                    after_seq: i64,
                    limit: u32,
                ) -> StoreResult<Vec<lienlock_domain::audit::AuditRecord>> {
                    audit::rows(&self.pool, chain, after_seq, limit).await
                }

                async fn audit_head(&self, chain: &str) -> StoreResult<Option<(i64, [u8; 32])>> {
                    audit::head(&self.pool, chain).await
                }

                async fn audit_chains(&self) -> StoreResult<Vec<String>> {
                    audit::chains(&self.pool).await
                }

                async fn list_api_keys(&self, ctx: &LenderCtx) -> StoreResult<Vec<ApiKeyRecord>> {
                    audit::keys(&self.pool, ctx).await
                }

                async fn create_api_key(
                    &self,
                    ctx: &LenderCtx,
                    key: &ApiKeyRecord,
                ) -> StoreResult<()> {
                    audit::create_key(&self.pool, ctx, key).await
                }

                async fn revoke_api_key(
                    &self,
                    ctx: &LenderCtx,
                    id: ApiKeyId,
                    at: Timestamp,
                ) -> StoreResult<bool> {
                    audit::revoke_key(&self.pool, ctx, id, at).await
                }

                async fn rotate_api_key(
                    &self,
                    ctx: &LenderCtx,
                    old: ApiKeyId,
                    new: &ApiKeyRecord,
                    old_until: Timestamp,
                ) -> StoreResult<bool> {
                    audit::rotate_key(&self.pool, ctx, old, new, old_until).await
                }
            }
        };
    };
}

pub(crate) use impl_store;
