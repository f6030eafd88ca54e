//! `lienlock agent run --ui ADDR`: the simulated phone's screen as a web page, as its
//! borrower sees it (normal screen with reminders, lock screen, released screen), in six
//! languages.
//!
//! The run loop owns the [`Agent`]. The page never touches it directly: it sends
//! [`AgentJob`]s, which the loop runs between two wakes (see
//! [`Agent::run_with_jobs`]), and keeps a [`PhoneView`] snapshot that every job and every
//! change of enforcement refreshes. The page's version moves when the snapshot changes;
//! a small script polls it and reloads.

mod i18n;
mod render;
mod routes;
mod settings;
mod view;

pub use i18n::Lang;

use i18n::Catalog;
use lienlock_agent::{Agent, AgentJob, JobFuture};
use settings::Settings;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use view::{Flash, PhoneView};

/// How many jobs may wait for the loop; more are refused (the borrower taps again).
const JOB_QUEUE: usize = 16;

/// The longest a form waits for the agent (a check-in in flight to an unreachable server
/// can take a while); after that the page says the lender could not be reached.
const JOB_TIMEOUT: Duration = Duration::from_secs(20);

/// The phone as the page sees it, shared by the page's handlers and the run loop.
pub struct Phone {
    imei: String,
    catalog: Catalog,
    settings_path: PathBuf,
    shown: Mutex<Shown>,
    jobs: mpsc::Sender<AgentJob>,
}

/// What the page shows and its version.
struct Shown {
    version: u64,
    view: PhoneView,
    settings: Settings,
    /// A form's outcome, shown by the next page and then dropped.
    flash: Option<Flash>,
}

impl Phone {
    /// The page's side of `agent`, whose data directory also keeps the phone's settings;
    /// `language`, when given, becomes the phone's language. Returns the phone and the
    /// receiving end of its job queue, for [`Agent::run_with_jobs`].
    pub fn new(
        agent: &Agent,
        data_dir: &Path,
        language: Option<Lang>,
    ) -> (Arc<Self>, mpsc::Receiver<AgentJob>) {
        let settings_path = settings::path(data_dir);
        let mut s = settings::load(&settings_path);
        if let Some(lang) = language {
            if s.language != lang {
                s.language = lang;
                if let Err(e) = settings::save(&settings_path, &s) {
                    tracing::warn!(error = %e, "cannot save the phone's language");
                }
            }
        }
        let (jobs, rx) = mpsc::channel(JOB_QUEUE);
        let phone = Arc::new(Self {
            imei: agent.imei().to_string(),
            catalog: Catalog::load(),
            settings_path,
            shown: Mutex::new(Shown {
                version: 1,
                view: PhoneView::of(agent),
                settings: s,
                flash: None,
            }),
            jobs,
        });
        (phone, rx)
    }

    fn shown(&self) -> MutexGuard<'_, Shown> {
        // Nothing panics while holding it; if something ever did, the data is still whole.
        self.shown.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a fresh look at `agent`; the version moves if the screen changed.
    pub fn snapshot(&self, agent: &Agent) {
        let view = PhoneView::of(agent);
        let mut s = self.shown();
        if s.view != view {
            s.view = view;
            s.version += 1;
        }
    }

    /// Asks the loop for a fresh look, without waiting: for the run loop's change report,
    /// which cannot reach the agent itself (the loop holds it). A full queue already holds
    /// work that ends with a snapshot.
    pub fn request_snapshot(self: &Arc<Self>) {
        let phone = self.clone();
        let _ = self.jobs.try_send(job(move |agent| {
            phone.snapshot(agent);
            Box::pin(std::future::ready(()))
        }));
    }

    /// Runs `work` on the agent in the loop and returns its answer, then takes a snapshot.
    /// `None` when the loop did not answer in time or is gone.
    async fn ask<T, F>(self: &Arc<Self>, work: F) -> Option<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Agent) -> Answer<'a, T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let phone = self.clone();
        let job = job(move |agent| {
            Box::pin(async move {
                let out = work(agent).await;
                phone.snapshot(agent);
                let _ = tx.send(out);
            })
        });
        self.jobs.send_timeout(job, JOB_TIMEOUT).await.ok()?;
        tokio::time::timeout(JOB_TIMEOUT, rx).await.ok()?.ok()
    }

    fn set_flash(&self, flash: Flash) {
        self.shown().flash = Some(flash);
    }

    fn set_language(&self, lang: Lang) {
        let mut s = self.shown();
        if s.settings.language == lang {
            return;
        }
        s.settings.language = lang;
        s.version += 1;
        if let Err(e) = settings::save(&self.settings_path, &s.settings) {
            tracing::warn!(error = %e, "cannot save the phone's language");
        }
    }
}

/// What work given to [`Phone::ask`] returns: a future borrowing the agent.
type Answer<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Boxes a closure as a job; the bound is what lets the closure borrow the agent.
fn job<F>(f: F) -> AgentJob
where
    F: for<'a> FnOnce(&'a mut Agent) -> JobFuture<'a> + Send + 'static,
{
    Box::new(f)
}

/// Serves the page on `addr` until `shutdown`; returns the address it is bound to once
/// listening, and the serving task.
pub async fn serve(
    phone: Arc<Phone>,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = routes::router(phone);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "the phone page stopped");
        }
    });
    Ok((bound, task))
}

/// Does the jobs that still come once the run loop has returned (a released phone keeps
/// its screen, and its buttons still answer), until `shutdown`.
pub async fn serve_jobs(
    agent: &mut Agent,
    jobs: &mut mpsc::Receiver<AgentJob>,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            job = jobs.recv() => match job {
                Some(job) => job(agent).await,
                None => return,
            },
        }
    }
}
