//! Device writes, one at a time or many per transaction, and the scheduler's batched
//! reads, per backend: expanded by `impl_store!` as a private module `batch`.
//!
//! The scheduler evaluates contracts by the thousand. Done one by one, each evaluation
//! cost seven round trips and a commit (an fsync); batched, a pass of `n` contracts costs
//! five queries and one commit per batch (docs/benchmarks.md has the figures).

/// A module `batch` of async functions taking the backend's pool or connection.
macro_rules! batch {
    ($db:ty, $lock_devices:ident) => {
        mod batch {
            use super::notices;
            use super::writes::{counters, insert_command, insert_event, Conn};
            use lienlock_domain::{ContractId, DeviceId, Timestamp};
            use lienlock_store::{ContractFacts, ContractRecord, DeviceWrite, StoreError, StoreResult};
            use std::collections::HashMap;
            use $crate::error::{classify, is_unique_violation};
            use $crate::rows::{decode_all, DeviceRow, DisputeRow, NoticeRow, PaymentRow};
            use $crate::sql;

            type Pool = sqlx::Pool<$db>;

            /// The body of `save_device`, inside the caller's transaction (or savepoint).
            pub(super) async fn write_device(conn: &mut Conn, write: &DeviceWrite) -> StoreResult<()> {
                let d = &write.device;
                let c = counters(d)?;
                let parts = notices::prepare(write)?;
                update_device(&mut *conn, d, &c).await?;
                // The stored state is not known here; the statement matches no row when
                // it is unchanged.
                set_state(&mut *conn, d).await?;
                notices::write(&mut *conn, d, &parts).await?;
                for command in &write.new_commands {
                    insert_command(&mut *conn, command).await?;
                }
                for r in &write.resolved_commands {
                    resolve_command(&mut *conn, d.id, r).await?;
                }
                for event in &write.events {
                    insert_event(&mut *conn, event).await?;
                }
                Ok(())
            }

            /// See `Store::save_devices`. The fast path checks every write's versions up
            /// front, under the device locks, and then applies only the fresh ones with two
            /// statements each plus a few for the whole batch; anything the check could not
            /// foresee (a constraint, a row that changed anyway) sends the batch down the
            /// slow path, one transaction per write.
            pub(super) async fn save_devices(
                pool: &Pool,
                writes: &[DeviceWrite],
            ) -> StoreResult<Vec<StoreResult<()>>> {
                if writes.is_empty() {
                    return Ok(Vec::new());
                }
                match checked_batch(pool, writes).await {
                    Ok(results) => Ok(results),
                    Err(StoreError::Unavailable(why)) => Err(StoreError::Unavailable(why)),
                    Err(_) => {
                        let mut results = Vec::with_capacity(writes.len());
                        for write in writes {
                            let mut tx = pool.begin().await.map_err(classify)?;
                            let result = write_device(&mut tx, write).await;
                            if result.is_ok() {
                                tx.commit().await.map_err(classify)?;
                            }
                            results.push(result);
                        }
                        Ok(results)
                    }
                }
            }

            /// What the batch reads back before writing: versions, and the columns whose
            /// statements are skipped when unchanged.
            #[derive(sqlx::FromRow)]
            struct DeviceNow {
                id: String,
                version: i64,
                state: String,
            }

            #[derive(sqlx::FromRow)]
            struct ContractNow {
                id: String,
                version: i64,
                state: String,
                reference: Option<String>,
            }

            async fn checked_batch(
                pool: &Pool,
                writes: &[DeviceWrite],
            ) -> StoreResult<Vec<StoreResult<()>>> {
                let mut device_ids: Vec<String> =
                    writes.iter().map(|w| w.device.id.to_string()).collect();
                device_ids.sort();
                device_ids.dedup();
                let contract_ids: Vec<String> = writes
                    .iter()
                    .filter_map(|w| w.contract.as_ref().map(|c| c.id.to_string()))
                    .collect();
                let command_ids: Vec<String> = writes
                    .iter()
                    .flat_map(|w| w.resolved_commands.iter().map(|r| r.id.to_string()))
                    .collect();

                let mut tx = pool.begin().await.map_err(classify)?;
                super::$lock_devices(&mut tx, &device_ids).await?;
                let devices: HashMap<String, DeviceNow> =
                    fetch_in(&mut tx, sql::DEVICE_VERSIONS_IN, &device_ids, "")
                        .await?
                        .into_iter()
                        .map(|d: DeviceNow| (d.id.clone(), d))
                        .collect();
                let contracts: HashMap<String, ContractNow> =
                    fetch_in(&mut tx, sql::CONTRACT_VERSIONS_IN, &contract_ids, "")
                        .await?
                        .into_iter()
                        .map(|c: ContractNow| (c.id.clone(), c))
                        .collect();
                let pending: std::collections::HashSet<String> =
                    fetch_in(&mut tx, sql::PENDING_COMMANDS_IN, &command_ids, "")
                        .await?
                        .into_iter()
                        .map(|(id,): (String,)| id)
                        .collect();

                let mut results = Vec::with_capacity(writes.len());
                let mut fresh = Vec::with_capacity(writes.len());
                let mut seen = std::collections::HashSet::new();
                for w in writes {
                    let d = &w.device;
                    let id = d.id.to_string();
                    let device_ok = devices.get(&id).is_some_and(|s| s.version == d.version)
                        // A second write of the same device read the version the first bumps.
                        && seen.insert(d.id);
                    let contract_ok = w.contract.as_ref().is_none_or(|c| {
                        contracts
                            .get(&c.id.to_string())
                            .is_some_and(|s| s.version == c.version)
                    });
                    let commands_ok = w
                        .resolved_commands
                        .iter()
                        .all(|r| pending.contains(&r.id.to_string()));
                    if !(device_ok && contract_ok && commands_ok) {
                        results.push(Err(StoreError::Stale));
                        continue;
                    }
                    match (counters(d), notices::prepare(w)) {
                        (Ok(c), Ok(parts)) => {
                            results.push(Ok(()));
                            fresh.push((w, c, parts));
                        }
                        (Err(e), _) | (_, Err(e)) => results.push(Err(e)),
                    }
                }

                let mut new_notices = Vec::new();
                let mut events = Vec::new();
                for (w, c, parts) in &fresh {
                    let d = &w.device;
                    let stored = &devices[&d.id.to_string()];
                    update_device(&mut tx, d, c).await?;
                    if stored.state != d.state.as_str() {
                        set_state(&mut tx, d).await?;
                    }
                    if let Some((contract, terms)) = &parts.contract {
                        let stored = &contracts[&contract.id.to_string()];
                        let changed = stored.state != contract.state.as_str()
                            || stored.reference != contract.reference;
                        notices::save_contract(&mut tx, contract, terms, changed).await?;
                    }
                    notices::mark_delivered(&mut tx, d, parts).await?;
                    for command in &w.new_commands {
                        insert_command(&mut tx, command).await?;
                    }
                    for r in &w.resolved_commands {
                        resolve_command(&mut tx, d.id, r).await?;
                    }
                    new_notices.extend(parts.notices.iter().copied());
                    events.extend(w.events.iter());
                }
                insert_notices(&mut tx, &new_notices).await?;
                insert_events(&mut tx, &events).await?;
                tx.commit().await.map_err(classify)?;
                Ok(results)
            }

            async fn update_device(
                conn: &mut Conn,
                d: &lienlock_store::Device,
                c: &super::writes::Counters,
            ) -> StoreResult<()> {
                // The version check and the row lock in one statement: of two writers
                // that read the same version, the second matches no row.
                let updated = sqlx::query(sql::UPDATE_DEVICE)
                    .bind(d.serial.as_deref())
                    .bind(d.model.as_deref())
                    .bind(d.key_status.as_str())
                    .bind(d.device_key.as_ref().map(|k| &k[..]))
                    .bind(d.pending_key.as_ref().map(|k| &k[..]))
                    .bind(c.last)
                    .bind(c.pending)
                    .bind(c.lease_seq)
                    .bind(d.last_seen_at.map(Timestamp::as_millis))
                    .bind(d.updated_at.as_millis())
                    .bind(d.retired_key.as_ref().map(|k| &k[..]))
                    .bind(c.retired)
                    .bind(i64::from(d.policy_level.code()))
                    .bind(c.notice_seq)
                    .bind(d.policy_level_since.as_millis())
                    .bind(d.id.to_string())
                    .bind(d.lender_id.to_string())
                    .bind(d.version)
                    .execute(&mut *conn)
                    .await
                    .map_err(classify)?;
                if updated.rows_affected() == 0 {
                    return Err(StoreError::Stale);
                }
                Ok(())
            }

            async fn set_state(conn: &mut Conn, d: &lienlock_store::Device) -> StoreResult<()> {
                sqlx::query(sql::SET_DEVICE_STATE)
                    .bind(d.state.as_str())
                    .bind(d.id.to_string())
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| {
                        // Only leaving `released` could collide, which the domain forbids.
                        if is_unique_violation(&e) {
                            StoreError::ImeiTaken(d.imei.to_string())
                        } else {
                            classify(e)
                        }
                    })?;
                Ok(())
            }

            async fn resolve_command(
                conn: &mut Conn,
                device: DeviceId,
                r: &lienlock_store::CommandResolution,
            ) -> StoreResult<()> {
                let resolved = sqlx::query(sql::RESOLVE_COMMAND)
                    .bind(r.status.as_str())
                    .bind(r.at.as_millis())
                    .bind(r.id.to_string())
                    .bind(device.to_string())
                    .execute(&mut *conn)
                    .await
                    .map_err(classify)?;
                if resolved.rows_affected() == 0 {
                    return Err(StoreError::Stale);
                }
                Ok(())
            }

            /// Rows per multi-row INSERT: nine columns each stays far below either
            /// backend's parameter limit.
            const ROWS_PER_INSERT: usize = 500;

            async fn insert_notices(
                conn: &mut Conn,
                notices: &[(&lienlock_store::NoticeRecord, i64)],
            ) -> StoreResult<()> {
                for chunk in notices.chunks(ROWS_PER_INSERT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(sql::INSERT_NOTICES_HEAD);
                    q.push_values(chunk, |mut row, (n, seq)| {
                        row.push_bind(n.id.to_string())
                            .push_bind(n.lender_id.to_string())
                            .push_bind(n.device_id.to_string())
                            .push_bind(n.contract_id.map(|c| c.to_string()))
                            .push_bind(*seq)
                            .push_bind(n.kind.clone())
                            .push_bind(n.message.clone())
                            .push_bind(n.created_at.as_millis())
                            .push_bind(n.delivered_at.map(Timestamp::as_millis));
                    });
                    q.build()
                        .execute(&mut *conn)
                        .await
                        .map_err($crate::error::unique_as("notice id or seq"))?;
                }
                Ok(())
            }

            async fn insert_events(
                conn: &mut Conn,
                events: &[&lienlock_store::TimelineEvent],
            ) -> StoreResult<()> {
                for chunk in events.chunks(ROWS_PER_INSERT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(sql::INSERT_EVENTS_HEAD);
                    q.push_values(chunk, |mut row, e| {
                        row.push_bind(e.id.to_string())
                            .push_bind(e.device_id.to_string())
                            .push_bind(e.lender_id.to_string())
                            .push_bind(e.at.as_millis())
                            .push_bind(e.kind.as_str())
                            .push_bind(e.actor.to_text())
                            .push_bind(e.reason.clone())
                            .push_bind(e.detail.clone());
                    });
                    q.build()
                        .execute(&mut *conn)
                        .await
                        .map_err($crate::error::unique_as("event id"))?;
                }
                Ok(())
            }

            /// `SELECT ... WHERE x IN (ids) <order>`, one bound parameter per id, in
            /// chunks of [`CHUNK`] ids (so `order` holds within a chunk only); nothing to
            /// ask for, nothing fetched.
            async fn fetch_in<R>(
                conn: &mut Conn,
                head: &'static str,
                ids: &[String],
                order: &'static str,
            ) -> StoreResult<Vec<R>>
            where
                R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
            {
                let mut all = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(CHUNK) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(head);
                    q.push("(");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(id.as_str());
                    }
                    q.push(")").push(order);
                    all.extend(
                        q.build_query_as::<R>()
                            .fetch_all(&mut *conn)
                            .await
                            .map_err(classify)?,
                    );
                }
                Ok(all)
            }

            /// Contracts a wake-up touched first, then the routine ones, without repeats.
            pub(super) async fn due_contracts(
                pool: &Pool,
                now: Timestamp,
                limit: u32,
            ) -> StoreResult<Vec<ContractRecord>> {
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let mut due = fetch_contracts(pool, sql::WOKEN_CONTRACTS, now, limit).await?;
                let room = limit as usize - due.len();
                if room > 0 {
                    let woken: std::collections::HashSet<ContractId> =
                        due.iter().map(|c| c.id).collect();
                    // Woken contracts are due too, so ask for enough to fill the room.
                    let routine = fetch_contracts(pool, sql::DUE_CONTRACTS, now, limit).await?;
                    due.extend(
                        routine
                            .into_iter()
                            .filter(|c| !woken.contains(&c.id))
                            .take(room),
                    );
                }
                Ok(due)
            }

            async fn fetch_contracts(
                pool: &Pool,
                query: &'static str,
                now: Timestamp,
                limit: u32,
            ) -> StoreResult<Vec<ContractRecord>> {
                let rows: Vec<$crate::rows::ContractRow> = sqlx::query_as(query)
                    .bind(now.as_millis())
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await
                    .map_err(classify)?;
                decode_all(rows, $crate::rows::ContractRow::decode)
            }

            /// Groups rows already ordered by contract into a map of lists.
            fn by_contract<T>(
                items: Vec<T>,
                key: impl Fn(&T) -> Option<ContractId>,
            ) -> HashMap<ContractId, Vec<T>> {
                let mut map: HashMap<ContractId, Vec<T>> = HashMap::new();
                for item in items {
                    if let Some(id) = key(&item) {
                        map.entry(id).or_default().push(item);
                    }
                }
                map
            }

            /// Most ids per `IN (...)` list: far below either backend's parameter limit
            /// (SQLite's is 32766, PostgreSQL's 65535).
            const CHUNK: usize = 1000;

            pub(super) async fn contract_facts(
                pool: &Pool,
                contracts: Vec<ContractRecord>,
            ) -> StoreResult<Vec<ContractFacts>> {
                let mut conn = pool.acquire().await.map_err(classify)?;
                let mut facts = Vec::with_capacity(contracts.len());
                let mut rest = contracts;
                // Whole chunks, so each contract's rows arrive in one query, in order.
                while !rest.is_empty() {
                    let tail = rest.split_off(rest.len().min(CHUNK));
                    facts.extend(chunk_facts(&mut conn, rest).await?);
                    rest = tail;
                }
                Ok(facts)
            }

            async fn chunk_facts(
                conn: &mut Conn,
                contracts: Vec<ContractRecord>,
            ) -> StoreResult<Vec<ContractFacts>> {
                if contracts.is_empty() {
                    return Ok(Vec::new());
                }
                let device_ids: Vec<String> =
                    contracts.iter().map(|c| c.device_id.to_string()).collect();
                let contract_ids: Vec<String> = contracts.iter().map(|c| c.id.to_string()).collect();
                // Devices before the ledger, notices and disputes: a check-in that changes
                // them in between bumps the device's version, so the save is refused as
                // stale rather than deciding on a mix of old and new.
                let rows: Vec<DeviceRow> = fetch_in(conn, sql::DEVICES_IN, &device_ids, "").await?;
                let devices: HashMap<DeviceId, _> = decode_all(rows, DeviceRow::decode)?
                    .into_iter()
                    .map(|d| (d.id, d))
                    .collect();
                let rows: Vec<PaymentRow> = fetch_in(
                    &mut *conn,
                    sql::PAYMENTS_OF_CONTRACTS_IN,
                    &contract_ids,
                    sql::PAYMENTS_OF_CONTRACTS_ORDER,
                )
                .await?;
                let mut payments = by_contract(decode_all(rows, PaymentRow::decode)?, |p| p.contract_id);
                let rows: Vec<NoticeRow> = fetch_in(
                    &mut *conn,
                    sql::NOTICES_OF_CONTRACTS_IN,
                    &contract_ids,
                    sql::NOTICES_OF_CONTRACTS_ORDER,
                )
                .await?;
                let mut notices = by_contract(decode_all(rows, NoticeRow::decode)?, |n| n.contract_id);
                let rows: Vec<DisputeRow> = fetch_in(
                    &mut *conn,
                    sql::DISPUTES_OF_CONTRACTS_IN,
                    &contract_ids,
                    sql::DISPUTES_OF_CONTRACTS_ORDER,
                )
                .await?;
                let mut disputes = by_contract(decode_all(rows, DisputeRow::decode)?, |d| d.contract_id);
                Ok(contracts
                    .into_iter()
                    .filter_map(|contract| {
                        // One active contract per device, but any list may be asked for.
                        let device = devices.get(&contract.device_id)?.clone();
                        Some(ContractFacts {
                            payments: payments.remove(&contract.id).unwrap_or_default(),
                            notices: notices.remove(&contract.id).unwrap_or_default(),
                            disputes: disputes.remove(&contract.id).unwrap_or_default(),
                            device,
                            contract,
                        })
                    })
                    .collect())
            }
        }
    };
}

pub(crate) use batch;
