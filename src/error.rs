//! The one error type of the API and its table of codes.
//!
//! Every error a client can see is an [`ApiError`]: a row of [`ErrorCode`] (the stable code, its
//! HTTP status and a default message), an optional message and field map, and, for 5xx, the cause
//! that goes to the log and never into the response.

use std::collections::BTreeMap;
use std::fmt;

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};
use serde::Serialize;

use crate::http::envelope::{Meta, json_response};
use crate::store::StoreError;

macro_rules! error_codes {
    ($($variant:ident => ($code:literal, $status:literal, $message:literal),)*) => {
        /// Every error code of the contract: one row each.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];
            pub fn as_str(self) -> &'static str { match self { $(ErrorCode::$variant => $code),* } }
            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::from_u16($status).expect("valid status")),* }
            }
            pub fn default_message(self) -> &'static str { match self { $(ErrorCode::$variant => $message),* } }
        }
    };
}

error_codes! {
    // HTTP conventions
    ValidationError => ("VALIDATION_ERROR", 400, "Validation failed"),
    InvalidJson => ("INVALID_JSON", 400, "Malformed JSON in request body"),
    RouteNotFound => ("ROUTE_NOT_FOUND", 404, "Route not found"),
    NotFound => ("NOT_FOUND", 404, "Not found"),
    MethodNotAllowed => ("METHOD_NOT_ALLOWED", 405, "Method not allowed"),
    PayloadTooLarge => ("PAYLOAD_TOO_LARGE", 413, "Request body too large"),
    UnsupportedMediaType => ("UNSUPPORTED_MEDIA_TYPE", 415, "Unsupported content type"),
    RateLimitExceeded => ("RATE_LIMIT_EXCEEDED", 429, "Too many requests from this IP, please try again later"),
    AuthRateLimitExceeded => ("AUTH_RATE_LIMIT_EXCEEDED", 429, "Too many authentication attempts, please try again later"),
    UploadRateLimitExceeded => ("UPLOAD_RATE_LIMIT_EXCEEDED", 429, "Upload limit exceeded, please try again later"),
    IdempotencyKeyReused => ("IDEMPOTENCY_KEY_REUSED", 422, "This Idempotency-Key was used with a different request"),
    Conflict => ("CONFLICT", 409, "Another change to this resource is in progress; retry in a moment"),
    InternalError => ("INTERNAL_ERROR", 500, "Internal server error"),
    ServiceUnavailable => ("SERVICE_UNAVAILABLE", 503, "Service unavailable"),
    InsufficientStorage => ("INSUFFICIENT_STORAGE", 507, "The server is out of disk space; nothing was changed. Try again later"),
    // Authentication and authorization
    Unauthorized => ("UNAUTHORIZED", 401, "Authentication required"),
    InvalidToken => ("INVALID_TOKEN", 401, "Invalid token"),
    TokenExpired => ("TOKEN_EXPIRED", 401, "Token expired"),
    TokenRevoked => ("TOKEN_REVOKED", 401, "Token revoked"),
    Forbidden => ("FORBIDDEN", 403, "You do not have permission to do this"),
    InvalidCredentials => ("INVALID_CREDENTIALS", 400, "Invalid email or password"),
    AccountLocked => ("ACCOUNT_LOCKED", 423, "Account temporarily locked"),
    InvalidRefreshToken => ("INVALID_REFRESH_TOKEN", 401, "Invalid refresh token"),
    InvalidCurrentPassword => ("INVALID_CURRENT_PASSWORD", 400, "Current password is incorrect"),
    InvalidPassword => ("INVALID_PASSWORD", 400, "Password is incorrect"),
    EmailExists => ("EMAIL_EXISTS", 409, "An account with this email already exists"),
    TwoFactorRequired => ("TWO_FACTOR_REQUIRED", 401, "This account needs a code from its authenticator app (code) or a recovery code (recoveryCode)"),
    InvalidTwoFactorCode => ("INVALID_TWO_FACTOR_CODE", 400, "The two-factor code is wrong, expired or already used"),
    TwoFactorSetupRequired => ("TWO_FACTOR_SETUP_REQUIRED", 403, "Admins of this shop must turn on two-factor sign-in first (POST /api/v1/auth/2fa/setup)"),
    // Users
    UserNotFound => ("USER_NOT_FOUND", 404, "User not found"),
    AddressNotFound => ("ADDRESS_NOT_FOUND", 404, "Address not found"),
    CannotDeleteDefault => ("CANNOT_DELETE_DEFAULT", 400, "The default address cannot be deleted"),
    InvalidPhoneCode => ("INVALID_PHONE_CODE", 400, "The code is wrong or expired; ask for a new one"),
    SmsDisabled => ("SMS_DISABLED", 403, "This shop does not send SMS"),
    // Catalog
    ProductNotFound => ("PRODUCT_NOT_FOUND", 404, "Product not found"),
    InsufficientStock => ("INSUFFICIENT_STOCK", 400, "Insufficient stock"),
    ReviewExists => ("REVIEW_EXISTS", 409, "You have already reviewed this product"),
    // Cart, orders, wishlist
    CartItemNotFound => ("CART_ITEM_NOT_FOUND", 404, "Cart item not found"),
    EmptyOrder => ("EMPTY_ORDER", 400, "The order has no items"),
    OrderNotFound => ("ORDER_NOT_FOUND", 404, "Order not found"),
    InvalidStatusTransition => ("INVALID_STATUS_TRANSITION", 422, "This status change is not allowed"),
    OrderCannotCancel => ("ORDER_CANNOT_CANCEL", 422, "This order can no longer be cancelled"),
    TrackingUnavailable => ("TRACKING_UNAVAILABLE", 404, "Tracking is not available for this order yet"),
    ReturnNotAllowed => ("RETURN_NOT_ALLOWED", 422, "This order cannot be returned"),
    WishlistItemNotFound => ("WISHLIST_ITEM_NOT_FOUND", 404, "Product is not in the wishlist"),
    GuestCheckoutDisabled => ("GUEST_CHECKOUT_DISABLED", 403, "This shop takes orders from signed-in customers only"),
    // Coupons
    CouponNotFound => ("COUPON_NOT_FOUND", 404, "This code is not valid"),
    CouponExpired => ("COUPON_EXPIRED", 422, "This code has expired"),
    CouponExhausted => ("COUPON_EXHAUSTED", 422, "This code has been used as many times as it allows"),
    CouponNotApplicable => ("COUPON_NOT_APPLICABLE", 422, "This code does not apply to this order"),
    CouponExists => ("COUPON_EXISTS", 409, "A coupon with this code already exists"),
    // Payments
    OrderNotPayable => ("ORDER_NOT_PAYABLE", 422, "This order cannot be paid"),
    ManualPayment => ("MANUAL_PAYMENT", 422, "This shop takes this payment by hand (cash on delivery or bank transfer): the shop marks the order paid"),
    PaymentNotFound => ("PAYMENT_NOT_FOUND", 404, "Payment not found"),
    RefundExceedsPayment => ("REFUND_EXCEEDS_PAYMENT", 422, "The refund exceeds what is left of the payment"),
    InvalidWebhook => ("INVALID_WEBHOOK", 400, "Invalid webhook signature or payload"),
    // Outbound webhooks
    WebhookUrlNotAllowed => ("WEBHOOK_URL_NOT_ALLOWED", 422, "Webhooks may not go to this address"),
    PaymentProviderError => ("PAYMENT_PROVIDER_ERROR", 502, "The payment provider failed"),
}

/// Field path → messages, as `details` of a `VALIDATION_ERROR`.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// An error as the client sees it, plus the cause the log sees.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub status: StatusCode,
    pub message: String,
    pub details: Option<serde_json::Value>,
    /// Extra response headers (`Retry-After`, `Allow`, ...).
    pub headers: Vec<(&'static str, String)>,
    /// Logged for 5xx, never sent.
    pub cause: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        ApiError {
            code,
            status: code.status(),
            message: code.default_message().to_string(),
            details: None,
            headers: Vec::new(),
            cause: None,
        }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The same code under another status where the contract says so (a bad reset token is 400
    /// `INVALID_TOKEN`, a bad bearer token 401).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// What the log shows of a 5xx (never the client).
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// A `VALIDATION_ERROR` naming each bad field.
    pub fn validation(fields: FieldErrors) -> Self {
        ApiError::new(ErrorCode::ValidationError).with_details(serde_json::to_value(fields).expect("a map of strings"))
    }

    /// A `VALIDATION_ERROR` for one field.
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::validation(BTreeMap::from([(path.into(), vec![message.into()])]))
    }

    /// A failed file write: 507 `INSUFFICIENT_STORAGE` when the disk is full, else
    /// `INTERNAL_ERROR`.
    pub fn from_io(e: std::io::Error, doing: &str) -> Self {
        if crate::store::is_disk_full(&e) {
            return ApiError { cause: Some(format!("{doing}: {e}")), ..ApiError::new(ErrorCode::InsufficientStorage) };
        }
        ApiError::internal(format!("{doing}: {e}"))
    }

    /// An unexpected failure: the client sees `INTERNAL_ERROR`, the log sees `cause`.
    pub fn internal(cause: impl fmt::Display) -> Self {
        ApiError { cause: Some(cause.to_string()), ..ApiError::new(ErrorCode::InternalError) }
    }

    pub fn body(&self, meta: Meta) -> ErrorBody {
        ErrorBody {
            message: self.message.clone(),
            status: self.status.as_u16(),
            code: self.code.as_str().to_string(),
            details: self.details.clone(),
            meta,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code.as_str(), self.message)?;
        if let Some(cause) = &self.cause {
            write!(f, " (cause: {cause})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Closed => {
                ApiError::new(ErrorCode::ServiceUnavailable).with_message("The store is shutting down")
            }
            StoreError::DiskFull(cause) => {
                ApiError { cause: Some(cause.to_string()), ..ApiError::new(ErrorCode::InsufficientStorage) }
            }
            other => ApiError::internal(other),
        }
    }
}

/// The error envelope.
#[derive(Debug, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename = "Error", rename_all = "camelCase")]
pub struct ErrorBody {
    pub message: String,
    pub status: u16,
    /// A stable UPPER_SNAKE code, e.g. `VALIDATION_ERROR`.
    pub code: String,
    /// For `VALIDATION_ERROR`: each bad field path mapped to its messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    pub meta: Meta,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = json_response(self.status, &self.body(Meta::current()));
        for (name, value) in &self.headers {
            if let Ok(v) = value.parse() {
                resp.headers_mut().insert(*name, v);
            }
        }
        resp.set_data(self);
        resp
    }
}

/// Keeps the error itself inside `poem::Error`, so the edge can find it again by downcasting.
impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        self.clone().into_response()
    }
}

/// Lets handlers return `Result<_, ApiError>`; the spec shows the error envelope for every
/// operation.
impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "An error: the error envelope with its code",
                status: None,
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/json; charset=utf-8",
                    schema: ErrorBody::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Turns a unique-index conflict into the client error it means where the write is made
/// (`EMAIL_EXISTS` for users.by_email), leaving other storage errors as they are.
pub trait OnConflict<T> {
    fn on_conflict(self, code: ErrorCode) -> ApiResult<T>;
}

impl<T> OnConflict<T> for Result<T, StoreError> {
    fn on_conflict(self, code: ErrorCode) -> ApiResult<T> {
        self.map_err(|e| match e {
            StoreError::Conflict { .. } => ApiError::new(code),
            other => other.into(),
        })
    }
}
