//! The conformance suite: every test runs against SQLite and against PostgreSQL (the latter
//! when `LIENLOCK_TEST_POSTGRES_URL` names a server; required in CI). Real databases only:
//! each test gets its own fresh one from `lienlock_store_sql::testing`.

mod fixtures;

mod android;
mod batch;
mod codes;
mod commands;
mod concurrency;
mod console;
mod contracts;
mod devices;
mod due;
mod leader;
mod lenders;
mod notices;
mod payments;
mod views;
mod webhooks;
mod writes;
