//! The OpenAPI document's tags.

use poem_openapi::Tags;

#[derive(Tags)]
pub enum Tag {
    /// Health, readiness and metrics.
    Operations,
    /// Registration, sign-in, tokens and passwords.
    Auth,
    /// The catalog: products, search, categories and reviews.
    Products,
    /// The cart of a signed-in user or a guest session.
    Cart,
    /// Checkout and orders.
    Orders,
    /// Products a user keeps an eye on.
    Wishlist,
    /// Payment intents, refunds and the Stripe webhook.
    Payments,
    /// In-app notifications.
    Notifications,
    /// The signed-in user's account.
    Users,
    /// Administration: users and the audit log.
    Admin,
}
