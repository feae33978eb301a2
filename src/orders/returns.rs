//! Returns: a customer asks to send back units of a delivered order within 30 days; an admin
//! approves (their price, with its share of the tax, is refunded through the provider, and
//! once it is, the units go back on the shelf) or rejects.

use chrono::{Duration, Utc};
use poem_openapi::Object;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{ORDER_RETURNS, ORDERS, Order, Return, ReturnItem, ReturnStatus, Status, restock};
use crate::audit::{self, Actor, Event};
use crate::claims::{Claim, Purpose};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::events::{self, OrderEvent};
use crate::jobs;
use crate::payments::refunds::{self, Ask, REFUNDS, Refund, Then, paid_in};
use crate::products::Product;
use crate::products::mirror::write_published;
use crate::state::AppState;
use crate::store::WriteTx;
use crate::types::Money;
use crate::users::Check;

/// Days after delivery in which a return may be asked for.
pub const RETURN_DAYS: i64 = 30;

#[derive(Debug, Deserialize, Object)]
pub struct ReturnBody {
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,998}\S)?\s*$"))]
    pub reason: String,
    #[oai(validator(min_items = 1))]
    pub items: Vec<ReturnItem>,
}

#[derive(Debug, Deserialize, Object)]
pub struct ReturnDecision {
    /// APPROVED or REJECTED.
    pub status: ReturnStatus,
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::OrderNotFound)
}

/// The checks that need no store.
pub fn check(b: &ReturnBody) -> ApiResult<()> {
    let mut c = Check::default();
    c.required("reason", &b.reason, 1000);
    if b.items.is_empty() {
        c.add("items", "Name at least one item to return");
    }
    for (i, item) in b.items.iter().enumerate() {
        if item.quantity == 0 {
            c.add(&format!("items.{i}.quantity"), "Quantity must be 1 or more");
        }
    }
    c.finish()
}

/// Records a REQUESTED return of the caller's delivered order.
pub async fn request(state: &AppState, id: Uuid, user_id: u64, b: ReturnBody, actor: Actor) -> ApiResult<Return> {
    state
        .store
        .write(move |w| {
            let mut o = w.get(&ORDERS, &id)?.filter(|o| o.user_id == user_id).ok_or_else(not_found)?;
            let not_allowed = |why: &str| ApiError::new(ErrorCode::ReturnNotAllowed).with_message(why.to_string());
            let delivered = o
                .delivered_at
                .filter(|_| o.status == Status::Delivered)
                .ok_or_else(|| not_allowed("Only delivered orders can be returned"))?;
            if Utc::now() - delivered > Duration::days(RETURN_DAYS) {
                return Err(not_allowed("Returns are accepted for 30 days after delivery"));
            }
            for item in &b.items {
                let line = o
                    .items
                    .iter()
                    .find(|l| l.id == item.order_item_id)
                    .ok_or_else(|| not_allowed("An item is not part of this order"))?;
                // Summed in u64: client quantities must not wrap around the check.
                let already: u64 = o
                    .returns
                    .iter()
                    .filter(|r| r.status != ReturnStatus::Rejected)
                    .flat_map(|r| &r.items)
                    .filter(|i| i.order_item_id == item.order_item_id)
                    .map(|i| i.quantity as u64)
                    .sum();
                let asked: u64 =
                    b.items.iter().filter(|i| i.order_item_id == item.order_item_id).map(|i| i.quantity as u64).sum();
                if already + asked > line.quantity as u64 {
                    return Err(not_allowed("More units than were ordered"));
                }
            }
            let ret = Return {
                id: w.next_id(&ORDER_RETURNS)?,
                status: ReturnStatus::Requested,
                items: b.items,
                reason: b.reason.trim().to_string(),
                created_at: Utc::now(),
                decided_at: None,
                refunding: None,
            };
            o.returns.push(ret.clone());
            o.updated_at = Utc::now();
            w.put(&ORDERS, &id, &o)?;
            audit::record(
                w,
                &actor,
                Event::new("RETURN_REQUESTED", "Order", id).metadata(json!({ "returnId": ret.id })),
            )?;
            Ok(ret)
        })
        .await
}

impl Order {
    /// What the returned units cost, before tax: their part of the line after its share of
    /// the coupon discount.
    pub fn returned_value(&self, ret: &Return) -> Decimal {
        ret.items
            .iter()
            .filter_map(|i| {
                let line = self.items.iter().find(|l| l.id == i.order_item_id)?;
                let paid = line.total.amount() - line.discount.amount();
                Some(paid * Decimal::from(i.quantity) / Decimal::from(line.quantity.max(1)))
            })
            .sum()
    }
}

/// Approves or rejects a REQUESTED return. An approval of a paid order refunds first: the
/// return is approved (and restocked) by the refund's job once the money is back, and stays
/// REQUESTED if the provider refuses.
pub async fn decide(
    state: &AppState,
    id: Uuid,
    return_id: u64,
    decision: ReturnStatus,
    actor: &Actor,
) -> ApiResult<(Order, Return)> {
    if decision == ReturnStatus::Requested {
        return Err(ApiError::field("status", "status must be APPROVED or REJECTED"));
    }
    let _claim = Claim::take(Purpose::OrderChange, id)?;
    let tax_rate = state.settings.tax_rate;
    let actor = actor.clone();
    let (refund, _) = write_published(
        state,
        move |w| {
            let mut o = w.get(&ORDERS, &id)?.ok_or_else(not_found)?;
            let at = o.returns.iter().position(|r| r.id == return_id).ok_or_else(return_not_found)?;
            if o.returns[at].status != ReturnStatus::Requested {
                return Err(ApiError::new(ErrorCode::ReturnNotAllowed).with_message("This return was already decided"));
            }
            if let Some(refund_id) = o.returns[at].refunding
                && let Some(refund) = w.get(&REFUNDS, &refund_id)?
            {
                let run = jobs::hurry(w, refund.job)?;
                return Ok((Some((refund, run)), Vec::new()));
            }
            if decision == ReturnStatus::Rejected {
                o.returns[at].status = ReturnStatus::Rejected;
                o.returns[at].decided_at = Some(Utc::now());
                o.updated_at = Utc::now();
                w.put(&ORDERS, &id, &o)?;
                audit::record(
                    w,
                    &actor,
                    Event::new("RETURN_REJECTED", "Order", id).metadata(json!({ "returnId": return_id })),
                )?;
                events::tell(w, id, OrderEvent::ReturnDecided { return_id, approved: false })?;
                return Ok((None, Vec::new()));
            }
            // The returned lines with their share of the tax (shipping is not refunded).
            let amount = Money::from_decimal(o.returned_value(&o.returns[at]) * (Decimal::ONE + tax_rate));
            if let Some(p) = paid_in(w, id)? {
                let amount = amount.min(p.refundable());
                if amount.is_positive() {
                    let then = Then::ApproveReturn { return_id };
                    let ask = Ask { amount: Some(amount), key: None, then, answer: None, actor };
                    let refund = refunds::start(w, p.id, ask)?;
                    o.returns[at].refunding = Some(refund.id);
                    w.put(&ORDERS, &id, &o)?;
                    return Ok((Some((refund, 1)), Vec::new()));
                }
            }
            let changed = approve_in(w, id, return_id, &actor)?;
            Ok((None, changed))
        },
        |r: &(Option<(Refund, u32)>, Vec<Product>)| (r.1.clone(), None),
    )
    .await?;
    if let Some((refund, run)) = refund {
        refunds::outcome(state, &refund, run).await?;
    }
    let o = state.store.read()?.get(&ORDERS, &id)?.ok_or_else(not_found)?;
    let ret = o.returns.iter().find(|r| r.id == return_id).cloned().ok_or_else(return_not_found)?;
    Ok((o, ret))
}

fn return_not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound).with_message("Return not found")
}

/// Approves a REQUESTED return inside the caller's write: its units go back on the shelf and
/// the customer is told. Returns the products restocked.
pub fn approve_in(w: &mut WriteTx<'_>, order_id: Uuid, return_id: u64, actor: &Actor) -> ApiResult<Vec<Product>> {
    let Some(mut o) = w.get(&ORDERS, &order_id)? else { return Ok(Vec::new()) };
    let lines = o.items.clone();
    let Some(ret) = o.returns.iter_mut().find(|r| r.id == return_id) else { return Ok(Vec::new()) };
    ret.refunding = None;
    if ret.status != ReturnStatus::Requested {
        w.put(&ORDERS, &order_id, &o)?;
        return Ok(Vec::new());
    }
    ret.status = ReturnStatus::Approved;
    ret.decided_at = Some(Utc::now());
    let back: Vec<(u64, u32)> = ret
        .items
        .iter()
        .filter_map(|i| lines.iter().find(|l| l.id == i.order_item_id).map(|l| (l.product_id, i.quantity)))
        .collect();
    let changed = restock(w, &back)?;
    o.updated_at = Utc::now();
    w.put(&ORDERS, &order_id, &o)?;
    audit::record(
        w,
        actor,
        Event::new("RETURN_APPROVED", "Order", order_id).metadata(json!({ "returnId": return_id })),
    )?;
    events::tell(w, order_id, OrderEvent::ReturnDecided { return_id, approved: true })?;
    Ok(changed)
}
