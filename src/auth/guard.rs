//! The bearer schemes. `Bearer` admits any signed-in user, `Admin` only admins; both hand the
//! handler the principal. Every 401/403 of the API is decided here, in one place.

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer as BearerToken;

use super::tokens::Claims;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::users::Role;

/// The signed-in user a request acts for.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: u64,
    pub email: String,
    pub role: Role,
    pub claims: Claims,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A signed-in user (USER or ADMIN): `Authorization: Bearer <access token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_user")]
pub struct Bearer(pub Principal);

/// An administrator: the same token, with role ADMIN.
#[derive(SecurityScheme)]
#[oai(rename = "AdminBearer", ty = "bearer", bearer_format = "JWT", checker = "check_admin")]
pub struct Admin(pub Principal);

/// A guest's order token, as the `X-Order-Token` header (what a storefront sends).
#[derive(SecurityScheme)]
#[oai(rename = "OrderToken", ty = "api_key", key_name = "X-Order-Token", key_in = "header", checker = "token_of")]
pub struct OrderTokenHeader(pub String);

/// A guest's order token, as the `token` query parameter (the link in the confirmation mail;
/// the access log writes paths only, never the query).
#[derive(SecurityScheme)]
#[oai(rename = "OrderTokenLink", ty = "api_key", key_name = "token", key_in = "query", checker = "token_of")]
pub struct OrderTokenQuery(pub String);

/// Takes what has the shape of an order token (43 base64url characters); anything else is
/// not one (401 `INVALID_TOKEN`), where a well-formed token that opens no order is that order
/// "not found".
async fn token_of(_req: &Request, key: poem_openapi::auth::ApiKey) -> poem::Result<String> {
    let t = key.key.trim();
    if t.len() == 43 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Ok(t.to_string());
    }
    Err(ApiError::new(ErrorCode::InvalidToken).with_message("This is not an order token").into())
}

/// Who may see one order: a signed-in user (its owner or an admin), or anyone holding that
/// order's token. The token is checked against the order by [`crate::orders::guest::visible`].
#[derive(SecurityScheme)]
pub enum Viewer {
    Token(OrderTokenHeader),
    Link(OrderTokenQuery),
    User(Bearer),
}

impl Viewer {
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Viewer::User(b) => Some(&b.0),
            _ => None,
        }
    }

    pub fn token(&self) -> Option<&str> {
        match self {
            Viewer::Token(t) => Some(&t.0),
            Viewer::Link(t) => Some(&t.0),
            Viewer::User(_) => None,
        }
    }
}

fn state(req: &Request) -> Result<&AppState, ApiError> {
    req.data::<AppState>().ok_or_else(|| ApiError::internal("the app state is missing"))
}

/// Verifies a token: signature and expiry (`INVALID_TOKEN`, `TOKEN_EXPIRED`), then revocation
/// (`TOKEN_REVOKED`). Costs a signature check and two hash lookups, no I/O.
pub fn authenticate(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let claims = state.auth.jwt.verify(token)?;
    if state.auth.revocations.is_revoked(&claims) {
        return Err(ApiError::new(ErrorCode::TokenRevoked).with_message("Token has been revoked"));
    }
    let user_id = claims.user_id().ok_or_else(|| ApiError::new(ErrorCode::InvalidToken))?;
    Ok(Principal { user_id, email: claims.email.clone(), role: claims.role, claims })
}

async fn check_user(req: &Request, bearer: BearerToken) -> poem::Result<Principal> {
    Ok(authenticate(state(req)?, &bearer.token)?)
}

async fn check_admin(req: &Request, bearer: BearerToken) -> poem::Result<Principal> {
    let principal = authenticate(state(req)?, &bearer.token)?;
    if !principal.is_admin() {
        return Err(ApiError::new(ErrorCode::Forbidden).with_message("Insufficient permissions").into());
    }
    let state = state(req)?;
    if state.settings.admin_require_2fa {
        // Read from the store, not the token: turning it on counts at once, without a new sign-in.
        let user = state.store.read().map_err(ApiError::from)?.get(&crate::users::USERS, &principal.user_id);
        if !user.map_err(ApiError::from)?.is_some_and(|u| u.two_factor_enabled) {
            return Err(ApiError::new(ErrorCode::TwoFactorSetupRequired).into());
        }
    }
    Ok(principal)
}

/// The principal of a request that may or may not carry a token (a bad token is still an error).
pub fn optional(req: &Request) -> Result<Option<Principal>, ApiError> {
    let Some(header) = req.header("authorization") else { return Ok(None) };
    let token = header.strip_prefix("Bearer ").ok_or_else(|| ApiError::new(ErrorCode::InvalidToken))?;
    authenticate(state(req)?, token.trim()).map(Some)
}

/// The admin a request is made by, when it carries a valid ADMIN token (for the admins' own
/// rate limit); any other request, or a bad token, is `None`.
pub fn admin_of(req: &Request) -> Option<u64> {
    let token = req.header("authorization")?.strip_prefix("Bearer ")?.trim();
    let principal = authenticate(req.data::<AppState>()?, token).ok()?;
    principal.is_admin().then_some(principal.user_id)
}
