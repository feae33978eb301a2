//! Refunds as durable operations. Starting one is a write: the amount is reserved on the
//! payment, the refund is recorded with the idempotency key the provider will get, and its job
//! is enqueued — all in one transaction. The job asks the provider and records the answer once,
//! with whatever the refund was for (cancelling the order, approving a return) in the same
//! transaction. A client that goes away, or a process that dies, changes nothing of this: the
//! job runs again with the same key, and the provider answers with the same refund.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{PAYMENTS, PAYMENTS_BY_ORDER, Payment};
use crate::audit::{self, Actor, Event};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::idempotency::Scoped;
use crate::jobs::{self, Outcome, Task};
use crate::orders::ORDERS;
use crate::products::Product;
use crate::state::AppState;
use crate::store::{Collection, Index, StoreError, WriteTx, key};
use crate::types::Money;

pub use super::view::RefundStatus;

/// What a refund is for: done in the transaction that records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Then {
    Nothing,
    /// Cancel the order (and restock it) once its money is back.
    CancelOrder {
        why: crate::orders::Why,
    },
    /// Approve the return (and restock its units).
    ApproveReturn {
        return_id: u64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refund {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub order_id: Uuid,
    pub amount: Money,
    /// The provider's idempotency key, the same on every try.
    pub key: String,
    pub status: RefundStatus,
    pub provider_refund_id: Option<String>,
    pub error: Option<String>,
    pub then: Then,
    /// An admin's Idempotency-Key: the answer is recorded with the refund.
    pub answer: Option<Scoped>,
    pub actor: Actor,
    pub job: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn by_payment(r: &Refund) -> Vec<Vec<u8>> {
    vec![key::encode(&(r.payment_id, r.id))]
}

/// The idempotency-key prefix of the refund of a payment that came too late.
pub const LATE_PREFIX: &str = "shopd-late-";

pub static REFUND_INDEXES: [Index<Refund>; 1] = [Index::new("refunds.by_payment", by_payment)];
/// The sales figures count a refund on the day it was asked for, once its money went back;
/// not the refund of a payment that came too late (its order was never paid, or was paid by
/// another payment), whose money the shop never kept.
pub static REFUNDS: Collection<Uuid, Refund> =
    Collection::with_indexes("refunds", &REFUND_INDEXES).deriving(|w, before, after| {
        let counted = |r: &Refund| {
            (r.status == RefundStatus::Succeeded && !r.key.starts_with(LATE_PREFIX))
                .then(|| (r.created_at, r.amount.cents()))
        };
        crate::stats::refund_changed(w, before.and_then(counted), after.and_then(counted))
    });
/// A payment's refunds, oldest first.
pub static REFUNDS_BY_PAYMENT: &Index<Refund> = &REFUND_INDEXES[0];

/// The order's succeeded (or partly refunded) payment, read inside a write.
pub fn paid_in(w: &mut WriteTx<'_>, order_id: Uuid) -> Result<Option<Payment>, StoreError> {
    let payments = w.scan_index(&PAYMENTS, PAYMENTS_BY_ORDER, &(order_id,), true, 64)?;
    Ok(payments.into_iter().find(|p| p.status.is_paid()))
}

/// What [`start`] needs besides the payment.
pub struct Ask {
    /// All that is left when `None`.
    pub amount: Option<Money>,
    /// The provider's idempotency key; `None` makes one from the refund's id.
    pub key: Option<String>,
    pub then: Then,
    pub answer: Option<Scoped>,
    pub actor: Actor,
}

/// Starts a refund inside the caller's write: checks what is left, reserves the amount, records
/// the refund and enqueues its job.
pub fn start(w: &mut WriteTx<'_>, payment_id: Uuid, ask: Ask) -> ApiResult<Refund> {
    let mut p = w.get(&PAYMENTS, &payment_id)?.ok_or_else(|| ApiError::new(ErrorCode::PaymentNotFound))?;
    if !p.status.is_paid() {
        return Err(
            ApiError::new(ErrorCode::RefundExceedsPayment).with_message("Nothing of this payment can be refunded")
        );
    }
    let amount = ask.amount.unwrap_or_else(|| p.refundable());
    if !amount.is_positive() || amount > p.refundable() {
        return Err(ApiError::new(ErrorCode::RefundExceedsPayment).with_message(format!(
            "Refundable: {} {}, asked: {amount}",
            p.refundable(),
            p.currency
        )));
    }
    p.reserved = Money::from_decimal(p.reserved.amount() + amount.amount());
    w.put(&PAYMENTS, &payment_id, &p)?;
    let id = Uuid::now_v7();
    let job = jobs::enqueue(w, Task::Refund { refund_id: id })?;
    let now = Utc::now();
    let refund = Refund {
        id,
        payment_id,
        order_id: p.order_id,
        amount,
        key: ask.key.unwrap_or_else(|| format!("shopd-refund-{}", id.simple())),
        status: RefundStatus::Pending,
        provider_refund_id: None,
        error: None,
        then: ask.then,
        answer: ask.answer,
        actor: ask.actor,
        job,
        created_at: now,
        updated_at: now,
    };
    w.put(&REFUNDS, &id, &refund)?;
    Ok(refund)
}

/// The refund's job: one call to the provider, its answer recorded.
pub async fn run(state: &AppState, refund_id: Uuid) -> Outcome {
    let found = state.store.read().and_then(|r| {
        let Some(refund) = r.get(&REFUNDS, &refund_id)? else { return Ok(None) };
        Ok(r.get(&PAYMENTS, &refund.payment_id)?.map(|p| (refund, p)))
    });
    let (refund, payment) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return Outcome::done(),
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    if refund.status != RefundStatus::Pending {
        return Outcome::done();
    }
    match state.payments.refund(&payment.provider, &payment.payment_intent_id, refund.amount.cents(), &refund.key).await
    {
        Ok(made) => Outcome::with(move |w| record(w, refund_id, made)),
        Err(e) if e.retry => Outcome::Retry(e.error.cause.unwrap_or(e.error.message)),
        Err(e) => {
            let why = e.error.cause.clone().unwrap_or_else(|| e.error.message.clone());
            Outcome::Refused(why.clone(), Some(failed(refund_id, why)))
        }
    }
}

/// Records what the provider refunded, and does what the refund was for.
fn record(w: &mut WriteTx<'_>, refund_id: Uuid, made: super::provider::Refunded) -> ApiResult<Vec<Product>> {
    let Some(mut refund) = w.get(&REFUNDS, &refund_id)?.filter(|r| r.status == RefundStatus::Pending) else {
        return Ok(Vec::new());
    };
    let mut p =
        w.get(&PAYMENTS, &refund.payment_id)?.ok_or_else(|| ApiError::internal("a refunded payment vanished"))?;
    p.reserved = Money::from_decimal((p.reserved.amount() - refund.amount.amount()).max(Decimal::ZERO));
    let before = p.refunded;
    // What the provider refunded, once per refund id.
    let actual = Money::from_decimal(Decimal::new(made.amount_cents, 2));
    if !p.refunds.iter().any(|(id, _)| *id == made.id) {
        p.refunds.push((made.id.clone(), actual));
    }
    p.settle();
    w.put(&PAYMENTS, &p.id, &p)?;
    refund.status = RefundStatus::Succeeded;
    refund.provider_refund_id = Some(made.id.clone());
    refund.updated_at = Utc::now();
    w.put(&REFUNDS, &refund_id, &refund)?;
    let view = super::view::RefundView {
        id: refund.id.to_string(),
        amount: actual,
        status: refund.status,
        created_at: crate::users::timestamp(&refund.created_at),
    };
    let mut data = crate::webhooks::data(&view);
    data["orderId"] = json!(refund.order_id);
    data["paymentId"] = json!(p.id);
    crate::webhooks::emit(w, "refund.created", data)?;
    if let Some(k) = &refund.answer {
        let refunds = w.scan_index(&REFUNDS, REFUNDS_BY_PAYMENT, &(p.id,), false, usize::MAX)?;
        k.record(w, &p.view(&refunds))?;
    }
    let change = json!({ "refunded": before.to_string() });
    let after = json!({ "refunded": p.refunded.to_string(), "refundId": made.id, "amount": actual.to_string() });
    audit::record(w, &refund.actor, Event::new("REFUND", "Payment", p.id).change(change, after))?;
    match refund.then {
        Then::Nothing => Ok(Vec::new()),
        Then::CancelOrder { why } => {
            let Some(mut o) = w.get(&ORDERS, &refund.order_id)? else { return Ok(Vec::new()) };
            o.refunding = None;
            w.put(&ORDERS, &o.id, &o)?;
            crate::orders::cancel_in(w, o.id, why, &refund.actor)
        }
        Then::ApproveReturn { return_id } => {
            crate::orders::returns::approve_in(w, refund.order_id, return_id, &refund.actor)
        }
    }
}

/// Gives a refund up: the reservation is released, the refund kept as FAILED with why, and
/// what it was for is left undone (the order stays as it was).
pub fn failed(refund_id: Uuid, why: String) -> jobs::Finish {
    Box::new(move |w| {
        let Some(mut refund) = w.get(&REFUNDS, &refund_id)?.filter(|r| r.status == RefundStatus::Pending) else {
            return Ok(Vec::new());
        };
        if let Some(mut p) = w.get(&PAYMENTS, &refund.payment_id)? {
            p.reserved = Money::from_decimal((p.reserved.amount() - refund.amount.amount()).max(Decimal::ZERO));
            w.put(&PAYMENTS, &p.id, &p)?;
        }
        refund.status = RefundStatus::Failed;
        refund.error = Some(why.chars().take(500).collect());
        refund.updated_at = Utc::now();
        w.put(&REFUNDS, &refund_id, &refund)?;
        if let Some(mut o) = w.get(&ORDERS, &refund.order_id)? {
            o.refunding = None;
            if let Then::ApproveReturn { return_id } = refund.then
                && let Some(ret) = o.returns.iter_mut().find(|r| r.id == return_id)
            {
                ret.refunding = None;
            }
            w.put(&ORDERS, &o.id, &o)?;
        }
        audit::record(
            w,
            &refund.actor,
            Event::new("REFUND_FAILED", "Payment", refund.payment_id)
                .metadata(json!({ "refundId": refund_id.to_string(), "amount": refund.amount.to_string(), "error": refund.error })),
        )?;
        Ok(Vec::new())
    })
}

/// Opens a FAILED refund again (an admin retries its job): the amount is reserved again if it
/// is still there to refund.
pub fn reopen(w: &mut WriteTx<'_>, refund_id: Uuid) -> ApiResult<()> {
    let Some(mut refund) = w.get(&REFUNDS, &refund_id)?.filter(|r| r.status == RefundStatus::Failed) else {
        return Ok(());
    };
    let mut p = w.get(&PAYMENTS, &refund.payment_id)?.ok_or_else(|| ApiError::new(ErrorCode::PaymentNotFound))?;
    if refund.amount > p.refundable() {
        return Err(ApiError::new(ErrorCode::RefundExceedsPayment).with_message(format!(
            "Refundable: {} {}, the refund was {}",
            p.refundable(),
            p.currency,
            refund.amount
        )));
    }
    p.reserved = Money::from_decimal(p.reserved.amount() + refund.amount.amount());
    w.put(&PAYMENTS, &p.id, &p)?;
    refund.status = RefundStatus::Pending;
    refund.error = None;
    refund.updated_at = Utc::now();
    w.put(&REFUNDS, &refund_id, &refund)?;
    Ok(())
}

/// What a caller that waited for a refund is answered: the refund as it is once its job's run
/// number `run` has ended (1 for a refund just started; see `jobs::hurry`), or after the
/// provider's timeout and a margin.
pub async fn outcome(state: &AppState, refund: &Refund, run: u32) -> ApiResult<Refund> {
    let within = std::time::Duration::from_millis(state.settings.stripe_timeout_ms) + std::time::Duration::from_secs(5);
    state.jobs.settled(refund.job, run, within).await?;
    let now = state.store.read()?.get(&REFUNDS, &refund.id)?.ok_or_else(|| ApiError::internal("a refund vanished"))?;
    match now.status {
        RefundStatus::Succeeded => Ok(now),
        RefundStatus::Failed => {
            let mut e = ApiError::new(ErrorCode::PaymentProviderError);
            if let Some(why) = &now.error
                && why.contains("declined")
            {
                e.message = why.clone();
            }
            e.cause = now.error.clone();
            Err(e)
        }
        RefundStatus::Pending => {
            let mut e = ApiError::new(ErrorCode::PaymentProviderError).with_message(
                "The payment provider has not confirmed the refund yet; it is retried and completes on its own",
            );
            e.cause = Some("refund still pending after the first attempt".into());
            Err(e)
        }
    }
}
