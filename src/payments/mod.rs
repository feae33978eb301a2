//! Payments: intents for orders, confirmation, refunds, and Stripe's webhook. The money always
//! comes from the order's own total; a provider (offline or Stripe) moves it.

pub mod api;
pub mod provider;
pub mod view;
pub mod webhook;

pub use view::{PaymentStatus, PaymentView};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::{self, Actor, Event};
use crate::error::{ApiError, ApiResult};
use crate::idempotency::Scoped;
use crate::orders::Order;
use crate::state::AppState;
use crate::store::{Collection, Index, ReadTx, key};
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
    /// `offline` or `stripe`.
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

pub static PAYMENT_INDEXES: [Index<Payment>; 2] = [
    Index { name: "payments.by_intent", unique: true, keys: by_intent },
    Index { name: "payments.by_order", unique: false, keys: by_order },
];
pub static PAYMENTS: Collection<Uuid, Payment> = Collection::with_indexes("payments", &PAYMENT_INDEXES);
/// An order's payments, oldest first.
pub static PAYMENTS_BY_ORDER: &Index<Payment> = &PAYMENT_INDEXES[1];
/// A payment by its provider intent id: unique.
pub static PAYMENTS_BY_INTENT: &Index<Payment> = &PAYMENT_INDEXES[0];

impl Payment {
    pub fn view(&self) -> PaymentView {
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
        }
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
        if matches!(p.status, PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded) {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// Refunds `amount` (all that is left when `None`) of the order's succeeded payment, through
/// its provider, with an idempotency key derived from `reason` so that a retried cancellation
/// never refunds twice. Returns whether anything was refunded.
pub async fn refund_order(
    state: &AppState,
    order: &Order,
    amount: Option<Money>,
    reason: &str,
    actor: &Actor,
) -> ApiResult<bool> {
    let Some(payment) = paid(state, order.id)? else { return Ok(false) };
    let amount = amount.unwrap_or_else(|| payment.refundable()).min(payment.refundable());
    if !amount.is_positive() {
        return Ok(false);
    }
    let key = api::forwarded_key(reason, payment.user_id, &payment.id.to_string(), &amount.to_string());
    refund(state, payment.id, Some(amount), Some(key), None, actor).await?;
    Ok(true)
}

/// Refunds part or all of a payment through its provider and records it; with `answer` (an
/// admin's Idempotency-Key), the answer is recorded in the same transaction as the refund.
pub async fn refund(
    state: &AppState,
    payment_id: Uuid,
    amount: Option<Money>,
    key: Option<String>,
    answer: Option<Scoped>,
    actor: &Actor,
) -> ApiResult<Payment> {
    use crate::error::ErrorCode::{PaymentNotFound, RefundExceedsPayment};
    // Reserve the amount first, in a write: a concurrent refund sees it as gone.
    let reserved = state
        .store
        .write(move |w| {
            let mut p = w.get(&PAYMENTS, &payment_id)?.ok_or_else(|| ApiError::new(PaymentNotFound))?;
            if !matches!(p.status, PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded) {
                return Err(ApiError::new(RefundExceedsPayment).with_message("Nothing of this payment can be refunded"));
            }
            let amount = amount.unwrap_or_else(|| p.refundable());
            if !amount.is_positive() || amount > p.refundable() {
                let left = p.refundable();
                return Err(ApiError::new(RefundExceedsPayment)
                    .with_message(format!("Refundable: {left} {}, asked: {amount}", p.currency)));
            }
            p.reserved = Money::from_decimal(p.reserved.amount() + amount.amount());
            w.put(&PAYMENTS, &payment_id, &p)?;
            Ok((p, amount))
        })
        .await;
    let (payment, amount) = reserved?;
    let outcome = state.payments.refund(&payment.payment_intent_id, amount.cents(), key.as_deref()).await;
    let actor = actor.clone();
    state
        .store
        .write(move |w| {
            let mut p = w.get(&PAYMENTS, &payment_id)?.ok_or_else(|| ApiError::internal("a refunded payment vanished"))?;
            p.reserved = Money::from_decimal((p.reserved.amount() - amount.amount()).max(rust_decimal::Decimal::ZERO));
            let refund = match outcome {
                Ok(r) => r,
                Err(e) => {
                    // The reservation is released; nothing else changed.
                    w.put(&PAYMENTS, &payment_id, &p)?;
                    return Ok(Err(e));
                }
            };
            let before = p.refunded;
            // What the provider refunded, once per refund id.
            let actual = Money::from_decimal(rust_decimal::Decimal::new(refund.amount_cents, 2));
            if !p.refunds.iter().any(|(id, _)| *id == refund.id) {
                p.refunds.push((refund.id.clone(), actual));
            }
            p.settle();
            w.put(&PAYMENTS, &payment_id, &p)?;
            if let Some(k) = &answer {
                k.record(w, &p.view())?;
            }
            let change = serde_json::json!({ "refunded": before.to_string() });
            let after = serde_json::json!({ "refunded": p.refunded.to_string(), "refundId": refund.id, "amount": actual.to_string() });
            audit::record(w, &actor, Event::new("REFUND", "Payment", payment_id).change(change, after))?;
            Ok::<_, ApiError>(Ok(p))
        })
        .await?
}

/// Cancels the order's intents that were never paid (so the customer cannot pay a cancelled
/// order later), through their provider, and records it.
pub async fn cancel_open(state: &AppState, order: &Order, actor: &Actor) -> ApiResult<()> {
    let open: Vec<Payment> = {
        let r = state.store.read()?;
        r.scan_index(&PAYMENTS, PAYMENTS_BY_ORDER, &(order.id,), false)?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|p| {
                matches!(
                    p.status,
                    PaymentStatus::RequiresPaymentMethod
                        | PaymentStatus::RequiresConfirmation
                        | PaymentStatus::Processing
                )
            })
            .collect()
    };
    for p in open {
        state.payments.cancel(&p.payment_intent_id).await?;
        let (id, actor) = (p.id, actor.clone());
        state
            .store
            .write(move |w| {
                if let Some(mut p) = w.get(&PAYMENTS, &id)? {
                    let before = p.status;
                    p.status = PaymentStatus::Canceled;
                    p.updated_at = Utc::now();
                    w.put(&PAYMENTS, &id, &p)?;
                    audit::record(
                        w,
                        &actor,
                        Event::new("PAYMENT_CANCEL", "Payment", id)
                            .change(serde_json::json!(before), serde_json::json!(p.status)),
                    )?;
                }
                Ok::<_, crate::store::StoreError>(())
            })
            .await?;
    }
    Ok(())
}

/// The latest payment of an order, as the order view shows it; read in the caller's
/// transaction, so a page of orders shares one snapshot.
pub fn latest(r: &ReadTx, order_id: Uuid) -> ApiResult<Option<PaymentView>> {
    match r.scan_index(&PAYMENTS, PAYMENTS_BY_ORDER, &(order_id,), true)?.next() {
        Some(p) => Ok(Some(p?.view())),
        None => Ok(None),
    }
}
