//! The payment interface checkout calls. Payments (providers, intents, refunds, webhooks) are
//! built by the payments issue; until then no order has a payment, so there is nothing to refund.

use crate::error::ApiResult;
use crate::orders::Order;
use crate::state::AppState;
use crate::types::Money;

/// Refunds `amount` (all that is left when `None`) of a succeeded payment of `order`. Returns
/// whether anything was refunded: false when the order has no succeeded payment.
pub async fn refund_order(_state: &AppState, order: &Order, amount: Option<Money>) -> ApiResult<bool> {
    tracing::debug!(order = %order.id, ?amount, "no payment recorded for this order: nothing to refund");
    Ok(false)
}
