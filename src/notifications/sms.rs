//! SMS: order updates to a customer's phone, through a provider's HTTP API in Twilio's shape
//! (`POST {SMS_API_URL}/2010-04-01/Accounts/{sid}/Messages.json`, form `To`, `From`, `Body`,
//! basic auth). A message goes only to a number its owner proved is theirs with a code, and
//! codes are limited per user and per number, so the shop pays for no one else's messages.

use std::time::Duration;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Actor, Event};
use crate::auth::guard::Bearer;
use crate::auth::tokens::token_hash;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::events::OrderEvent;
use crate::http::envelope::Reply;
use crate::http::json::JsonBody;
use crate::http::rate_limit::RateLimiter;
use crate::jobs::{self, Outcome, Task};
use crate::orders::Order;
use crate::state::AppState;
use crate::store::{Collection, StoreError, WriteTx};
use crate::users::{USERS, timestamp};

/// Codes a user may ask for, and codes one number may be sent, in an hour.
pub const CODES_PER_HOUR: u32 = 3;
/// Wrong codes before a code stops working.
const MAX_TRIES: u32 = 5;
const CODE_MINUTES: i64 = 10;

pub struct SmsLimits {
    by_user: RateLimiter,
    by_number: RateLimiter,
}

impl Default for SmsLimits {
    fn default() -> Self {
        let hour = Duration::from_secs(3600);
        SmsLimits { by_user: RateLimiter::new(CODES_PER_HOUR, hour), by_number: RateLimiter::new(CODES_PER_HOUR, hour) }
    }
}

/// A code sent to a number, kept as its hash until confirmed or spent.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PhoneCode {
    phone: String,
    hash: String,
    expires_at: DateTime<Utc>,
    tries: u32,
}

static PHONE_CODES: Collection<u64, PhoneCode> = Collection::new("phone_codes");

/// A number in E.164 (`+4915112345678`), from what a person types (spaces, dashes, dots and
/// brackets dropped); None when it is not one.
pub fn e164(phone: &str) -> Option<String> {
    let s: String = phone.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = s.strip_prefix('+')?;
    let ok = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    ok.then_some(s)
}

fn configured(state: &AppState) -> ApiResult<()> {
    let s = &state.settings;
    if s.sms_api_url.is_some() && s.sms_account_sid.is_some() && s.sms_auth_token.is_some() && s.sms_from.is_some() {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::SmsDisabled))
    }
}

/// Enqueues the SMS of an order event to its customer, when they chose SMS and their phone is
/// verified (in the event's transaction, like its mail).
pub fn tell(w: &mut WriteTx<'_>, order: &Order, event: OrderEvent) -> Result<(), StoreError> {
    if event.template().is_none() {
        return Ok(());
    }
    let Some(user) = w.get(&USERS, &order.user_id)? else { return Ok(()) };
    if !user.is_active || !user.preferences.sms_notifications {
        return Ok(());
    }
    let Some(phone) = user.phone_verified.filter(|v| user.phone.as_deref().and_then(e164).as_deref() == Some(v)) else {
        return Ok(());
    };
    let (_, _, text) = event.notice(order);
    jobs::enqueue(w, Task::Sms { to: phone, body: text })?;
    Ok(())
}

/// Sends one message (the job of `Task::Sms`): 2xx is sent; the provider refusing it (4xx but
/// 429) is for good; anything else is tried again.
pub async fn run(state: &AppState, to: &str, body: &str) -> Outcome {
    let s = &state.settings;
    let (Some(base), Some(sid), Some(token), Some(from)) =
        (&s.sms_api_url, &s.sms_account_sid, &s.sms_auth_token, &s.sms_from)
    else {
        return Outcome::Refused(
            "SMS is not set up (SMS_API_URL, SMS_ACCOUNT_SID, SMS_AUTH_TOKEN, SMS_FROM)".into(),
            None,
        );
    };
    let url = format!("{}/2010-04-01/Accounts/{sid}/Messages.json", base.trim_end_matches('/'));
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(15)).build() {
        Ok(c) => c,
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let sent = client
        .post(url)
        .basic_auth(sid, Some(token.expose()))
        .form(&[("To", to), ("From", from.as_str()), ("Body", body)])
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Outcome::done(),
        Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
            Outcome::Refused(format!("the SMS provider refused the message: {}", r.status()), None)
        }
        Ok(r) => Outcome::Retry(format!("the SMS provider answered {}", r.status())),
        Err(e) => Outcome::Retry(if e.is_timeout() {
            "the SMS provider timed out".into()
        } else {
            "the SMS provider did not answer".into()
        }),
    }
}

#[derive(Debug, Deserialize, Object)]
#[oai(rename = "PhoneVerify")]
pub struct VerifyBody {
    /// The number to verify (E.164, e.g. `+4915112345678`); without it, the account's phone.
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, Object)]
#[oai(rename = "PhoneConfirm")]
pub struct ConfirmBody {
    pub code: String,
}

#[derive(Debug, Object)]
#[oai(rename = "PhoneCodeSent", rename_all = "camelCase")]
pub struct CodeSent {
    pub phone: String,
    pub expires_at: String,
}

#[derive(Debug, Object)]
#[oai(rename = "PhoneVerified", rename_all = "camelCase")]
pub struct Verified {
    pub phone: String,
    pub phone_verified: bool,
}

pub struct PhoneApi;

#[OpenApi(prefix_path = "/api/v1/users/me/phone", tag = "crate::openapi::Tag::Users")]
impl PhoneApi {
    /// Text a 6-digit code to the number (valid 10 minutes). At most 3 codes an hour per
    /// account and per number.
    #[oai(path = "/verify", method = "post", operation_id = "verifyPhone")]
    async fn verify(
        &self,
        state: Data<&AppState>,
        auth: Bearer,
        body: JsonBody<VerifyBody>,
    ) -> ApiResult<Reply<CodeSent>> {
        configured(&state)?;
        let user_id = auth.0.user_id;
        let user = state
            .store
            .read()?
            .get(&USERS, &user_id)?
            .filter(|u| u.is_active)
            .ok_or_else(|| ApiError::new(ErrorCode::UserNotFound))?;
        let given = body.0.phone.or(user.phone).unwrap_or_default();
        let phone = e164(&given)
            .ok_or_else(|| ApiError::field("phone", "A phone number in international form, like +4915112345678"))?;
        for (limit, key) in
            [(&state.sms_limits.by_user, user_id.to_string()), (&state.sms_limits.by_number, phone.clone())]
        {
            let quota = limit.hit(&key);
            if quota.exceeded {
                return Err(ApiError::new(ErrorCode::RateLimitExceeded)
                    .with_message("Too many codes asked for; try again later")
                    .with_header("retry-after", quota.reset_secs.to_string()));
            }
        }
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
        let expires_at = Utc::now() + chrono::Duration::minutes(CODE_MINUTES);
        let record =
            PhoneCode { phone: phone.clone(), hash: token_hash(&format!("{user_id}:{code}")), expires_at, tries: 0 };
        let text = format!("Your verification code is {code}. It expires in {CODE_MINUTES} minutes.");
        let to = phone.clone();
        state
            .store
            .write(move |w| {
                w.put(&PHONE_CODES, &user_id, &record)?;
                jobs::enqueue(w, Task::Sms { to, body: text })?;
                Ok::<_, StoreError>(())
            })
            .await?;
        Ok(Reply::ok(CodeSent { phone, expires_at: timestamp(&expires_at) }))
    }

    /// Confirm the code: the number becomes the account's phone, verified. Five wrong codes
    /// spend it.
    #[oai(path = "/confirm", method = "post", operation_id = "confirmPhone")]
    async fn confirm(
        &self,
        state: Data<&AppState>,
        req: &poem::Request,
        auth: Bearer,
        body: JsonBody<ConfirmBody>,
    ) -> ApiResult<Reply<Verified>> {
        let user_id = auth.0.user_id;
        let code = body.0.code.trim().to_string();
        let actor = Actor::of(req, Some(user_id));
        let outcome = state
            .store
            .write(move |w| {
                let wrong = || ApiError::new(ErrorCode::InvalidPhoneCode);
                let Some(mut pending) = w.get(&PHONE_CODES, &user_id)?.filter(|c| c.expires_at > Utc::now()) else {
                    return Ok(Err(wrong()));
                };
                if pending.hash != token_hash(&format!("{user_id}:{code}")) {
                    pending.tries += 1;
                    if pending.tries >= MAX_TRIES {
                        w.delete(&PHONE_CODES, &user_id)?;
                    } else {
                        w.put(&PHONE_CODES, &user_id, &pending)?;
                    }
                    // The count is kept although the answer is an error.
                    return Ok(Err(wrong()));
                }
                w.delete(&PHONE_CODES, &user_id)?;
                let mut user = w.get(&USERS, &user_id)?.ok_or_else(|| ApiError::new(ErrorCode::UserNotFound))?;
                user.phone = Some(pending.phone.clone());
                user.phone_verified = Some(pending.phone.clone());
                user.updated_at = Utc::now();
                w.put(&USERS, &user_id, &user)?;
                audit::record(
                    w,
                    &actor,
                    Event::new("PHONE_VERIFIED", "User", user_id).metadata(json!({ "phone": pending.phone })),
                )?;
                Ok::<_, ApiError>(Ok(pending.phone))
            })
            .await??;
        Ok(Reply::ok(Verified { phone: outcome, phone_verified: true }))
    }
}
