//! The outbox. Every side effect of a change (a mail, a notification, a provider call, an
//! expiry) is a job written in the same transaction as the change, so a change that is on disk
//! has its effects on disk too. The worker (`worker.rs`) runs due jobs with bounded concurrency
//! and retries a failing one with exponential backoff and jitter; a job that keeps failing is
//! kept as DEAD with its last error, never deleted, until an admin retries it (`api.rs`).
//!
//! A job runs at least once: after a crash, whatever was running runs again. Each task makes a
//! repeat harmless — a notification is written under an id fixed when its job was enqueued,
//! a mail carries a `Message-ID` made from its job (and its outbox file is named by it), a
//! refund is asked of the provider with the same idempotency key every time.

pub mod api;
pub mod worker;

use chrono::{DateTime, Utc};
use poem_openapi::Enum;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::events::OrderEvent;
use crate::mail::Mail;
use crate::products::Product;
use crate::store::{Collection, Index, StoreError, WriteTx, key};

pub use worker::Jobs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[oai(rename = "JobStatus", rename_all = "UPPERCASE")]
#[serde(rename_all = "UPPERCASE")]
pub enum JobStatus {
    /// Waiting for its time (`runAt`): new, or to be retried.
    Pending,
    /// Running now (the store keeps it PENDING until it ends, so a crash leaves it due).
    Running,
    Done,
    /// Failed `JOB_MAX_ATTEMPTS` times, or refused for good; kept until retried.
    Dead,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "PENDING",
            JobStatus::Running => "RUNNING",
            JobStatus::Done => "DONE",
            JobStatus::Dead => "DEAD",
        }
    }
}

/// What a job does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Task {
    /// The in-app notification about an order event, under the id taken when it was enqueued.
    Notify { order_id: Uuid, event: OrderEvent, notification: u64 },
    /// The mail about an order event to its customer.
    OrderMail { order_id: Uuid, event: OrderEvent },
    /// A mail rendered by the change that sent it (account mails, reminders). Its text is
    /// dropped once delivered: it may hold a sign-in link.
    Mail { mail: Mail },
    /// Asks the provider for a recorded refund and records the answer.
    Refund { refund_id: Uuid },
    /// Cancels a payment intent at its provider, so it can no longer be paid.
    CancelIntent { payment_id: Uuid },
    /// Cancels an order that is still unpaid when its time is up.
    ExpireOrder { order_id: Uuid },
    /// One try of an outbound webhook delivery.
    Webhook { delivery_id: Uuid },
    /// A text message (an order update, a phone code). Its text is dropped once sent.
    Sms { to: String, body: String },
    /// A Web Push of an order update to one of a customer's browsers.
    Push { user_id: u64, subscription_id: u64, payload: String },
}

impl Task {
    /// Whether running it again after its completion was recorded does no harm, so that record
    /// may be lost to a crash (it is written lazily). Not so for a refund or an expiry: the
    /// caller who waited for them was told their outcome.
    pub fn repeatable(&self) -> bool {
        !matches!(self, Task::Refund { .. } | Task::ExpireOrder { .. })
    }

    /// The name the admin view shows.
    pub fn kind(&self) -> &'static str {
        match self {
            Task::Notify { .. } => "NOTIFY",
            Task::OrderMail { .. } => "ORDER_MAIL",
            Task::Mail { .. } => "MAIL",
            Task::Refund { .. } => "REFUND",
            Task::CancelIntent { .. } => "CANCEL_INTENT",
            Task::ExpireOrder { .. } => "EXPIRE_ORDER",
            Task::Webhook { .. } => "WEBHOOK",
            Task::Sms { .. } => "SMS",
            Task::Push { .. } => "PUSH",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// UUID v7: the key order is the creation order.
    pub id: Uuid,
    pub task: Task,
    pub status: JobStatus,
    /// Runs finished so far (one cut short by a crash does not count).
    pub attempts: u32,
    pub last_error: Option<String>,
    /// When it is due, or was last run.
    pub run_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn due(j: &Job) -> Vec<Vec<u8>> {
    match j.status {
        JobStatus::Pending => vec![key::encode(&(j.run_at.timestamp_micros(), j.id))],
        _ => Vec::new(),
    }
}

fn by_status(j: &Job) -> Vec<Vec<u8>> {
    vec![key::encode(&(j.status.as_str(), j.id))]
}

pub static JOB_INDEXES: [Index<Job>; 2] = [Index::new("jobs.due", due), Index::new("jobs.by_status", by_status)];
pub static JOBS: Collection<Uuid, Job> = Collection::with_indexes("jobs", &JOB_INDEXES);
/// PENDING jobs by the time they are due, soonest first.
pub static JOBS_DUE: &Index<Job> = &JOB_INDEXES[0];
/// Jobs by status, oldest first within one.
pub static JOBS_BY_STATUS: &Index<Job> = &JOB_INDEXES[1];

/// Writes a job due now, in the caller's transaction; returns its id.
pub fn enqueue(w: &mut WriteTx<'_>, task: Task) -> Result<Uuid, StoreError> {
    enqueue_at(w, task, Utc::now())
}

/// Writes a job due at `at`.
pub fn enqueue_at(w: &mut WriteTx<'_>, task: Task, at: DateTime<Utc>) -> Result<Uuid, StoreError> {
    let now = Utc::now();
    let job = Job {
        id: Uuid::now_v7(),
        task,
        status: JobStatus::Pending,
        attempts: 0,
        last_error: None,
        run_at: at,
        created_at: now,
        updated_at: now,
    };
    w.put(&JOBS, &job.id, &job)?;
    Ok(job.id)
}

/// Writes a job under a fixed id unless it exists: what a repeatable job (one that may run twice)
/// sets off is then set off once. Returns whether it was written.
pub fn enqueue_once(w: &mut WriteTx<'_>, id: Uuid, task: Task) -> Result<bool, StoreError> {
    if w.get(&JOBS, &id)?.is_some() {
        return Ok(false);
    }
    let now = Utc::now();
    let job = Job {
        id,
        task,
        status: JobStatus::Pending,
        attempts: 0,
        last_error: None,
        run_at: now,
        created_at: now,
        updated_at: now,
    };
    w.put(&JOBS, &id, &job)?;
    Ok(true)
}

/// Makes a PENDING job due now (a client asking again need not wait for the backoff).
/// Returns the run to wait for (see [`Jobs::settled`]): the next one, or the one under way.
pub fn hurry(w: &mut WriteTx<'_>, id: Uuid) -> Result<u32, StoreError> {
    let Some(mut j) = w.get(&JOBS, &id)? else { return Ok(0) };
    if j.status != JobStatus::Pending {
        return Ok(j.attempts);
    }
    if j.run_at > Utc::now() {
        j.run_at = Utc::now();
        w.put(&JOBS, &id, &j)?;
    }
    Ok(j.attempts + 1)
}

/// DONE jobs are kept this long (for the admin view), then swept.
pub const KEEP_DONE_DAYS: i64 = 7;

/// Deletes DONE jobs last changed more than `age` ago; DEAD ones are kept until retried.
/// Returns how many went.
pub async fn sweep(store: &crate::store::Store, age: chrono::Duration) -> Result<usize, StoreError> {
    let cutoff = Utc::now() - age;
    store
        .sweep(move |w| {
            let done = (JobStatus::Done.as_str(),);
            let old: Vec<Uuid> = w
                .scan_index(&JOBS, JOBS_BY_STATUS, &done, false, crate::store::SWEEP_BATCH)?
                .into_iter()
                .take_while(|j| j.created_at < cutoff)
                .filter(|j| j.updated_at < cutoff)
                .map(|j| j.id)
                .collect();
            for id in &old {
                w.delete(&JOBS, id)?;
            }
            Ok(old.len())
        })
        .await
}

/// What is written with a job's completion, in the same transaction; returns the products it
/// changed (restocks), to be mirrored into the catalog.
pub type Finish = Box<dyn FnOnce(&mut WriteTx<'_>) -> Result<Vec<Product>, ApiError> + Send>;

/// How a run ended.
pub enum Outcome {
    /// Done; the closure's writes commit with the job's completion.
    Done(Option<Finish>),
    /// Failed, may work later: retried after a backoff, until the attempts run out.
    Retry(String),
    /// Failed for good (the provider refused): kept as DEAD at once, with `Finish` written.
    Refused(String, Option<Finish>),
}

impl Outcome {
    pub fn done() -> Outcome {
        Outcome::Done(None)
    }

    pub fn with(f: impl FnOnce(&mut WriteTx<'_>) -> Result<Vec<Product>, ApiError> + Send + 'static) -> Outcome {
        Outcome::Done(Some(Box::new(f)))
    }
}

/// Runs one job's task.
pub async fn run(state: &crate::state::AppState, job: &Job) -> Outcome {
    match &job.task {
        Task::Notify { order_id, event, notification } => {
            crate::notifications::deliver(state, job, *order_id, *event, *notification)
        }
        Task::OrderMail { order_id, event } => crate::mail::order_mail(state, job, *order_id, *event).await,
        Task::Mail { mail } => match state.mailer.deliver(mail, job).await {
            Ok(()) => Outcome::with(forget_mail_text(job.id)),
            Err(f) => f.outcome(),
        },
        Task::Refund { refund_id } => crate::payments::refunds::run(state, *refund_id).await,
        Task::CancelIntent { payment_id } => crate::payments::cancel_intent(state, *payment_id).await,
        Task::ExpireOrder { order_id } => crate::orders::expiry::run(state, *order_id),
        Task::Webhook { delivery_id } => crate::webhooks::send::run(state, *delivery_id).await,
        Task::Push { user_id, subscription_id, payload } => {
            crate::notifications::subscriptions::run(state, *user_id, *subscription_id, payload).await
        }
        Task::Sms { to, body } => match crate::notifications::sms::run(state, to, body).await {
            Outcome::Done(None) => Outcome::with(forget_mail_text(job.id)),
            other => other,
        },
    }
}

/// What is written when a job is given up (DEAD after its last attempt): a refund releases
/// what it reserved.
pub fn give_up(job: &Job, error: &str) -> Option<Finish> {
    match &job.task {
        Task::Refund { refund_id } => Some(crate::payments::refunds::failed(*refund_id, error.to_string())),
        _ => None,
    }
}

fn forget_mail_text(id: Uuid) -> impl FnOnce(&mut WriteTx<'_>) -> Result<Vec<Product>, ApiError> + Send + 'static {
    move |w| {
        if let Some(mut j) = w.get(&JOBS, &id)? {
            match &mut j.task {
                Task::Mail { mail } => {
                    mail.text.clear();
                    mail.html.clear();
                }
                Task::Sms { body, .. } => body.clear(),
                _ => return Ok(Vec::new()),
            }
            w.put(&JOBS, &id, &j)?;
        }
        Ok(Vec::new())
    }
}

/// The delay before retry number `attempt` (1 = the first retry): base × 2^(attempt−1), at most
/// an hour, ±25 % so that jobs failing together do not retry together.
pub fn backoff(base_ms: u64, attempt: u32) -> std::time::Duration {
    let exp = base_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(30)).min(3_600_000);
    let jitter = (Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0 * 0.5 + 0.75;
    std::time::Duration::from_millis((exp as f64 * jitter) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for attempt in 1..=5 {
            let d = backoff(1000, attempt).as_millis() as u64;
            let nominal = 1000 * (1 << (attempt - 1));
            assert!(d >= nominal * 3 / 4 && d <= nominal * 5 / 4, "attempt {attempt}: {d} ms");
        }
        assert!(backoff(1000, 40).as_millis() <= 3_600_000 * 5 / 4);
    }
}
