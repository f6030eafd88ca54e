//! Device writes, per backend, one at a time (`save_device`) or many per transaction
//! (`save_devices`), through the same set-based statements: expanded by `impl_store!` as a
//! private module `batch`.
//!
//! The scheduler saves contracts by the hundred. One UPDATE per row costs a round trip
//! each (about 0.05 ms through sqlx's SQLite worker, more to a PostgreSQL server), so every
//! kind of change is one statement for the whole batch: `WITH v(...) AS (VALUES ...)
//! UPDATE ... FROM v`, which both backends accept, with `RETURNING` telling which rows
//! still had the version that was read. docs/benchmarks.md has the figures.

/// A module `batch` of async functions taking the backend's pool or connection.
macro_rules! batch {
    ($db:ty, $lock_devices:ident) => {
        mod batch {
            use super::notices::{self, Parts};
            use super::writes::{counters, insert_command, Conn, Counters};
            use lienlock_domain::{DeviceId, Timestamp};
            use lienlock_store::{
                CommandResolution, DeviceWrite, NoticeRecord, StoreError, StoreResult,
                TimelineEvent,
            };
            use std::collections::{HashMap, HashSet};
            use $crate::error::{classify, contract_unique, is_unique_violation, unique_as};
            use $crate::rows::{indexed_columns, IndexedColumns, UpdatedDevice};
            use $crate::sql;

            type Pool = sqlx::Pool<$db>;
            type Builder = sqlx::QueryBuilder<'static, $db>;

            /// A write that passed the checks made before anything is sent.
            struct Prepared<'a> {
                write: &'a DeviceWrite,
                counters: Counters,
                parts: Parts<'a>,
            }

            fn prepare(write: &DeviceWrite) -> StoreResult<Prepared<'_>> {
                Ok(Prepared {
                    write,
                    counters: counters(&write.device)?,
                    parts: notices::prepare(write)?,
                })
            }

            /// `save_device`, inside the caller's transaction.
            pub(super) async fn write_device(
                pool: &Pool,
                conn: &mut Conn,
                write: &DeviceWrite,
            ) -> StoreResult<()> {
                let prepared = [prepare(write)?];
                match apply(pool, conn, &prepared).await?.first() {
                    Some(true) => Ok(()),
                    _ => Err(StoreError::Stale),
                }
            }

            /// See `Store::save_devices`. Writes that are refused before anything is sent,
            /// or that read a device version that is gone, fail alone; anything else that
            /// goes wrong (a constraint, a contract or command that changed without its
            /// device) sends the batch down the slow path, one transaction per write, where
            /// each write meets its own error.
            pub(super) async fn save_devices(
                pool: &Pool,
                writes: &[DeviceWrite],
            ) -> StoreResult<Vec<StoreResult<()>>> {
                if writes.is_empty() {
                    return Ok(Vec::new());
                }
                match fast_batch(pool, writes).await {
                    Ok(results) => Ok(results),
                    Err(e) if e.is_unavailable() => Err(e),
                    Err(_) => {
                        let mut results = Vec::with_capacity(writes.len());
                        for write in writes {
                            let _turn = crate::write_turn::take(pool).await;
                            let mut tx = pool.begin().await.map_err(classify)?;
                            let result = write_device(pool, &mut tx, write).await;
                            if result.is_ok() {
                                tx.commit().await.map_err(classify)?;
                            }
                            results.push(result);
                        }
                        Ok(results)
                    }
                }
            }

            async fn fast_batch(
                pool: &Pool,
                writes: &[DeviceWrite],
            ) -> StoreResult<Vec<StoreResult<()>>> {
                let mut results: Vec<StoreResult<()>> = Vec::with_capacity(writes.len());
                let mut prepared = Vec::with_capacity(writes.len());
                let mut slot = Vec::with_capacity(writes.len());
                let mut devices = HashSet::new();
                for (i, w) in writes.iter().enumerate() {
                    // A second write of one device read the version the first one bumps.
                    if !devices.insert(w.device.id) {
                        results.push(Err(StoreError::Stale));
                        continue;
                    }
                    match prepare(w) {
                        Ok(p) => {
                            results.push(Ok(()));
                            prepared.push(p);
                            slot.push(i);
                        }
                        Err(e) => results.push(Err(e)),
                    }
                }
                if prepared.is_empty() {
                    return Ok(results);
                }
                let mut ids: Vec<String> = devices.iter().map(DeviceId::to_string).collect();
                ids.sort();
                let _turn = crate::write_turn::take(pool).await;
                let mut tx = pool.begin().await.map_err(classify)?;
                super::$lock_devices(&mut tx, &ids).await?;
                let fresh = apply(pool, &mut tx, &prepared).await?;
                tx.commit().await.map_err(classify)?;
                for (i, landed) in slot.into_iter().zip(fresh) {
                    if !landed {
                        results[i] = Err(StoreError::Stale);
                    }
                }
                Ok(results)
            }

            /// Applies `writes` (of distinct devices) inside the caller's transaction and
            /// says, per write, whether its device still had the version that was read; the
            /// others are left untouched. A write whose device matched but whose contract or
            /// commands changed is an error for the whole call (the caller rolls back).
            async fn apply(
                pool: &Pool,
                conn: &mut Conn,
                writes: &[Prepared<'_>],
            ) -> StoreResult<Vec<bool>> {
                // Check-ins not yet merged into these rows go in first (SQLite's check-in
                // log: `sqlite_unmerged`), so each write is checked against the version
                // they made; the caller holds the turn at the write lock (`write_turn`).
                let ids: Vec<DeviceId> = writes.iter().map(|p| p.write.device.id).collect();
                <$db as $crate::sqlite_unmerged::Settle>::settle(pool, &mut *conn, &ids).await?;
                let fresh: HashMap<String, IndexedColumns> =
                    update_devices(&mut *conn, writes).await?;
                let landed: Vec<bool> = writes
                    .iter()
                    .map(|p| fresh.contains_key(&p.write.device.id.to_string()))
                    .collect();
                let writes: Vec<&Prepared<'_>> = writes
                    .iter()
                    .zip(&landed)
                    .filter_map(|(p, &ok)| ok.then_some(p))
                    .collect();
                if writes.is_empty() {
                    return Ok(landed);
                }
                let changed: Vec<&Prepared<'_>> = writes
                    .iter()
                    .copied()
                    .filter(|p| {
                        let d = &p.write.device;
                        fresh.get(&d.id.to_string()) != Some(&indexed_columns(d))
                    })
                    .collect();
                set_indexed_columns(&mut *conn, &changed).await?;
                update_contracts(&mut *conn, &writes).await?;
                let mut notices: Vec<(&NoticeRecord, i64)> = Vec::new();
                let mut events: Vec<&TimelineEvent> = Vec::new();
                for p in &writes {
                    let d = &p.write.device;
                    notices::mark_delivered(&mut *conn, d, &p.parts).await?;
                    for command in &p.write.new_commands {
                        insert_command(&mut *conn, command).await?;
                    }
                    for r in &p.write.resolved_commands {
                        resolve_command(&mut *conn, d.id, r).await?;
                    }
                    notices.extend(p.parts.notices.iter().copied());
                    events.extend(p.write.events.iter());
                }
                insert_notices(&mut *conn, &notices).await?;
                insert_events(&mut *conn, &events).await?;
                Ok(landed)
            }

            /// Rows per statement when a batch is split: powers of two, so the multi-row
            /// statements come in a few shapes that stay in each connection's
            /// prepared-statement cache. With one shape per batch size, most batches paid
            /// for compiling a statement of hundreds of parameters anew.
            fn chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
                let mut rest = items;
                std::iter::from_fn(move || {
                    if rest.is_empty() {
                        return None;
                    }
                    let n = 1usize << rest.len().min(MAX_ROWS).ilog2();
                    let (head, tail) = rest.split_at(n);
                    rest = tail;
                    Some(head)
                })
            }

            /// The most rows one batched `UPDATE` carries: 16 parameters each stays far
            /// below either backend's parameter limit.
            const MAX_ROWS: usize = 128;

            /// The devices' rows, where the version still matches; returns their ids with
            /// the indexed columns as stored, which this leaves to [`set_indexed_columns`].
            async fn update_devices(
                conn: &mut Conn,
                writes: &[Prepared<'_>],
            ) -> StoreResult<HashMap<String, IndexedColumns>> {
                let mut fresh = HashMap::with_capacity(writes.len());
                for chunk in chunks(writes) {
                    let mut q = Builder::new(sql::UPDATE_DEVICES_HEAD);
                    q.push_values(chunk, |mut row, p| {
                        let (d, c) = (&p.write.device, &p.counters);
                        row.push_bind(d.id.to_string())
                            .push_bind(d.lender_id.to_string())
                            .push_bind(d.version)
                            .push_bind(d.model.clone())
                            .push_bind(d.key_status.as_str())
                            .push_bind(d.device_key.map(|k| k.to_vec()))
                            .push_bind(d.pending_key.map(|k| k.to_vec()))
                            .push_bind(c.last)
                            .push_bind(c.pending)
                            .push_bind(c.lease_seq)
                            .push_bind(d.last_seen_at.map(Timestamp::as_millis))
                            .push_bind(d.updated_at.as_millis())
                            .push_bind(d.retired_key.map(|k| k.to_vec()))
                            .push_bind(c.retired)
                            .push_bind(c.notice_seq)
                            .push_bind(d.policy_level_since.as_millis());
                    });
                    q.push(sql::UPDATE_DEVICES_TAIL);
                    let rows: Vec<UpdatedDevice> = q
                        .build_query_as()
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(classify)?;
                    fresh.extend(rows.into_iter().map(UpdatedDevice::into_parts));
                }
                Ok(fresh)
            }

            /// The indexed columns that changed (see `sql::SET_INDEXED_COLUMNS_HEAD`).
            async fn set_indexed_columns(
                conn: &mut Conn,
                writes: &[&Prepared<'_>],
            ) -> StoreResult<()> {
                for chunk in chunks(writes) {
                    let mut q = Builder::new(sql::SET_INDEXED_COLUMNS_HEAD);
                    q.push_values(chunk, |mut row, p| {
                        let d = &p.write.device;
                        let (state, amount, currency, since, serial, level) = indexed_columns(d);
                        row.push_bind(d.id.to_string())
                            .push_bind(state)
                            .push_bind(amount)
                            .push_bind(currency)
                            .push_bind(since)
                            .push_bind(serial)
                            .push_bind(level);
                    });
                    q.push(sql::SET_INDEXED_COLUMNS_TAIL);
                    q.build().execute(&mut *conn).await.map_err(|e| {
                        // Only leaving `released` could collide, which the domain forbids.
                        if is_unique_violation(&e) {
                            StoreError::ImeiTaken(chunk[0].write.device.imei.to_string())
                        } else {
                            classify(e)
                        }
                    })?;
                }
                Ok(())
            }

            /// The contracts the writes carry, checked against the versions that were
            /// read and merged with wake-ups (see `sql::UPDATE_CONTRACTS_TAIL`); then
            /// state and reference where they changed.
            async fn update_contracts(
                conn: &mut Conn,
                writes: &[&Prepared<'_>],
            ) -> StoreResult<()> {
                let contracts: Vec<_> = writes
                    .iter()
                    .filter_map(|p| p.parts.contract.as_ref())
                    .collect();
                if contracts.is_empty() {
                    return Ok(());
                }
                let mut q = Builder::new(sql::UPDATE_CONTRACTS_HEAD);
                q.push_values(&contracts, |mut row, (c, terms)| {
                    row.push_bind(c.id.to_string())
                        .push_bind(c.lender_id.to_string())
                        .push_bind(c.device_id.to_string())
                        .push_bind(c.version)
                        .push_bind(c.wake_seq)
                        .push_bind(c.terms.currency().code().to_owned())
                        .push_bind(terms.clone())
                        .push_bind(c.policy.clone())
                        .push_bind(c.updated_at.as_millis())
                        .push_bind(c.next_evaluation_at.map(Timestamp::as_millis));
                });
                q.push(sql::UPDATE_CONTRACTS_TAIL);
                let updated: Vec<(String,)> = q
                    .build_query_as()
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(classify)?;
                if updated.len() != contracts.len() {
                    return Err(StoreError::Stale);
                }
                let mut q = Builder::new(sql::SET_CONTRACT_STATES_HEAD);
                q.push_values(&contracts, |mut row, (c, _)| {
                    row.push_bind(c.id.to_string())
                        .push_bind(c.state.as_str())
                        .push_bind(c.reference.clone());
                });
                q.push(sql::SET_CONTRACT_STATES_TAIL);
                q.build()
                    .execute(&mut *conn)
                    .await
                    .map_err(contract_unique)?;
                Ok(())
            }

            async fn resolve_command(
                conn: &mut Conn,
                device: DeviceId,
                r: &CommandResolution,
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
                notices: &[(&NoticeRecord, i64)],
            ) -> StoreResult<()> {
                for chunk in notices.chunks(ROWS_PER_INSERT) {
                    let mut q = Builder::new(sql::INSERT_NOTICES_HEAD);
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
                        .map_err(unique_as("notice id or seq"))?;
                }
                Ok(())
            }

            /// In the order given, so each device's events keep their order in `seq`.
            async fn insert_events(conn: &mut Conn, events: &[&TimelineEvent]) -> StoreResult<()> {
                for chunk in events.chunks(ROWS_PER_INSERT) {
                    let mut q = Builder::new(sql::INSERT_EVENTS_HEAD);
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
                        .map_err(unique_as("event id"))?;
                }
                Ok(())
            }
        }
    };
}

pub(crate) use batch;
