//! Running the outbox: one dispatcher reads the due jobs and hands each to a task of its own,
//! at most `CONCURRENCY` at once; each task records its outcome in one write. Which jobs are
//! RUNNING is known to this process only: in the store a running job is still PENDING, so a
//! process that dies mid-run leaves it due, and it runs again at the next start — without a
//! write to claim it (which would cost as much as the job's own). The dispatcher sleeps until
//! the store reports a commit to the due index, or the next retry is due.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
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

/// Jobs running at once: enough for their writes to share the store's group commits, few
/// enough that a backlog leaves most of the CPU to the requests (measured: 64 halved the order
/// rate under a burst, 32 keeps it; see scripts/bench_outbox.sh).
const CONCURRENCY: usize = 32;
/// Slots the dispatcher waits for before it looks for due jobs while others run.
const BATCH: usize = 16;

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
    /// The jobs running now.
    running: Mutex<HashSet<Uuid>>,
    stop: watch::Sender<bool>,
    dispatcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Jobs {
    pub fn new(store: &Store) -> Jobs {
        Jobs {
            inner: Arc::new(Inner {
                wake: store.watch(JOBS_DUE.name),
                store: store.clone(),
                waiters: Mutex::default(),
                running: Mutex::default(),
                stop: watch::channel(false).0,
                dispatcher: Mutex::default(),
            }),
        }
    }

    /// Whether this job is running now.
    pub fn is_running(&self, id: Uuid) -> bool {
        self.inner.running.lock().contains(&id)
    }

    /// Starts the dispatcher on the current runtime.
    pub fn start(&self, state: AppState) {
        let handle = tokio::spawn(dispatch(state, self.inner.clone()));
        *self.inner.dispatcher.lock() = Some(handle);
    }

    /// Stops starting jobs and lets the running ones finish for up to `grace`. A job still
    /// running then is PENDING in the store and runs again at the next start.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.stop.send_replace(true);
        let dispatcher = self.inner.dispatcher.lock().take();
        if let Some(d) = dispatcher {
            let _ = d.await;
        }
        let deadline = tokio::time::Instant::now() + grace;
        while !self.inner.running.lock().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let left = self.inner.running.lock().len();
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
            let running = !self.inner.running.lock().is_empty();
            let busy = running
                || self.inner.store.read().ok().is_some_and(|r| {
                    let next_due = r.scan_index(&JOBS, JOBS_DUE, &(), false).ok().and_then(|mut s| s.next());
                    next_due.is_some_and(|j| j.is_ok_and(|j| j.run_at <= soon))
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
        let running = self.inner.running.lock().len() as u64;
        let stored = |s: JobStatus| r.count_index(JOBS_BY_STATUS, &(s.as_str(),)).unwrap_or(0);
        vec![
            (JobStatus::Pending, stored(JobStatus::Pending).saturating_sub(running)),
            (JobStatus::Running, running),
            (JobStatus::Done, stored(JobStatus::Done)),
            (JobStatus::Dead, stored(JobStatus::Dead)),
        ]
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
        // With jobs running, wait (briefly) for a handful of slots: each look at the due index
        // reads past the running jobs, which would cost more than the jobs when taken one by one.
        let started = tokio::time::Instant::now();
        while slots.available_permits() + 1 < BATCH
            && !inner.running.lock().is_empty()
            && started.elapsed() < Duration::from_millis(20)
        {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(2)) => {}
                _ = stop.changed() => return,
            }
        }
        let room = 1 + slots.available_permits();
        let now = Utc::now();
        // Copied before the snapshot is taken: a job that leaves the set has committed its
        // outcome first, so the snapshot cannot show it due when the copy lacks it.
        let running = inner.running.lock().clone();
        let found = inner.store.read().and_then(|r| {
            let (mut due, mut next) = (Vec::new(), None);
            for j in r.scan_index(&JOBS, JOBS_DUE, &(), false)? {
                let j = j?;
                if running.contains(&j.id) {
                    continue;
                }
                if j.run_at > now || due.len() == room {
                    next = Some(j.run_at);
                    break;
                }
                due.push(j);
            }
            Ok((due, next))
        });
        let (due, next) = match found {
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
        let mut first = Some(first);
        for job in due {
            let permit = match first.take() {
                Some(p) => p,
                None => match slots.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            inner.running.lock().insert(job.id);
            let (state, inner) = (state.clone(), inner.clone());
            tokio::spawn(async move {
                let id = job.id;
                let outcome = std::panic::AssertUnwindSafe(run(&state, &job))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| Outcome::Retry("the job panicked".into()));
                if let Err(e) = complete(&state, job, outcome).await {
                    // The job stays PENDING in the store, and so runs again.
                    tracing::error!(error = %e, job = %id, "a job's outcome could not be recorded");
                }
                inner.running.lock().remove(&id);
                // Its commit woke the dispatcher while it was still running; this look finds
                // it due again if it is to be retried now.
                inner.wake.notify_one();
                let waiting = inner.waiters.lock().remove(&id).unwrap_or_default();
                for waiter in waiting {
                    let _ = waiter.send(());
                }
                drop(permit);
            });
        }
    }
}

/// Records how a run ended, with what the task writes on completion, in one transaction. The
/// run counts as an attempt here: one cut short by a crash leaves no trace but its effects,
/// which a repeat makes harmless.
async fn complete(state: &AppState, mut job: Job, outcome: Outcome) -> Result<(), ApiError> {
    let id = job.id;
    job.attempts += 1;
    let lazy = job.task.repeatable();
    let (max, base) = (state.settings.job_max_attempts, state.settings.job_retry_base_ms);
    let (error, finish, dead) = match outcome {
        Outcome::Done(finish) => {
            let done = record(state, lazy, id, finish, |j| j.status = JobStatus::Done).await;
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
    let changed = record(state, lazy, id, finish, move |j| {
        j.status = if dead { JobStatus::Dead } else { JobStatus::Pending };
        j.last_error = Some(error.chars().take(1000).collect());
        if !dead {
            j.run_at = Utc::now() + delay;
        }
    })
    .await?;
    publish(state, changed).await;
    Ok(())
}

/// Writes the end of a run in one transaction: what the task writes (`finish`), then the job
/// with one more attempt, as `update` leaves it. Nothing when the job is no longer PENDING
/// (an admin's change came first). Written lazily when running the job again does no harm:
/// it then costs no fsync of its own (see `Store::write_lazy`).
async fn record(
    state: &AppState,
    lazy: bool,
    id: Uuid,
    finish: Option<super::Finish>,
    update: impl FnOnce(&mut Job) + Send + 'static,
) -> Result<Vec<crate::products::Product>, ApiError> {
    let f = move |w: &mut crate::store::WriteTx<'_>| {
        if w.get(&JOBS, &id)?.is_none_or(|j| j.status != JobStatus::Pending) {
            return Ok(Vec::new());
        }
        let changed = match finish {
            Some(f) => f(w)?,
            None => Vec::new(),
        };
        // Read again: the task may have changed its own record.
        let Some(mut j) = w.get(&JOBS, &id)? else { return Ok(changed) };
        j.attempts += 1;
        j.updated_at = Utc::now();
        update(&mut j);
        w.put(&JOBS, &id, &j)?;
        Ok::<_, ApiError>(changed)
    };
    if lazy { state.store.write_lazy(f).await } else { state.store.write(f).await }
}

async fn publish(state: &AppState, changed: Vec<crate::products::Product>) {
    if !changed.is_empty() {
        crate::products::mirror::publish(state, changed, None).await;
    }
}
