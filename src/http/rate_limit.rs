//! In-memory fixed-window rate limits per client key (the IP), with the standard `RateLimit-*`
//! headers. The general limit applies to `/api/` but the document; the auth and upload limits use the same
//! [`RateLimiter`] from their handlers.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client_ip::client_key;
use parking_lot::Mutex;
use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use crate::error::{ApiError, ErrorCode};

const SHARDS: usize = 16;

struct Window {
    started: Instant,
    count: u32,
}

/// Counts hits per key in fixed windows. Sharded so that concurrent requests rarely contend.
pub struct RateLimiter {
    pub max: u32,
    pub window: Duration,
    shards: Vec<Mutex<HashMap<String, Window>>>,
    hasher: RandomState,
}

/// The state of one key after a hit or a check.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets (at least 1).
    pub reset_secs: u64,
    pub exceeded: bool,
}

impl RateLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        RateLimiter {
            max,
            window,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Window>> {
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }

    fn quota(&self, w: &Window, now: Instant, exceeded: bool) -> Quota {
        let left = self.window.saturating_sub(now.duration_since(w.started));
        Quota {
            limit: self.max,
            remaining: self.max.saturating_sub(w.count),
            reset_secs: left.as_secs_f64().ceil().max(1.0) as u64,
            exceeded,
        }
    }

    /// Counts one hit for `key`; `exceeded` when it is over the limit (the hit is still counted,
    /// as express-rate-limit does, so hammering does not shorten the wait).
    pub fn hit(&self, key: &str) -> Quota {
        self.update(key, 1)
    }

    /// The state of `key` without counting anything; `exceeded` when it is at the limit.
    pub fn check(&self, key: &str) -> Quota {
        self.update(key, 0)
    }

    fn update(&self, key: &str, add: u32) -> Quota {
        let now = Instant::now();
        let mut shard = self.shard(key).lock();
        if shard.len() > 4096 {
            // Forget finished windows now and then so memory follows the active clients only.
            shard.retain(|_, w| now.duration_since(w.started) < self.window);
        }
        let w = shard.entry(key.to_string()).or_insert(Window { started: now, count: 0 });
        if now.duration_since(w.started) >= self.window {
            *w = Window { started: now, count: 0 };
        }
        w.count = w.count.saturating_add(add);
        let exceeded = if add > 0 { w.count > self.max } else { w.count >= self.max };
        self.quota(w, now, exceeded)
    }

    /// Takes back one hit (counted up front, the attempt then turned out not to count).
    pub fn refund(&self, key: &str) {
        if let Some(w) = self.shard(key).lock().get_mut(key) {
            w.count = w.count.saturating_sub(1);
        }
    }

    /// Starts `key`'s window again from now, keeping its count: a lock runs its full length
    /// from the failure that set it.
    pub fn restart(&self, key: &str) -> Quota {
        let now = Instant::now();
        let mut shard = self.shard(key).lock();
        match shard.get_mut(key) {
            Some(w) => {
                w.started = now;
                let exceeded = w.count >= self.max;
                self.quota(w, now, exceeded)
            }
            None => Quota {
                limit: self.max,
                remaining: self.max,
                reset_secs: self.window.as_secs().max(1),
                exceeded: false,
            },
        }
    }

    /// Forgets `key` (a successful login clears its failures).
    pub fn reset(&self, key: &str) {
        self.shard(key).lock().remove(key);
    }

    /// Writes the `RateLimit-*` headers (IETF draft 6, as express-rate-limit sends them).
    pub fn headers(&self, quota: &Quota, resp: &mut Response) {
        let h = resp.headers_mut();
        h.insert("ratelimit-limit", HeaderValue::from(quota.limit));
        h.insert("ratelimit-remaining", HeaderValue::from(quota.remaining));
        h.insert("ratelimit-reset", HeaderValue::from(quota.reset_secs));
        if let Ok(v) = HeaderValue::from_str(&format!("{};w={}", self.max, self.window.as_secs().max(1))) {
            h.insert("ratelimit-policy", v);
        }
    }

    /// The 429 for an exceeded quota, with its headers and `Retry-After`.
    pub fn refusal(&self, quota: &Quota, code: ErrorCode) -> Response {
        let mut resp = ApiError::new(code).with_header("retry-after", quota.reset_secs.to_string()).into_response();
        self.headers(quota, &mut resp);
        resp
    }
}

/// The general limit over `/api/` routes, per client IP; a request with a valid ADMIN token
/// counts against a limit of its own per admin instead, so a shop's staff behind one office
/// address cannot lock each other out.
pub struct GeneralLimit {
    pub per_ip: Arc<RateLimiter>,
    pub per_admin: Arc<RateLimiter>,
    /// The admin a request is made by, if its bearer token is a valid ADMIN token.
    pub admin_of: fn(&Request) -> Option<u64>,
}

impl<E: Endpoint> Middleware<E> for GeneralLimit {
    type Output = GeneralLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        GeneralLimitEndpoint {
            inner,
            per_ip: self.per_ip.clone(),
            per_admin: self.per_admin.clone(),
            admin_of: self.admin_of,
        }
    }
}

pub struct GeneralLimitEndpoint<E> {
    inner: E,
    per_ip: Arc<RateLimiter>,
    per_admin: Arc<RateLimiter>,
    admin_of: fn(&Request) -> Option<u64>,
}

/// Paths the general limit never counts: a client must always be able to read the document.
pub fn is_exempt(path: &str) -> bool {
    !path.starts_with("/api/") || path == "/api/v1/openapi.json"
}

impl<E: Endpoint> Endpoint for GeneralLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        // One call of the inner endpoint, not one per branch: each `.await` of it would take its
        // own room in this future, and futures are copied whole as they are handed up.
        let counted = if is_exempt(req.uri().path()) {
            None
        } else {
            let (limiter, key) = match (self.admin_of)(&req) {
                Some(admin) => (&self.per_admin, format!("admin:{admin}")),
                None => (&self.per_ip, client_key(&req)),
            };
            let quota = limiter.hit(&key);
            if quota.exceeded {
                return Ok(limiter.refusal(&quota, ErrorCode::RateLimitExceeded));
            }
            Some((limiter, quota))
        };
        // Errors were rendered by the catch layer below, so this sees every response.
        let mut resp = self.inner.call(req).await?.into_response();
        if let Some((limiter, quota)) = counted {
            limiter.headers(&quota, &mut resp);
        }
        Ok(resp)
    }
}

/// The upload limit: counted when an upload request arrives, before its body is read.
pub struct UploadLimit(pub Arc<RateLimiter>);

/// The routes that take uploaded files.
pub fn is_upload(req: &Request) -> bool {
    let path = req.uri().path();
    req.method() == poem::http::Method::POST
        && (path == "/api/v1/users/me/avatar" || (path.starts_with("/api/v1/products/") && path.ends_with("/images")))
}

impl<E: Endpoint> Middleware<E> for UploadLimit {
    type Output = UploadLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        UploadLimitEndpoint { inner, limiter: self.0.clone() }
    }
}

pub struct UploadLimitEndpoint<E> {
    inner: E,
    limiter: Arc<RateLimiter>,
}

impl<E: Endpoint> Endpoint for UploadLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if is_upload(&req) {
            let quota = self.limiter.hit(&client_key(&req));
            if quota.exceeded {
                return Ok(self.limiter.refusal(&quota, ErrorCode::UploadRateLimitExceeded));
            }
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}
