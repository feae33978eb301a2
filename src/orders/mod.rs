//! Orders: the record, the money rules, the status machine, and the views.

pub mod api;
pub mod cancel;
pub mod checkout;
pub mod expiry;
pub mod export;
pub mod guest;
pub mod invoice;
pub mod returns;

pub use cancel::{Why, cancel_in};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::Settings;
use crate::products::{PRODUCTS, Product};
use crate::store::{Collection, Index, StoreError, WriteTx, key};
use crate::types::Money;
use crate::users::timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[oai(rename_all = "UPPERCASE")]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pending,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
}

impl Status {
    /// PENDING → PROCESSING → SHIPPED → DELIVERED; PENDING or PROCESSING → CANCELLED.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Pending, Processing) | (Processing, Shipped) | (Shipped, Delivered) | (Pending | Processing, Cancelled)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Processing => "PROCESSING",
            Status::Shipped => "SHIPPED",
            Status::Delivered => "DELIVERED",
            Status::Cancelled => "CANCELLED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename = "ShippingAddress", rename_all = "camelCase")]
pub struct ShippingAddress {
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,198}\S)?\s*$"))]
    pub first_name: String,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,198}\S)?\s*$"))]
    pub last_name: String,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,198}\S)?\s*$"))]
    pub address: String,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,198}\S)?\s*$"))]
    pub city: String,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,198}\S)?\s*$"))]
    pub state: String,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,198}\S)?\s*$"))]
    pub zip_code: String,
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,198}\S)?\s*$"))]
    pub country: String,
    #[serde(default)]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderItem {
    pub id: u64,
    pub product_id: u64,
    pub quantity: u32,
    /// The discounted unit price when ordered.
    pub price: Money,
    pub total: Money,
    /// This line's part of the order's coupon discount: what a return of it does not refund.
    #[serde(default)]
    pub discount: Money,
    pub title: String,
    pub thumbnail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub status: Status,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Note {
    pub id: u64,
    pub author_id: u64,
    pub note: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[oai(rename_all = "UPPERCASE")]
#[serde(rename_all = "UPPERCASE")]
pub enum ReturnStatus {
    Requested,
    Approved,
    Rejected,
}

#[derive(Debug, Clone, Serialize, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename = "ReturnItem", rename_all = "camelCase")]
pub struct ReturnItem {
    pub order_item_id: u64,
    #[oai(validator(minimum(value = "1")))]
    pub quantity: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Return {
    pub id: u64,
    pub status: ReturnStatus,
    pub items: Vec<ReturnItem>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The refund an approval waits for: the return is approved when it goes through.
    #[serde(default)]
    pub refunding: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    pub id: Uuid,
    /// The human number (`#1001`), taken in the order's own transaction. 0 only in a store
    /// written before numbers existed, until its first start numbers it.
    #[serde(default)]
    pub number: u64,
    /// The customer's account, or [`GUEST`].
    pub user_id: u64,
    /// The customer's email when they ordered (a guest's is the only way to reach them).
    #[serde(default)]
    pub email: Option<String>,
    pub status: Status,
    pub subtotal: Money,
    /// The coupon's discount: Σ of the lines' shares.
    #[serde(default)]
    pub discount: Money,
    pub tax: Money,
    pub shipping: Money,
    pub total: Money,
    pub currency: String,
    #[serde(default)]
    pub coupon: Option<OrderCoupon>,
    /// A guest's order token: its SHA-256 and when it stops working.
    #[serde(default)]
    pub guest_token: Option<GuestToken>,
    pub tracking_number: Option<String>,
    pub carrier: Option<String>,
    pub estimated_delivery: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub items: Vec<OrderItem>,
    pub address: ShippingAddress,
    pub payment_intent_id: Option<String>,
    pub notes: Vec<Note>,
    pub history: Vec<HistoryEntry>,
    #[serde(default)]
    pub returns: Vec<Return>,
    /// The refund a cancellation waits for: the order is cancelled when it goes through, and
    /// no other status change may come first.
    #[serde(default)]
    pub refunding: Option<Uuid>,
}

/// The `user_id` of an order placed without an account. Account ids start at 1.
pub const GUEST: u64 = 0;

/// The coupon an order used.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderCoupon {
    pub id: u64,
    pub code: String,
    pub kind: crate::coupons::Kind,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuestToken {
    /// SHA-256 of the token, hex.
    pub hash: String,
    pub expires_at: DateTime<Utc>,
}

/// Who an order is for.
pub struct Buyer {
    pub user_id: u64,
    pub email: Option<String>,
    pub address: ShippingAddress,
}

/// What a coupon gives an order: the lines carry their shares already.
pub struct Deal {
    pub coupon: OrderCoupon,
    pub free_shipping: bool,
}

fn by_user(o: &Order) -> Vec<Vec<u8>> {
    if o.user_id == GUEST { Vec::new() } else { vec![key::encode(&(o.user_id, o.id))] }
}

/// Guest orders by email, so that they join the account verified with that email.
fn by_guest_email(o: &Order) -> Vec<Vec<u8>> {
    match (&o.email, o.user_id) {
        (Some(e), GUEST) => vec![key::encode(&(e.to_lowercase(), o.id))],
        _ => Vec::new(),
    }
}

fn by_status(o: &Order) -> Vec<Vec<u8>> {
    vec![key::encode(&(o.status.as_str(),))]
}

fn by_number(o: &Order) -> Vec<Vec<u8>> {
    if o.number == 0 { Vec::new() } else { vec![key::encode(&o.number)] }
}

pub static ORDER_INDEXES: [Index<Order>; 4] = [
    Index::new("orders.by_user", by_user),
    Index::counted("orders.by_status", by_status),
    Index::unique("orders.by_number", by_number),
    Index::new("orders.by_guest_email", by_guest_email),
];
/// Keyed by UUID v7, so the key order is the creation order. The sales figures follow every
/// change.
pub static ORDERS: Collection<Uuid, Order> =
    Collection::with_indexes("orders", &ORDER_INDEXES).deriving(|w, before, after| {
        crate::stats::sale_changed(w, before.and_then(Order::sale), after.and_then(Order::sale))
    });
/// A user's orders, oldest first.
pub static ORDERS_BY_USER: &Index<Order> = &ORDER_INDEXES[0];
/// Orders by status, oldest first within one, with a count per status.
pub static ORDERS_BY_STATUS: &Index<Order> = &ORDER_INDEXES[1];
/// An order by its number: unique.
pub static ORDERS_BY_NUMBER: &Index<Order> = &ORDER_INDEXES[2];
/// Guest orders by (lowercase email, id).
pub static ORDERS_BY_GUEST_EMAIL: &Index<Order> = &ORDER_INDEXES[3];

/// The last order number given (`"last"`), and whether a store's older orders were numbered.
static ORDER_NUMBERS: Collection<str, u64> = Collection::new("order_numbers");

/// The next order number: one more than the last, and never below `start`
/// (`ORDER_NUMBER_START`). In the order's own transaction, so no number is skipped or repeated:
/// a transaction that fails gives its number back with everything else.
pub fn next_number(w: &mut WriteTx<'_>, start: u64) -> Result<u64, StoreError> {
    let last = w.get(&ORDER_NUMBERS, "last")?.unwrap_or(0);
    let next = (last + 1).max(start.max(1));
    w.put(&ORDER_NUMBERS, "last", &next)?;
    Ok(next)
}

/// Numbers the orders of a store written before numbers existed, oldest first, once. Runs at
/// start-up before requests are taken.
pub async fn number_old_orders(store: &crate::store::Store, start: u64) -> Result<(), StoreError> {
    if store.read()?.get(&ORDER_NUMBERS, "numbered")?.is_some() {
        return Ok(());
    }
    let r = store.read()?;
    let old: Vec<Uuid> =
        r.scan(&ORDERS, &(), false)?.filter_map(|o| o.ok()).filter(|o| o.number == 0).map(|o| o.id).collect();
    drop(r);
    for chunk in old.chunks(2_000) {
        let ids = chunk.to_vec();
        store
            .write(move |w| {
                for id in ids {
                    if let Some(mut o) = w.get(&ORDERS, &id)?.filter(|o| o.number == 0) {
                        o.number = next_number(w, start)?;
                        w.put(&ORDERS, &id, &o)?;
                    }
                }
                Ok::<_, StoreError>(())
            })
            .await?;
    }
    if !old.is_empty() {
        tracing::info!(orders = old.len(), "numbered the orders placed before order numbers");
    }
    store.write(|w| w.put(&ORDER_NUMBERS, "numbered", &1)).await
}
/// The smallest order id of the millisecond `at` (ids are UUID v7): where a walk of the orders
/// placed from `at` on begins, or one placed before `at` ends.
pub fn first_id_at(at: DateTime<Utc>) -> Uuid {
    let ms = at.timestamp_millis().max(0) as u64;
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    Uuid::from_bytes(bytes)
}

/// The carrier's tracking page for a parcel, for the carriers we know.
pub fn tracking_url(carrier: &str, number: &str) -> Option<String> {
    let base = match carrier.to_ascii_lowercase().as_str() {
        "ups" => "https://www.ups.com/track?tracknum=",
        "fedex" => "https://www.fedex.com/fedextrack/?trknbr=",
        "usps" => "https://tools.usps.com/go/TrackConfirmAction?tLabels=",
        "dhl" => "https://www.dhl.com/global-en/home/tracking.html?tracking-id=",
        _ => return None,
    };
    let number: String = number
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'-' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    Some(format!("{base}{number}"))
}

/// Sequences for order item, note and return ids.
pub static ORDER_ITEMS: Collection<u64, ()> = Collection::new("order_items");
pub static ORDER_NOTES: Collection<u64, ()> = Collection::new("order_notes");
pub static ORDER_RETURNS: Collection<u64, ()> = Collection::new("order_returns");

/// An order's money: subtotal = Σ line totals; discount = Σ the lines' coupon shares; tax =
/// (subtotal − discount) × rate; shipping free from the threshold (compared with subtotal −
/// discount) or with a free-shipping code; each rounded half-up to the cent.
pub struct Totals {
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub shipping: Money,
    pub total: Money,
}

pub fn totals(items: &[OrderItem], settings: &Settings, free_shipping: bool) -> Totals {
    let subtotal = Money::from_decimal(items.iter().map(|i| i.total.amount()).sum::<Decimal>());
    let discount = Money::from_decimal(items.iter().map(|i| i.discount.amount()).sum::<Decimal>());
    let taxed = subtotal.amount() - discount.amount();
    let tax = Money::from_decimal(taxed * settings.tax_rate);
    let shipping = if free_shipping || taxed >= settings.free_shipping_threshold || items.is_empty() {
        Money::ZERO
    } else {
        Money::from_decimal(settings.shipping_flat_rate)
    };
    let total = Money::from_decimal(taxed + tax.amount() + shipping.amount());
    Totals { subtotal, discount, tax, shipping, total }
}

#[derive(Debug, Clone, Object)]
#[oai(rename = "OrderItemProduct")]
pub struct ItemProduct {
    pub id: u64,
    pub title: String,
    pub thumbnail: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename = "OrderItem", rename_all = "camelCase")]
pub struct OrderItemView {
    pub id: u64,
    pub product_id: u64,
    pub quantity: u32,
    pub price: Money,
    pub total: Money,
    /// This line's part of the coupon discount.
    pub discount: Money,
    pub product: ItemProduct,
}

#[derive(Debug, Clone, Object)]
#[oai(rename = "OrderHistory")]
pub struct HistoryView {
    pub status: Status,
    pub at: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename = "OrderNote", rename_all = "camelCase")]
pub struct NoteView {
    pub id: u64,
    pub author_id: u64,
    pub note: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename = "OrderReturn", rename_all = "camelCase")]
pub struct ReturnView {
    pub id: u64,
    pub status: ReturnStatus,
    pub items: Vec<ReturnItem>,
    pub reason: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename = "OrderUser", rename_all = "camelCase")]
pub struct OrderUser {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename = "Order", rename_all = "camelCase")]
pub struct OrderView {
    pub id: String,
    /// The order's number, shown as `#1001`.
    pub number: u64,
    /// Null for a guest's order.
    pub user_id: Option<u64>,
    /// The customer's email when they ordered.
    pub email: Option<String>,
    pub status: Status,
    pub subtotal: Money,
    pub discount: Money,
    /// (subtotal − discount) × the tax rate.
    pub tax: Money,
    pub shipping: Money,
    /// subtotal − discount + tax + shipping.
    pub total: Money,
    pub currency: String,
    pub coupon_code: Option<String>,
    pub tracking_number: Option<String>,
    pub carrier: Option<String>,
    pub estimated_delivery: Option<String>,
    pub delivered_at: Option<String>,
    pub cancelled_at: Option<String>,
    pub cancel_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub items: Vec<OrderItemView>,
    pub address: ShippingAddress,
    /// The payment, once one is made (payments fill this in).
    pub payment: Option<crate::payments::view::PaymentView>,
    pub notes: Vec<NoteView>,
    pub history: Vec<HistoryView>,
    pub returns: Vec<ReturnView>,
    /// Admin lists only.
    #[oai(skip_serializing_if_is_none)]
    pub user: Option<OrderUser>,
}

impl Return {
    pub fn view(&self) -> ReturnView {
        ReturnView {
            id: self.id,
            status: self.status,
            items: self.items.clone(),
            reason: self.reason.clone(),
            created_at: timestamp(&self.created_at),
        }
    }
}

impl Order {
    pub fn view(&self) -> OrderView {
        OrderView {
            id: self.id.to_string(),
            number: self.number,
            user_id: (self.user_id != GUEST).then_some(self.user_id),
            email: self.email.clone(),
            status: self.status,
            subtotal: self.subtotal,
            discount: self.discount,
            tax: self.tax,
            shipping: self.shipping,
            total: self.total,
            currency: self.currency.clone(),
            coupon_code: self.coupon.as_ref().map(|c| c.code.clone()),
            tracking_number: self.tracking_number.clone(),
            carrier: self.carrier.clone(),
            estimated_delivery: self.estimated_delivery.clone(),
            delivered_at: self.delivered_at.as_ref().map(timestamp),
            cancelled_at: self.cancelled_at.as_ref().map(timestamp),
            cancel_reason: self.cancel_reason.clone(),
            created_at: timestamp(&self.created_at),
            updated_at: timestamp(&self.updated_at),
            items: self
                .items
                .iter()
                .map(|i| OrderItemView {
                    id: i.id,
                    product_id: i.product_id,
                    quantity: i.quantity,
                    price: i.price,
                    total: i.total,
                    discount: i.discount,
                    product: ItemProduct {
                        id: i.product_id,
                        title: i.title.clone(),
                        thumbnail: crate::http::envelope::public_url(&i.thumbnail),
                    },
                })
                .collect(),
            address: self.address.clone(),
            payment: None,
            notes: self
                .notes
                .iter()
                .map(|n| NoteView {
                    id: n.id,
                    author_id: n.author_id,
                    note: n.note.clone(),
                    created_at: timestamp(&n.created_at),
                })
                .collect(),
            history: self
                .history
                .iter()
                .map(|h| HistoryView { status: h.status, at: timestamp(&h.at), note: h.note.clone() })
                .collect(),
            returns: self.returns.iter().map(Return::view).collect(),
            user: None,
        }
    }

    /// A new PENDING order of `items` (carrying their coupon shares) for `buyer`, placed `at`,
    /// with its money from [`totals`] and the next order number.
    pub fn placed(
        w: &mut WriteTx<'_>,
        settings: &Settings,
        id: Uuid,
        buyer: Buyer,
        items: Vec<OrderItem>,
        deal: Option<Deal>,
        at: DateTime<Utc>,
    ) -> Result<Order, StoreError> {
        let t = totals(&items, settings, deal.as_ref().is_some_and(|d| d.free_shipping));
        let address = buyer.address;
        Ok(Order {
            id,
            number: next_number(w, settings.order_number_start)?,
            user_id: buyer.user_id,
            email: buyer.email,
            status: Status::Pending,
            subtotal: t.subtotal,
            discount: t.discount,
            tax: t.tax,
            shipping: t.shipping,
            total: t.total,
            currency: crate::shop::currency_in(w, settings)?,
            coupon: deal.map(|d| d.coupon),
            guest_token: None,
            tracking_number: None,
            carrier: None,
            estimated_delivery: None,
            delivered_at: None,
            cancelled_at: None,
            cancel_reason: None,
            created_at: at,
            updated_at: at,
            items,
            address,
            // Bound by the payments endpoints, never taken from the client.
            payment_intent_id: None,
            notes: Vec::new(),
            history: vec![HistoryEntry { status: Status::Pending, at, note: Some("Order placed".into()) }],
            returns: Vec::new(),
            refunding: None,
        })
    }

    /// How people name the order: `#1001`.
    pub fn label(&self) -> String {
        if self.number == 0 { self.id.to_string()[..8].to_string() } else { format!("#{}", self.number) }
    }

    /// What the order adds to the sales figures: its total and lines on the day it was placed,
    /// unless it was cancelled (or expired) without ever being paid. Money that came back is
    /// counted by its refunds.
    pub fn sale(&self) -> Option<crate::stats::Sale> {
        // Every way out of PENDING but cancelling is a payment (or an admin's say-so that one
        // was made).
        let paid = self.history.iter().any(|h| !matches!(h.status, Status::Pending | Status::Cancelled));
        if self.status == Status::Cancelled && !paid {
            return None;
        }
        let lines = self
            .items
            .iter()
            .map(|i| crate::stats::Line {
                product_id: i.product_id,
                units: i64::from(i.quantity),
                revenue: i.total.cents() - i.discount.cents(),
            })
            .collect();
        Some(crate::stats::Sale { at: self.created_at, total: self.total.cents(), lines })
    }

    /// Moves to `next` with a history entry, or refuses with `INVALID_STATUS_TRANSITION`.
    pub fn transition(&mut self, next: Status, note: Option<String>) -> crate::error::ApiResult<()> {
        if self.refunding.is_some() {
            return Err(crate::error::ApiError::new(crate::error::ErrorCode::Conflict)
                .with_message("This order is being cancelled: its refund is on the way")
                .with_header("retry-after", "1"));
        }
        if !self.status.can_become(next) {
            return Err(crate::error::ApiError::new(crate::error::ErrorCode::InvalidStatusTransition)
                .with_message(format!("An order cannot go from {} to {}", self.status.as_str(), next.as_str())));
        }
        let now = Utc::now();
        self.status = next;
        self.updated_at = now;
        match next {
            Status::Delivered => self.delivered_at = Some(now),
            Status::Cancelled => self.cancelled_at = Some(now),
            _ => {}
        }
        self.history.push(HistoryEntry { status: next, at: now, note });
        Ok(())
    }
}

/// Puts units back on the shelf; returns the products changed.
pub(crate) fn restock(w: &mut WriteTx<'_>, lines: &[(u64, u32)]) -> Result<Vec<Product>, StoreError> {
    let mut changed: BTreeMap<u64, Product> = BTreeMap::new();
    for (product_id, quantity) in lines {
        let current = match changed.remove(product_id) {
            Some(p) => Some(p),
            None => w.get(&PRODUCTS, product_id)?,
        };
        if let Some(mut p) = current {
            p.stock += *quantity as i64;
            p.updated_at = Utc::now();
            crate::products::save(w, &mut p)?;
            changed.insert(*product_id, p);
        }
    }
    Ok(changed.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_machine() {
        use Status::*;
        let allowed = [
            (Pending, Processing),
            (Processing, Shipped),
            (Shipped, Delivered),
            (Pending, Cancelled),
            (Processing, Cancelled),
        ];
        for from in [Pending, Processing, Shipped, Delivered, Cancelled] {
            for to in [Pending, Processing, Shipped, Delivered, Cancelled] {
                assert_eq!(from.can_become(to), allowed.contains(&(from, to)), "{from:?} → {to:?}");
            }
        }
    }
}
