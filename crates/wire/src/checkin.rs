//! The check-in request a device signs.

use crate::codec::{Reader, WireError, Writer};
use crate::keys::KeyId;
use lienlock_domain::policy::TamperKind;
use lienlock_domain::{Imei, Timestamp};

/// Tag of version 5: version 4's layout and meaning, authenticated by a MAC under a key
/// the server handed the device (docs/protocol.md, section 2a) instead of a signature.
pub const MAGIC_V5: &[u8; 8] = b"LLCHK005";

/// Tag of version 4 of the check-in request: version 3's layout, from an agent that takes
/// leases signed in batches (docs/protocol.md, section 3b).
pub const MAGIC_V4: &[u8; 8] = b"LLCHK004";

/// Tag of version 3 of the check-in request: version 2 plus the server key the device
/// trusts, when its user partition began, and tamper signals. Still read: agents not yet
/// upgraded send it and get leases signed one by one.
pub const MAGIC: &[u8; 8] = b"LLCHK003";

/// Tag of version 2 (version 1 had no reports). Still read, never written by this agent:
/// phones not yet upgraded keep checking in.
pub const MAGIC_V2: &[u8; 8] = b"LLCHK002";

/// Most reports one check-in carries; a device keeps older ones for the next.
pub const MAX_REPORTS: usize = 16;

/// Most tamper signals one check-in carries (a device keeps at most one waiting per kind,
/// so this is room to spare).
pub const MAX_SIGNALS: usize = 8;

/// Which layout a check-in has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckInVersion {
    /// `LLCHK002`: no server key id, no user-partition age, no tamper signals.
    V2,
    /// `LLCHK003`: version 4's layout, from an agent that takes only leases signed alone.
    V3,
    /// `LLCHK004`: takes leases signed in batches; signed by the device key. What agents
    /// send until they hold a check-in MAC key, and whenever the server refuses theirs.
    V4,
    /// `LLCHK005`: version 4 authenticated by a MAC (HMAC-SHA256) under the check-in MAC key
    /// of the server key its `server_key_id` names, which must be present.
    V5,
}

impl CheckInVersion {
    /// Whether the layout has version 3's fields (server key id, user-partition age,
    /// tamper signals).
    fn has_v3_fields(self) -> bool {
        self != CheckInVersion::V2
    }

    /// Whether the agent takes a lease signed in a batch (docs/protocol.md, section 3b).
    pub fn takes_batch_signatures(self) -> bool {
        matches!(self, CheckInVersion::V4 | CheckInVersion::V5)
    }

    /// Whether the check-in is authenticated by a MAC rather than signed.
    pub fn is_mac(self) -> bool {
        self == CheckInVersion::V5
    }
}

/// What a device has to tell the server about the time it could not: tampering it saw,
/// and codes it took offline. Stable wire codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReportKind {
    /// The wall clock was found behind the device's trusted time; `value` is by how many
    /// milliseconds (the most seen during the incident). Sent by version 2 agents; version
    /// 3 sends a tamper signal instead.
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

/// The wire code of a tamper kind the device reports; `None` for a kind only the server
/// sees (a factory reset).
pub fn signal_code(kind: TamperKind) -> Option<u8> {
    match kind {
        TamperKind::SimChanged => Some(1),
        TamperKind::ClockSetBack => Some(2),
        TamperKind::DebugOrRoot => Some(3),
        TamperKind::WrongCodes => Some(4),
        TamperKind::FactoryReset => None,
    }
}

fn signal_kind(code: u8) -> Option<TamperKind> {
    TamperKind::ALL
        .into_iter()
        .find(|k| signal_code(*k) == Some(code))
}

/// A tamper signal: something enforcement needs to know about an attempt on the device, and
/// nothing about its user. The device keeps it (at most one per kind) and sends it with
/// every check-in until a lease answering one of them has been taken; the server records
/// each `(device key, seq)` once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TamperSignal {
    /// What was seen. Never [`TamperKind::FactoryReset`], which the server detects itself.
    pub kind: TamperKind,
    /// Numbers the device's signals from 1, strictly increasing, kept in its persistent
    /// partition: the identity the server deduplicates by.
    pub seq: u32,
    /// The device's wall clock when it was first seen (a claim, shown to the lender).
    pub seen_wall: Timestamp,
    /// The device's trusted time when it was first seen.
    pub seen_trusted: Timestamp,
    /// Kind-specific: a clock set back, by how many milliseconds (the most seen); debugging
    /// or root, which (1: rooted, 2: debugger, 3: both); wrong codes, how many in the
    /// window; a changed SIM, 0.
    pub value: i64,
}

/// A device asking for its current lease. The first check-in with a new key is also its
/// registration: the server binds the key to the enrolled IMEI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckIn {
    /// The layout. A version 2 check-in has no `server_key_id`, `user_since` or `signals`
    /// (they are ignored when encoding one and empty when decoding one).
    pub version: CheckInVersion,
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
    /// The newest server lease-signing key the device trusts (the one announced to it, if
    /// any, else the one it took its last lease from). The server signs its answer with a
    /// key the device can verify. `None` in version 2, and written as 8 zero bytes in
    /// version 3 (no key has that id but with odds of 2^-64).
    pub server_key_id: Option<KeyId>,
    /// The check-in counter the device had already used when its user partition (the one a
    /// factory reset wipes) was begun: 0 for a partition as old as the device's identity.
    /// Above 0 from a key that has checked in before, it means the phone was reset.
    pub user_since: u64,
    /// Tamper signals seen and codes taken since the last answered check-in, oldest first,
    /// at most [`MAX_REPORTS`]. The device forgets them once a lease answers this check-in.
    pub reports: Vec<DeviceReport>,
    /// Tamper signals not yet acknowledged, by `seq`, at most [`MAX_SIGNALS`].
    pub signals: Vec<TamperSignal>,
}

impl CheckIn {
    /// Size of an encoded version 3 check-in without reports or signals, in bytes.
    pub const LEN: usize = 8 + 15 + 32 + 8 + 8 + 8 + 8 + 8 + 8 + 1 + 1;

    /// Size of an encoded version 2 check-in without reports.
    pub const LEN_V2: usize = 8 + 15 + 32 + 8 + 8 + 8 + 8 + 1;

    /// Size of one encoded report.
    pub const REPORT_LEN: usize = 1 + 8 + 8;

    /// Size of one encoded tamper signal.
    pub const SIGNAL_LEN: usize = 1 + 4 + 8 + 8 + 8;

    /// The canonical bytes that are signed and sent. At most [`MAX_REPORTS`] reports and
    /// [`MAX_SIGNALS`] signals are written (the first ones).
    pub fn encode(&self) -> Vec<u8> {
        let v3 = self.version.has_v3_fields();
        let mut w = Writer::new(match self.version {
            CheckInVersion::V2 => MAGIC_V2,
            CheckInVersion::V3 => MAGIC,
            CheckInVersion::V4 => MAGIC_V4,
            CheckInVersion::V5 => MAGIC_V5,
        });
        w.bytes(self.imei.as_bytes())
            .bytes(&self.device_key)
            .u64(self.counter)
            .i64(self.device_time.as_millis())
            .u64(self.held_lease_seq)
            .u64(self.notice_ack);
        if v3 {
            w.bytes(&self.server_key_id.map_or([0; 8], |k| k.0))
                .u64(self.user_since);
        }
        w.u8(self.reports.len().min(MAX_REPORTS) as u8);
        for t in self.reports.iter().take(MAX_REPORTS) {
            w.u8(t.kind.code()).i64(t.at.as_millis()).i64(t.value);
        }
        if v3 {
            let signals: Vec<(u8, &TamperSignal)> = self
                .signals
                .iter()
                .filter_map(|s| signal_code(s.kind).map(|c| (c, s)))
                .take(MAX_SIGNALS)
                .collect();
            w.u8(signals.len() as u8);
            for (code, s) in signals {
                w.u8(code)
                    .u32(s.seq)
                    .i64(s.seen_wall.as_millis())
                    .i64(s.seen_trusted.as_millis())
                    .i64(s.value);
            }
        }
        w.finish()
    }

    /// Parses canonical bytes of any version still read.
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let tags = [
            (MAGIC_V5, CheckInVersion::V5),
            (MAGIC_V4, CheckInVersion::V4),
            (MAGIC, CheckInVersion::V3),
            (MAGIC_V2, CheckInVersion::V2),
        ];
        let (mut r, version) = tags
            .into_iter()
            .find_map(|(magic, version)| Some((Reader::new(buf, magic).ok()?, version)))
            .ok_or(WireError::BadMagic)?;
        let v3 = version.has_v3_fields();
        let imei = r.imei()?;
        let device_key = r.array()?;
        let counter = r.u64()?;
        let device_time = Timestamp::from_millis(r.i64()?);
        let held_lease_seq = r.u64()?;
        let notice_ack = r.u64()?;
        let (server_key_id, user_since) = if v3 {
            let id: [u8; 8] = r.array()?;
            ((id != [0; 8]).then_some(KeyId(id)), r.u64()?)
        } else {
            (None, 0)
        };
        if version.is_mac() && server_key_id.is_none() {
            // The key it names is the one its MAC key belongs to.
            return Err(WireError::Invalid {
                field: "server_key_id",
                why: "a version 5 check-in must name the server key of its MAC".into(),
            });
        }
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
        let signals = if v3 {
            read_signals(&mut r)?
        } else {
            Vec::new()
        };
        r.end()?;
        Ok(Self {
            version,
            imei,
            device_key,
            counter,
            device_time,
            held_lease_seq,
            notice_ack,
            server_key_id,
            user_since,
            reports,
            signals,
        })
    }
}

/// The signals of a version 3 check-in: at most [`MAX_SIGNALS`], known kinds, `seq`
/// strictly increasing (so no signal appears twice).
fn read_signals(r: &mut Reader<'_>) -> Result<Vec<TamperSignal>, WireError> {
    let n = usize::from(r.u8()?);
    if n > MAX_SIGNALS {
        return Err(WireError::Invalid {
            field: "signals",
            why: format!("{n} signals, at most {MAX_SIGNALS}"),
        });
    }
    let mut signals: Vec<TamperSignal> = Vec::with_capacity(n);
    for _ in 0..n {
        let code = r.u8()?;
        let kind = signal_kind(code).ok_or_else(|| WireError::Invalid {
            field: "signal kind",
            why: format!("unknown code {code}"),
        })?;
        let s = TamperSignal {
            kind,
            seq: r.u32()?,
            seen_wall: Timestamp::from_millis(r.i64()?),
            seen_trusted: Timestamp::from_millis(r.i64()?),
            value: r.i64()?,
        };
        if signals.last().is_some_and(|p| p.seq >= s.seq) {
            return Err(WireError::Invalid {
                field: "signal seq",
                why: "not strictly increasing".into(),
            });
        }
        signals.push(s);
    }
    Ok(signals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> CheckIn {
        CheckIn {
            version: CheckInVersion::V3,
            imei: Imei::parse("490154203237518").unwrap(),
            device_key: [7; 32],
            counter: 42,
            device_time: Timestamp::from_millis(1_700_000_000_000),
            held_lease_seq: 3,
            notice_ack: 2,
            server_key_id: Some(KeyId([5; 8])),
            user_since: 0,
            reports: Vec::new(),
            signals: Vec::new(),
        }
    }

    fn signal(kind: TamperKind, seq: u32) -> TamperSignal {
        TamperSignal {
            kind,
            seq,
            seen_wall: Timestamp::from_millis(1_000),
            seen_trusted: Timestamp::from_millis(2_000),
            value: 0,
        }
    }

    #[test]
    fn round_trips_with_fixed_length() {
        let bytes = sample().encode();
        assert_eq!(bytes.len(), CheckIn::LEN);
        assert_eq!(CheckIn::decode(&bytes).unwrap(), sample());
    }

    #[test]
    fn version_4_is_version_3_under_its_own_tag() {
        let v3 = sample().encode();
        let mut c = sample();
        c.version = CheckInVersion::V4;
        let v4 = c.encode();
        assert_eq!(&v4[..8], MAGIC_V4);
        assert_eq!(v4[8..], v3[8..]);
        assert_eq!(CheckIn::decode(&v4).unwrap(), c);
        assert!(CheckInVersion::V4.takes_batch_signatures());
        assert!(!CheckInVersion::V3.takes_batch_signatures());
    }

    #[test]
    fn version_5_is_version_4_under_its_own_tag_and_names_a_key() {
        let mut c = sample();
        c.version = CheckInVersion::V4;
        let v4 = c.encode();
        c.version = CheckInVersion::V5;
        let v5 = c.encode();
        assert_eq!(&v5[..8], MAGIC_V5);
        assert_eq!(v5[8..], v4[8..]);
        assert_eq!(CheckIn::decode(&v5).unwrap(), c);
        assert!(CheckInVersion::V5.takes_batch_signatures());
        assert!(CheckInVersion::V5.is_mac() && !CheckInVersion::V4.is_mac());
        // Without a key id there is no MAC key to check it with.
        c.server_key_id = None;
        assert!(matches!(
            CheckIn::decode(&c.encode()),
            Err(WireError::Invalid {
                field: "server_key_id",
                ..
            })
        ));
    }

    #[test]
    fn version_2_still_reads_and_round_trips() {
        let mut v2 = sample();
        v2.version = CheckInVersion::V2;
        v2.server_key_id = None;
        let bytes = v2.encode();
        assert_eq!(&bytes[..8], MAGIC_V2);
        assert_eq!(bytes.len(), CheckIn::LEN_V2);
        assert_eq!(CheckIn::decode(&bytes).unwrap(), v2);
        // Version 3's fields are simply not written in version 2.
        let mut more = v2.clone();
        more.user_since = 9;
        more.signals = vec![signal(TamperKind::SimChanged, 1)];
        assert_eq!(more.encode(), bytes);
        let mut other = bytes;
        other[..8].copy_from_slice(b"LLCHK001");
        assert_eq!(CheckIn::decode(&other), Err(WireError::BadMagic));
    }

    #[test]
    fn signals_round_trip_and_are_bounded_known_and_increasing() {
        let mut c = sample();
        c.user_since = 17;
        c.signals = vec![
            signal(TamperKind::SimChanged, 1),
            TamperSignal {
                value: 3,
                ..signal(TamperKind::DebugOrRoot, 4)
            },
        ];
        let bytes = c.encode();
        assert_eq!(bytes.len(), CheckIn::LEN + 2 * CheckIn::SIGNAL_LEN);
        assert_eq!(CheckIn::decode(&bytes).unwrap(), c);
        let first = CheckIn::LEN;
        let mut unknown = bytes.clone();
        unknown[first] = 5; // the factory reset has no code: the server sees it itself
        assert!(matches!(
            CheckIn::decode(&unknown),
            Err(WireError::Invalid {
                field: "signal kind",
                ..
            })
        ));
        let mut repeated = bytes.clone();
        let second_seq = first + CheckIn::SIGNAL_LEN + 1;
        repeated[second_seq..second_seq + 4].copy_from_slice(&1u32.to_be_bytes());
        assert!(matches!(
            CheckIn::decode(&repeated),
            Err(WireError::Invalid {
                field: "signal seq",
                ..
            })
        ));
        let mut many = bytes;
        many[CheckIn::LEN - 1] = (MAX_SIGNALS + 1) as u8;
        assert!(CheckIn::decode(&many).is_err());
        // Encoding writes at most the maximum, and never a factory reset.
        c.signals = (1..=MAX_SIGNALS as u32 + 3)
            .map(|i| signal(TamperKind::WrongCodes, i))
            .collect();
        c.signals.insert(0, signal(TamperKind::FactoryReset, 0));
        let decoded = CheckIn::decode(&c.encode()).unwrap();
        assert_eq!(decoded.signals.len(), MAX_SIGNALS);
        assert_eq!(decoded.signals[0].seq, 1);
    }

    #[test]
    fn tamper_reports_round_trip_and_are_bounded() {
        let mut c = sample();
        c.reports = vec![
            DeviceReport {
                kind: ReportKind::CodeRedeemed,
                at: Timestamp::from_millis(5),
                value: 3,
            };
            2
        ];
        let bytes = c.encode();
        let reports_at = CheckIn::LEN - 2;
        assert_eq!(bytes.len(), CheckIn::LEN + 2 * CheckIn::REPORT_LEN);
        assert_eq!(CheckIn::decode(&bytes).unwrap(), c);
        // An unknown kind is refused, not skipped: the bytes are canonical.
        let mut unknown = bytes.clone();
        unknown[reports_at + 1] = 9;
        assert!(matches!(
            CheckIn::decode(&unknown),
            Err(WireError::Invalid {
                field: "report kind",
                ..
            })
        ));
        // More than the maximum is refused on decode and cut on encode.
        let mut many = bytes;
        many[reports_at] = (MAX_REPORTS + 1) as u8;
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
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = CheckIn::decode(&bytes);
            for magic in [MAGIC_V5, MAGIC_V4, MAGIC, MAGIC_V2] {
                let mut tagged = magic.to_vec();
                tagged.extend(bytes.iter().copied());
                if let Ok(c) = CheckIn::decode(&tagged) {
                    // Canonical: whatever decodes encodes back to the same bytes.
                    prop_assert_eq!(c.encode(), tagged);
                }
            }
        }
    }
}
