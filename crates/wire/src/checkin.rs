//! The check-in request a device signs.

use crate::codec::{Reader, WireError, Writer};
use lienlock_domain::{Imei, Timestamp};

/// Tag of version 1 of the check-in request.
pub const MAGIC: &[u8; 8] = b"LLCHK001";

/// A device asking for its current lease. The first check-in with a new key is also its
/// registration: the server binds the key to the enrolled IMEI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckIn {
    /// The IMEI the device was enrolled by.
    pub imei: Imei,
    /// The device's Ed25519 public key (its identity).
    pub device_key: [u8; 32],
    /// Strictly increasing per device key; kept in the persistent partition so it survives a
    /// factory reset. The server refuses a counter not above the last one it accepted.
    pub counter: u64,
    /// The device's trusted time when it sent this.
    pub device_time: Timestamp,
    /// Sequence number of the newest lease the device holds (0 when it holds none).
    pub held_lease_seq: u64,
    /// The highest notice sequence number the device has shown its user (0 for none). This
    /// is the acknowledgement that makes a notice count as delivered: the lock-notice
    /// rules count from it, never from the moment the server queued the notice.
    pub notice_ack: u64,
}

impl CheckIn {
    /// Size of an encoded check-in in bytes.
    pub const LEN: usize = 8 + 15 + 32 + 8 + 8 + 8 + 8;

    /// The canonical bytes that are signed and sent.
    pub fn encode(&self) -> Vec<u8> {
        Writer::new(MAGIC)
            .bytes(self.imei.as_bytes())
            .bytes(&self.device_key)
            .u64(self.counter)
            .i64(self.device_time.as_millis())
            .u64(self.held_lease_seq)
            .u64(self.notice_ack)
            .finish()
    }

    /// Parses canonical bytes.
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf, MAGIC)?;
        let imei = r.imei()?;
        let device_key = r.array()?;
        let counter = r.u64()?;
        let device_time = Timestamp::from_millis(r.i64()?);
        let held_lease_seq = r.u64()?;
        let notice_ack = r.u64()?;
        r.end()?;
        Ok(Self {
            imei,
            device_key,
            counter,
            device_time,
            held_lease_seq,
            notice_ack,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> CheckIn {
        CheckIn {
            imei: Imei::parse("490154203237518").unwrap(),
            device_key: [7; 32],
            counter: 42,
            device_time: Timestamp::from_millis(1_700_000_000_000),
            held_lease_seq: 3,
            notice_ack: 2,
        }
    }

    #[test]
    fn round_trips_with_fixed_length() {
        let bytes = sample().encode();
        assert_eq!(bytes.len(), CheckIn::LEN);
        assert_eq!(CheckIn::decode(&bytes).unwrap(), sample());
    }

    #[test]
    fn refuses_truncated_trailing_and_bad_imei() {
        let bytes = sample().encode();
        assert_eq!(
            CheckIn::decode(&bytes[..bytes.len() - 1]),
            Err(WireError::Truncated)
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(CheckIn::decode(&long), Err(WireError::Trailing(1)));
        let mut bad = bytes;
        bad[8 + 14] = b'9';
        assert!(matches!(
            CheckIn::decode(&bad),
            Err(WireError::Invalid { field: "imei", .. })
        ));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = CheckIn::decode(&bytes);
            let mut tagged = MAGIC.to_vec();
            tagged.extend(bytes);
            let _ = CheckIn::decode(&tagged);
        }
    }
}
