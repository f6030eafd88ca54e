//! The thread behind one of SQLite's own connections (the check-in writer, the check-in
//! reader): started on first use, started again if it died, and never again once closed.
//!
//! Closing matters: a store is closed to hand its file to something that needs it alone
//! (a bulk loader writing without a journal, a restore), and a clone of that store used
//! afterwards must not open the file again behind its back.

use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

/// What each thread started runs over its jobs.
type Body<J> = Arc<dyn Fn(mpsc::Receiver<J>) + Send + Sync>;

/// Jobs for one named thread.
pub(crate) struct ThreadSlot<J> {
    name: &'static str,
    run: Body<J>,
    state: Mutex<State<J>>,
}

impl<J> std::fmt::Debug for ThreadSlot<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadSlot")
            .field("name", &self.name)
            .finish()
    }
}

/// The thread, as far as the handles know.
enum State<J> {
    /// None yet, or the last one died: the next job starts one.
    Idle,
    Running(mpsc::Sender<J>, JoinHandle<()>),
    /// [`ThreadSlot::close`] ran.
    Closed,
}

/// The thread is closed, or could not be started or reached: why, for the error the
/// caller reports.
#[derive(Debug)]
pub(crate) struct Stopped(pub(crate) String);

impl<J: Send + 'static> ThreadSlot<J> {
    /// A slot whose threads, named `name`, each run `run` over the jobs sent to them.
    pub(crate) fn new(
        name: &'static str,
        run: impl Fn(mpsc::Receiver<J>) + Send + Sync + 'static,
    ) -> Self {
        Self {
            name,
            run: Arc::new(run),
            state: Mutex::new(State::Idle),
        }
    }

    /// Hands `job` to the thread, first starting one if none is running (first use, or
    /// the last one panicked).
    pub(crate) fn send(&self, job: J) -> Result<(), Stopped> {
        let stopped = || Stopped(format!("the {} thread stopped", self.name));
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &*state {
            State::Closed => return Err(Stopped(format!("the {} thread is closed", self.name))),
            State::Running(tx, handle) if !handle.is_finished() => {
                return tx.send(job).map_err(|_| stopped());
            }
            State::Running(..) | State::Idle => {}
        }
        let (tx, rx) = mpsc::channel();
        let run = self.run.clone();
        let handle = std::thread::Builder::new()
            .name(self.name.into())
            .spawn(move || run(rx))
            .map_err(|e| Stopped(format!("starting the {} thread: {e}", self.name)))?;
        tx.send(job).map_err(|_| stopped())?;
        *state = State::Running(tx, handle);
        Ok(())
    }

    /// Closes the slot for good; returns the running thread, which ends (closing its
    /// connection) once it has worked through the jobs already queued. Join it to wait.
    pub(crate) fn close(&self) -> Option<JoinHandle<()>> {
        let taken = std::mem::replace(
            &mut *self.state.lock().unwrap_or_else(|e| e.into_inner()),
            State::Closed,
        );
        match taken {
            State::Running(tx, handle) => {
                drop(tx);
                Some(handle)
            }
            State::Idle | State::Closed => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        matches!(
            *self.state.lock().unwrap_or_else(|e| e.into_inner()),
            State::Closed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_thread_is_replaced_and_a_closed_slot_starts_none() {
        let (seen_tx, seen) = mpsc::channel();
        // Each thread dies on a job 0 and passes any other on.
        let slot = ThreadSlot::<u32>::new("slot-test", move |rx| {
            for job in rx {
                assert_ne!(job, 0, "the thread dies");
                let _ = seen_tx.send(job);
            }
        });
        slot.send(0).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            // Refused while the dying thread is still seen running.
            let _ = slot.send(1);
            if seen
                .recv_timeout(std::time::Duration::from_millis(20))
                .is_ok()
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no thread took the job"
            );
        }
        slot.close().unwrap().join().unwrap();
        assert!(slot.is_closed());
        assert!(slot.send(2).is_err());
        assert!(slot.close().is_none());
    }
}
