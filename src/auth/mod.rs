//! Authentication: passwords, tokens, revocation, sign-in guards, and the bearer schemes that
//! hand handlers their principal.

pub mod api;
pub mod guard;
pub mod password;
pub mod tokens;
pub mod two_factor;
pub mod two_factor_api;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use uuid::Uuid;

use crate::config::Settings;
use crate::http::rate_limit::RateLimiter;
use crate::store::{Collection, Store, StoreError, WriteTx};
use password::{Cost, Passwords};
use tokens::{Claims, Jwt, REFRESH_TOKENS, REFRESH_TOKENS_BY_USER, RefreshToken, issued_ms, random_token, token_hash};

/// Access tokens revoked one by one (logout): jti → (jti, expiry in unix seconds).
pub static REVOKED_TOKENS: Collection<Uuid, (Uuid, i64)> = Collection::new("revoked_tokens");
/// Per user: every access token issued before this instant is revoked: user → (user, unix ms).
pub static SESSION_CUTOFFS: Collection<u64, (u64, i64)> = Collection::new("session_cutoffs");

/// Sign-in failures per email+IP before the account is locked for that IP.
pub const LOCKOUT_FAILURES: u32 = 5;
pub const LOCKOUT_WINDOW: Duration = Duration::from_secs(15 * 60);
pub const REFRESH_COOKIE: &str = "refreshToken";

/// Revocations, kept in the store and mirrored in memory so that checking a token is a hash
/// lookup.
#[derive(Default)]
pub struct Revocations {
    tokens: RwLock<HashMap<Uuid, i64>>,
    cutoffs: RwLock<HashMap<u64, i64>>,
}

impl Revocations {
    fn load(store: &Store) -> Result<Revocations, StoreError> {
        let r = store.read()?;
        let now = Utc::now().timestamp();
        let mut tokens = HashMap::new();
        for entry in r.scan(&REVOKED_TOKENS, &(), false)? {
            let (jti, exp) = entry?;
            if exp > now {
                tokens.insert(jti, exp);
            }
        }
        let mut cutoffs = HashMap::new();
        for entry in r.scan(&SESSION_CUTOFFS, &(), false)? {
            let (user, ms) = entry?;
            cutoffs.insert(user, ms);
        }
        Ok(Revocations { tokens: RwLock::new(tokens), cutoffs: RwLock::new(cutoffs) })
    }

    pub fn is_revoked(&self, claims: &Claims) -> bool {
        let Some(jti) = claims.jti() else { return true };
        if self.tokens.read().contains_key(&jti) {
            return true;
        }
        match (claims.user_id().and_then(|u| self.cutoffs.read().get(&u).copied()), issued_ms(&jti)) {
            (Some(cutoff), Some(issued)) => issued < cutoff,
            _ => false,
        }
    }

    /// Mirrors a committed revocation of one token.
    pub fn remember_token(&self, jti: Uuid, exp: i64) {
        let now = Utc::now().timestamp();
        let mut tokens = self.tokens.write();
        tokens.retain(|_, e| *e > now);
        tokens.insert(jti, exp);
    }

    /// Mirrors a committed revocation of all of a user's sessions.
    pub fn remember_cutoff(&self, user_id: u64, ms: i64) {
        // Keep the latest: two revocations may be answered out of order.
        self.cutoffs.write().entry(user_id).and_modify(|c| *c = (*c).max(ms)).or_insert(ms);
    }
}

/// Revokes one access token (until it would expire anyway), inside a write.
pub fn revoke_token(w: &mut WriteTx<'_>, claims: &Claims) -> Result<(), StoreError> {
    if let Some(jti) = claims.jti() {
        w.put(&REVOKED_TOKENS, &jti, &(jti, claims.exp))?;
    }
    Ok(())
}

/// Revokes every session of a user, inside a write: all access tokens issued until now and all
/// refresh tokens. Returns the cutoff to mirror after the commit.
pub fn revoke_sessions(w: &mut WriteTx<'_>, user_id: u64) -> Result<i64, StoreError> {
    // One millisecond ahead so that a token issued in this same millisecond is covered too.
    let cutoff = Utc::now().timestamp_millis() + 1;
    w.put(&SESSION_CUTOFFS, &user_id, &(user_id, cutoff))?;
    let tokens = w.scan_index(&REFRESH_TOKENS, REFRESH_TOKENS_BY_USER, &user_id, false, usize::MAX)?;
    for t in tokens {
        w.delete(&REFRESH_TOKENS, t.hash.as_str())?;
    }
    Ok(cutoff)
}

/// What every auth handler needs.
pub struct Auth {
    pub jwt: Jwt,
    pub order_tokens: tokens::OrderTokens,
    pub refresh_ttl: Duration,
    pub revocations: Revocations,
    pub passwords: Passwords,
    /// Failed sign-ins per email+IP.
    pub lockout: RateLimiter,
    /// Wrong second-factor codes per account, from every address.
    pub wrong_codes: RateLimiter,
    /// Failed requests to the credential endpoints per IP.
    pub limiter: RateLimiter,
    /// Account mails asked for (password reset, verification) per email and per IP: nobody
    /// can flood a victim's inbox through us.
    pub mail_asks: MailAsks,
    pub secure_cookies: bool,
}

/// Mails per email address, and asks per client address, in an hour.
pub const MAILS_PER_EMAIL: u32 = 3;
pub const MAIL_ASKS_PER_ADDRESS: u32 = 10;

pub struct MailAsks {
    per_email: RateLimiter,
    per_address: RateLimiter,
}

impl MailAsks {
    fn new() -> MailAsks {
        let hour = Duration::from_secs(3600);
        MailAsks {
            per_email: RateLimiter::new(MAILS_PER_EMAIL, hour),
            per_address: RateLimiter::new(MAIL_ASKS_PER_ADDRESS, hour),
        }
    }

    /// Counts an ask from `address`: over its limit, 429 `AUTH_RATE_LIMIT_EXCEEDED`.
    pub fn from_address(&self, address: &str) -> crate::error::ApiResult<()> {
        let quota = self.per_address.hit(address);
        if quota.exceeded {
            return Err(crate::error::ApiError::new(crate::error::ErrorCode::AuthRateLimitExceeded)
                .with_header("retry-after", quota.reset_secs.to_string()));
        }
        Ok(())
    }

    /// Counts a mail to `email`; false once it has had its share this hour.
    pub fn to_email(&self, email: &str) -> bool {
        !self.per_email.hit(&email.trim().to_lowercase()).exceeded
    }
}

impl Auth {
    pub fn new(settings: &Settings, store: &Store) -> anyhow::Result<Auth> {
        let secret = jwt_secret(settings)?;
        let ttl = |s: &str| crate::config::parse_duration(s).expect("validated with the settings");
        let threads = match settings.password_hash_threads {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            n => n,
        };
        let cost = Cost {
            memory_kib: settings.password_hash_memory_kib,
            iterations: settings.password_hash_iterations,
            parallelism: settings.password_hash_parallelism,
        };
        Ok(Auth {
            jwt: Jwt::new(secret.as_bytes(), ttl(&settings.jwt_expires_in)),
            order_tokens: tokens::OrderTokens::new(secret.as_bytes()),
            refresh_ttl: ttl(&settings.jwt_refresh_expires_in),
            revocations: Revocations::load(store)?,
            passwords: Passwords::start(cost, threads, 256)?,
            lockout: RateLimiter::new(LOCKOUT_FAILURES, LOCKOUT_WINDOW),
            wrong_codes: RateLimiter::new(two_factor::WRONG_CODES, LOCKOUT_WINDOW),
            mail_asks: MailAsks::new(),
            limiter: RateLimiter::new(
                settings.auth_rate_limit_max,
                Duration::from_millis(settings.rate_limit_window_ms),
            ),
            secure_cookies: settings.is_production(),
        })
    }

    /// A new refresh token for a sign-in (or a rotation within `family`): the value for the
    /// client and the record to store under its hash.
    pub fn new_refresh(&self, user_id: u64, family: Option<Uuid>) -> (String, RefreshToken) {
        let value = random_token();
        let now = Utc::now();
        let record = RefreshToken {
            hash: token_hash(&value),
            id: Uuid::now_v7(),
            user_id,
            family: family.unwrap_or_else(Uuid::now_v7),
            created_at: now,
            expires_at: now + self.refresh_ttl,
            used_at: None,
            revoked: false,
        };
        (value, record)
    }

    /// The `Set-Cookie` value carrying a refresh token (or clearing it with `None`).
    pub fn refresh_cookie(&self, value: Option<&str>) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        match value {
            Some(v) => format!(
                "{REFRESH_COOKIE}={v}; Path=/api/v1/auth; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
                self.refresh_ttl.as_secs()
            ),
            None => format!("{REFRESH_COOKIE}=; Path=/api/v1/auth; Max-Age=0; HttpOnly; SameSite=Strict{secure}"),
        }
    }
}

/// The signing secret: configured, or (outside production) generated once and kept in the data
/// dir so that tokens survive restarts.
fn jwt_secret(settings: &Settings) -> anyhow::Result<String> {
    if let Some(s) = &settings.jwt_secret {
        return Ok(s.expose().to_string());
    }
    let path = settings.data_dir.join("jwt-secret");
    load_or_create_secret(&path)
}

fn load_or_create_secret(path: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(s.trim().to_string()),
        Ok(_) | Err(_) if path.exists() => anyhow::bail!("{} is unreadable or too short", path.display()),
        _ => {}
    }
    let secret = format!("{}{}", random_token(), random_token());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    let mut file = options.open(path).with_context(|| path.display().to_string())?;
    file.write_all(secret.as_bytes()).and_then(|_| file.sync_all()).with_context(|| path.display().to_string())?;
    tracing::info!(path = %path.display(), "generated a JWT signing secret for this data dir");
    Ok(secret)
}

/// When a sign-in lock on `key` ends, if locked.
pub fn locked_for(auth: &Auth, key: &str) -> Option<u64> {
    let q = auth.lockout.check(key);
    q.exceeded.then_some(q.reset_secs)
}

pub fn lockout_key(email: &str, ip: &str) -> String {
    format!("{}|{ip}", email.trim().to_lowercase())
}

pub type Timestamp = DateTime<Utc>;

/// Deletes what can no longer be used: expired refresh tokens, expired or spent one-time tokens
/// and revocations of tokens that have expired anyway. Finds them on a snapshot, deletes in small
/// transactions so that the writer is never held long. Returns how many records went.
pub async fn sweep(store: &Store) -> Result<usize, StoreError> {
    use tokens::{ONE_TIME_TOKENS, REFRESH_TOKENS};
    let now = Utc::now();
    let (refresh, one_time, revoked) = {
        let r = store.read()?;
        let refresh: Vec<String> = r
            .scan(&REFRESH_TOKENS, &(), false)?
            .filter_map(Result::ok)
            .filter(|t| t.expires_at < now)
            .map(|t| t.hash)
            .collect();
        let one_time: Vec<String> = r
            .scan(&ONE_TIME_TOKENS, &(), false)?
            .filter_map(Result::ok)
            .filter(|t| t.expires_at < now || t.used_at.is_some_and(|u| u < now - chrono::Duration::days(1)))
            .map(|t| t.hash)
            .collect();
        let revoked: Vec<Uuid> = r
            .scan(&REVOKED_TOKENS, &(), false)?
            .filter_map(Result::ok)
            .filter(|(_, exp)| *exp < now.timestamp())
            .map(|(jti, _)| jti)
            .collect();
        (refresh, one_time, revoked)
    };
    let total = refresh.len() + one_time.len() + revoked.len();
    for chunk in refresh.chunks(500) {
        let chunk = chunk.to_vec();
        store.write(move |w| chunk.iter().try_for_each(|h| w.delete(&REFRESH_TOKENS, h.as_str()).map(drop))).await?;
    }
    for chunk in one_time.chunks(500) {
        let chunk = chunk.to_vec();
        store.write(move |w| chunk.iter().try_for_each(|h| w.delete(&ONE_TIME_TOKENS, h.as_str()).map(drop))).await?;
    }
    for chunk in revoked.chunks(500) {
        let chunk = chunk.to_vec();
        store.write(move |w| chunk.iter().try_for_each(|j| w.delete(&REVOKED_TOKENS, j).map(drop))).await?;
    }
    Ok(total)
}
