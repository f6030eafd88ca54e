//! Offline unlock codes: issuing (with its timeline event), listing, one code per payment,
//! unique counters, redemption, the device's code format, tenant isolation, corrupt rows;
//! and the check-in's one read, which carries the highest code counter.

use crate::fixtures::*;
use lienlock_domain::{
    ApiKeyId, CodeFormat, CodeGrantKind, CommandKind, EventKind, LenderCtx, PaymentId, UnlockCodeId,
};
use lienlock_store::{
    Actor, CheckinView, CodeInsert, Device, PaymentRecord, StoreError, UnlockCodeRecord,
};
use lienlock_store_sql::backend_tests;

backend_tests!(
    codes_round_trip_newest_first_with_their_event,
    a_reused_counter_or_id_is_a_duplicate_and_writes_nothing,
    a_payment_gets_one_code,
    racing_codes_for_one_payment_store_one,
    other_lenders_cannot_issue_see_or_configure,
    last_counter_is_per_device_and_format,
    redeeming_marks_only_listed_unredeemed_codes,
    code_format_defaults_to_lc1_and_survives_device_saves,
    corrupt_code_rows_are_reported,
    the_checkin_view_is_what_the_separate_reads_return
);

/// An `unlock` code of `format` with `counter` for `d`, issued at `at(issued_ms)`.
fn code(d: &Device, format: CodeFormat, counter: u32, issued_ms: i64) -> UnlockCodeRecord {
    UnlockCodeRecord {
        id: UnlockCodeId::new(),
        lender_id: d.lender_id,
        device_id: d.id,
        format,
        counter,
        kind: CodeGrantKind::Unlock,
        paid_until: "2026-02-28".parse().unwrap(),
        code: format!("{counter:020}"),
        payment_id: None,
        issued_at: at(issued_ms),
        issued_by: Actor::Operator,
        reason: None,
        redeemed_at: None,
    }
}

/// Issues `c` with a `code_issued` event at its issue time.
async fn issue(store: &DynStore, ctx: &LenderCtx, d: &Device, c: &UnlockCodeRecord) -> CodeInsert {
    let e = event(
        d,
        EventKind::CodeIssued,
        c.issued_at.as_millis() - at(0).as_millis(),
    );
    store.insert_unlock_code(ctx, c, &e).await.unwrap()
}

/// A stored payment of `ctx` on a new contract of `d`.
async fn paid(store: &DynStore, ctx: &LenderCtx, d: &Device) -> PaymentRecord {
    let c = create(store, ctx, contract(d, None, 5_000)).await;
    let p = payment(ctx, Some(&c), 50_000, 40);
    store.insert_payment(ctx, &p, at(60)).await.unwrap();
    p
}

async fn codes_of(store: &DynStore, ctx: &LenderCtx, d: &Device) -> Vec<UnlockCodeRecord> {
    store.device_codes(ctx, d.id, 100).await.unwrap().unwrap()
}

async fn codes_round_trip_newest_first_with_their_event(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    let noise = enroll(&store, &ctx, imei(2), None).await;
    let p = paid(&store, &ctx, &d).await;

    let first = code(&d, CodeFormat::Lc1, 1, 100);
    let mut second = code(&d, CodeFormat::Lc1, 2, 200);
    second.kind = CodeGrantKind::ExtendUntil;
    second.paid_until = "2027-12-31".parse().unwrap();
    second.payment_id = Some(p.id);
    second.issued_by = Actor::ApiKey(ApiKeyId::new());
    // Same millisecond as `second`: the higher counter is the newer.
    let mut third = code(&d, CodeFormat::OpenPaygo, 3, 200);
    third.reason = Some("phone out of coverage".into());
    let e = event(&d, EventKind::CodeIssued, 100);
    assert_eq!(
        store.insert_unlock_code(&ctx, &first, &e).await.unwrap(),
        CodeInsert::Inserted
    );
    assert_eq!(timeline_ids(&store, &ctx, &d).await.last(), Some(&e.id));
    let issued = store
        .timeline(&ctx, d.id, None, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(issued.last().map(|e| e.kind), Some(EventKind::CodeIssued));
    for c in [&second, &third] {
        assert_eq!(issue(&store, &ctx, &d, c).await, CodeInsert::Inserted);
    }
    issue(&store, &ctx, &noise, &code(&noise, CodeFormat::Lc1, 9, 900)).await;

    let all = vec![third.clone(), second.clone(), first.clone()];
    assert_eq!(codes_of(&store, &ctx, &d).await, all);
    assert_eq!(
        store.device_codes(&ctx, d.id, 2).await.unwrap(),
        Some(all[..2].to_vec())
    );
    assert_eq!(
        store.device_codes(&ctx, d.id, 0).await.unwrap(),
        Some(vec![])
    );
    assert_eq!(
        store.code_for_payment(&ctx, p.id).await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        store
            .code_for_payment(&ctx, PaymentId::new())
            .await
            .unwrap(),
        None
    );
    // A device without codes lists none.
    let bare = enroll(&store, &ctx, imei(3), None).await;
    assert_eq!(
        store.device_codes(&ctx, bare.id, 10).await.unwrap(),
        Some(vec![])
    );
}

async fn a_reused_counter_or_id_is_a_duplicate_and_writes_nothing(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    let other = enroll(&store, &ctx, imei(2), None).await;
    let p = paid(&store, &ctx, &d).await;
    let first = code(&d, CodeFormat::Lc1, 5, 100);
    issue(&store, &ctx, &d, &first).await;
    let events = timeline_ids(&store, &ctx, &d).await;

    // Another node minted counter 5 at the same moment; this one carries a payment, which
    // must not be marked as having a code either.
    let mut clash = code(&d, CodeFormat::Lc1, 5, 200);
    clash.payment_id = Some(p.id);
    assert_err(
        store
            .insert_unlock_code(&ctx, &clash, &event(&d, EventKind::CodeIssued, 200))
            .await,
        StoreError::Duplicate("code counter"),
    );
    let mut reused_id = code(&d, CodeFormat::Lc1, 6, 200);
    reused_id.id = first.id;
    assert_err(
        store
            .insert_unlock_code(&ctx, &reused_id, &event(&d, EventKind::CodeIssued, 200))
            .await,
        StoreError::Duplicate("code id"),
    );
    assert_eq!(codes_of(&store, &ctx, &d).await, vec![first.clone()]);
    assert_eq!(timeline_ids(&store, &ctx, &d).await, events);
    assert_eq!(store.code_for_payment(&ctx, p.id).await.unwrap(), None);
    assert_eq!(
        store
            .last_code_counter(d.id, CodeFormat::Lc1)
            .await
            .unwrap(),
        5
    );

    // Counters are per device and per format.
    let other_format = code(&d, CodeFormat::OpenPaygo, 5, 300);
    assert_eq!(
        issue(&store, &ctx, &d, &other_format).await,
        CodeInsert::Inserted
    );
    let other_device = code(&other, CodeFormat::Lc1, 5, 300);
    assert_eq!(
        issue(&store, &ctx, &other, &other_device).await,
        CodeInsert::Inserted
    );
}

async fn a_payment_gets_one_code(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let them = lender(&store, "B").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    let p = paid(&store, &ctx, &d).await;
    let mut first = code(&d, CodeFormat::Lc1, 1, 100);
    first.payment_id = Some(p.id);
    assert_eq!(issue(&store, &ctx, &d, &first).await, CodeInsert::Inserted);
    let events = timeline_ids(&store, &ctx, &d).await;

    // A retried request mints again with the next counter: the first code comes back and
    // neither the code nor its event is written.
    let mut again = code(&d, CodeFormat::Lc1, 2, 200);
    again.payment_id = Some(p.id);
    assert_eq!(
        issue(&store, &ctx, &d, &again).await,
        CodeInsert::ExistingForPayment(Box::new(first.clone()))
    );
    assert_eq!(codes_of(&store, &ctx, &d).await, vec![first.clone()]);
    assert_eq!(timeline_ids(&store, &ctx, &d).await, events);
    assert_eq!(
        store
            .last_code_counter(d.id, CodeFormat::Lc1)
            .await
            .unwrap(),
        1
    );

    // A payment that is not the caller's cannot be named.
    let theirs = enroll(&store, &them, imei(2), None).await;
    let their_payment = paid(&store, &them, &theirs).await;
    let mut stolen = code(&d, CodeFormat::Lc1, 3, 300);
    stolen.payment_id = Some(their_payment.id);
    assert_err(
        store
            .insert_unlock_code(&ctx, &stolen, &event(&d, EventKind::CodeIssued, 300))
            .await,
        StoreError::NotFound("payment"),
    );
    assert_eq!(codes_of(&store, &ctx, &d).await, vec![first.clone()]);
    assert_eq!(timeline_ids(&store, &ctx, &d).await, events);
}

async fn racing_codes_for_one_payment_store_one(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    let d2 = enroll(&store, &ctx, imei(2), None).await;
    let p = paid(&store, &ctx, &d).await;
    // Half of them for another device, whose row lock does not serialize them with the
    // rest: those meet the payment's unique index instead.
    let tasks: Vec<_> = (1..=8)
        .map(|n| {
            let d = if n % 2 == 0 { d.clone() } else { d2.clone() };
            let store = store.clone();
            let mut c = code(&d, CodeFormat::Lc1, n, 100);
            c.payment_id = Some(p.id);
            tokio::spawn(async move { issue(&store, &ctx, &d, &c).await })
        })
        .collect();
    let mut inserted = 0;
    let mut existing = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            CodeInsert::Inserted => inserted += 1,
            CodeInsert::ExistingForPayment(c) => existing.push(*c),
        }
    }
    assert_eq!(inserted, 1);
    let mut stored = codes_of(&store, &ctx, &d).await;
    stored.extend(codes_of(&store, &ctx, &d2).await);
    assert_eq!(stored.len(), 1);
    assert!(existing.iter().all(|c| *c == stored[0]));
    let mut issued = 0;
    for device in [&d, &d2] {
        let events = store.timeline(&ctx, device.id, None, 100).await.unwrap();
        let events = events.unwrap().into_iter();
        issued += events.filter(|e| e.kind == EventKind::CodeIssued).count();
    }
    assert_eq!(issued, 1);
}

async fn other_lenders_cannot_issue_see_or_configure(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let them = lender(&store, "B").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    let p = paid(&store, &ctx, &d).await;
    let mut mine = code(&d, CodeFormat::Lc1, 1, 100);
    mine.payment_id = Some(p.id);
    issue(&store, &ctx, &d, &mine).await;
    let events = timeline_ids(&store, &ctx, &d).await;

    // B names A's device, whichever lender the record says: not found, nothing written.
    let as_a = code(&d, CodeFormat::Lc1, 2, 200);
    let mut as_b = code(&d, CodeFormat::Lc1, 3, 200);
    as_b.lender_id = them.lender_id;
    for c in [&as_a, &as_b] {
        assert_err(
            store
                .insert_unlock_code(&them, c, &event(&d, EventKind::CodeIssued, 200))
                .await,
            StoreError::NotFound("device"),
        );
    }
    // A device that does not exist at all is not found either.
    let ghost = device(&ctx, imei(9), None);
    assert_err(
        store
            .insert_unlock_code(
                &ctx,
                &code(&ghost, CodeFormat::Lc1, 1, 200),
                &event(&ghost, EventKind::CodeIssued, 200),
            )
            .await,
        StoreError::NotFound("device"),
    );
    // The owner with a record naming another lender: refused.
    assert!(matches!(
        store
            .insert_unlock_code(&ctx, &as_b, &event(&d, EventKind::CodeIssued, 200))
            .await,
        Err(StoreError::Backend(_))
    ));
    assert_eq!(codes_of(&store, &ctx, &d).await, vec![mine.clone()]);
    assert_eq!(timeline_ids(&store, &ctx, &d).await, events);

    assert_eq!(store.device_codes(&them, d.id, 10).await.unwrap(), None);
    assert_eq!(store.device_codes(&ctx, ghost.id, 10).await.unwrap(), None);
    assert_eq!(store.code_for_payment(&them, p.id).await.unwrap(), None);
    assert_eq!(store.device_code_format(&them, d.id).await.unwrap(), None);
    assert_eq!(
        store.device_code_format(&ctx, ghost.id).await.unwrap(),
        None
    );
    assert_err(
        store
            .set_device_code_format(&them, d.id, CodeFormat::OpenPaygo)
            .await,
        StoreError::NotFound("device"),
    );
    assert_err(
        store
            .set_device_code_format(&ctx, ghost.id, CodeFormat::OpenPaygo)
            .await,
        StoreError::NotFound("device"),
    );
    assert_eq!(
        store.device_code_format(&ctx, d.id).await.unwrap(),
        Some(CodeFormat::Lc1)
    );
}

async fn last_counter_is_per_device_and_format(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    let other = enroll(&store, &ctx, imei(2), None).await;
    for format in [CodeFormat::Lc1, CodeFormat::OpenPaygo] {
        assert_eq!(store.last_code_counter(d.id, format).await.unwrap(), 0);
    }
    // Issued out of order: the highest counter counts, not the newest code.
    for (format, counter, ms) in [
        (CodeFormat::Lc1, 7, 100),
        (CodeFormat::Lc1, 3, 200),
        (CodeFormat::OpenPaygo, 2, 300),
    ] {
        issue(&store, &ctx, &d, &code(&d, format, counter, ms)).await;
    }
    let max = code(&other, CodeFormat::Lc1, u32::MAX, 400);
    issue(&store, &ctx, &other, &max).await;
    assert_eq!(
        store
            .last_code_counter(d.id, CodeFormat::Lc1)
            .await
            .unwrap(),
        7
    );
    assert_eq!(
        store
            .last_code_counter(d.id, CodeFormat::OpenPaygo)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .last_code_counter(other.id, CodeFormat::Lc1)
            .await
            .unwrap(),
        u32::MAX
    );
    assert_eq!(
        store
            .last_code_counter(other.id, CodeFormat::OpenPaygo)
            .await
            .unwrap(),
        0
    );
}

async fn redeeming_marks_only_listed_unredeemed_codes(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    let other = enroll(&store, &ctx, imei(2), None).await;
    let lc: Vec<_> = (1..=3)
        .map(|n| code(&d, CodeFormat::Lc1, n, 100 + i64::from(n)))
        .collect();
    let opg = code(&d, CodeFormat::OpenPaygo, 1, 200);
    let theirs = code(&other, CodeFormat::Lc1, 1, 200);
    for c in lc.iter().chain([&opg]) {
        issue(&store, &ctx, &d, c).await;
    }
    issue(&store, &ctx, &other, &theirs).await;
    let redeemed = |c: &UnlockCodeRecord, ms: i64| UnlockCodeRecord {
        redeemed_at: Some(at(ms)),
        ..c.clone()
    };

    assert_eq!(
        store
            .redeem_codes_unscoped(d.id, CodeFormat::Lc1, &[], at(400))
            .await
            .unwrap(),
        vec![]
    );
    // Unsorted, repeated, and one counter no code has: ascending, each once.
    assert_eq!(
        store
            .redeem_codes_unscoped(d.id, CodeFormat::Lc1, &[3, 9, 1, 3], at(500))
            .await
            .unwrap(),
        vec![redeemed(&lc[0], 500), redeemed(&lc[2], 500)]
    );
    // Already redeemed ones keep their first time and are not returned again.
    assert_eq!(
        store
            .redeem_codes_unscoped(d.id, CodeFormat::Lc1, &[1, 2, 3], at(600))
            .await
            .unwrap(),
        vec![redeemed(&lc[1], 600)]
    );
    assert_eq!(
        store
            .redeem_codes_unscoped(d.id, CodeFormat::Lc1, &[1, 2, 3], at(700))
            .await
            .unwrap(),
        vec![]
    );
    // The other format and the other device were not touched.
    assert_eq!(
        codes_of(&store, &ctx, &d).await,
        vec![
            opg.clone(),
            redeemed(&lc[2], 500),
            redeemed(&lc[1], 600),
            redeemed(&lc[0], 500),
        ]
    );
    assert_eq!(codes_of(&store, &ctx, &other).await, vec![theirs.clone()]);
    assert_eq!(
        store
            .redeem_codes_unscoped(d.id, CodeFormat::OpenPaygo, &[1], at(800))
            .await
            .unwrap(),
        vec![redeemed(&opg, 800)]
    );
}

async fn code_format_defaults_to_lc1_and_survives_device_saves(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    let other = enroll(&store, &ctx, imei(2), None).await;
    assert_eq!(
        store.device_code_format(&ctx, d.id).await.unwrap(),
        Some(CodeFormat::Lc1)
    );
    store
        .set_device_code_format(&ctx, d.id, CodeFormat::OpenPaygo)
        .await
        .unwrap();
    // Setting it again is no error.
    store
        .set_device_code_format(&ctx, d.id, CodeFormat::OpenPaygo)
        .await
        .unwrap();
    assert_eq!(
        store.device_code_format(&ctx, d.id).await.unwrap(),
        Some(CodeFormat::OpenPaygo)
    );
    assert_eq!(
        store.device_code_format(&ctx, other.id).await.unwrap(),
        Some(CodeFormat::Lc1)
    );
    // The format is not part of the device record: it does not bump the version, and
    // saving the device, alone or in a batch, leaves it alone.
    let mut w = write(&d);
    w.device.last_seen_at = Some(at(50));
    let d = save(&store, w).await;
    let mut w = write(&d);
    w.device.last_seen_at = Some(at(60));
    let results = store.save_devices(&[w, write(&other)]).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        store.device_code_format(&ctx, d.id).await.unwrap(),
        Some(CodeFormat::OpenPaygo)
    );
    store
        .set_device_code_format(&ctx, d.id, CodeFormat::Lc1)
        .await
        .unwrap();
    assert_eq!(
        store.device_code_format(&ctx, d.id).await.unwrap(),
        Some(CodeFormat::Lc1)
    );
}

async fn corrupt_code_rows_are_reported(backend: Backend) {
    let Some((db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    issue(&store, &ctx, &d, &code(&d, CodeFormat::Lc1, 1, 100)).await;
    let corrupt = |r: Result<_, StoreError>, table: &str| match r {
        Err(StoreError::Corrupt { table: t, .. }) => assert_eq!(t, table),
        other => panic!("expected Corrupt in {table}, got {other:?}"),
    };
    db.exec_raw("UPDATE unlock_codes SET paid_until = '2026-02-30'")
        .await;
    corrupt(
        store.device_codes(&ctx, d.id, 10).await.map(drop),
        "unlock_codes",
    );
    db.exec_raw("UPDATE unlock_codes SET paid_until = '2026-02-28', counter = -1")
        .await;
    corrupt(
        store.device_codes(&ctx, d.id, 10).await.map(drop),
        "unlock_codes",
    );
    // A corrupt row is reported and left unredeemed.
    db.exec_raw("UPDATE unlock_codes SET counter = 1, kind = 'forever'")
        .await;
    corrupt(
        store
            .redeem_codes_unscoped(d.id, CodeFormat::Lc1, &[1], at(500))
            .await
            .map(drop),
        "unlock_codes",
    );
    db.exec_raw("UPDATE unlock_codes SET kind = 'unlock'").await;
    assert_eq!(codes_of(&store, &ctx, &d).await[0].redeemed_at, None);
    db.exec_raw("UPDATE unlock_codes SET issued_by = 'nobody'")
        .await;
    corrupt(
        store.device_codes(&ctx, d.id, 10).await.map(drop),
        "unlock_codes",
    );
    db.exec_raw("UPDATE devices SET code_format = 'lc9'").await;
    corrupt(
        store.device_code_format(&ctx, d.id).await.map(drop),
        "devices",
    );
}

/// `checkin_view` answers what the four reads it stands for would: the enrollment by either
/// IMEI, its lender, the highest LC1 counter (not OpenPAYGO's, not another device's) and
/// the pending commands, oldest first, and the first undelivered notice; `None` for an IMEI
/// nobody enrolled.
async fn the_checkin_view_is_what_the_separate_reads_return(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let d = enroll(&store, &ctx, imei(1), Some(imei(2))).await;
    let other = enroll(&store, &ctx, imei(3), None).await;
    let separate = |d: Device| {
        let store = store.clone();
        async move {
            CheckinView {
                lender: store.lender_by_id(d.lender_id).await.unwrap().unwrap(),
                codes_through: store
                    .last_code_counter(d.id, CodeFormat::Lc1)
                    .await
                    .unwrap(),
                pending_commands: store.pending_commands_unscoped(d.id).await.unwrap(),
                undelivered_from: store
                    .device_undelivered_notices(d.id, 1)
                    .await
                    .unwrap()
                    .first()
                    .map(|n| n.seq),
                device: d,
            }
        }
    };
    let fresh = store.checkin_view(&imei(1)).await.unwrap().unwrap();
    assert_eq!(fresh, separate(d.clone()).await);
    assert_eq!(fresh.codes_through, 0);
    assert!(fresh.pending_commands.is_empty());

    for (format, counter, ms) in [
        (CodeFormat::Lc1, 7, 100),
        (CodeFormat::Lc1, 3, 200),
        (CodeFormat::OpenPaygo, 9, 300),
    ] {
        issue(&store, &ctx, &d, &code(&d, format, counter, ms)).await;
    }
    issue(
        &store,
        &ctx,
        &other,
        &code(&other, CodeFormat::Lc1, 11, 400),
    )
    .await;
    let mut w = write(&store.device_unscoped(d.id).await.unwrap().unwrap());
    w.new_commands = vec![
        command(&d, CommandKind::Lock, 900),
        command(&d, CommandKind::Unlock, 950),
    ];
    save(&store, w).await;
    let d = store.device_unscoped(d.id).await.unwrap().unwrap();
    for by in [imei(1), imei(2)] {
        let view = store.checkin_view(&by).await.unwrap().unwrap();
        assert_eq!(view, separate(d.clone()).await);
        assert_eq!(view.codes_through, 7);
        assert_eq!(view.pending_commands.len(), 2);
    }
    assert_eq!(store.checkin_view(&imei(4)).await.unwrap(), None);

    // Notices: the lowest undelivered one, as delivery moves past them.
    assert_eq!(view_of(&store).await.undelivered_from, None);
    let mut w = write(&d);
    w.device.notice_seq = 3;
    w.new_notices = (1..=3).map(|seq| notice(&d, None, seq)).collect();
    save(&store, w).await;
    for (delivered, first) in [(None, Some(1)), (Some(2), Some(3)), (Some(3), None)] {
        if let Some(seq) = delivered {
            let mut w = write(&store.device_unscoped(d.id).await.unwrap().unwrap());
            w.notices_delivered = Some((seq, at(1_000)));
            save(&store, w).await;
        }
        let view = view_of(&store).await;
        assert_eq!(
            view.undelivered_from, first,
            "delivered through {delivered:?}"
        );
        let d = store.device_unscoped(d.id).await.unwrap().unwrap();
        assert_eq!(view, separate(d).await);
    }
}

async fn view_of(store: &DynStore) -> CheckinView {
    store.checkin_view(&imei(1)).await.unwrap().unwrap()
}
