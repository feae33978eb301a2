//! A payment as clients see it. Apart from the record so that an order's view can show its
//! payment without the order module depending on the payment rules.

use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use crate::types::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    Processing,
    Succeeded,
    Failed,
    Canceled,
    Refunded,
    PartiallyRefunded,
}

impl PaymentStatus {
    /// An intent the customer may still pay.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            PaymentStatus::RequiresPaymentMethod | PaymentStatus::RequiresConfirmation | PaymentStatus::Processing
        )
    }

    /// Money was taken, and not all of it given back.
    pub fn is_paid(self) -> bool {
        matches!(self, PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded)
    }
}

#[derive(Debug, Clone, Object)]
#[oai(rename = "Payment", rename_all = "camelCase")]
pub struct PaymentView {
    pub id: String,
    pub order_id: String,
    pub payment_intent_id: String,
    pub amount: Money,
    /// What was refunded so far.
    pub refunded: Money,
    pub currency: String,
    pub status: PaymentStatus,
    pub method: Option<String>,
    pub provider: ProviderName,
    pub created_at: String,
    pub updated_at: String,
    /// The refunds asked of this payment, oldest first; each that went through has a credit
    /// note (`GET /orders/:id/credit-notes/:refundId`).
    pub refunds: Vec<RefundView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[oai(rename_all = "UPPERCASE")]
#[serde(rename_all = "UPPERCASE")]
pub enum RefundStatus {
    /// Asked of the provider, or about to be; its amount is reserved on the payment.
    Pending,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Object)]
#[oai(rename = "Refund", rename_all = "camelCase")]
pub struct RefundView {
    pub id: String,
    pub amount: Money,
    pub status: RefundStatus,
    pub created_at: String,
}

/// Which provider moves a payment's money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ProviderName {
    /// Simulated, for development and demos.
    Offline,
    /// Cash on delivery or bank transfer: an admin marks the order paid.
    Manual,
    Stripe,
}

impl ProviderName {
    /// The provider a payment record names.
    pub fn of(name: &str) -> ProviderName {
        match name {
            "stripe" => ProviderName::Stripe,
            "manual" => ProviderName::Manual,
            _ => ProviderName::Offline,
        }
    }
}
