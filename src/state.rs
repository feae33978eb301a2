//! What every handler can reach.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::auth::Auth;
use crate::config::Settings;
use crate::http::rate_limit::RateLimiter;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub auth: Arc<Auth>,
    pub mailer: Mailer,
    pub metrics: Arc<Metrics>,
    pub general_limit: Arc<RateLimiter>,
    pub upload_limit: Arc<RateLimiter>,
    pub started: Instant,
}

impl AppState {
    /// Each dependency and `ok` or what is wrong with it.
    pub fn readiness(&self) -> BTreeMap<String, String> {
        let store = if self.store.is_healthy() { "ok" } else { "unavailable" };
        BTreeMap::from([("store".to_string(), store.to_string())])
    }
}
