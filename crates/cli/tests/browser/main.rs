//! The web pages in a real browser (headless Chromium through chromedriver): what a person
//! sees on a phone-sized screen, and our accessibility checks on every state of each page.
//! Screenshots go to `target/screenshots/`.

#[path = "../common/mod.rs"]
mod common;
mod harness;
mod server;

mod check_page;
mod console_flow;
