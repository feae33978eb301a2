//! The response envelope: `{data, status, message, meta}` on success, the error body on failure,
//! and `meta.requestId` + `meta.timestamp` on both.

use chrono::{SecondsFormat, Utc};
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::{ApiResponse, Object};
use serde::Serialize;

tokio::task_local! {
    /// The id of the request being handled; set by the edge middleware around every request.
    pub static REQUEST_ID: String;
    /// The server's public URL (`PUBLIC_URL`), for the URLs a response shows; set by the edge.
    pub static PUBLIC_URL: Option<std::sync::Arc<str>>;
}

/// A stored file's URL as a client sees it: the path (`/uploads/...`), or with `PUBLIC_URL` set,
/// the absolute URL under it. A URL an admin gave (`https://cdn...`) is shown as given.
pub fn public_url(url: &str) -> String {
    if !url.starts_with('/') {
        return url.to_string();
    }
    PUBLIC_URL
        .try_with(|base| base.as_deref().map(|b| format!("{b}{url}")))
        .ok()
        .flatten()
        .unwrap_or_else(|| url.to_string())
}

/// `meta` of every envelope.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct Meta {
    pub request_id: String,
    /// RFC 3339, UTC, milliseconds.
    pub timestamp: String,
}

impl Meta {
    /// The meta of the request being handled.
    pub fn current() -> Meta {
        Meta { request_id: REQUEST_ID.try_with(Clone::clone).unwrap_or_default(), timestamp: now_rfc3339() }
    }
}

pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A success envelope around `T`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Envelope<T: ParseFromJSON + ToJSON> {
    pub data: T,
    pub status: u16,
    pub message: String,
    pub meta: Meta,
}

/// What a handler returns on success: 200 with the envelope.
#[derive(ApiResponse)]
pub enum Reply<T: ParseFromJSON + ToJSON> {
    #[oai(status = 200)]
    Ok(Json<Envelope<T>>),
}

impl<T: ParseFromJSON + ToJSON> Reply<T> {
    /// 200 with the default message "Success".
    pub fn ok(data: T) -> Self {
        Self::ok_with(data, "Success")
    }

    pub fn ok_with(data: T, message: impl Into<String>) -> Self {
        Reply::Ok(Json(Envelope { data, status: 200, message: message.into(), meta: Meta::current() }))
    }
}

/// What a handler that makes something returns: 201 with the envelope.
#[derive(ApiResponse)]
pub enum Created<T: ParseFromJSON + ToJSON> {
    #[oai(status = 201)]
    Created(Json<Envelope<T>>),
}

impl<T: ParseFromJSON + ToJSON> Created<T> {
    /// 201 with the default message "Created successfully".
    pub fn new(data: T) -> Self {
        Self::with(data, "Created successfully")
    }

    pub fn with(data: T, message: impl Into<String>) -> Self {
        Created::Created(Json(Envelope { data, status: 201, message: message.into(), meta: Meta::current() }))
    }
}

/// `data` of an answer that only confirms (sign-out, a reset mail sent): always `null`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nothing;

impl poem_openapi::types::Type for Nothing {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> std::borrow::Cow<'static, str> {
        "Nothing".into()
    }

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        let mut schema = poem_openapi::registry::MetaSchema::new("object");
        schema.nullable = true;
        poem_openapi::registry::MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for Nothing {
    fn parse_from_json(_value: Option<serde_json::Value>) -> poem_openapi::types::ParseResult<Self> {
        Ok(Nothing)
    }
}

impl ToJSON for Nothing {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::Null)
    }
}

/// A 200 envelope that also sets a cookie (sign-in, refresh, sign-out).
#[derive(ApiResponse)]
pub enum CookieReply<T: ParseFromJSON + ToJSON> {
    #[oai(status = 200)]
    Ok(Json<Envelope<T>>, #[oai(header = "Set-Cookie")] String),
}

impl<T: ParseFromJSON + ToJSON> CookieReply<T> {
    pub fn ok(data: T, message: impl Into<String>, cookie: String) -> Self {
        CookieReply::Ok(Json(Envelope { data, status: 200, message: message.into(), meta: Meta::current() }), cookie)
    }
}

/// A JSON response from any serde value (used for error bodies and non-OpenAPI routes).
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).expect("response bodies serialize");
    Response::builder().status(status).content_type("application/json; charset=utf-8").body(bytes)
}

/// A success envelope for routes outside the OpenAPI service.
pub fn ok_json<T: Serialize>(status: StatusCode, data: &T) -> Response {
    #[derive(Serialize)]
    struct Body<'a, T> {
        data: &'a T,
        status: u16,
        message: &'static str,
        meta: Meta,
    }
    let message = if status == StatusCode::CREATED { "Created successfully" } else { "Success" };
    json_response(status, &Body { data, status: status.as_u16(), message, meta: Meta::current() }).into_response()
}
