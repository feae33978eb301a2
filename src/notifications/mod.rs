//! In-app notifications: the record, and how events leave one. The endpoints are in `api`.

pub mod api;
pub mod push;
pub mod sms;
pub mod subscriptions;

use chrono::{DateTime, Utc};
use poem_openapi::Enum;
use serde::{Deserialize, Serialize};

use uuid::Uuid;

use crate::events::OrderEvent;
use crate::jobs::{Job, Outcome};
use crate::orders::ORDERS;
use crate::state::AppState;
use crate::store::Collection;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    OrderCreated,
    OrderShipped,
    OrderDelivered,
    OrderCancelled,
    /// Any other status change.
    OrderStatus,
    ReturnDecided,
    PaymentSucceeded,
    PaymentFailed,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::OrderCreated,
        Kind::OrderShipped,
        Kind::OrderDelivered,
        Kind::OrderCancelled,
        Kind::OrderStatus,
        Kind::ReturnDecided,
        Kind::PaymentSucceeded,
        Kind::PaymentFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OrderCreated => "ORDER_CREATED",
            Kind::OrderShipped => "ORDER_SHIPPED",
            Kind::OrderDelivered => "ORDER_DELIVERED",
            Kind::OrderCancelled => "ORDER_CANCELLED",
            Kind::OrderStatus => "ORDER_STATUS",
            Kind::ReturnDecided => "RETURN_DECIDED",
            Kind::PaymentSucceeded => "PAYMENT_SUCCEEDED",
            Kind::PaymentFailed => "PAYMENT_FAILED",
        }
    }

    /// The kind a record names (records keep the name, so a later version can add kinds);
    /// a name this version does not know reads as a status change.
    pub fn of(name: &str) -> Kind {
        Kind::ALL.into_iter().find(|k| k.as_str() == name).unwrap_or(Kind::OrderStatus)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    pub id: u64,
    pub user_id: u64,
    /// ORDER_CREATED, ORDER_SHIPPED, ...
    pub kind: String,
    pub title: String,
    pub body: String,
    pub read: bool,
    pub created_at: DateTime<Utc>,
    /// The outbox job that wrote it.
    #[serde(default)]
    pub job: Option<Uuid>,
}

/// Keyed (user id, notification id): a user's notifications are one prefix.
pub static NOTIFICATIONS: Collection<(u64, u64), Notification> = Collection::new("notifications");

/// The job that tells an order's customer about `event` in the app, under the id its job was
/// given: a job run twice writes the same record, never a second one.
pub fn deliver(state: &AppState, job: &Job, order_id: Uuid, event: OrderEvent, id: u64) -> Outcome {
    let order = match state.store.read().and_then(|r| r.get(&ORDERS, &order_id)) {
        Ok(Some(o)) => o,
        Ok(None) => return Outcome::done(),
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let (kind, title, body) = event.notice(&order);
    let alerts = match (event, &state.settings.shop_email) {
        (OrderEvent::Placed, Some(shop)) => owner_alerts(state, &order, shop),
        _ => Vec::new(),
    };
    let (user_id, created_at, job) = (order.user_id, job.created_at, job.id);
    Outcome::with(move |w| {
        let kind = kind.as_str().to_string();
        let n = Notification { id, user_id, kind, title, body, read: false, created_at, job: Some(job) };
        w.put(&NOTIFICATIONS, &(user_id, id), &n)?;
        // Fixed ids: a repeat of this job (it may run twice) sets each alert off once.
        for (n, mail) in alerts.into_iter().enumerate() {
            let alert = Uuid::from_u128(job.as_u128().wrapping_add(n as u128 + 1));
            crate::jobs::enqueue_once(w, alert, crate::jobs::Task::Mail { mail })?;
        }
        Ok(Vec::new())
    })
}

/// The shop's own mails for a new order: the order, and the products it took below the
/// low-stock threshold (those it made cross it, not those already below).
fn owner_alerts(state: &AppState, order: &crate::orders::Order, shop: &str) -> Vec<crate::mail::Mail> {
    let short = order.label();
    let lines: String = order.items.iter().map(|i| format!("{} x {}  {}\n", i.quantity, i.title, i.total)).collect();
    let text = format!(
        "A new order {short} of {} {} was placed.\n\n{lines}\nTotal: {} {}\n",
        order.total, order.currency, order.total, order.currency
    );
    let subject = format!("New order {short}: {} {}", order.total, order.currency);
    let mut mails = vec![crate::mail::Mail { to: shop.to_string(), subject, html: html(&text), text }];
    let threshold = i64::from(state.settings.low_stock_threshold);
    // From the store: the order is committed there before the catalog in memory hears of it.
    let read = state.store.read().ok();
    let low: Vec<String> = order
        .items
        .iter()
        .filter_map(|i| {
            let now = read.as_ref()?.get(&crate::products::PRODUCTS, &i.product_id).ok()??.stock;
            let before = now + i64::from(i.quantity);
            (now < threshold && before >= threshold).then(|| format!("{} (#{}): {} left\n", i.title, i.product_id, now))
        })
        .collect();
    if !low.is_empty() {
        let text = format!("Stock fell below {threshold} with order {short}:\n\n{}", low.concat());
        let subject = format!("Low stock: {} product{}", low.len(), if low.len() == 1 { "" } else { "s" });
        mails.push(crate::mail::Mail { to: shop.to_string(), subject, html: html(&text), text });
    }
    mails
}

fn html(text: &str) -> String {
    let escaped = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!("<pre style=\"font-family: sans-serif\">{escaped}</pre>")
}
