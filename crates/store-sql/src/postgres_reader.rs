//! PostgreSQL's check-in read: the reads of check-ins arriving together made as one
//! statement, `WHERE imei = ANY($1)`, instead of one each.
//!
//! Every check-in reads its device (`Store::checkin_view`). One statement each cost
//! PostgreSQL a round trip, a snapshot and an executor started and torn down per phone;
//! in a profile at 6,400 check-ins a second (docs/benchmarks.md, fourteenth round) the
//! executor's set-up (memory contexts, expression states, tuple descriptors) and the
//! socket's system calls were most of the database's half of the node's two cores. Here a
//! task takes whatever reads have queued and answers them from one statement; under light
//! load a batch is one read, so latency does not grow.
//!
//! Each batch's statement starts after its reads were asked for, so each sees every
//! commit acknowledged before it. The statement finds a phone only by the first IMEI of
//! an enrollment that is not released (`sql::CHECKIN_VIEWS_ACTIVE_IMEI`), as nearly every
//! phone checks in; for the rest it answers *not here* and the caller makes the general
//! read (`sql::CHECKIN_VIEW`), which decides.

use crate::rows::CheckinRow;
use crate::sql;
use lienlock_domain::Imei;
use lienlock_store::StoreResult;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Reads one statement carries at most.
const MAX_BATCH: usize = 128;

/// Statements in flight at once: while one waits for the server, the next batch gathers
/// and goes, so a slow statement does not hold every check-in behind it. A few of the
/// pool's connections, never all.
const IN_FLIGHT: usize = 3;

/// Reads queued at most; past it, callers wait to enqueue.
const QUEUE: usize = 1024;

/// `Ok(None)`: not found here; make the general read.
type Answer = StoreResult<Option<CheckinRow>>;
type Job = (Imei, oneshot::Sender<Answer>);

/// The check-in reader of one pool. Cheap to clone; the task starts on first use, on the
/// runtime serving the request, and ends when every clone is gone.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reader {
    tx: Arc<OnceLock<mpsc::Sender<Job>>>,
}

impl Reader {
    /// The check-in view of the enrollment in force whose first IMEI is `imei`: `Ok(None)`
    /// when there is none (the caller reads with the general statement), `Err` when the
    /// database could not be read.
    pub(crate) async fn checkin_row(&self, pool: &PgPool, imei: Imei) -> Answer {
        let sender = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(run(pool.clone(), rx));
            tx
        });
        let (done, answer) = oneshot::channel();
        if sender.send((imei, done)).await.is_err() {
            return Ok(None);
        }
        // A dropped answer (the task's runtime went away): read it the general way.
        answer.await.unwrap_or(Ok(None))
    }
}

async fn run(pool: PgPool, mut rx: mpsc::Receiver<Job>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        // A free slot first, then whatever queued meanwhile: while every slot is busy,
        // reads gather into the next batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = Vec::with_capacity(MAX_BATCH);
        if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            answer(&pool, batch).await;
            drop(slot);
        });
    }
}

/// Reads `batch` in one statement and answers each job.
async fn answer(pool: &PgPool, batch: Vec<Job>) {
    let imeis: Vec<String> = batch.iter().map(|(imei, _)| imei.to_string()).collect();
    let rows: Result<Vec<CheckinRow>, _> = sqlx::query_as(sql::CHECKIN_VIEWS_ACTIVE_IMEI)
        .bind(&imeis)
        .fetch_all(pool)
        .await;
    match rows {
        Ok(rows) => {
            let mut by_imei: HashMap<String, CheckinRow> =
                rows.into_iter().map(|r| (r.imei().to_owned(), r)).collect();
            for (imei, done) in batch {
                let _ = done.send(Ok(by_imei.remove(imei.as_str())));
            }
        }
        Err(e) => {
            let e = crate::error::classify(e);
            for (_, done) in batch {
                let _ = done.send(Err(e.clone()));
            }
        }
    }
}
