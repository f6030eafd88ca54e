//! Tests generated from the route table (`lienlock_server::routes::table`): every lender
//! and console route is called as every role (the permission matrix, cell by cell) and
//! with another lender's credentials and this lender's ids (tenant isolation), on SQLite
//! and PostgreSQL. A route added to the server is in the table, so it is in these tests;
//! one whose request this file cannot build fails here until it is taught.

use crate::console::{add_user, hidden, lender_id, Browser, PASSWORD};
use crate::harness::{imei, TestLender, TestServer};
use lienlock_domain::{Permission, Role};
use lienlock_server::routes::{table, Access, Route};
use lienlock_store_sql::testing::Backend;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};

/// One lender's objects, one of each kind a route can name.
struct World {
    device: String,
    imei: String,
    contract: String,
    payment: String,
    dispute: String,
    key: String,
    delivery: String,
}

impl World {
    async fn build(s: &TestServer, l: &TestLender, n: u32) -> World {
        let device_imei = imei(n);
        let device = s.enroll(l, &device_imei).await;
        let (c, contract) = s.post(l, "/v1/contracts", contract_body(&device)).await;
        assert_eq!(c, 201, "{contract}");
        let (c, payment) = pay(s, l, &format!("w{n}"), &imei(n + 1).to_string()).await;
        assert_eq!(c, 201, "{payment}");
        let (c, dispute) = s
            .post(
                l,
                &format!("/v1/devices/{device}/disputes"),
                json!({"reason": "receipt"}),
            )
            .await;
        assert_eq!(c, 201, "{dispute}");
        let (c, key) = s
            .post(
                l,
                "/v1/keys",
                json!({"role": "support", "label": "help desk"}),
            )
            .await;
        assert_eq!(c, 201, "{key}");
        // A webhook and something to deliver: a lock.
        let (c, hook) = s
            .call(
                Some(l),
                Method::PUT,
                "/v1/lender/webhook",
                Some(json!({"url": "https://hooks.example/lienlock"})),
            )
            .await;
        assert!(c == 200 || c == 201, "{hook}");
        let (c, _) = s
            .post(
                l,
                &format!("/v1/devices/{device}/lock"),
                json!({"reason": "overdue"}),
            )
            .await;
        assert_eq!(c, 200);
        let (c, deliveries) = s.get(l, "/v1/webhooks/deliveries").await;
        assert_eq!(c, 200, "{deliveries}");
        let delivery = deliveries["deliveries"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no delivery: {deliveries}"))
            .to_owned();
        World {
            device,
            imei: device_imei.to_string(),
            contract: contract["id"].as_str().unwrap().to_owned(),
            payment: payment["id"].as_str().unwrap().to_owned(),
            dispute: dispute["id"].as_str().unwrap().to_owned(),
            key: key["id"].as_str().unwrap().to_owned(),
            delivery,
        }
    }

    /// The route's path with this world's ids in it. Panics for a path whose id this test
    /// does not know: teach it, so the new route is tested.
    fn fill(&self, path: &str) -> String {
        if !path.contains('{') {
            return path.to_owned();
        }
        let id = [
            ("/v1/devices/{id}", &self.device),
            ("/console/devices/{id}", &self.device),
            ("/v1/contracts/{id}", &self.contract),
            ("/v1/payments/{id}", &self.payment),
            ("/v1/disputes/{id}", &self.dispute),
            ("/v1/keys/{id}", &self.key),
            ("/v1/webhooks/deliveries/{id}", &self.delivery),
            ("/console/webhooks/{id}", &self.delivery),
        ]
        .into_iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .unwrap_or_else(|| panic!("{path}: this test does not know which object {{id}} names"))
        .1;
        path.replace("{id}", id)
    }

    /// Every id of this world, to look for in another lender's answers.
    fn ids(&self) -> [&str; 7] {
        [
            &self.device,
            &self.imei,
            &self.contract,
            &self.payment,
            &self.dispute,
            &self.key,
            &self.delivery,
        ]
    }
}

fn contract_body(device: &str) -> Value {
    json!({
        "device_id": device,
        "terms": {
            "currency": "KES",
            "financed": 300_000,
            "schedule": {"monthly": {"first_due": "2026-03-10", "day_of_month": 10, "count": 3}},
            "time_zone": "Africa/Nairobi"
        }
    })
}

async fn pay(s: &TestServer, l: &TestLender, key: &str, imei: &str) -> (u16, Value) {
    let resp = s
        .http
        .post(format!("{}/v1/payments", s.url))
        .bearer_auth(&l.key)
        .header("Idempotency-Key", key)
        .json(&json!({"imei": imei, "amount": 20_000, "currency": "KES"}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// What a route is sent.
enum Body {
    None,
    Json(Value),
    Csv(String),
    /// Form fields; the session's anti-forgery token is added.
    Form(Vec<(&'static str, String)>),
    /// The console's CSV upload.
    Upload(String),
}

static FRESH: AtomicU32 = AtomicU32::new(500);

fn fresh_imei() -> String {
    imei(FRESH.fetch_add(1, Ordering::Relaxed)).to_string()
}

/// A well-formed request for the route, so that what decides the answer is who asks.
/// `w` is the world whose ids the request names.
fn body(r: &Route, w: &World) -> Body {
    let reason = || json!({"reason": "route table test"});
    if r.method == Method::GET {
        return Body::None;
    }
    match (r.method.as_str(), r.path) {
        ("POST", "/v1/devices") => Body::Json(json!({"imei": fresh_imei()})),
        ("POST", "/v1/devices/import") => Body::Csv(format!("imei\n{}\n", fresh_imei())),
        ("POST", "/v1/contracts") => Body::Json(contract_body(&w.device)),
        ("POST", "/v1/payments") => {
            Body::Json(json!({"imei": w.imei, "amount": 100, "currency": "KES"}))
        }
        ("POST", "/v1/payments/{id}/assign") => Body::Json(json!({"contract_id": w.contract})),
        ("POST", "/v1/devices/{id}/approve-key") => {
            Body::Json(json!({"reason": "x", "key": "00".repeat(32)}))
        }
        ("POST", "/v1/disputes/{id}/temporary-unlock") => Body::Json(json!({
            "reason": "x",
            "until": jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(2)).unwrap().to_string(),
        })),
        ("POST", "/v1/disputes/{id}/close") => Body::Json(json!({"resolution": "x"})),
        ("PUT", "/v1/lender/policy") => Body::Json(json!({"profile": "default"})),
        ("PUT", "/v1/lender/android") => Body::Json(json!({
            "kiosk_app_provider_name": "Acme",
            "kiosk_app_package": "com.acme.pay",
            "kiosk_app_main_activity": "com.acme.pay.Main",
            "provision_type": "mandatory",
            "retry_checkin_minutes": 30
        })),
        ("POST", "/v1/lender/android/key") => Body::None,
        ("PUT", "/v1/devices/{id}/android") => Body::Json(json!({"hold": false})),
        ("POST", "/v1/keys") => Body::Json(json!({"role": "auditor", "label": "x"})),
        ("POST", "/v1/keys/{id}/rotate") => Body::Json(json!({})),
        ("POST", "/v1/keys/{id}/revoke") => Body::None,
        ("PUT", "/v1/lender/webhook") => Body::Json(json!({"url": "https://hooks.example/x"})),
        ("DELETE", "/v1/lender/webhook") | ("POST", "/v1/lender/webhook/rotate-secret") => {
            Body::None
        }
        (
            "POST",
            "/v1/payments/{id}/reverse"
            | "/v1/devices/{id}/codes"
            | "/v1/devices/{id}/lock"
            | "/v1/devices/{id}/unlock"
            | "/v1/devices/{id}/release"
            | "/v1/devices/{id}/disputes",
        ) => Body::Json(reason()),
        ("POST", "/console/devices/{id}/actions") => Body::Form(vec![
            ("action", "lock".into()),
            ("reason", "route table test".into()),
            ("confirm", "yes".into()),
        ]),
        ("POST", "/console/devices/{id}/android") => {
            Body::Form(vec![("hold", "yes".into()), ("force", "yes".into())])
        }
        ("POST", "/console/import") => Body::Upload(format!("imei\n{}\n", fresh_imei())),
        ("POST", "/console/sign-out") => Body::Form(vec![]),
        (m, p) => panic!("{m} {p}: this test cannot build a request for this route; add one"),
    }
}

/// Calls a lender route with an API key; status and text.
async fn api(s: &TestServer, key: &str, r: &Route, path: &str, b: Body) -> (u16, String) {
    let mut req = s
        .http
        .request(r.method.clone(), format!("{}{path}", s.url))
        .bearer_auth(key)
        .header(
            "Idempotency-Key",
            format!("k{}", FRESH.fetch_add(1, Ordering::Relaxed)),
        );
    req = match b {
        Body::None => req,
        Body::Json(v) => req.json(&v),
        Body::Csv(t) => req.header("content-type", "text/csv").body(t),
        Body::Form(_) | Body::Upload(_) => panic!("{path}: a console body for an API route"),
    };
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// Calls a console route as a signed-in browser; status and text.
async fn console(b: &mut Browser, r: &Route, path: &str, body: Body) -> (u16, String) {
    // The token of this session, from a page every role may see.
    let csrf = if matches!(body, Body::Form(_) | Body::Upload(_)) {
        hidden(&b.get("/console/devices").await.body, "csrf")
    } else {
        String::new()
    };
    let page = match body {
        Body::None => {
            let req = b
                .http
                .request(r.method.clone(), format!("{}{path}", b.base));
            b.send(req).await
        }
        Body::Form(mut fields) => {
            fields.push(("csrf", csrf));
            let req = b
                .http
                .request(r.method.clone(), format!("{}{path}", b.base))
                .form(&fields);
            b.send(req).await
        }
        Body::Upload(csv) => {
            let form = reqwest::multipart::Form::new().text("csrf", csrf).part(
                "file",
                reqwest::multipart::Part::text(csv)
                    .file_name("phones.csv")
                    .mime_str("text/csv")
                    .unwrap(),
            );
            let req = b.http.post(format!("{}{path}", b.base)).multipart(form);
            b.send(req).await
        }
        Body::Json(_) | Body::Csv(_) => panic!("{path}: an API body for a console route"),
    };
    (page.status, page.body)
}

const ROLES: [Role; 5] = Role::ALL;

/// Every cell of the matrix: each role on each route gets 403 exactly when its role lacks
/// the route's permission. Keys and console users of every role, one lender.
async fn every_role_on_every_route(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let w = World::build(&s, &acme, 300).await;
    let lender = lender_id(&s, &acme).await;
    let mut keys = Vec::new();
    let mut browsers = Vec::new();
    for role in ROLES {
        let (c, k) = s
            .post(
                &acme,
                "/v1/keys",
                json!({"role": role.as_str(), "label": role.as_str()}),
            )
            .await;
        assert_eq!(c, 201, "{k}");
        keys.push(k["key"].as_str().unwrap().to_owned());
        let email = format!("{}@acme.example", role.as_str());
        add_user(&s, lender, &email, role).await;
        let mut b = Browser::new(&s);
        assert_eq!(b.sign_in(&email, PASSWORD).await.status, 303);
        browsers.push(b);
    }
    let mut cells = 0;
    // Sign-out last: it ends the session the other console cells use.
    let mut routes = table();
    routes.sort_by_key(|r| r.path == "/console/sign-out");
    for r in &routes {
        let Some(p) = r.access.permission() else {
            continue;
        };
        let path = w.fill(r.path);
        for (i, role) in ROLES.iter().enumerate() {
            let (status, text) = match r.access {
                Access::Lender(_) => api(&s, &keys[i], r, &path, body(r, &w)).await,
                Access::Console(_) => console(&mut browsers[i], r, &path, body(r, &w)).await,
                Access::Public | Access::Device => unreachable!(),
            };
            let allowed = role.allows(p);
            assert_eq!(
                status == 403,
                !allowed,
                "{} {} as {}: {status} {text}",
                r.method,
                r.path,
                role.as_str()
            );
            cells += 1;
        }
        // Without credentials: 401 for the API, the sign-in form for the console.
        if let Access::Lender(_) = r.access {
            let (status, _) = api(&s, "llk_none", r, &path, body(r, &w)).await;
            assert_eq!(status, 401, "{} {} without a key", r.method, r.path);
        }
    }
    assert!(cells >= 5 * 30, "only {cells} cells: is the table empty?");
    s.stop().await;
}

/// What lender A can see of its own objects; compared before and after lender B's calls.
async fn snapshot(s: &TestServer, a: &TestLender, w: &World) -> Vec<(String, Value)> {
    let d = &w.device;
    let mut out = Vec::new();
    for path in [
        format!("/v1/devices/{d}"),
        format!("/v1/devices/{d}/timeline"),
        format!("/v1/devices/{d}/commands"),
        format!("/v1/devices/{d}/contract"),
        format!("/v1/devices/{d}/disputes"),
        format!("/v1/devices/{d}/notices"),
        format!("/v1/devices/{d}/codes"),
        format!("/v1/contracts/{}", w.contract),
        "/v1/devices".into(),
        "/v1/payments/unmatched".into(),
        "/v1/keys".into(),
        "/v1/lender".into(),
        "/v1/lender/policy".into(),
        "/v1/lender/webhook".into(),
        "/v1/audit".into(),
    ] {
        let (c, v) = s.get(a, &path).await;
        assert_eq!(c, 200, "{path}: {v}");
        out.push((path, v));
    }
    out
}

/// Lender B calls every lender and console route with lender A's ids: a route that names
/// an object answers 404 (as for an id that does not exist), a route that names none shows
/// nothing of A's, and A's objects, timelines and audit trail are unchanged afterwards.
async fn another_lender_reaches_nothing_on_any_route(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let rival = s.lender("Rival").await;
    let w = World::build(&s, &acme, 310).await;
    let rival_lender = lender_id(&s, &rival).await;
    add_user(&s, rival_lender, "admin@rival.example", Role::Admin).await;
    let mut b = Browser::new(&s);
    assert_eq!(b.sign_in("admin@rival.example", PASSWORD).await.status, 303);
    let before = snapshot(&s, &acme, &w).await;

    let mut routes = table();
    routes.sort_by_key(|r| r.path == "/console/sign-out");
    let mut called = 0;
    let mut sent = String::new();
    for r in &routes {
        if !matches!(r.access, Access::Lender(_) | Access::Console(_)) {
            continue;
        }
        let path = w.fill(r.path);
        sent.push_str(&path);
        if let Body::Json(v) = body(r, &w) {
            sent.push_str(&v.to_string());
        }
        let (status, text) = match r.access {
            Access::Lender(_) => api(&s, &rival.key, r, &path, body(r, &w)).await,
            _ => console(&mut b, r, &path, body(r, &w)).await,
        };
        if r.path.contains("{id}") {
            assert_eq!(status, 404, "{} {path} as another lender: {text}", r.method);
        } else {
            // Ids B itself sent, now or earlier, may come back (a payment naming A's IMEI
            // is B's payment; B's audit trail lists the paths B asked for); nothing else.
            for id in w.ids().into_iter().filter(|id| !sent.contains(id)) {
                assert!(
                    !text.contains(id),
                    "{} {path} as another lender shows {id}: {}",
                    r.method,
                    &text[..text.len().min(600)]
                );
            }
        }
        called += 1;
    }
    assert!(called >= 30, "only {called} routes called");
    let after = snapshot(&s, &acme, &w).await;
    for ((path, a), (_, b)) in before.iter().zip(&after) {
        assert_eq!(a, b, "{path} changed after another lender's calls");
    }
    s.stop().await;
}

/// A revoked key stops at the next request; a rotated key works for its grace period and
/// not after; a key cannot revoke itself; another lender's key ids are not found.
async fn keys_rotate_and_revoke_at_once(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let rival = s.lender("Rival").await;
    let (c, k) = s
        .post(
            &acme,
            "/v1/keys",
            json!({"role": "collections", "label": "collector"}),
        )
        .await;
    assert_eq!(c, 201, "{k}");
    let collector = TestLender {
        key: k["key"].as_str().unwrap().to_owned(),
    };
    let id = k["id"].as_str().unwrap().to_owned();
    assert_eq!(s.get(&collector, "/v1/devices").await.0, 200);
    // Collections may not manage keys.
    let (c, _) = s
        .post(
            &collector,
            "/v1/keys",
            json!({"role": "admin", "label": "x"}),
        )
        .await;
    assert_eq!(c, 403);
    // The rival cannot touch it.
    let (c, _) = s
        .post(&rival, &format!("/v1/keys/{id}/revoke"), json!(null))
        .await;
    assert_eq!(c, 404);
    assert_eq!(s.get(&collector, "/v1/devices").await.0, 200);

    // Rotation with an hour's grace: both work, then only the new one.
    let (c, r) = s
        .post(
            &acme,
            &format!("/v1/keys/{id}/rotate"),
            json!({"grace_seconds": 3600}),
        )
        .await;
    assert_eq!(c, 201, "{r}");
    assert_eq!(r["role"], "collections");
    let rotated = TestLender {
        key: r["key"].as_str().unwrap().to_owned(),
    };
    assert_eq!(s.get(&collector, "/v1/devices").await.0, 200);
    assert_eq!(s.get(&rotated, "/v1/devices").await.0, 200);
    s.clock.advance_millis(3_601_000);
    assert_eq!(s.get(&collector, "/v1/devices").await.0, 401);
    assert_eq!(s.get(&rotated, "/v1/devices").await.0, 200);

    // Revocation is immediate.
    let new_id = r["id"].as_str().unwrap();
    let (c, v) = s
        .post(&acme, &format!("/v1/keys/{new_id}/revoke"), json!(null))
        .await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(s.get(&rotated, "/v1/devices").await.0, 401);

    // An admin key cannot revoke itself, and a grace beyond a week is refused.
    let (_, list) = s.get(&acme, "/v1/keys").await;
    let own = list
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == "bootstrap" || k["role"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (c, _) = s
        .post(&acme, &format!("/v1/keys/{own}/revoke"), json!(null))
        .await;
    assert_eq!(c, 422);
    let (c, _) = s
        .post(
            &acme,
            &format!("/v1/keys/{own}/rotate"),
            json!({"grace_seconds": 700_000}),
        )
        .await;
    assert_eq!(c, 422);
    assert_eq!(s.get(&acme, "/v1/devices").await.0, 200);
    s.stop().await;
}

/// The table itself: every lender route needs a permission, and what docs/security.md
/// prints is the matrix the code enforces.
#[test]
fn the_table_and_the_documented_matrix_agree() {
    let t = table();
    for r in &t {
        if r.path.starts_with("/v1/") && !r.path.starts_with("/v1/public/") {
            assert!(
                matches!(r.access, Access::Lender(_)),
                "{} {} is under /v1 but not a lender route",
                r.method,
                r.path
            );
        }
    }
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/security.md"
    ))
    .unwrap();
    for p in Permission::ALL {
        let line = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", p.as_str())))
            .unwrap_or_else(|| panic!("docs/security.md has no matrix row for {}", p.as_str()));
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `perm` | what | admin | store_agent | collections | support | auditor |
        for (i, role) in Role::ALL.iter().enumerate() {
            let want = if role.allows(p) { "yes" } else { "no" };
            assert_eq!(
                cells[3 + i],
                want,
                "docs/security.md: {} for {} says {}",
                p.as_str(),
                role.as_str(),
                cells[3 + i]
            );
        }
    }
}

lienlock_store_sql::backend_tests!(
    every_role_on_every_route,
    another_lender_reaches_nothing_on_any_route,
    keys_rotate_and_revoke_at_once,
);

/// The served API document and the route table list the same JSON routes: a route cannot
/// be served undocumented, nor documented and not served.
#[test]
fn the_api_document_lists_exactly_the_api_routes() {
    let doc = lienlock_server::openapi::document();
    let mut documented = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
        ] {
            if op.is_some() {
                documented.push(format!("{method} {path}"));
            }
        }
    }
    documented.sort();
    let mut served: Vec<String> = table()
        .iter()
        .filter(|r| {
            !r.path.starts_with("/console") && r.path != "/check" && !r.path.starts_with("/assets/")
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    served.sort();
    assert_eq!(documented, served);
}
