//! The OpenAPI document's tags and the service that serves it.

use poem_openapi::Tags;

#[derive(Tags)]
pub enum Tag {
    /// Health, readiness and metrics.
    Operations,
}
