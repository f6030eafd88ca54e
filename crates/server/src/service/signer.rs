//! Leases signed in batches.
//!
//! Signing a check-in's lease was a sixth of the server's CPU per check-in
//! (docs/benchmarks.md, fourth round). Leases cut at about the same time go to one thread,
//! which signs them as one batch: one Ed25519 signature over the root of their hash tree,
//! each lease carrying its path to that root (`lienlock_wire::merkle`, docs/protocol.md,
//! section 3b). Only agents that announced they read such leases (a version 4 check-in)
//! get one; the rest are signed on the spot as before. As with the verifier, a batch waits
//! for more leases only while they are coming fast (`batch_thread`, at most a
//! millisecond): under light load a batch is one lease (its root is its own hash).

use super::batch_thread::BatchThread;
use lienlock_store::StoreError;
use lienlock_wire::{sign_batch, LeaseEnvelope, ServerKey, UnsignedLease};
use tokio::sync::{mpsc, oneshot};

/// Leases one batch signs at most: their paths are at most six steps (198 bytes), and
/// past a few dozen a larger batch saves little.
const MAX_BATCH: usize = 64;

type Job = (UnsignedLease, ServerKey, oneshot::Sender<LeaseEnvelope>);

/// Shared by every clone of the service: one signing thread, started on first use.
#[derive(Debug, Clone, Default)]
pub(crate) struct LeaseSigner {
    thread: BatchThread<Job>,
}

impl LeaseSigner {
    /// Signs `lease` with `key` in the next batch.
    ///
    /// The lease's sequence is already written, so a lease that cannot be signed is a
    /// sequence the device never sees, not one issued twice: if the thread dies with the
    /// job, the check-in is answered 503 and the phone checks in again.
    pub(crate) async fn sign(
        &self,
        lease: UnsignedLease,
        key: &ServerKey,
    ) -> Result<LeaseEnvelope, StoreError> {
        let Some(sender) = self.thread.sender("lienlock-sign", MAX_BATCH, sign) else {
            // No thread could be started: sign here, alone.
            return Ok(lease.sign(key));
        };
        let (done, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((lease, key, _))) =
            sender.send((lease, key.clone(), done)).await
        {
            return Ok(lease.sign(&key));
        }
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the lease-signing thread stopped".into()))
    }
}

/// One batch: signed as one batch per key (two keys only while the server's key rotates),
/// each caller answered.
fn sign(mut jobs: Vec<Job>) {
    while let Some((_, key, _)) = jobs.first() {
        let id = key.id();
        let key = key.clone();
        let (same, rest): (Vec<Job>, Vec<Job>) =
            jobs.into_iter().partition(|(_, k, _)| k.id() == id);
        jobs = rest;
        let (leases, answers): (Vec<UnsignedLease>, Vec<_>) = same
            .into_iter()
            .map(|(lease, _, done)| (lease, done))
            .unzip();
        for (answer, envelope) in answers.into_iter().zip(sign_batch(leases, &key)) {
            // A caller that has gone (its request dropped) needs no answer.
            let _ = answer.send(envelope);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienlock_domain::{Imei, LeaseState, RestrictionProfile, Timestamp};
    use lienlock_wire::{Lease, LockScreen};

    fn lease(key: &ServerKey, sequence: u64) -> Lease {
        Lease {
            key_id: key.id(),
            device_id: lienlock_domain::DeviceId::new(),
            imei: Imei::parse("490154203237518").unwrap(),
            device_key: [sequence as u8; 32],
            sequence,
            state: LeaseState::Active,
            issued_at: Timestamp::from_millis(1_700_000_000_000),
            valid_until: Timestamp::from_millis(1_700_600_000_000),
            next_checkin_at: Timestamp::from_millis(1_700_000_900_000),
            in_reply_to: sequence + 10,
            profile: RestrictionProfile::unrestricted(),
            lock_screen: LockScreen {
                lender_name: "Lender".into(),
                support_phone: String::new(),
                support_url: String::new(),
                message: String::new(),
                amount_due: String::new(),
            },
            notices: vec![],
            warn_at: Timestamp::from_millis(1_700_400_000_000),
            codes_through: 0,
            next_key: None,
        }
    }

    /// Many callers at once, under two keys (a rotation): each gets its own lease back,
    /// signed in a batch by its own key, whichever batches they fell into.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_each_get_their_own_lease_signed_by_their_key() {
        let signer = LeaseSigner::default();
        let keys = [ServerKey::generate(), ServerKey::generate()];
        let mut tasks = tokio::task::JoinSet::new();
        for sequence in 1..=300u64 {
            let signer = signer.clone();
            let key = keys[sequence as usize % 2].clone();
            tasks.spawn(async move {
                let lease = lease(&key, sequence);
                let envelope = signer.sign(UnsignedLease::new(&lease), &key).await.unwrap();
                (key.public(), lease, envelope)
            });
        }
        let mut shared = 0;
        while let Some(r) = tasks.join_next().await {
            let (public, lease, envelope) = r.unwrap();
            assert!(envelope.proof.is_some());
            assert_eq!(envelope.open(&public).unwrap().0, lease);
            let steps = envelope.proof.as_deref().map_or(0, str::len);
            shared += usize::from(steps > 0);
        }
        // Not a timing promise, only that batching happened at all with 300 at once.
        assert!(shared > 0, "no lease shared its signature");
    }
}
