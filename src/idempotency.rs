//! Idempotency keys: one rule for every endpoint that honours `Idempotency-Key` (placing an
//! order, creating a payment intent, refunding).
//!
//! A key is scoped to its endpoint and its user; the record holds a fingerprint of the request
//! and the first answer. A repeat of the same request gets that answer back; a different request
//! under the same key is `IDEMPOTENCY_KEY_REUSED`. A key over 255 characters is refused at the
//! edge (400), never silently dropped.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult, Type};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::{Collection, ReadTx, StoreError, WriteTx};

pub const MAX_KEY_LEN: usize = 255;

/// The `Idempotency-Key` header: 1 to 255 characters (surrounding spaces ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub String);

impl Type for IdempotencyKey {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_idempotency_key".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        schema.min_length = Some(1);
        schema.max_length = Some(MAX_KEY_LEN);
        schema.description = Some("Any unique string, e.g. a UUID made for this checkout attempt.");
        schema.example = Some(Value::String("3f0c2a52-8d4e-4b1f-9a57-6c1d2e3f4a5b".into()));
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromParameter for IdempotencyKey {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        let key = value.trim();
        if key.is_empty() {
            return Err(ParseError::custom("must not be empty"));
        }
        if key.chars().count() > MAX_KEY_LEN {
            return Err(ParseError::custom("must be at most 255 characters"));
        }
        Ok(IdempotencyKey(key.to_string()))
    }
}

/// What a repeated key finds: the request it came with and the first answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdempotentRecord {
    pub request_hash: String,
    pub response: Value,
    pub created_at: DateTime<Utc>,
}

/// Keyed (scope, user id, key): each endpoint and user has its own keys.
pub static IDEMPOTENCY: Collection<(String, u64, String), IdempotentRecord> = Collection::new("idempotency");

/// A key as stored: the endpoint's scope, the user (or session) and the client's key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scoped {
    id: (String, u64, String),
    request_hash: String,
}

impl Scoped {
    pub fn new(scope: &str, user_id: u64, key: &IdempotencyKey, request_hash: String) -> Scoped {
        Scoped { id: (scope.to_string(), user_id, key.0.clone()), request_hash }
    }

    /// The client's key, e.g. to forward to the payment provider.
    pub fn key(&self) -> &str {
        &self.id.2
    }

    /// The first answer, when this key was seen with the same request; a different request is
    /// `IDEMPOTENCY_KEY_REUSED`.
    pub fn replay<T: poem_openapi::types::ParseFromJSON>(&self, r: &ReadTx) -> ApiResult<Option<T>> {
        match r.get(&IDEMPOTENCY, &self.id)? {
            Some(seen) => decode(seen, &self.request_hash).map(Some),
            None => Ok(None),
        }
    }

    /// The same check inside a write, so that the record and the effect commit together.
    pub fn replay_in<T: poem_openapi::types::ParseFromJSON>(&self, w: &mut WriteTx<'_>) -> ApiResult<Option<T>> {
        match w.get(&IDEMPOTENCY, &self.id)? {
            Some(seen) => decode(seen, &self.request_hash).map(Some),
            None => Ok(None),
        }
    }

    /// Records the answer, in the transaction of the effect it answers for.
    pub fn record<T: poem_openapi::types::ToJSON>(&self, w: &mut WriteTx<'_>, answer: &T) -> Result<(), StoreError> {
        let response = answer.to_json().unwrap_or(Value::Null);
        w.put(
            &IDEMPOTENCY,
            &self.id,
            &IdempotentRecord { request_hash: self.request_hash.clone(), response, created_at: Utc::now() },
        )
    }
}

fn decode<T: poem_openapi::types::ParseFromJSON>(seen: IdempotentRecord, request_hash: &str) -> ApiResult<T> {
    if seen.request_hash != request_hash {
        return Err(ApiError::new(ErrorCode::IdempotencyKeyReused));
    }
    T::parse_from_json(Some(seen.response)).map_err(|e| ApiError::internal(e.into_message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_trimmed_and_bounded() {
        assert_eq!(IdempotencyKey::parse_from_parameter(" k1 ").unwrap(), IdempotencyKey("k1".into()));
        assert!(IdempotencyKey::parse_from_parameter(&"x".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse_from_parameter(&"x".repeat(256)).is_err());
        assert!(IdempotencyKey::parse_from_parameter("  ").is_err());
    }
}
