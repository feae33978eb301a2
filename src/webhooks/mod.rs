//! Outbound webhooks: endpoints an admin registers, and a delivery for each event one of them
//! takes. A delivery is written with the change that caused it (its body fixed then, so every
//! try sends the same bytes under the same `webhook-id`) and sent by an outbox job, signed the
//! Standard Webhooks way, retried with the outbox's backoff until a 2xx. Where a delivery may
//! go is checked at registration and again, on the resolved addresses, at every try
//! (`address.rs`).

pub mod address;
pub mod api;
pub mod send;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::jobs::{self, Task};
use crate::store::{Collection, Index, StoreError, WriteTx, key};

/// Every event an endpoint can take.
pub const EVENTS: &[&str] = &[
    "order.created",
    "order.status_changed",
    "order.cancelled",
    "payment.succeeded",
    "payment.failed",
    "refund.created",
    "product.updated",
    "stock.low",
];

/// The event of the test button: sent to its endpoint whatever events it takes.
pub const TEST_EVENT: &str = "webhook.test";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: u64,
    pub url: String,
    pub events: Vec<String>,
    /// `whsec_` + base64 of the signing key.
    pub secret: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub static ENDPOINTS: Collection<u64, Endpoint> = Collection::new("webhook_endpoints");

/// One try of a delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The receiver's status; None when no answer came (refused address, network, timeout).
    pub status: Option<u16>,
    pub duration_ms: u64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// UUID v7; the `webhook-id` is `msg_` and its simple form.
    pub id: Uuid,
    pub endpoint_id: u64,
    pub event: String,
    /// The JSON body, fixed when the event happened.
    pub body: String,
    pub attempts: Vec<Attempt>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Delivery {
    pub fn webhook_id(&self) -> String {
        format!("msg_{}", self.id.simple())
    }
}

fn by_endpoint(d: &Delivery) -> Vec<Vec<u8>> {
    vec![key::encode(&(d.endpoint_id, d.id))]
}

pub static DELIVERY_INDEXES: [Index<Delivery>; 1] = [Index::new("webhook_deliveries.by_endpoint", by_endpoint)];
pub static DELIVERIES: Collection<Uuid, Delivery> = Collection::with_indexes("webhook_deliveries", &DELIVERY_INDEXES);
/// An endpoint's deliveries, oldest first.
pub static DELIVERIES_BY_ENDPOINT: &Index<Delivery> = &DELIVERY_INDEXES[0];

/// A new signing secret: 24 random bytes, as Standard Webhooks writes them.
pub fn new_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// The key of a `whsec_` secret (a secret without the prefix is taken as the key's base64, and
/// one that is not base64 as the key's bytes).
fn key_of(secret: &str) -> Vec<u8> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD.decode(b64).unwrap_or_else(|_| secret.as_bytes().to_vec())
}

/// `webhook-signature`: `v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key_of(secret)).expect("HMAC takes any key");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Writes the deliveries of `event` to every active endpoint that takes it, with their jobs,
/// in the caller's transaction: the change and its webhooks commit together or not at all.
pub fn emit(w: &mut WriteTx<'_>, event: &str, data: Value) -> Result<(), StoreError> {
    let endpoints = w.scan(&ENDPOINTS, &(), false, usize::MAX)?;
    let takers: Vec<Endpoint> =
        endpoints.into_iter().filter(|e| e.active && e.events.iter().any(|x| x == event)).collect();
    if takers.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let body = json!({ "type": event, "timestamp": crate::users::timestamp(&now), "data": data }).to_string();
    for e in takers {
        deliver(w, e.id, event, body.clone())?;
    }
    Ok(())
}

/// A delivery of `body` to endpoint `endpoint_id`, and its job.
pub fn deliver(w: &mut WriteTx<'_>, endpoint_id: u64, event: &str, body: String) -> Result<Uuid, StoreError> {
    let d = Delivery {
        id: Uuid::now_v7(),
        endpoint_id,
        event: event.to_string(),
        body,
        attempts: Vec::new(),
        delivered_at: None,
        created_at: Utc::now(),
    };
    w.put(&DELIVERIES, &d.id, &d)?;
    jobs::enqueue(w, Task::Webhook { delivery_id: d.id })?;
    Ok(d.id)
}

/// How long the deliveries log keeps a delivery: well past its last retry.
pub const KEEP_DAYS: i64 = 30;

/// Deletes the deliveries made more than `age` ago (the log an admin reads is of the recent
/// ones; a delivery that old was delivered or given up long since), a thousand per write.
pub async fn sweep(store: &crate::store::Store, age: chrono::Duration) -> Result<usize, StoreError> {
    let cutoff = Utc::now() - age;
    store
        .sweep(move |w| {
            // Keyed by UUID v7: the oldest come first.
            let old: Vec<Uuid> = w
                .scan(&DELIVERIES, &(), false, crate::store::SWEEP_BATCH)?
                .into_iter()
                .take_while(|d| d.created_at < cutoff)
                .map(|d| d.id)
                .collect();
            for id in &old {
                w.delete(&DELIVERIES, id)?;
            }
            Ok(old.len())
        })
        .await
}

/// An API view as webhook data (the admin's view of it).
pub fn data<T: poem_openapi::types::ToJSON>(view: &T) -> Value {
    view.to_json().unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let sig = signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
