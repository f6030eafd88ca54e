//! A check-in's view of a phone (`Store::checkin_view`) against the same things read one
//! by one. A SQLite node answers the view from memory once its warm pass has loaded it, so
//! every change to what the view shows must reach it; PostgreSQL reads it each time. Each
//! step runs the warm pass and reads the view twice before changing anything, so that on
//! SQLite the change meets a view kept in memory.

use crate::fixtures::*;
use lienlock_domain::{
    CodeFormat, CodeGrantKind, CommandKind, DeviceState, EventKind, Imei, LenderCtx, UnlockCodeId,
};
use lienlock_store::{CheckinView, Device, StoreError, UnlockCodeRecord};
use lienlock_store_sql::backend_tests;

backend_tests!(
    a_kept_view_follows_every_change_to_what_it_shows,
    kept_views_stay_exact_under_racing_writers
);

/// The view as the default `Store::checkin_view` assembles it: each part by its own
/// statement, none of them a check-in view.
async fn read_apart(store: &DynStore, imei: &Imei) -> Option<CheckinView> {
    let device = store.device_for_checkin(imei).await.unwrap()?;
    let lender = store.lender_by_id(device.lender_id).await.unwrap().unwrap();
    Some(CheckinView {
        codes_through: store
            .last_code_counter(device.id, CodeFormat::Lc1)
            .await
            .unwrap(),
        pending_commands: store.pending_commands_unscoped(device.id).await.unwrap(),
        undelivered_from: store
            .device_undelivered_notices(device.id, 1)
            .await
            .unwrap()
            .first()
            .map(|n| n.seq),
        device,
        lender,
    })
}

/// Reads the view twice (on SQLite, from memory once the warm pass has run) and checks both.
async fn check(store: &DynStore, imei: &Imei, step: &str) -> Option<CheckinView> {
    let want = read_apart(store, imei).await;
    store.warm_checkin_views().await.unwrap();
    for read in ["first", "second"] {
        let got = store.checkin_view(imei).await.unwrap();
        assert_eq!(got, want, "{step}: the {read} read");
    }
    want
}

fn code(d: &Device, counter: u32) -> UnlockCodeRecord {
    UnlockCodeRecord {
        id: UnlockCodeId::new(),
        lender_id: d.lender_id,
        device_id: d.id,
        format: CodeFormat::Lc1,
        counter,
        kind: CodeGrantKind::Unlock,
        paid_until: "2026-02-28".parse().unwrap(),
        code: format!("{counter:020}"),
        payment_id: None,
        issued_at: at(10),
        issued_by: lienlock_store::Actor::Operator,
        reason: None,
        redeemed_at: None,
    }
}

/// The device as stored now.
async fn now(store: &DynStore, d: &Device) -> Device {
    store.device_unscoped(d.id).await.unwrap().unwrap()
}

async fn a_kept_view_follows_every_change_to_what_it_shows(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let d = enroll(&store, &ctx, imei(1), None).await;
    let other = enroll(&store, &ctx, imei(2), None).await;
    check(&store, &d.imei, "enrolled").await.unwrap();
    check(&store, &other.imei, "another phone").await.unwrap();

    // A check-in's plain write: counter, lease, last seen.
    let mut w = write(&now(&store, &d).await);
    w.device.last_counter += 5;
    w.device.lease_seq += 1;
    w.device.last_seen_at = Some(at(30));
    store.save_devices(&[w]).await.unwrap().remove(0).unwrap();
    let v = check(&store, &d.imei, "checked in").await.unwrap();
    assert_eq!(v.device.last_counter, 5);

    // A write from a device as read before that one: stale, and nothing changes.
    let mut stale = write(&d);
    stale.device.last_counter = 99;
    assert!(matches!(
        store.save_devices(&[stale]).await.unwrap().remove(0),
        Err(StoreError::Stale)
    ));
    check(&store, &d.imei, "a stale write").await.unwrap();

    // A lender's command, through the general path with its event.
    let mut w = write(&now(&store, &d).await);
    w.new_commands
        .push(command(&w.device, CommandKind::Lock, 40));
    w.events
        .push(event(&w.device, EventKind::CommandScheduled, 40));
    store.save_device(&w).await.unwrap();
    let v = check(&store, &d.imei, "a command").await.unwrap();
    assert_eq!(v.pending_commands.len(), 1);

    // A notice queued, then delivered.
    let mut w = write(&now(&store, &d).await);
    w.device.notice_seq = 1;
    w.new_notices.push(notice(&w.device, None, 1));
    store.save_device(&w).await.unwrap();
    let v = check(&store, &d.imei, "a notice").await.unwrap();
    assert_eq!(v.undelivered_from, Some(1));
    let mut w = write(&now(&store, &d).await);
    w.notices_delivered = Some((1, at(50)));
    store.save_device(&w).await.unwrap();
    let v = check(&store, &d.imei, "the notice delivered")
        .await
        .unwrap();
    assert_eq!(v.undelivered_from, None);

    // An unlock code minted: no write of the device at all.
    let c = code(&d, 1);
    store
        .insert_unlock_code(&ctx, &c, &event(&d, EventKind::CodeIssued, 60))
        .await
        .unwrap();
    let v = check(&store, &d.imei, "a code").await.unwrap();
    assert_eq!(v.codes_through, 1);

    // The lender's policy: in every one of its phones' views.
    store
        .set_lender_policy(&ctx, "strict", None, at(70))
        .await
        .unwrap();
    let v = check(&store, &other.imei, "the lender's policy")
        .await
        .unwrap();
    assert_eq!(v.lender.compliance_profile, "strict");
    check(&store, &d.imei, "the lender's policy").await.unwrap();

    // Locked by the general path (an event beside the row).
    let mut w = write(&now(&store, &d).await);
    w.device.state = DeviceState::Locked;
    w.events.push(event(&w.device, EventKind::Locked, 80));
    store.save_device(&w).await.unwrap();
    let v = check(&store, &d.imei, "locked").await.unwrap();
    assert_eq!(v.device.state, DeviceState::Locked);

    // Released, then the IMEI enrolled again: the new enrollment is the one in force.
    let mut w = write(&now(&store, &d).await);
    w.device.state = DeviceState::Released;
    w.events.push(event(&w.device, EventKind::Released, 90));
    store.save_device(&w).await.unwrap();
    let v = check(&store, &d.imei, "released").await.unwrap();
    assert_eq!(v.device.state, DeviceState::Released);
    let again = enroll(&store, &ctx, d.imei, None).await;
    let v = check(&store, &d.imei, "enrolled again").await.unwrap();
    assert_eq!(v.device.id, again.id);

    // A warm pass keeps the phones in force as they are.
    store.warm_checkin_views().await.unwrap();
    check(&store, &d.imei, "after the warm pass").await.unwrap();
    check(&store, &other.imei, "after the warm pass")
        .await
        .unwrap();
}

/// Check-ins (read the view, write the device) race with a lender's writes of the same
/// phones (commands, notices, codes, state) until those are done. Then each phone's view is
/// what reading it apart finds.
async fn kept_views_stay_exact_under_racing_writers(backend: Backend) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let ctx = lender(&store, "A").await;
    let mut phones = Vec::new();
    for n in 0..12 {
        phones.push(enroll(&store, &ctx, imei(500 + n), None).await);
    }
    store.warm_checkin_views().await.unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let checkins: Vec<_> = (0..6)
        .map(|t| {
            let (store, phones, done) = (store.clone(), phones.clone(), done.clone());
            tokio::spawn(async move {
                let mut round = 0;
                // Check-ins that landed, by phone: each moved its counter on by one.
                let mut landed = vec![0u64; phones.len()];
                while !done.load(Ordering::SeqCst) {
                    round += 1;
                    let n = (t * 7 + round) % phones.len();
                    let p = &phones[n];
                    let v = store.checkin_view(&p.imei).await.unwrap().unwrap();
                    let mut w = write(&v.device);
                    w.device.last_counter += 1;
                    w.device.lease_seq += 1;
                    w.device.last_seen_at = Some(at(1_000 + round as i64));
                    match store.save_devices(&[w]).await.unwrap().remove(0) {
                        Ok(()) => landed[n] += 1,
                        Err(StoreError::Stale) => {}
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
                (round, landed)
            })
        })
        .collect();
    lender_writes(&store, &ctx, &phones).await;
    done.store(true, Ordering::SeqCst);
    let mut landed = vec![0u64; phones.len()];
    for task in checkins {
        let (rounds, by_phone) = task.await.unwrap();
        assert!(rounds > 0);
        for (total, n) in landed.iter_mut().zip(by_phone) {
            *total += n;
        }
    }
    // No check-in that landed is lost to a lender's write or a merge in between.
    for (p, n) in phones.iter().zip(&landed) {
        let d = store.device_unscoped(p.id).await.unwrap().unwrap();
        assert_eq!(d.last_counter, *n, "{} counter", p.imei);
        assert_eq!(d.lease_seq, *n, "{} lease sequence", p.imei);
    }
    // As the race left them: no warm pass first, which would load every view afresh.
    for p in &phones {
        let want = read_apart(&store, &p.imei).await;
        let got = store.checkin_view(&p.imei).await.unwrap();
        assert_eq!(got, want, "{} after the race", p.imei);
    }
}

/// One change of each kind to each phone, in turn, again when a check-in got there first.
async fn lender_writes(store: &DynStore, ctx: &LenderCtx, phones: &[Device]) {
    for (n, p) in phones.iter().enumerate() {
        let counter = u32::try_from(n).unwrap() + 1;
        store
            .insert_unlock_code(ctx, &code(p, counter), &event(p, EventKind::CodeIssued, 60))
            .await
            .unwrap();
        for change in 0..3 {
            loop {
                let mut w = write(&now(store, p).await);
                match change {
                    0 => w
                        .new_commands
                        .push(command(&w.device, CommandKind::Lock, 40)),
                    1 => {
                        w.device.notice_seq += 1;
                        let seq = w.device.notice_seq;
                        w.new_notices.push(notice(&w.device, None, seq));
                    }
                    _ => {
                        w.device.state = DeviceState::Locked;
                        w.events.push(event(&w.device, EventKind::Locked, 80));
                    }
                }
                match store.save_device(&w).await {
                    Ok(()) => break,
                    Err(StoreError::Stale) => continue,
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
        }
    }
}
