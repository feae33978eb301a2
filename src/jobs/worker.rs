//! Running the outbox: one dispatcher claims due jobs in batches (one write marks them
//! RUNNING) and hands each to a task of its own, at most `CONCURRENCY` at once; each task
//! records its outcome in one write. The dispatcher sleeps until the store reports a commit to
//! the due index, or the next retry is due.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use futures_util::FutureExt;
use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore, oneshot, watch};
use uuid::Uuid;

use super::{JOBS, JOBS_BY_STATUS, JOBS_DUE, Job, JobStatus, Outcome, backoff, give_up, run};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Store, StoreError};

/// Jobs running at once. Mails and notifications are short; enough of them at once share the
/// store's group commits.
const CONCURRENCY: usize = 64;

/// The handle: cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    wake: Arc<Notify>,
    /// Callers waiting for a job's next outcome (an admin's refund, a customer's cancel).
    waiters: Mutex<HashMap<Uuid, Vec<oneshot::Sender<()>>>>,
    running: AtomicUsize,
    stop: watch::Sender<bool>,
    dispatcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Jobs {
    /// Puts back to PENDING every job left RUNNING by a process that stopped without finishing
    /// it, so it runs again now.
    pub async fn new(store: &Store) -> Result<Jobs, StoreError> {
        let recovered = store
            .write(|w| {
                let running =
                    w.scan_index(&JOBS, JOBS_BY_STATUS, &(JobStatus::Running.as_str(),), false, usize::MAX)?;
                for mut j in running.iter().cloned() {
                    j.status = JobStatus::Pending;
                    j.run_at = Utc::now();
                    w.put(&JOBS, &j.id, &j)?;
                }
                Ok::<_, StoreError>(running.len())
            })
            .await?;
        if recovered > 0 {
            tracing::info!(jobs = recovered, "jobs cut short by the last stop run again");
        }
        Ok(Jobs {
            inner: Arc::new(Inner {
                wake: store.watch(JOBS_DUE.name),
                store: store.clone(),
                waiters: Mutex::default(),
                running: AtomicUsize::new(0),
                stop: watch::channel(false).0,
                dispatcher: Mutex::default(),
            }),
        })
    }

    /// Starts the dispatcher on the current runtime.
    pub fn start(&self, state: AppState) {
        let handle = tokio::spawn(dispatch(state, self.inner.clone()));
        *self.inner.dispatcher.lock() = Some(handle);
    }

    /// Stops claiming jobs and lets the running ones finish for up to `grace`. A job still
    /// running then stays RUNNING in the store and runs again at the next start.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.stop.send_replace(true);
        let dispatcher = self.inner.dispatcher.lock().take();
        if let Some(d) = dispatcher {
            let _ = d.await;
        }
        let deadline = tokio::time::Instant::now() + grace;
        while self.inner.running.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let left = self.inner.running.load(Ordering::SeqCst);
        if left > 0 {
            tracing::warn!(left, "stopped with jobs still running; they run again at the next start");
        }
    }

    /// Waits (up to `within`) until run number `run` of the job (1 = its first) has ended, or
    /// the job is DONE or DEAD. Returns the job as it then is.
    pub async fn settled(&self, id: Uuid, run: u32, within: Duration) -> Result<Option<Job>, StoreError> {
        let deadline = tokio::time::Instant::now() + within;
        let ended = |j: &Job| {
            matches!(j.status, JobStatus::Done | JobStatus::Dead)
                || (j.status == JobStatus::Pending && j.attempts >= run)
        };
        loop {
            let (tx, rx) = oneshot::channel();
            self.inner.waiters.lock().entry(id).or_default().push(tx);
            // Read after registering: a run that ends in between is seen here or wakes us.
            let now = self.inner.store.read()?.get(&JOBS, &id)?;
            if now.as_ref().is_none_or(ended) || tokio::time::Instant::now() >= deadline {
                return Ok(now);
            }
            let _ = tokio::time::timeout_at(deadline, rx).await;
        }
    }

    /// Resolves once no job is running and none is due within the next `horizon` (tests wait
    /// for the mails and notifications of what they did).
    pub async fn idle(&self, horizon: Duration) {
        loop {
            let soon = Utc::now() + chrono::Duration::from_std(horizon).unwrap_or_default();
            let busy = self.inner.store.read().ok().is_some_and(|r| {
                let running = r.count_index(JOBS_BY_STATUS, &(JobStatus::Running.as_str(),)).unwrap_or(0);
                let next_due = r.scan_index(&JOBS, JOBS_DUE, &(), false).ok().and_then(|mut s| s.next());
                running > 0 || next_due.is_some_and(|j| j.is_ok_and(|j| j.run_at <= soon))
            });
            if !busy {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Jobs by status, for the metrics.
    pub fn counts(&self) -> Vec<(JobStatus, u64)> {
        let Ok(r) = self.inner.store.read() else { return Vec::new() };
        JobStatus::ALL.iter().map(|s| (*s, r.count_index(JOBS_BY_STATUS, &(s.as_str(),)).unwrap_or(0))).collect()
    }
}

async fn dispatch(state: AppState, inner: Arc<Inner>) {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let mut stop = inner.stop.subscribe();
    loop {
        if *stop.borrow() {
            return;
        }
        let first = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.changed() => return,
        };
        let room = 1 + slots.available_permits();
        let now = Utc::now();
        let (due, next): (Vec<Uuid>, Option<chrono::DateTime<Utc>>) = match inner.store.read().and_then(|r| {
            let mut due = Vec::new();
            let mut next = None;
            for j in r.scan_index(&JOBS, JOBS_DUE, &(), false)? {
                let j = j?;
                if j.run_at > now || due.len() == room {
                    next = Some(j.run_at);
                    break;
                }
                due.push(j.id);
            }
            Ok((due, next))
        }) {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "the job dispatcher cannot read the store");
                (Vec::new(), Some(now + chrono::Duration::seconds(1)))
            }
        };
        if due.is_empty() {
            drop(first);
            let nap = next.map_or(Duration::from_secs(30), |at| (at - now).to_std().unwrap_or_default());
            tokio::select! {
                _ = inner.wake.notified() => {}
                _ = tokio::time::sleep(nap.min(Duration::from_secs(30))) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        let claimed = inner
            .store
            .write(move |w| {
                let mut out = Vec::with_capacity(due.len());
                for id in due {
                    if let Some(mut j) = w.get(&JOBS, &id)?
                        && j.status == JobStatus::Pending
                    {
                        j.status = JobStatus::Running;
                        j.attempts += 1;
                        j.run_at = Utc::now();
                        j.updated_at = j.run_at;
                        w.put(&JOBS, &id, &j)?;
                        out.push(j);
                    }
                }
                Ok::<_, StoreError>(out)
            })
            .await;
        let claimed = match claimed {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "the job dispatcher cannot claim jobs");
                drop(first);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut first = Some(first);
        for job in claimed {
            let permit = match first.take() {
                Some(p) => p,
                None => match slots.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            inner.running.fetch_add(1, Ordering::SeqCst);
            let (state, inner) = (state.clone(), inner.clone());
            tokio::spawn(async move {
                let id = job.id;
                let outcome = std::panic::AssertUnwindSafe(run(&state, &job))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| Outcome::Retry("the job panicked".into()));
                if let Err(e) = complete(&state, job, outcome).await {
                    // The job stays RUNNING and runs again at the next start.
                    tracing::error!(error = %e, job = %id, "a job's outcome could not be recorded");
                }
                let waiting = inner.waiters.lock().remove(&id).unwrap_or_default();
                for waiter in waiting {
                    let _ = waiter.send(());
                }
                inner.running.fetch_sub(1, Ordering::SeqCst);
                drop(permit);
            });
        }
    }
}

/// Records how a run ended, with what the task writes on completion, in one transaction.
async fn complete(state: &AppState, job: Job, outcome: Outcome) -> Result<(), ApiError> {
    let id = job.id;
    let (max, base) = (state.settings.job_max_attempts, state.settings.job_retry_base_ms);
    let (error, finish, dead) = match outcome {
        Outcome::Done(finish) => {
            let done = state
                .store
                .write(move |w| {
                    if w.get(&JOBS, &id)?.is_none_or(|j| j.status != JobStatus::Running) {
                        return Ok(Vec::new());
                    }
                    let changed = match finish {
                        Some(f) => f(w)?,
                        None => Vec::new(),
                    };
                    // Read again: the task may have changed its own record.
                    let Some(mut j) = w.get(&JOBS, &id)? else { return Ok(changed) };
                    j.status = JobStatus::Done;
                    j.updated_at = Utc::now();
                    w.put(&JOBS, &id, &j)?;
                    Ok::<_, ApiError>(changed)
                })
                .await;
            match done {
                Ok(changed) => {
                    publish(state, changed).await;
                    return Ok(());
                }
                // Its completion could not be written (a business check refused it): a retry.
                Err(e) => (e.cause.clone().unwrap_or(e.message), None, job.attempts >= max),
            }
        }
        Outcome::Retry(e) => (e, None, job.attempts >= max),
        Outcome::Refused(e, finish) => (e, finish, true),
    };
    let finish = if dead { finish.or_else(|| give_up(&job, &error)) } else { finish };
    if dead {
        tracing::error!(job = %id, kind = job.task.kind(), attempts = job.attempts, error = %error, "a job failed for good; kept as DEAD");
    } else {
        tracing::warn!(job = %id, kind = job.task.kind(), attempts = job.attempts, error = %error, "a job failed; it is retried");
    }
    let delay = chrono::Duration::from_std(backoff(base, job.attempts)).unwrap_or_default();
    let changed = state
        .store
        .write(move |w| {
            if w.get(&JOBS, &id)?.is_none_or(|j| j.status != JobStatus::Running) {
                return Ok(Vec::new());
            }
            let changed = match finish {
                Some(f) => f(w)?,
                None => Vec::new(),
            };
            let Some(mut j) = w.get(&JOBS, &id)? else { return Ok(changed) };
            j.status = if dead { JobStatus::Dead } else { JobStatus::Pending };
            j.last_error = Some(error.chars().take(1000).collect());
            j.updated_at = Utc::now();
            if !dead {
                j.run_at = j.updated_at + delay;
            }
            w.put(&JOBS, &id, &j)?;
            Ok::<_, ApiError>(changed)
        })
        .await?;
    publish(state, changed).await;
    Ok(())
}

async fn publish(state: &AppState, changed: Vec<crate::products::Product>) {
    if !changed.is_empty() {
        crate::products::mirror::publish(state, changed, None).await;
    }
}
