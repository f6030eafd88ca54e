//! Android's Device Lock Controller over real gRPC: a client generated from our protos
//! calls the server on its main listener and on the dedicated one.

use crate::console::{add_user, hidden, lender_id, Browser, PASSWORD};
use crate::harness::{imei, TestLender, TestServer, DEPLOYMENT_ANDROID_KEY};
use lienlock_android::proto::device_lock_checkin_service_client::DeviceLockCheckinServiceClient;
use lienlock_android::proto::device_lock_finalize_service_client::DeviceLockFinalizeServiceClient;
use lienlock_android::proto::get_device_checkin_status_response::NextSteps;
use lienlock_android::proto::*;
use lienlock_domain::Clock;
use lienlock_domain::Role;
use lienlock_store_sql::testing::Backend;
use reqwest::Method;
use serde_json::{json, Value};
use tonic::transport::Channel;
use tonic::{Code, Request};

const HEADER: &str = "x-devicelock-api-key";

fn req<T>(key: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert(HEADER, key.parse().unwrap());
    r
}

async fn clients(
    url: &str,
) -> (
    DeviceLockCheckinServiceClient<Channel>,
    DeviceLockFinalizeServiceClient<Channel>,
) {
    (
        DeviceLockCheckinServiceClient::connect(url.to_owned())
            .await
            .unwrap(),
        DeviceLockFinalizeServiceClient::connect(url.to_owned())
            .await
            .unwrap(),
    )
}

fn settings(provision_type: &str, force: bool) -> Value {
    json!({
        "kiosk_app_provider_name": "Acme Finance",
        "kiosk_app_package": "com.acme.pay",
        "kiosk_app_main_activity": "com.acme.pay.LockActivity",
        "kiosk_app_allowlist_packages": ["com.acme.help"],
        "kiosk_app_enable_outgoing_calls": true,
        "kiosk_app_enable_notifications": true,
        "disallow_installing_from_unknown_sources": true,
        "terms_and_conditions_url": "https://acme.example/terms",
        "support_url": "https://acme.example/help",
        "provision_type": provision_type,
        "force_provisioning": force,
        "approved_mccs": ["639"],
        "factory_reset_after_days": 3,
        "retry_checkin_minutes": 30
    })
}

/// `GET /v1/devices/{device}/android`: the phone's Android record.
async fn phone_android(s: &TestServer, l: &TestLender, device: &str) -> (u16, Value) {
    s.get(l, &format!("/v1/devices/{device}/android")).await
}

/// `PUT /v1/devices/{device}/android` with `body`: the lender's choices for the phone.
async fn put_phone_android(
    s: &TestServer,
    l: &TestLender,
    device: &str,
    body: Value,
) -> (u16, Value) {
    let path = format!("/v1/devices/{device}/android");
    s.call(Some(l), Method::PUT, &path, Some(body)).await
}

/// Sets the lender's Android settings and returns a fresh check-in key.
async fn android_lender(s: &TestServer, l: &TestLender, body: Value) -> String {
    let (c, v) = s
        .call(Some(l), Method::PUT, "/v1/lender/android", Some(body))
        .await;
    assert_eq!(c, 200, "{v}");
    let (c, v) = s.post(l, "/v1/lender/android/key", json!(null)).await;
    assert_eq!(c, 201, "{v}");
    v["key"].as_str().unwrap().to_owned()
}

fn ids(pairs: &[(&str, DeviceIdentifierType)]) -> Vec<ClientDeviceIdentifier> {
    pairs
        .iter()
        .map(|(v, t)| ClientDeviceIdentifier {
            device_identifier: Some((*v).to_owned()),
            device_identifier_type: Some(*t as i32),
        })
        .collect()
}

fn checkin(pairs: &[(&str, DeviceIdentifierType)], mccmnc: &str) -> GetDeviceCheckinStatusRequest {
    GetDeviceCheckinStatusRequest {
        client_device_identifiers: ids(pairs),
        carrier_mccmnc: Some(mccmnc.to_owned()),
        fcm_registration_token: Some("fcm-1".into()),
        device_manufacturer: Some("Acme".into()),
        device_model: Some("A15".into()),
        device_internal_name: Some("a15".into()),
    }
}

/// The answer to a check-in by one identifier, from a phone on an approved network.
async fn status_of(
    c: &mut DeviceLockCheckinServiceClient<Channel>,
    key: &str,
    id: (&str, DeviceIdentifierType),
) -> GetDeviceCheckinStatusResponse {
    c.get_device_checkin_status(req(key, checkin(&[id], "63902")))
        .await
        .unwrap()
        .into_inner()
}

fn report(
    id: &str,
    success: bool,
    prev: ClientProvisionState,
) -> ReportDeviceProvisionStateRequest {
    ReportDeviceProvisionStateRequest {
        client_provision_failure_reason: Some(if success {
            ClientProvisionFailureReason::ProvisionFailureReasonUnspecified as i32
        } else {
            ClientProvisionFailureReason::ProvisionFailureReasonPlayInstallationFailed as i32
        }),
        previous_client_provision_state: Some(prev as i32),
        provision_success: Some(success),
        registered_device_identifier: Some(id.to_owned()),
    }
}

async fn android_details(s: &TestServer, l: &TestLender, device: &str) -> Vec<String> {
    let (c, body) = s
        .get(l, &format!("/v1/devices/{device}/timeline?limit=500"))
        .await;
    assert_eq!(c, 200);
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "android")
        .map(|e| e["detail"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Every check-in call on both listeners: a phone is told to provision with the lender's
/// configuration, reports its country, token and success, is reset and checks in again by
/// IMEI, and is told to provision again.
async fn a_phone_provisions_and_provisions_again_after_a_reset(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let key = android_lender(&s, &acme, settings("mandatory", true)).await;
    for (n, url) in [(700, s.url.clone()), (701, s.android_url.clone())] {
        let phone = imei(n).to_string();
        let device = s.enroll(&acme, &imei(n)).await;
        let (mut c, _) = clients(&url).await;
        let meid = &phone[..14];
        let r = c
            .get_device_checkin_status(req(
                &key,
                checkin(
                    &[
                        (meid, DeviceIdentifierType::Meid),
                        (&phone, DeviceIdentifierType::Imei),
                    ],
                    "63902",
                ),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.client_checkin_status(),
            ClientCheckinStatus::ReadyForProvision
        );
        assert_eq!(r.registered_device_identifier.as_deref(), Some(meid));
        let Some(NextSteps::DeviceProvisioningInformation(p)) = r.next_steps else {
            panic!("no provisioning information: {r:?}");
        };
        assert_eq!(p.enrollment_type(), EnrollmentType::Finance);
        assert_eq!(p.device_provision_type(), DeviceProvisionType::Mandatory);
        assert_eq!(p.force_provisioning, Some(true));
        assert_eq!(p.is_device_in_approved_country, Some(true));
        assert_eq!(p.allow_debugging, Some(false));
        let conf = p.configuration_information.unwrap();
        assert_eq!(conf.kiosk_app_package.as_deref(), Some("com.acme.pay"));
        assert_eq!(
            conf.kiosk_app_main_activity.as_deref(),
            Some("com.acme.pay.LockActivity")
        );
        assert_eq!(conf.kiosk_app_allowlist_packages, vec!["com.acme.help"]);
        assert_eq!(conf.kiosk_app_enable_outgoing_calls, Some(true));
        assert_eq!(conf.kiosk_app_enable_notifications, Some(true));
        assert_eq!(
            conf.terms_and_conditions_url.as_deref(),
            Some("https://acme.example/terms")
        );
        assert_eq!(
            conf.support_url.as_deref(),
            Some("https://acme.example/help")
        );

        let country = |m: &str| IsDeviceInApprovedCountryRequest {
            registered_device_identifier: Some(phone.clone()),
            carrier_mccmnc: Some(m.into()),
        };
        let yes = c
            .is_device_in_approved_country(req(&key, country("63902")))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(yes.is_device_in_approved_country, Some(true));
        let no = c
            .is_device_in_approved_country(req(&key, country("405840")))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(no.is_device_in_approved_country, Some(false));

        let t = c
            .update_fcm_token(req(
                &key,
                UpdateFcmTokenRequest {
                    client_device_identifiers: ids(&[(&phone, DeviceIdentifierType::Imei)]),
                    fcm_registration_token: Some("fcm-2".into()),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(t.result(), UpdateFcmTokenResult::Success);

        let done = c
            .report_device_provision_state(req(
                &key,
                report(&phone, true, ClientProvisionState::Unspecified),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            done.next_client_provision_state(),
            ClientProvisionState::Success
        );
        let (code, view) = phone_android(&s, &acme, &device).await;
        assert_eq!(code, 200, "{view}");
        assert_eq!(view["provision_state"], "success");
        assert_eq!(view["has_fcm_token"], true);

        // Factory reset: the phone forgets everything and checks in by IMEI again.
        let again = status_of(&mut c, &key, (&phone, DeviceIdentifierType::Imei)).await;
        assert_eq!(
            again.client_checkin_status(),
            ClientCheckinStatus::ReadyForProvision
        );
        assert_eq!(again.registered_device_identifier.as_deref(), Some(&*phone));
        let details = android_details(&s, &acme, &device).await;
        assert!(
            details
                .iter()
                .any(|d| d.contains("provisioning again after a reset")),
            "{details:?}"
        );
        assert!(
            details.iter().any(|d| d == "provision: success"),
            "{details:?}"
        );
        assert!(
            details.iter().any(|d| d.starts_with("country: 63902")),
            "{details:?}"
        );
        assert!(
            details.iter().any(|d| d.starts_with("fcm_token")),
            "{details:?}"
        );
    }
    s.stop().await;
}

/// A held phone and a lender without settings are told to retry; a phone found by serial
/// gets its serial back; a mandatory provisioning that keeps failing ends in a factory
/// reset after the configured days; a forced one cannot be paused, a deferred one can.
async fn retry_failures_reset_and_pause(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let key = android_lender(&s, &acme, settings("mandatory", true)).await;
    let (mut c, _) = clients(&s.android_url).await;

    let serial = "SN-RETRY-1";
    let (code, d) = s
        .post(
            &acme,
            "/v1/devices",
            json!({"imei": imei(710).to_string(), "serial": serial}),
        )
        .await;
    assert_eq!(code, 201, "{d}");
    let device = d["id"].as_str().unwrap().to_owned();
    let (code, v) = put_phone_android(&s, &acme, &device, json!({"hold": true})).await;
    assert_eq!(code, 200, "{v}");
    let r = status_of(&mut c, &key, (serial, DeviceIdentifierType::Serial)).await;
    assert_eq!(r.client_checkin_status(), ClientCheckinStatus::RetryCheckin);
    assert_eq!(r.registered_device_identifier.as_deref(), Some(serial));
    let Some(NextSteps::NextCheckinInformation(next)) = r.next_steps else {
        panic!("no next check-in: {r:?}");
    };
    let now_s = s.clock.now().as_millis() / 1000;
    assert_eq!(
        next.next_checkin_timestamp.unwrap().seconds,
        now_s + 30 * 60
    );

    // Failures of a mandatory provisioning: retry, persistent notice, then reset.
    let phone = imei(711).to_string();
    s.enroll(&acme, &imei(711)).await;
    let r1 = c
        .report_device_provision_state(req(
            &key,
            report(&phone, false, ClientProvisionState::Unspecified),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r1.next_client_provision_state(),
        ClientProvisionState::Retry
    );
    assert_eq!(r1.days_left_until_reset, Some(3));
    s.clock.advance_millis(86_400_000);
    let r2 = c
        .report_device_provision_state(req(
            &key,
            report(&phone, false, ClientProvisionState::Retry),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r2.next_client_provision_state(),
        ClientProvisionState::PersistentUi
    );
    assert_eq!(r2.days_left_until_reset, Some(2));
    s.clock.advance_millis(2 * 86_400_000);
    let r3 = c
        .report_device_provision_state(req(
            &key,
            report(&phone, false, ClientProvisionState::PersistentUi),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r3.next_client_provision_state(),
        ClientProvisionState::FactoryReset
    );
    assert_eq!(r3.days_left_until_reset, Some(0));

    let pause = |id: &str| PauseDeviceProvisioningRequest {
        registered_device_identifier: Some(id.to_owned()),
        pause_device_provisioning_reason: Some(
            PauseDeviceProvisioningReason::UserDeferredDeviceProvisioning as i32,
        ),
    };
    let e = c
        .pause_device_provisioning(req(&key, pause(&phone)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");

    // Another lender, deferred and not forced, may pause; one without settings retries.
    let beta = s.lender("Beta").await;
    let beta_key = android_lender(&s, &beta, settings("deferred", false)).await;
    let beta_phone = imei(712).to_string();
    s.enroll(&beta, &imei(712)).await;
    c.pause_device_provisioning(req(&beta_key, pause(&beta_phone)))
        .await
        .unwrap();
    let gamma = s.lender("Gamma").await;
    let gamma_phone = imei(713).to_string();
    s.enroll(&gamma, &imei(713)).await;
    let r = status_of(
        &mut c,
        DEPLOYMENT_ANDROID_KEY,
        (&gamma_phone, DeviceIdentifierType::Imei),
    )
    .await;
    assert_eq!(r.client_checkin_status(), ClientCheckinStatus::RetryCheckin);
    s.stop().await;
}

/// Unknown and released phones are told to stop; a released phone reports that its
/// program is complete; a token for an unknown phone fails.
async fn unknown_and_released_phones_stop(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let key = android_lender(&s, &acme, settings("deferred", false)).await;
    let (mut c, mut f) = clients(&s.url).await;
    let unknown = imei(720).to_string();
    let r = status_of(&mut c, &key, (&unknown, DeviceIdentifierType::Imei)).await;
    assert_eq!(r.client_checkin_status(), ClientCheckinStatus::StopCheckin);
    assert_eq!(r.registered_device_identifier, None);
    assert_eq!(r.next_steps, None);
    let t = c
        .update_fcm_token(req(
            &key,
            UpdateFcmTokenRequest {
                client_device_identifiers: ids(&[(&unknown, DeviceIdentifierType::Imei)]),
                fcm_registration_token: Some("fcm".into()),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.result(), UpdateFcmTokenResult::Failure);

    let phone = imei(721).to_string();
    let device = s.enroll(&acme, &imei(721)).await;
    let complete = || ReportDeviceProgramCompleteRequest {
        registered_device_identifier: Some(phone.clone()),
    };
    let e = f
        .report_device_program_complete(req(&key, complete()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    let (code, v) = s
        .post(
            &acme,
            &format!("/v1/devices/{device}/release"),
            json!({"reason": "paid"}),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    let r = status_of(&mut c, &key, (&phone, DeviceIdentifierType::Imei)).await;
    assert_eq!(r.client_checkin_status(), ClientCheckinStatus::StopCheckin);
    f.report_device_program_complete(req(&key, complete()))
        .await
        .unwrap();
    let (_, view) = phone_android(&s, &acme, &device).await;
    assert!(view["program_complete_at"].is_string(), "{view}");
    // Nothing the lender sets for a released phone could matter again: refused, unchanged.
    let (code, v) = put_phone_android(&s, &acme, &device, json!({"hold": true})).await;
    assert_eq!(code, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("released"),
        "{v}"
    );
    let (_, after) = phone_android(&s, &acme, &device).await;
    assert_eq!(after, view);
    s.stop().await;
}

/// Bad keys are refused, another lender's key cannot reach a phone, malformed requests
/// are refused, and none of it writes anything.
async fn bad_keys_and_malformed_requests_are_refused(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let key = android_lender(&s, &acme, settings("deferred", false)).await;
    let rival = s.lender("Rival").await;
    let rival_key = android_lender(&s, &rival, settings("deferred", false)).await;
    let phone = imei(730).to_string();
    let device = s.enroll(&acme, &imei(730)).await;
    let before = android_details(&s, &acme, &device).await;
    let (mut c, mut f) = clients(&s.android_url).await;
    let good = || checkin(&[(&phone, DeviceIdentifierType::Imei)], "63902");

    let e = c
        .get_device_checkin_status(Request::new(good()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    for bad in ["dlc_nope", "llk_x", &acme.key] {
        let e = c
            .get_device_checkin_status(req(bad, good()))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{bad}");
    }
    let e = f
        .report_device_program_complete(req(
            "wrong",
            ReportDeviceProgramCompleteRequest {
                registered_device_identifier: Some(phone.clone()),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    // The rival's key does not reach Acme's phone: not in its program.
    let r = c
        .get_device_checkin_status(req(&rival_key, good()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.client_checkin_status(), ClientCheckinStatus::StopCheckin);

    let malformed = [
        checkin(&[], "63902"),
        checkin(&[("12345", DeviceIdentifierType::Imei)], "63902"),
        checkin(&[(&phone, DeviceIdentifierType::Imei)], "6390x"),
    ];
    for m in malformed {
        let e = c.get_device_checkin_status(req(&key, m)).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    }
    let mut no_id = report(&phone, true, ClientProvisionState::Unspecified);
    no_id.registered_device_identifier = None;
    let mut bad_enum = report(&phone, false, ClientProvisionState::Unspecified);
    bad_enum.previous_client_provision_state = Some(99);
    for m in [no_id, bad_enum] {
        let e = c
            .report_device_provision_state(req(&key, m))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    }
    let e = c
        .is_device_in_approved_country(req(
            &key,
            IsDeviceInApprovedCountryRequest {
                registered_device_identifier: Some(phone.clone()),
                carrier_mccmnc: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = c
        .pause_device_provisioning(req(
            &key,
            PauseDeviceProvisioningRequest {
                registered_device_identifier: Some(phone.clone()),
                pause_device_provisioning_reason: Some(0),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = c
        .update_fcm_token(req(
            &key,
            UpdateFcmTokenRequest {
                client_device_identifiers: ids(&[(&phone, DeviceIdentifierType::Imei)]),
                fcm_registration_token: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(android_details(&s, &acme, &device).await, before);

    // A rotated key replaces the old one at once.
    let (code, _) = s.post(&acme, "/v1/lender/android/key", json!(null)).await;
    assert_eq!(code, 201);
    let e = c
        .get_device_checkin_status(req(&key, good()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    s.stop().await;
}

/// The lender's staff hold a phone and set its provisioning from the console; the phone's
/// next check-in follows. An auditor sees the section and may change nothing.
async fn the_console_sets_a_phones_android_choices(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let key = android_lender(&s, &acme, settings("deferred", false)).await;
    let acme_id = lender_id(&s, &acme).await;
    add_user(&s, acme_id, "admin@acme.example", Role::Admin).await;
    add_user(&s, acme_id, "audit@acme.example", Role::Auditor).await;
    let phone = imei(720).to_string();
    let device = s.enroll(&acme, &imei(720)).await;
    let (mut c, _) = clients(&s.url).await;
    assert_eq!(
        status_of(&mut c, &key, (&phone, DeviceIdentifierType::Imei))
            .await
            .client_checkin_status(),
        ClientCheckinStatus::ReadyForProvision
    );

    let page = format!("/console/devices/{device}");
    let form = format!("/console/devices/{device}/android");
    let mut b = Browser::new(&s);
    assert_eq!(b.sign_in("admin@acme.example", PASSWORD).await.status, 303);
    let p = b.get(&page).await;
    assert!(
        p.body.contains("Android Device Lock Controller"),
        "{}",
        p.body
    );
    assert!(p.body.contains(r#"id="android-last">"#));
    let csrf = hidden(&p.body, "csrf");
    // A forged form and a bad choice change nothing.
    let p = b.post(&form, &[("csrf", "forged"), ("hold", "yes")]).await;
    assert_eq!(p.status, 403, "{}", p.body);
    let p = b
        .post(&form, &[("csrf", &csrf), ("provision_type", "sometimes")])
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    let (_, v) = phone_android(&s, &acme, &device).await;
    assert_eq!(v["config"]["hold"], false);
    assert_eq!(v["config"]["provision_type"], Value::Null);

    // Hold: the phone is told to come back later.
    let p = b
        .post(
            &form,
            &[
                ("csrf", &csrf),
                ("hold", "yes"),
                ("provision_type", "mandatory"),
                ("force", "yes"),
            ],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("Android settings saved"), "{}", p.body);
    assert!(p
        .body
        .contains(r#"id="android-hold" name="hold" type="checkbox" value="yes" checked"#));
    let (_, v) = phone_android(&s, &acme, &device).await;
    assert_eq!(v["config"]["hold"], true);
    assert_eq!(v["config"]["provision_type"], "mandatory");
    assert_eq!(v["config"]["force_provisioning"], true);
    assert_eq!(
        status_of(&mut c, &key, (&phone, DeviceIdentifierType::Imei))
            .await
            .client_checkin_status(),
        ClientCheckinStatus::RetryCheckin
    );

    // An auditor reads the section and may not change it.
    let mut a = Browser::new(&s);
    assert_eq!(a.sign_in("audit@acme.example", PASSWORD).await.status, 303);
    let p = a.get(&page).await;
    assert!(p.body.contains("may not change these"), "{}", p.body);
    let audit_csrf = hidden(&p.body, "csrf");
    let p = a.post(&form, &[("csrf", &audit_csrf)]).await;
    assert_eq!(p.status, 403, "{}", p.body);

    // Released from hold, with the lender's defaults again: the phone provisions, forced
    // by nobody.
    let p = b.post(&form, &[("csrf", &csrf)]).await;
    assert_eq!(p.status, 200, "{}", p.body);
    let r = status_of(&mut c, &key, (&phone, DeviceIdentifierType::Imei)).await;
    assert_eq!(
        r.client_checkin_status(),
        ClientCheckinStatus::ReadyForProvision
    );
    let Some(NextSteps::DeviceProvisioningInformation(p)) = r.next_steps else {
        panic!("no provisioning information: {r:?}");
    };
    assert_eq!(p.device_provision_type(), DeviceProvisionType::Deferred);
    assert_eq!(p.force_provisioning, Some(false));
    s.stop().await;
}

lienlock_store_sql::backend_tests!(
    a_phone_provisions_and_provisions_again_after_a_reset,
    retry_failures_reset_and_pause,
    unknown_and_released_phones_stop,
    bad_keys_and_malformed_requests_are_refused,
    the_console_sets_a_phones_android_choices,
);
