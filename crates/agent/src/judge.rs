//! Whether a verified lease may replace the held one: the ordering rules, as a pure function.

use crate::error::LeaseRefusal;
use crate::verify::VerifiedLease;

/// What to do with a lease that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Newer than anything held and answering the latest check-in: store it.
    Take,
    /// Byte for byte the lease already held: nothing to do.
    AlreadyHeld,
}

/// Applies, in order: sequence against the held lease (lower is a rollback; equal must be
/// the identical bytes), then freshness: the lease must answer `in_reply_to`, and that must be
/// the device's latest check-in counter `latest`. Freshness is what makes the server's
/// `issued_at` usable as trusted time, and since the counter survives a factory reset, it is
/// also what stops a captured old lease from being played back to a freshly reset device
/// that no longer remembers which sequence it held.
pub(crate) fn judge(
    held: Option<&VerifiedLease>,
    offered: &VerifiedLease,
    in_reply_to: u64,
    latest: u64,
) -> Result<Verdict, LeaseRefusal> {
    let got = offered.lease.sequence;
    if let Some(held) = held {
        let held_seq = held.lease.sequence;
        if got < held_seq {
            return Err(LeaseRefusal::RolledBack {
                held: held_seq,
                got,
            });
        }
        if got == held_seq {
            return if held.bytes == offered.bytes {
                Ok(Verdict::AlreadyHeld)
            } else {
                Err(LeaseRefusal::Conflicting { sequence: got })
            };
        }
    }
    if offered.lease.in_reply_to != in_reply_to {
        return Err(LeaseRefusal::NotAReply {
            expected: in_reply_to,
            got: offered.lease.in_reply_to,
        });
    }
    if in_reply_to != latest {
        return Err(LeaseRefusal::NotAReply {
            expected: latest,
            got: offered.lease.in_reply_to,
        });
    }
    Ok(Verdict::Take)
}
