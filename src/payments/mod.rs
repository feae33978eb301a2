//! Payments: intents for orders, confirmation, refunds, and Stripe's webhook. The money always
//! comes from the order's own total; a provider (offline or Stripe) moves it.

pub mod api;
pub mod provider;
pub mod refunds;
pub mod view;
pub mod webhook;

pub use view::{PaymentStatus, PaymentView};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::{self, Actor, Event};
use crate::error::ApiResult;
use crate::jobs::{self, Outcome, Task};
use crate::state::AppState;
use crate::store::{Collection, Index, ReadTx, StoreError, WriteTx, key};
use crate::types::Money;
use crate::users::timestamp;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payment {
    pub id: Uuid,
    pub order_id: Uuid,
    pub user_id: u64,
    pub payment_intent_id: String,
    pub client_secret: String,
    pub amount: Money,
    /// What is refunded: the larger of what our own refunds add up to and what Stripe last
    /// reported (its figure includes ours, and refunds made in its dashboard).
    pub refunded: Money,
    pub currency: String,
    pub status: PaymentStatus,
    pub method: Option<String>,
    /// `offline`, `manual` or `stripe`.
    pub provider: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Refunds we made, by provider refund id: a refund the provider hands back twice (the same
    /// idempotency key) counts once.
    #[serde(default)]
    pub refunds: Vec<(String, Money)>,
    /// What Stripe's `charge.refunded` last reported as refunded in all.
    #[serde(default)]
    pub reported_refunded: Money,
    /// Refunds asked of the provider and not yet answered: they count against what is left, so
    /// two admins cannot both refund the same money.
    #[serde(default)]
    pub reserved: Money,
}

fn by_intent(p: &Payment) -> Vec<Vec<u8>> {
    vec![key::encode(&p.payment_intent_id)]
}

fn by_order(p: &Payment) -> Vec<Vec<u8>> {
    vec![key::encode(&(p.order_id, p.id))]
}

pub static PAYMENT_INDEXES: [Index<Payment>; 2] =
    [Index::unique("payments.by_intent", by_intent), Index::new("payments.by_order", by_order)];
pub static PAYMENTS: Collection<Uuid, Payment> = Collection::with_indexes("payments", &PAYMENT_INDEXES);
/// An order's payments, oldest first.
pub static PAYMENTS_BY_ORDER: &Index<Payment> = &PAYMENT_INDEXES[1];
/// A payment by its provider intent id: unique.
pub static PAYMENTS_BY_INTENT: &Index<Payment> = &PAYMENT_INDEXES[0];

impl Payment {
    /// The payment as clients see it, with its `refunds` (oldest first).
    pub fn view(&self, refunds: &[refunds::Refund]) -> PaymentView {
        PaymentView {
            id: self.id.to_string(),
            order_id: self.order_id.to_string(),
            payment_intent_id: self.payment_intent_id.clone(),
            amount: self.amount,
            refunded: self.refunded,
            currency: self.currency.clone(),
            status: self.status,
            method: self.method.clone(),
            provider: view::ProviderName::of(&self.provider),
            created_at: timestamp(&self.created_at),
            updated_at: timestamp(&self.updated_at),
            refunds: refunds
                .iter()
                .map(|r| view::RefundView {
                    id: r.id.to_string(),
                    amount: r.amount,
                    status: r.status,
                    created_at: timestamp(&r.created_at),
                })
                .collect(),
        }
    }

    /// [`Payment::view`] with the refunds read from `r`.
    pub fn view_in(&self, r: &ReadTx) -> Result<PaymentView, StoreError> {
        let refunds: Vec<refunds::Refund> = r
            .scan_index(&refunds::REFUNDS, refunds::REFUNDS_BY_PAYMENT, &(self.id,), false)?
            .collect::<Result<_, _>>()?;
        Ok(self.view(&refunds))
    }

    /// What is left to refund.
    pub fn refundable(&self) -> Money {
        Money::from_decimal(self.amount.amount() - self.refunded.amount() - self.reserved.amount())
    }

    /// Recomputes `refunded` and the refund status from the recorded refunds and Stripe's report.
    pub fn settle(&mut self) {
        let ours = Money::from_decimal(self.refunds.iter().map(|(_, m)| m.amount()).sum());
        self.refunded = ours.max(self.reported_refunded).min(self.amount);
        if self.refunded.is_positive() {
            self.status =
                if self.refunded >= self.amount { PaymentStatus::Refunded } else { PaymentStatus::PartiallyRefunded };
        }
        self.updated_at = Utc::now();
    }
}

/// The order's succeeded (or partly refunded) payment, if any.
pub fn paid(state: &AppState, order_id: Uuid) -> ApiResult<Option<Payment>> {
    let r = state.store.read()?;
    for p in r.scan_index(&PAYMENTS, PAYMENTS_BY_ORDER, &(order_id,), true)? {
        let p = p?;
        if p.status.is_paid() {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// Cancels the order's intents that were never paid, inside the write that cancels the order:
/// they read CANCELED at once (the customer can no longer pay them), and a job tells the
/// provider.
pub fn cancel_open_in(w: &mut WriteTx<'_>, order_id: Uuid, actor: &Actor) -> Result<(), StoreError> {
    for mut p in w.scan_index(&PAYMENTS, PAYMENTS_BY_ORDER, &(order_id,), false, 64)? {
        if !p.status.is_open() {
            continue;
        }
        let before = p.status;
        p.status = PaymentStatus::Canceled;
        p.updated_at = Utc::now();
        w.put(&PAYMENTS, &p.id, &p)?;
        audit::record(
            w,
            actor,
            Event::new("PAYMENT_CANCEL", "Payment", p.id)
                .change(serde_json::json!(before), serde_json::json!(p.status)),
        )?;
        jobs::enqueue(w, Task::CancelIntent { payment_id: p.id })?;
    }
    Ok(())
}

/// The job that cancels an intent at its provider.
pub async fn cancel_intent(state: &AppState, payment_id: Uuid) -> Outcome {
    let payment = match state.store.read().and_then(|r| r.get(&PAYMENTS, &payment_id)) {
        Ok(Some(p)) => p,
        Ok(None) => return Outcome::done(),
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    match state.payments.cancel(&payment.provider, &payment.payment_intent_id).await {
        Ok(()) => Outcome::done(),
        Err(e) if e.retry => Outcome::Retry(e.error.cause.unwrap_or(e.error.message)),
        // Stripe refuses to cancel an intent that succeeded meanwhile: its success webhook
        // refunds it.
        Err(e) => Outcome::Refused(e.error.cause.unwrap_or(e.error.message), None),
    }
}

/// The latest payment of an order, as the order view shows it; read in the caller's
/// transaction, so a page of orders shares one snapshot.
pub fn latest(r: &ReadTx, order_id: Uuid) -> ApiResult<Option<PaymentView>> {
    match r.scan_index(&PAYMENTS, PAYMENTS_BY_ORDER, &(order_id,), true)?.next() {
        Some(p) => Ok(Some(p?.view_in(r)?)),
        None => Ok(None),
    }
}
