//! Payment providers. `offline` simulates intents that succeed on confirm, so a demo needs no
//! network (refused in production); `manual` is money taken by hand (cash on delivery, a bank
//! transfer): an intent only records that the order awaits it, the customer cannot confirm, and
//! an admin marks the order paid; `stripe` talks to the Stripe API (or, in tests, to a local mock
//! at STRIPE_API_BASE).

use base64::Engine;

use super::PaymentStatus;
use crate::config::{PaymentProvider, Settings};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// An intent as a provider reports it.
#[derive(Debug, Clone)]
pub struct Intent {
    pub id: String,
    pub client_secret: String,
    pub status: PaymentStatus,
}

#[derive(Debug, Clone)]
pub struct Refunded {
    pub id: String,
    pub amount_cents: i64,
}

/// A failed call that changes money, and whether trying again (with the same idempotency key)
/// may work: a timeout, a 5xx, a 409 or 429 may; a 4xx refusal will not.
#[derive(Debug)]
pub struct CallError {
    pub error: ApiError,
    pub retry: bool,
}

pub enum Payments {
    Offline,
    Manual,
    Stripe(Box<stripe::StripeProvider>),
}

/// A provider failure: the client sees 502 `PAYMENT_PROVIDER_ERROR`, the log the cause.
pub fn provider_error(cause: impl std::fmt::Display) -> ApiError {
    let mut e = ApiError::new(ErrorCode::PaymentProviderError);
    e.cause = Some(cause.to_string());
    tracing::warn!(cause = %cause_text(&e), "the payment provider failed");
    e
}

/// A Stripe payment while Stripe is no longer configured: an admin settles it in Stripe's own
/// dashboard (the job stays DEAD with this reason until then).
fn stripe_gone() -> CallError {
    CallError {
        error: provider_error("this payment was made with Stripe, and STRIPE_SECRET_KEY is not set"),
        retry: false,
    }
}

fn cause_text(e: &ApiError) -> String {
    e.cause.clone().unwrap_or_default()
}

impl Payments {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Payments> {
        match (settings.payments().map_err(anyhow::Error::msg)?, &settings.stripe_secret_key) {
            (PaymentProvider::Stripe, Some(key)) => Ok(Payments::Stripe(Box::new(stripe::StripeProvider::new(
                key.expose(),
                &settings.stripe_api_base,
                std::time::Duration::from_millis(settings.stripe_timeout_ms),
            )?))),
            (PaymentProvider::Manual, _) => Ok(Payments::Manual),
            _ => Ok(Payments::Offline),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Payments::Offline => "offline",
            Payments::Manual => "manual",
            Payments::Stripe(_) => "stripe",
        }
    }

    pub async fn create_intent(
        &self,
        amount_cents: i64,
        currency: &str,
        order_id: &str,
        key: Option<&str>,
    ) -> ApiResult<Intent> {
        match self {
            Payments::Offline | Payments::Manual => {
                let id = format!("pi_{}_{}", self.name(), uuid::Uuid::new_v4().simple());
                let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
                Ok(Intent {
                    client_secret: format!("{id}_secret_{secret}"),
                    id,
                    status: PaymentStatus::RequiresConfirmation,
                })
            }
            Payments::Stripe(s) => s.create_intent(amount_cents, currency, order_id, key).await,
        }
    }

    /// The status after confirming: offline intents succeed; Stripe's status is read back
    /// (the card is confirmed client-side with the client secret).
    /// A customer cannot confirm a manual payment: the shop marks the order paid.
    pub async fn confirm(&self, provider: &str, intent_id: &str) -> ApiResult<PaymentStatus> {
        match (provider, self) {
            ("stripe", Payments::Stripe(s)) => s.status(intent_id).await,
            ("offline", Payments::Offline) => Ok(PaymentStatus::Succeeded),
            ("manual", _) => Err(ApiError::new(ErrorCode::ManualPayment)),
            _ => Err(ApiError::new(ErrorCode::OrderNotPayable)
                .with_message("This payment was started with a provider this shop no longer uses: start a new one")),
        }
    }

    /// Cancels an intent of `provider` (the one its payment names: the shop may have changed
    /// provider since).
    pub async fn cancel(&self, provider: &str, intent_id: &str) -> Result<(), CallError> {
        match (provider, self) {
            ("stripe", Payments::Stripe(s)) => s.cancel(intent_id).await,
            ("stripe", _) => Err(stripe_gone()),
            _ => Ok(()),
        }
    }

    /// Refunds a payment made through `provider`. The same key names the same refund. Offline
    /// and manual refunds are money the shop hands back itself: recording them is all there is.
    pub async fn refund(
        &self,
        provider: &str,
        intent_id: &str,
        amount_cents: i64,
        key: &str,
    ) -> Result<Refunded, CallError> {
        match (provider, self) {
            ("stripe", Payments::Stripe(s)) => s.refund(intent_id, amount_cents, key).await,
            ("stripe", _) => Err(stripe_gone()),
            (local, _) => {
                let id = format!("re_{local}_{}", &crate::types::fingerprint(&key)[..32]);
                Ok(Refunded { id, amount_cents })
            }
        }
    }
}

pub mod stripe {
    //! The Stripe provider: PaymentIntents and Refunds through async-stripe, against the API at
    //! STRIPE_API_BASE (a local mock in tests). One attempt per call; an Idempotency-Key given by
    //! the client is forwarded as Stripe's own.

    use std::collections::HashMap;
    use std::time::Duration;

    use ::stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
    use anyhow::Context;
    use stripe_core::PaymentIntentStatus;
    use stripe_core::payment_intent::{
        CancelPaymentIntent, CreatePaymentIntent, CreatePaymentIntentAutomaticPaymentMethods, RetrievePaymentIntent,
    };
    use stripe_core::refund::CreateRefund;
    use stripe_types::Currency;

    use super::*;

    pub struct StripeProvider {
        client: Client,
    }

    fn strategy(key: Option<&str>) -> ApiResult<RequestStrategy> {
        match key {
            None => Ok(RequestStrategy::Once),
            Some(k) => IdempotencyKey::new(k)
                .map(RequestStrategy::Idempotent)
                .map_err(|_| ApiError::field("Idempotency-Key", "1 to 255 characters")),
        }
    }

    /// Stripe's failures (declines, 5xx, timeouts, unreachable) as one client error.
    fn failed(e: StripeError) -> ApiError {
        let what = match &e {
            StripeError::Stripe(api, status) => {
                format!("stripe answered {status}: {:?} {}", api.type_, api.message.clone().unwrap_or_default())
            }
            StripeError::Timeout => "stripe did not answer in time".to_string(),
            other => format!("stripe: {other}"),
        };
        let mut err = provider_error(what);
        if let StripeError::Stripe(api, 402) = &e {
            // A declined card: the customer can act on the message, so it is shown.
            err.message =
                format!("The payment was declined: {}", api.message.clone().unwrap_or_else(|| "card declined".into()));
        }
        err
    }

    fn call_failed(e: StripeError) -> CallError {
        let retry = !matches!(&e, StripeError::Stripe(_, status) if (400..500).contains(status) && *status != 409 && *status != 429);
        CallError { error: failed(e), retry }
    }

    fn status_of(s: &PaymentIntentStatus) -> PaymentStatus {
        match s {
            PaymentIntentStatus::Succeeded => PaymentStatus::Succeeded,
            PaymentIntentStatus::Processing => PaymentStatus::Processing,
            PaymentIntentStatus::Canceled => PaymentStatus::Canceled,
            PaymentIntentStatus::RequiresConfirmation => PaymentStatus::RequiresConfirmation,
            PaymentIntentStatus::RequiresPaymentMethod => PaymentStatus::RequiresPaymentMethod,
            // Actions and captures are still in the customer's hands.
            _ => PaymentStatus::RequiresConfirmation,
        }
    }

    impl StripeProvider {
        /// Every call gives up after `timeout` (the client then gets a 502).
        pub fn new(key: &str, base: &str, timeout: Duration) -> anyhow::Result<StripeProvider> {
            let mut base = base.trim().to_string();
            if !base.ends_with('/') {
                base.push('/');
            }
            let client = ClientBuilder::new(key)
                .url(base)
                .timeout(timeout)
                .request_strategy(RequestStrategy::Once)
                .build()
                .context("stripe client")?;
            Ok(StripeProvider { client })
        }

        pub async fn create_intent(
            &self,
            amount_cents: i64,
            currency: &str,
            order_id: &str,
            key: Option<&str>,
        ) -> ApiResult<Intent> {
            let currency: Currency = currency.parse().unwrap_or(Currency::USD);
            let metadata = HashMap::from([("order_id".to_string(), order_id.to_string())]);
            let request = CreatePaymentIntent::new(amount_cents, currency)
                .metadata(metadata)
                .automatic_payment_methods(CreatePaymentIntentAutomaticPaymentMethods::new(true));
            let pi = request.customize().request_strategy(strategy(key)?).send(&self.client).await.map_err(failed)?;
            Ok(Intent {
                id: pi.id.as_str().to_string(),
                client_secret: pi.client_secret.clone().unwrap_or_default(),
                status: status_of(&pi.status),
            })
        }

        pub async fn status(&self, intent_id: &str) -> ApiResult<PaymentStatus> {
            let pi = RetrievePaymentIntent::new(intent_id).send(&self.client).await.map_err(failed)?;
            Ok(status_of(&pi.status))
        }

        pub async fn cancel(&self, intent_id: &str) -> Result<(), CallError> {
            CancelPaymentIntent::new(intent_id).send(&self.client).await.map_err(call_failed)?;
            Ok(())
        }

        pub async fn refund(&self, intent_id: &str, amount_cents: i64, key: &str) -> Result<Refunded, CallError> {
            let strategy = strategy(Some(key)).map_err(|error| CallError { error, retry: false })?;
            let refund = CreateRefund::new()
                .payment_intent(intent_id)
                .amount(amount_cents)
                .customize()
                .request_strategy(strategy)
                .send(&self.client)
                .await
                .map_err(call_failed)?;
            Ok(Refunded { id: refund.id.as_str().to_string(), amount_cents: refund.amount })
        }
    }
}
