//! The lender console over HTTP, as a browser without JavaScript uses it: sign-in with
//! its throttle, sessions and sign-out, anti-forgery tokens on every form, role gates,
//! tenant scope, and the pages a lender's staff work from.

use crate::harness::{imei, TestLender, TestServer};
use lienlock_domain::{LenderId, Role};
use lienlock_server::service::NewUser;
use lienlock_store_sql::testing::Backend;
use reqwest::header::{
    CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE,
};
use reqwest::redirect::Policy;
use zeroize::Zeroizing;

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A browser: no redirects followed, cookies kept by hand.
pub(crate) struct Browser {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    cookies: Vec<(String, String)>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    location: Option<String>,
    csp: Option<String>,
    content_type: Option<String>,
    disposition: Option<String>,
    pub(crate) body: String,
}

impl Browser {
    pub(crate) fn new(s: &TestServer) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: s.url.clone(),
            cookies: Vec::new(),
        }
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let header = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = if header.is_empty() {
            req
        } else {
            req.header(COOKIE, header)
        };
        let resp = req.send().await.unwrap();
        for set in resp.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (kv, attrs) = set.split_once(';').unwrap_or((set, ""));
            let (k, v) = kv.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !attrs.contains("Max-Age=0") {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
        let header = |h| {
            resp.headers()
                .get(h)
                .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
        };
        Page {
            status: resp.status().as_u16(),
            location: header(LOCATION),
            csp: header(CONTENT_SECURITY_POLICY),
            content_type: header(CONTENT_TYPE),
            disposition: header(CONTENT_DISPOSITION),
            body: resp.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    pub(crate) async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/console/sign-in").await;
        let csrf = hidden(&form.body, "csrf");
        self.post(
            "/console/sign-in",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }
}

/// The value of the first hidden input named `name`.
pub(crate) fn hidden(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

pub(crate) async fn lender_id(s: &TestServer, l: &TestLender) -> LenderId {
    let (_, v) = s.get(l, "/v1/lender").await;
    v["id"].as_str().unwrap().parse().unwrap()
}

pub(crate) async fn add_user(s: &TestServer, lender: LenderId, email: &str, role: Role) {
    s.service()
        .add_user(NewUser {
            lender_id: lender,
            email: email.into(),
            name: format!("{} user", role.as_str()),
            role,
            password: Zeroizing::new(PASSWORD.into()),
        })
        .await
        .unwrap();
}

async fn device_state(s: &TestServer, l: &TestLender, device: &str) -> String {
    let (_, v) = s.get(l, &format!("/v1/devices/{device}")).await;
    v["state"].as_str().unwrap().to_owned()
}

async fn staff_run_the_day_from_the_console(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let other = s.lender("Other").await;
    let acme_id = lender_id(&s, &acme).await;
    add_user(&s, acme_id, "Admin@Acme.example", Role::Admin).await;
    add_user(&s, acme_id, "audit@acme.example", Role::Auditor).await;
    let (device, _phone) = s.enrolled_phone(&acme, 41).await;
    let others = s.enroll(&other, &imei(42)).await;

    // Without a session every page sends the browser to sign in, and back afterwards.
    let mut b = Browser::new(&s);
    let p = b.get("/console/devices").await;
    assert_eq!(p.status, 303);
    assert_eq!(
        p.location.as_deref(),
        Some("/console/sign-in?next=/console/devices")
    );

    // The sign-in form is protected against forgery too.
    let p = b.get("/console/sign-in").await;
    assert_eq!(p.status, 200);
    let csp = p.csp.unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(b.cookie("lienlock_signin").is_some());
    let p = b
        .post(
            "/console/sign-in",
            &[
                ("csrf", "forged"),
                ("email", "admin@acme.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(b.cookie("lienlock_session").is_none());

    // A wrong password is refused with the same words as an unknown address.
    let p = b.sign_in("admin@acme.example", "wrong password!!").await;
    assert_eq!(p.status, 401);
    assert!(p.body.contains("Wrong e-mail address or password."));
    let p = b.sign_in("nobody@acme.example", PASSWORD).await;
    assert_eq!(p.status, 401);
    assert!(b.cookie("lienlock_session").is_none());

    // The right one (the address in any case) opens a session.
    let p = b.sign_in(" ADMIN@acme.example", PASSWORD).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location.as_deref(), Some("/console/dashboard"));
    assert!(b.cookie("lienlock_session").is_some());

    let p = b.get("/console/dashboard").await;
    assert_eq!(p.status, 200, "{}", p.body);
    for text in [
        "Acme: portfolio",
        "Locks today",
        "1 to 30 days",
        "Lender: active",
    ] {
        assert!(p.body.contains(text), "{text} missing");
    }

    // Find the phone by IMEI, open its page, lock it with a reason.
    let p = b.get(&format!("/console/devices?q={}", imei(41))).await;
    assert!(
        p.body.contains(&format!("/console/devices/{device}")),
        "{}",
        p.body
    );
    let p = b.get(&format!("/console/devices/{device}")).await;
    assert_eq!(p.status, 200);
    let csrf = hidden(&p.body, "csrf");
    let lock = |csrf: &str| -> [(&'static str, String); 4] {
        [
            ("csrf", csrf.to_owned()),
            ("action", "lock".into()),
            ("reason", "61 days overdue, no answer".into()),
            ("confirm", "yes".into()),
        ]
    };
    // Without the token nothing happens.
    let forged = lock("forged");
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = b
        .post(&format!("/console/devices/{device}/actions"), &forged)
        .await;
    assert_eq!(p.status, 403);
    assert_eq!(device_state(&s, &acme, &device).await, "active");
    // Without the confirmation box nothing happens.
    let p = b
        .post(
            &format!("/console/devices/{device}/actions"),
            &[("csrf", &csrf), ("action", "lock"), ("reason", "overdue")],
        )
        .await;
    assert_eq!(p.status, 422);
    assert_eq!(device_state(&s, &acme, &device).await, "active");
    let good = lock(&csrf);
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = b
        .post(&format!("/console/devices/{device}/actions"), &good)
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("data-state=\"locked\""), "{}", p.body);
    assert_eq!(device_state(&s, &acme, &device).await, "locked");
    // The timeline names the person and the reason.
    assert!(p.body.contains("admin user (admin)"), "{}", p.body);
    assert!(p.body.contains("61 days overdue, no answer"));
    // The live status the page's script polls.
    let st = b.get(&format!("/console/devices/{device}/state")).await;
    let v: serde_json::Value = serde_json::from_str(&st.body).unwrap();
    assert_eq!(v["state_key"], "locked");

    // Another lender's device does not exist here.
    let p = b.get(&format!("/console/devices/{others}")).await;
    assert_eq!(p.status, 404);
    let p = b
        .post(&format!("/console/devices/{others}/actions"), &good)
        .await;
    assert_eq!(p.status, 404);
    assert_eq!(device_state(&s, &other, &others).await, "active");
    let p = b.get(&format!("/console/devices?q={}", imei(42))).await;
    assert!(!p.body.contains(&others));

    // An offline code, shown once on the page (the phone has no contract, so staff give
    // the date it runs until).
    let until = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(30))
        .unwrap()
        .to_string();
    let p = b
        .post(
            &format!("/console/devices/{device}/actions"),
            &[
                ("csrf", &csrf),
                ("action", "code"),
                ("paid_until", &until),
                ("reason", "borrower paid at the shop"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("Offline code "), "{}", p.body);

    // Bulk enrollment from an uploaded file, with a result per row.
    let p = b.get("/console/import").await;
    let import_csrf = hidden(&p.body, "csrf");
    let csv = format!(
        "imei,model\n{},A15\n12345,A15\n{},A05\n",
        imei(43),
        imei(41)
    );
    let upload = |token: &str| {
        reqwest::multipart::Form::new()
            .text("csrf", token.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::text(csv.clone())
                    .file_name("phones.csv")
                    .mime_str("text/csv")
                    .unwrap(),
            )
    };
    let req = b
        .http
        .post(format!("{}/console/import", b.base))
        .multipart(upload("forged"));
    assert_eq!(b.send(req).await.status, 403);
    let req = b
        .http
        .post(format!("{}/console/import", b.base))
        .multipart(upload(&import_csrf));
    let p = b.send(req).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body
            .contains("3 rows: 1 enrolled, 1 already enrolled, 1 not enrolled."),
        "{}",
        p.body
    );
    let (_, list) = s.get(&acme, "/v1/devices?limit=10").await;
    assert_eq!(list["devices"].as_array().unwrap().len(), 2, "{list}");

    // Signing out ends the session for good.
    let old = b.cookie("lienlock_session").unwrap().to_owned();
    let p = b.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, 303);
    b.cookies.push(("lienlock_session".into(), old));
    let p = b.get("/console/dashboard").await;
    assert_eq!(p.status, 303);

    // An auditor reads everything and changes nothing.
    let mut a = Browser::new(&s);
    assert_eq!(a.sign_in("audit@acme.example", PASSWORD).await.status, 303);
    let p = a.get(&format!("/console/devices/{device}")).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("Your role (auditor) may not do this."));
    let csrf = hidden(&p.body, "csrf");
    let p = a
        .post(
            &format!("/console/devices/{device}/actions"),
            &[
                ("csrf", &csrf),
                ("action", "unlock"),
                ("reason", "let me"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(p.body.contains("may not"), "{}", p.body);
    assert_eq!(device_state(&s, &acme, &device).await, "locked");
    // It downloads the trail: the API's CSV, as a file, its own sign-in on it.
    let p = a.get("/console/audit.csv").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.content_type.as_deref(), Some("text/csv; charset=utf-8"));
    assert_eq!(
        p.disposition.as_deref(),
        Some("attachment; filename=\"audit.csv\"")
    );
    assert!(p.body.starts_with("seq,at,actor,role,"), "{}", p.body);
    assert!(p.body.contains("/console/sign-in"), "{}", p.body);

    // Disabling the auditor ends their open session and their sign-in.
    s.service()
        .disable_user("AUDIT@acme.example")
        .await
        .unwrap();
    let p = a.get(&format!("/console/devices/{device}")).await;
    assert_eq!(p.status, 303);
    let mut again = Browser::new(&s);
    assert_eq!(
        again.sign_in("audit@acme.example", PASSWORD).await.status,
        401
    );
    assert!(s
        .service()
        .disable_user("nobody@acme.example")
        .await
        .is_err());
    s.stop().await;
}

async fn guessing_passwords_is_throttled(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let acme_id = lender_id(&s, &acme).await;
    add_user(&s, acme_id, "ops@acme.example", Role::Support).await;
    let mut b = Browser::new(&s);
    for _ in 0..5 {
        assert_eq!(
            b.sign_in("ops@acme.example", "guess guess guess")
                .await
                .status,
            401
        );
    }
    // The sixth attempt waits, even with the right password.
    let p = b.sign_in("ops@acme.example", PASSWORD).await;
    assert_eq!(p.status, 429, "{}", p.body);
    assert!(p.body.contains("Too many failed attempts"));
    assert!(b.cookie("lienlock_session").is_none());
    s.stop().await;
}

lienlock_store_sql::backend_tests!(staff_run_the_day_from_the_console);
lienlock_store_sql::backend_tests!(guessing_passwords_is_throttled);
