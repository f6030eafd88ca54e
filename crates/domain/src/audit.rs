//! The audit trail's hash chain: how a row is hashed and how a chain is checked.
//!
//! Each row's hash is SHA-256 over a domain tag, every field length-prefixed in a fixed
//! order, and the previous row's hash. Changing any field of any row, deleting a row or
//! swapping two rows changes a hash that a later row (or the chain's head) commits to.
//! Storage is elsewhere; this file is pure so both backends and `ctl audit verify` share it.

use crate::Timestamp;
use sha2::{Digest, Sha256};

/// The chain of actions that concern no lender (operator commands on the platform itself).
pub const PLATFORM_CHAIN: &str = "platform";

/// What happened, before it has a place in a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// The lender's id, or [`PLATFORM_CHAIN`].
    pub chain: String,
    /// When.
    pub at: Timestamp,
    /// Who: `key:<id>`, `user:<id>` or `operator`.
    pub actor: String,
    /// With which role (`operator` for the platform operator).
    pub role: String,
    /// From where: the client's address, or `local` for commands on the server.
    pub address: String,
    /// What: `METHOD /route/{template}`, or a ctl command's name.
    pub action: String,
    /// On what: the request path with its ids, or the object a command names.
    pub object: String,
    /// Why, as the caller gave it; empty when none was asked for.
    pub reason: String,
    /// The result: the HTTP status, or `ok`.
    pub outcome: String,
    /// The request id, to find the request in the logs.
    pub request_id: String,
}

/// A stored row: the entry, its place, and the hashes that chain it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in its chain, from 1.
    pub seq: i64,
    /// The fields.
    pub entry: AuditEntry,
    /// The previous row's hash; zeros for the first.
    pub prev_hash: [u8; 32],
    /// This row's hash.
    pub hash: [u8; 32],
}

/// The hash before the first row.
pub const GENESIS: [u8; 32] = [0; 32];

const TAG: &[u8] = b"lienlock-audit-v1\0";

/// The hash of the row at `seq` holding `e`, after a row whose hash is `prev`.
pub fn row_hash(prev: &[u8; 32], seq: i64, e: &AuditEntry) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(TAG);
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(e.at.as_millis().to_be_bytes());
    for field in [
        &e.chain,
        &e.actor,
        &e.role,
        &e.address,
        &e.action,
        &e.object,
        &e.reason,
        &e.outcome,
        &e.request_id,
    ] {
        // Length-prefixed, so moving bytes from one field to the next changes the hash.
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().into()
}

/// The record that appending `e` after `head` (the chain's last seq and hash; `None` for an
/// empty chain) makes.
pub fn chain_next(head: Option<(i64, [u8; 32])>, entry: AuditEntry) -> AuditRecord {
    let (seq, prev) = head.map_or((1, GENESIS), |(s, h)| (s + 1, h));
    AuditRecord {
        seq,
        hash: row_hash(&prev, seq, &entry),
        prev_hash: prev,
        entry,
    }
}

/// The first place a chain is broken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// A row is missing before this one, or rows were renumbered.
    #[error("row {found} follows row {expected_before}: a row is missing or out of order")]
    Gap {
        /// The seq found.
        found: i64,
        /// The seq before it that should be `found - 1`.
        expected_before: i64,
    },
    /// The row does not point at the hash of the row before it.
    #[error("row {seq} does not link to the row before it (deleted, inserted or reordered)")]
    Link {
        /// Which row.
        seq: i64,
    },
    /// The row's fields do not hash to its stored hash: it was edited.
    #[error("row {seq} was changed after it was written")]
    Edited {
        /// Which row.
        seq: i64,
    },
    /// The chain's head names a row the log does not end with: rows were removed from the
    /// end (or added without the head).
    #[error("the chain ends at row {last} but its head says row {head}")]
    Head {
        /// The last row's seq (0 for none).
        last: i64,
        /// The head's seq.
        head: i64,
    },
}

/// Checks rows of one chain, in seq order, as they stream by. Feed every row to
/// [`ChainCheck::push`], then call [`ChainCheck::finish`] with the stored head.
#[derive(Clone, Debug, Default)]
pub struct ChainCheck {
    last: Option<(i64, [u8; 32])>,
    rows: u64,
}

impl ChainCheck {
    /// Checks the next row against everything before it.
    pub fn push(&mut self, r: &AuditRecord) -> Result<(), ChainBreak> {
        let (expected_seq, expected_prev) = self.last.map_or((1, GENESIS), |(s, h)| (s + 1, h));
        if r.seq != expected_seq {
            return Err(ChainBreak::Gap {
                found: r.seq,
                expected_before: expected_seq - 1,
            });
        }
        if r.prev_hash != expected_prev {
            return Err(ChainBreak::Link { seq: r.seq });
        }
        if row_hash(&r.prev_hash, r.seq, &r.entry) != r.hash {
            return Err(ChainBreak::Edited { seq: r.seq });
        }
        self.last = Some((r.seq, r.hash));
        self.rows += 1;
        Ok(())
    }

    /// Compares the end of the chain with its head; returns the number of rows checked.
    pub fn finish(self, head: Option<(i64, [u8; 32])>) -> Result<u64, ChainBreak> {
        match (self.last, head) {
            (None, None) => Ok(0),
            (Some((s, h)), Some((hs, hh))) if s == hs && h == hh => Ok(self.rows),
            (last, head) => Err(ChainBreak::Head {
                last: last.map_or(0, |l| l.0),
                head: head.map_or(0, |h| h.0),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: i64) -> AuditEntry {
        AuditEntry {
            chain: "c".into(),
            at: Timestamp::from_millis(1_000 + i),
            actor: "key:1".into(),
            role: "admin".into(),
            address: "127.0.0.1".into(),
            action: "POST /v1/devices/{id}/lock".into(),
            object: format!("/v1/devices/{i}/lock"),
            reason: "overdue".into(),
            outcome: "200".into(),
            request_id: format!("r{i}"),
        }
    }

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = Vec::new();
        for i in 0..n {
            let head = out.last().map(|r| (r.seq, r.hash));
            out.push(chain_next(head, entry(i)));
        }
        out
    }

    fn check(rows: &[AuditRecord]) -> Result<u64, ChainBreak> {
        let mut c = ChainCheck::default();
        for r in rows {
            c.push(r)?;
        }
        c.finish(rows.last().map(|r| (r.seq, r.hash)))
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(check(&chain(5)), Ok(5));
        assert_eq!(check(&[]), Ok(0));
    }

    #[test]
    fn an_edited_field_is_caught_at_its_row() {
        let mut rows = chain(5);
        rows[2].entry.reason = "paid".into();
        assert_eq!(check(&rows), Err(ChainBreak::Edited { seq: 3 }));
    }

    #[test]
    fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
        let mut rows = chain(5);
        rows[2].entry.actor = "key:2".into();
        rows[2].hash = row_hash(&rows[2].prev_hash, 3, &rows[2].entry);
        assert_eq!(check(&rows), Err(ChainBreak::Link { seq: 4 }));
    }

    #[test]
    fn a_deleted_row_is_a_gap_and_a_renumbered_one_a_broken_link() {
        let mut rows = chain(5);
        rows.remove(1);
        assert_eq!(
            check(&rows),
            Err(ChainBreak::Gap {
                found: 3,
                expected_before: 1
            })
        );
        for (i, r) in rows.iter_mut().enumerate().skip(1) {
            r.seq = i as i64 + 1;
        }
        assert_eq!(check(&rows), Err(ChainBreak::Link { seq: 2 }));
    }

    #[test]
    fn swapped_rows_are_caught() {
        let mut rows = chain(5);
        let (a, b) = (rows[1].entry.clone(), rows[2].entry.clone());
        rows[1].entry = b;
        rows[2].entry = a;
        assert_eq!(check(&rows), Err(ChainBreak::Edited { seq: 2 }));
    }

    #[test]
    fn a_removed_tail_is_caught_by_the_head() {
        let rows = chain(5);
        let mut c = ChainCheck::default();
        for r in &rows[..3] {
            c.push(r).unwrap();
        }
        assert_eq!(
            c.finish(Some((5, rows[4].hash))),
            Err(ChainBreak::Head { last: 3, head: 5 })
        );
    }

    #[test]
    fn bytes_moved_between_fields_change_the_hash() {
        let mut a = entry(1);
        let mut b = entry(1);
        a.actor = "ab".into();
        a.role = "c".into();
        b.actor = "a".into();
        b.role = "bc".into();
        assert_ne!(row_hash(&GENESIS, 1, &a), row_hash(&GENESIS, 1, &b));
    }
}
