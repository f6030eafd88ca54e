//! Keys read from outside: the server key as hex (provisioning, `--server-key`, and the
//! `GET /device/v1/server-key` answer a provisioning tool parses), 32 raw bytes as a server
//! public key and as a device key the server agrees a secret with, and the OpenPAYGO key
//! and starting code a lender types. Never a panic; every accepted key renders back to
//! its canonical text and parses again to the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_fuzz_seeds::server_key;
use lienlock_wire::openpaygo::{Key, StartingCode};
use lienlock_wire::{ServerKey, ServerPublicKey};
use std::sync::OnceLock;

fn key() -> &'static ServerKey {
    static KEY: OnceLock<ServerKey> = OnceLock::new();
    KEY.get_or_init(server_key)
}

fn server_hex(text: &str) {
    if let Ok(k) = ServerPublicKey::from_hex(text) {
        assert_eq!(k.to_hex(), text.trim().to_ascii_lowercase());
        assert_eq!(ServerPublicKey::from_hex(&k.to_hex()), Ok(k));
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    server_hex(&text);
    if let Ok(answer) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Some(hex) = answer.get("public_key").and_then(|v| v.as_str()) {
            server_hex(hex);
        }
    }
    if let Some(bytes) = data.first_chunk::<32>() {
        if let Ok(k) = ServerPublicKey::from_bytes(bytes) {
            assert_eq!(k.to_hex(), hex_of(bytes));
        }
        if let Some(shared) = key().agree_with_device(bytes) {
            assert_ne!(shared.as_bytes(), &[0u8; 32]);
        }
    }
    if let Ok(k) = Key::parse_hex(&text) {
        assert_eq!(k.to_hex(), text.to_ascii_lowercase());
        assert_eq!(text.parse::<Key>().ok(), Some(k));
    }
    if let Ok(start) = text.parse::<StartingCode>() {
        assert!(start.get() <= StartingCode::MAX);
        assert_eq!(start.to_string().parse::<StartingCode>().ok(), Some(start));
        assert_eq!(
            u64::from(start.get()),
            text.parse::<u64>().unwrap_or(u64::MAX)
        );
    }
});

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
