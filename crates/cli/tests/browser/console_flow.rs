//! The day's work in real browsers: a lender's staff member signs in to the console, finds
//! a phone and locks it; the borrower's phone page (`agent run --ui`) shows the lock screen
//! within seconds, in six languages; a payment is recorded and staff unlock; the console
//! follows a change made elsewhere without a reload; the IMEI check answers before and
//! after the release. A wrong password, a form without its anti-forgery token and an
//! auditor pressing "Lock" are all refused and change nothing.

use crate::harness::Browser;
use crate::server::{imei, Server};
use serde_json::{json, Value};
use std::time::Duration;

const PASSWORD: &str = "correct horse battery staple";
const SOON: Duration = Duration::from_secs(10);

/// Polls until the element `css` has `attr` = `want` (the page changing by itself).
async fn wait_attr(b: &Browser, css: &str, attr: &str, want: &str) {
    let script = format!(
        "var e = document.querySelector({}); return e ? e.getAttribute({}) : null;",
        json!(css),
        json!(attr)
    );
    let started = std::time::Instant::now();
    let mut last = Value::Null;
    while started.elapsed() < SOON {
        last = b.execute(&script, vec![]).await;
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let html = b
        .execute(
            "return document.documentElement.outerHTML.slice(0, 1500);",
            vec![],
        )
        .await;
    panic!("{css} {attr} stayed {last}, never {want:?}; the page: {html}");
}

async fn device_state(s: &Server, device: &str) -> String {
    let (status, v) = crate::common::get(&s.page(&format!("/v1/devices/{device}")), &s.key).await;
    assert_eq!(status, 200, "{v}");
    v["state"].as_str().unwrap().to_owned()
}

async fn sign_in(b: &Browser, s: &Server, email: &str, password: &str) {
    b.goto(&s.page("/console/sign-in")).await;
    b.fill("#email", email).await;
    b.fill("#password", password).await;
    b.click("#sign-in").await;
}

/// Fills and submits one of the device page's action forms.
async fn act(b: &Browser, action: &str, reason: &str) {
    b.fill(&format!("#reason-{action}"), reason).await;
    b.click(&format!("#confirm-{action}")).await;
    b.click(&format!("#do-{action}")).await;
}

#[tokio::test]
async fn staff_lock_and_unlock_a_phone_its_borrower_watches() {
    let (staff, borrower, s) = tokio::join!(Browser::start(), Browser::start(), Server::start());
    let (Some(staff), Some(borrower)) = (staff, borrower) else {
        return;
    };
    let phone_imei = imei(7);
    let device = s.enroll(&phone_imei).await;
    s.post(
        "/v1/contracts",
        json!({"device_id": device, "reference": "LN-7", "terms": {
            "currency": "KES", "financed": 30_000,
            "schedule": {"explicit": [["2099-01-10", 10_000], ["2099-02-10", 20_000]]},
            "time_zone": "Africa/Nairobi"}}),
        201,
    )
    .await;
    s.add_user("ana@acme.example", "collections", PASSWORD)
        .await;
    s.add_user("audit@acme.example", "auditor", PASSWORD).await;
    let (_phone, page) = s.phone(&phone_imei, "en").await;

    // The borrower's phone works normally.
    borrower.goto(&page).await;
    wait_attr(&borrower, "#screen", "data-state", "active").await;
    borrower.assert_accessible("phone, active").await;
    borrower.screenshot("phone-active").await;

    // The sign-in form itself.
    staff.goto(&s.page("/console/sign-in")).await;
    staff.assert_accessible("console, sign-in").await;

    // A wrong password is refused.
    sign_in(&staff, &s, "ana@acme.example", "not the password").await;
    staff
        .wait_for_text("#sign-in-error", "Wrong e-mail address or password", SOON)
        .await;
    staff.assert_accessible("console, sign-in refused").await;
    staff.screenshot("console-sign-in-refused").await;

    // Signed in, the dashboard; then the phone, found by its IMEI.
    sign_in(&staff, &s, "ana@acme.example", PASSWORD).await;
    staff.wait_for_text("h1", "Acme: portfolio", SOON).await;
    staff.assert_accessible("console, dashboard").await;
    staff.screenshot("console-dashboard").await;
    staff.click("nav a[href='/console/devices']").await;
    staff.wait_for_text("h1", "Devices", SOON).await;
    staff.assert_accessible("console, device list").await;
    staff.fill("#q", &phone_imei).await;
    staff.click("#search").await;
    // The full list shows the same link: wait for the search's own page before clicking,
    // or the click can land on the page being replaced.
    let searched = std::time::Instant::now();
    while !staff.url().await.contains("q=") {
        assert!(searched.elapsed() < SOON, "the search never loaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    staff
        .click(&format!("a[href='/console/devices/{device}']"))
        .await;
    staff
        .wait_for_text("h1", &format!("Device {phone_imei}"), SOON)
        .await;
    staff.assert_accessible("console, device page").await;

    // Staff lock it with a reason; the phone shows the lock screen within seconds.
    act(&staff, "lock", "61 days overdue, no answer to calls").await;
    staff.wait_for_text("#flash", "Locked.", SOON).await;
    wait_attr(&staff, "#device-state", "data-state", "locked").await;
    staff.screenshot("console-device-locked").await;
    wait_attr(&borrower, "#screen", "data-state", "locked").await;
    let lock = borrower.text("#lock-screen").await;
    assert!(lock.contains("Acme"), "{lock}");
    assert_eq!(borrower.text("#imei").await, phone_imei);
    let call = borrower.find("#emergency-call").await;
    assert_eq!(call.attr("href").await.unwrap().as_deref(), Some("tel:112"));
    borrower.assert_accessible("phone, locked").await;
    borrower.screenshot("phone-locked-en").await;

    // The lock screen in each of its languages, each read by the audit.
    for lang in ["hi", "sw", "es", "pt", "id", "en"] {
        borrower
            .find("#language")
            .await
            .select_by_value(lang)
            .await
            .unwrap();
        borrower.click("#language-submit").await;
        wait_attr(&borrower, "html", "lang", lang).await;
        wait_attr(&borrower, "#screen", "data-state", "locked").await;
        borrower
            .assert_accessible(&format!("phone, locked, {lang}"))
            .await;
        borrower.screenshot(&format!("phone-locked-{lang}")).await;
    }

    // The CSV enrollment page is for roles that enroll; collections are told so (the
    // upload itself is tested over HTTP in the server's tests, role by role).
    staff.goto(&s.page("/console/import")).await;
    staff.wait_for_text("h1", "Not allowed", SOON).await;
    staff
        .assert_accessible("console, CSV enrollment refused")
        .await;
    staff
        .goto(&s.page(&format!("/console/devices/{device}")))
        .await;

    // The borrower pays; collections unlock, and the phone follows.
    s.post(
        "/v1/payments",
        json!({"reference": "LN-7", "amount": 10_000, "currency": "KES"}),
        201,
    )
    .await;
    act(&staff, "unlock", "installment 1 paid").await;
    staff.wait_for_text("#flash", "Unlocked.", SOON).await;
    wait_attr(&borrower, "#screen", "data-state", "active").await;
    borrower.screenshot("phone-unlocked").await;

    // A change made elsewhere (an integration's API call) reaches the open console page
    // without a reload.
    s.command(&device, "lock", "locked by the collections system")
        .await;
    wait_attr(&staff, "#device-state", "data-state", "locked").await;
    s.command(&device, "unlock", "cleared by the collections system")
        .await;
    wait_attr(&staff, "#device-state", "data-state", "active").await;

    // A form whose anti-forgery token is gone is refused, and nothing happens.
    staff
        .execute(
            "document.querySelector('#form-lock input[name=csrf]').value = '';",
            vec![],
        )
        .await;
    act(&staff, "lock", "forged").await;
    staff.wait_for_text("h1", "Not allowed", SOON).await;
    staff
        .assert_accessible("console, forged form refused")
        .await;
    staff.screenshot("console-csrf-refused").await;
    assert_eq!(device_state(&s, &device).await, "active");

    // The IMEI check before and after the release.
    let checker = &borrower;
    checker
        .goto(&s.page(&format!("/check?imei={phone_imei}")))
        .await;
    checker
        .wait_for_text(".answer", "Under a financing program", SOON)
        .await;
    staff
        .goto(&s.page(&format!("/console/devices/{device}")))
        .await;
    act(&staff, "release", "final installment paid").await;
    staff
        .wait_for_text("#flash", "Released for good.", SOON)
        .await;
    checker
        .goto(&s.page(&format!("/check?imei={phone_imei}")))
        .await;
    checker.wait_for_text(".answer", "Clear", SOON).await;
    checker.goto(&page).await;
    wait_attr(checker, "#screen", "data-state", "free").await;
    checker.assert_accessible("phone, released").await;
    checker.screenshot("phone-free").await;

    // An auditor sees the phone but pressing "Lock" is refused.
    staff.click(".signout button").await;
    staff.wait_for_text("h1", "Sign in", SOON).await;
    sign_in(&staff, &s, "audit@acme.example", PASSWORD).await;
    staff.wait_for_text("h1", "Acme: portfolio", SOON).await;
    staff
        .goto(&s.page(&format!("/console/devices/{device}")))
        .await;
    staff
        .wait_for_text("#form-lock", "Your role (auditor) may not do this.", SOON)
        .await;
    act(&staff, "lock", "auditor trying").await;
    staff.wait_for_text("#error-message", "may not", SOON).await;
    staff.screenshot("console-auditor-refused").await;
    assert_eq!(device_state(&s, &device).await, "released");
}
