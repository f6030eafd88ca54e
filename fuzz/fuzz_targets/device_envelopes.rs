//! Any bytes as the JSON body of `POST /device/v1/checkin`, `/dispute` and `/push`, opened
//! as the server does: never a panic; what opens is exactly the decoding of its signed body,
//! and its signature verifies under the key the body names. The server's key agreement with
//! that (untrusted) device key never panics and never yields the all-zero secret. A
//! check-in authenticated by a MAC opens only with its device's tag.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_fuzz_seeds::server_key;
use lienlock_wire::codec::unb64;
use lienlock_wire::keys::verify_device;
use lienlock_wire::{
    CheckIn, DisputeRequest, ServerKey, SignedCheckIn, SignedDispute, SignedSubscribe,
    SubscribeRequest,
};
use std::sync::OnceLock;

fn key() -> &'static ServerKey {
    static KEY: OnceLock<ServerKey> = OnceLock::new();
    KEY.get_or_init(server_key)
}

fn signed_body(body: &str, signature: &str, device_key: &[u8; 32]) -> Vec<u8> {
    let bytes = unb64(body, "body").expect("an opened body is base64");
    let sig = unb64(signature, "signature").expect("an opened signature is base64");
    assert!(verify_device(device_key, &bytes, &sig).is_ok());
    bytes
}

fn agree(device_key: &[u8; 32]) {
    if let Some(shared) = key().agree_with_device(device_key) {
        assert_ne!(shared.as_bytes(), &[0u8; 32]);
    }
}

/// A version 5 check-in: it opens only with the tag of its device's MAC key under the
/// server key it names, and handing out a key for any device key never panics.
fn mac(env: &SignedCheckIn) {
    let Ok(bytes) = unb64(&env.body, "body") else {
        return;
    };
    let Ok(body) = CheckIn::decode(&bytes) else {
        return;
    };
    if let Some(wrapped) = key().wrapped_mac_key(body.server_key_id, &body.device_key) {
        assert_eq!(wrapped[..8], key().id().0);
    }
    let Ok(c) = env.decode().and_then(|u| u.verify_mac(key())) else {
        return;
    };
    assert!(c.version.is_mac());
    let named = c.server_key_id.expect("a version 5 check-in names its key");
    let mac = key()
        .checkin_mac_key(named, &c.device_key)
        .expect("the key it was checked with");
    let tag = unb64(&env.signature, "signature").expect("an opened tag is base64");
    assert_eq!(mac.tag(&bytes)[..], tag[..]);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = serde_json::from_slice::<SignedCheckIn>(data) {
        if let Ok(c) = env.open() {
            let bytes = signed_body(&env.body, &env.signature, &c.device_key);
            assert_eq!(CheckIn::decode(&bytes).as_ref(), Ok(&c));
            agree(&c.device_key);
        }
        mac(&env);
    }
    if let Ok(env) = serde_json::from_slice::<SignedDispute>(data) {
        if let Ok(d) = env.open() {
            let bytes = signed_body(&env.body, &env.signature, &d.device_key);
            assert_eq!(DisputeRequest::decode(&bytes).as_ref(), Ok(&d));
        }
    }
    if let Ok(env) = serde_json::from_slice::<SignedSubscribe>(data) {
        if let Ok(s) = env.open() {
            let bytes = signed_body(&env.body, &env.signature, &s.device_key);
            assert_eq!(SubscribeRequest::decode(&bytes).as_ref(), Ok(&s));
        }
    }
});
