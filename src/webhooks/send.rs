//! One try of a delivery: the job of `Task::Webhook`. The receiver's address is resolved and
//! checked here, and the request goes to exactly the address checked (the client is pinned to
//! it), never following a redirect. Every try is recorded with its status and time.

use std::time::{Duration, Instant};

use chrono::Utc;
use uuid::Uuid;

use super::{Attempt, DELIVERIES, Delivery, ENDPOINTS, address, signature};
use crate::jobs::Outcome;
use crate::state::AppState;
use crate::store::StoreError;

/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// What of a receiver's answer is kept for the admin.
const KEEP: usize = 200;

pub async fn run(state: &AppState, delivery_id: Uuid) -> Outcome {
    let found = state.store.read().and_then(|r| {
        let Some(d) = r.get(&DELIVERIES, &delivery_id)? else { return Ok(None) };
        Ok(r.get(&ENDPOINTS, &d.endpoint_id)?.map(|e| (d, e)))
    });
    let (delivery, endpoint) = match found {
        Ok(Some(found)) => found,
        // The endpoint (or the delivery) was deleted: nothing to send.
        Ok(None) => return Outcome::done(),
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    if delivery.delivered_at.is_some() || !endpoint.active {
        return Outcome::done();
    }
    let started = Instant::now();
    let (status, error) = match post(state, &endpoint.url, &endpoint.secret, &delivery).await {
        Ok(status) if (200..300).contains(&status) => (Some(status), None),
        Ok(status) => (Some(status), Some(format!("the receiver answered {status}"))),
        Err(Failed::Refused(why)) => {
            let _ = record(state, delivery_id, None, started, Some(why.clone())).await;
            return Outcome::Refused(why, None);
        }
        Err(Failed::Network(why)) => (None, Some(why)),
    };
    if let Err(e) = record(state, delivery_id, status, started, error.clone()).await {
        return Outcome::Retry(e.to_string());
    }
    match error {
        None => Outcome::done(),
        Some(e) => Outcome::Retry(e),
    }
}

enum Failed {
    /// The address may not be reached: no try will do better.
    Refused(String),
    Network(String),
}

async fn post(state: &AppState, url: &str, secret: &str, d: &Delivery) -> Result<u16, Failed> {
    let (host, port) = address::target(url).map_err(|r| Failed::Refused(r.0))?;
    let addrs = address::resolve(&host, port, state.settings.webhooks_allow_private).await.map_err(|u| match u {
        address::Unreachable::Lookup(m) => Failed::Network(m),
        address::Unreachable::Refused(r) => Failed::Refused(r.0),
    })?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .resolve_to_addrs(&host, &addrs)
        .user_agent(concat!("shopd-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Failed::Network(e.to_string()))?;
    let (id, timestamp) = (d.webhook_id(), Utc::now().timestamp());
    let answer = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature(secret, &id, timestamp, &d.body))
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| Failed::Network(without_url(&e)))?;
    Ok(answer.status().as_u16())
}

/// reqwest's message names the URL, which may hold a token of the receiver's; the log and the
/// admin see what went wrong, not where.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() { kind.to_string() } else { format!("{kind}: {detail}").chars().take(KEEP).collect() }
}

async fn record(
    state: &AppState,
    id: Uuid,
    status: Option<u16>,
    started: Instant,
    error: Option<String>,
) -> Result<(), StoreError> {
    let attempt = Attempt { at: Utc::now(), status, duration_ms: started.elapsed().as_millis() as u64, error };
    state
        .store
        .write(move |w| {
            let Some(mut d) = w.get(&DELIVERIES, &id)? else { return Ok(()) };
            if attempt.error.is_none() {
                d.delivered_at = Some(attempt.at);
            }
            d.attempts.push(attempt);
            w.put(&DELIVERIES, &id, &d)
        })
        .await
}
