//! Work a request starts that must finish even if the client goes away.

use std::future::Future;

use super::envelope::{PUBLIC_URL, REQUEST_ID};

/// Runs `work` to its end in a task of its own: a client that hangs up (which drops the
/// request's future) cannot stop it between a commit and what must follow it (a revocation
/// reaching the in-memory mirror, a product reaching the catalog). The task keeps the
/// request's id (its log lines and `meta.requestId` still name the request) and public URL.
pub async fn detached<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    let id = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
    let public = PUBLIC_URL.try_with(Clone::clone).ok().flatten();
    match tokio::spawn(REQUEST_ID.scope(id, PUBLIC_URL.scope(public, work))).await {
        Ok(out) => out,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
