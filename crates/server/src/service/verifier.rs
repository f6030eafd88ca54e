//! Check-in signatures, verified in batches.
//!
//! Verifying a check-in's Ed25519 signature was the largest piece of cryptography a
//! check-in paid for. Check-ins arriving together are verified by one thread as one batch
//! (`lienlock_wire::batch`: each still gets its own answer, the one it gets alone), which
//! costs well under half as much per signature when dozens wait (docs/benchmarks.md,
//! fourth round). The thread waits for more only while check-ins are coming fast
//! (`batch_thread`, at most a millisecond).

use super::batch_thread::BatchThread;
use lienlock_wire::{verify_checkins, CheckIn, UnverifiedCheckIn, WireError};
use tokio::sync::{mpsc, oneshot};

/// Signatures one batch verifies at most: past a few dozen a larger batch saves little,
/// and it is what one bad signature makes the thread verify one by one.
const MAX_BATCH: usize = 64;

type Job = (
    UnverifiedCheckIn,
    oneshot::Sender<Result<CheckIn, WireError>>,
);

/// Shared by every clone of the service: one verifying thread, started on first use.
#[derive(Debug, Clone, Default)]
pub(crate) struct Verifier {
    thread: BatchThread<Job>,
}

impl Verifier {
    /// Verifies `checkin`'s signature, in the next batch.
    pub(crate) async fn verify(&self, checkin: UnverifiedCheckIn) -> Result<CheckIn, WireError> {
        let Some(sender) = self.thread.sender("lienlock-verify", MAX_BATCH, verify) else {
            // No thread could be started: verify here.
            return checkin.verify();
        };
        // Kept in case the thread dies with the job: the answer is then worked out here.
        // A copy of at most a few hundred bytes, against a verification's tens of µs.
        let spare = checkin.clone();
        let (done, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((checkin, _))) = sender.send((checkin, done)).await {
            return checkin.verify();
        }
        match answer.await {
            Ok(answer) => answer,
            Err(_) => spare.verify(),
        }
    }
}

/// One batch: verified together, each caller answered.
fn verify(jobs: Vec<Job>) {
    let (checkins, answers): (Vec<_>, Vec<_>) = jobs.into_iter().unzip();
    for (answer, verdict) in answers.into_iter().zip(verify_checkins(checkins)) {
        // A caller that has gone (its request dropped) needs no answer.
        let _ = answer.send(verdict);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienlock_domain::Imei;
    use lienlock_wire::{CheckInVersion, DeviceKey, SignedCheckIn};

    fn signed(counter: u64) -> SignedCheckIn {
        let key = DeviceKey::generate();
        let checkin = CheckIn {
            version: CheckInVersion::V3,
            imei: Imei::parse("490154203237518").unwrap(),
            device_key: key.public(),
            counter,
            device_time: lienlock_domain::Timestamp::from_millis(1_700_000_000_000),
            held_lease_seq: 0,
            notice_ack: 0,
            server_key_id: None,
            user_since: 0,
            reports: vec![],
            signals: vec![],
        };
        SignedCheckIn::seal(&checkin, &key)
    }

    /// Many callers at once: each gets its own check-in back, the forged ones refused,
    /// whichever batches they fell into.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_each_get_their_own_answer() {
        let verifier = Verifier::default();
        let mut tasks = tokio::task::JoinSet::new();
        for counter in 1..=300u64 {
            let verifier = verifier.clone();
            tasks.spawn(async move {
                let mut s = signed(counter);
                let forged = counter % 7 == 0;
                if forged {
                    // Another phone's signature (by another key, of other bytes).
                    s.signature = signed(counter).signature;
                }
                let answer = verifier.verify(s.decode().unwrap()).await;
                (counter, forged, answer)
            });
        }
        while let Some(r) = tasks.join_next().await {
            let (counter, forged, answer) = r.unwrap();
            match answer {
                Ok(c) => assert!(!forged && c.counter == counter, "{counter}"),
                Err(e) => assert!(forged && e == WireError::BadSignature, "{counter}: {e}"),
            }
        }
    }
}
