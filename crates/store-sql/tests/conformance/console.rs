//! The console's storage: users and sessions, the dashboard's aggregates, and the device
//! list by arrears.

use crate::fixtures::*;
use lienlock_domain::{
    Currency, DeviceState, EventKind, Money, Principal, RestrictionLevel, Role, UserId,
};
use lienlock_store::{Arrears, DeviceQuery, OverdueRange, SessionRecord, StoreError, UserRecord};
use lienlock_store_sql::backend_tests;

backend_tests!(
    users_and_sessions_round_trip,
    portfolio_aggregates_count_what_they_say,
    overdue_devices_page_most_overdue_first
);

const DAY: i64 = 86_400_000;

fn user(ctx: &lienlock_domain::LenderCtx, email: &str, role: Role) -> UserRecord {
    UserRecord {
        id: UserId::new(),
        lender_id: ctx.lender_id,
        email: email.into(),
        name: "Ana".into(),
        role,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: at(1),
        disabled_at: None,
    }
}

async fn users_and_sessions_round_trip(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let a = lender(&store, "A").await;
    let b = lender(&store, "B").await;
    let ana = user(&a, "ana@a.example", Role::Collections);
    store.create_user(&ana).await.unwrap();
    // An address belongs to one user, across lenders.
    assert_err(
        store
            .create_user(&user(&b, "ana@a.example", Role::Admin))
            .await,
        StoreError::Duplicate("email"),
    );
    let mut ghost = user(&a, "ghost@a.example", Role::Admin);
    ghost.lender_id = lienlock_domain::LenderId::new();
    assert_err(
        store.create_user(&ghost).await,
        StoreError::NotFound("lender"),
    );
    assert_eq!(
        store.user_by_email_unscoped("ana@a.example").await.unwrap(),
        Some(ana.clone())
    );
    assert_eq!(
        store.user_by_email_unscoped("bob@a.example").await.unwrap(),
        None
    );
    assert_eq!(store.list_users(&a).await.unwrap(), vec![ana.clone()]);
    assert!(store.list_users(&b).await.unwrap().is_empty());

    let session = SessionRecord {
        token_hash: [7; 32],
        user_id: ana.id,
        lender_id: a.lender_id,
        csrf_token: "csrf".into(),
        created_at: at(10),
        expires_at: at(10 + DAY),
        revoked_at: None,
    };
    store.create_session(&session).await.unwrap();
    assert_err(
        store.create_session(&session).await,
        StoreError::Duplicate("session"),
    );
    // A session of a user of another lender cannot be stored.
    let mut crossed = session.clone();
    crossed.token_hash = [8; 32];
    crossed.lender_id = b.lender_id;
    assert!(store.create_session(&crossed).await.is_err());
    assert_eq!(
        store.session_unscoped(&[7; 32]).await.unwrap(),
        Some((session.clone(), ana.clone()))
    );
    assert_eq!(store.session_unscoped(&[9; 32]).await.unwrap(), None);
    store.revoke_session(&[7; 32], at(20)).await.unwrap();
    // Revoking again keeps the first time.
    store.revoke_session(&[7; 32], at(30)).await.unwrap();
    let (s, _) = store.session_unscoped(&[7; 32]).await.unwrap().unwrap();
    assert_eq!(s.revoked_at, Some(at(20)));
    let _ = Principal::User(ana.id);

    // Disabled from a moment on, once; an unknown address is reported.
    assert!(store
        .disable_user_unscoped("ana@a.example", at(40))
        .await
        .unwrap());
    assert!(store
        .disable_user_unscoped("ana@a.example", at(50))
        .await
        .unwrap());
    assert!(!store
        .disable_user_unscoped("bob@a.example", at(40))
        .await
        .unwrap());
    let (_, u) = store.session_unscoped(&[7; 32]).await.unwrap().unwrap();
    assert_eq!(u.disabled_at, Some(at(40)));
}

fn kes(minor: i64) -> Money {
    Money::new(Currency::parse("KES").unwrap(), minor)
}

async fn portfolio_aggregates_count_what_they_say(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let a = lender(&store, "A").await;
    let b = lender(&store, "B").await;
    let now = at(1_000 * DAY);
    // Overdue 5, 45, 75 and 200 days; one locked by the lender, one restricted by policy.
    let mut devices = Vec::new();
    for (n, days) in [(1u32, 5i64), (2, 45), (3, 75), (4, 200), (5, 0)] {
        let d = enroll(&store, &a, imei(n), None).await;
        let mut w = write(&d);
        if days > 0 {
            w.device.arrears = Some(Arrears {
                amount: kes(1_000 * days),
                since: lienlock_domain::Timestamp::from_millis(now.as_millis() - days * DAY),
            });
        }
        if n == 4 {
            w.device.state = DeviceState::Locked;
        }
        if n == 3 {
            w.device.policy_level = RestrictionLevel::FullLock;
        }
        devices.push(save(&store, w).await);
    }
    // Another lender's device counts for nobody else.
    enroll(&store, &b, imei(9), None).await;

    let c = store.portfolio_counts(&a, now).await.unwrap();
    let mut states = c.by_state.clone();
    states.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(
        states,
        vec![(DeviceState::Active, 4), (DeviceState::Locked, 1)]
    );
    assert_eq!(c.by_policy_level, vec![(RestrictionLevel::FullLock, 1)]);
    let buckets: Vec<(u64, Vec<(String, i64)>)> = c
        .arrears_buckets
        .iter()
        .map(|b| (b.devices, b.amounts.clone()))
        .collect();
    assert_eq!(
        buckets,
        vec![
            (1, vec![("KES".into(), 5_000)]),
            (1, vec![("KES".into(), 45_000)]),
            (1, vec![("KES".into(), 75_000)]),
            (1, vec![("KES".into(), 200_000)]),
        ]
    );

    // Payments per day, reversals subtracted.
    let (_d, contract) = device_with_contract(&store, &a, 20, 0).await;
    for (amount, ms) in [(500, 3 * DAY + 10), (700, 3 * DAY + 20), (900, 4 * DAY + 1)] {
        let p = payment(&a, Some(&contract), amount, ms);
        store.insert_payment(&a, &p, at(ms)).await.unwrap();
    }
    let old = payment(&a, Some(&contract), 100, DAY);
    store.insert_payment(&a, &old, at(DAY)).await.unwrap();
    let days = store.daily_payments(&a, at(2 * DAY), 0).await.unwrap();
    let got: Vec<(i64, String, i64, u64)> = days
        .into_iter()
        .map(|d| (d.day, d.currency, d.net_amount, d.count))
        .collect();
    assert_eq!(
        got,
        vec![
            (at(3 * DAY).as_millis() / DAY, "KES".into(), 1_200, 2),
            (at(4 * DAY).as_millis() / DAY, "KES".into(), 900, 1)
        ]
    );
    assert!(store.daily_payments(&b, at(0), 0).await.unwrap().is_empty());

    // Timeline entries of the asked kinds, in time order, scoped.
    let d0 = &devices[0];
    store
        .append_events(&[
            event(d0, EventKind::Locked, 50),
            event(d0, EventKind::NoticeQueued, 60),
            event(d0, EventKind::Unlocked, 70),
        ])
        .await
        .unwrap();
    let events = store
        .lender_events_since(&a, &[EventKind::Locked, EventKind::Unlocked], at(40), 10)
        .await
        .unwrap();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![EventKind::Locked, EventKind::Unlocked]);
    assert!(store
        .lender_events_since(&b, &[EventKind::Locked], at(0), 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .lender_events_since(&a, &[], at(0), 10)
        .await
        .unwrap()
        .is_empty());
}

async fn overdue_devices_page_most_overdue_first(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let a = lender(&store, "A").await;
    let b = lender(&store, "B").await;
    let now = 1_000 * DAY;
    let mut want = Vec::new();
    // Two devices share a due date: the id breaks the tie.
    for (n, days) in [(1u32, 10i64), (2, 40), (3, 10), (4, 3), (5, 95)] {
        let d = enroll(&store, &a, imei(n), None).await;
        let mut w = write(&d);
        w.device.arrears = Some(Arrears {
            amount: kes(100),
            since: at(now - days * DAY),
        });
        let d = save(&store, w).await;
        want.push((now - days * DAY, d.id));
    }
    let other = enroll(&store, &b, imei(8), None).await;
    let mut w = write(&other);
    w.device.arrears = Some(Arrears {
        amount: kes(100),
        since: at(now - 10 * DAY),
    });
    save(&store, w).await;
    want.sort();
    let ids = |v: Vec<lienlock_store::Device>| v.into_iter().map(|d| d.id).collect::<Vec<_>>();
    // 1 to 30 days, two per page.
    let range = OverdueRange {
        after: Some(at(now - 31 * DAY)),
        at_most: at(now - DAY),
    };
    let mut q = DeviceQuery {
        limit: 2,
        overdue: Some(range),
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = ids(store.list_devices(&a, &q).await.unwrap());
        if page.is_empty() {
            break;
        }
        q.after = page.last().copied();
        seen.extend(page);
    }
    let expect: Vec<_> = want
        .iter()
        .filter(|(since, _)| *since > now - 31 * DAY && *since <= now - DAY)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen, expect);
    // Over 90 days; and a state filter on top.
    let over = DeviceQuery {
        limit: 10,
        overdue: Some(OverdueRange {
            after: None,
            at_most: at(now - 91 * DAY),
        }),
        ..Default::default()
    };
    assert_eq!(ids(store.list_devices(&a, &over).await.unwrap()).len(), 1);
    let locked = DeviceQuery {
        state: Some(DeviceState::Locked),
        ..over
    };
    assert!(store.list_devices(&a, &locked).await.unwrap().is_empty());
    // A cursor naming another lender's device gives nothing of theirs.
    let foreign = DeviceQuery {
        after: Some(other.id),
        ..q
    };
    assert!(ids(store.list_devices(&a, &foreign).await.unwrap())
        .iter()
        .all(|id| *id != other.id));
}
