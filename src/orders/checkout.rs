//! Checkout: an order placed from the lines a customer sends or from their cart. The stock of
//! every line is taken in one transaction or none is, the totals are computed there from the
//! products as stored, and the order, the emptied cart and the idempotency record commit
//! together.

use std::collections::BTreeMap;

use chrono::Utc;
use poem_openapi::Object;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Buyer, Deal, GUEST, ORDER_ITEMS, ORDERS, Order, OrderCoupon, OrderItem, OrderView, ShippingAddress};
use crate::audit::{self, Actor, Event};
use crate::cart::CARTS;
use crate::config::Settings;
use crate::coupons::{self, Coupon, Priced};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::events::OrderEvent;
use crate::idempotency::Scoped;
use crate::jobs::{self, Task};
use crate::products::mirror::write_published;
use crate::products::{PRODUCTS, Product};
use crate::state::AppState;
use crate::store::WriteTx;
use crate::types::{Money, Quantity};
use crate::users::{ADDRESSES, Check, USERS};

/// Lines per order: enough for any basket, small enough that one order cannot hold the writer.
const MAX_LINES: usize = 250;

#[derive(Debug, Clone, Serialize, Deserialize, Object)]
pub struct LineInput {
    /// The product id.
    pub id: u64,
    pub quantity: Quantity<1>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct CreateOrder {
    /// Without it, the caller's cart is ordered (and emptied).
    #[oai(validator(min_items = 1, max_items = 250))]
    pub products: Option<Vec<LineInput>>,
    pub shipping_address: Option<ShippingAddress>,
    /// A saved address of the caller, instead of `shippingAddress`.
    pub address_id: Option<u64>,
    pub payment_intent_id: Option<String>,
    /// A coupon code (any case). Without it, the cart's code applies when the cart is ordered.
    pub coupon_code: Option<String>,
}

/// Who places an order: an account, or a guest with its session's cart and an email.
#[derive(Debug, Clone)]
pub enum Customer {
    User(u64),
    Guest { session: String, email: String },
}

impl Customer {
    fn cart_key(&self) -> String {
        match self {
            Customer::User(id) => format!("u:{id}"),
            Customer::Guest { session, .. } => format!("s:{session}"),
        }
    }
}

/// What placing an order did.
pub enum Placed {
    New(Box<Order>),
    /// The Idempotency-Key was seen with this request: the first answer, nothing placed.
    Replayed(Box<OrderView>),
}

fn no_address() -> ApiError {
    ApiError::field("shippingAddress", "A shipping address (or addressId) is required")
}

/// The checks that need no store: an address, quantities, the number of lines.
pub fn check(input: &CreateOrder) -> ApiResult<()> {
    if let Some(a) = &input.shipping_address {
        check_address(a)?;
    } else if input.address_id.is_none() {
        return Err(no_address());
    }
    if let Some(lines) = &input.products
        && lines.len() > MAX_LINES
    {
        return Err(ApiError::field("products", format!("At most {MAX_LINES} lines per order")));
    }
    Ok(())
}

/// Places the order of `customer` (see the module) and mirrors the stock it took into the
/// catalog before it returns.
pub async fn place(
    state: &AppState,
    customer: Customer,
    input: CreateOrder,
    idem: Option<Scoped>,
    actor: Actor,
) -> ApiResult<Placed> {
    let settings = state.settings.clone();
    let id = Uuid::now_v7();
    let token = matches!(customer, Customer::Guest { .. }).then(|| super::guest::grant(state, id, Utc::now()));
    let (placed, _) = write_published(
        state,
        move |w| take(w, &settings, (id, token), &customer, input, idem.as_ref(), &actor),
        |(_, changed): &(Placed, Vec<Product>)| (changed.clone(), None),
    )
    .await?;
    Ok(placed)
}

/// The transaction of a checkout: what it placed, and the products whose stock it took. The
/// order's id and a guest's token come from outside (the token is derived from the id).
fn take(
    w: &mut WriteTx<'_>,
    settings: &Settings,
    (id, token): (Uuid, Option<super::GuestToken>),
    customer: &Customer,
    input: CreateOrder,
    idem: Option<&Scoped>,
    actor: &Actor,
) -> ApiResult<(Placed, Vec<Product>)> {
    if let Some(k) = idem
        && let Some(first) = k.replay_in(w)?
    {
        return Ok((Placed::Replayed(Box::new(first)), Vec::new()));
    }
    let address = match (input.shipping_address, input.address_id) {
        (Some(a), _) => a,
        (None, Some(id)) => {
            let Customer::User(user_id) = customer else { return Err(no_address()) };
            let a = w.get(&ADDRESSES, &(*user_id, id))?.ok_or_else(|| ApiError::new(ErrorCode::AddressNotFound))?;
            ShippingAddress {
                first_name: a.first_name,
                last_name: a.last_name,
                address: a.address,
                city: a.city,
                state: a.state,
                zip_code: a.zip_code,
                country: a.country,
                phone: Some(a.phone),
            }
        }
        (None, None) => return Err(no_address()),
    };
    let (user_id, email) = match customer {
        Customer::User(id) => (*id, w.get(&USERS, id)?.map(|u| u.email)),
        Customer::Guest { email, .. } => (GUEST, Some(email.clone())),
    };
    let cart_key = customer.cart_key();
    let from_cart = input.products.is_none();
    let mut code = input.coupon_code.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    let mut wanted: BTreeMap<u64, u64> = BTreeMap::new();
    let requested: Vec<(u64, u64)> = match input.products {
        Some(lines) => lines.into_iter().map(|l| (l.id, u64::from(l.quantity.0))).collect(),
        None => {
            let cart = w.get(&CARTS, cart_key.as_str())?;
            // The cart's code, unless it was deleted since (the cart then shows none).
            if code.is_none()
                && let Some(c) = cart.as_ref().and_then(|c| c.coupon.clone())
                && coupons::find(w, &c).is_ok()
            {
                code = Some(c);
            }
            cart.map(|c| c.items.into_iter().map(|l| (l.product_id, l.quantity as u64)).collect()).unwrap_or_default()
        }
    };
    for (id, q) in requested {
        *wanted.entry(id).or_default() += q;
    }
    if wanted.is_empty() {
        return Err(ApiError::new(ErrorCode::EmptyOrder));
    }
    let mut items = Vec::with_capacity(wanted.len());
    let mut categories = Vec::with_capacity(wanted.len());
    let mut changed = Vec::with_capacity(wanted.len());
    for (product_id, quantity) in wanted {
        let mut p = w.get(&PRODUCTS, &product_id)?.filter(|p| p.is_active).ok_or_else(|| {
            ApiError::new(ErrorCode::ProductNotFound).with_message(format!("Product {product_id} not found"))
        })?;
        if (quantity as i64) > p.stock {
            return Err(insufficient(&p, quantity));
        }
        let before = p.stock;
        p.stock -= quantity as i64;
        p.updated_at = Utc::now();
        crate::products::save(w, &mut p)?;
        // The order that takes a product below the threshold tells the webhooks (once).
        let threshold = i64::from(settings.low_stock_threshold);
        if before >= threshold && p.stock < threshold {
            crate::webhooks::emit(w, "stock.low", crate::webhooks::data(&p.view()))?;
        }
        let price = p.discounted_price();
        items.push(OrderItem {
            id: w.next_id(&ORDER_ITEMS)?,
            product_id,
            quantity: quantity as u32,
            price,
            total: Money::from_decimal(price.amount() * rust_decimal::Decimal::from(quantity)),
            discount: Money::ZERO,
            title: p.title.clone(),
            thumbnail: p.thumbnail.clone(),
        });
        categories.push(p.category.clone());
        changed.push(p);
    }
    let now = Utc::now();
    let deal = match code {
        Some(code) => Some(redeem(w, &code, &mut items, &categories, email.as_deref().unwrap_or_default(), now)?),
        None => None,
    };
    let buyer = Buyer { user_id, email, address };
    let mut order = Order::placed(w, settings, id, buyer, items, deal, now)?;
    order.guest_token = token;
    w.put(&ORDERS, &order.id, &order)?;
    if from_cart {
        w.delete(&CARTS, cart_key.as_str())?;
    }
    if let Some(k) = idem {
        k.record(w, &order.view())?;
    }
    audit::record(
        w,
        actor,
        Event::new("ORDER_CREATE", "Order", order.id).metadata(json!({ "total": order.total.to_string() })),
    )?;
    // Its confirmation commits with it; so does its expiry, if unpaid orders expire.
    crate::events::tell(w, order.id, OrderEvent::Placed)?;
    if let Some(after) = settings.unpaid_order_expiry() {
        jobs::enqueue_at(w, Task::ExpireOrder { order_id: order.id }, now + after)?;
    }
    Ok((Placed::New(Box::new(order)), changed))
}

/// Applies the coupon of `code` to `items` (their shares set in place) and counts its use by
/// `email`, in the order's transaction: two orders cannot both take a code's last use.
fn redeem(
    w: &mut WriteTx<'_>,
    code: &str,
    items: &mut [OrderItem],
    categories: &[String],
    email: &str,
    now: chrono::DateTime<Utc>,
) -> ApiResult<Deal> {
    let c = coupons::find(w, code)?;
    c.usable(now)?;
    let priced: Vec<Priced> = items
        .iter()
        .zip(categories)
        .map(|(i, category)| Priced { product_id: i.product_id, category: category.clone(), total: i.total })
        .collect();
    let applied = c.apply(&priced)?;
    Coupon::take(w, c.id, email)?;
    for (item, share) in items.iter_mut().zip(applied.shares) {
        item.discount = share;
    }
    Ok(Deal { coupon: OrderCoupon { id: c.id, code: c.code, kind: c.kind }, free_shipping: applied.free_shipping })
}

fn insufficient(p: &Product, requested: u64) -> ApiError {
    ApiError::new(ErrorCode::InsufficientStock)
        .with_message(format!("Insufficient stock for {}: available {}, requested {requested}", p.title, p.stock))
}

fn check_address(a: &ShippingAddress) -> ApiResult<()> {
    let mut c = Check::default();
    let fields = [
        ("firstName", &a.first_name),
        ("lastName", &a.last_name),
        ("address", &a.address),
        ("city", &a.city),
        ("state", &a.state),
        ("zipCode", &a.zip_code),
        ("country", &a.country),
    ];
    for (name, value) in fields {
        c.required(&format!("shippingAddress.{name}"), value, 200);
    }
    c.finish()
}
