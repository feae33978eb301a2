//! Carts: one per signed-in user (kept until emptied by an order) and one per guest session
//! (swept after CART_EXPIRY_DAYS without activity). The view is computed from the live catalog
//! with exact decimal money.

pub mod api;

use chrono::{DateTime, Duration, Utc};
use poem_openapi::Object;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::coupons::{AppliedCoupon, Coupon, Priced};
use crate::products::catalog::Catalog;
use crate::store::{Collection, Store, StoreError};
use crate::types::Money;
use crate::users::timestamp;

/// Whose cart: a user's (`u:<id>`) or a guest session's (`s:<session id>`).
pub fn owner_key(user_id: Option<u64>, session: Option<&str>) -> String {
    match (user_id, session) {
        (Some(u), _) => format!("u:{u}"),
        (None, Some(s)) => format!("s:{s}"),
        (None, None) => unreachable!("a cart request has a user or a session"),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CartLine {
    pub id: u64,
    pub product_id: u64,
    pub quantity: u32,
    pub added_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cart {
    pub id: Uuid,
    pub owner: String,
    pub items: Vec<CartLine>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the abandoned-cart reminder went out for this cart's current contents.
    #[serde(default)]
    pub reminded_at: Option<DateTime<Utc>>,
    /// The coupon code the customer entered, as entered; applied when the cart is ordered.
    #[serde(default)]
    pub coupon: Option<String>,
}

pub static CARTS: Collection<str, Cart> = Collection::new("carts");
/// Only for cart line ids.
pub static CART_LINES: Collection<u64, ()> = Collection::new("cart_lines");

impl Cart {
    pub fn new(owner: String) -> Cart {
        let now = Utc::now();
        Cart {
            id: Uuid::now_v7(),
            owner,
            items: Vec::new(),
            created_at: now,
            updated_at: now,
            reminded_at: None,
            coupon: None,
        }
    }

    pub fn is_guest(&self) -> bool {
        self.owner.starts_with("s:")
    }

    pub fn user_id(&self) -> Option<u64> {
        self.owner.strip_prefix("u:").and_then(|u| u.parse().ok())
    }
}

#[derive(Debug, Clone, Object)]
#[oai(rename = "CartProduct", rename_all = "camelCase")]
pub struct CartProduct {
    pub id: u64,
    pub title: String,
    pub price: Money,
    pub discount_percentage: f64,
    pub thumbnail: String,
    pub stock: i64,
    pub is_active: bool,
}

#[derive(Debug, Clone, Object)]
#[oai(rename = "CartItem", rename_all = "camelCase")]
pub struct CartItemView {
    pub id: u64,
    pub product_id: u64,
    pub quantity: u32,
    pub product: Option<CartProduct>,
    pub unit_price: Money,
    /// price × (1 − discount/100), half-up to the cent.
    pub discounted_price: Money,
    /// discountedPrice × quantity.
    pub item_total: Money,
}

#[derive(Debug, Clone, Object)]
#[oai(rename = "Cart", rename_all = "camelCase")]
pub struct CartView {
    pub id: String,
    pub items: Vec<CartItemView>,
    pub subtotal: Money,
    /// The code entered (`POST /cart/coupon`), or null.
    pub coupon: Option<AppliedCoupon>,
    /// What the code takes off the subtotal now (0 without one, or when it no longer applies).
    pub discount: Money,
    /// subtotal − discount, before tax and shipping.
    pub total: Money,
    pub item_count: u32,
    /// Guest carts only: when the cart is swept if left alone.
    pub expires_at: Option<String>,
}

/// The cart as the client sees it, priced from the live catalog, with the discount of its
/// `coupon` (the record of the cart's code, if there is one).
pub fn view(cart: &Cart, catalog: &Catalog, coupon: Option<&Coupon>, expiry_days: u32) -> CartView {
    let mut subtotal = Money::ZERO.amount();
    let mut count = 0u32;
    let items = cart
        .items
        .iter()
        .map(|line| {
            let p = catalog.get(line.product_id);
            let (unit, discounted) =
                p.as_ref().map(|p| (p.price, p.discounted_price())).unwrap_or((Money::ZERO, Money::ZERO));
            let total = Money::from_decimal(discounted.amount() * rust_decimal::Decimal::from(line.quantity));
            // A line whose product was deleted stays visible (isActive false) but cannot be
            // bought, so it does not count.
            if p.as_ref().is_some_and(|p| p.is_active) {
                subtotal += total.amount();
                count += line.quantity;
            }
            CartItemView {
                id: line.id,
                product_id: line.product_id,
                quantity: line.quantity,
                product: p.map(|p| CartProduct {
                    id: p.id,
                    title: p.title.clone(),
                    price: p.price,
                    discount_percentage: crate::types::number(p.discount_percentage),
                    thumbnail: crate::http::envelope::public_url(&p.thumbnail),
                    stock: p.stock,
                    is_active: p.is_active,
                }),
                unit_price: unit,
                discounted_price: discounted,
                item_total: total,
            }
        })
        .collect();
    let discount = coupon
        .and_then(|c| c.usable(Utc::now()).and_then(|_| c.apply(&buyable(cart, catalog))).ok())
        .map_or(Money::ZERO, |a| a.discount);
    let subtotal = Money::from_decimal(subtotal);
    CartView {
        id: cart.id.to_string(),
        items,
        subtotal,
        // A code deleted since it was entered is gone from the cart too.
        coupon: coupon.map(|c| AppliedCoupon { code: c.code.clone(), r#type: c.kind }),
        discount,
        total: Money::from_decimal(subtotal.amount() - discount.amount()),
        item_count: count,
        expires_at: cart.is_guest().then(|| timestamp(&(cart.updated_at + Duration::days(expiry_days as i64)))),
    }
}

/// The lines that can be bought (their product still active), as a coupon sees them.
pub fn buyable(cart: &Cart, catalog: &Catalog) -> Vec<Priced> {
    cart.items
        .iter()
        .filter_map(|l| catalog.get(l.product_id).filter(|p| p.is_active).map(|p| (l, p)))
        .map(|(l, p)| Priced {
            product_id: p.id,
            category: p.category.clone(),
            total: Money::from_decimal(p.discounted_price().amount() * rust_decimal::Decimal::from(l.quantity)),
        })
        .collect()
}

/// Deletes guest carts idle for more than `days`. Returns how many went.
pub async fn sweep_guests(store: &Store, days: u32) -> Result<usize, StoreError> {
    let cutoff = Utc::now() - Duration::days(days as i64);
    let stale: Vec<String> = store
        .read()?
        .scan(&CARTS, &(), false)?
        .filter_map(Result::ok)
        .filter(|c| c.is_guest() && c.updated_at < cutoff)
        .map(|c| c.owner)
        .collect();
    for chunk in stale.chunks(500) {
        let chunk = chunk.to_vec();
        store
            .write(move |w| {
                for k in &chunk {
                    // Checked again: the guest may have come back since the snapshot.
                    if w.get(&CARTS, k.as_str())?.is_some_and(|c| c.updated_at < cutoff) {
                        w.delete(&CARTS, k.as_str())?;
                    }
                }
                Ok::<_, StoreError>(())
            })
            .await?;
    }
    Ok(stale.len())
}

/// Mails each signed-in user whose non-empty cart has been left alone for `hours`, once per
/// cart contents (a change to the cart arms the reminder again). Returns how many were sent.
pub async fn remind_abandoned(state: &crate::state::AppState) -> Result<usize, StoreError> {
    let hours = state.settings.abandoned_cart_reminder_hours as i64;
    let cutoff = Utc::now() - Duration::hours(hours);
    let due: Vec<Cart> = state
        .store
        .read()?
        .scan(&CARTS, &(), false)?
        .filter_map(Result::ok)
        .filter(|c| !c.is_guest() && !c.items.is_empty() && c.updated_at < cutoff && c.reminded_at.is_none())
        .collect();
    let mut sent = 0;
    let client_url = state.settings.client_url.clone();
    for cart in due {
        let Some(user_id) = cart.user_id() else { continue };
        let user = state.store.read()?.get(&crate::users::USERS, &user_id)?;
        let Some(user) = user.filter(|u| u.is_active && u.preferences.email_notifications) else { continue };
        let (owner, link) = (cart.owner.clone(), format!("{}/cart", client_url.trim_end_matches('/')));
        // Marked in the write that enqueues the mail: a reminder is never sent twice.
        let template = crate::mail::templates::ABANDONED_CART.load(&state.settings.data_dir).await;
        let marked = state
            .store
            .write(move |w| {
                let Some(mut c) = w.get(&CARTS, owner.as_str())? else { return Ok(false) };
                if c.reminded_at.is_some() || c.updated_at >= cutoff {
                    return Ok(false);
                }
                c.reminded_at = Some(Utc::now());
                w.put(&CARTS, owner.as_str(), &c)?;
                let count = c.items.iter().map(|l| l.quantity).sum::<u32>().to_string();
                let vars = [("name", user.first_name.as_str()), ("count", count.as_str()), ("link", link.as_str())];
                let mail = template.render(&user.email, &vars);
                crate::jobs::enqueue(w, crate::jobs::Task::Mail { mail })?;
                Ok::<_, StoreError>(true)
            })
            .await?;
        sent += marked as usize;
    }
    Ok(sent)
}
