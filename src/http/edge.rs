//! The edge of every request: request id, log span and access log, metrics, the body-size check,
//! security headers, and the one place where every error (ours or the framework's) becomes the
//! error envelope.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use std::time::Instant;

use poem::error::{MethodNotAllowedError, NotFoundError, ParseJsonError, ReadBodyError, SizedLimitError};
use poem::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, PathPattern, Request, Response};
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseMultipartError, ParseParamError, ParsePathError,
    ParseRequestPayloadError,
};
use tracing::Instrument;

use super::envelope::{PUBLIC_URL, REQUEST_ID};
use super::json::JSON_LIMIT;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;
use crate::openapi::Allowed;

pub struct Edge {
    pub metrics: Arc<Metrics>,
    /// The document's paths, for route labels and 405s.
    pub allowed: Arc<Allowed>,
    /// The most a multipart (upload) body may hold.
    pub upload_limit: u64,
    /// `PUBLIC_URL`, for the URLs responses show.
    pub public_url: Option<Arc<str>>,
}

impl<E: Endpoint> Middleware<E> for Edge {
    type Output = EdgeEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        EdgeEndpoint {
            inner,
            metrics: self.metrics.clone(),
            allowed: self.allowed.clone(),
            upload_limit: self.upload_limit,
            public_url: self.public_url.clone(),
        }
    }
}

pub struct EdgeEndpoint<E> {
    inner: E,
    metrics: Arc<Metrics>,
    allowed: Arc<Allowed>,
    upload_limit: u64,
    public_url: Option<Arc<str>>,
}

/// Echoes a client's id when it is sane (1–128 of `[A-Za-z0-9._-]`), else makes a new one.
fn request_id(req: &Request) -> String {
    req.header("x-request-id")
        .filter(|id| {
            (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
        .map(str::to_string)
        // From the thread's CSPRNG: uuid's own asks the kernel for every id (a system call).
        .unwrap_or_else(|| uuid::Builder::from_random_bytes(rand::random()).into_uuid().to_string())
}

impl<E: Endpoint> Endpoint for EdgeEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let id = request_id(&req);
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let span = tracing::info_span!("request", id = %id, method = %method, path = %path);

        let handled = REQUEST_ID
            .scope(
                id.clone(),
                PUBLIC_URL.scope(self.public_url.clone(), async {
                    let mut req = req;
                    if let Some(too_big) = self.check_length(&req) {
                        return (too_big.into_response(), None);
                    }
                    let overflowed = self.limit_streamed_body(&mut req);
                    let outcome = self.inner.call(req).await;
                    if overflowed.load(Ordering::SeqCst) {
                        return (ApiError::new(ErrorCode::PayloadTooLarge).into_response(), None);
                    }
                    match outcome {
                        Ok(out) => {
                            let resp = out.into_response();
                            let route = resp.data::<PathPattern>().map(|p| p.0.to_string());
                            (resp, route)
                        }
                        Err(err) => {
                            let route = err.data::<PathPattern>().map(|p| p.0.to_string());
                            (render(err, &method, &path, &self.allowed), route)
                        }
                    }
                }),
            )
            .instrument(span.clone())
            .await;

        let (mut resp, route) = handled;
        let status = resp.status();
        // Labelled by the document's path (`/api/v1/products/{id}`); unmatched paths share one
        // label so that scanners cannot blow up the metric's size.
        let route = route
            .filter(|r| !r.is_empty() && status != StatusCode::NOT_FOUND)
            .map(|r| self.allowed.template_of(&r, &path).unwrap_or(r))
            .unwrap_or_else(|| "unmatched".into());
        let elapsed = started.elapsed();
        self.metrics.observe(method.as_str(), &route, status.as_u16(), elapsed);
        span.in_scope(|| {
            tracing::info!(status = status.as_u16(), route = %route, micros = elapsed.as_micros() as u64, "handled");
        });

        let headers = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&id) {
            headers.insert("x-request-id", v);
        }
        security_headers(headers, &path);
        Ok(resp)
    }
}

/// Renders an error as the envelope, logging the cause of a 5xx.
fn render(err: poem::Error, method: &Method, path: &str, allowed: &Allowed) -> Response {
    let api = to_api_error(err, method, path, allowed);
    if api.status.is_server_error() {
        tracing::error!(code = api.code.as_str(), cause = api.cause.as_deref().unwrap_or("-"), "request failed");
    }
    api.into_response()
}

/// Turns errors into envelope responses right above the routes, keeping the matched route for
/// the metrics, so that the layers in between (rate limit, compression, CORS) see every
/// response as a response.
pub struct Catch {
    /// What a 405 names in `Allow`.
    pub allowed: Arc<Allowed>,
}

impl<E: Endpoint> Middleware<E> for Catch {
    type Output = CatchEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CatchEndpoint { inner, allowed: self.allowed.clone() }
    }
}

pub struct CatchEndpoint<E> {
    inner: E,
    allowed: Arc<Allowed>,
}

impl<E: Endpoint> Endpoint for CatchEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        match self.inner.call(req).await {
            Ok(out) => Ok(out.into_response()),
            Err(err) => {
                let pattern = err.data::<PathPattern>().cloned();
                let mut resp = render(err, &method, &path, &self.allowed);
                if resp.status() == StatusCode::METHOD_NOT_ALLOWED
                    && let Some(allow) = self.allowed.methods(&path).and_then(|m| HeaderValue::from_str(&m).ok())
                {
                    resp.headers_mut().insert(header::ALLOW, allow);
                }
                if let Some(p) = pattern {
                    resp.set_data(p);
                }
                Ok(resp)
            }
        }
    }
}

impl<E> EdgeEndpoint<E> {
    fn limit_for(&self, req: &Request) -> u64 {
        let multipart = req.content_type().is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/"));
        if multipart { self.upload_limit } else { JSON_LIMIT as u64 }
    }

    /// A body sent without a declared length (chunked) is cut off once it passes the limit;
    /// the flag tells the request's answer to be 413.
    fn limit_streamed_body(&self, req: &mut Request) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        if req.header(header::CONTENT_LENGTH).is_some() || req.header(header::TRANSFER_ENCODING).is_none() {
            return flag;
        }
        let limit = self.limit_for(req);
        let raised = flag.clone();
        let mut seen = 0u64;
        let stream = req.take_body().into_bytes_stream().map(move |chunk| {
            let chunk = chunk?;
            seen += chunk.len() as u64;
            if seen > limit {
                raised.store(true, Ordering::SeqCst);
                return Err(std::io::Error::other("request body over the limit"));
            }
            Ok(chunk)
        });
        req.set_body(poem::Body::from_bytes_stream(stream));
        flag
    }

    /// Refuses a body whose declared length is over the limit before reading any of it.
    fn check_length(&self, req: &Request) -> Option<ApiError> {
        let length: u64 = req.header(header::CONTENT_LENGTH)?.parse().ok()?;
        let limit = self.limit_for(req);
        (length > limit).then(|| {
            ApiError::new(ErrorCode::PayloadTooLarge).with_message(format!("Request body is larger than {limit} bytes"))
        })
    }
}

const X_POWERED_BY: HeaderName = HeaderName::from_static("x-powered-by");

fn security_headers(headers: &mut poem::http::HeaderMap, path: &str) {
    // The Swagger UI page carries its script and style inline.
    let csp = if path == crate::admin_app::URL_PREFIX || path.starts_with("/admin/") {
        crate::admin_app::CSP
    } else if path.starts_with("/docs") {
        "default-src 'self';base-uri 'self';img-src 'self' data:;object-src 'none';script-src 'self' 'unsafe-inline';style-src 'self' 'unsafe-inline';frame-ancestors 'self'"
    } else {
        "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests"
    };
    // Names made at compile time: parsing them on every response was a tenth of a small
    // answer's cost.
    const FIXED: [(HeaderName, &str); 8] = [
        (HeaderName::from_static("x-content-type-options"), "nosniff"),
        (HeaderName::from_static("x-frame-options"), "SAMEORIGIN"),
        (HeaderName::from_static("strict-transport-security"), "max-age=31536000; includeSubDomains"),
        (HeaderName::from_static("referrer-policy"), "no-referrer"),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
        (HeaderName::from_static("x-dns-prefetch-control"), "off"),
        (HeaderName::from_static("x-permitted-cross-domain-policies"), "none"),
        (HeaderName::from_static("origin-agent-cluster"), "?1"),
    ];
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    for (name, value) in FIXED {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.remove(header::SERVER);
    if headers.contains_key(X_POWERED_BY) {
        headers.remove(X_POWERED_BY);
    }
}

/// Maps any error to the envelope's terms. Framework errors get the contract's codes; anything
/// unknown is a 500 whose cause is logged, not sent.
pub fn to_api_error(err: poem::Error, method: &Method, path: &str, allowed: &Allowed) -> ApiError {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.clone();
    }
    if err.is::<NotFoundError>() {
        return ApiError::new(ErrorCode::RouteNotFound).with_message(format!("Route {path} not found"));
    }
    if err.is::<MethodNotAllowedError>() {
        return ApiError::new(ErrorCode::MethodNotAllowed)
            .with_message(format!("Method {method} is not allowed on {path}"));
    }
    if let Some(e) = err.downcast_ref::<ParseParamError>() {
        return ApiError::field(e.name, e.reason.clone());
    }
    if let Some(e) = err.downcast_ref::<ParsePathError>() {
        // poem numbers path parameters (`param0`); the client knows them by name (`id`).
        let name = e
            .name
            .strip_prefix("param")
            .and_then(|n| n.parse().ok())
            .and_then(|n| allowed.param_name(path, n))
            .unwrap_or_else(|| e.name.to_string());
        return ApiError::field(name, e.reason.clone());
    }
    if let Some(e) = err.downcast_ref::<ContentTypeError>() {
        let message = match e {
            ContentTypeError::NotSupported { content_type } => {
                format!("Content type {content_type} is not supported here")
            }
            ContentTypeError::ExpectContentType => "A Content-Type header is required".to_string(),
        };
        return ApiError::new(ErrorCode::UnsupportedMediaType).with_message(message);
    }
    if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        return ApiError::new(ErrorCode::InvalidJson).with_message(format!("Malformed request body: {}", e.reason));
    }
    if let Some(e) = err.downcast_ref::<ParseJsonError>() {
        return match e {
            ParseJsonError::Parse(inner) => {
                ApiError::new(ErrorCode::InvalidJson).with_message(format!("Malformed JSON in request body: {inner}"))
            }
            _ => ApiError::new(ErrorCode::UnsupportedMediaType).with_message("Expected Content-Type: application/json"),
        };
    }
    if let Some(e) = err.downcast_ref::<ParseMultipartError>() {
        return ApiError::field("body", e.to_string());
    }
    if err.is::<AuthorizationError>() {
        return ApiError::new(ErrorCode::Unauthorized);
    }
    if matches!(err.downcast_ref::<ReadBodyError>(), Some(ReadBodyError::PayloadTooLarge))
        || matches!(err.downcast_ref::<SizedLimitError>(), Some(SizedLimitError::PayloadTooLarge))
    {
        return ApiError::new(ErrorCode::PayloadTooLarge);
    }
    let code = match err.status() {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        s if s.is_client_error() => {
            return ApiError::new(ErrorCode::ValidationError).with_status(s).with_message(err.to_string());
        }
        _ => return ApiError::internal(format!("{err:?}")),
    };
    ApiError::new(code)
}
