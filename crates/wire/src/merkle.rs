//! Leases signed in batches: one server signature over the root of a hash tree of many
//! leases, each lease carrying the path from its leaf to that root (docs/protocol.md,
//! section 3b).
//!
//! A check-in's lease signature was a sixth of the server's CPU per check-in
//! (docs/benchmarks.md, fourth round). The server signs leases that are ready together as
//! one batch: a hash per lease and a few per batch, one signature. Each lease is still
//! bound to that signature as tightly as by its own: its path leads from the hash of its
//! exact bytes to the signed root, and SHA-256 lets no other bytes lead there.
//!
//! Leaves and inner nodes hash with different prefixes (as RFC 6962), so no inner node can
//! pass for a lease; the signed message starts with its own tag, so a root signature can
//! never pass for a lease's, nor a lease's for a root's.

use crate::codec::WireError;
use sha2::{Digest, Sha256};

/// What the server signs for a batch: this tag, then the 32-byte root.
pub const ROOT_TAG: &[u8; 8] = b"LLROOT01";

/// Steps a path has at most: enough for 65,536 leases in one batch.
pub const MAX_DEPTH: usize = 16;

/// One step's size on the wire: a side byte and a hash.
const STEP: usize = 33;

/// The hash of a lease: SHA-256 of `0x00` and the lease's exact bytes.
pub fn leaf(lease: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(lease)
        .finalize()
        .into()
}

/// The hash of an inner node: SHA-256 of `0x01`, the left child and the right child.
fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The message a root signature covers: [`ROOT_TAG`] and the root.
pub fn signed_message(root: &[u8; 32]) -> [u8; 40] {
    let mut msg = [0u8; 40];
    msg[..8].copy_from_slice(ROOT_TAG);
    msg[8..].copy_from_slice(root);
    msg
}

/// Where a step's sibling sits: the hash so far goes on the other side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The sibling is the left child (side byte 0).
    Left,
    /// The sibling is the right child (side byte 1).
    Right,
}

/// The path from one leaf to the root: the siblings, leaf end first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proof(pub Vec<(Side, [u8; 32])>);

impl Proof {
    /// The wire form: 33 bytes a step (side byte, sibling), leaf end first.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() * STEP);
        for (side, hash) in &self.0 {
            out.push(match side {
                Side::Left => 0,
                Side::Right => 1,
            });
            out.extend_from_slice(hash);
        }
        out
    }

    /// Reads the wire form; anything but whole steps with a known side byte, at most
    /// [`MAX_DEPTH`] of them, is refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let invalid = |why: &str| WireError::Invalid {
            field: "proof",
            why: why.into(),
        };
        if !bytes.chunks_exact(STEP).remainder().is_empty() {
            return Err(invalid("not a whole number of 33-byte steps"));
        }
        if bytes.len() / STEP > MAX_DEPTH {
            return Err(invalid("more than 16 steps"));
        }
        bytes
            .chunks_exact(STEP)
            .map(|step| {
                let side = match step[0] {
                    0 => Side::Left,
                    1 => Side::Right,
                    _ => return Err(invalid("a side byte other than 0 or 1")),
                };
                let mut hash = [0u8; 32];
                hash.copy_from_slice(&step[1..]);
                Ok((side, hash))
            })
            .collect::<Result<_, _>>()
            .map(Proof)
    }

    /// The root this path leads to from `leaf`.
    pub fn root(&self, leaf: [u8; 32]) -> [u8; 32] {
        self.0.iter().fold(leaf, |h, (side, sibling)| match side {
            Side::Left => node(sibling, &h),
            Side::Right => node(&h, sibling),
        })
    }
}

/// The root over `leaves` (in order) and each leaf's path to it. Pairs are hashed level by
/// level; a node left without a partner moves up a level unchanged, so its leaves' paths
/// are a step shorter. One leaf is its own root, with an empty path. `leaves` must not be
/// empty.
pub fn tree(leaves: &[[u8; 32]]) -> ([u8; 32], Vec<Proof>) {
    assert!(!leaves.is_empty(), "a tree needs a leaf");
    // Every level, leaves first: node `i` of a level has children `2i` and `2i + 1` below
    // (or only `2i`, moved up unchanged).
    let mut levels = vec![leaves.to_vec()];
    while let Some(level) = levels.last().filter(|l| l.len() > 1) {
        let up = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => node(left, right),
                [alone] => *alone,
                _ => unreachable!("chunks of two"),
            })
            .collect();
        levels.push(up);
    }
    let proofs = (0..leaves.len())
        .map(|leaf| {
            let mut i = leaf;
            let mut steps = Vec::new();
            for level in &levels[..levels.len() - 1] {
                let sibling = i ^ 1;
                if let Some(hash) = level.get(sibling) {
                    let side = if sibling < i { Side::Left } else { Side::Right };
                    steps.push((side, *hash));
                }
                i /= 2;
            }
            Proof(steps)
        })
        .collect();
    (levels[levels.len() - 1][0], proofs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<[u8; 32]> {
        (0..n)
            .map(|i| leaf(format!("lease {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn one_leaf_is_its_own_root() {
        let l = leaves(1);
        let (root, proofs) = tree(&l);
        assert_eq!(root, l[0]);
        assert_eq!(proofs, vec![Proof::default()]);
        assert!(proofs[0].encode().is_empty());
    }

    #[test]
    fn three_leaves_hash_as_documented() {
        // docs/protocol.md, section 3b: ((a, b), c), c moving up unchanged.
        let l = leaves(3);
        let (root, proofs) = tree(&l);
        assert_eq!(root, node(&node(&l[0], &l[1]), &l[2]));
        assert_eq!(proofs[2], Proof(vec![(Side::Left, node(&l[0], &l[1]))]));
        assert_eq!(
            proofs[0],
            Proof(vec![(Side::Right, l[1]), (Side::Right, l[2])])
        );
    }

    #[test]
    fn a_leaf_and_a_node_never_hash_alike() {
        // The bytes of a node's input, offered as a lease, hash differently (the prefixes).
        let l = leaves(2);
        let mut inner = Vec::from([1u8]);
        inner.extend_from_slice(&l[0]);
        inner.extend_from_slice(&l[1]);
        assert_ne!(leaf(&inner[1..]), node(&l[0], &l[1]));
    }

    #[test]
    fn malformed_proofs_are_refused() {
        let good = Proof(vec![(Side::Left, [7; 32]), (Side::Right, [9; 32])]).encode();
        assert_eq!(Proof::decode(&good).unwrap().encode(), good);
        assert!(Proof::decode(&good[..40]).is_err());
        let mut bad_side = good.clone();
        bad_side[33] = 2;
        assert!(Proof::decode(&bad_side).is_err());
        assert!(Proof::decode(&vec![0u8; STEP * (MAX_DEPTH + 1)]).is_err());
        assert!(Proof::decode(&vec![0u8; STEP * MAX_DEPTH]).is_ok());
        assert_eq!(Proof::decode(&[]).unwrap(), Proof::default());
    }

    proptest! {
        /// Every leaf's path leads to the root, through the wire form; a path does not
        /// lead there from another leaf, nor with any step's side or sibling changed.
        #[test]
        fn every_path_leads_to_the_root_and_no_other_does(n in 1usize..80, pick in any::<prop::sample::Index>()) {
            let l = leaves(n);
            let (root, proofs) = tree(&l);
            prop_assert_eq!(proofs.len(), n);
            for (i, p) in proofs.iter().enumerate() {
                let p = Proof::decode(&p.encode()).unwrap();
                prop_assert!(p.0.len() <= (usize::BITS - (n - 1).leading_zeros()) as usize);
                prop_assert_eq!(p.root(l[i]), root);
            }
            let i = pick.index(n);
            if n > 1 {
                let other = (i + 1) % n;
                prop_assert_ne!(proofs[i].root(l[other]), root);
                for s in 0..proofs[i].0.len() {
                    let mut flipped = proofs[i].clone();
                    flipped.0[s].0 = match flipped.0[s].0 { Side::Left => Side::Right, Side::Right => Side::Left };
                    prop_assert_ne!(flipped.root(l[i]), root);
                    let mut changed = proofs[i].clone();
                    changed.0[s].1[0] ^= 1;
                    prop_assert_ne!(changed.root(l[i]), root);
                }
            }
        }
    }
}
