//! The lease: the server's signed statement of what a device may do until when.

use crate::codec::{Reader, WireError, Writer};
use crate::keys::{KeyId, ServerPublicKey};
use lienlock_domain::{DeviceId, Imei, LeaseState, RestrictionProfile, Timestamp};
use serde::{Deserialize, Serialize};

/// Tag of version 3 of the lease (version 2 had no `amount_due`). Written for every lease
/// that announces no key, so agents that read only version 3 keep working.
pub const MAGIC: &[u8; 8] = b"LLLSE003";

/// Tag of version 4: version 3 followed by the 32-byte public half of the server's next
/// lease-signing key. Written only for a lease that announces one.
pub const MAGIC_V4: &[u8; 8] = b"LLLSE004";

/// Tag of version 2, which had no `amount_due`. Still read (never written): a phone upgraded
/// while holding a version 2 lease keeps it, and above all a released phone keeps its
/// release, which no later lease would give back if it never connects again.
pub const MAGIC_V2: &[u8; 8] = b"LLLSE002";

/// What the lock screen shows: who to call and what to do. Each field is at most 512 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockScreen {
    /// The lender's name as the borrower knows it.
    pub lender_name: String,
    /// A phone number the borrower can call (incoming and emergency calls always work).
    pub support_phone: String,
    /// Where to pay or get help.
    pub support_url: String,
    /// What to do, in plain words.
    pub message: String,
    /// What is overdue, formatted for people ("KES 1,500.00"); empty when nothing is.
    pub amount_due: String,
}

/// Most notices one lease carries; older undelivered ones wait for the next lease.
pub const MAX_NOTICES: usize = 8;

/// A message the device must show its user: a payment reminder or a lock notice. The device
/// acknowledges it (by sequence number) at its next check-in, which is what makes it count
/// as delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseNotice {
    /// Per device, strictly increasing.
    pub seq: u64,
    /// The kind's stable name (`due_reminder`, `lock_notice`, ...).
    pub kind: String,
    /// What to show, in plain words.
    pub message: String,
}

/// A lease, as signed by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Which server key signed it.
    pub key_id: KeyId,
    /// The enrolled device.
    pub device_id: DeviceId,
    /// Its IMEI, shown on the lock screen.
    pub imei: Imei,
    /// The device key the lease was issued to; a lease is useless to any other key.
    pub device_key: [u8; 32],
    /// Strictly increasing per device; the agent never accepts a lower one.
    pub sequence: u64,
    /// Run, restrict, or stop enforcing for ever.
    pub state: LeaseState,
    /// Server time when issued.
    pub issued_at: Timestamp,
    /// After this the device restricts itself unless it holds a newer lease.
    pub valid_until: Timestamp,
    /// When the device should check in next.
    pub next_checkin_at: Timestamp,
    /// The counter of the check-in this lease answers; the agent takes `issued_at` as trusted
    /// time only from a lease answering its own latest request.
    pub in_reply_to: u64,
    /// What to restrict while locked.
    pub profile: RestrictionProfile,
    /// What the lock screen says.
    pub lock_screen: LockScreen,
    /// Notices to show, oldest first, at most [`MAX_NOTICES`].
    pub notices: Vec<LeaseNotice>,
    /// From this moment on, while no newer lease has come, an active lease warns the
    /// borrower that the phone will lock at `valid_until` unless it connects or a code is
    /// entered (the lender's offline policy). At or after `valid_until`: no warning.
    pub warn_at: Timestamp,
    /// The device's highest unlock-code counter when the lease was cut. The device takes no
    /// code at or below it: this lease already reflects every payment those codes came with,
    /// so they are void, and codes a phone that stays online never needed cannot pile up past
    /// the 32-code window.
    pub codes_through: u32,
    /// The server's next lease-signing key, announced under the signature of the key the
    /// device already trusts, so the device can trust it too before the server switches to
    /// it (version 4; `None` writes version 3).
    pub next_key: Option<ServerPublicKey>,
}

impl Lease {
    /// The canonical bytes that are signed and sent.
    pub fn encode(&self) -> Vec<u8> {
        let (level, mask) = self.profile.to_wire();
        let mut w = Writer::new(if self.next_key.is_some() {
            MAGIC_V4
        } else {
            MAGIC
        });
        w.bytes(&self.key_id.0)
            .bytes(&self.device_id.to_bytes())
            .bytes(self.imei.as_bytes())
            .bytes(&self.device_key)
            .u64(self.sequence)
            .u8(self.state.code())
            .i64(self.issued_at.as_millis())
            .i64(self.valid_until.as_millis())
            .i64(self.next_checkin_at.as_millis())
            .u64(self.in_reply_to)
            .u8(level)
            .u32(mask)
            .text(&self.lock_screen.lender_name)
            .text(&self.lock_screen.support_phone)
            .text(&self.lock_screen.support_url)
            .text(&self.lock_screen.message)
            .text(&self.lock_screen.amount_due);
        let notices = &self.notices[..self.notices.len().min(MAX_NOTICES)];
        w.u8(notices.len() as u8);
        for n in notices {
            w.u64(n.seq).text(&n.kind).text(&n.message);
        }
        w.i64(self.warn_at.as_millis()).u32(self.codes_through);
        if let Some(k) = &self.next_key {
            w.bytes(&k.to_bytes());
        }
        w.finish()
    }

    /// Parses canonical bytes. Does not check the signature: see [`crate::LeaseEnvelope::open`].
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        // (amount_due, next_key) by version; any other tag is refused.
        let (mut r, v3, v4) = match buf.get(..8) {
            Some(tag) if tag == MAGIC_V4 => (Reader::new(buf, MAGIC_V4)?, true, true),
            Some(tag) if tag == MAGIC_V2 => (Reader::new(buf, MAGIC_V2)?, false, false),
            _ => (Reader::new(buf, MAGIC)?, true, false),
        };
        let key_id = KeyId(r.array()?);
        let device_id = DeviceId::from_bytes(r.array()?);
        let imei = r.imei()?;
        let device_key = r.array()?;
        let sequence = r.u64()?;
        let state_code = r.u8()?;
        let state = LeaseState::from_code(state_code).ok_or_else(|| WireError::Invalid {
            field: "state",
            why: format!("unknown state {state_code}"),
        })?;
        let issued_at = Timestamp::from_millis(r.i64()?);
        let valid_until = Timestamp::from_millis(r.i64()?);
        let next_checkin_at = Timestamp::from_millis(r.i64()?);
        let in_reply_to = r.u64()?;
        let level = r.u8()?;
        let mask = r.u32()?;
        let profile =
            RestrictionProfile::from_wire(level, mask).map_err(|e| WireError::Invalid {
                field: "profile",
                why: e.to_string(),
            })?;
        let lock_screen = LockScreen {
            lender_name: r.text("lender_name")?,
            support_phone: r.text("support_phone")?,
            support_url: r.text("support_url")?,
            message: r.text("message")?,
            amount_due: if v3 {
                r.text("amount_due")?
            } else {
                String::new()
            },
        };
        let count = usize::from(r.u8()?);
        if count > MAX_NOTICES {
            return Err(WireError::Invalid {
                field: "notices",
                why: format!("{count} notices; at most {MAX_NOTICES}"),
            });
        }
        let mut notices = Vec::with_capacity(count);
        for _ in 0..count {
            notices.push(LeaseNotice {
                seq: r.u64()?,
                kind: r.text("notice kind")?,
                message: r.text("notice message")?,
            });
        }
        let warn_at = Timestamp::from_millis(r.i64()?);
        let codes_through = r.u32()?;
        let next_key = if v4 {
            Some(
                ServerPublicKey::from_bytes(&r.array()?).map_err(|_| WireError::Invalid {
                    field: "next_key",
                    why: "not an Ed25519 public key".into(),
                })?,
            )
        } else {
            None
        };
        r.end()?;
        Ok(Self {
            key_id,
            device_id,
            imei,
            device_key,
            sequence,
            state,
            issued_at,
            valid_until,
            next_checkin_at,
            in_reply_to,
            profile,
            lock_screen,
            notices,
            warn_at,
            codes_through,
            next_key,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sample() -> Lease {
        Lease {
            key_id: KeyId([1, 2, 3, 4, 5, 6, 7, 8]),
            device_id: DeviceId::new(),
            imei: Imei::parse("490154203237518").unwrap(),
            device_key: [9; 32],
            sequence: 7,
            state: LeaseState::Locked,
            issued_at: Timestamp::from_millis(1_700_000_000_000),
            valid_until: Timestamp::from_millis(1_700_604_800_000),
            next_checkin_at: Timestamp::from_millis(1_700_000_900_000),
            in_reply_to: 12,
            profile: RestrictionProfile::full_lock(),
            lock_screen: LockScreen {
                lender_name: "Acme Finance".into(),
                support_phone: "+254 700 000000".into(),
                support_url: "https://acme.example/pay".into(),
                message: "Pay the overdue installment to unlock. Emergency calls work.".into(),
                amount_due: "KES 1,500.00".into(),
            },
            notices: vec![LeaseNotice {
                seq: 3,
                kind: "lock_notice".into(),
                message: "Your phone will be restricted after 25 Nov unless you pay.".into(),
            }],
            warn_at: Timestamp::from_millis(1_700_432_000_000),
            codes_through: 4,
            next_key: None,
        }
    }

    #[test]
    fn round_trips() {
        let l = sample();
        assert_eq!(Lease::decode(&l.encode()).unwrap(), l);
    }

    #[test]
    fn still_reads_a_version_2_lease() {
        // Version 2 is version 3 without `amount_due` (right after `message`).
        let mut l = sample();
        l.lock_screen.amount_due = String::new();
        let v3 = l.encode();
        let mut v2 = MAGIC_V2.to_vec();
        let at = v3.len() - (1 + notices_len(&l) + 8 + 4) - 2; // the empty text's length
        v2.extend_from_slice(&v3[8..at]);
        v2.extend_from_slice(&v3[at + 2..]);
        assert_eq!(Lease::decode(&v2).unwrap(), l);
        // Any other tag is refused before a field is read.
        let mut bytes = v3.clone();
        bytes[..8].copy_from_slice(b"LLLSE001");
        assert!(matches!(Lease::decode(&bytes), Err(WireError::BadMagic)));
    }

    #[test]
    fn a_lease_announcing_a_key_is_version_4_and_version_3_otherwise() {
        let mut l = sample();
        let v3 = l.encode();
        assert_eq!(&v3[..8], MAGIC);
        let next = crate::ServerKey::generate().public();
        l.next_key = Some(next);
        let v4 = l.encode();
        assert_eq!(&v4[..8], MAGIC_V4);
        assert_eq!(v4.len(), v3.len() + 32);
        assert_eq!(&v4[8..v3.len()], &v3[8..], "version 3 followed by the key");
        assert_eq!(Lease::decode(&v4).unwrap(), l);
        // Version 4 without its key is truncated; version 3 with one has trailing bytes.
        assert_eq!(
            Lease::decode(&v4[..v4.len() - 1]),
            Err(WireError::Truncated)
        );
        let mut v3_long = v4.clone();
        v3_long[..8].copy_from_slice(MAGIC);
        assert_eq!(Lease::decode(&v3_long), Err(WireError::Trailing(32)));
        // A key that is not a curve point is refused.
        let not_a_point = (2u8..=255)
            .map(|b| {
                let mut k = [0u8; 32];
                k[0] = b;
                k
            })
            .find(|k| ServerPublicKey::from_bytes(k).is_err())
            .unwrap();
        let mut bad = v4;
        let at = bad.len() - 32;
        bad[at..].copy_from_slice(&not_a_point);
        assert!(matches!(
            Lease::decode(&bad),
            Err(WireError::Invalid {
                field: "next_key",
                ..
            })
        ));
    }

    fn notices_len(l: &Lease) -> usize {
        l.notices
            .iter()
            .map(|n| 8 + 2 + n.kind.len() + 2 + n.message.len())
            .sum()
    }

    #[test]
    fn refuses_unknown_state_and_protected_profile_bits() {
        let l = sample();
        let mut bytes = l.encode();
        let state_at = 8 + 8 + 16 + 15 + 32 + 8;
        bytes[state_at] = 9;
        assert!(matches!(
            Lease::decode(&bytes),
            Err(WireError::Invalid { field: "state", .. })
        ));
        let mut bytes = l.encode();
        let mask_at = state_at + 1 + 8 * 4 + 1;
        bytes[mask_at] = 0x80; // a bit no restrictable capability owns
        assert!(matches!(
            Lease::decode(&bytes),
            Err(WireError::Invalid {
                field: "profile",
                ..
            })
        ));
    }

    #[test]
    fn refuses_more_than_max_notices() {
        let mut l = sample();
        let bytes = l.encode();
        // The notice count is the byte right after the five lock-screen texts; find it by
        // encoding without notices (count byte, then the 8-byte `warn_at` and the 4-byte
        // `codes_through`).
        l.notices.clear();
        let count_at = l.encode().len() - 1 - 8 - 4;
        let mut forged = bytes[..count_at].to_vec();
        forged.push(MAX_NOTICES as u8 + 1);
        assert!(matches!(
            Lease::decode(&forged),
            Err(WireError::Invalid {
                field: "notices",
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut tagged = MAGIC.to_vec();
            tagged.extend(bytes);
            let _ = Lease::decode(&tagged);
        }

        #[test]
        fn flipping_any_byte_changes_the_decoding_or_fails(pos in 0usize..200, bit in 0u8..8) {
            let l = sample();
            let mut bytes = l.encode();
            let pos = pos % bytes.len();
            bytes[pos] ^= 1 << bit;
            if let Ok(d) = Lease::decode(&bytes) { prop_assert_ne!(d, l) }
        }
    }
}
