//! Cancelling an order: by its customer, by the shop, or because it was not paid in time. A
//! paid order is cancelled by its refund: starting the refund marks the order (no other status
//! change may come first), and the refund's job cancels and restocks it in the transaction
//! that records the money as returned. An order with nothing to refund is cancelled at once.
//! A cancelled order gives its coupon's use back.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{ORDERS, Order, Status, restock};
use crate::audit::{self, Actor, Event};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::events::{self, OrderEvent};
use crate::jobs;
use crate::payments::refunds::{self, Ask, REFUNDS, Refund, Then, paid_in};
use crate::products::Product;
use crate::products::mirror::write_published;
use crate::state::AppState;
use crate::store::WriteTx;

/// Who cancels, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Why {
    Customer {
        reason: Option<String>,
    },
    Shop,
    /// Not paid within `UNPAID_ORDER_EXPIRY_MINUTES`.
    Expired,
}

/// Cancels and restocks the order inside the caller's write, cancels its open intents and
/// tells the customer. Returns the products restocked.
pub fn cancel_in(w: &mut WriteTx<'_>, id: Uuid, why: Why, actor: &Actor) -> ApiResult<Vec<Product>> {
    let mut o = w.get(&ORDERS, &id)?.ok_or_else(|| ApiError::new(ErrorCode::OrderNotFound))?;
    if !o.status.can_become(Status::Cancelled) {
        return Ok(Vec::new());
    }
    let from = o.status;
    let (note, reason, event, action) = match why {
        Why::Customer { reason } => (reason.clone(), reason, OrderEvent::Cancelled, "ORDER_CANCEL"),
        Why::Shop => (
            None,
            Some("Cancelled by the shop".to_string()),
            OrderEvent::StatusChanged { from, to: Status::Cancelled },
            "ORDER_STATUS_CHANGE",
        ),
        Why::Expired => {
            let why = Some("Not paid in time".to_string());
            (why.clone(), why, OrderEvent::Expired, "ORDER_EXPIRED")
        }
    };
    o.transition(Status::Cancelled, note)?;
    o.cancel_reason = reason;
    let changed = restock(w, &o.items.iter().map(|i| (i.product_id, i.quantity)).collect::<Vec<_>>())?;
    if let Some(c) = &o.coupon {
        crate::coupons::Coupon::give_back(w, c.id, o.email.as_deref().unwrap_or_default())?;
    }
    w.put(&ORDERS, &id, &o)?;
    crate::payments::cancel_open_in(w, id, actor)?;
    audit::record(w, actor, Event::new(action, "Order", id).change(json!(from), json!(Status::Cancelled)))?;
    events::tell(w, id, event)?;
    Ok(changed)
}

enum Begun {
    Cancelled,
    /// Waiting for run number `.1` of the refund's job.
    Refunding(Box<Refund>, u32),
}

/// Cancels an order for its customer (`owner`) or the shop (`None`), refunding a paid one
/// first; answers once the order is cancelled, or with the provider's refusal (the order then
/// stays as it was). A second call while the refund is out hurries it and waits again.
pub async fn cancel(state: &AppState, id: Uuid, owner: Option<u64>, why: Why, actor: Actor) -> ApiResult<Order> {
    let (begun, _) = write_published(
        state,
        move |w| {
            let mut o = w
                .get(&ORDERS, &id)?
                .filter(|o| owner.is_none_or(|u| u == o.user_id))
                .ok_or_else(|| ApiError::new(ErrorCode::OrderNotFound))?;
            if let Some(refund_id) = o.refunding
                && let Some(refund) = w.get(&REFUNDS, &refund_id)?
            {
                let run = jobs::hurry(w, refund.job)?;
                return Ok((Begun::Refunding(Box::new(refund), run), Vec::new()));
            }
            if !o.status.can_become(Status::Cancelled) {
                let code =
                    if owner.is_some() { ErrorCode::OrderCannotCancel } else { ErrorCode::InvalidStatusTransition };
                return Err(ApiError::new(code)
                    .with_message(format!("A {} order can no longer be cancelled", o.status.as_str())));
            }
            if let Some(p) = paid_in(w, id)?
                && p.refundable().is_positive()
            {
                let ask = Ask { amount: None, key: None, then: Then::CancelOrder { why }, answer: None, actor };
                let refund = refunds::start(w, p.id, ask)?;
                o.refunding = Some(refund.id);
                w.put(&ORDERS, &id, &o)?;
                return Ok((Begun::Refunding(Box::new(refund), 1), Vec::new()));
            }
            let changed = cancel_in(w, id, why, &actor)?;
            Ok((Begun::Cancelled, changed))
        },
        |r: &(Begun, Vec<Product>)| (r.1.clone(), None),
    )
    .await?;
    if let Begun::Refunding(refund, run) = begun {
        refunds::outcome(state, &refund, run).await?;
        // The refund's job has cancelled the order; its restock is in the catalog already.
    }
    state.store.read()?.get(&ORDERS, &id)?.ok_or_else(|| ApiError::new(ErrorCode::OrderNotFound))
}
