//! `/api/v1/admin/jobs`: the outbox as an admin sees it, and the retry of a DEAD job.

use chrono::Utc;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{Object, OpenApi};
use serde_json::json;
use uuid::Uuid;

use super::{JOBS, JOBS_BY_STATUS, Job, JobStatus, Task};
use crate::audit::{self, Actor, Event};
use crate::auth::guard::Admin;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::envelope::Reply;
use crate::state::AppState;
use crate::types::{Count, Paging};
use crate::users::timestamp;

#[derive(Debug, Object)]
#[oai(rename = "Job", rename_all = "camelCase")]
pub struct JobView {
    pub id: String,
    /// NOTIFY, ORDER_MAIL, MAIL, REFUND, CANCEL_INTENT or EXPIRE_ORDER.
    pub kind: String,
    pub status: JobStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub run_at: String,
    pub created_at: String,
}

impl Job {
    /// As an admin sees it; `running`: this process runs it now.
    pub fn view(&self, running: bool) -> JobView {
        JobView {
            id: self.id.to_string(),
            kind: self.task.kind().to_string(),
            status: if running && self.status == JobStatus::Pending { JobStatus::Running } else { self.status },
            attempts: self.attempts,
            last_error: self.last_error.clone(),
            run_at: timestamp(&self.run_at),
            created_at: timestamp(&self.created_at),
        }
    }
}

#[derive(Debug, Object)]
pub struct JobPage {
    pub jobs: Vec<JobView>,
    pub total: u64,
    pub skip: u64,
    pub limit: u64,
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound).with_message("Job not found")
}

pub struct JobsApi;

#[OpenApi(prefix_path = "/api/v1/admin/jobs", tag = "crate::openapi::Tag::Admin")]
impl JobsApi {
    /// The outbox's jobs, newest first; `status` narrows it to one status.
    #[oai(path = "/", method = "get", operation_id = "listJobs")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _admin: Admin,
        status: Query<Option<JobStatus>>,
        skip: Query<Option<Count>>,
        limit: Query<Option<Count>>,
    ) -> ApiResult<Reply<JobPage>> {
        let paging = Paging::new(skip.0, limit.0);
        let r = state.store.read()?;
        let running = |j: &Job| state.jobs.is_running(j.id);
        let show = |j: Job| Ok(j.view(running(&j)));
        let by_status = |s: JobStatus| r.scan_index(&JOBS, JOBS_BY_STATUS, &(s.as_str(),), true);
        // RUNNING jobs are PENDING in the store, and only this process knows which run.
        let (jobs, total) = match status.0 {
            Some(JobStatus::Running) => paging.page(by_status(JobStatus::Pending)?, running, show)?,
            Some(JobStatus::Pending) => paging.page(by_status(JobStatus::Pending)?, |j| !running(j), show)?,
            Some(s) => paging.page(by_status(s)?, |_| true, show)?,
            None => paging.page(r.scan(&JOBS, &(), true)?, |_| true, show)?,
        };
        Ok(Reply::ok(JobPage { jobs, total, skip: paging.skip as u64, limit: paging.limit as u64 }))
    }

    /// Run a DEAD job again, now, with a fresh count of attempts.
    #[oai(path = "/:id/retry", method = "post", operation_id = "retryJob")]
    async fn retry(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<Uuid>,
    ) -> ApiResult<Reply<JobView>> {
        let id = id.0;
        let actor = Actor::of(req, Some(admin.0.user_id));
        let job = state
            .store
            .write(move |w| {
                let mut j = w.get(&JOBS, &id)?.ok_or_else(not_found)?;
                if j.status != JobStatus::Dead {
                    return Err(ApiError::new(ErrorCode::Conflict)
                        .with_message(format!("Only a DEAD job can be retried; this one is {}", j.status.as_str())));
                }
                // A refund given up released its reservation: it is taken again, if the money
                // is still there to refund.
                if let Task::Refund { refund_id } = &j.task {
                    crate::payments::refunds::reopen(w, *refund_id)?;
                }
                j.status = JobStatus::Pending;
                j.attempts = 0;
                j.run_at = Utc::now();
                j.updated_at = j.run_at;
                w.put(&JOBS, &id, &j)?;
                audit::record(
                    w,
                    &actor,
                    Event::new("JOB_RETRY", "Job", id).metadata(json!({ "kind": j.task.kind() })),
                )?;
                Ok(j)
            })
            .await?;
        Ok(Reply::ok(job.view(false)))
    }
}
