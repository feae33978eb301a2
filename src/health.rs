//! Liveness, readiness and metrics: what a load balancer, an orchestrator or Prometheus asks.

use std::collections::BTreeMap;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{IntoResponse, Response, handler};
use poem_openapi::{Object, OpenApi};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::envelope::Reply;
use crate::state::AppState;

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: String,
    pub version: String,
    pub uptime_seconds: u64,
}

#[derive(Debug, Object)]
pub struct Readiness {
    /// `ready`
    pub status: String,
    /// Each dependency and whether it answered (`ok`).
    pub checks: BTreeMap<String, String>,
}

pub struct HealthApi;

#[OpenApi(tag = "crate::openapi::Tag::Operations")]
impl HealthApi {
    /// Liveness: the process answers.
    #[oai(path = "/health", method = "get", operation_id = "getHealth")]
    async fn health(&self, state: Data<&AppState>) -> Reply<Health> {
        Reply::ok(Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_seconds: state.started.elapsed().as_secs(),
        })
    }

    /// Readiness: 200 when storage (and, once it exists, search) answers; 503 otherwise.
    #[oai(path = "/ready", method = "get", operation_id = "getReadiness")]
    async fn ready(&self, state: Data<&AppState>) -> ApiResult<Reply<Readiness>> {
        // A store whose last commit failed (a full disk) tries again here, so it comes back
        // without a restart even when no client writes.
        let _ = state.store.probe().await;
        let checks = state.readiness();
        if checks.values().all(|v| v == "ok") {
            Ok(Reply::ok(Readiness { status: "ready".into(), checks }))
        } else {
            Err(ApiError::new(ErrorCode::ServiceUnavailable)
                .with_message("Not ready: a dependency does not answer")
                .with_details(serde_json::to_value(&checks).expect("a map of strings")))
        }
    }
}

/// Prometheus text exposition.
#[handler]
pub fn metrics(req: &poem::Request, state: Data<&AppState>) -> Response {
    if let Some(token) = &state.settings.metrics_token {
        let given = req.header("authorization").and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default();
        // Compared by their hashes: the time taken tells nothing of the token.
        if crate::types::fingerprint(&given) != crate::types::fingerprint(&token.expose()) {
            return ApiError::new(ErrorCode::Unauthorized).with_header("www-authenticate", "Bearer").into_response();
        }
    }
    let (store_commits, store_writes) = state.store.stats();
    let (search_hits, search_misses) = state.search.cache_stats();
    let (facet_hits, facet_misses) = state.catalog.facet_stats();
    let (page_hits, page_misses) = state.catalog.pages.stats();
    state.metrics.sync(crate::metrics::Totals {
        store_commits,
        store_writes,
        search_hits,
        search_misses,
        facet_hits,
        facet_misses,
        page_hits,
        page_misses,
    });
    state.metrics.jobs(&state.jobs.counts());
    state.metrics.disk_free(crate::store::disk::free_bytes(&state.settings.data_dir));
    state
        .metrics
        .render()
        .with_content_type("text/plain; version=0.0.4; charset=utf-8")
        .with_status(StatusCode::OK)
        .into_response()
}
