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

/// What a handler returns on success: 200 or 201 with the envelope.
#[derive(ApiResponse)]
pub enum Reply<T: ParseFromJSON + ToJSON> {
    #[oai(status = 200)]
    Ok(Json<Envelope<T>>),
    #[oai(status = 201)]
    Created(Json<Envelope<T>>),
}

impl<T: ParseFromJSON + ToJSON> Reply<T> {
    /// 200 with the default message "Success".
    pub fn ok(data: T) -> Self {
        Self::ok_with(data, "Success")
    }

    pub fn ok_with(data: T, message: impl Into<String>) -> Self {
        Reply::Ok(Json(Envelope { data, status: 200, message: message.into(), meta: Meta::current() }))
    }

    /// 201 with the default message "Created successfully".
    pub fn created(data: T) -> Self {
        Self::created_with(data, "Created successfully")
    }

    pub fn created_with(data: T, message: impl Into<String>) -> Self {
        Reply::Created(Json(Envelope { data, status: 201, message: message.into(), meta: Meta::current() }))
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
