//! Lenders, API keys, opening and availability.

use crate::fixtures::*;
use lienlock_domain::{ApiKeyId, LenderId, Role};
use lienlock_store::{ApiKeyRecord, StoreError};
use lienlock_store_sql::backend_tests;

backend_tests!(
    lender_and_key_round_trip,
    lender_creation_is_atomic,
    reopening_keeps_data
);

async fn lender_and_key_round_trip(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    store.ping().await.unwrap();

    let (first, key) = lender_and_key("First Finance");
    store.create_lender(&first, &key).await.unwrap();
    let (mut second, second_key) = lender_and_key("Second Credit");
    second.created_at = at(5);
    store.create_lender(&second, &second_key).await.unwrap();

    assert_eq!(store.find_api_key(key.id).await.unwrap(), Some(key.clone()));
    assert_eq!(store.find_api_key(ApiKeyId::new()).await.unwrap(), None);
    assert_eq!(
        store.lender_by_id(first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.lender_by_id(LenderId::new()).await.unwrap(), None);
    let ctx = lienlock_domain::LenderCtx {
        lender_id: second.id,
        role: Role::Auditor,
        principal: lienlock_domain::Principal::ApiKey(second_key.id),
    };
    assert_eq!(store.lender(&ctx).await.unwrap(), second);
    assert_eq!(
        store.list_lenders().await.unwrap(),
        vec![first.clone(), second]
    );

    // A revoked key is still found: the caller decides what revocation means.
    let revoked = ApiKeyRecord {
        id: ApiKeyId::new(),
        role: Role::Collections,
        label: "old integration".into(),
        secret_hmac: [0xA5; 32],
        revoked_at: Some(at(9)),
        ..key.clone()
    };
    store.add_api_key(&revoked).await.unwrap();
    assert_eq!(
        store.find_api_key(revoked.id).await.unwrap(),
        Some(revoked.clone())
    );
    assert!(matches!(
        store.add_api_key(&revoked).await,
        Err(StoreError::Duplicate(_))
    ));

    // A key for a lender that does not exist is refused.
    let orphan = ApiKeyRecord {
        id: ApiKeyId::new(),
        lender_id: LenderId::new(),
        ..key
    };
    assert!(matches!(
        store.add_api_key(&orphan).await,
        Err(StoreError::Backend(_))
    ));
}

async fn lender_creation_is_atomic(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let (lender, key) = lender_and_key("Only Once");
    store.create_lender(&lender, &key).await.unwrap();

    // Same lender id again.
    let (_, other_key) = lender_and_key("x");
    let again = store.create_lender(&lender, &other_key).await;
    assert!(matches!(again, Err(StoreError::Duplicate(_))), "{again:?}");
    assert_eq!(store.find_api_key(other_key.id).await.unwrap(), None);

    // A new lender whose first key id is taken: the lender must not be left behind.
    let (new_lender, _) = lender_and_key("Half Made");
    let clash = ApiKeyRecord {
        lender_id: new_lender.id,
        ..key
    };
    let result = store.create_lender(&new_lender, &clash).await;
    assert!(
        matches!(result, Err(StoreError::Duplicate(_))),
        "{result:?}"
    );
    assert_eq!(store.lender_by_id(new_lender.id).await.unwrap(), None);
    assert_eq!(store.list_lenders().await.unwrap().len(), 1);
}

async fn reopening_keeps_data(backend: Backend) {
    let Some((db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "Persistent").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    drop(store);
    // Opening again re-runs the migrator, which must find nothing to do.
    let store = db.store().await;
    assert_eq!(store.device(&ctx, d.id).await.unwrap(), Some(d));
    assert_eq!(
        lienlock_store_sql::open(db.url())
            .await
            .unwrap()
            .list_lenders()
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn an_unreachable_postgres_is_unavailable_quickly() {
    // Nothing listens on port 1; the connection is refused at once.
    let started = std::time::Instant::now();
    let e = lienlock_store_sql::connect_postgres("postgres://u:p@127.0.0.1:1/db")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[tokio::test]
async fn a_bad_database_string_is_an_error() {
    assert!(matches!(
        lienlock_store_sql::open("").await,
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        lienlock_store_sql::open("postgres://u:p@127.0.0.1:notaport/db").await,
        Err(StoreError::Backend(_))
    ));
}
