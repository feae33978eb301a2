//! `/api/v1/auth/2fa`: turning two-factor sign-in on (setup, then enable with a first code) and
//! off. Every step is audited.

use chrono::Utc;
use poem::Request;
use poem::web::Data;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use serde_json::json;

use super::api::{locked, verify_counted};
use super::guard::Bearer;
use super::two_factor::{self, Offered, TWO_FACTOR};
use crate::audit::{self, Actor, Event};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::envelope::Reply;
use crate::http::json::JsonBody;
use crate::state::AppState;
use crate::users::{USERS, User};

#[derive(Debug, Deserialize, Object)]
pub struct PasswordBody {
    pub password: String,
}

#[derive(Debug, Deserialize, Object)]
pub struct CodeBody {
    /// The 6 digits the authenticator app shows now.
    pub code: String,
}

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct DisableBody {
    pub password: String,
    /// A code from the app…
    pub code: Option<String>,
    /// …or a recovery code.
    pub recovery_code: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename = "TwoFactorSetup", rename_all = "camelCase")]
pub struct SetupView {
    /// Base32, to type into an authenticator app.
    pub secret: String,
    /// `otpauth://totp/...`, what the QR code holds.
    pub otpauth_url: String,
    /// The QR code as an SVG document.
    pub qr_svg: String,
}

#[derive(Debug, Object)]
#[oai(rename = "RecoveryCodes", rename_all = "camelCase")]
pub struct RecoveryView {
    /// Shown this once: each signs in once without the app.
    pub recovery_codes: Vec<String>,
}

fn user_of(state: &AppState, id: u64) -> ApiResult<User> {
    state.store.read()?.get(&USERS, &id)?.filter(|u| u.is_active).ok_or_else(|| ApiError::new(ErrorCode::Unauthorized))
}

/// Wrong codes on these endpoints count with those of sign-in: per account, from every address.
fn count_wrong(state: &AppState, user_id: u64) -> ApiError {
    let quota = state.auth.wrong_codes.hit(&format!("2fa:{user_id}"));
    if quota.remaining == 0 { locked(quota.reset_secs) } else { two_factor::invalid_code() }
}

pub struct TwoFactorApi;

#[OpenApi(prefix_path = "/api/v1/auth/2fa", tag = "crate::openapi::Tag::Auth")]
impl TwoFactorApi {
    /// Start turning two-factor sign-in on: give the password again, then scan the QR code (or
    /// type the secret) into an authenticator app and confirm with `/enable`. Until then
    /// sign-in is unchanged; a new setup replaces an unconfirmed one.
    #[oai(path = "/setup", method = "post", operation_id = "setupTwoFactor")]
    async fn setup(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Bearer,
        body: JsonBody<PasswordBody>,
    ) -> ApiResult<Reply<SetupView>> {
        let user = user_of(&state, auth.0.user_id)?;
        if user.two_factor_enabled {
            return Err(ApiError::new(ErrorCode::Conflict)
                .with_message("Two-factor sign-in is already on: turn it off first to enrol a new device"));
        }
        verify_counted(&state, req, &user, &body.0.password, ErrorCode::InvalidPassword).await?;
        let issuer = state.settings.shop_name.as_deref().unwrap_or("shopd");
        let enrolment = two_factor::enrol(user.id, &user.email, issuer)?;
        let (record, actor) = (enrolment.record, Actor::of(req, Some(user.id)));
        state
            .store
            .write(move |w| {
                w.put(&TWO_FACTOR, &record.user_id, &record)?;
                audit::record(w, &actor, Event::new("TWO_FACTOR_SETUP", "User", record.user_id))
            })
            .await?;
        Ok(Reply::ok(SetupView {
            secret: enrolment.secret,
            otpauth_url: enrolment.otpauth_url,
            qr_svg: enrolment.qr_svg,
        }))
    }

    /// Confirm the setup with a first code: two-factor sign-in is on, and the answer holds the
    /// recovery codes, shown this once.
    #[oai(path = "/enable", method = "post", operation_id = "enableTwoFactor")]
    async fn enable(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Bearer,
        body: JsonBody<CodeBody>,
    ) -> ApiResult<Reply<RecoveryView>> {
        let user = user_of(&state, auth.0.user_id)?;
        let offered = Offered { code: Some(body.0.code), recovery_code: None };
        let actor = Actor::of(req, Some(user.id));
        let (user_id, account) = (user.id, user.email.clone());
        let enabled = state
            .store
            .write(move |w| {
                let mut record = w.get(&TWO_FACTOR, &user_id)?.filter(|r| !r.enabled).ok_or_else(|| {
                    ApiError::new(ErrorCode::Conflict).with_message("Start with POST /api/v1/auth/2fa/setup")
                })?;
                if !two_factor::spend(w, &mut record, &account, &offered)? {
                    return Err(two_factor::invalid_code());
                }
                let codes = two_factor::new_recovery_codes(&mut record);
                record.enabled = true;
                w.put(&TWO_FACTOR, &user_id, &record)?;
                let mut user = w.get(&USERS, &user_id)?.ok_or_else(|| ApiError::new(ErrorCode::Unauthorized))?;
                user.two_factor_enabled = true;
                user.updated_at = Utc::now();
                w.put(&USERS, &user_id, &user)?;
                audit::record(w, &actor, Event::new("TWO_FACTOR_ENABLED", "User", user_id))?;
                Ok(codes)
            })
            .await;
        match enabled {
            Ok(codes) => Ok(Reply::ok(RecoveryView { recovery_codes: codes })),
            Err(e) if e.code == ErrorCode::InvalidTwoFactorCode => Err(count_wrong(&state, user_id)),
            Err(e) => Err(e),
        }
    }

    /// Turn two-factor sign-in off: the password and a code (or a recovery code).
    #[oai(path = "/disable", method = "post", operation_id = "disableTwoFactor")]
    async fn disable(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Bearer,
        body: JsonBody<DisableBody>,
    ) -> ApiResult<Reply<crate::users::UserView>> {
        let user = user_of(&state, auth.0.user_id)?;
        if !user.two_factor_enabled {
            return Err(ApiError::new(ErrorCode::Conflict).with_message("Two-factor sign-in is not on"));
        }
        let key = format!("2fa:{}", user.id);
        let q = state.auth.wrong_codes.check(&key);
        if q.exceeded {
            return Err(locked(q.reset_secs));
        }
        verify_counted(&state, req, &user, &body.0.password, ErrorCode::InvalidPassword).await?;
        let offered = Offered { code: body.0.code, recovery_code: body.0.recovery_code };
        let actor = Actor::of(req, Some(user.id));
        let (user_id, account) = (user.id, user.email.clone());
        let done = state
            .store
            .write(move |w| {
                let mut record = w.get(&TWO_FACTOR, &user_id)?.ok_or_else(two_factor::invalid_code)?;
                if !two_factor::spend(w, &mut record, &account, &offered)? {
                    return Err(two_factor::invalid_code());
                }
                two_factor::remove(w, user_id)?;
                audit::record(w, &actor, Event::new("TWO_FACTOR_DISABLED", "User", user_id).metadata(json!({})))?;
                w.get(&USERS, &user_id)?.ok_or_else(|| ApiError::new(ErrorCode::Unauthorized))
            })
            .await;
        match done {
            Ok(user) => Ok(Reply::ok(user.view())),
            Err(e) if e.code == ErrorCode::InvalidTwoFactorCode => Err(count_wrong(&state, user_id)),
            Err(e) => Err(e),
        }
    }
}
