//! Guest checkout: an order of a guest session's cart with an email and an address, and the
//! order token that stands in for a sign-in on that one order. The token is derived from the
//! order's id and its end ([`crate::auth::tokens::OrderTokens`]); the order keeps only its
//! hash. An account verified with the guest's email takes the guest's orders.

use std::time::Duration;

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Header;
use poem_openapi::{Object, OpenApi};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::checkout::{self, CreateOrder, Customer, Placed};
use super::{GUEST, GuestToken, ORDERS, ORDERS_BY_GUEST_EMAIL, Order, OrderView, ShippingAddress};
use crate::audit::Actor;
use crate::auth::guard::{Principal, Viewer};
use crate::auth::tokens::token_hash;
use crate::cart::api::session_of;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::envelope::Created;
use crate::http::json::JsonBody;
use crate::http::rate_limit::RateLimiter;
use crate::idempotency::{IdempotencyKey, Scoped};
use crate::state::AppState;
use crate::store::{StoreError, WriteTx};
use crate::types::fingerprint;
use crate::users::is_email;

/// Guest orders per email, and per shipping address, in an hour: enough for any shopper,
/// too few to flood a stranger's mailbox or the shop's stock.
pub const PER_HOUR: u32 = 10;

/// The limits of guest orders, per email and per address.
pub struct GuestLimits {
    by_email: RateLimiter,
    by_address: RateLimiter,
}

impl Default for GuestLimits {
    fn default() -> Self {
        let hour = Duration::from_secs(3600);
        GuestLimits { by_email: RateLimiter::new(PER_HOUR, hour), by_address: RateLimiter::new(PER_HOUR, hour) }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename = "GuestOrderInput", rename_all = "camelCase")]
pub struct GuestOrder {
    pub email: String,
    pub shipping_address: ShippingAddress,
    pub coupon_code: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename = "GuestOrder", rename_all = "camelCase")]
pub struct GuestPlaced {
    pub order: OrderView,
    /// Stands in for a sign-in on this order only: `X-Order-Token` or `?token=`. Also in the
    /// confirmation mail's link.
    pub order_token: String,
}

/// The token of a guest's order, while it works.
pub fn token_of(state: &AppState, o: &Order) -> Option<String> {
    let t = o.guest_token.as_ref().filter(|t| t.expires_at > Utc::now())?;
    Some(state.auth.order_tokens.token(o.id, t.expires_at))
}

/// The token record of a new guest order.
pub fn grant(state: &AppState, id: Uuid, now: DateTime<Utc>) -> GuestToken {
    // Whole seconds: the token is derived from the timestamp.
    let expires_at = DateTime::from_timestamp(now.timestamp() + i64::from(state.settings.order_token_days) * 86_400, 0)
        .expect("a date within range");
    GuestToken { hash: token_hash(&state.auth.order_tokens.token(id, expires_at)), expires_at }
}

/// The order if `viewer` may see it: its owner or an admin, or the holder of its token (a
/// wrong, another order's or an expired token is "not found", like an order of someone else).
/// Returns the principal, when there is one.
pub fn visible<'v>(state: &AppState, id: Uuid, viewer: &'v Viewer) -> ApiResult<(Order, Option<&'v Principal>)> {
    let not_found = || ApiError::new(ErrorCode::OrderNotFound);
    let order = state.store.read()?.get(&ORDERS, &id)?.ok_or_else(not_found)?;
    match (viewer.principal(), viewer.token()) {
        (Some(p), _) if order.user_id == p.user_id || p.is_admin() => Ok((order, Some(p))),
        (None, Some(token)) if admits(&order, token) => Ok((order, None)),
        _ => Err(not_found()),
    }
}

fn admits(o: &Order, token: &str) -> bool {
    o.guest_token.as_ref().is_some_and(|t| t.expires_at > Utc::now() && t.hash == token_hash(token))
}

/// Moves the guest orders placed with `email` to the account `user_id` (its email just
/// verified): they show in its orders and leave the guest index. Their tokens keep working.
pub fn join(w: &mut WriteTx<'_>, user_id: u64, email: &str) -> Result<usize, StoreError> {
    let orders = w.scan_index(&ORDERS, ORDERS_BY_GUEST_EMAIL, &(email.trim().to_lowercase(),), false, usize::MAX)?;
    for mut o in orders.iter().cloned() {
        o.user_id = user_id;
        w.put(&ORDERS, &o.id, &o)?;
    }
    Ok(orders.len())
}

fn refuse_when_off(state: &AppState) -> ApiResult<()> {
    let on = state.settings.feature_guest_checkout
        && crate::shop::settings(&state.store.read()?, &state.settings)?.guest_checkout;
    if on { Ok(()) } else { Err(ApiError::new(ErrorCode::GuestCheckoutDisabled)) }
}

fn limited(retry: u64) -> ApiError {
    ApiError::new(ErrorCode::RateLimitExceeded)
        .with_message("Too many guest orders for this email or address; try again later")
        .with_header("retry-after", retry.to_string())
}

pub struct GuestOrdersApi;

#[OpenApi(prefix_path = "/api/v1/orders", tag = "crate::openapi::Tag::Orders")]
impl GuestOrdersApi {
    /// Order the guest session's cart (`X-Session-ID`) as a guest, with an email and a
    /// shipping address: the same stock, totals, coupon and payment rules as a signed-in
    /// order. Answers the order and its token, which is also mailed as a private link.
    #[oai(path = "/guest", method = "post", operation_id = "placeGuestOrder")]
    async fn place(
        &self,
        state: Data<&AppState>,
        req: &Request,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<GuestOrder>,
    ) -> ApiResult<Created<GuestPlaced>> {
        refuse_when_off(&state)?;
        let session = session_of(req)
            .ok_or_else(|| ApiError::field("X-Session-ID", "The guest session whose cart is ordered"))?;
        let g = body.0;
        let email = g.email.trim().to_lowercase();
        if !is_email(&email) {
            return Err(ApiError::field("email", "A valid email address"));
        }
        let input = CreateOrder {
            products: None,
            shipping_address: Some(g.shipping_address),
            address_id: None,
            payment_intent_id: None,
            coupon_code: g.coupon_code,
        };
        checkout::check(&input)?;
        let a = input.shipping_address.as_ref().expect("given");
        let place_key = [&a.address, &a.zip_code, &a.country].map(|s| s.trim().to_lowercase()).join("|");
        for (limit, k) in [(&state.guest_limits.by_email, &email), (&state.guest_limits.by_address, &place_key)] {
            let quota = limit.hit(k);
            if quota.exceeded {
                return Err(limited(quota.reset_secs));
            }
        }
        let idem = key.0.map(|k| Scoped::new(&format!("guest-orders:{session}"), GUEST, &k, fingerprint(&input)));
        let customer = Customer::Guest { session, email };
        let order = match checkout::place(&state, customer, input, idem, Actor::of(req, None)).await? {
            Placed::New(order) => {
                state.metrics.orders_placed.inc();
                *order
            }
            Placed::Replayed(first) => {
                let id: Uuid = first.id.parse().map_err(ApiError::internal)?;
                state.store.read()?.get(&ORDERS, &id)?.ok_or_else(|| ApiError::new(ErrorCode::OrderNotFound))?
            }
        };
        let order_token =
            token_of(&state, &order).ok_or_else(|| ApiError::internal("a guest order without a token"))?;
        Ok(Created::new(GuestPlaced { order: order.view(), order_token }))
    }
}
