//! Unpaid orders expire: an order placed while `UNPAID_ORDER_EXPIRY_MINUTES` is set gets a job
//! due at its expiry; if the order is still PENDING with no succeeded payment then, it is
//! cancelled and restocked, its open intents cancelled and its customer told. A payment that
//! succeeds afterwards is refunded (see `payments::api`).

use chrono::Utc;
use uuid::Uuid;

use super::{ORDERS, Status, Why, cancel_in};
use crate::audit::Actor;
use crate::jobs::{self, Outcome, Task};
use crate::payments::refunds::paid_in;
use crate::payments::{PAYMENTS, PAYMENTS_BY_ORDER, PaymentStatus};
use crate::state::AppState;

/// The expiry job of one order.
pub fn run(state: &AppState, order_id: Uuid) -> Outcome {
    let again = state.settings.unpaid_order_expiry().unwrap_or(chrono::Duration::minutes(60));
    Outcome::with(move |w| {
        let Some(o) = w.get(&ORDERS, &order_id)? else { return Ok(Vec::new()) };
        if o.status != Status::Pending || o.refunding.is_some() || paid_in(w, order_id)?.is_some() {
            return Ok(Vec::new());
        }
        // A payment still being processed (a bank debit) may yet succeed: ask again later.
        let payments = w.scan_index(&PAYMENTS, PAYMENTS_BY_ORDER, &(order_id,), false, 64)?;
        if payments.iter().any(|p| p.status == PaymentStatus::Processing) {
            jobs::enqueue_at(w, Task::ExpireOrder { order_id }, Utc::now() + again)?;
            return Ok(Vec::new());
        }
        cancel_in(w, order_id, Why::Expired, &Actor::default())
    })
}
