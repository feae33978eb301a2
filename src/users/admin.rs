//! `/api/v1/users` for administrators (list, search, get, change role or status), and the
//! admin bootstrap used at start-up and by `shopd admin create`.

use chrono::Utc;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use serde_json::json;

use super::{Check, Role, USERS, User, UserView};
use crate::audit::{self, Actor, Event};
use crate::auth::guard::Admin;
use crate::auth::password::Passwords;
use crate::auth::revoke_sessions;
use crate::error::{ApiError, ApiResult, ErrorCode, OnConflict};
use crate::http::detached::detached;
use crate::http::envelope::Reply;
use crate::http::json::JsonBody;
use crate::state::AppState;
use crate::store::{At, Store};
use crate::types::{Count, Paging};

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct UserPage {
    pub users: Vec<UserView>,
    pub total: u64,
    pub skip: u64,
    pub limit: u64,
    /// The `cursor` of the next page (null at the end).
    pub next_cursor: Option<u64>,
}

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct AdminPatch {
    pub role: Option<Role>,
    pub is_active: Option<bool>,
}

pub struct AdminUsersApi;

#[OpenApi(prefix_path = "/api/v1/users", tag = "crate::openapi::Tag::Admin")]
impl AdminUsersApi {
    /// All users, newest first; `search` matches email, first and last name (case-insensitive).
    #[oai(path = "/", method = "get", operation_id = "listUsers")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _admin: Admin,
        skip: Query<Option<Count>>,
        limit: Query<Option<Count>>,
        search: Query<Option<String>>,
        cursor: Query<Option<u64>>,
    ) -> ApiResult<Reply<UserPage>> {
        let paging = Paging::new(skip.0, limit.0);
        let needle = search.0.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
        let r = state.store.read()?;
        let skip = if cursor.0.is_some() { 0 } else { paging.skip };
        let (users, total) = match &needle {
            // A page costs the page.
            None => {
                let page = r.page(&USERS, true, At { from: cursor.0.as_ref(), skip, limit: paging.limit })?;
                (page.iter().map(User::view).collect::<Vec<_>>(), r.count(&USERS)?)
            }
            // A search reads every account (a substring of a name has no index).
            Some(n) => {
                let matches = |u: &User| {
                    cursor.0.is_none_or(|c| u.id < c)
                        && [&u.email, &u.first_name, &u.last_name].iter().any(|h| h.to_lowercase().contains(n.as_str()))
                };
                Paging { skip, ..paging }.page(r.scan(&USERS, &(), true)?, matches, |u| Ok(u.view()))?
            }
        };
        let next_cursor = (users.len() == paging.limit).then(|| users.last().map(|u| u.id)).flatten();
        Ok(Reply::ok(UserPage { users, total, skip: paging.skip as u64, limit: paging.limit as u64, next_cursor }))
    }

    /// One user.
    #[oai(path = "/:id", method = "get", operation_id = "getUser")]
    async fn get(&self, state: Data<&AppState>, _admin: Admin, id: Path<u64>) -> ApiResult<Reply<UserView>> {
        let user = state.store.read()?.get(&USERS, &id.0)?.ok_or_else(|| ApiError::new(ErrorCode::UserNotFound))?;
        Ok(Reply::ok(user.view()))
    }

    /// Change a user's role or status. Either change ends the user's sessions, so the new role
    /// or the deactivation applies at once.
    #[oai(path = "/:id", method = "patch", operation_id = "updateUser")]
    async fn patch(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<u64>,
        body: JsonBody<AdminPatch>,
    ) -> ApiResult<Reply<UserView>> {
        let (id, patch, me) = (id.0, body.0, admin.0.user_id);
        if id == me && (patch.role == Some(Role::User) || patch.is_active == Some(false)) {
            return Err(ApiError::new(ErrorCode::Forbidden)
                .with_message("Administrators cannot demote or deactivate themselves"));
        }
        let actor = Actor::of(req, Some(me));
        let state = state.clone();
        detached(async move {
            let (user, cutoff) = state
                .store
                .write(move |w| {
                    let mut user = w.get(&USERS, &id)?.ok_or_else(|| ApiError::new(ErrorCode::UserNotFound))?;
                    let mut revoke = false;
                    if let Some(role) = patch.role.filter(|r| *r != user.role) {
                        audit::record(
                            w,
                            &actor,
                            Event::new("ROLE_CHANGE", "User", id).change(json!(user.role), json!(role)),
                        )?;
                        user.role = role;
                        revoke = true;
                    }
                    if let Some(active) = patch.is_active.filter(|a| *a != user.is_active) {
                        audit::record(
                            w,
                            &actor,
                            Event::new("STATUS_CHANGE", "User", id).change(json!(user.is_active), json!(active)),
                        )?;
                        user.is_active = active;
                        revoke |= !active || patch.role.is_some();
                    }
                    user.updated_at = Utc::now();
                    w.put(&USERS, &id, &user)?;
                    let cutoff = if revoke { Some(revoke_sessions(w, id)?) } else { None };
                    Ok::<_, ApiError>((user, cutoff))
                })
                .await?;
            if let Some(cutoff) = cutoff {
                state.auth.revocations.remember_cutoff(id, cutoff);
            }
            Ok(Reply::ok(user.view()))
        })
        .await
    }
}

/// The email or password given for an admin account is refused (`shopd admin create` exits 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidAdmin(String);

/// Makes sure an active admin with this email and password exists: creates it, or promotes,
/// reactivates and sets the password of the account that has the email. Returns its id and
/// whether it was created.
pub async fn ensure_admin(
    store: &Store,
    passwords: &Passwords,
    email: &str,
    password: &str,
) -> anyhow::Result<(u64, bool)> {
    let mut check = Check::default();
    check.email("email", email);
    check.password("password", password);
    check.finish().map_err(|e| {
        InvalidAdmin(format!("{}: {}", e.message, e.details.map(|d| d.to_string()).unwrap_or_default()))
    })?;
    let hash = passwords.hash(password).await.map_err(|e| anyhow::Error::msg(e.message))?;
    let email = email.trim().to_string();
    store
        .write(move |w| {
            let now = Utc::now();
            let (user, created) = match User::find_by_email_w(w, &email)? {
                Some(mut u) => {
                    u.role = Role::Admin;
                    u.is_active = true;
                    u.password_hash = hash;
                    u.updated_at = now;
                    (u, false)
                }
                None => {
                    let id = w.next_id(&USERS)?;
                    let name = ("Shop".to_string(), "Admin".to_string());
                    let user = User { email_verified: true, ..User::new(id, email.clone(), hash, name, Role::Admin) };
                    (user, true)
                }
            };
            w.put(&USERS, &user.id, &user).on_conflict(ErrorCode::EmailExists)?;
            let event = if created { "ADMIN_CREATED" } else { "ADMIN_ENSURED" };
            audit::record(w, &Actor::default(), Event::new(event, "User", user.id))?;
            Ok::<_, ApiError>((user.id, created))
        })
        .await
        .map_err(Into::into)
}
