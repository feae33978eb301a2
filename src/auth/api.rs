//! `/api/v1/auth`: registration, sign-in, tokens, passwords and email verification.

use std::future::Future;

use chrono::{Duration as Span, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Cookie;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use serde_json::json;

use super::guard::Bearer;
use super::tokens::{
    Issued, ONE_TIME_TOKENS, ONE_TIME_TOKENS_BY_USER, OneTimeToken, Purpose, REFRESH_TOKENS, random_token, token_hash,
};
use super::two_factor::{self, Offered, TWO_FACTOR};
use super::{locked_for, lockout_key, revoke_sessions, revoke_token};
use crate::audit::{self, Actor, Event};
use crate::error::{ApiError, ApiResult, ErrorCode, OnConflict};
use crate::http::client_ip::client_key;
use crate::http::detached::detached;
use crate::http::envelope::{CookieReply, Created, Nothing, Reply};
use crate::http::json::{JsonBody, OptionalJson};
use crate::jobs::{self, Task};
use crate::mail::templates::{Loaded, RESET_PASSWORD, VERIFY_EMAIL};
use crate::metrics::SignIn;
use crate::state::AppState;
use crate::store::{StoreError, WriteTx};
use crate::users::{Check, NewPassword, Role, USERS, User, UserView};

const VERIFY_TTL_HOURS: i64 = 24;
const RESET_TTL_HOURS: i64 = 1;

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct RegisterBody {
    #[oai(validator(max_length = 254, pattern = r"^\s*[^@\s]+@[^@\s.]+(\.[^@\s.]+)+\s*$"))]
    pub email: String,
    pub password: NewPassword,
    #[oai(validator(pattern = r"^\s*\S[\s\S]{0,48}\S\s*$"))]
    pub first_name: String,
    #[oai(validator(pattern = r"^\s*\S[\s\S]{0,48}\S\s*$"))]
    pub last_name: String,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,28}\S)?\s*$"))]
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct LoginBody {
    #[oai(validator(max_length = 254, pattern = r"^\s*[^@\s]+@[^@\s.]+(\.[^@\s.]+)+\s*$"))]
    pub email: String,
    #[oai(validator(min_length = 1))]
    pub password: String,
    /// For an account with two-factor sign-in: the 6 digits its authenticator app shows.
    pub code: Option<String>,
    /// Or one of its recovery codes (each works once).
    pub recovery_code: Option<String>,
}

#[derive(Debug, Deserialize, Object)]
pub struct EmailBody {
    #[oai(validator(max_length = 254, pattern = r"^\s*[^@\s]+@[^@\s.]+(\.[^@\s.]+)+\s*$"))]
    pub email: String,
}

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct ResetBody {
    pub token: String,
    pub new_password: NewPassword,
}

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct ChangePasswordBody {
    #[oai(validator(min_length = 1))]
    pub current_password: String,
    pub new_password: NewPassword,
}

#[derive(Debug, Deserialize, Object)]
pub struct TokenBody {
    pub token: String,
}

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct RefreshBody {
    pub refresh_token: Option<String>,
}

#[derive(Debug, Object)]
pub struct Registered {
    pub user: UserView,
    /// The access token.
    pub token: String,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SignedIn {
    pub user: UserView,
    pub token: String,
    pub expires_at: String,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Refreshed {
    pub token: String,
    pub expires_at: String,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct BriefUser {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Validity {
    pub is_valid: bool,
    pub user: BriefUser,
}

/// Runs a credential endpoint under the auth rate limit: refused with 429 once an IP has had
/// `auth_rate_limit_max` failed attempts in the window; only failures count.
pub(crate) async fn limited<T>(
    state: &AppState,
    req: &Request,
    work: impl Future<Output = ApiResult<T>>,
) -> ApiResult<T> {
    if !state.settings.rate_limit_enabled {
        return work.await;
    }
    // Counted before the work and refunded on success, so that parallel attempts cannot
    // all slip in while the first ones are still hashing.
    let ip = client_key(req);
    let quota = state.auth.limiter.hit(&ip);
    if quota.exceeded {
        state.auth.limiter.refund(&ip);
        return Err(
            ApiError::new(ErrorCode::AuthRateLimitExceeded).with_header("retry-after", quota.reset_secs.to_string())
        );
    }
    let out = work.await;
    // A right password that still needs its second factor is a step of a sign-in, not a failure.
    if out.as_ref().is_ok() || out.as_ref().is_err_and(|e| e.code == ErrorCode::TwoFactorRequired) {
        state.auth.limiter.refund(&ip);
    }
    out
}

/// Checks the password of a signed-in user the way a sign-in is checked: under the per-IP auth
/// limit and the per-account lockout (a wrong one counts as a failed sign-in, the fifth locks the
/// account for 15 minutes), so a stolen access token cannot be used to guess the password.
/// A wrong password is `wrong`.
pub(crate) async fn verify_counted(
    state: &AppState,
    req: &Request,
    user: &User,
    password: &str,
    wrong: ErrorCode,
) -> ApiResult<()> {
    let lock_key = lockout_key(&user.email, &client_key(req));
    if let Some(retry) = locked_for(&state.auth, &lock_key) {
        return Err(locked(retry));
    }
    limited(state, req, async {
        let quota = state.auth.lockout.hit(&lock_key);
        if quota.exceeded {
            return Err(locked(quota.reset_secs));
        }
        if !state.auth.passwords.verify(password, Some(&user.password_hash)).await? {
            if quota.remaining == 0 {
                return Err(locked(state.auth.lockout.restart(&lock_key).reset_secs));
            }
            return Err(ApiError::new(wrong));
        }
        state.auth.lockout.reset(&lock_key);
        Ok(())
    })
    .await
}

/// Issues a single-use token for `purpose`, replacing any earlier one; returns its value.
pub fn issue_one_time(w: &mut WriteTx<'_>, user_id: u64, purpose: Purpose, hours: i64) -> Result<String, StoreError> {
    for old in w.scan_index(&ONE_TIME_TOKENS, ONE_TIME_TOKENS_BY_USER, &(user_id, purpose as u8), false, usize::MAX)? {
        w.delete(&ONE_TIME_TOKENS, old.hash.as_str())?;
    }
    let value = random_token();
    let hash = token_hash(&value);
    let record = OneTimeToken {
        hash: hash.clone(),
        user_id,
        purpose,
        expires_at: Utc::now() + Span::hours(hours),
        used_at: None,
    };
    w.put(&ONE_TIME_TOKENS, hash.as_str(), &record)?;
    Ok(value)
}

/// Spends a single-use token: the user it was for, or `INVALID_TOKEN` (400) when it is unknown,
/// used, expired or for another purpose.
fn spend_one_time(w: &mut WriteTx<'_>, value: &str, purpose: Purpose) -> ApiResult<u64> {
    let invalid = || ApiError::new(ErrorCode::InvalidToken).with_status(poem::http::StatusCode::BAD_REQUEST);
    let hash = token_hash(value);
    let mut token = w.get(&ONE_TIME_TOKENS, hash.as_str())?.ok_or_else(invalid)?;
    if token.purpose != purpose || token.used_at.is_some() || token.expires_at < Utc::now() {
        return Err(invalid());
    }
    token.used_at = Some(Utc::now());
    w.put(&ONE_TIME_TOKENS, hash.as_str(), &token)?;
    Ok(token.user_id)
}

fn link(client_url: &str, path: &str, token: &str) -> String {
    format!("{}/{path}?token={token}", client_url.trim_end_matches('/'))
}

/// Issues a reset token for an active account with this email; its mail is enqueued in the same
/// write.
async fn send_reset_link(state: &AppState, email: &str, actor: Actor) -> ApiResult<()> {
    let Some(user) = User::find_by_email(&state.store.read()?, email)?.filter(|u| u.is_active) else { return Ok(()) };
    let id = user.id;
    let actor = actor.as_user(id);
    let client_url = state.settings.client_url.clone();
    let template = RESET_PASSWORD.load(&state.settings.data_dir).await;
    state
        .store
        .write(move |w| {
            let token = issue_one_time(w, id, Purpose::ResetPassword, RESET_TTL_HOURS)?;
            audit::record(w, &actor, Event::new("PASSWORD_RESET_REQUESTED", "User", id))?;
            let link = link(&client_url, "reset-password", &token);
            let mail = template.render(&user.email, &[("name", &user.first_name), ("link", &link)]);
            jobs::enqueue(w, Task::Mail { mail })?;
            Ok::<_, StoreError>(())
        })
        .await?;
    Ok(())
}

/// The verification mail's template with the shop's overrides: loaded before the write that
/// calls [`enqueue_verification`].
pub async fn verification_template(state: &AppState) -> Loaded {
    VERIFY_EMAIL.load(&state.settings.data_dir).await
}

/// Enqueues the verification mail of `user`, in the write that issued its token.
pub fn enqueue_verification(
    w: &mut WriteTx<'_>,
    template: &Loaded,
    client_url: &str,
    user: &User,
    token: &str,
) -> Result<(), StoreError> {
    let link = link(client_url, "verify-email", token);
    let mail = template.render(&user.email, &[("name", &user.first_name), ("link", &link)]);
    jobs::enqueue(w, Task::Mail { mail }).map(drop)
}

const FORGOT_ANSWER: &str = "If an account exists for this email, a password reset link has been sent";

fn invalid_credentials() -> ApiError {
    ApiError::new(ErrorCode::InvalidCredentials)
}

pub(crate) fn locked(retry_after: u64) -> ApiError {
    ApiError::new(ErrorCode::AccountLocked)
        .with_message("Too many failed sign-ins: the account is locked for a while")
        .with_header("retry-after", retry_after.to_string())
}

pub struct AuthApi;

#[OpenApi(prefix_path = "/api/v1/auth", tag = "crate::openapi::Tag::Auth")]
impl AuthApi {
    /// Create an account. Mails a link to verify the email address.
    #[oai(path = "/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<RegisterBody>,
    ) -> ApiResult<Created<Registered>> {
        limited(&state, req, async {
            let b = body.0;
            let mut check = Check::default();
            check.email("email", &b.email);
            check.password("password", &b.password);
            check.name("firstName", &b.first_name);
            check.name("lastName", &b.last_name);
            if let Some(p) = &b.phone {
                check.required("phone", p, 30);
            }
            check.finish()?;
            let hash = state.auth.passwords.hash(&b.password).await?;
            let actor = Actor::of(req, None);
            let client_url = state.settings.client_url.clone();
            let template = verification_template(&state).await;
            let user = state
                .store
                .write(move |w| {
                    let id = w.next_id(&USERS)?;
                    let name = (b.first_name.trim().to_string(), b.last_name.trim().to_string());
                    let user = User {
                        phone: b.phone.map(|p| p.trim().to_string()).filter(|p| !p.is_empty()),
                        ..User::new(id, b.email.trim().to_string(), hash, name, Role::User)
                    };
                    w.put(&USERS, &id, &user).on_conflict(ErrorCode::EmailExists)?;
                    let token = issue_one_time(w, id, Purpose::VerifyEmail, VERIFY_TTL_HOURS)?;
                    enqueue_verification(w, &template, &client_url, &user, &token)?;
                    audit::record(w, &actor.as_user(id), Event::new("REGISTER", "User", id))?;
                    Ok::<_, ApiError>(user)
                })
                .await?;
            let access = state.auth.jwt.issue(&user)?;
            Ok(Created::with(Registered { user: user.view(), token: access.token }, "User registered successfully"))
        })
        .await
    }

    /// Sign in: an access token in the body, a refresh token in an HttpOnly cookie.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<LoginBody>,
    ) -> ApiResult<CookieReply<SignedIn>> {
        let b = body.0;
        let mut check = Check::default();
        check.email("email", &b.email);
        if b.password.is_empty() {
            check.add("password", "Password is required");
        }
        check.finish()?;
        // A locked account is told so (423) before the per-IP limit (429) is considered.
        let lock_key = lockout_key(&b.email, &client_key(req));
        if let Some(retry) = locked_for(&state.auth, &lock_key) {
            state.metrics.sign_in(SignIn::Locked);
            return Err(locked(retry));
        }
        limited(&state, req, async {
            // Counted before the hash, like the IP limit; cleared on success.
            let quota = state.auth.lockout.hit(&lock_key);
            if quota.exceeded {
                state.metrics.sign_in(SignIn::Locked);
                return Err(locked(quota.reset_secs));
            }
            let user = User::find_by_email(&state.store.read()?, &b.email)?;
            let ok = state.auth.passwords.verify(&b.password, user.as_ref().map(|u| u.password_hash.as_str())).await?;
            let actor = Actor::of(req, user.as_ref().map(|u| u.id));
            let entity_id = user.as_ref().map(|u| u.id.to_string()).unwrap_or_default();
            let Some(user) = user.filter(|_| ok) else {
                // The fifth failure locks, for the full 15 minutes from now.
                let now_locked = quota.remaining == 0;
                let retry = if now_locked { state.auth.lockout.restart(&lock_key).reset_secs } else { 0 };
                let email = b.email.trim().to_lowercase();
                state
                    .store
                    .write(move |w| {
                        let failed = Event::new("LOGIN_FAILED", "User", &entity_id).metadata(json!({ "email": email }));
                        audit::record(w, &actor, failed)?;
                        if now_locked {
                            let meta = json!({ "email": email, "attempts": super::LOCKOUT_FAILURES });
                            audit::record(w, &actor, Event::new("ACCOUNT_LOCKED", "User", &entity_id).metadata(meta))?;
                        }
                        Ok::<_, StoreError>(())
                    })
                    .await?;
                state.metrics.sign_in(if now_locked { SignIn::Locked } else { SignIn::Failure });
                return Err(if now_locked { locked(retry) } else { invalid_credentials() });
            };
            if !user.is_active {
                state.metrics.sign_in(SignIn::Locked);
                return Err(ApiError::new(ErrorCode::AccountLocked).with_message("This account is deactivated"));
            }
            let offered = Offered { code: b.code.clone(), recovery_code: b.recovery_code.clone() };
            let codes_key = format!("2fa:{}", user.id);
            if user.two_factor_enabled {
                if offered.is_empty() {
                    return Err(ApiError::new(ErrorCode::TwoFactorRequired));
                }
                // Wrong codes lock the account from every address, not only this one.
                let q = state.auth.wrong_codes.check(&codes_key);
                if q.exceeded {
                    state.metrics.sign_in(SignIn::Locked);
                    return Err(locked(q.reset_secs));
                }
            }
            let (refresh, record) = state.auth.new_refresh(user.id, None);
            let auth = state.auth.clone();
            let checked_hash = user.password_hash.clone();
            let login_actor = actor.clone();
            // The tokens are issued inside the write, from the user as stored then: a password
            // reset, deactivation or role change committed meanwhile either refuses this sign-in
            // or comes after it and revokes what it issued. The second factor is spent in it too:
            // two sign-ins with one code cannot both succeed.
            let signed_in = state
                .store
                .write(move |w| {
                    let fresh =
                        w.get(&USERS, &record.user_id)?.filter(|u| u.is_active && u.password_hash == checked_hash);
                    let fresh = fresh.ok_or_else(invalid_credentials)?;
                    if fresh.two_factor_enabled {
                        let mut second = w.get(&TWO_FACTOR, &fresh.id)?.ok_or_else(two_factor::invalid_code)?;
                        if !two_factor::spend(w, &mut second, &fresh.email, &offered)? {
                            return Err(two_factor::invalid_code());
                        }
                    }
                    let access = auth.jwt.issue(&fresh)?;
                    w.put(&REFRESH_TOKENS, record.hash.as_str(), &record)?;
                    audit::record(w, &login_actor, Event::new("LOGIN", "User", fresh.id))?;
                    Ok::<_, ApiError>((fresh, access))
                })
                .await;
            let (user, access) = match signed_in {
                Err(e) if e.code == ErrorCode::InvalidTwoFactorCode => {
                    // Counted like a failed sign-in, and per account from every address.
                    let quota = state.auth.wrong_codes.hit(&codes_key);
                    let now_locked = quota.remaining == 0;
                    let (user_id, entity) = (user.id, user.id.to_string());
                    state
                        .store
                        .write(move |w| {
                            let failed = Event::new("LOGIN_FAILED", "User", &entity)
                                .metadata(json!({ "reason": "two-factor code" }));
                            audit::record(w, &actor, failed)?;
                            if now_locked {
                                let meta = json!({ "reason": "two-factor codes", "attempts": two_factor::WRONG_CODES });
                                audit::record(w, &actor, Event::new("ACCOUNT_LOCKED", "User", user_id).metadata(meta))?;
                            }
                            Ok::<_, StoreError>(())
                        })
                        .await?;
                    state.metrics.sign_in(if now_locked { SignIn::Locked } else { SignIn::Failure });
                    return Err(if now_locked { locked(quota.reset_secs) } else { e });
                }
                other => other?,
            };
            state.auth.lockout.reset(&lock_key);
            state.auth.wrong_codes.reset(&codes_key);
            let data = SignedIn {
                user: user.view(),
                token: access.token,
                expires_at: crate::users::timestamp(&access.expires_at),
            };
            state.metrics.sign_in(SignIn::Success);
            Ok(CookieReply::ok(data, "Login successful", state.auth.refresh_cookie(Some(&refresh))))
        })
        .await
    }

    /// Whether the access token is valid, and whose it is.
    #[oai(path = "/validate", method = "get", operation_id = "validateToken")]
    async fn validate(&self, state: Data<&AppState>, auth: Bearer) -> ApiResult<Reply<Validity>> {
        let user = state.store.read()?.get(&USERS, &auth.0.user_id)?.filter(|u| u.is_active);
        let user = user.ok_or_else(|| ApiError::new(ErrorCode::InvalidToken))?;
        let brief = BriefUser {
            id: user.id,
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            role: user.role,
        };
        Ok(Reply::ok_with(Validity { is_valid: true, user: brief }, "Token is valid"))
    }

    /// Sign out: revokes this access token and the refresh token (cookie or body), clears the
    /// cookie.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Bearer,
        #[oai(name = "refreshToken")] cookie: Cookie<Option<String>>,
        body: OptionalJson<RefreshBody>,
    ) -> ApiResult<CookieReply<Nothing>> {
        let principal = auth.0;
        let actor = Actor::of(req, Some(principal.user_id));
        let refresh_hash = cookie.0.or(body.0.and_then(|b| b.refresh_token)).as_deref().map(token_hash);
        let state = state.clone();
        detached(async move {
            let claims = principal.claims.clone();
            state
                .store
                .write(move |w| {
                    revoke_token(w, &claims)?;
                    if let Some(hash) = refresh_hash {
                        // Only the caller's own token: a token of another account is ignored.
                        if w.get(&REFRESH_TOKENS, hash.as_str())?.is_some_and(|t| t.user_id == principal.user_id) {
                            w.delete(&REFRESH_TOKENS, hash.as_str())?;
                        }
                    }
                    audit::record(w, &actor, Event::new("LOGOUT", "User", principal.user_id))
                })
                .await?;
            if let Some(jti) = principal.claims.jti() {
                state.auth.revocations.remember_token(jti, principal.claims.exp);
            }
            Ok(CookieReply::ok(Nothing, "Logged out successfully", state.auth.refresh_cookie(None)))
        })
        .await
    }

    /// A new access token for a refresh token (cookie, or `refreshToken` in the body). The
    /// refresh token is rotated; presenting a rotated one again revokes every session of its user.
    #[oai(path = "/refresh", method = "post", operation_id = "refreshToken")]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        req: &Request,
        #[oai(name = "refreshToken")] cookie: Cookie<Option<String>>,
        body: OptionalJson<RefreshBody>,
    ) -> ApiResult<CookieReply<Refreshed>> {
        let invalid = || ApiError::new(ErrorCode::InvalidRefreshToken);
        let value = cookie.0.or(body.0.and_then(|b| b.refresh_token)).filter(|v| !v.is_empty()).ok_or_else(invalid)?;
        let hash = token_hash(&value);
        let (next, next_record) = {
            let r = state.store.read()?;
            let token = r.get(&REFRESH_TOKENS, hash.as_str())?.ok_or_else(invalid)?;
            state.auth.new_refresh(token.user_id, Some(token.family))
        };
        let actor = Actor::of(req, Some(next_record.user_id));
        enum Outcome {
            Rotated(Box<Issued>),
            Reused(u64, i64),
        }
        let state = state.clone();
        detached(async move {
            let auth = state.auth.clone();
            let outcome = state
                .store
                .write(move |w| {
                    let Some(mut token) = w.get(&REFRESH_TOKENS, hash.as_str())? else { return Err(invalid()) };
                    if token.used_at.is_some() {
                        // A rotated token came back: someone holds a copy. End every session.
                        let cutoff = revoke_sessions(w, token.user_id)?;
                        audit::record(w, &actor, Event::new("REFRESH_TOKEN_REUSE", "User", token.user_id))?;
                        return Ok(Outcome::Reused(token.user_id, cutoff));
                    }
                    let user = w.get(&USERS, &token.user_id)?.filter(|u| u.is_active);
                    let (Some(user), false) = (user, token.revoked || token.expires_at < Utc::now()) else {
                        return Err(invalid());
                    };
                    token.used_at = Some(Utc::now());
                    w.put(&REFRESH_TOKENS, hash.as_str(), &token)?;
                    w.put(&REFRESH_TOKENS, next_record.hash.as_str(), &next_record)?;
                    // Issued inside the write: a revocation committed later covers it.
                    Ok(Outcome::Rotated(Box::new(auth.jwt.issue(&user)?)))
                })
                .await?;
            match outcome {
                Outcome::Reused(user_id, cutoff) => {
                    state.auth.revocations.remember_cutoff(user_id, cutoff);
                    tracing::warn!(
                        user_id,
                        "a rotated refresh token was reused; all sessions of the user were revoked"
                    );
                    Err(invalid())
                }
                Outcome::Rotated(access) => {
                    let data =
                        Refreshed { token: access.token, expires_at: crate::users::timestamp(&access.expires_at) };
                    Ok(CookieReply::ok(data, "Token refreshed successfully", state.auth.refresh_cookie(Some(&next))))
                }
            }
        })
        .await
    }

    /// Mails a single-use password reset link (valid 1 hour). Always 200, answered at once:
    /// neither the answer nor its timing shows whether an account exists.
    #[oai(path = "/forgot-password", method = "post", operation_id = "forgotPassword")]
    async fn forgot_password(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<EmailBody>,
    ) -> ApiResult<Reply<Nothing>> {
        limited(&state, req, async {
            let mut check = Check::default();
            check.email("email", &body.0.email);
            check.finish()?;
            if state.settings.rate_limit_enabled {
                state.auth.mail_asks.from_address(&client_key(req))?;
                // Past an email's share the answer is the same (it tells nothing), but no mail.
                if !state.auth.mail_asks.to_email(&body.0.email) {
                    return Ok(Reply::ok_with(Nothing, FORGOT_ANSWER));
                }
            }
            let (state, email, actor) = (state.clone(), body.0.email.clone(), Actor::of(req, None));
            tokio::spawn(async move {
                if let Err(e) = send_reset_link(&state, &email, actor).await {
                    tracing::error!(error = %e, "could not prepare a password reset");
                }
            });
            Ok(Reply::ok_with(Nothing, FORGOT_ANSWER))
        })
        .await
    }

    /// Sets a new password with a reset token; every session of the account ends.
    #[oai(path = "/reset-password", method = "post", operation_id = "resetPassword")]
    async fn reset_password(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<ResetBody>,
    ) -> ApiResult<Reply<Nothing>> {
        limited(&state, req, async {
            let b = body.0;
            let mut check = Check::default();
            check.password("newPassword", &b.new_password);
            check.finish()?;
            // Cheap refusal of a bad token before the expensive hash.
            let usable = state.store.read()?.get(&ONE_TIME_TOKENS, token_hash(&b.token).as_str())?.is_some_and(|t| {
                t.purpose == Purpose::ResetPassword && t.used_at.is_none() && t.expires_at > Utc::now()
            });
            if !usable {
                return Err(ApiError::new(ErrorCode::InvalidToken).with_status(poem::http::StatusCode::BAD_REQUEST));
            }
            let hash = state.auth.passwords.hash(&b.new_password).await?;
            let actor = Actor::of(req, None);
            let (state, ip) = (state.clone(), client_key(req));
            detached(async move {
                let (user_id, cutoff, email) = state
                    .store
                    .write(move |w| {
                        let user_id = spend_one_time(w, &b.token, Purpose::ResetPassword)?;
                        let mut user =
                            w.get(&USERS, &user_id)?.ok_or_else(|| ApiError::new(ErrorCode::InvalidToken))?;
                        user.password_hash = hash;
                        user.updated_at = Utc::now();
                        w.put(&USERS, &user_id, &user)?;
                        let cutoff = revoke_sessions(w, user_id)?;
                        audit::record(w, &actor.as_user(user_id), Event::new("PASSWORD_RESET", "User", user_id))?;
                        Ok::<_, ApiError>((user_id, cutoff, user.email))
                    })
                    .await?;
                state.auth.revocations.remember_cutoff(user_id, cutoff);
                state.auth.lockout.reset(&lockout_key(&email, &ip));
                Ok(Reply::ok_with(Nothing, "Password reset successfully"))
            })
            .await
        })
        .await
    }

    /// Changes the password of the signed-in user. Every session ends, including this one's
    /// tokens: the answer carries a fresh access token and refresh cookie.
    #[oai(path = "/change-password", method = "post", operation_id = "changePassword")]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Bearer,
        body: JsonBody<ChangePasswordBody>,
    ) -> ApiResult<CookieReply<Refreshed>> {
        limited(&state, req, async {
            let b = body.0;
            let mut check = Check::default();
            if b.current_password.is_empty() {
                check.add("currentPassword", "Current password is required");
            }
            check.password("newPassword", &b.new_password);
            check.finish()?;
            let user_id = auth.0.user_id;
            let user =
                state.store.read()?.get(&USERS, &user_id)?.ok_or_else(|| ApiError::new(ErrorCode::UserNotFound))?;
            if !state.auth.passwords.verify(&b.current_password, Some(&user.password_hash)).await? {
                return Err(ApiError::new(ErrorCode::InvalidCurrentPassword));
            }
            let hash = state.auth.passwords.hash(&b.new_password).await?;
            let actor = Actor::of(req, Some(user_id));
            let (refresh, record) = state.auth.new_refresh(user_id, None);
            let state = state.clone();
            detached(async move {
                let auth = state.auth.clone();
                let (cutoff, access) = state
                    .store
                    .write(move |w| {
                        let mut user =
                            w.get(&USERS, &user_id)?.ok_or_else(|| ApiError::new(ErrorCode::UserNotFound))?;
                        user.password_hash = hash;
                        user.updated_at = Utc::now();
                        w.put(&USERS, &user_id, &user)?;
                        let cutoff = revoke_sessions(w, user_id)?;
                        w.put(&REFRESH_TOKENS, record.hash.as_str(), &record)?;
                        audit::record(w, &actor, Event::new("PASSWORD_CHANGE", "User", user_id))?;
                        // Dated at the cutoff: this new session is the one that survives.
                        Ok::<_, ApiError>((cutoff, auth.jwt.issue_not_before(&user, cutoff)?))
                    })
                    .await?;
                state.auth.revocations.remember_cutoff(user_id, cutoff);
                let data = Refreshed { token: access.token, expires_at: crate::users::timestamp(&access.expires_at) };
                Ok(CookieReply::ok(data, "Password changed successfully", state.auth.refresh_cookie(Some(&refresh))))
            })
            .await
        })
        .await
    }

    /// Confirms the email address with the mailed token.
    #[oai(path = "/verify-email", method = "post", operation_id = "verifyEmail")]
    async fn verify_email(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<TokenBody>,
    ) -> ApiResult<Reply<Nothing>> {
        limited(&state, req, async {
            let token = body.0.token;
            let actor = Actor::of(req, None);
            state
                .store
                .write(move |w| {
                    let user_id = spend_one_time(w, &token, Purpose::VerifyEmail)?;
                    let mut user = w.get(&USERS, &user_id)?.ok_or_else(|| ApiError::new(ErrorCode::InvalidToken))?;
                    user.email_verified = true;
                    user.updated_at = Utc::now();
                    w.put(&USERS, &user_id, &user)?;
                    audit::record(w, &actor.as_user(user_id), Event::new("EMAIL_VERIFIED", "User", user_id))?;
                    // The orders placed as a guest with this email are now the account's.
                    let joined = crate::orders::guest::join(w, user_id, &user.email)?;
                    if joined > 0 {
                        let joined = serde_json::json!({ "orders": joined });
                        audit::record(
                            w,
                            &actor.as_user(user_id),
                            Event::new("GUEST_ORDERS_JOINED", "User", user_id).metadata(joined),
                        )?;
                    }
                    Ok::<_, ApiError>(())
                })
                .await?;
            Ok(Reply::ok_with(Nothing, "Email verified successfully"))
        })
        .await
    }

    /// Mails a new verification link (the previous one stops working).
    #[oai(path = "/resend-verification", method = "post", operation_id = "resendVerification")]
    async fn resend_verification(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Bearer,
    ) -> ApiResult<Reply<Nothing>> {
        let user_id = auth.0.user_id;
        let user = state.store.read()?.get(&USERS, &user_id)?.ok_or_else(|| ApiError::new(ErrorCode::UserNotFound))?;
        if user.email_verified {
            return Ok(Reply::ok_with(Nothing, "The email address is already verified"));
        }
        if state.settings.rate_limit_enabled {
            state.auth.mail_asks.from_address(&client_key(req))?;
            if !state.auth.mail_asks.to_email(&user.email) {
                return Err(ApiError::new(ErrorCode::AuthRateLimitExceeded)
                    .with_message(format!("At most {} verification mails an hour", crate::auth::MAILS_PER_EMAIL))
                    .with_header("retry-after", "3600"));
            }
        }
        let client_url = state.settings.client_url.clone();
        let template = verification_template(&state).await;
        state
            .store
            .write(move |w| {
                let token = issue_one_time(w, user_id, Purpose::VerifyEmail, VERIFY_TTL_HOURS)?;
                enqueue_verification(w, &template, &client_url, &user, &token)
            })
            .await?;
        Ok(Reply::ok_with(Nothing, "Verification email sent"))
    }
}
