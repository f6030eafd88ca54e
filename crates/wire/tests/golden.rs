//! The worked example of docs/protocol.md, byte for byte. If an encoding changes, this test
//! fails until the document (and the version tag) are updated with it.

use lienlock_domain::{DeviceId, Imei, LeaseState, RestrictionProfile, Timestamp};
use lienlock_wire::{
    CheckIn, DeviceKey, DeviceReport, Lease, LeaseEnvelope, LeaseNotice, LockScreen, ReportKind,
    ServerKey, SignedCheckIn,
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

fn checkin() -> CheckIn {
    CheckIn {
        imei: Imei::parse("490154203237518").unwrap(),
        device_key: device_key().public(),
        counter: 7,
        device_time: Timestamp::from_millis(1_767_225_600_000),
        held_lease_seq: 3,
        notice_ack: 2,
        reports: vec![DeviceReport {
            kind: ReportKind::ClockSetBack,
            at: Timestamp::from_millis(1_767_225_000_000),
            value: 7_200_000,
        }],
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
    }
}

#[test]
fn checkin_bytes_and_envelope_match_the_document() {
    let bytes = checkin().encode();
    assert_eq!(bytes.len(), CheckIn::LEN + CheckIn::REPORT_LEN);
    let sealed = SignedCheckIn::seal(&checkin(), &device_key());
    assert_eq!(hex(&bytes), CHECKIN_HEX);
    assert_eq!(sealed.body, CHECKIN_BODY);
    assert_eq!(sealed.signature, CHECKIN_SIGNATURE);
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

const CHECKIN_HEX: &str = "4c4c43484b303032343930313534323033323337353138d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c977873700000000000000070000019b76daa8000000000000000003000000000000000201010000019b76d1804000000000006ddd00";
const CHECKIN_BODY: &str = "TExDSEswMDI0OTAxNTQyMDMyMzc1MTjQSrIydCu0qzoTaL1GFeTm0CJKtxoBa6+FIKMyyXeHNwAAAAAAAAAHAAABm3baqAAAAAAAAAAAAwAAAAAAAAACAQEAAAGbdtGAQAAAAAAAbd0A";
const CHECKIN_SIGNATURE: &str =
    "TXYZPCf8RUYu4zpLNnFSjmPUI9TtHYsCAjmr8LJbvaMGS+bMfw6toXfh7RYLX5z9l4xcL5WsSzy79wsSQ8qYDg==";
const LEASE_HEX: &str = "4c4c4c53453030331325b850c2871916019b7a4c000070008000000000000001343930313534323033323337353138d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c97787370000000000000004020000019b76daabe80000019b9ae72fe80000019b76e867880000000000000007040000003f000441636d6500072b323534373030001168747470733a2f2f612e6578616d706c65000e50617920746f20756e6c6f636b2e000c4b455320312c3530302e3030010000000000000003000b6c6f636b5f6e6f74696365000d5061792062792038204a616e2e0000019b909a77e800000002";
const LEASE_BODY: &str = "TExMU0UwMDMTJbhQwocZFgGbekwAAHAAgAAAAAAAAAE0OTAxNTQyMDMyMzc1MTjQSrIydCu0qzoTaL1GFeTm0CJKtxoBa6+FIKMyyXeHNwAAAAAAAAAEAgAAAZt22qvoAAABm5rnL+gAAAGbduhniAAAAAAAAAAHBAAAAD8ABEFjbWUABysyNTQ3MDAAEWh0dHBzOi8vYS5leGFtcGxlAA5QYXkgdG8gdW5sb2NrLgAMS0VTIDEsNTAwLjAwAQAAAAAAAAADAAtsb2NrX25vdGljZQANUGF5IGJ5IDggSmFuLgAAAZuQmnfoAAAAAg==";
const LEASE_SIGNATURE: &str =
    "ErOim6Wu/n4ZtRbeTPoLFGRQ6q1+hr3uOLZSYqRuNh/uPWOiTLZ4GsPDhERmshgRxMyVc1v1f2ph+aX+e2UFDg==";
