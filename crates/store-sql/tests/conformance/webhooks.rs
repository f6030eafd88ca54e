//! Webhooks: endpoints per lender, deliveries enqueued in the transaction of what they
//! report (and exactly per `WebhookEvent::for_event`), claims with leases, attempts, and
//! tenant scope.

use crate::fixtures::*;
use lienlock_domain::{DeviceState, EntryKind, EventKind, LenderCtx, PaymentId};
use lienlock_store::{
    AttemptRecord, DeliveryId, DeliverySource, DeliveryStatus, NextStep, StoreError,
    WebhookAttempt, WebhookEvent, WebhookSecret, WebhookStore,
};
use lienlock_store_sql::backend_tests;
use std::collections::BTreeMap;
use std::sync::Arc;

backend_tests!(
    every_event_kind_enqueues_per_the_mapping,
    filters_and_unmatched_payments,
    endpoints_are_set_rotated_and_removed,
    claims_attempts_and_leases,
    a_rolled_back_change_enqueues_nothing,
    concurrent_claims_never_share_a_delivery
);

type Webhooks = Arc<dyn WebhookStore>;

async fn stores(backend: Backend) -> Option<(TestDb, DynStore, Webhooks)> {
    let db = TestDb::new(backend).await?;
    let (store, webhooks) = lienlock_store_sql::open_with_webhooks(db.url())
        .await
        .unwrap();
    Some((db, store, webhooks))
}

fn secret(n: u8) -> WebhookSecret {
    WebhookSecret::new(format!("whsec_{n}"))
}

async fn endpoint(w: &Webhooks, ctx: &LenderCtx, types: Option<&[WebhookEvent]>) {
    let created = w
        .put_webhook_endpoint(ctx, "https://hooks.example/in", types, &secret(1), at(0))
        .await
        .unwrap();
    assert!(created);
}

/// Every delivery of `ctx`, oldest first, as (id, type).
async fn deliveries(w: &Webhooks, ctx: &LenderCtx) -> Vec<(DeliveryId, WebhookEvent)> {
    let mut list: Vec<_> = w
        .webhook_deliveries(ctx, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.id, d.event))
        .collect();
    list.reverse();
    list
}

async fn every_event_kind_enqueues_per_the_mapping(backend: Backend) {
    let Some((_db, store, w)) = stores(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let quiet = lender(&store, "B").await;
    endpoint(&w, &ctx, None).await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    let q = enroll(&store, &quiet, imei(2), None).await;

    // One entry of each kind through `append_events` (one row per statement).
    let mut expected = BTreeMap::new();
    for kind in EventKind::ALL {
        let e = event(&d, kind, 100);
        if let Some(t) = WebhookEvent::for_event(kind) {
            expected.insert(DeliveryId::for_event(e.id), t);
        }
        store.append_events(&[e]).await.unwrap();
        store.append_events(&[event(&q, kind, 100)]).await.unwrap();
    }
    // And a lock through a device save (the batch statements).
    let mut locked = write(&d);
    locked.device.state = DeviceState::Locked;
    let e = event(&d, EventKind::Locked, 200);
    expected.insert(DeliveryId::for_event(e.id), WebhookEvent::DeviceLocked);
    locked.events.push(e);
    save(&store, locked).await;

    let got: BTreeMap<_, _> = deliveries(&w, &ctx).await.into_iter().collect();
    assert_eq!(got, expected);
    assert!(deliveries(&w, &quiet).await.is_empty());

    // The `device.tamper` mapping stands on its own line in the migration, like the rest.
    assert_eq!(
        WebhookEvent::for_event(EventKind::TamperReported),
        Some(WebhookEvent::DeviceTamper)
    );
    let listed = w.webhook_deliveries(&ctx, None, 1).await.unwrap();
    let newest = &listed[0];
    assert_eq!(newest.event, WebhookEvent::DeviceLocked);
    assert_eq!(newest.device_id, Some(d.id));
    assert_eq!(newest.imei, Some(d.imei));
    assert_eq!(newest.status, DeliveryStatus::Pending);
    assert_eq!(newest.attempts, 0);
    assert_eq!(newest.created_at, at(200));
    assert_eq!(newest.next_attempt_at, Some(at(200)));
    assert_eq!(newest.payload, None);
}

async fn filters_and_unmatched_payments(backend: Backend) {
    let Some((_db, store, w)) = stores(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    endpoint(&w, &ctx, Some(&[WebhookEvent::PaymentUnmatched])).await;
    let (d, c) = device_with_contract(&store, &ctx, 1, 5_000).await;
    store
        .append_events(&[event(&d, EventKind::Locked, 20)])
        .await
        .unwrap();

    let unmatched = payment(&ctx, None, 500, 30);
    store
        .insert_payment(&ctx, &unmatched, at(40))
        .await
        .unwrap();
    // A repeat records nothing, and so enqueues nothing.
    let mut again = unmatched.clone();
    again.id = PaymentId::new();
    again.idempotency_key = None;
    store.insert_payment(&ctx, &again, at(40)).await.unwrap();
    let matched = payment(&ctx, Some(&c), 700, 50);
    store.insert_payment(&ctx, &matched, at(60)).await.unwrap();
    let mut reversal = payment(&ctx, None, 100, 70);
    reversal.kind = EntryKind::Reversal { of: matched.id };
    store.insert_payment(&ctx, &reversal, at(80)).await.unwrap();

    assert_eq!(
        deliveries(&w, &ctx).await,
        [
            (
                DeliveryId::for_payment(unmatched.id),
                WebhookEvent::PaymentUnmatched
            ),
            (
                DeliveryId::for_payment(again.id),
                WebhookEvent::PaymentUnmatched
            ),
        ]
    );
    let (first, _) = w
        .webhook_delivery(&ctx, DeliveryId::for_payment(unmatched.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.payment_id, Some(unmatched.id));
    assert_eq!(first.created_at, unmatched.recorded_at);
    assert_eq!((first.device_id, first.imei), (None, None));

    // Widening the filter applies to what happens from then on.
    let created = w
        .put_webhook_endpoint(&ctx, "https://hooks.example/in", None, &secret(2), at(90))
        .await
        .unwrap();
    assert!(!created);
    store
        .append_events(&[event(&d, EventKind::DisputeOpened, 100)])
        .await
        .unwrap();
    assert_eq!(
        deliveries(&w, &ctx).await.last().map(|d| d.1),
        Some(WebhookEvent::DisputeOpened)
    );
}

async fn endpoints_are_set_rotated_and_removed(backend: Backend) {
    let Some((_db, store, w)) = stores(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    assert_eq!(w.webhook_endpoint(&ctx).await.unwrap(), None);
    assert!(!w
        .rotate_webhook_secret(&ctx, &secret(9), at(1))
        .await
        .unwrap());
    assert!(!w.delete_webhook_endpoint(&ctx, at(1)).await.unwrap());

    let types = [WebhookEvent::DeviceLocked, WebhookEvent::ImeiChecked];
    assert!(w
        .put_webhook_endpoint(
            &ctx,
            "https://a.example/1",
            Some(&types),
            &secret(1),
            at(10)
        )
        .await
        .unwrap());
    let e = w.webhook_endpoint(&ctx).await.unwrap().unwrap();
    assert_eq!(e.lender_id, ctx.lender_id);
    assert_eq!(e.url, "https://a.example/1");
    assert_eq!(e.event_types.as_deref(), Some(&types[..]));
    assert_eq!(e.secret, secret(1));
    assert_eq!(
        (e.created_at, e.updated_at, e.secret_set_at),
        (at(10), at(10), at(10))
    );
    assert_eq!(w.webhook_endpoint(&other).await.unwrap(), None);

    // A second PUT changes the URL and filter and keeps the secret.
    assert!(!w
        .put_webhook_endpoint(&ctx, "http://a.example/2", None, &secret(2), at(20))
        .await
        .unwrap());
    let e = w.webhook_endpoint(&ctx).await.unwrap().unwrap();
    assert_eq!(
        (e.url.as_str(), e.event_types),
        ("http://a.example/2", None)
    );
    assert_eq!(
        (e.secret, e.created_at, e.updated_at),
        (secret(1), at(10), at(20))
    );

    assert!(w
        .rotate_webhook_secret(&ctx, &secret(3), at(30))
        .await
        .unwrap());
    let e = w.webhook_endpoint(&ctx).await.unwrap().unwrap();
    assert_eq!((e.secret, e.secret_set_at), (secret(3), at(30)));

    // Removing it fails what is pending and keeps the history.
    let d = enroll(&store, &ctx, imei(1), None).await;
    store
        .append_events(&[event(&d, EventKind::Locked, 40)])
        .await
        .unwrap();
    assert!(!w.delete_webhook_endpoint(&other, at(50)).await.unwrap());
    assert!(w.delete_webhook_endpoint(&ctx, at(50)).await.unwrap());
    assert_eq!(w.webhook_endpoint(&ctx).await.unwrap(), None);
    let list = w.webhook_deliveries(&ctx, None, 10).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].status, DeliveryStatus::Failed);
    assert_eq!(list[0].next_attempt_at, None);
    assert_eq!(list[0].last_error.as_deref(), Some("webhook removed"));
    // Nothing is enqueued without an endpoint.
    store
        .append_events(&[event(&d, EventKind::Unlocked, 60)])
        .await
        .unwrap();
    assert_eq!(w.webhook_deliveries(&ctx, None, 10).await.unwrap().len(), 1);
}

fn attempt(at_ms: i64, status: Option<u16>) -> WebhookAttempt {
    WebhookAttempt {
        n: 0,
        at: at(at_ms),
        status_code: status,
        error: status.filter(|s| *s >= 300).map(|s| format!("HTTP {s}")),
        duration_ms: 12,
    }
}

async fn claims_attempts_and_leases(backend: Backend) {
    let Some((_db, store, w)) = stores(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let other = lender(&store, "B").await;
    endpoint(&w, &ctx, None).await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    create(&store, &ctx, contract(&d, Some("LN-7"), 5_000)).await;
    let mut lock = event(&d, EventKind::Locked, 100);
    lock.reason = Some("38 days overdue".into());
    store.append_events(&[lock.clone()]).await.unwrap();
    let unmatched = payment(&ctx, None, 500, 150);
    store
        .insert_payment(&ctx, &unmatched, at(160))
        .await
        .unwrap();
    let lock_id = DeliveryId::for_event(lock.id);

    // Nothing is due before its time.
    assert!(w
        .claim_webhook_deliveries(at(99), at(1_000), 10)
        .await
        .unwrap()
        .is_empty());
    let claimed = w
        .claim_webhook_deliveries(at(200), at(60_200), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let first = &claimed[0];
    assert_eq!(first.delivery.id, lock_id);
    assert_eq!(first.url, "https://hooks.example/in");
    assert_eq!(first.secret, secret(1));
    match &first.source {
        Some(DeliverySource::Event {
            event,
            imei,
            contract_reference,
        }) => {
            let mut stored = lock.clone();
            stored.seq = event.seq;
            assert_eq!(event, &stored);
            assert_eq!(*imei, d.imei);
            assert_eq!(contract_reference.as_deref(), Some("LN-7"));
        }
        other => panic!("{other:?}"),
    }
    match &claimed[1].source {
        Some(DeliverySource::Payment(p)) => assert_eq!(p, &unmatched),
        other => panic!("{other:?}"),
    }
    // Claimed rows are not claimed again while the lease lasts.
    assert!(w
        .claim_webhook_deliveries(at(300), at(60_300), 10)
        .await
        .unwrap()
        .is_empty());
    // A lease that ran out (a node died mid-attempt) lets another claim take them.
    let again = w
        .claim_webhook_deliveries(at(60_200), at(120_200), 1)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].delivery.id, lock_id);
    assert_ne!(again[0].claim, first.claim);

    // The lost claim records nothing; the live one does.
    let failed = AttemptRecord {
        delivery: lock_id,
        claim: first.claim.clone(),
        payload: "{\"first\":1}".into(),
        attempt: attempt(60_300, Some(500)),
        next: NextStep::RetryAt(at(65_300)),
    };
    assert!(!w.record_webhook_attempt(&failed).await.unwrap());
    let failed = AttemptRecord {
        claim: again[0].claim.clone(),
        ..failed
    };
    assert!(w.record_webhook_attempt(&failed).await.unwrap());
    assert!(!w.record_webhook_attempt(&failed).await.unwrap());
    let (now, attempts) = w.webhook_delivery(&ctx, lock_id).await.unwrap().unwrap();
    assert_eq!(now.status, DeliveryStatus::Pending);
    assert_eq!(now.attempts, 1);
    assert_eq!(now.next_attempt_at, Some(at(65_300)));
    assert_eq!(now.last_status, Some(500));
    assert_eq!(now.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(now.payload.as_deref(), Some("{\"first\":1}"));
    assert_eq!(
        attempts,
        [WebhookAttempt {
            n: 1,
            ..attempt(60_300, Some(500))
        }]
    );

    // Due again at its retry time, with the payload kept (no source needed).
    assert!(w
        .claim_webhook_deliveries(at(65_299), at(70_000), 10)
        .await
        .unwrap()
        .iter()
        .all(|c| c.delivery.id != lock_id));
    let retry = w
        .claim_webhook_deliveries(at(125_000), at(185_000), 10)
        .await
        .unwrap();
    let retry = retry.iter().find(|c| c.delivery.id == lock_id).unwrap();
    assert_eq!(retry.source, None);
    assert!(w
        .record_webhook_attempt(&AttemptRecord {
            delivery: lock_id,
            claim: retry.claim.clone(),
            payload: "{\"second\":2}".into(),
            attempt: attempt(125_000, Some(204)),
            next: NextStep::Delivered,
        })
        .await
        .unwrap());
    let (done, attempts) = w.webhook_delivery(&ctx, lock_id).await.unwrap().unwrap();
    assert_eq!(done.status, DeliveryStatus::Delivered);
    assert_eq!(done.delivered_at, Some(at(125_000)));
    assert_eq!(done.next_attempt_at, None);
    assert_eq!(done.payload.as_deref(), Some("{\"first\":1}"));
    assert_eq!(attempts.iter().map(|a| a.n).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(attempts[1].status_code, Some(204));

    // Another lender sees none of it.
    assert_eq!(w.webhook_delivery(&other, lock_id).await.unwrap(), None);
    assert!(w
        .webhook_deliveries(&other, None, 10)
        .await
        .unwrap()
        .is_empty());
    // Newest first, paged by the last id seen.
    let page = w.webhook_deliveries(&ctx, None, 1).await.unwrap();
    assert_eq!(page[0].id, DeliveryId::for_payment(unmatched.id));
    let next = w
        .webhook_deliveries(&ctx, Some(page[0].id), 10)
        .await
        .unwrap();
    assert_eq!(next.iter().map(|d| d.id).collect::<Vec<_>>(), [lock_id]);

    // A failed delivery is final and never claimed again.
    let left = w
        .claim_webhook_deliveries(at(200_000), at(260_000), 10)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert!(w
        .record_webhook_attempt(&AttemptRecord {
            delivery: left[0].delivery.id,
            claim: left[0].claim.clone(),
            payload: "{}".into(),
            attempt: WebhookAttempt {
                error: Some("connection refused".into()),
                ..attempt(200_000, None)
            },
            next: NextStep::Failed,
        })
        .await
        .unwrap());
    assert!(w
        .claim_webhook_deliveries(at(10_000_000), at(10_060_000), 10)
        .await
        .unwrap()
        .is_empty());
}

async fn a_rolled_back_change_enqueues_nothing(backend: Backend) {
    let Some((_db, store, w)) = stores(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    endpoint(&w, &ctx, None).await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    // A save that lost its race writes nothing, its webhook included.
    let mut stale = write(&d);
    stale.device.version += 5;
    stale.device.state = DeviceState::Locked;
    stale.events.push(event(&d, EventKind::Locked, 10));
    assert!(matches!(
        store.save_device(&stale).await,
        Err(StoreError::Stale)
    ));
    // So does a payment refused for its contract's currency.
    let (_, c) = device_with_contract(&store, &ctx, 2, 5_000).await;
    let mut p = payment(&ctx, Some(&c), 100, 20);
    p.currency = lienlock_domain::Currency::parse("UGX").unwrap();
    assert!(store.insert_payment(&ctx, &p, at(30)).await.is_err());
    assert!(deliveries(&w, &ctx).await.is_empty());
}

async fn concurrent_claims_never_share_a_delivery(backend: Backend) {
    let Some((_db, store, w)) = stores(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    endpoint(&w, &ctx, None).await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    let events: Vec<_> = (0..60)
        .map(|i| event(&d, EventKind::ImeiChecked, 10 + i))
        .collect();
    store.append_events(&events).await.unwrap();

    // Four nodes claiming at once, as their workers would.
    let claims = (0..4).map(|_| {
        let w = w.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let batch = w
                    .claim_webhook_deliveries(at(1_000), at(61_000), 7)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return ids;
                }
                ids.extend(batch.into_iter().map(|c| c.delivery.id));
            }
        })
    });
    let mut all = Vec::new();
    for claim in claims {
        all.extend(claim.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!((n, all.len()), (60, 60));
}
