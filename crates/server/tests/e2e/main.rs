//! End-to-end tests: the real server over HTTP, real agents, real databases (SQLite and
//! PostgreSQL; each test gets its own).

mod harness;

mod codes;
mod console;
mod contracts;
mod device_import;
mod errors;
mod imei_check;
mod lifecycle;
mod offline;
mod protocol;
mod push;
mod tenancy;
mod year;
