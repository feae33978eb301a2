//! Work a request starts that must finish even if the client goes away.

use std::future::Future;

use super::envelope::REQUEST_ID;

/// Runs `work` to its end in a task of its own: a client that hangs up (which drops the
/// request's future) cannot stop it between a commit and what must follow it (a revocation
/// reaching the in-memory mirror, a product reaching the catalog). The task keeps the
/// request's id, so its log lines and its envelope's `meta.requestId` still name the request.
pub async fn detached<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    let id = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
    match tokio::spawn(REQUEST_ID.scope(id, work)).await {
        Ok(out) => out,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
