//! A phone's Android record: the lender's choices and what the phone reported are saved as
//! separate halves, so neither side's save undoes a change the other made since it read.

use crate::fixtures::*;
use lienlock_domain::android::ProvisionState;
use lienlock_store::{AndroidDeviceRecord, AndroidPart, StoreError};
use lienlock_store_sql::backend_tests;

backend_tests!(a_lender_and_a_phone_saving_from_the_same_read_keep_each_others_changes);

async fn save(store: &DynStore, record: &AndroidDeviceRecord, part: AndroidPart) {
    store.save_android_device(record, part, &[]).await.unwrap();
}

async fn a_lender_and_a_phone_saving_from_the_same_read_keep_each_others_changes(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "Acme").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    // The phone's first check-in: the record is written whole.
    let mut first = AndroidDeviceRecord::new(d.id, ctx.lender_id, at(10));
    first.last_checkin_at = Some(at(10));
    save(&store, &first, AndroidPart::Phone).await;

    // Both read the record; the lender holds the phone, then the phone's call, from its
    // earlier read, records a push token.
    let mut by_phone = store.android_device_unscoped(d.id).await.unwrap().unwrap();
    let mut by_lender = store.android_device(&ctx, d.id).await.unwrap().unwrap();
    by_lender.config.hold = true;
    by_lender.updated_at = at(20);
    save(&store, &by_lender, AndroidPart::Config).await;
    by_phone.fcm_token = Some("token-1".into());
    by_phone.updated_at = at(30);
    save(&store, &by_phone, AndroidPart::Phone).await;
    let now = store.android_device(&ctx, d.id).await.unwrap().unwrap();
    assert!(
        now.config.hold,
        "the lender's hold survives the phone's save: {now:?}"
    );
    assert_eq!(now.fcm_token.as_deref(), Some("token-1"), "{now:?}");
    assert_eq!(now.last_checkin_at, Some(at(10)), "{now:?}");
    assert_eq!(now.updated_at, at(30), "{now:?}");

    // The other way round: the phone reports success, then the lender's edit from its
    // earlier read lets the phone be debugged.
    let (mut by_phone, mut by_lender) = (now.clone(), now);
    by_phone.provision_state = ProvisionState::Success;
    by_phone.updated_at = at(40);
    save(&store, &by_phone, AndroidPart::Phone).await;
    by_lender.config.allow_debugging = true;
    by_lender.updated_at = at(50);
    save(&store, &by_lender, AndroidPart::Config).await;
    let after = store.android_device(&ctx, d.id).await.unwrap().unwrap();
    assert_eq!(after.provision_state, ProvisionState::Success, "{after:?}");
    assert!(
        after.config.allow_debugging && after.config.hold,
        "{after:?}"
    );
    assert_eq!(after.fcm_token.as_deref(), Some("token-1"), "{after:?}");

    // Either half, for a device the record's lender does not have, writes nothing.
    let other = lender(&store, "Other").await;
    let mut foreign = after.clone();
    foreign.lender_id = other.lender_id;
    foreign.config.hold = false;
    for part in [AndroidPart::Config, AndroidPart::Phone] {
        let refused = store.save_android_device(&foreign, part, &[]).await;
        assert!(
            matches!(refused, Err(StoreError::NotFound("device"))),
            "{refused:?}"
        );
    }
    assert_eq!(
        store.android_device(&ctx, d.id).await.unwrap().unwrap(),
        after
    );
}
