//! The check-in request a device signs.

use crate::codec::{Reader, WireError, Writer};
use lienlock_domain::{Imei, Timestamp};

/// Tag of version 2 of the check-in request (version 1 had no reports).
pub const MAGIC: &[u8; 8] = b"LLCHK002";

/// Most reports one check-in carries; a device keeps older ones for the next.
pub const MAX_REPORTS: usize = 16;

/// What a device has to tell the server about the time it could not: tampering it saw,
/// and codes it took offline. Stable wire codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReportKind {
    /// The wall clock was found behind the device's trusted time; `value` is by how many
    /// milliseconds (the most seen during the incident).
    ClockSetBack,
    /// The device took an `LC1` unlock code; `value` is its counter. The server marks the
    /// code redeemed, and the lease answering this check-in supersedes it.
    CodeRedeemed,
}

impl ReportKind {
    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            ReportKind::ClockSetBack => 1,
            ReportKind::CodeRedeemed => 2,
        }
    }

    /// The kind with this wire code.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(ReportKind::ClockSetBack),
            2 => Some(ReportKind::CodeRedeemed),
            _ => None,
        }
    }

    /// Whether this is a tamper signal (as opposed to an offline event the server must
    /// reconcile).
    pub fn is_tamper(self) -> bool {
        matches!(self, ReportKind::ClockSetBack)
    }
}

/// One report, carried by the next check-in after the device saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceReport {
    /// What was seen.
    pub kind: ReportKind,
    /// The device's trusted time when it was first seen.
    pub at: Timestamp,
    /// A kind-specific amount (for a clock set back, milliseconds; for a code, its counter).
    pub value: i64,
}

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
    /// Tamper signals seen and codes taken since the last answered check-in, oldest first,
    /// at most [`MAX_REPORTS`]. The device forgets them once a lease answers this check-in.
    pub reports: Vec<DeviceReport>,
}

impl CheckIn {
    /// Size of an encoded check-in without reports, in bytes.
    pub const LEN: usize = 8 + 15 + 32 + 8 + 8 + 8 + 8 + 1;

    /// Size of one encoded report.
    pub const REPORT_LEN: usize = 1 + 8 + 8;

    /// The canonical bytes that are signed and sent.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(MAGIC);
        w.bytes(self.imei.as_bytes())
            .bytes(&self.device_key)
            .u64(self.counter)
            .i64(self.device_time.as_millis())
            .u64(self.held_lease_seq)
            .u64(self.notice_ack)
            .u8(self.reports.len().min(MAX_REPORTS) as u8);
        for t in self.reports.iter().take(MAX_REPORTS) {
            w.u8(t.kind.code()).i64(t.at.as_millis()).i64(t.value);
        }
        w.finish()
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
        let n = usize::from(r.u8()?);
        if n > MAX_REPORTS {
            return Err(WireError::Invalid {
                field: "reports",
                why: format!("{n} reports, at most {MAX_REPORTS}"),
            });
        }
        let mut reports = Vec::with_capacity(n);
        for _ in 0..n {
            let code = r.u8()?;
            let kind = ReportKind::from_code(code).ok_or_else(|| WireError::Invalid {
                field: "report kind",
                why: format!("unknown code {code}"),
            })?;
            reports.push(DeviceReport {
                kind,
                at: Timestamp::from_millis(r.i64()?),
                value: r.i64()?,
            });
        }
        r.end()?;
        Ok(Self {
            imei,
            device_key,
            counter,
            device_time,
            held_lease_seq,
            notice_ack,
            reports,
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
            reports: Vec::new(),
        }
    }

    #[test]
    fn round_trips_with_fixed_length() {
        let bytes = sample().encode();
        assert_eq!(bytes.len(), CheckIn::LEN);
        assert_eq!(CheckIn::decode(&bytes).unwrap(), sample());
    }

    #[test]
    fn tamper_reports_round_trip_and_are_bounded() {
        let mut c = sample();
        c.reports = vec![
            DeviceReport {
                kind: ReportKind::ClockSetBack,
                at: Timestamp::from_millis(5),
                value: 3_600_000,
            };
            2
        ];
        let bytes = c.encode();
        assert_eq!(bytes.len(), CheckIn::LEN + 2 * CheckIn::REPORT_LEN);
        assert_eq!(CheckIn::decode(&bytes).unwrap(), c);
        // An unknown kind is refused, not skipped: the bytes are canonical.
        let mut unknown = bytes.clone();
        unknown[CheckIn::LEN] = 9;
        assert!(matches!(
            CheckIn::decode(&unknown),
            Err(WireError::Invalid {
                field: "report kind",
                ..
            })
        ));
        // More than the maximum is refused on decode and cut on encode.
        let mut many = bytes;
        many[CheckIn::LEN - 1] = (MAX_REPORTS + 1) as u8;
        assert!(CheckIn::decode(&many).is_err());
        c.reports = vec![c.reports[0]; MAX_REPORTS + 3];
        let decoded = CheckIn::decode(&c.encode()).unwrap();
        assert_eq!(decoded.reports.len(), MAX_REPORTS);
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
