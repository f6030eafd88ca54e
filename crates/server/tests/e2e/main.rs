//! End-to-end tests: the real server over HTTP, real agents, real databases (SQLite and
//! PostgreSQL; each test gets its own).

mod harness;

mod android;
mod audit;
mod codes;
mod console;
mod contracts;
mod device_import;
mod errors;
mod imei_check;
mod key_rotation;
mod lifecycle;
mod mac;
mod offline;
mod openapi;
mod protocol;
mod push;
mod routes;
mod tamper;
mod tenancy;
mod webhooks;
mod year;
