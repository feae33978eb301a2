//! What happened to an order, and what its customer is told about it: the in-app notification
//! and, for some events, a mail. A change enqueues these as outbox jobs (see `jobs`) in its own
//! transaction; the texts are made when the job runs, from the order as it then is.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::jobs::{self, Task};
use crate::mail::templates::{ORDER_CANCELLED, ORDER_CONFIRMATION, ORDER_DELIVERED, ORDER_SHIPPED, Template};
use crate::notifications::{Kind, NOTIFICATIONS};
use crate::orders::{Order, Status};
use crate::store::{StoreError, WriteTx};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderEvent {
    Placed,
    StatusChanged {
        from: Status,
        to: Status,
    },
    Cancelled,
    /// Cancelled by the shop because it was not paid in time.
    Expired,
    ReturnDecided {
        return_id: u64,
        approved: bool,
    },
    PaymentSucceeded,
    PaymentFailed,
}

impl OrderEvent {
    /// The mail this event sends, if any.
    pub fn template(self) -> Option<&'static Template> {
        match self {
            OrderEvent::Placed => Some(&ORDER_CONFIRMATION),
            OrderEvent::StatusChanged { to: Status::Shipped, .. } => Some(&ORDER_SHIPPED),
            OrderEvent::StatusChanged { to: Status::Delivered, .. } => Some(&ORDER_DELIVERED),
            OrderEvent::StatusChanged { to: Status::Cancelled, .. } | OrderEvent::Cancelled | OrderEvent::Expired => {
                Some(&ORDER_CANCELLED)
            }
            _ => None,
        }
    }

    /// The notification: its kind, title and text.
    pub fn notice(self, order: &Order) -> (Kind, String, String) {
        let short = order.label();
        match self {
            OrderEvent::Placed => (
                Kind::OrderCreated,
                "Order placed".into(),
                format!("Your order {short} of {} {} was placed.", order.total, order.currency),
            ),
            OrderEvent::StatusChanged { to: Status::Shipped, .. } => {
                (Kind::OrderShipped, "Order shipped".into(), format!("Your order {short} is on its way."))
            }
            OrderEvent::StatusChanged { to: Status::Delivered, .. } => {
                (Kind::OrderDelivered, "Order delivered".into(), format!("Your order {short} was delivered."))
            }
            OrderEvent::StatusChanged { to: Status::Cancelled, .. } | OrderEvent::Cancelled => {
                (Kind::OrderCancelled, "Order cancelled".into(), format!("Your order {short} was cancelled."))
            }
            OrderEvent::Expired => (
                Kind::OrderCancelled,
                "Order cancelled".into(),
                format!("Your order {short} was cancelled: it was not paid in time."),
            ),
            OrderEvent::StatusChanged { from, to } => (
                Kind::OrderStatus,
                "Order update".into(),
                format!("Your order {short} went from {} to {}.", from.as_str(), to.as_str()),
            ),
            OrderEvent::ReturnDecided { return_id, approved } => {
                let verdict = if approved { "approved" } else { "rejected" };
                (
                    Kind::ReturnDecided,
                    format!("Return {verdict}"),
                    format!("Your return {return_id} for order {short} was {verdict}."),
                )
            }
            OrderEvent::PaymentSucceeded => (
                Kind::PaymentSucceeded,
                "Payment received".into(),
                format!("We received the payment for order {short}."),
            ),
            OrderEvent::PaymentFailed => {
                (Kind::PaymentFailed, "Payment failed".into(), format!("The payment for order {short} failed."))
            }
        }
    }
}

/// Enqueues what the customer is told about `event`, in the transaction of the change. The
/// notification's id is taken here, so notifications list in the order of their events
/// whatever order their jobs finish in, and a job run twice writes the same record.
pub fn tell(w: &mut WriteTx<'_>, order_id: Uuid, event: OrderEvent) -> Result<(), StoreError> {
    let notification = w.next_id(&NOTIFICATIONS)?;
    jobs::enqueue(w, Task::Notify { order_id, event, notification })?;
    if event.template().is_some() {
        jobs::enqueue(w, Task::OrderMail { order_id, event })?;
    }
    // Read once for the webhooks and the other channels, as the change just wrote it.
    let Some(order) = w.get(&crate::orders::ORDERS, &order_id)? else { return Ok(()) };
    hooks(w, &order, event)?;
    crate::notifications::sms::tell(w, &order, event)?;
    crate::notifications::subscriptions::tell(w, &order, event)
}

/// The outbound webhooks of an order event: the order (or its payment) as an admin sees it.
fn hooks(w: &mut WriteTx<'_>, order: &Order, event: OrderEvent) -> Result<(), StoreError> {
    use crate::webhooks::{data, emit};
    let names: &[&str] = match event {
        OrderEvent::Placed => &["order.created"],
        OrderEvent::StatusChanged { to: Status::Cancelled, .. } | OrderEvent::Cancelled | OrderEvent::Expired => {
            &["order.status_changed", "order.cancelled"]
        }
        OrderEvent::StatusChanged { .. } => &["order.status_changed"],
        OrderEvent::PaymentSucceeded | OrderEvent::PaymentFailed => {
            let name = if event == OrderEvent::PaymentSucceeded { "payment.succeeded" } else { "payment.failed" };
            let latest =
                w.scan_index(&crate::payments::PAYMENTS, crate::payments::PAYMENTS_BY_ORDER, &(order.id,), true, 1)?;
            return match latest.first() {
                Some(p) => emit(w, name, data(&p.view(&[]))),
                None => Ok(()),
            };
        }
        OrderEvent::ReturnDecided { .. } => &[],
    };
    if names.is_empty() {
        return Ok(());
    }
    let view = data(&order.view());
    for name in names {
        emit(w, name, view.clone())?;
    }
    Ok(())
}
