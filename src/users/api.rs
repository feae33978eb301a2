//! `/api/v1/users/me...`: the signed-in user's own account.

use chrono::Utc;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::types::multipart::Upload;
use poem_openapi::{Multipart, Object, OpenApi};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ADDRESSES, Address, AddressView, Check, Preferences, USERS, User, UserView, addresses_of};
use crate::audit::{self, Actor, Event};
use crate::auth::api::limited;
use crate::auth::guard::Bearer;
use crate::auth::revoke_sessions;
use crate::error::{ApiError, ApiResult, ErrorCode, OnConflict};
use crate::http::detached::detached;
use crate::http::envelope::{CookieReply, Created, Reply};
use crate::http::json::JsonBody;
use crate::state::AppState;
use crate::store::WriteTx;
use crate::uploads;

/// Fields a user may change on their own account. Anything else (role, isActive,
/// emailVerified, password, ...) is refused by name.
#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct UpdateMe {
    #[oai(validator(pattern = r"^\s*\S[\s\S]{0,48}\S\s*$"))]
    pub first_name: Option<String>,
    #[oai(validator(pattern = r"^\s*\S[\s\S]{0,48}\S\s*$"))]
    pub last_name: Option<String>,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,28}\S)?\s*$"))]
    pub phone: Option<String>,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,28}\S)?\s*$"))]
    pub gender: Option<String>,
    #[oai(validator(minimum(value = "1"), maximum(value = "150")))]
    pub age: Option<u32>,
    #[oai(validator(max_length = 254, pattern = r"^\s*[^@\s]+@[^@\s.]+(\.[^@\s.]+)+\s*$"))]
    pub email: Option<String>,
    /// Required to change the email: a stolen access token must not be enough to take the
    /// account over through a password reset.
    pub current_password: Option<String>,
}

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct UpdatePreferences {
    #[oai(validator(pattern = r"^(light|dark|system)$"))]
    pub theme: Option<String>,
    pub notifications: Option<bool>,
    pub email_notifications: Option<bool>,
    pub sms_notifications: Option<bool>,
    pub push_notifications: Option<bool>,
    #[oai(validator(pattern = r"^[A-Za-z]{3}$"))]
    pub currency: Option<String>,
    #[oai(validator(min_length = 2, max_length = 10))]
    pub language: Option<String>,
}

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct AddressInput {
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,48}\S)?\s*$"))]
    pub label: Option<String>,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,198}\S)?\s*$"))]
    pub first_name: Option<String>,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,198}\S)?\s*$"))]
    pub last_name: Option<String>,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,198}\S)?\s*$"))]
    pub address: Option<String>,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,198}\S)?\s*$"))]
    pub city: Option<String>,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,198}\S)?\s*$"))]
    pub state: Option<String>,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,198}\S)?\s*$"))]
    pub zip_code: Option<String>,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,198}\S)?\s*$"))]
    pub country: Option<String>,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,198}\S)?\s*$"))]
    pub phone: Option<String>,
    pub is_default: Option<bool>,
}

#[derive(Debug, Deserialize, Object)]
pub struct DeleteMe {
    pub password: String,
    pub reason: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename = "Me", rename_all = "camelCase")]
pub struct MeView {
    #[oai(flatten)]
    pub user: UserView,
    pub preferences: Preferences,
    pub addresses: Vec<AddressView>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct AvatarView {
    pub image_url: String,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Stats {
    pub total_orders: u64,
    /// The sum of DELIVERED orders.
    pub total_spent: crate::types::Money,
    pub last_order: Option<LastOrder>,
    /// When the account was created.
    pub member_since: String,
}

/// The newest order, in brief.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct LastOrder {
    pub id: String,
    pub total: crate::types::Money,
    pub status: crate::orders::Status,
    pub created_at: String,
}

#[derive(Debug, Object)]
pub struct Deleted {
    pub id: u64,
    pub deleted: bool,
}

#[derive(Multipart)]
pub struct AvatarForm {
    pub avatar: Upload,
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::UserNotFound)
}

fn current(state: &AppState, user_id: u64) -> ApiResult<User> {
    state.store.read()?.get(&USERS, &user_id)?.filter(|u| u.is_active).ok_or_else(not_found)
}

/// The user's fields as the audit log records them (no password hash).
fn audit_view(u: &User) -> Value {
    json!({ "email": u.email, "firstName": u.first_name, "lastName": u.last_name, "phone": u.phone,
            "gender": u.gender, "age": u.age, "role": u.role, "isActive": u.is_active })
}

/// Avatars are redrawn at most this many pixels a side.
const AVATAR_SIDE: u32 = 512;

const ADDRESS_FIELDS: [&str; 8] = ["firstName", "lastName", "address", "city", "state", "zipCode", "country", "phone"];

impl AddressInput {
    fn values(&self) -> [&Option<String>; 8] {
        [
            &self.first_name,
            &self.last_name,
            &self.address,
            &self.city,
            &self.state,
            &self.zip_code,
            &self.country,
            &self.phone,
        ]
    }

    /// Checks the fields given (all of them when `complete`, for a new address).
    fn check(&self, complete: bool) -> ApiResult<()> {
        let mut check = Check::default();
        for (field, value) in ADDRESS_FIELDS.iter().zip(self.values()) {
            match value {
                Some(v) => check.required(field, v, 200),
                None if complete => check.add(field, "Required"),
                None => {}
            }
        }
        if let Some(l) = &self.label {
            check.required("label", l, 50);
        }
        check.finish()
    }

    fn apply(self, a: &mut Address) {
        let set = |target: &mut String, v: Option<String>| {
            if let Some(v) = v {
                *target = v.trim().to_string();
            }
        };
        set(&mut a.label, self.label);
        set(&mut a.first_name, self.first_name);
        set(&mut a.last_name, self.last_name);
        set(&mut a.address, self.address);
        set(&mut a.city, self.city);
        set(&mut a.state, self.state);
        set(&mut a.zip_code, self.zip_code);
        set(&mut a.country, self.country);
        set(&mut a.phone, self.phone);
    }
}

/// Makes `keep` the only default address of the user.
fn unset_other_defaults(w: &mut WriteTx<'_>, user_id: u64, keep: u64) -> ApiResult<()> {
    for mut other in w.scan(&ADDRESSES, &(user_id,), false, usize::MAX)? {
        if other.id != keep && other.is_default {
            other.is_default = false;
            other.updated_at = Utc::now();
            w.put(&ADDRESSES, &(user_id, other.id), &other)?;
        }
    }
    Ok(())
}

pub struct UsersApi;

#[OpenApi(prefix_path = "/api/v1/users", tag = "crate::openapi::Tag::Users")]
impl UsersApi {
    /// The signed-in user with preferences and saved addresses (default first).
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn me(&self, state: Data<&AppState>, auth: Bearer) -> ApiResult<Reply<MeView>> {
        let r = state.store.read()?;
        let user = r.get(&USERS, &auth.0.user_id)?.filter(|u| u.is_active).ok_or_else(not_found)?;
        let addresses = addresses_of(&r, user.id)?.iter().map(Address::view).collect();
        Ok(Reply::ok(MeView { user: user.view(), preferences: user.preferences.clone(), addresses }))
    }

    /// Update the profile (partial). Role, status, verification and password are not set here.
    #[oai(path = "/me", method = "put", operation_id = "updateMe")]
    async fn put_me(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Bearer,
        body: JsonBody<UpdateMe>,
    ) -> ApiResult<Reply<UserView>> {
        update_me(&state, req, auth.0.user_id, body.0).await
    }

    /// Update the profile (partial). Role, status, verification and password are not set here.
    #[oai(path = "/me", method = "patch", operation_id = "patchMe")]
    async fn patch_me(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Bearer,
        body: JsonBody<UpdateMe>,
    ) -> ApiResult<Reply<UserView>> {
        update_me(&state, req, auth.0.user_id, body.0).await
    }

    /// Upload an avatar (jpg, png or webp, decided by content); replaces the previous one.
    #[oai(path = "/me/avatar", method = "post", operation_id = "uploadAvatar")]
    async fn avatar(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Bearer,
        form: AvatarForm,
    ) -> ApiResult<Reply<AvatarView>> {
        let user_id = auth.0.user_id;
        current(&state, user_id)?;
        let stored = uploads::store_image(
            &state,
            "avatar",
            "avatars",
            &format!("user-{user_id}"),
            form.avatar,
            uploads::Keep::Redrawn(AVATAR_SIDE),
            false,
        )
        .await?;
        let url = stored.url.clone();
        let actor = Actor::of(req, Some(user_id));
        let old = state
            .store
            .write(move |w| {
                let mut user = w.get(&USERS, &user_id)?.ok_or_else(not_found)?;
                let old = user.image.replace(url.clone());
                user.updated_at = Utc::now();
                w.put(&USERS, &user_id, &user)?;
                audit::record(w, &actor, Event::new("AVATAR_CHANGE", "User", user_id).change(json!(old), json!(url)))?;
                Ok::<_, ApiError>(old)
            })
            .await;
        let old = match old {
            Ok(old) => old,
            Err(e) => {
                uploads::remove(&state, &stored.url);
                return Err(e);
            }
        };
        if let Some(old) = old {
            uploads::remove(&state, &old);
        }
        Ok(Reply::ok(AvatarView { image_url: crate::http::envelope::public_url(&stored.url) }))
    }

    /// The user's preferences (defaults: light, notifications on, USD, en).
    #[oai(path = "/me/preferences", method = "get", operation_id = "getPreferences")]
    async fn preferences(&self, state: Data<&AppState>, auth: Bearer) -> ApiResult<Reply<Preferences>> {
        Ok(Reply::ok(current(&state, auth.0.user_id)?.preferences))
    }

    /// Change preferences (partial).
    #[oai(path = "/me/preferences", method = "put", operation_id = "updatePreferences")]
    async fn put_preferences(
        &self,
        state: Data<&AppState>,
        auth: Bearer,
        body: JsonBody<UpdatePreferences>,
    ) -> ApiResult<Reply<Preferences>> {
        let p = body.0;
        let mut check = Check::default();
        if p.theme.as_deref().is_some_and(|t| !["light", "dark", "system"].contains(&t)) {
            check.add("theme", "Theme must be light, dark or system");
        }
        if p.currency.as_deref().is_some_and(|c| c.len() != 3 || !c.chars().all(|c| c.is_ascii_alphabetic())) {
            check.add("currency", "Currency must be a 3-letter code such as USD");
        }
        if p.language.as_deref().is_some_and(|l| !(2..=10).contains(&l.chars().count())) {
            check.add("language", "Language must be a code such as en or en-US");
        }
        check.finish()?;
        let user_id = auth.0.user_id;
        let prefs = state
            .store
            .write(move |w| {
                let mut user = w.get(&USERS, &user_id)?.filter(|u| u.is_active).ok_or_else(not_found)?;
                let mine = &mut user.preferences;
                if let Some(t) = p.theme {
                    mine.theme = t;
                }
                if let Some(n) = p.notifications {
                    mine.notifications = n;
                }
                if let Some(n) = p.email_notifications {
                    mine.email_notifications = n;
                }
                if let Some(n) = p.sms_notifications {
                    mine.sms_notifications = n;
                }
                if let Some(n) = p.push_notifications {
                    mine.push_notifications = n;
                }
                if let Some(c) = p.currency {
                    mine.currency = c.to_uppercase();
                }
                if let Some(l) = p.language {
                    mine.language = l;
                }
                user.updated_at = Utc::now();
                w.put(&USERS, &user_id, &user)?;
                Ok::<_, ApiError>(user.preferences)
            })
            .await?;
        Ok(Reply::ok(prefs))
    }

    /// Saved addresses, the default first.
    #[oai(path = "/me/addresses", method = "get", operation_id = "listAddresses")]
    async fn addresses(&self, state: Data<&AppState>, auth: Bearer) -> ApiResult<Reply<Vec<AddressView>>> {
        current(&state, auth.0.user_id)?;
        let all = addresses_of(&state.store.read()?, auth.0.user_id)?;
        Ok(Reply::ok(all.iter().map(Address::view).collect()))
    }

    /// Save an address. The first one becomes the default; `isDefault: true` moves the default.
    #[oai(path = "/me/addresses", method = "post", operation_id = "createAddress")]
    async fn add_address(
        &self,
        state: Data<&AppState>,
        auth: Bearer,
        body: JsonBody<AddressInput>,
    ) -> ApiResult<Created<AddressView>> {
        let input = body.0;
        input.check(true)?;
        let user_id = auth.0.user_id;
        current(&state, user_id)?;
        let address = state
            .store
            .write(move |w| {
                let id = w.next_id(&ADDRESSES)?;
                let first = w.scan(&ADDRESSES, &(user_id,), false, 1)?.is_empty();
                let now = Utc::now();
                let make_default = first || input.is_default == Some(true);
                let mut a = Address {
                    id,
                    user_id,
                    label: "Home".into(),
                    first_name: String::new(),
                    last_name: String::new(),
                    address: String::new(),
                    city: String::new(),
                    state: String::new(),
                    zip_code: String::new(),
                    country: String::new(),
                    phone: String::new(),
                    is_default: make_default,
                    created_at: now,
                    updated_at: now,
                };
                input.apply(&mut a);
                if make_default {
                    unset_other_defaults(w, user_id, id)?;
                }
                w.put(&ADDRESSES, &(user_id, id), &a)?;
                Ok::<_, ApiError>(a)
            })
            .await?;
        Ok(Created::new(address.view()))
    }

    /// Change a saved address (partial). `isDefault: true` makes it the only default.
    #[oai(path = "/me/addresses/:id", method = "put", operation_id = "updateAddress")]
    async fn update_address(
        &self,
        state: Data<&AppState>,
        auth: Bearer,
        id: Path<u64>,
        body: JsonBody<AddressInput>,
    ) -> ApiResult<Reply<AddressView>> {
        let input = body.0;
        input.check(false)?;
        let (user_id, id) = (auth.0.user_id, id.0);
        let address = state
            .store
            .write(move |w| {
                let mut a =
                    w.get(&ADDRESSES, &(user_id, id))?.ok_or_else(|| ApiError::new(ErrorCode::AddressNotFound))?;
                if input.is_default == Some(false) && a.is_default {
                    return Err(ApiError::field("isDefault", "Make another address the default instead"));
                }
                let make_default = input.is_default == Some(true);
                input.apply(&mut a);
                if make_default {
                    a.is_default = true;
                    unset_other_defaults(w, user_id, id)?;
                }
                a.updated_at = Utc::now();
                w.put(&ADDRESSES, &(user_id, id), &a)?;
                Ok(a)
            })
            .await?;
        Ok(Reply::ok(address.view()))
    }

    /// Delete a saved address (not the default one).
    #[oai(path = "/me/addresses/:id", method = "delete", operation_id = "deleteAddress")]
    async fn delete_address(&self, state: Data<&AppState>, auth: Bearer, id: Path<u64>) -> ApiResult<Reply<Deleted>> {
        let (user_id, id) = (auth.0.user_id, id.0);
        state
            .store
            .write(move |w| {
                let a = w.get(&ADDRESSES, &(user_id, id))?.ok_or_else(|| ApiError::new(ErrorCode::AddressNotFound))?;
                if a.is_default {
                    return Err(ApiError::new(ErrorCode::CannotDeleteDefault));
                }
                w.delete(&ADDRESSES, &(user_id, id))?;
                Ok(())
            })
            .await?;
        Ok(Reply::ok(Deleted { id, deleted: true }))
    }

    /// Order count, money spent on delivered orders, the latest order, and membership.
    #[oai(path = "/me/stats", method = "get", operation_id = "getMyStats")]
    async fn stats(&self, state: Data<&AppState>, auth: Bearer) -> ApiResult<Reply<Stats>> {
        use crate::orders::{ORDERS, ORDERS_BY_USER, Status};
        let user = current(&state, auth.0.user_id)?;
        let r = state.store.read()?;
        let (mut total_orders, mut spent, mut last) = (0u64, rust_decimal::Decimal::ZERO, None);
        for order in r.scan_index(&ORDERS, ORDERS_BY_USER, &(user.id,), true)? {
            let order = order?;
            if last.is_none() {
                last = Some(LastOrder {
                    id: order.id.to_string(),
                    total: order.total,
                    status: order.status,
                    created_at: super::timestamp(&order.created_at),
                });
            }
            total_orders += 1;
            if order.status == Status::Delivered {
                spent += order.total.amount();
            }
        }
        Ok(Reply::ok(Stats {
            total_orders,
            total_spent: crate::types::Money::from_decimal(spent),
            last_order: last,
            member_since: super::timestamp(&user.created_at),
        }))
    }

    /// Delete the account: needs the password; deactivates it, frees the email and ends every
    /// session.
    #[oai(path = "/me", method = "delete", operation_id = "deleteMe")]
    async fn delete_me(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Bearer,
        body: JsonBody<DeleteMe>,
    ) -> ApiResult<CookieReply<Deleted>> {
        let user_id = auth.0.user_id;
        // Password guesses here count against the same limit as sign-in failures.
        limited(&state, req, async {
            let user = current(&state, user_id)?;
            if !state.auth.passwords.verify(&body.0.password, Some(&user.password_hash)).await? {
                return Err(ApiError::new(ErrorCode::InvalidPassword));
            }
            let reason = body.0.reason.map(|r| r.chars().take(1000).collect::<String>());
            let actor = Actor::of(req, Some(user_id));
            let state = state.clone();
            detached(async move {
                let cutoff = state
                    .store
                    .write(move |w| {
                        let mut user = w.get(&USERS, &user_id)?.ok_or_else(not_found)?;
                        let now = Utc::now();
                        // The address is freed for a new account; the old one stays in the audit log.
                        let freed = format!("deleted-{user_id}-{}@deleted.invalid", now.timestamp_millis());
                        let old_email = std::mem::replace(&mut user.email, freed);
                        user.is_active = false;
                        user.deleted_at = Some(now);
                        user.updated_at = now;
                        w.put(&USERS, &user_id, &user)?;
                        let cutoff = revoke_sessions(w, user_id)?;
                        let meta = json!({ "email": old_email, "reason": reason });
                        audit::record(w, &actor, Event::new("ACCOUNT_DELETED", "User", user_id).metadata(meta))?;
                        Ok::<_, ApiError>(cutoff)
                    })
                    .await?;
                state.auth.revocations.remember_cutoff(user_id, cutoff);
                Ok(CookieReply::ok(
                    Deleted { id: user_id, deleted: true },
                    "Account deleted",
                    state.auth.refresh_cookie(None),
                ))
            })
            .await
        })
        .await
    }
}

async fn update_me(state: &AppState, req: &Request, user_id: u64, patch: UpdateMe) -> ApiResult<Reply<UserView>> {
    let mut check = Check::default();
    if let Some(e) = &patch.email {
        check.email("email", e);
    }
    if let Some(n) = &patch.first_name {
        check.name("firstName", n);
    }
    if let Some(n) = &patch.last_name {
        check.name("lastName", n);
    }
    if let Some(p) = &patch.phone {
        check.required("phone", p, 30);
    }
    if let Some(g) = &patch.gender {
        check.required("gender", g, 30);
    }
    if patch.age.is_some_and(|a| !(1..=150).contains(&a)) {
        check.add("age", "Age must be between 1 and 150");
    }
    check.finish()?;
    let stored = current(state, user_id)?;
    if patch.email.as_ref().is_some_and(|e| !e.trim().eq_ignore_ascii_case(&stored.email)) {
        let Some(password) = patch.current_password.as_deref() else {
            return Err(ApiError::field("currentPassword", "Your current password is required to change the email"));
        };
        crate::auth::api::verify_counted(state, req, &stored, password, ErrorCode::InvalidPassword).await?;
    }
    let actor = Actor::of(req, Some(user_id));
    let client_url = state.settings.client_url.clone();
    let template = crate::auth::api::verification_template(state).await;
    let user = state
        .store
        .write(move |w| {
            let mut user = w.get(&USERS, &user_id)?.filter(|u| u.is_active).ok_or_else(not_found)?;
            let before = audit_view(&user);
            let mut email_changed = false;
            if let Some(e) = patch.email.map(|e| e.trim().to_string()).filter(|e| !e.eq_ignore_ascii_case(&user.email))
            {
                user.email = e;
                user.email_verified = false;
                email_changed = true;
            }
            if let Some(n) = patch.first_name {
                user.first_name = n.trim().to_string();
            }
            if let Some(n) = patch.last_name {
                user.last_name = n.trim().to_string();
            }
            if let Some(p) = patch.phone {
                user.phone = Some(p.trim().to_string());
            }
            if let Some(g) = patch.gender {
                user.gender = Some(g.trim().to_string());
            }
            if let Some(a) = patch.age {
                user.age = Some(a);
            }
            user.updated_at = Utc::now();
            w.put(&USERS, &user_id, &user).on_conflict(ErrorCode::EmailExists)?;
            if email_changed {
                let token =
                    crate::auth::api::issue_one_time(w, user_id, crate::auth::tokens::Purpose::VerifyEmail, 24)?;
                crate::auth::api::enqueue_verification(w, &template, &client_url, &user, &token)?;
            }
            audit::record(w, &actor, Event::new("PROFILE_UPDATE", "User", user_id).change(before, audit_view(&user)))?;
            Ok::<_, ApiError>(user)
        })
        .await?;
    Ok(Reply::ok(user.view()))
}
