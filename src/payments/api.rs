//! `/api/v1/payments`: intents, confirmation, status, refunds and the Stripe webhook.

use chrono::Utc;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Binary;
use poem_openapi::{Object, OpenApi};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{PAYMENT_INDEXES, PAYMENTS, Payment, PaymentStatus, PaymentView, refund};
use crate::audit::{self, Actor, Event};
use crate::auth::guard::{Admin, Bearer};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::events::Happened;
use crate::http::envelope::Reply;
use crate::http::json::JsonBody;
use crate::orders::api::{IDEMPOTENCY, IdempotentRecord};
use crate::orders::{ORDERS, Order, Status};
use crate::state::AppState;
use crate::store::{Collection, StoreError};
use crate::types::Amount;
use crate::types::Money;

/// Webhook events already applied (Stripe delivers at least once).
pub static WEBHOOK_EVENTS: Collection<str, i64> = Collection::new("webhook_events");

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[oai(rename_all = "camelCase")]
pub struct CreateIntent {
    pub order_id: String,
    /// Ignored: the amount is always the order's total.
    #[serde(default)]
    pub amount: Option<Amount>,
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[oai(rename_all = "camelCase")]
pub struct ConfirmBody {
    pub payment_intent_id: String,
}

#[derive(Debug, Deserialize, Object)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// Default: all that is left.
    pub amount: Option<Amount>,
}

#[derive(Debug, Object)]
pub struct Received {
    pub received: bool,
}

fn hash(value: &impl Serialize) -> String {
    Sha256::digest(serde_json::to_vec(value).unwrap_or_default()).iter().map(|b| format!("{b:02x}")).collect()
}

fn order_not_found() -> ApiError {
    ApiError::new(ErrorCode::OrderNotFound)
}

fn payment_not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound).with_message("Payment not found")
}

fn by_intent(state: &AppState, intent: &str) -> ApiResult<Payment> {
    state.store.read()?.get_unique(&PAYMENTS, &PAYMENT_INDEXES[0], intent)?.ok_or_else(payment_not_found)
}

/// Records a provider status on the payment; a success moves a PENDING order to PROCESSING.
/// Returns the payment and, when the status changed, the order for the event.
async fn apply_status(
    state: &AppState,
    intent: &str,
    status: PaymentStatus,
    actor: &Actor,
) -> ApiResult<(Payment, Option<Order>)> {
    let intent = intent.to_string();
    let actor = actor.clone();
    state
        .store
        .write(move |w| {
            let mut p = w.get_unique(&PAYMENTS, &PAYMENT_INDEXES[0], intent.as_str())?.ok_or_else(payment_not_found)?;
            // Refund states are ours to set; a provider report does not undo them.
            if p.status == status || matches!(p.status, PaymentStatus::Refunded | PaymentStatus::PartiallyRefunded) {
                return Ok((p, None));
            }
            let before = p.status;
            p.status = status;
            p.updated_at = Utc::now();
            w.put(&PAYMENTS, &p.id, &p)?;
            let mut order = w.get(&ORDERS, &p.order_id)?;
            if let Some(o) =
                order.as_mut().filter(|o| status == PaymentStatus::Succeeded && o.status == Status::Pending)
            {
                o.transition(Status::Processing, Some("Payment received".into()))?;
                w.put(&ORDERS, &o.id, o)?;
            }
            audit::record(
                w,
                &actor,
                Event::new("PAYMENT_STATUS", "Payment", p.id).change(json!(before), json!(status)),
            )?;
            Ok::<_, ApiError>((p, order))
        })
        .await
}

fn announce(state: &AppState, payment: &Payment, order: Option<Order>) {
    let Some(order) = order else { return };
    match payment.status {
        PaymentStatus::Succeeded => state.events.publish(Happened::PaymentSucceeded(order)),
        PaymentStatus::Failed => state.events.publish(Happened::PaymentFailed(order)),
        _ => {}
    }
}

pub struct PaymentsApi;

#[OpenApi(prefix_path = "/api/v1/payments", tag = "crate::openapi::Tag::Payments")]
impl PaymentsApi {
    /// Start paying an own PENDING order. The amount is the order's total, never the client's.
    /// An `Idempotency-Key` returns the first answer again and is forwarded to Stripe.
    #[oai(path = "/create-intent", method = "post")]
    async fn create_intent(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Bearer,
        #[oai(name = "Idempotency-Key")] key: Header<Option<String>>,
        body: JsonBody<CreateIntent>,
    ) -> ApiResult<Reply<IntentView>> {
        let user_id = auth.0.user_id;
        let order_id = Uuid::parse_str(&body.0.order_id).map_err(|_| order_not_found())?;
        let key = key.0.map(|k| k.trim().to_string()).filter(|k| !k.is_empty() && k.len() <= 255);
        let request_hash = hash(&body.0.order_id);
        let idem = key.as_ref().map(|k| ("payments.create".to_string(), user_id, k.clone()));
        if let Some(k) = &idem
            && let Some(seen) = state.store.read()?.get(&IDEMPOTENCY, k)?
        {
            if seen.request_hash != request_hash {
                return Err(ApiError::new(ErrorCode::IdempotencyKeyReused));
            }
            let view: IntentView = serde_json::from_value(seen.response).map_err(ApiError::internal)?;
            return Ok(Reply::created(view));
        }
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
        let intent = state
            .payments
            .create_intent(order.total.cents(), &order.currency.to_lowercase(), &order.id.to_string(), key.as_deref())
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
        };
        let view = IntentView {
            id: intent.id.clone(),
            client_secret: intent.client_secret,
            amount: order.total,
            currency: order.currency,
            status: intent.status,
        };
        let response = serde_json::to_value(&view).map_err(ApiError::internal)?;
        let actor = Actor::of(req, Some(user_id));
        state
            .store
            .write(move |w| {
                w.put(&PAYMENTS, &payment.id, &payment)?;
                if let Some(mut o) = w.get(&ORDERS, &order_id)? {
                    o.payment_intent_id = Some(payment.payment_intent_id.clone());
                    w.put(&ORDERS, &order_id, &o)?;
                }
                if let Some(k) = idem {
                    w.put(&IDEMPOTENCY, &k, &IdempotentRecord { request_hash, response, created_at: now })?;
                }
                audit::record(
                    w,
                    &actor,
                    Event::new("PAYMENT_INTENT", "Payment", payment.id)
                        .metadata(json!({ "order": order_id.to_string(), "amount": payment.amount.to_string() })),
                )
            })
            .await?;
        Ok(Reply::created(view))
    }

    /// Confirm a payment: its status is read back from the provider (offline intents succeed).
    #[oai(path = "/confirm", method = "post")]
    async fn confirm(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Bearer,
        body: JsonBody<ConfirmBody>,
    ) -> ApiResult<Reply<PaymentView>> {
        let payment = by_intent(&state, &body.0.payment_intent_id)?;
        if payment.user_id != auth.0.user_id && !auth.0.is_admin() {
            return Err(payment_not_found());
        }
        let status = state.payments.confirm(&payment.payment_intent_id).await?;
        let (payment, order) =
            apply_status(&state, &payment.payment_intent_id, status, &Actor::of(req, Some(auth.0.user_id))).await?;
        announce(&state, &payment, order);
        Ok(Reply::ok(payment.view()))
    }

    /// A payment by its intent id (its owner or an admin).
    #[oai(path = "/:payment_intent_id/status", method = "get")]
    async fn status(
        &self,
        state: Data<&AppState>,
        auth: Bearer,
        payment_intent_id: Path<String>,
    ) -> ApiResult<Reply<PaymentView>> {
        let payment = by_intent(&state, &payment_intent_id.0)?;
        if payment.user_id != auth.0.user_id && !auth.0.is_admin() {
            return Err(payment_not_found());
        }
        Ok(Reply::ok(payment.view()))
    }

    /// Refund part or all of a payment (default: all that is left).
    #[oai(path = "/:payment_id/refund", method = "post")]
    async fn refund(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        payment_id: Path<String>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<String>>,
        body: JsonBody<RefundBody>,
    ) -> ApiResult<Reply<PaymentView>> {
        let id = Uuid::parse_str(&payment_id.0).map_err(|_| payment_not_found())?;
        let amount = match body.0.amount {
            Some(a) => Some(Money::exact(a.0).map_err(|e| ApiError::field("amount", e))?),
            None => None,
        };
        let key = key.0.map(|k| k.trim().to_string()).filter(|k| !k.is_empty() && k.len() <= 255);
        let idem = key.as_ref().map(|k| ("payments.refund".to_string(), admin.0.user_id, k.clone()));
        let request_hash = hash(&(payment_id.0.clone(), body.0.amount.map(|a| a.0.to_string())));
        if let Some(k) = &idem
            && let Some(seen) = state.store.read()?.get(&IDEMPOTENCY, k)?
        {
            if seen.request_hash != request_hash {
                return Err(ApiError::new(ErrorCode::IdempotencyKeyReused));
            }
            let view = <PaymentView as poem_openapi::types::ParseFromJSON>::parse_from_json(Some(seen.response))
                .map_err(|e| ApiError::internal(e.into_message()))?;
            return Ok(Reply::ok(view));
        }
        let actor = Actor::of(req, Some(admin.0.user_id));
        let payment = refund(&state, id, amount, key.map(|k| format!("refund-{k}")), &actor).await?;
        let view = payment.view();
        if let Some(k) = idem {
            let response = poem_openapi::types::ToJSON::to_json(&view).unwrap_or(Value::Null);
            state
                .store
                .write(move |w| {
                    w.put(&IDEMPOTENCY, &k, &IdempotentRecord { request_hash, response, created_at: Utc::now() })
                })
                .await?;
        }
        Ok(Reply::ok(view))
    }

    /// Stripe's webhook: the raw body and its `Stripe-Signature` are verified (HMAC-SHA256,
    /// 5 minutes); each event id is applied once; unknown types are acknowledged.
    #[oai(path = "/webhook", method = "post")]
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
        // Applied once: the event id is recorded first; a replay finds it.
        let id = event_id.to_string();
        let fresh = state
            .store
            .write(move |w| {
                if w.get(&WEBHOOK_EVENTS, id.as_str())?.is_some() {
                    return Ok(false);
                }
                w.put(&WEBHOOK_EVENTS, id.as_str(), &Utc::now().timestamp())?;
                Ok::<_, StoreError>(true)
            })
            .await?;
        if !fresh {
            return Ok(Reply::ok(Received { received: true }));
        }
        let actor = Actor::of(req, None);
        let status = match kind {
            "payment_intent.succeeded" => Some(PaymentStatus::Succeeded),
            "payment_intent.payment_failed" => Some(PaymentStatus::Failed),
            "payment_intent.canceled" => Some(PaymentStatus::Canceled),
            _ => None,
        };
        match (status, intent) {
            (Some(status), Some(intent)) => {
                if let Ok((payment, order)) = apply_status(&state, intent, status, &actor).await {
                    announce(&state, &payment, order);
                }
            }
            (None, Some(intent)) if kind == "charge.refunded" => {
                let refunded = object["amount_refunded"].as_i64().unwrap_or(0);
                let intent = intent.to_string();
                state
                    .store
                    .write(move |w| {
                        let Some(mut p) = w.get_unique(&PAYMENTS, &PAYMENT_INDEXES[0], intent.as_str())? else {
                            return Ok(());
                        };
                        let amount = Money::from_decimal(rust_decimal::Decimal::new(refunded, 2));
                        if amount > p.refunded {
                            p.refunded = amount.min(p.amount);
                            p.status = if p.refunded >= p.amount {
                                PaymentStatus::Refunded
                            } else {
                                PaymentStatus::PartiallyRefunded
                            };
                            p.updated_at = Utc::now();
                            w.put(&PAYMENTS, &p.id, &p)?;
                            audit::record(
                                w,
                                &actor,
                                Event::new("REFUND", "Payment", p.id)
                                    .metadata(json!({ "source": "webhook", "refunded": p.refunded.to_string() })),
                            )?;
                        }
                        Ok::<_, StoreError>(())
                    })
                    .await?;
            }
            _ => tracing::debug!(kind, "webhook event type not handled; acknowledged"),
        }
        Ok(Reply::ok(Received { received: true }))
    }
}
