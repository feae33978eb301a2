//! What every handler can reach.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::auth::Auth;
use crate::config::Settings;
use crate::http::rate_limit::RateLimiter;
use crate::jobs::Jobs;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::payments::provider::Payments;
use crate::products::catalog::Catalog;
use crate::search::Search;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub auth: Arc<Auth>,
    pub catalog: Arc<Catalog>,
    pub search: Arc<Search>,
    pub payments: Arc<Payments>,
    pub mailer: Mailer,
    pub jobs: Jobs,
    pub metrics: Arc<Metrics>,
    pub general_limit: Arc<RateLimiter>,
    pub admin_limit: Arc<RateLimiter>,
    pub upload_limit: Arc<RateLimiter>,
    pub guest_limits: Arc<crate::orders::guest::GuestLimits>,
    pub sms_limits: Arc<crate::notifications::sms::SmsLimits>,
    /// The Web Push key pair (its public half is in `GET /shop`).
    pub vapid: Arc<crate::notifications::push::Vapid>,
    pub started: Instant,
    /// The bucket uploaded images go to instead of the data dir (`UPLOADS_S3_*`).
    pub uploads: Option<Arc<crate::uploads::bucket::Bucket>>,
}

impl AppState {
    /// Each dependency and `ok` or what is wrong with it.
    pub fn readiness(&self) -> BTreeMap<String, String> {
        let status = |ok: bool| if ok { "ok" } else { "unavailable" }.to_string();
        BTreeMap::from([
            ("store".to_string(), status(self.store.is_healthy())),
            ("search".to_string(), status(self.search.is_healthy())),
        ])
    }
}
