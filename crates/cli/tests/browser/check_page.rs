//! The public IMEI check at `/check`, as a buyer of a used phone uses it on a phone: the
//! answer for a phone never enrolled, under a program, locked, and released; a mistyped
//! IMEI. Every state passes the accessibility audit at 360 px.

use crate::harness::Browser;
use crate::server::{imei, Server};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// Types `imei` in the form, sends it, and waits for the answer to name it.
async fn check(browser: &Browser, imei: &str, verdict: &str) -> String {
    browser.fill("#imei", imei).await;
    browser.click("form button[type=submit]").await;
    browser
        .wait_for_text(".answer h2", &format!("IMEI {imei}: {verdict}"), WAIT)
        .await;
    browser.text(".answer").await
}

#[tokio::test]
async fn the_check_answers_before_and_after_a_release() {
    let (browser, server) = tokio::join!(Browser::start(), Server::start());
    let Some(browser) = browser else {
        return;
    };
    let financed = imei(1);
    let never = imei(2);
    let device = server.enroll(&financed).await;

    browser.goto(&server.page("/check")).await;
    assert_eq!(
        browser.text("label[for=imei]").await,
        "IMEI (15 digits)",
        "the form"
    );
    browser.assert_accessible("the empty check form").await;

    let answer = check(&browser, &never, "Clear").await;
    assert!(!answer.contains("Acme"), "{answer}");
    browser.assert_accessible("a clear answer").await;
    browser.screenshot("check-clear").await;

    let answer = check(&browser, &financed, "Under a financing program").await;
    assert!(answer.contains("settle with Acme"), "{answer}");
    assert!(answer.contains("+1 555 0100"), "{answer}");
    assert!(!answer.contains(&device), "the device's id shows: {answer}");
    browser.assert_accessible("a financed answer").await;
    browser.screenshot("check-financed").await;

    server.command(&device, "lock", "overdue").await;
    let answer = check(&browser, &financed, "Locked").await;
    assert!(answer.contains("locked by Acme"), "{answer}");
    browser.assert_accessible("a locked answer").await;
    browser.screenshot("check-locked").await;

    server.command(&device, "release", "paid off").await;
    let answer = check(&browser, &financed, "Clear").await;
    assert!(!answer.contains("Acme"), "{answer}");
    browser
        .assert_accessible("a clear answer after release")
        .await;
}

#[tokio::test]
async fn a_mistyped_imei_gets_an_error_read_out() {
    let (browser, server) = tokio::join!(Browser::start(), Server::start());
    let Some(browser) = browser else {
        return;
    };
    browser.goto(&server.page("/check")).await;

    // The check digit of 356938035643809, off by one.
    browser.fill("#imei", "356938035643808").await;
    browser.click("form button[type=submit]").await;
    let error = browser
        .wait_for_text("[role=alert]", "That is not an IMEI", WAIT)
        .await;
    assert!(error.contains("*#06#"), "{error}");
    assert_eq!(
        browser
            .execute(
                "return document.querySelectorAll('.answer').length;",
                vec![]
            )
            .await,
        0,
        "an answer next to the error"
    );
    // What was typed stays in the field, to correct it.
    let typed = browser
        .execute("return document.getElementById('imei').value;", vec![])
        .await;
    assert_eq!(typed, "356938035643808");
    browser
        .assert_accessible("the error for a mistyped IMEI")
        .await;
    browser.screenshot("check-invalid").await;
}
