//! `/api/v1/payments`: intents, confirmation, status, refunds and the Stripe webhook.

use chrono::Utc;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Binary;
use poem_openapi::{Object, OpenApi};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{PAYMENTS, PAYMENTS_BY_INTENT, PAYMENTS_BY_ORDER, Payment, PaymentStatus, PaymentView, refunds};
use crate::audit::{self, Actor, Event};
use crate::auth::guard::{Admin, Viewer};
use crate::claims::{Claim, Purpose};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::events::{self, OrderEvent};
use crate::http::envelope::{Created, Reply};
use crate::http::json::JsonBody;
use crate::idempotency::{IdempotencyKey, Scoped};
use crate::orders::{GUEST, ORDERS, Status};
use crate::state::AppState;
use crate::store::Collection;
use crate::types::Money;
use crate::types::{Amount, fingerprint};

/// Webhook events already applied (Stripe delivers at least once).
pub static WEBHOOK_EVENTS: Collection<str, i64> = Collection::new("webhook_events");

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
/// The amount is always the order's total: an `amount`, `currency` or `metadata` an older
/// client sends is ignored, like any field this body does not have.
pub struct CreateIntent {
    pub order_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename = "PaymentIntent", rename_all = "camelCase")]
pub struct IntentView {
    /// The payment intent id.
    pub id: String,
    pub client_secret: String,
    pub amount: Money,
    pub currency: String,
    pub status: PaymentStatus,
}

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct ConfirmBody {
    pub payment_intent_id: String,
}

#[derive(Debug, Deserialize, Object)]
pub struct RefundBody {
    /// Default: all that is left.
    #[oai(validator(minimum(value = "0", exclusive), multiple_of = "0.01"))]
    pub amount: Option<Amount>,
}

#[derive(Debug, Object)]
pub struct Received {
    pub received: bool,
}

/// The Idempotency-Key Stripe gets for a client's key: Stripe's keys are shared by the whole
/// account, so the client's key is scoped to the operation, the user and what it is for.
pub fn forwarded_key(scope: &str, user: u64, key: &str, what: &str) -> String {
    format!("shopd-{}", &fingerprint(&(scope, user, key, what))[..48])
}

fn order_not_found() -> ApiError {
    ApiError::new(ErrorCode::OrderNotFound)
}

fn payment_not_found() -> ApiError {
    ApiError::new(ErrorCode::PaymentNotFound)
}

fn by_intent(state: &AppState, intent: &str) -> ApiResult<Payment> {
    state.store.read()?.get_unique(&PAYMENTS, PAYMENTS_BY_INTENT, intent)?.ok_or_else(payment_not_found)
}

/// Whether a provider report may move a payment from `from` to `to`. A success is final (only
/// refunds, which are ours to record, follow it), and so is a cancellation.
fn may_move(from: PaymentStatus, to: PaymentStatus) -> bool {
    use PaymentStatus::*;
    from != to && !matches!(from, Succeeded | Refunded | PartiallyRefunded | Canceled)
}

/// Records a provider status on the payment inside a write: a success moves a PENDING order to
/// PROCESSING; the customer is told of a success or a failure in the same transaction. A
/// success on an order that was cancelled meanwhile (it expired, or the customer cancelled
/// while paying) is money the shop must not keep: it is refunded at once, durably.
fn apply_status_in(
    w: &mut crate::store::WriteTx<'_>,
    intent: &str,
    status: PaymentStatus,
    actor: &Actor,
) -> ApiResult<()> {
    let Some(mut p) = w.get_unique(&PAYMENTS, PAYMENTS_BY_INTENT, intent)? else { return Ok(()) };
    let order = w.get(&ORDERS, &p.order_id)?;
    let cancelled = order.as_ref().is_none_or(|o| o.status == Status::Cancelled);
    // Money the shop must not keep: for an order cancelled meanwhile, on an intent we had
    // cancelled (the order was marked paid by hand while the card payment was in flight), or
    // for an order another payment already paid.
    let unwanted = cancelled
        || p.status == PaymentStatus::Canceled
        || refunds::paid_in(w, p.order_id)?.is_some_and(|other| other.id != p.id);
    let late = status == PaymentStatus::Succeeded
        && unwanted
        && !matches!(p.status, PaymentStatus::Succeeded | PaymentStatus::Refunded | PaymentStatus::PartiallyRefunded);
    if !late && !may_move(p.status, status) {
        return Ok(());
    }
    let before = p.status;
    p.status = status;
    p.updated_at = Utc::now();
    w.put(&PAYMENTS, &p.id, &p)?;
    audit::record(w, actor, Event::new("PAYMENT_STATUS", "Payment", p.id).change(json!(before), json!(status)))?;
    if late {
        let key = Some(format!("{}{}", refunds::LATE_PREFIX, p.id.simple()));
        let ask = refunds::Ask { amount: None, key, then: refunds::Then::Nothing, answer: None, actor: actor.clone() };
        refunds::start(w, p.id, ask)?;
        return Ok(());
    }
    let Some(mut o) = order else { return Ok(()) };
    match status {
        PaymentStatus::Succeeded if o.status == Status::Pending => {
            o.transition(Status::Processing, Some("Payment received".into()))?;
            w.put(&ORDERS, &o.id, &o)?;
            events::tell(w, o.id, OrderEvent::PaymentSucceeded)?;
        }
        PaymentStatus::Failed => events::tell(w, o.id, OrderEvent::PaymentFailed)?,
        _ => {}
    }
    Ok(())
}

async fn apply_status(state: &AppState, intent: &str, status: PaymentStatus, actor: &Actor) -> ApiResult<()> {
    let (intent, actor) = (intent.to_string(), actor.clone());
    state.store.write(move |w| apply_status_in(w, &intent, status, &actor)).await
}

pub struct PaymentsApi;

/// Who pays `order_id`: its owner signed in, or a guest holding its token ([`GUEST`]). An
/// admin pays only their own orders.
fn payer(state: &AppState, order_id: Uuid, viewer: &Viewer) -> ApiResult<u64> {
    let (order, who) = crate::orders::guest::visible(state, order_id, viewer)?;
    let user_id = who.map_or(GUEST, |p| p.user_id);
    if order.user_id != user_id {
        return Err(order_not_found());
    }
    Ok(user_id)
}

#[OpenApi(prefix_path = "/api/v1/payments", tag = "crate::openapi::Tag::Payments")]
impl PaymentsApi {
    /// Start paying an own PENDING order. The amount is the order's total, never the client's.
    /// An `Idempotency-Key` returns the first answer again and is forwarded to Stripe.
    #[oai(path = "/create-intent", method = "post", operation_id = "createPaymentIntent")]
    async fn create_intent(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Viewer,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<CreateIntent>,
    ) -> ApiResult<Created<IntentView>> {
        let order_id = body.0.order_id;
        let user_id = payer(&state, order_id, &auth)?;
        // A guest's keys are scoped to the order its token opens.
        let scope = if user_id == GUEST { format!("payments.create:{order_id}") } else { "payments.create".into() };
        let idem = key.0.map(|k| Scoped::new(&scope, user_id, &k, fingerprint(&order_id.to_string())));
        if let Some(k) = &idem
            && let Some(first) = k.replay(&state.store.read()?)?
        {
            return Ok(Created::new(first));
        }
        // Held from the check of the order to the record of its intent: marking the order paid
        // by hand takes the same claim.
        let _starting = Claim::take(Purpose::StartPayment, order_id)?;
        let order = state
            .store
            .read()?
            .get(&ORDERS, &order_id)?
            .filter(|o| o.user_id == user_id)
            .ok_or_else(order_not_found)?;
        if order.status != Status::Pending || super::paid(&state, order.id)?.is_some() {
            return Err(ApiError::new(ErrorCode::OrderNotPayable)
                .with_message(format!("A {} order cannot be paid", order.status.as_str())));
        }
        // An intent already open for this order is the answer: two tabs must not make two
        // charges.
        let open = state
            .store
            .read()?
            .scan_index(&PAYMENTS, PAYMENTS_BY_ORDER, &(order_id,), true)?
            .filter_map(Result::ok)
            .find(|p| p.status.is_open() && p.provider == state.payments.name());
        if let Some(p) = open {
            return Ok(Created::new(IntentView {
                id: p.payment_intent_id,
                client_secret: p.client_secret,
                amount: p.amount,
                currency: p.currency,
                status: p.status,
            }));
        }
        let forwarded = idem.as_ref().map(|k| forwarded_key("create", user_id, k.key(), &order_id.to_string()));
        let intent = state
            .payments
            .create_intent(
                order.total.cents(),
                &order.currency.to_lowercase(),
                &order.id.to_string(),
                forwarded.as_deref(),
            )
            .await?;
        let now = Utc::now();
        let payment = Payment {
            id: Uuid::now_v7(),
            order_id,
            user_id,
            payment_intent_id: intent.id.clone(),
            client_secret: intent.client_secret.clone(),
            amount: order.total,
            refunded: Money::ZERO,
            currency: order.currency.clone(),
            status: intent.status,
            method: None,
            provider: state.payments.name().to_string(),
            created_at: now,
            updated_at: now,
            refunds: Vec::new(),
            reported_refunded: Money::ZERO,
            reserved: Money::ZERO,
        };
        let view = IntentView {
            id: intent.id.clone(),
            client_secret: intent.client_secret,
            amount: order.total,
            currency: order.currency,
            status: intent.status,
        };
        let answer = view.clone();
        let actor = Actor::of(req, Some(user_id));
        state
            .store
            .write(move |w| {
                w.put(&PAYMENTS, &payment.id, &payment)?;
                if let Some(mut o) = w.get(&ORDERS, &order_id)? {
                    o.payment_intent_id = Some(payment.payment_intent_id.clone());
                    w.put(&ORDERS, &order_id, &o)?;
                }
                if let Some(k) = &idem {
                    k.record(w, &answer)?;
                }
                audit::record(
                    w,
                    &actor,
                    Event::new("PAYMENT_INTENT", "Payment", payment.id)
                        .metadata(json!({ "order": order_id.to_string(), "amount": payment.amount.to_string() })),
                )
            })
            .await?;
        Ok(Created::new(view))
    }

    /// Confirm a payment: its status is read back from the provider (offline intents succeed).
    #[oai(path = "/confirm", method = "post", operation_id = "confirmPayment")]
    async fn confirm(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Viewer,
        body: JsonBody<ConfirmBody>,
    ) -> ApiResult<Reply<PaymentView>> {
        // Only the customer pays: an admin cannot mark someone's order paid.
        let payment = by_intent(&state, &body.0.payment_intent_id)?;
        let user_id = payer(&state, payment.order_id, &auth).map_err(|_| payment_not_found())?;
        if payment.user_id != user_id {
            return Err(payment_not_found());
        }
        let order = state.store.read()?.get(&ORDERS, &payment.order_id)?.ok_or_else(order_not_found)?;
        if order.status == Status::Cancelled || payment.status == PaymentStatus::Canceled {
            return Err(ApiError::new(ErrorCode::OrderNotPayable).with_message("This order was cancelled"));
        }
        let status = state.payments.confirm(&payment.provider, &payment.payment_intent_id).await?;
        let actor = Actor::of(req, auth.principal().map(|p| p.user_id));
        apply_status(&state, &payment.payment_intent_id, status, &actor).await?;
        let payment = by_intent(&state, &payment.payment_intent_id)?;
        Ok(Reply::ok(payment.view_in(&state.store.read()?)?))
    }

    /// A payment by its intent id (its owner or an admin).
    #[oai(path = "/:payment_intent_id/status", method = "get", operation_id = "getPaymentStatus")]
    async fn status(
        &self,
        state: Data<&AppState>,
        auth: Viewer,
        payment_intent_id: Path<String>,
    ) -> ApiResult<Reply<PaymentView>> {
        let payment = by_intent(&state, &payment_intent_id.0)?;
        // Its owner, an admin, or the holder of its order's token.
        crate::orders::guest::visible(&state, payment.order_id, &auth).map_err(|_| payment_not_found())?;
        Ok(Reply::ok(payment.view_in(&state.store.read()?)?))
    }

    /// Refund part or all of a payment (default: all that is left).
    #[oai(path = "/:payment_id/refund", method = "post", operation_id = "refundPayment")]
    async fn refund(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        payment_id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<RefundBody>,
    ) -> ApiResult<Reply<PaymentView>> {
        let id = payment_id.0;
        let amount = match body.0.amount {
            Some(a) => Some(Money::exact(a.0).map_err(|e| ApiError::field("amount", e.to_string()))?),
            None => None,
        };
        let request_hash = fingerprint(&(id.to_string(), body.0.amount.map(|a| a.0.to_string())));
        let idem = key.0.map(|k| Scoped::new("payments.refund", admin.0.user_id, &k, request_hash));
        if let Some(k) = &idem
            && let Some(first) = k.replay(&state.store.read()?)?
        {
            return Ok(Reply::ok(first));
        }
        let actor = Actor::of(req, Some(admin.0.user_id));
        let forwarded =
            idem.as_ref().map(|k| forwarded_key("refund", admin.0.user_id, k.key(), &format!("{id}|{amount:?}")));
        let started = state
            .store
            .write(move |w| {
                if let Some(k) = &idem
                    && let Some(first) = k.replay_in::<PaymentView>(w)?
                {
                    return Ok(Err(first));
                }
                let ask = refunds::Ask { amount, key: forwarded, then: refunds::Then::Nothing, answer: idem, actor };
                refunds::start(w, id, ask).map(Ok)
            })
            .await?;
        let refund = match started {
            Ok(refund) => refund,
            Err(first) => return Ok(Reply::ok(first)),
        };
        refunds::outcome(&state, &refund, 1).await?;
        let payment = state.store.read()?.get(&PAYMENTS, &id)?.ok_or_else(payment_not_found)?;
        Ok(Reply::ok(payment.view_in(&state.store.read()?)?))
    }

    /// Stripe's webhook: the raw body and its `Stripe-Signature` are verified (HMAC-SHA256,
    /// 5 minutes); each event id is applied once; unknown types are acknowledged.
    #[oai(path = "/webhook", method = "post", operation_id = "receiveStripeWebhook")]
    async fn webhook(
        &self,
        state: Data<&AppState>,
        req: &Request,
        #[oai(name = "Stripe-Signature")] signature: Header<Option<String>>,
        body: Binary<Vec<u8>>,
    ) -> ApiResult<Reply<Received>> {
        let invalid = || ApiError::new(ErrorCode::InvalidWebhook);
        let secret = state.settings.stripe_webhook_secret.as_ref().ok_or_else(invalid)?;
        let header = signature.0.ok_or_else(invalid)?;
        if !super::webhook::verify(secret.expose(), &header, &body.0, Utc::now().timestamp()) {
            return Err(invalid());
        }
        let event: Value = serde_json::from_slice(&body.0).map_err(|_| invalid())?;
        let (Some(event_id), Some(kind)) = (event["id"].as_str(), event["type"].as_str()) else {
            return Err(invalid());
        };
        let object = &event["data"]["object"];
        let intent = match kind {
            "charge.refunded" => object["payment_intent"].as_str(),
            _ => object["id"].as_str(),
        };
        // The event id is recorded in the same transaction as the event's effect: a failure
        // leaves neither (Stripe retries), a replay finds the id and changes nothing.
        let (id, kind, intent) = (event_id.to_string(), kind.to_string(), intent.map(str::to_string));
        let refunded_cents = object["amount_refunded"].as_i64();
        let actor = Actor::of(req, None);
        state
            .store
            .write(move |w| {
                if w.get(&WEBHOOK_EVENTS, id.as_str())?.is_some() {
                    return Ok(());
                }
                w.put(&WEBHOOK_EVENTS, id.as_str(), &Utc::now().timestamp())?;
                let status = match kind.as_str() {
                    "payment_intent.succeeded" => Some(PaymentStatus::Succeeded),
                    "payment_intent.payment_failed" => Some(PaymentStatus::Failed),
                    "payment_intent.canceled" => Some(PaymentStatus::Canceled),
                    _ => None,
                };
                match (status, intent) {
                    (Some(status), Some(intent)) => apply_status_in(w, &intent, status, &actor),
                    (None, Some(intent)) if kind == "charge.refunded" => {
                        if let Some(mut p) = w.get_unique(&PAYMENTS, PAYMENTS_BY_INTENT, intent.as_str())? {
                            let reported =
                                Money::from_decimal(rust_decimal::Decimal::new(refunded_cents.unwrap_or(0), 2));
                            if reported > p.reported_refunded {
                                let before = p.refunded;
                                p.reported_refunded = reported;
                                p.settle();
                                w.put(&PAYMENTS, &p.id, &p)?;
                                let change = (
                                    json!({ "refunded": before.to_string() }),
                                    json!({ "refunded": p.refunded.to_string(), "source": "webhook" }),
                                );
                                audit::record(
                                    w,
                                    &actor,
                                    Event::new("REFUND", "Payment", p.id).change(change.0, change.1),
                                )?;
                            }
                        }
                        Ok(())
                    }
                    _ => {
                        tracing::debug!(kind, "webhook event type not handled; acknowledged");
                        Ok(())
                    }
                }
            })
            .await?;
        Ok(Reply::ok(Received { received: true }))
    }
}

pub struct AdminPaymentsApi;

#[OpenApi(prefix_path = "/api/v1/admin/orders", tag = "crate::openapi::Tag::Admin")]
impl AdminPaymentsApi {
    /// Record that a PENDING order was paid by hand (cash on delivery, a bank transfer): it gets
    /// a succeeded `manual` payment and moves to PROCESSING, and the customer is told. An intent
    /// still open for the order is cancelled, so it cannot be paid twice. Audited.
    #[oai(path = "/:id/mark-paid", method = "post", operation_id = "markOrderPaid")]
    async fn mark_paid(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<Uuid>,
    ) -> ApiResult<Reply<crate::orders::OrderView>> {
        let order_id = id.0;
        // Neither a status change nor a new intent may run meanwhile.
        let _change = Claim::take(Purpose::OrderChange, order_id)?;
        let _paying = Claim::take(Purpose::StartPayment, order_id)?;
        let actor = Actor::of(req, Some(admin.0.user_id));
        let order = state
            .store
            .write(move |w| {
                let order = w.get(&ORDERS, &order_id)?.ok_or_else(order_not_found)?;
                if order.refunding.is_some() {
                    return Err(ApiError::new(ErrorCode::Conflict));
                }
                if order.status != Status::Pending {
                    return Err(ApiError::new(ErrorCode::OrderNotPayable)
                        .with_message(format!("A {} order cannot be marked paid", order.status.as_str())));
                }
                if refunds::paid_in(w, order_id)?.is_some() {
                    return Err(ApiError::new(ErrorCode::OrderNotPayable).with_message("This order is already paid"));
                }
                super::cancel_open_in(w, order_id, &actor)?;
                let now = Utc::now();
                let payment = Payment {
                    id: Uuid::now_v7(),
                    order_id,
                    user_id: order.user_id,
                    payment_intent_id: format!("pi_manual_{}", Uuid::new_v4().simple()),
                    client_secret: String::new(),
                    amount: order.total,
                    refunded: Money::ZERO,
                    currency: order.currency.clone(),
                    status: PaymentStatus::RequiresConfirmation,
                    method: Some("manual".into()),
                    provider: "manual".into(),
                    created_at: now,
                    updated_at: now,
                    refunds: Vec::new(),
                    reported_refunded: Money::ZERO,
                    reserved: Money::ZERO,
                };
                w.put(&PAYMENTS, &payment.id, &payment)?;
                audit::record(
                    w,
                    &actor,
                    Event::new("ORDER_MARKED_PAID", "Order", order_id)
                        .metadata(json!({ "payment": payment.id.to_string(), "amount": payment.amount.to_string() })),
                )?;
                apply_status_in(w, &payment.payment_intent_id, PaymentStatus::Succeeded, &actor)?;
                w.get(&ORDERS, &order_id)?.ok_or_else(order_not_found)
            })
            .await?;
        let mut view = order.view();
        view.payment = super::latest(&state.store.read()?, order_id)?;
        Ok(Reply::ok(view))
    }
}
