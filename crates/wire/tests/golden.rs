//! The worked example of docs/protocol.md, byte for byte. If an encoding changes, this test
//! fails until the document (and the version tag) are updated with it.

use lienlock_domain::policy::TamperKind;
use lienlock_domain::{DeviceId, Imei, LeaseState, RestrictionProfile, Timestamp};
use lienlock_wire::merkle::{leaf, Proof};
use lienlock_wire::{
    sign_batch, CheckIn, CheckInVersion, DeviceKey, DeviceReport, Lease, LeaseEnvelope,
    LeaseNotice, LockScreen, ReportKind, ServerKey, SignedCheckIn, TamperSignal, UnsignedLease,
};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn device_key() -> DeviceKey {
    DeviceKey::from_secret([0x11; 32])
}

fn server_key() -> ServerKey {
    ServerKey::from_secret([0x22; 32])
}

fn next_server_key() -> ServerKey {
    ServerKey::from_secret([0x33; 32])
}

/// Version 3: trusts the server key, its user partition as old as its identity, one
/// tamper signal (the SIM changed).
fn checkin() -> CheckIn {
    CheckIn {
        version: CheckInVersion::V3,
        imei: Imei::parse("490154203237518").unwrap(),
        device_key: device_key().public(),
        counter: 7,
        device_time: Timestamp::from_millis(1_767_225_600_000),
        held_lease_seq: 3,
        notice_ack: 2,
        server_key_id: Some(server_key().id()),
        user_since: 0,
        reports: Vec::new(),
        signals: vec![TamperSignal {
            kind: TamperKind::SimChanged,
            seq: 1,
            seen_wall: Timestamp::from_millis(1_767_225_000_000),
            seen_trusted: Timestamp::from_millis(1_767_225_060_000),
            value: 0,
        }],
    }
}

/// Version 2, as agents not yet upgraded still send it.
fn checkin_v2() -> CheckIn {
    CheckIn {
        version: CheckInVersion::V2,
        server_key_id: None,
        signals: Vec::new(),
        reports: vec![DeviceReport {
            kind: ReportKind::ClockSetBack,
            at: Timestamp::from_millis(1_767_225_000_000),
            value: 7_200_000,
        }],
        ..checkin()
    }
}

fn lease() -> Lease {
    Lease {
        key_id: server_key().id(),
        device_id: "019b7a4c-0000-7000-8000-000000000001"
            .parse::<DeviceId>()
            .unwrap(),
        imei: Imei::parse("490154203237518").unwrap(),
        device_key: device_key().public(),
        sequence: 4,
        state: LeaseState::Locked,
        issued_at: Timestamp::from_millis(1_767_225_601_000),
        valid_until: Timestamp::from_millis(1_767_830_401_000),
        next_checkin_at: Timestamp::from_millis(1_767_226_501_000),
        in_reply_to: 7,
        profile: RestrictionProfile::full_lock(),
        lock_screen: LockScreen {
            lender_name: "Acme".into(),
            support_phone: "+254700".into(),
            support_url: "https://a.example".into(),
            message: "Pay to unlock.".into(),
            amount_due: "KES 1,500.00".into(),
        },
        notices: vec![LeaseNotice {
            seq: 3,
            kind: "lock_notice".into(),
            message: "Pay by 8 Jan.".into(),
        }],
        // Two days before valid_until: the default offline policy's warning.
        warn_at: Timestamp::from_millis(1_767_657_601_000),
        // Two codes were issued before this lease.
        codes_through: 2,
        next_key: None,
    }
}

#[test]
fn checkin_bytes_and_envelope_match_the_document() {
    let bytes = checkin().encode();
    assert_eq!(bytes.len(), CheckIn::LEN + CheckIn::SIGNAL_LEN);
    let sealed = SignedCheckIn::seal(&checkin(), &device_key());
    assert_eq!(hex(&bytes), CHECKIN_HEX);
    assert_eq!(sealed.body, CHECKIN_BODY);
    assert_eq!(sealed.signature, CHECKIN_SIGNATURE);
    assert_eq!(sealed.open().unwrap(), checkin());
}

#[test]
fn the_version_2_checkin_of_the_document_still_reads() {
    let bytes = checkin_v2().encode();
    assert_eq!(bytes.len(), CheckIn::LEN_V2 + CheckIn::REPORT_LEN);
    assert_eq!(hex(&bytes), CHECKIN_V2_HEX);
    let sealed = SignedCheckIn::seal(&checkin_v2(), &device_key());
    assert_eq!(sealed.body, CHECKIN_V2_BODY);
    assert_eq!(sealed.open().unwrap(), checkin_v2());
}

#[test]
fn a_lease_announcing_the_next_key_matches_the_document() {
    let mut lease = lease();
    lease.next_key = Some(next_server_key().public());
    let bytes = lease.encode();
    assert_eq!(
        next_server_key().public().to_hex(),
        NEXT_KEY_HEX,
        "the next key's public half"
    );
    assert_eq!(&bytes[..8], b"LLLSE004");
    assert_eq!(hex(&bytes[8..238]), LEASE_HEX[16..]);
    assert_eq!(hex(&bytes[238..]), NEXT_KEY_HEX);
    let env = LeaseEnvelope::seal(&lease, &server_key());
    assert_eq!(env.signature, LEASE_V4_SIGNATURE);
    assert_eq!(env.open(&server_key().public()).unwrap().0, lease);
}

#[test]
fn lease_bytes_and_envelope_match_the_document() {
    let bytes = lease().encode();
    let env = LeaseEnvelope::seal(&lease(), &server_key());
    assert_eq!(hex(&bytes), LEASE_HEX);
    assert_eq!(env.lease, LEASE_BODY);
    assert_eq!(env.signature, LEASE_SIGNATURE);
    assert_eq!(env.open(&server_key().public()).unwrap().0, lease());
}

#[test]
fn a_batch_of_three_leases_matches_the_document() {
    // The document's lease, and two that differ from it only in their sequence (5, 6),
    // standing in for other devices' leases.
    let leases: Vec<Lease> = (4..=6)
        .map(|sequence| Lease {
            sequence,
            ..lease()
        })
        .collect();
    let leaves: Vec<String> = leases.iter().map(|l| hex(&leaf(&l.encode()))).collect();
    let envelopes = sign_batch(
        leases.iter().map(UnsignedLease::new).collect(),
        &server_key(),
    );
    let proofs: Vec<&str> = envelopes
        .iter()
        .map(|e| e.proof.as_deref().unwrap())
        .collect();
    let root = Proof::decode(&b64d(proofs[0]))
        .unwrap()
        .root(leaf(&leases[0].encode()));
    assert_eq!(leaves, BATCH_LEAVES);
    assert_eq!(hex(&root), BATCH_ROOT);
    assert_eq!(proofs, BATCH_PROOFS);
    for (env, lease) in envelopes.iter().zip(&leases) {
        assert_eq!(env.signature, BATCH_SIGNATURE);
        assert_eq!(&env.open(&server_key().public()).unwrap().0, lease);
    }
    // A version 4 check-in is version 3's bytes under the tag `LLCHK004`.
    let v4 = CheckIn {
        version: CheckInVersion::V4,
        ..checkin()
    }
    .encode();
    assert_eq!(&v4[..8], b"LLCHK004");
    assert_eq!(hex(&v4[8..]), CHECKIN_HEX[16..]);
}

fn b64d(s: &str) -> Vec<u8> {
    lienlock_wire::codec::unb64(s, "proof").unwrap()
}

const BATCH_LEAVES: [&str; 3] = [
    "5333c19f02485a2268f4c089e37057f026e70286aef7ab66f7e3dc184ebdc2c0",
    "c0aae29c8efd61d5694fcd8f974f707b5af33a0f3be7238f81ba765dff6c447e",
    "af5687e88100d4fae24edfdb6473cca39bc46ce765a96d64775087af39c8a494",
];
const BATCH_ROOT: &str = "a7cb9f19c129b22cc717f3a23daa97da6998645cca3427f590329ecfd52f87ca";
const BATCH_PROOFS: [&str; 3] = [
    "AcCq4pyO/WHVaU/Nj5dPcHta8zoPO+cjj4G6dl3/bER+Aa9Wh+iBANT64k7f22RzzKObxGznZaltZHdQh685yKSU",
    "AFMzwZ8CSFoiaPTAieNwV/Am5wKGrverZvfj3BhOvcLAAa9Wh+iBANT64k7f22RzzKObxGznZaltZHdQh685yKSU",
    "AAV+GTbgezO8SYinC6ZBIOuvCPKC0FbSEACBlHrSbs+7",
];
const BATCH_SIGNATURE: &str =
    "WHLNB2gwB+vi6DBLFn6T309ddmhaJB7ZbKJR4V2I04MfTzpVYL5/KLwKayGMeuqxEoN+JNGGXU9gikARFU+gAw==";
const CHECKIN_V2_HEX: &str = "4c4c43484b303032343930313534323033323337353138d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c977873700000000000000070000019b76daa8000000000000000003000000000000000201010000019b76d1804000000000006ddd00";
const CHECKIN_V2_BODY: &str = "TExDSEswMDI0OTAxNTQyMDMyMzc1MTjQSrIydCu0qzoTaL1GFeTm0CJKtxoBa6+FIKMyyXeHNwAAAAAAAAAHAAABm3baqAAAAAAAAAAAAwAAAAAAAAACAQEAAAGbdtGAQAAAAAAAbd0A";
const CHECKIN_HEX: &str = "4c4c43484b303033343930313534323033323337353138d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c977873700000000000000070000019b76daa800000000000000000300000000000000021325b850c28719160000000000000000000101000000010000019b76d180400000019b76d26aa00000000000000000";
const CHECKIN_BODY: &str = "TExDSEswMDM0OTAxNTQyMDMyMzc1MTjQSrIydCu0qzoTaL1GFeTm0CJKtxoBa6+FIKMyyXeHNwAAAAAAAAAHAAABm3baqAAAAAAAAAAAAwAAAAAAAAACEyW4UMKHGRYAAAAAAAAAAAABAQAAAAEAAAGbdtGAQAAAAZt20mqgAAAAAAAAAAA=";
const CHECKIN_SIGNATURE: &str =
    "6+48eJmGqAYzW5JX2yE5qMq+WIvypb03fsW7ol8ei8zZG6TSDP+3JKckaaO7d8NYUK0Qn9APcOoBdooqE/QQAA==";
const NEXT_KEY_HEX: &str = "17cb79fb2b4120f2b1ec65e4198d6e08b28e813feb01e4a400839b85e18080ce";
const LEASE_V4_SIGNATURE: &str =
    "Mj9scnoW25sYMEsNNgc0/nONgEUseTpz46YQdzsXnGpZbMXXYmU/1Ri47RrwXyyywgDQJ1RuIJRP9rzxhkiXAw==";
const LEASE_HEX: &str = "4c4c4c53453030331325b850c2871916019b7a4c000070008000000000000001343930313534323033323337353138d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c97787370000000000000004020000019b76daabe80000019b9ae72fe80000019b76e867880000000000000007040000003f000441636d6500072b323534373030001168747470733a2f2f612e6578616d706c65000e50617920746f20756e6c6f636b2e000c4b455320312c3530302e3030010000000000000003000b6c6f636b5f6e6f74696365000d5061792062792038204a616e2e0000019b909a77e800000002";
const LEASE_BODY: &str = "TExMU0UwMDMTJbhQwocZFgGbekwAAHAAgAAAAAAAAAE0OTAxNTQyMDMyMzc1MTjQSrIydCu0qzoTaL1GFeTm0CJKtxoBa6+FIKMyyXeHNwAAAAAAAAAEAgAAAZt22qvoAAABm5rnL+gAAAGbduhniAAAAAAAAAAHBAAAAD8ABEFjbWUABysyNTQ3MDAAEWh0dHBzOi8vYS5leGFtcGxlAA5QYXkgdG8gdW5sb2NrLgAMS0VTIDEsNTAwLjAwAQAAAAAAAAADAAtsb2NrX25vdGljZQANUGF5IGJ5IDggSmFuLgAAAZuQmnfoAAAAAg==";
const LEASE_SIGNATURE: &str =
    "ErOim6Wu/n4ZtRbeTPoLFGRQ6q1+hr3uOLZSYqRuNh/uPWOiTLZ4GsPDhERmshgRxMyVc1v1f2ph+aX+e2UFDg==";

/// Section 10's version 5 check-in: the example check-in under the tag `LLCHK005`, its
/// MAC key as the server hands it out, and its tag.
#[test]
fn a_mac_checkin_and_its_key_match_the_document() {
    let mut c = checkin();
    c.version = CheckInVersion::V5;
    let (server, device) = (server_key(), device_key());
    let mac = server
        .checkin_mac_key(server.id(), &device.public())
        .unwrap();
    assert_eq!(hex(&mac.to_bytes()), MAC_KEY_HEX);
    let shared = server.agree_with_device(&device.public()).unwrap();
    assert_eq!(hex(shared.as_bytes()), SHARED_HEX);
    let wrapped = server
        .wrapped_mac_key(Some(server.id()), &device.public())
        .unwrap();
    assert_eq!(hex(&wrapped), WRAPPED_MAC_KEY_HEX);
    assert_eq!(lienlock_wire::codec::b64(&wrapped), WRAPPED_MAC_KEY);
    assert_eq!(
        device.unwrap_mac_key(&server.public(), &wrapped).unwrap(),
        mac
    );
    let sealed = SignedCheckIn::seal_mac(&c, &mac);
    let bytes = c.encode();
    assert_eq!(&bytes[..8], b"LLCHK005");
    assert_eq!(hex(&bytes[8..]), CHECKIN_HEX[16..]);
    assert_eq!(sealed.body, MAC_CHECKIN_BODY);
    assert_eq!(sealed.signature, MAC_CHECKIN_TAG);
    assert_eq!(sealed.decode().unwrap().verify_mac(&server).unwrap(), c);
}

const MAC_KEY_HEX: &str = "d41c697f7771b05a2bfdb695f4ec99f5f277ec3d581385e69652094c56a2a3cb";
const SHARED_HEX: &str = "e4f89e666efa723bce776c3df12d9313a2416965d9acc2279388230b8a136262";
const WRAPPED_MAC_KEY_HEX: &str =
    "1325b850c28719163b57615de6f59d3a52f90b9a1e3ec24124f497e37ef4075f847b88124ccf3a98";
const WRAPPED_MAC_KEY: &str = "EyW4UMKHGRY7V2Fd5vWdOlL5C5oePsJBJPSX4370B1+Ee4gSTM86mA==";
const MAC_CHECKIN_BODY: &str = "TExDSEswMDU0OTAxNTQyMDMyMzc1MTjQSrIydCu0qzoTaL1GFeTm0CJKtxoBa6+FIKMyyXeHNwAAAAAAAAAHAAABm3baqAAAAAAAAAAAAwAAAAAAAAACEyW4UMKHGRYAAAAAAAAAAAABAQAAAAEAAAGbdtGAQAAAAZt20mqgAAAAAAAAAAA=";
const MAC_CHECKIN_TAG: &str = "lQi+8JvNgjxOT5+/4AtTsPvkC/QxC+P/e78M17V3f8k=";
