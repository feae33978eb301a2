//! Returns: a customer asks to send back units of a delivered order within 30 days; an admin
//! approves (the units go back on the shelf and their price, with its share of the tax, is
//! refunded through the provider first) or rejects.

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
use crate::products::Product;
use crate::products::mirror::write_published;
use crate::state::AppState;
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
    /// What the returned units cost, before tax.
    pub fn returned_value(&self, ret: &Return) -> Decimal {
        ret.items
            .iter()
            .filter_map(|i| {
                let line = self.items.iter().find(|l| l.id == i.order_item_id)?;
                Some(line.price.amount() * Decimal::from(i.quantity))
            })
            .sum()
    }
}

/// Approves or rejects a REQUESTED return. An approval refunds first (holding the order, so no
/// other change interleaves): if the provider fails, the return stays REQUESTED and nothing is
/// restocked.
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
    if decision == ReturnStatus::Approved {
        let o = state.store.read()?.get(&ORDERS, &id)?.ok_or_else(not_found)?;
        if let Some(ret) = o.returns.iter().find(|r| r.id == return_id && r.status == ReturnStatus::Requested) {
            // The returned lines with their share of the tax (shipping is not refunded).
            let amount = o.returned_value(ret) * (Decimal::ONE + state.settings.tax_rate);
            let reason = format!("return-{return_id}");
            crate::payments::refund_order(state, &o, Some(Money::from_decimal(amount)), &reason, actor).await?;
        }
    }
    let actor = actor.clone();
    let (order, ret, _) = write_published(
        state,
        move |w| {
            let mut o = w.get(&ORDERS, &id)?.ok_or_else(not_found)?;
            let lines = o.items.clone();
            let ret = o
                .returns
                .iter_mut()
                .find(|r| r.id == return_id)
                .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("Return not found"))?;
            if ret.status != ReturnStatus::Requested {
                return Err(ApiError::new(ErrorCode::ReturnNotAllowed).with_message("This return was already decided"));
            }
            ret.status = decision;
            ret.decided_at = Some(Utc::now());
            let ret = ret.clone();
            let changed = if decision == ReturnStatus::Approved {
                let back: Vec<(u64, u32)> = ret
                    .items
                    .iter()
                    .filter_map(|i| lines.iter().find(|l| l.id == i.order_item_id).map(|l| (l.product_id, i.quantity)))
                    .collect();
                restock(w, &back)?
            } else {
                Vec::new()
            };
            o.updated_at = Utc::now();
            w.put(&ORDERS, &id, &o)?;
            let action = if decision == ReturnStatus::Approved { "RETURN_APPROVED" } else { "RETURN_REJECTED" };
            audit::record(w, &actor, Event::new(action, "Order", id).metadata(json!({ "returnId": return_id })))?;
            Ok((o, ret, changed))
        },
        |r: &(Order, Return, Vec<Product>)| (r.2.clone(), None),
    )
    .await?;
    Ok((order, ret))
}
