//! `JsonBody<T>`: the request body extractor every JSON endpoint uses.
//!
//! poem-openapi's own `Json<T>` reports a missing or mistyped field without naming it; this one
//! parses with serde and reports the path of the bad field (`shippingAddress.zipCode`,
//! `products.0.quantity`) as a `VALIDATION_ERROR`, and broken JSON as `INVALID_JSON`. The OpenAPI
//! schema still comes from `T`'s `Object` derive.

use poem::{Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use crate::error::{ApiError, ErrorCode};

/// The most a JSON request body may hold (the contract's 1 MiB).
pub const JSON_LIMIT: usize = 1024 * 1024;

pub struct JsonBody<T>(pub T);

impl<T: Type + Send> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        is_json(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// `application/json` or any `+json` type, with or without parameters.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: Type + DeserializeOwned + Send> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(_request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = body.take()?.into_bytes_limit(JSON_LIMIT).await.map_err(|e| match e {
            poem::error::ReadBodyError::PayloadTooLarge => ApiError::new(ErrorCode::PayloadTooLarge),
            other => {
                ApiError::new(ErrorCode::InvalidJson).with_message(format!("Could not read the request body: {other}"))
            }
        })?;
        parse(&bytes).map(JsonBody).map_err(Into::into)
    }
}

/// Parses a JSON body, naming the field of a shape error.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(
            ApiError::new(ErrorCode::InvalidJson).with_message("The request body is empty; a JSON object was expected")
        );
    }
    // JSON is UTF-8; serde skips the bytes of strings it ignores without checking them.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(ApiError::new(ErrorCode::InvalidJson).with_message("The request body is not valid UTF-8"));
    };
    // Syntax first, so that broken JSON is always INVALID_JSON even where the shape is also wrong.
    let value = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) => value,
        Err(e) => {
            return Err(
                ApiError::new(ErrorCode::InvalidJson).with_message(format!("Malformed JSON in request body: {e}"))
            );
        }
    };
    // Every body of the API is an object; serde would also read a struct from an array.
    if !value.is_object() {
        return Err(ApiError::field("body", "The request body must be a JSON object"));
    }
    super::text::check(&value)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let mut path: Vec<String> = e
            .path()
            .iter()
            .map(|segment| match segment {
                Segment::Seq { index } => index.to_string(),
                Segment::Map { key } => key.clone(),
                Segment::Enum { variant } => variant.clone(),
                Segment::Unknown => "?".to_string(),
            })
            .collect();
        let message = data_message(&e.inner().to_string());
        // serde reports a missing field at its parent; the form wants the field itself.
        if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
            path.push(field.to_string());
        }
        let field = if path.is_empty() { "body".to_string() } else { path.join(".") };
        ApiError::field(field, message)
    })
}

/// serde's message without the "at line 1 column 7" position, which means nothing to a form.
fn data_message(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

poem_openapi::impl_apirequest_for_payload!(JsonBody<T>, T: Type + DeserializeOwned + Send);

/// An optional JSON body: absent (no body, or no JSON content type) is `None`. For endpoints
/// that take their input from a cookie or from a body (`POST /auth/refresh`).
pub struct OptionalJson<T>(pub Option<T>);

impl<'a, T: Type + DeserializeOwned + Send> poem_openapi::ApiExtractor<'a> for OptionalJson<T> {
    const TYPES: &'static [poem_openapi::ApiExtractorType] = &[poem_openapi::ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<poem_openapi::registry::MetaRequest> {
        Some(poem_openapi::registry::MetaRequest {
            description: None,
            content: vec![poem_openapi::registry::MetaMediaType {
                content_type: "application/json",
                schema: T::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: poem_openapi::ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        if !request.content_type().is_some_and(is_json) {
            return Ok(OptionalJson(None));
        }
        let bytes =
            body.take()?.into_bytes_limit(JSON_LIMIT).await.map_err(|_| ApiError::new(ErrorCode::PayloadTooLarge))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        Ok(OptionalJson(Some(parse(&bytes)?)))
    }
}
