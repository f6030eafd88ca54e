//! The scheduler's reads, per backend: what is due (wake-ups first) and the facts of a
//! batch of contracts with one query per kind. Expanded by `impl_store!` as a private module
//! `facts`.

/// A module `facts` of async functions taking the backend's pool.
macro_rules! facts {
    ($db:ty) => {
        mod facts {
            use super::writes::Conn;
            use lienlock_domain::{ContractId, DeviceId, Timestamp};
            use lienlock_store::{ContractFacts, ContractRecord, StoreResult};
            use std::collections::HashMap;
            use $crate::error::classify;
            use $crate::rows::{decode_all, DeviceRow, DisputeRow, NoticeRow, PaymentRow};
            use $crate::sql;

            type Pool = sqlx::Pool<$db>;

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
                // Check-ins not yet merged into the rows (SQLite: `sqlite_unmerged`).
                $crate::sqlite_unmerged::Overlay::overlay(
                    pool,
                    facts.iter_mut().map(|f| &mut f.device),
                );
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
                let contract_ids: Vec<String> =
                    contracts.iter().map(|c| c.id.to_string()).collect();
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
                let mut payments =
                    by_contract(decode_all(rows, PaymentRow::decode)?, |p| p.contract_id);
                let rows: Vec<NoticeRow> = fetch_in(
                    &mut *conn,
                    sql::NOTICES_OF_CONTRACTS_IN,
                    &contract_ids,
                    sql::NOTICES_OF_CONTRACTS_ORDER,
                )
                .await?;
                let mut notices =
                    by_contract(decode_all(rows, NoticeRow::decode)?, |n| n.contract_id);
                let rows: Vec<DisputeRow> = fetch_in(
                    &mut *conn,
                    sql::DISPUTES_OF_CONTRACTS_IN,
                    &contract_ids,
                    sql::DISPUTES_OF_CONTRACTS_ORDER,
                )
                .await?;
                let mut disputes =
                    by_contract(decode_all(rows, DisputeRow::decode)?, |d| d.contract_id);
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
        }
    };
}

pub(crate) use facts;
