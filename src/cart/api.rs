//! `/api/v1/cart`: the caller's cart, as a signed-in user or as a guest session.

use chrono::Utc;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;

use super::{CART_LINES, CARTS, Cart, CartLine, CartView, buyable, owner_key, view};
use crate::auth::guard::{Bearer, optional};
use crate::coupons::{self, COUPON_USES, COUPONS, COUPONS_BY_CODE, normal};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::envelope::{Envelope, Meta};
use crate::http::json::JsonBody;
use crate::products::PRODUCTS;
use crate::state::AppState;
use crate::store::WriteTx;
use crate::types::Quantity;
use crate::users::USERS;

pub const SESSION_HEADER: &str = "x-session-id";
pub const SESSION_COOKIE: &str = "sessionId";

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct AddItem {
    pub product_id: u64,
    pub quantity: Quantity<1>,
}

#[derive(Debug, Deserialize, Object)]
#[oai(rename = "CartCoupon")]
pub struct CouponBody {
    pub code: String,
}

#[derive(Debug, Deserialize, Object)]
pub struct SetQuantity {
    /// 0 removes the line.
    pub quantity: Quantity<0>,
}

/// The cart envelope; a guest without a session gets one here (header and cookie).
#[derive(ApiResponse)]
pub enum CartReply {
    #[oai(status = 200)]
    Ok(
        Json<Envelope<CartView>>,
        /// The guest session this cart belongs to, when it was just created.
        #[oai(header = "X-Session-ID")]
        Option<String>,
        #[oai(header = "Set-Cookie")] Option<String>,
    ),
}

/// Who a cart request is for.
pub struct Who {
    pub user: Option<u64>,
    pub session: Option<String>,
    /// The session was made for this request: tell the client.
    pub new_session: bool,
}

impl Who {
    pub fn owner(&self) -> String {
        owner_key(self.user, self.session.as_deref())
    }
}

/// Whether a client-made session id is as hard to guess as one we issue: at least 128 bits of
/// randomness, as a UUID v4 or 32 to 128 characters of hex or base64url, and not a pattern (few
/// distinct characters, or a repeating run). Storefronts of the plan make their own ids; a
/// guessable one would let anyone read, fill or merge that cart, so it gets a new one instead.
pub fn strong_session(s: &str) -> bool {
    let hyphenated = s.len() == 36 && s.bytes().filter(|b| *b == b'-').count() == 4;
    let digits: Vec<u8> = match uuid::Uuid::parse_str(s) {
        Ok(u) if hyphenated && u.get_version_num() == 4 => s.bytes().filter(|b| *b != b'-').collect(),
        Ok(_) if hyphenated => return false,
        _ if (32..=128).contains(&s.len()) => s.bytes().collect(),
        _ => return false,
    };
    let hex = digits.iter().all(u8::is_ascii_hexdigit);
    let base64url = digits.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_');
    if !hex && !base64url {
        return false;
    }
    let distinct = digits.iter().collect::<std::collections::HashSet<_>>().len();
    // 30 random hex digits show about 14 distinct ones, and fewer than 6 about once in 10¹¹;
    // 32 base64url characters show about 25, and fewer than 11 about once in 10¹⁴.
    let enough = if hex { 6 } else { 11 };
    let periodic = (1..=digits.len() / 2).any(|p| digits.iter().zip(&digits[p..]).all(|(a, b)| a == b));
    distinct >= enough && !periodic
}

/// The guest session named by the request (header first, then cookie).
pub fn session_of(req: &Request) -> Option<String> {
    let header = req.header(SESSION_HEADER).map(str::trim).filter(|s| strong_session(s)).map(str::to_string);
    header.or_else(|| {
        req.header("cookie")?
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, v)| *k == SESSION_COOKIE && strong_session(v))
            .map(|(_, v)| v.to_string())
    })
}

pub fn identify(state: &AppState, req: &Request) -> ApiResult<Who> {
    if let Some(p) = optional(req)? {
        return Ok(Who { user: Some(p.user_id), session: session_of(req), new_session: false });
    }
    if !state.settings.feature_guest_checkout {
        return Err(ApiError::new(ErrorCode::Unauthorized).with_message("Sign in to use the cart"));
    }
    match session_of(req) {
        Some(s) => Ok(Who { user: None, session: Some(s), new_session: false }),
        None => Ok(Who { user: None, session: Some(uuid::Uuid::new_v4().to_string()), new_session: true }),
    }
}

fn reply(state: &AppState, who: &Who, cart: &Cart) -> ApiResult<CartReply> {
    let coupon = match &cart.coupon {
        Some(code) => state.store.read()?.get_unique(&COUPONS, COUPONS_BY_CODE, &normal(code))?,
        None => None,
    };
    let data = view(cart, &state.catalog, coupon.as_ref(), state.settings.cart_expiry_days);
    let envelope = Envelope { data, status: 200, message: "Success".into(), meta: Meta::current() };
    let (header, cookie) = match (&who.session, who.new_session) {
        (Some(s), true) => (
            Some(s.clone()),
            Some(format!(
                "{SESSION_COOKIE}={s}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
                state.settings.cart_expiry_days as u64 * 86_400,
                if state.settings.is_production() { "; Secure" } else { "" }
            )),
        ),
        _ => (None, None),
    };
    Ok(CartReply::Ok(Json(envelope), header, cookie))
}

/// A stock level as a cap on a line's quantity.
fn cap(stock: i64) -> u32 {
    stock.clamp(0, u32::MAX as i64) as u32
}

fn insufficient(title: &str, available: i64, requested: u64) -> ApiError {
    ApiError::new(ErrorCode::InsufficientStock)
        .with_message(format!("Insufficient stock for {title}: available {available}, requested {requested}"))
}

fn load(w: &mut WriteTx<'_>, owner: &str) -> Result<Cart, crate::store::StoreError> {
    Ok(w.get(&CARTS, owner)?.unwrap_or_else(|| Cart::new(owner.to_string())))
}

fn save(w: &mut WriteTx<'_>, mut cart: Cart) -> Result<Cart, crate::store::StoreError> {
    cart.updated_at = Utc::now();
    cart.reminded_at = None;
    w.put(&CARTS, cart.owner.clone().as_str(), &cart)?;
    Ok(cart)
}

pub struct CartApi;

#[OpenApi(prefix_path = "/api/v1/cart", tag = "crate::openapi::Tag::Cart")]
impl CartApi {
    /// The caller's cart (empty when there is none).
    #[oai(path = "/", method = "get", operation_id = "getCart")]
    async fn get(&self, state: Data<&AppState>, req: &Request) -> ApiResult<CartReply> {
        let who = identify(&state, req)?;
        let owner = who.owner();
        // A cart is stored when something is put in it: a visit stores nothing.
        let cart = state.store.read()?.get(&CARTS, owner.as_str())?.unwrap_or_else(|| Cart::new(owner));
        reply(&state, &who, &cart)
    }

    /// Add a product (to its line if there is one). The line may not exceed the stock.
    #[oai(path = "/items", method = "post", operation_id = "addCartItem")]
    async fn add(&self, state: Data<&AppState>, req: &Request, body: JsonBody<AddItem>) -> ApiResult<CartReply> {
        let who = identify(&state, req)?;
        let (product_id, quantity) = (body.0.product_id, body.0.quantity.0);
        let owner = who.owner();
        let cart = state
            .store
            .write(move |w| {
                let p = w
                    .get(&PRODUCTS, &product_id)?
                    .filter(|p| p.is_active)
                    .ok_or_else(|| ApiError::new(ErrorCode::ProductNotFound))?;
                let mut cart = load(w, &owner)?;
                let line = cart.items.iter().position(|l| l.product_id == product_id);
                let wanted = line.map_or(0, |i| cart.items[i].quantity as u64) + quantity as u64;
                if wanted as i64 > p.stock {
                    return Err(insufficient(&p.title, p.stock, wanted));
                }
                match line {
                    Some(i) => cart.items[i].quantity = wanted as u32,
                    None => {
                        let id = w.next_id(&CART_LINES)?;
                        cart.items.push(CartLine { id, product_id, quantity: wanted as u32, added_at: Utc::now() });
                    }
                }
                Ok::<_, ApiError>(save(w, cart)?)
            })
            .await?;
        reply(&state, &who, &cart)
    }

    /// Change a line's quantity; 0 removes it.
    #[oai(path = "/items/:item_id", method = "put", operation_id = "updateCartItem")]
    async fn set(
        &self,
        state: Data<&AppState>,
        req: &Request,
        item_id: Path<u64>,
        body: JsonBody<SetQuantity>,
    ) -> ApiResult<CartReply> {
        let who = identify(&state, req)?;
        let (item_id, quantity) = (item_id.0, body.0.quantity.0);
        let owner = who.owner();
        let cart = state
            .store
            .write(move |w| {
                let mut cart =
                    w.get(&CARTS, owner.as_str())?.ok_or_else(|| ApiError::new(ErrorCode::CartItemNotFound))?;
                let i = cart
                    .items
                    .iter()
                    .position(|l| l.id == item_id)
                    .ok_or_else(|| ApiError::new(ErrorCode::CartItemNotFound))?;
                if quantity == 0 {
                    cart.items.remove(i);
                } else {
                    let product_id = cart.items[i].product_id;
                    let p = w
                        .get(&PRODUCTS, &product_id)?
                        .filter(|p| p.is_active)
                        .ok_or_else(|| ApiError::new(ErrorCode::ProductNotFound))?;
                    if i64::from(quantity) > p.stock {
                        return Err(insufficient(&p.title, p.stock, u64::from(quantity)));
                    }
                    cart.items[i].quantity = quantity;
                }
                Ok::<_, ApiError>(save(w, cart)?)
            })
            .await?;
        reply(&state, &who, &cart)
    }

    /// Remove a line.
    #[oai(path = "/items/:item_id", method = "delete", operation_id = "removeCartItem")]
    async fn remove(&self, state: Data<&AppState>, req: &Request, item_id: Path<u64>) -> ApiResult<CartReply> {
        let who = identify(&state, req)?;
        let (item_id, owner) = (item_id.0, who.owner());
        let cart = state
            .store
            .write(move |w| {
                let mut cart =
                    w.get(&CARTS, owner.as_str())?.ok_or_else(|| ApiError::new(ErrorCode::CartItemNotFound))?;
                let before = cart.items.len();
                cart.items.retain(|l| l.id != item_id);
                if cart.items.len() == before {
                    return Err(ApiError::new(ErrorCode::CartItemNotFound));
                }
                Ok(save(w, cart)?)
            })
            .await?;
        reply(&state, &who, &cart)
    }

    /// Empty the cart.
    #[oai(path = "/", method = "delete", operation_id = "clearCart")]
    async fn clear(&self, state: Data<&AppState>, req: &Request) -> ApiResult<CartReply> {
        let who = identify(&state, req)?;
        let owner = who.owner();
        let cart = state
            .store
            .write(move |w| match w.get(&CARTS, owner.as_str())? {
                Some(mut cart) => {
                    cart.items.clear();
                    save(w, cart)
                }
                None => Ok(Cart::new(owner)),
            })
            .await?;
        reply(&state, &who, &cart)
    }

    /// Enter a coupon code (replacing one entered before). Refused when the code is unknown,
    /// outside its dates, used up (for a signed-in customer, also their own limit) or, for a
    /// cart with items, not applicable to them. The cart shows the code and its discount.
    #[oai(path = "/coupon", method = "post", operation_id = "applyCartCoupon")]
    async fn apply_coupon(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<CouponBody>,
    ) -> ApiResult<CartReply> {
        let who = identify(&state, req)?;
        let (owner, user, code) = (who.owner(), who.user, body.0.code);
        let catalog = state.catalog.clone();
        let cart = state
            .store
            .write(move |w| {
                let coupon = coupons::find(w, &code)?;
                coupon.usable(Utc::now())?;
                let email = match user {
                    Some(id) => w.get(&USERS, &id)?.map(|u| u.email.to_lowercase()),
                    None => None,
                };
                let mine = match email {
                    Some(e) => w.get(&COUPON_USES, &(coupon.id, e))?.unwrap_or(0),
                    None => 0,
                };
                coupon.left_for(mine)?;
                let mut cart = load(w, &owner)?;
                let lines = buyable(&cart, &catalog);
                if !lines.is_empty() {
                    coupon.apply(&lines)?;
                }
                cart.coupon = Some(coupon.code);
                Ok::<_, ApiError>(save(w, cart)?)
            })
            .await?;
        reply(&state, &who, &cart)
    }

    /// Remove the coupon code.
    #[oai(path = "/coupon", method = "delete", operation_id = "removeCartCoupon")]
    async fn remove_coupon(&self, state: Data<&AppState>, req: &Request) -> ApiResult<CartReply> {
        let who = identify(&state, req)?;
        let owner = who.owner();
        let cart = state
            .store
            .write(move |w| match w.get(&CARTS, owner.as_str())? {
                Some(mut cart) => {
                    cart.coupon = None;
                    save(w, cart)
                }
                None => Ok(Cart::new(owner)),
            })
            .await?;
        reply(&state, &who, &cart)
    }

    /// After sign-in: move the guest cart named by the session into the user's cart
    /// (quantities added, capped at the stock) and delete the guest cart.
    #[oai(path = "/merge", method = "post", operation_id = "mergeCart")]
    async fn merge(&self, state: Data<&AppState>, req: &Request, auth: Bearer) -> ApiResult<CartReply> {
        let user_id = auth.0.user_id;
        let session = session_of(req);
        let who = Who { user: Some(user_id), session: None, new_session: false };
        let owner = who.owner();
        let cart = state
            .store
            .write(move |w| {
                let mut cart = load(w, &owner)?;
                let Some(guest_key) = session.map(|s| owner_key(None, Some(&s))) else { return Ok(cart) };
                let Some(guest) = w.delete(&CARTS, guest_key.as_str())? else { return Ok(cart) };
                for line in guest.items {
                    let Some(p) = w.get(&PRODUCTS, &line.product_id)?.filter(|p| p.is_active) else { continue };
                    match cart.items.iter_mut().find(|l| l.product_id == line.product_id) {
                        Some(mine) => mine.quantity = mine.quantity.saturating_add(line.quantity).min(cap(p.stock)),
                        None => cart.items.push(CartLine { quantity: line.quantity.min(cap(p.stock)), ..line }),
                    }
                }
                cart.items.retain(|l| l.quantity > 0);
                cart.coupon = cart.coupon.or(guest.coupon);
                save(w, cart)
            })
            .await?;
        reply(&state, &who, &cart)
    }
}
