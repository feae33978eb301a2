//! The OpenAPI document: its tags, and the passes that make poem-openapi's output say exactly
//! what the server does.
//!
//! poem-openapi describes the Rust types; a few things it cannot know are facts of how this
//! server answers, and are applied here, once, to the generated document:
//! - a response object always carries every field (poem-openapi writes `None` as `null`), so in
//!   response schemas every property is required and an `Option` one is nullable;
//! - timestamps are RFC 3339 strings (`date-time`);
//! - one bearer scheme (admin operations say so in their 403), `security: []` on public
//!   operations, an optional bearer plus `X-Session-ID` on the cart;
//! - the error responses each operation can give, by status, each with the enum of its codes;
//! - only the success status an operation really gives.

use std::collections::{BTreeMap, BTreeSet};

use poem_openapi::Tags;
use serde_json::{Map, Value, json};

use crate::error::ErrorCode;

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

/// The one bearer scheme of the document.
const BEARER: &str = "bearer";
/// poem-openapi's names of our two guards (`auth::guard`): both are the same token.
const USER_SCHEME: &str = "Bearer";
const ADMIN_SCHEME: &str = "AdminBearer";
const ORDER_TOKEN: &str = "OrderToken";
const ORDER_TOKEN_LINK: &str = "OrderTokenLink";

/// Response fields that are left out rather than sent as `null`.
const OMITTED_WHEN_EMPTY: &[(&str, &str)] = &[("Error", "details"), ("Order", "user")];
/// Response schemas whose fields are all optional (a product list read with `select`).
const SPARSE: &[&str] = &["SelectedProduct"];

use ErrorCode as E;

/// The errors of each operation beyond what its shape implies (a body, a bearer, an admin
/// guard, parameters: see [`shape_errors`]).
fn domain_errors(operation_id: &str) -> &'static [ErrorCode] {
    match operation_id {
        "register" => &[E::EmailExists, E::AuthRateLimitExceeded],
        "login" => &[
            E::InvalidCredentials,
            E::AccountLocked,
            E::AuthRateLimitExceeded,
            E::TwoFactorRequired,
            E::InvalidTwoFactorCode,
        ],
        "setupTwoFactor" => &[E::InvalidPassword, E::AccountLocked, E::AuthRateLimitExceeded, E::Conflict],
        "enableTwoFactor" => &[E::InvalidTwoFactorCode, E::AccountLocked, E::Conflict],
        "disableTwoFactor" => {
            &[E::InvalidPassword, E::InvalidTwoFactorCode, E::AccountLocked, E::AuthRateLimitExceeded, E::Conflict]
        }
        "refreshToken" => &[E::InvalidRefreshToken, E::AuthRateLimitExceeded],
        "forgotPassword" | "resendVerification" => &[E::AuthRateLimitExceeded],
        "resetPassword" => &[E::InvalidToken, E::AuthRateLimitExceeded],
        "changePassword" => &[E::InvalidCurrentPassword, E::AuthRateLimitExceeded],
        "verifyEmail" => &[E::InvalidToken, E::AuthRateLimitExceeded],
        "updateMe" | "patchMe" => &[E::EmailExists, E::InvalidPassword, E::AccountLocked, E::AuthRateLimitExceeded],
        "uploadAvatar" => &[E::UploadRateLimitExceeded],
        "updateAddress" => &[E::AddressNotFound],
        "deleteAddress" => &[E::AddressNotFound, E::CannotDeleteDefault],
        "deleteMe" => &[E::InvalidPassword],
        "getUser" | "updateUser" => &[E::UserNotFound],
        "getProduct" | "getAdminProduct" | "updateProduct" | "patchProduct" | "deleteProduct" | "listReviews" => {
            &[E::ProductNotFound]
        }
        "adjustStock" => &[E::ProductNotFound, E::InsufficientStock, E::Conflict],
        "uploadProductImages" => &[E::ProductNotFound, E::UploadRateLimitExceeded],
        "createReview" => &[E::ProductNotFound, E::ReviewExists, E::NotFound],
        "addCartItem" => &[E::ProductNotFound, E::InsufficientStock],
        "updateCartItem" => &[E::CartItemNotFound, E::InsufficientStock],
        "removeCartItem" => &[E::CartItemNotFound],
        "placeOrder" => &[
            E::ProductNotFound,
            E::InsufficientStock,
            E::EmptyOrder,
            E::AddressNotFound,
            E::IdempotencyKeyReused,
            E::Conflict,
            E::CouponNotFound,
            E::CouponExpired,
            E::CouponExhausted,
            E::CouponNotApplicable,
        ],
        "placeGuestOrder" => &[
            E::ProductNotFound,
            E::InsufficientStock,
            E::EmptyOrder,
            E::IdempotencyKeyReused,
            E::Conflict,
            E::CouponNotFound,
            E::CouponExpired,
            E::CouponExhausted,
            E::CouponNotApplicable,
            E::GuestCheckoutDisabled,
            E::RateLimitExceeded,
        ],
        "applyCartCoupon" => &[E::CouponNotFound, E::CouponExpired, E::CouponExhausted, E::CouponNotApplicable],
        "createCoupon" => &[E::CouponExists],
        "updateCoupon" => &[E::CouponNotFound, E::CouponExists],
        "getCoupon" | "deleteCoupon" => &[E::CouponNotFound],
        "getCreditNote" => &[E::OrderNotFound, E::NotFound],
        "createWebhook" => &[E::WebhookUrlNotAllowed],
        "verifyPhone" => &[E::UserNotFound, E::RateLimitExceeded, E::SmsDisabled],
        "confirmPhone" => &[E::InvalidPhoneCode, E::UserNotFound],
        "addPushSubscription" => &[E::Conflict],
        "deletePushSubscription" => &[E::NotFound],
        "updateWebhook" => &[E::WebhookUrlNotAllowed, E::NotFound],
        "deleteWebhook" | "listWebhookDeliveries" | "testWebhook" | "replayWebhookDelivery" => &[E::NotFound],
        "getOrder" | "getInvoice" | "addOrderNote" => &[E::OrderNotFound],
        "getTracking" => &[E::OrderNotFound, E::TrackingUnavailable],
        "updateOrderStatus" => &[E::OrderNotFound, E::InvalidStatusTransition, E::Conflict, E::PaymentProviderError],
        "cancelOrder" => &[E::OrderNotFound, E::OrderCannotCancel, E::Conflict, E::PaymentProviderError],
        "requestReturn" => &[E::OrderNotFound, E::ReturnNotAllowed],
        "decideReturn" => &[E::OrderNotFound, E::NotFound, E::ReturnNotAllowed, E::Conflict, E::PaymentProviderError],
        "markNotificationRead" => &[E::NotFound],
        "addToWishlist" => &[E::ProductNotFound, E::NotFound],
        "removeFromWishlist" => &[E::WishlistItemNotFound, E::NotFound],
        "getWishlist" => &[E::NotFound],
        "createPaymentIntent" => {
            &[E::OrderNotFound, E::OrderNotPayable, E::IdempotencyKeyReused, E::Conflict, E::PaymentProviderError]
        }
        "confirmPayment" => &[E::PaymentNotFound, E::OrderNotPayable, E::ManualPayment, E::PaymentProviderError],
        "getPaymentStatus" => &[E::PaymentNotFound],
        "refundPayment" => &[
            E::PaymentNotFound,
            E::RefundExceedsPayment,
            E::IdempotencyKeyReused,
            E::Conflict,
            E::PaymentProviderError,
        ],
        "receiveStripeWebhook" => &[E::InvalidWebhook],
        "deleteReview" => &[E::NotFound, E::ProductNotFound],
        "markOrderPaid" => &[E::OrderNotFound, E::OrderNotPayable, E::Conflict],
        "retryJob" => &[E::NotFound, E::Conflict, E::RefundExceedsPayment],
        "getReadiness" => &[E::ServiceUnavailable],
        _ => &[],
    }
}

/// The status a code is sent with by an operation: its own, but for a one-time token in a body,
/// which is a bad request rather than a bad bearer (400 `INVALID_TOKEN`).
fn status_of(operation_id: &str, code: ErrorCode) -> u16 {
    match (operation_id, code) {
        ("resetPassword" | "verifyEmail", E::InvalidToken) => 400,
        _ => code.status().as_u16(),
    }
}

/// The errors an operation's shape implies.
fn shape_errors(op: &Map<String, Value>, guard: Guard) -> Vec<ErrorCode> {
    let mut codes = vec![E::RateLimitExceeded, E::InternalError, E::ServiceUnavailable];
    let content = op.pointer_map("requestBody/content");
    if content.is_some_and(|c| c.keys().any(|k| k.starts_with("application/json"))) {
        codes.extend([E::ValidationError, E::InvalidJson, E::PayloadTooLarge, E::UnsupportedMediaType]);
    }
    if content.is_some_and(|c| c.keys().any(|k| k.starts_with("multipart/"))) {
        codes.extend([E::ValidationError, E::PayloadTooLarge, E::UnsupportedMediaType]);
    }
    if content.is_some() {
        codes.push(E::UnsupportedMediaType);
    }
    if op.get("parameters").and_then(Value::as_array).is_some_and(|p| !p.is_empty()) {
        codes.push(E::ValidationError);
    }
    match guard {
        Guard::Public => {}
        Guard::Optional => codes.extend([E::InvalidToken, E::TokenExpired, E::TokenRevoked]),
        Guard::User => codes.extend([E::Unauthorized, E::InvalidToken, E::TokenExpired, E::TokenRevoked]),
        Guard::Admin => codes.extend([
            E::Unauthorized,
            E::InvalidToken,
            E::TokenExpired,
            E::TokenRevoked,
            E::Forbidden,
            E::TwoFactorSetupRequired,
        ]),
    }
    codes
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    Public,
    /// The cart: a guest session or a signed-in user.
    Optional,
    User,
    Admin,
}

trait PointerMap {
    fn pointer_map(&self, path: &str) -> Option<&Map<String, Value>>;
}

impl PointerMap for Map<String, Value> {
    fn pointer_map(&self, path: &str) -> Option<&Map<String, Value>> {
        let mut at = self;
        for part in path.split('/') {
            at = at.get(part)?.as_object()?;
        }
        Some(at)
    }
}

/// The document as served: poem-openapi's, with the passes above applied.
pub fn document(generated: &str) -> Value {
    let mut doc: Value = serde_json::from_str(generated).expect("poem-openapi writes valid JSON");
    let responses = referenced(&doc, "responses");
    let requests = referenced(&doc, "requestBody");
    let mut create_bodies: Vec<(&str, String)> = Vec::new();
    let schemas = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut).expect("schemas");
    // An object that is both a request body and part of a response (a shipping address) gets a
    // response twin, `<Name>View`, where every field is present.
    let shared: Vec<String> = responses
        .intersection(&requests)
        .filter(|n| schemas.get(n.as_str()).is_some_and(|s| s.get("properties").is_some()))
        .cloned()
        .collect();
    for name in &shared {
        let twin = schemas[name.as_str()].clone();
        schemas.insert(format!("{name}View"), twin);
    }
    for (name, schema) in schemas.iter_mut() {
        let response_only = responses.contains(name) && !requests.contains(name);
        if response_only {
            for shared in &shared {
                retarget(
                    schema,
                    &format!("#/components/schemas/{shared}"),
                    &format!("#/components/schemas/{shared}View"),
                );
            }
        }
        if response_only || shared.iter().any(|s| format!("{s}View") == *name) {
            always_present(name, schema);
        }
        timestamps(schema);
        examples(schema);
    }
    if let Some(details) = schemas.get_mut("Error").and_then(|e| e.pointer_mut("/properties/details")) {
        *details = json!({
            "type": "object",
            "description": "For `VALIDATION_ERROR`: each bad field path mapped to its messages; for `SERVICE_UNAVAILABLE` from /ready: each dependency and its state.",
            "additionalProperties": { "oneOf": [{ "type": "array", "items": { "type": "string" } }, { "type": "string" }] },
            "example": { "email": ["Invalid email format"] }
        });
    }
    for name in &requests {
        if let Some(schema) = schemas.get_mut(name.as_str()) {
            null_is_absent(name, schema);
            text_limits(schema);
        }
    }
    for (operation, schema, fields) in CREATE_REQUIRES {
        let mut twin = schemas[*schema].clone();
        twin["required"] = json!(fields);
        if let Some(props) = twin.get_mut("properties").and_then(Value::as_object_mut) {
            for field in *fields {
                if let Some(p) = props.get_mut(*field).and_then(Value::as_object_mut) {
                    p.remove("nullable");
                }
            }
        }
        schemas.insert(format!("New{schema}"), twin);
        create_bodies.push((operation, format!("New{schema}")));
    }
    if let Some(order) = schemas.get_mut("CreateOrder") {
        // A shipping address, or a saved one by id.
        order["anyOf"] = json!([{ "required": ["shippingAddress"] }, { "required": ["addressId"] }]);
    }
    typed_wrappers(schemas);
    schemas.insert("ErrorCode".into(), error_code_schema());
    if let Some(code) = schemas.get_mut("Error").and_then(|e| e.pointer_mut("/properties/code")) {
        *code = json!({ "$ref": "#/components/schemas/ErrorCode" });
    }
    if let Some(envelope) = schemas.get_mut("Envelope_Nothing").and_then(|e| e.pointer_mut("/properties/data")) {
        // `data` of an answer that only confirms (sign-out, password reset): always null.
        *envelope = json!({ "type": "object", "nullable": true, "enum": [null], "description": "Always null." });
    }
    let security = doc.pointer_mut("/components/securitySchemes").and_then(Value::as_object_mut).expect("schemes");
    let scheme = security.remove(USER_SCHEME).expect("the bearer scheme");
    let tokens: Vec<(String, Value)> =
        [ORDER_TOKEN, ORDER_TOKEN_LINK].iter().filter_map(|k| Some((k.to_string(), security.remove(*k)?))).collect();
    security.clear();
    security.insert(BEARER.into(), scheme);
    security.extend(tokens);

    unsigned_bounds(&mut doc);
    let paths = doc.get_mut("paths").and_then(Value::as_object_mut).expect("paths");
    for (path, item) in paths.iter_mut() {
        for (method, op) in item.as_object_mut().expect("a path item").iter_mut() {
            if let Some((_, twin)) = create_bodies.iter().find(|(id, _)| op["operationId"] == *id) {
                let schema = json!({ "$ref": format!("#/components/schemas/{twin}") });
                for media in op["requestBody"]["content"].as_object_mut().into_iter().flat_map(|c| c.values_mut()) {
                    media["schema"] = schema.clone();
                }
            }
            operation(path, method, op.as_object_mut().expect("an operation"));
        }
    }
    doc
}

fn operation(path: &str, method: &str, op: &mut Map<String, Value>) {
    let schemes: Vec<String> = op
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|s| s.keys().cloned())
        .collect();
    let guard = if schemes.iter().any(|s| s == ADMIN_SCHEME) {
        Guard::Admin
    } else if schemes.iter().any(|s| s == USER_SCHEME) {
        Guard::User
    } else if path.starts_with("/api/v1/cart") && !path.ends_with("/merge") {
        Guard::Optional
    } else {
        Guard::Public
    };
    let bearer = json!([{ BEARER: [] }]);
    let security = match guard {
        Guard::Public => json!([]),
        Guard::Optional => json!([{}, { BEARER: [] }]),
        // A guest's order token stands in for the bearer on the operations that take it.
        Guard::User if schemes.iter().any(|s| s == ORDER_TOKEN) => {
            json!([{ BEARER: [] }, { ORDER_TOKEN: [] }, { ORDER_TOKEN_LINK: [] }])
        }
        Guard::User | Guard::Admin => bearer,
    };
    op.insert("security".into(), security);
    if guard == Guard::Optional || path.ends_with("/cart/merge") {
        let params = op.entry("parameters").or_insert_with(|| json!([])).as_array_mut().expect("parameters");
        if !params.iter().any(|p| p["name"] == "X-Session-ID") {
            params.push(json!({
                "name": "X-Session-ID",
                "in": "header",
                "required": false,
                "description": "The guest session. Without it (and without the `sessionId` cookie) a new session is made and returned in this header.",
                "schema": { "type": "string", "example": "0b6f3c1e-8f3a-4f8e-9d55-2f1b7c9a4e10" }
            }));
        }
    }
    let id = op.get("operationId").and_then(Value::as_str).unwrap_or_default().to_string();
    assert!(!id.is_empty(), "{method} {path} has no operationId");
    let mut codes = shape_errors(op, guard);
    codes.extend_from_slice(domain_errors(&id));
    // Every change is written to disk: a full one refuses it (the webhook included).
    if method != "get" {
        codes.push(E::InsufficientStorage);
    }
    if guard == Guard::Admin {
        let description = op.get("description").and_then(Value::as_str).unwrap_or_default().to_string();
        let note = "Admins only.";
        op.insert(
            "description".into(),
            Value::String(if description.is_empty() { note.into() } else { format!("{description}\n\n{note}") }),
        );
    }
    let responses = op.get_mut("responses").and_then(Value::as_object_mut).expect("responses");
    responses.remove("default");
    for (status, response) in responses.iter_mut() {
        if response.get("description").and_then(Value::as_str).is_none_or(str::is_empty) {
            let text = match status.as_str() {
                "201" => "Created",
                _ => "Success",
            };
            response["description"] = Value::String(text.into());
        }
    }
    let mut by_status: BTreeMap<u16, BTreeSet<&'static str>> = BTreeMap::new();
    for code in codes {
        by_status.entry(status_of(&id, code)).or_default().insert(code.as_str());
    }
    for (status, codes) in by_status {
        let names: Vec<&str> = codes.iter().copied().collect();
        responses.insert(
            status.to_string(),
            json!({
                "description": names.join(", "),
                "content": { "application/json; charset=utf-8": { "schema": {
                    "allOf": [{ "$ref": "#/components/schemas/Error" }],
                    "type": "object",
                    "required": ["code"],
                    "properties": { "code": { "type": "string", "enum": names } }
                }}}
            }),
        );
    }
}

/// An unsigned Rust integer (`u64` ids, `u32` quantities) admits only 0 to its maximum;
/// poem-openapi names the format but not the bounds.
fn unsigned_bounds(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let max = match map.get("format").and_then(Value::as_str) {
                Some("uint64") => Some(Value::from(u64::MAX)),
                Some("uint32") => Some(Value::from(u32::MAX)),
                Some("uint16") => Some(Value::from(u16::MAX)),
                _ => None,
            };
            if let Some(max) = max.filter(|_| map.get("type").and_then(Value::as_str) == Some("integer")) {
                map.entry("minimum").or_insert(Value::from(0));
                map.entry("maximum").or_insert(max);
            }
            map.values_mut().for_each(unsigned_bounds);
        }
        Value::Array(items) => items.iter_mut().for_each(unsigned_bounds),
        _ => {}
    }
}

/// Points every `$ref` to `from` inside `schema` at `to`.
fn retarget(schema: &mut Value, from: &str, to: &str) {
    match schema {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if k == "$ref" && v.as_str() == Some(from) {
                    *v = Value::String(to.to_string());
                } else {
                    retarget(v, from, to);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| retarget(v, from, to)),
        _ => {}
    }
}

/// The names a schema lists as `required`.
fn required_of(schema: &Value) -> BTreeSet<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// A request field that may be left out may also be sent as `null`, which means the same (serde
/// reads both as `None`); but for these, where `null` is refused like a missing value.
const NULL_REFUSED: &[(&str, &str)] = &[("CreateOrder", "shippingAddress"), ("CreateOrder", "addressId")];

fn null_is_absent(name: &str, schema: &mut Value) {
    let required = required_of(schema);
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else { return };
    for (key, prop) in props.iter_mut() {
        if !required.contains(key) && !NULL_REFUSED.contains(&(name, key.as_str())) {
            nullable(prop);
        }
    }
}

/// The limits [`crate::http::text`] puts on every text field of a request, in its schema: the
/// maximum length (a field's own, smaller one stays) and, for one-line fields, a pattern without
/// control characters.
fn text_limits(schema: &mut Value) {
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else { return };
    for (key, prop) in props.iter_mut() {
        let Some((max, lines)) = crate::http::text::rule(key) else { continue };
        let target = if prop["type"] == "array" { &mut prop["items"] } else { prop };
        if target["type"] != "string" || target.get("enum").is_some() || target.get("allOf").is_some() {
            continue;
        }
        let own = target["maxLength"].as_u64().unwrap_or(u64::MAX);
        target["maxLength"] = json!(own.min(max as u64));
        let class = crate::http::text::refused_class(lines);
        target["pattern"] = json!(match target["pattern"].as_str() {
            None => format!("^[^{class}]*$"),
            Some(own) => without_controls(own, class, lines),
        });
    }
}

/// A field's own pattern, rewritten to match no refused character: its classes exclude them and
/// its whitespace is spaces (and, with lines, line breaks and tabs). Plain classes, not a
/// look-ahead, so that generators (Schemathesis) still make matching strings easily.
fn without_controls(pattern: &str, class: &str, lines: crate::http::text::Lines) -> String {
    let space = match lines {
        crate::http::text::Lines::One => " ",
        crate::http::text::Lines::Many => "[ \\t\\n\\r]",
    };
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    let mut negated = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next().unwrap_or('\\');
                match (in_class, next) {
                    (false, 's') => out.push_str(space),
                    (false, 'S') => out.push_str(&format!("[^\\s{class}]")),
                    _ => {
                        out.push('\\');
                        out.push(next);
                    }
                }
            }
            '[' if !in_class => {
                // `[\s\S]`, anything: anything allowed.
                let rest: String = chars.clone().take(5).collect();
                if rest == "\\s\\S]" {
                    chars.nth(4);
                    out.push_str(&format!("[^{class}]"));
                    continue;
                }
                in_class = true;
                negated = chars.peek() == Some(&'^');
                out.push('[');
            }
            ']' if in_class => {
                if negated {
                    out.push_str(class);
                }
                in_class = false;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    if pattern.starts_with('^') { out } else { format!("^[^{class}]*(?:{out})[^{class}]*$") }
}

/// Bodies whose fields are all optional when changing a record but required when making one:
/// the making operation gets a twin `New<Schema>` with them required.
const CREATE_REQUIRES: &[(&str, &str, &[&str])] = &[
    ("createProduct", "ProductInput", &["title", "price", "stock", "brand", "category"]),
    (
        "createAddress",
        "AddressInput",
        &["firstName", "lastName", "address", "city", "state", "zipCode", "country", "phone"],
    ),
];

/// Schema names reachable from every operation's `key` (`responses` or `requestBody`).
fn referenced(doc: &Value, key: &str) -> BTreeSet<String> {
    fn walk(v: &Value, schemas: &Value, seen: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == "$ref" {
                        let name = v.as_str().and_then(|r| r.rsplit('/').next()).unwrap_or_default();
                        if seen.insert(name.to_string()) {
                            walk(&schemas[name], schemas, seen);
                        }
                    } else {
                        walk(v, schemas, seen);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, schemas, seen)),
            _ => {}
        }
    }
    let schemas = &doc["components"]["schemas"];
    let mut seen = BTreeSet::new();
    for item in doc["paths"].as_object().into_iter().flat_map(|p| p.values()) {
        for op in item.as_object().into_iter().flat_map(|o| o.values()) {
            walk(&op[key], schemas, &mut seen);
            if key == "requestBody" {
                walk(&op["parameters"], schemas, &mut seen);
            }
        }
    }
    seen
}

/// Every property of a response object is sent; one that poem-openapi left optional is an
/// `Option`, sent as `null` when empty.
fn always_present(name: &str, schema: &mut Value) {
    if SPARSE.contains(&name) {
        return;
    }
    let Some(props) = schema.get("properties").and_then(Value::as_object) else { return };
    let keys: Vec<String> = props.keys().cloned().collect();
    let required = required_of(schema);
    let mut all = Vec::new();
    for key in keys {
        if OMITTED_WHEN_EMPTY.contains(&(name, key.as_str())) {
            continue;
        }
        if !required.contains(&key) {
            let prop = &mut schema["properties"][&key];
            nullable(prop);
        }
        all.push(Value::String(key));
    }
    schema["required"] = Value::Array(all);
}

/// Marks a property schema nullable; a `$ref` cannot carry siblings, so it is wrapped (its
/// `type` is filled in by [`typed_wrappers`]). A schema without a type (any JSON value) already
/// admits null.
fn nullable(prop: &mut Value) {
    if let Some(reference) = prop.get("$ref").cloned() {
        *prop = json!({ "allOf": [{ "$ref": reference }], "nullable": true });
    } else if let Some(obj) = prop.as_object_mut()
        && (obj.contains_key("type") || obj.contains_key("allOf"))
    {
        obj.insert("nullable".into(), Value::Bool(true));
    }
}

/// Gives each nullable `allOf` wrapper the type of the schema it wraps (OpenAPI 3.0 wants a
/// `type` beside `nullable`).
fn typed_wrappers(schemas: &mut Map<String, Value>) {
    let types: BTreeMap<String, Value> = schemas
        .iter()
        .filter_map(|(name, s)| Some((format!("#/components/schemas/{name}"), s.get("type")?.clone())))
        .collect();
    for schema in schemas.values_mut() {
        let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else { continue };
        for prop in props.values_mut() {
            let target = prop.pointer("/allOf/0/$ref").and_then(Value::as_str).and_then(|r| types.get(r)).cloned();
            if let (Some(ty), Some(obj)) = (target, prop.as_object_mut())
                && obj.get("nullable") == Some(&Value::Bool(true))
            {
                obj.insert("type".into(), ty);
            }
        }
    }
}

/// Real values for the string fields Swagger UI and generated clients show, instead of
/// `"string"`; each one passes its field's own rules.
const EXAMPLES: &[(&str, &str)] = &[
    ("email", "ann.smith@example.com"),
    ("password", "Sunflower42"),
    ("currentPassword", "Sunflower42"),
    ("firstName", "Ann"),
    ("lastName", "Smith"),
    ("phone", "+47 22 12 34 56"),
    ("gender", "female"),
    ("address", "1 Main St"),
    ("city", "Oslo"),
    ("state", "Oslo"),
    ("zipCode", "0150"),
    ("country", "NO"),
    ("label", "Home"),
    ("title", "iPhone 15 Pro"),
    ("description", "A 6.1-inch phone with a titanium frame."),
    ("brand", "Apple"),
    ("category", "smartphones"),
    ("sku", "SKU-000001"),
    ("thumbnail", "/uploads/demo/iphone-15-pro.jpg"),
    ("note", "Please leave the parcel at the door."),
    ("reason", "It arrived damaged."),
    ("comment", "Works great."),
    ("orderId", "01930c5e-4b7a-7c3d-9e2f-1a2b3c4d5e6f"),
    ("paymentIntentId", "pi_3QdemoIntent0001"),
    ("clientSecret", "pi_3QdemoIntent0001_secret_demo"),
    ("currency", "USD"),
    ("theme", "light"),
    ("language", "en"),
    ("trackingNumber", "1Z999AA10123456784"),
    ("carrier", "UPS"),
    ("estimatedDelivery", "2026-12-05"),
    ("message", "Success"),
    ("requestId", "4f1c2b9e-7d3a-4e5b-8c6d-0a1b2c3d4e5f"),
];

fn examples(schema: &mut Value) {
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else { return };
    for (name, prop) in props.iter_mut() {
        let Some(obj) = prop.as_object_mut() else { continue };
        let plain = obj.get("type").and_then(Value::as_str) == Some("string")
            && !obj.contains_key("example")
            && !obj.contains_key("enum")
            && !obj.contains_key("format");
        if let Some((_, example)) = EXAMPLES.iter().find(|(n, _)| n == name).filter(|_| plain) {
            obj.insert("example".into(), Value::String((*example).into()));
        }
    }
}

/// Names of our timestamp fields: RFC 3339 UTC with milliseconds.
fn is_timestamp(name: &str) -> bool {
    name.ends_with("At") || matches!(name, "timestamp" | "date" | "at" | "memberSince")
}

fn timestamps(schema: &mut Value) {
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else { return };
    for (name, prop) in props.iter_mut() {
        if is_timestamp(name) && prop.get("type").and_then(Value::as_str) == Some("string") {
            prop["format"] = Value::String("date-time".into());
            prop["example"] = Value::String("2026-12-01T09:30:00.000Z".into());
        }
    }
}

fn error_code_schema() -> Value {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    json!({ "type": "string", "description": "A stable code for each kind of error.", "enum": codes })
}

/// Methods the document allows on a concrete request path (for the `Allow` header of a 405).
pub struct Allowed {
    routes: Vec<(Vec<String>, Vec<String>)>,
    /// The document's path for each router pattern seen (`/api/v1/products/:param0`): finding
    /// it among every route on each request cost more than the rest of the metrics.
    templates: parking_lot::RwLock<std::collections::HashMap<String, Option<String>>>,
}

impl Allowed {
    pub fn from_document(doc: &Value) -> Allowed {
        let routes = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, item)| {
                let segments = path.trim_matches('/').split('/').map(str::to_string).collect();
                let mut methods: Vec<String> =
                    item.as_object().into_iter().flat_map(|o| o.keys()).map(|m| m.to_ascii_uppercase()).collect();
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".into());
                }
                methods.push("OPTIONS".into());
                (segments, methods)
            })
            .collect();
        Allowed { routes, templates: Default::default() }
    }

    /// [`Allowed::template`] of a request path that the router matched with `pattern`: the
    /// same for every path the pattern matches (a catch-all `*` pattern is looked up each time).
    pub fn template_of(&self, pattern: &str, path: &str) -> Option<String> {
        if pattern.contains('*') {
            return self.template(path);
        }
        if let Some(t) = self.templates.read().get(pattern) {
            return t.clone();
        }
        let t = self.template(path);
        self.templates.write().insert(pattern.to_string(), t.clone());
        t
    }

    /// `GET, HEAD, OPTIONS` for a known path; `None` for a path no operation serves.
    pub fn methods(&self, path: &str) -> Option<String> {
        self.route(path).map(|(_, m)| m.join(", "))
    }

    /// The document's path for a request path: `/api/v1/products/{id}` for `/api/v1/products/7`
    /// (what metrics label a request with).
    pub fn template(&self, path: &str) -> Option<String> {
        self.route(path).map(|(s, _)| format!("/{}", s.join("/")))
    }

    /// The name of the `index`th parameter in the path (poem calls them `param0`, ...).
    pub fn param_name(&self, path: &str, index: usize) -> Option<String> {
        let (segments, _) = self.route(path)?;
        segments.iter().filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).nth(index).map(str::to_string)
    }

    /// A literal segment beats a `{param}`, as in the router.
    fn route(&self, path: &str) -> Option<&(Vec<String>, Vec<String>)> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let matches = |segments: &[String]| {
            segments.len() == parts.len()
                && segments.iter().zip(&parts).all(|(s, p)| s == p || (s.starts_with('{') && s.ends_with('}')))
        };
        let mut found: Vec<&(Vec<String>, Vec<String>)> = self.routes.iter().filter(|(s, _)| matches(s)).collect();
        found.sort_by_key(|(s, _)| s.iter().filter(|x| x.starts_with('{')).count());
        found.first().copied()
    }
}
