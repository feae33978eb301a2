//! The in-process event bus. Requests publish what happened after their write is committed;
//! one task handles the events: in-app notifications and the order mails. A failing handler is
//! logged and never fails the request that raised the event.

use tokio::sync::mpsc;

use crate::mail::Mailer;
use crate::mail::templates::{ORDER_CANCELLED, ORDER_CONFIRMATION, ORDER_DELIVERED, ORDER_SHIPPED, Template};
use crate::notifications::{Kind, notify};
use crate::orders::{Order, Status};
use crate::store::Store;
use crate::users::USERS;

#[derive(Debug, Clone)]
pub enum Happened {
    OrderCreated(Order),
    StatusChanged { order: Order, from: Status },
    Cancelled(Order),
    ReturnDecided { order: Order, return_id: u64, approved: bool },
    PaymentSucceeded(Order),
    PaymentFailed(Order),
}

#[derive(Clone)]
pub struct Events {
    tx: mpsc::Sender<Happened>,
}

impl Events {
    /// Starts the handler task on the current runtime.
    pub fn start(store: Store, mailer: Mailer) -> Events {
        let (tx, mut rx) = mpsc::channel::<Happened>(10_000);
        // Up to 64 events are handled at once: their notification writes then share group
        // commits, so the handlers keep up with the order rate instead of one fsync per event.
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let Ok(slot) = slots.clone().acquire_owned().await else { return };
                let (store, mailer) = (store.clone(), mailer.clone());
                tokio::spawn(async move {
                    if let Err(e) = handle(&store, &mailer, &event).await {
                        tracing::error!(error = %format!("{e:#}"), ?event, "an event handler failed");
                    }
                    drop(slot);
                });
            }
        });
        Events { tx }
    }

    pub fn publish(&self, event: Happened) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.tx.try_send(event) {
            // A burst: wait for room in a task of its own rather than drop the event.
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(event).await;
            });
        }
    }
}

fn short(order: &Order) -> String {
    order.id.to_string()[..8].to_string()
}

async fn handle(store: &Store, mailer: &Mailer, event: &Happened) -> anyhow::Result<()> {
    let (order, kind, title, body, mail): (&Order, Kind, String, String, Option<&Template>) = match event {
        Happened::OrderCreated(o) => (
            o,
            Kind::OrderCreated,
            "Order placed".into(),
            format!("Your order {} of {} {} was placed.", short(o), o.total, o.currency),
            Some(&ORDER_CONFIRMATION),
        ),
        Happened::StatusChanged { order: o, from } => match o.status {
            Status::Shipped => (
                o,
                Kind::OrderShipped,
                "Order shipped".into(),
                format!("Your order {} is on its way.", short(o)),
                Some(&ORDER_SHIPPED),
            ),
            Status::Delivered => (
                o,
                Kind::OrderDelivered,
                "Order delivered".into(),
                format!("Your order {} was delivered.", short(o)),
                Some(&ORDER_DELIVERED),
            ),
            Status::Cancelled => (
                o,
                Kind::OrderCancelled,
                "Order cancelled".into(),
                format!("Your order {} was cancelled.", short(o)),
                Some(&ORDER_CANCELLED),
            ),
            s => (
                o,
                Kind::OrderStatus,
                "Order update".into(),
                format!("Your order {} went from {} to {}.", short(o), from.as_str(), s.as_str()),
                None,
            ),
        },
        Happened::Cancelled(o) => (
            o,
            Kind::OrderCancelled,
            "Order cancelled".into(),
            format!("Your order {} was cancelled.", short(o)),
            Some(&ORDER_CANCELLED),
        ),
        Happened::ReturnDecided { order: o, return_id, approved } => {
            let verdict = if *approved { "approved" } else { "rejected" };
            (
                o,
                Kind::ReturnDecided,
                format!("Return {verdict}"),
                format!("Your return {return_id} for order {} was {verdict}.", short(o)),
                None,
            )
        }
        Happened::PaymentSucceeded(o) => (
            o,
            Kind::PaymentSucceeded,
            "Payment received".into(),
            format!("We received the payment for order {}.", short(o)),
            None,
        ),
        Happened::PaymentFailed(o) => (
            o,
            Kind::PaymentFailed,
            "Payment failed".into(),
            format!("The payment for order {} failed.", short(o)),
            None,
        ),
    };
    notify(store, order.user_id, kind, title, body).await?;
    let Some(template) = mail else { return Ok(()) };
    let user = store.read().and_then(|r| r.get(&USERS, &order.user_id))?;
    let Some(user) = user.filter(|u| u.is_active && u.preferences.email_notifications) else { return Ok(()) };
    let lines: String = order.items.iter().map(|i| format!("{} x {}  {}\n", i.quantity, i.title, i.total)).collect();
    let (total, id) = (order.total.to_string(), order.id.to_string());
    let vars = [
        ("name", user.first_name.as_str()),
        ("order", id.as_str()),
        ("lines", lines.as_str()),
        ("total", total.as_str()),
        ("currency", order.currency.as_str()),
        ("carrier", order.carrier.as_deref().unwrap_or("-")),
        ("tracking", order.tracking_number.as_deref().unwrap_or("-")),
    ];
    mailer.send(template.render(&user.email, &vars));
    Ok(())
}
