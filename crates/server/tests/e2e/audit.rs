//! The audit trail over HTTP: what a state-changing request leaves in it, who may read and
//! export it, and that editing, deleting or reordering rows in the database is caught.

use crate::console::{add_user, lender_id, Browser, PASSWORD};
use crate::harness::{imei, TestLender, TestServer};
use lienlock_domain::audit::ChainBreak;
use lienlock_domain::Role;
use lienlock_store_sql::testing::Backend;
use serde_json::{json, Value};

async fn entries(s: &TestServer, l: &TestLender) -> Vec<Value> {
    let (c, v) = s.get(l, "/v1/audit").await;
    assert_eq!(c, 200, "{v}");
    v["entries"].as_array().unwrap().clone()
}

/// `GET /v1/audit.csv` as `l`.
async fn export(s: &TestServer, l: &TestLender) -> reqwest::Response {
    s.http
        .get(format!("{}/v1/audit.csv", s.url))
        .bearer_auth(&l.key)
        .send()
        .await
        .unwrap()
}

async fn key(s: &TestServer, admin: &TestLender, role: &str) -> TestLender {
    let (c, k) = s
        .post(admin, "/v1/keys", json!({"role": role, "label": role}))
        .await;
    assert_eq!(c, 201, "{k}");
    TestLender {
        key: k["key"].as_str().unwrap().to_owned(),
    }
}

async fn actions_are_recorded_with_who_why_and_outcome(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let rival = s.lender("Rival").await;
    let device = s.enroll(&acme, &imei(700)).await;
    let support = key(&s, &acme, "support").await;
    let auditor = key(&s, &acme, "auditor").await;
    let (c, _) = s
        .post(
            &acme,
            &format!("/v1/devices/{device}/lock"),
            json!({"reason": "90 days overdue"}),
        )
        .await;
    assert_eq!(c, 200);
    // A refused attempt is recorded too.
    let (c, _) = s
        .post(
            &support,
            &format!("/v1/devices/{device}/unlock"),
            json!({"reason": "asked nicely"}),
        )
        .await;
    assert_eq!(c, 403);
    // A console user's action, from a form.
    let lender = lender_id(&s, &acme).await;
    add_user(&s, lender, "ops@acme.example", Role::Collections).await;
    let mut b = Browser::new(&s);
    assert_eq!(b.sign_in("ops@acme.example", PASSWORD).await.status, 303);
    let page = b.get(&format!("/console/devices/{device}")).await;
    let csrf = crate::console::hidden(&page.body, "csrf");
    let p = b
        .post(
            &format!("/console/devices/{device}/actions"),
            &[
                ("csrf", &csrf),
                ("action", "unlock"),
                ("reason", "paid at the branch"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(
        Browser::new(&s)
            .sign_in("ops@acme.example", "not the password")
            .await
            .status,
        401
    );
    // Reads are not state changes and leave nothing.
    s.get(&acme, "/v1/devices").await;

    let all = entries(&s, &auditor).await;
    let find = |action: &str, outcome: &str| {
        all.iter()
            .find(|e| e["action"] == action && e["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {action} {outcome} in {all:#?}"))
            .clone()
    };
    let lock = find("POST /v1/devices/{id}/lock", "200");
    assert_eq!(lock["role"], "admin");
    assert!(lock["actor"].as_str().unwrap().starts_with("api_key:"));
    assert_eq!(lock["address"], "127.0.0.1");
    assert_eq!(lock["reason"], "90 days overdue");
    assert_eq!(lock["object"], format!("/v1/devices/{device}/lock"));
    assert_eq!(lock["request_id"].as_str().unwrap().len(), 32);
    let refused = find("POST /v1/devices/{id}/unlock", "403");
    assert_eq!(refused["role"], "support");
    let console = find("POST /console/devices/{id}/actions", "200");
    assert!(console["actor"].as_str().unwrap().starts_with("user:"));
    // The session it ran in was opened on the record, by the same user; a failed attempt
    // (made after it) left nothing.
    let signed_in = find("POST /console/sign-in", "303");
    assert_eq!(signed_in["actor"], console["actor"]);
    assert_eq!(signed_in["role"], "collections");
    assert_eq!(signed_in["address"], "127.0.0.1");
    assert!(all
        .iter()
        .all(|e| e["action"] != "POST /console/sign-in" || e["outcome"] == "303"));
    assert_eq!(console["reason"], "paid at the branch");
    assert!(all.iter().all(|e| e["action"] != "GET /v1/devices"));
    // Chained: each entry names the hash of the one before.
    for pair in all.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
        assert_eq!(
            pair[1]["seq"].as_i64(),
            pair[0]["seq"].as_i64().map(|n| n + 1)
        );
    }

    // The CSV export has the same rows, with a header.
    let resp = export(&s, &auditor).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = resp.text().await.unwrap();
    assert!(csv.starts_with("seq,at,actor,role,address,action,object,reason,outcome,"));
    assert_eq!(csv.lines().count(), all.len() + 1);
    assert!(csv.contains("90 days overdue"));

    // Support may not read it; another lender sees only its own (empty) trail.
    assert_eq!(s.get(&support, "/v1/audit").await.0, 403);
    assert_eq!(s.get(&support, "/v1/audit.csv").await.0, 403);
    let theirs = entries(&s, &rival).await;
    assert!(
        theirs.iter().all(|e| !e.to_string().contains(&device)),
        "{theirs:?}"
    );

    let reports = s.service().verify_audit().await.unwrap();
    assert!(reports.iter().all(|r| r.broken.is_none()), "{reports:?}");
    s.stop().await;
}

/// Each kind of tampering, on its own lender's chain so each is seen on its own.
async fn every_kind_of_edit_is_caught(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let mut chains = Vec::new();
    for (n, name) in ["edit", "delete", "reorder", "tail", "forged"]
        .iter()
        .enumerate()
    {
        let l = s.lender(name).await;
        let device = s.enroll(&l, &imei(710 + n as u32)).await;
        for reason in ["one", "two", "three", "four"] {
            let (c, _) = s
                .post(
                    &l,
                    &format!("/v1/devices/{device}/lock"),
                    json!({"reason": reason}),
                )
                .await;
            assert!(c == 200 || c == 409, "{c}");
        }
        chains.push(lender_id(&s, &l).await.to_string());
    }
    let reports = s.service().verify_audit().await.unwrap();
    assert!(reports.iter().all(|r| r.broken.is_none()), "{reports:?}");
    let rows_before: u64 = reports.iter().map(|r| r.rows).sum();
    assert!(rows_before >= 5 * 5, "{reports:?}");

    // The application's own database user cannot change the log: the triggers refuse.
    let db = s.db();
    let refused = db
        .try_exec_raw(&format!(
            "UPDATE audit_log SET reason = 'nothing' WHERE chain = '{}' AND seq = 2",
            chains[0]
        ))
        .await;
    assert!(refused.unwrap_err().contains("append-only"));
    assert!(db
        .try_exec_raw(&format!(
            "DELETE FROM audit_log WHERE chain = '{}'",
            chains[0]
        ))
        .await
        .is_err());

    // Someone who owns the database can drop the triggers; the chain catches them.
    match db.backend() {
        Backend::Sqlite => {
            db.exec_raw("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
                .await
        }
        Backend::Postgres => {
            db.exec_raw("DROP TRIGGER audit_log_append_only ON audit_log")
                .await
        }
    }
    let [edit, delete, reorder, tail, forged] = [0, 1, 2, 3, 4].map(|i| chains[i].clone());
    db.exec_raw(&format!(
        "UPDATE audit_log SET reason = 'nothing to see' WHERE chain = '{edit}' AND seq = 3"
    ))
    .await;
    db.exec_raw(&format!(
        "DELETE FROM audit_log WHERE chain = '{delete}' AND seq = 2"
    ))
    .await;
    // Swap the contents of rows 2 and 3 (keeping their places and hashes).
    db.exec_raw(&format!(
        "UPDATE audit_log SET seq = -1 WHERE chain = '{reorder}' AND seq = 2; \
         UPDATE audit_log SET seq = 2 WHERE chain = '{reorder}' AND seq = 3; \
         UPDATE audit_log SET seq = 3 WHERE chain = '{reorder}' AND seq = -1;"
    ))
    .await;
    db.exec_raw(&format!(
        "DELETE FROM audit_log WHERE chain = '{tail}' AND seq = \
         (SELECT MAX(seq) FROM audit_log WHERE chain = '{tail}')"
    ))
    .await;
    // A stored hash overwritten (the domain's unit tests cover a forger who recomputes it:
    // the next row's link breaks).
    db.exec_raw(&format!(
        "UPDATE audit_log SET hash = prev_hash WHERE chain = '{forged}' AND seq = 2"
    ))
    .await;

    let reports = s.service().verify_audit().await.unwrap();
    let broken = |chain: &str| {
        reports
            .iter()
            .find(|r| r.chain == chain)
            .unwrap()
            .broken
            .clone()
            .unwrap_or_else(|| panic!("{chain} not caught: {reports:?}"))
    };
    assert_eq!(broken(&edit), ChainBreak::Edited { seq: 3 });
    assert_eq!(
        broken(&delete),
        ChainBreak::Gap {
            found: 3,
            expected_before: 1
        }
    );
    assert!(
        matches!(
            broken(&reorder),
            ChainBreak::Link { seq: 2 } | ChainBreak::Edited { seq: 2 }
        ),
        "{:?}",
        broken(&reorder)
    );
    assert!(matches!(broken(&tail), ChainBreak::Head { .. }));
    assert!(
        matches!(
            broken(&forged),
            ChainBreak::Edited { seq: 2 } | ChainBreak::Link { seq: 3 }
        ),
        "{:?}",
        broken(&forged)
    );
    // The platform chain and the untouched ones still verify.
    for r in &reports {
        if !chains.contains(&r.chain) {
            assert!(r.broken.is_none(), "{r:?}");
        }
    }
    s.stop().await;
}

/// The CSV export is sent a page at a time: a trail longer than one page comes out whole,
/// in order, each row once.
async fn the_csv_export_carries_a_trail_longer_than_a_page(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let auditor = key(&s, &acme, "auditor").await;
    let lender = lender_id(&s, &acme).await;
    let page = lienlock_server::service::AUDIT_PAGE as usize;
    let before = entries(&s, &auditor).await.len();
    for i in 0..page + 5 {
        s.service()
            .audit_operator(Some(lender), "test entry", &i.to_string())
            .await
            .unwrap();
    }
    let resp = export(&s, &auditor).await;
    assert_eq!(resp.status(), 200);
    let csv = resp.text().await.unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    // The entries made before (the auditor's key), then the test's, with no gap or repeat
    // at the page's edge.
    assert_eq!(rows.len(), before + page + 5);
    let seqs: Vec<i64> = rows
        .iter()
        .map(|r| r.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    assert_eq!(
        rows.iter().filter(|r| r.contains("test entry")).count(),
        page + 5
    );
    s.stop().await;
}

/// A lender's request that took effect but whose audit entry could not be stored is not
/// acknowledged, and the answer says it took effect (a refused one changed nothing, and
/// says that). The database refuses audit rows through a trigger: on PostgreSQL with the
/// disk-full SQLSTATE, so the answer is the full disk's; SQLite cannot choose its error.
async fn an_action_whose_audit_entry_cannot_be_stored_says_it_took_effect(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let l = s.lender("Acme").await;
    s.db()
        .exec_raw(match backend {
            Backend::Sqlite => {
                "CREATE TRIGGER audit_refused BEFORE INSERT ON audit_log \
                 BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
            }
            Backend::Postgres => {
                "CREATE FUNCTION audit_refused() RETURNS trigger AS $$ BEGIN \
                 RAISE EXCEPTION 'audit refused' USING ERRCODE = 'disk_full'; END $$ \
                 LANGUAGE plpgsql; \
                 CREATE TRIGGER audit_refused BEFORE INSERT ON audit_log \
                 FOR EACH ROW EXECUTE FUNCTION audit_refused()"
            }
        })
        .await;
    let resp = s
        .http
        .post(format!("{}/v1/devices", s.url))
        .bearer_auth(&l.key)
        .json(&json!({"imei": imei(1).as_str()}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").cloned();
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    match backend {
        Backend::Sqlite => assert_eq!(
            (status, body["error"]["code"].as_str()),
            (500, Some("internal"))
        ),
        Backend::Postgres => {
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (503, Some("storage_full"))
            );
            assert_eq!(retry_after.unwrap(), "30");
        }
    }
    assert!(message.contains("the request took effect"), "{message}");
    assert!(!message.contains("nothing was written"), "{message}");
    // It did take effect: the phone is enrolled.
    let (c, v) = s.get(&l, "/v1/devices").await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(v["devices"].as_array().unwrap().len(), 1, "{v}");
    // A refused request changed nothing, and its answer does not claim otherwise.
    let resp = s
        .http
        .post(format!("{}/v1/devices", s.url))
        .bearer_auth(&l.key)
        .json(&json!({"imei": "not an imei"}))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(!message.contains("took effect"), "{message}");
    s.stop().await;
}

lienlock_store_sql::backend_tests!(
    an_action_whose_audit_entry_cannot_be_stored_says_it_took_effect,
    actions_are_recorded_with_who_why_and_outcome,
    every_kind_of_edit_is_caught,
    the_csv_export_carries_a_trail_longer_than_a_page,
);
