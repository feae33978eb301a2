//! The limits every text field of every JSON body gets before its endpoint reads it: a maximum
//! length, and no control characters. A NUL in an email, a bell in a name or a 900 KB phone
//! number is refused here with a `VALIDATION_ERROR` naming the field, so no record, mail header
//! or log line ever holds one. Endpoints keep their own, finer rules (formats, minimums).
//!
//! Fields are known by name across the API (`shippingAddress.phone` and a saved address's
//! `phone` share one rule). A name not in [`FIELDS`] is not a field of any body and is ignored,
//! as unknown fields are (a test checks that every string field of the OpenAPI document has a
//! row), so a richer client's extra fields still pass.

use serde_json::Value;

use crate::error::{ApiError, FieldErrors};

/// Whether a field may hold line breaks and tabs (a description, a note) or is one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// Field name → (most characters, lines). Array items take their array's row (`tags.3`).
pub const FIELDS: &[(&str, usize, Lines)] = &[
    // People and addresses: what a person types on one line.
    ("email", 254, Lines::One),
    ("firstName", 100, Lines::One),
    ("lastName", 100, Lines::One),
    ("phone", 32, Lines::One),
    ("gender", 20, Lines::One),
    ("label", 50, Lines::One),
    ("address", 200, Lines::One),
    ("city", 100, Lines::One),
    ("state", 100, Lines::One),
    ("zipCode", 20, Lines::One),
    ("country", 100, Lines::One),
    // Secrets and tokens: long enough for any manager's password, never a control character.
    ("password", 1024, Lines::One),
    ("currentPassword", 1024, Lines::One),
    ("newPassword", 1024, Lines::One),
    ("token", 512, Lines::One),
    ("refreshToken", 2048, Lines::One),
    ("paymentIntentId", 255, Lines::One),
    // A sign-in code (6 digits) or a coupon code (up to 50 characters).
    ("code", 50, Lines::One),
    ("recoveryCode", 32, Lines::One),
    // The catalog.
    ("title", 200, Lines::One),
    ("brand", 100, Lines::One),
    ("category", 100, Lines::One),
    ("sku", 100, Lines::One),
    ("tags", 50, Lines::One),
    ("thumbnail", 2048, Lines::One),
    ("images", 2048, Lines::One),
    ("description", 5000, Lines::Many),
    ("comment", 2000, Lines::Many),
    // Orders.
    ("carrier", 100, Lines::One),
    ("trackingNumber", 100, Lines::One),
    ("estimatedDelivery", 100, Lines::One),
    ("note", 2000, Lines::Many),
    ("couponCode", 50, Lines::One),
    // Outbound webhooks.
    ("url", 2048, Lines::One),
    ("events", 40, Lines::One),
    ("secret", 200, Lines::One),
    // Web Push subscriptions (what a browser's PushSubscription holds).
    ("endpoint", 2048, Lines::One),
    ("p256dh", 200, Lines::One),
    ("auth", 100, Lines::One),
    ("categories", 100, Lines::One),
    ("startsAt", 40, Lines::One),
    ("endsAt", 40, Lines::One),
    // The shop's settings.
    ("name", 100, Lines::One),
    ("legalName", 200, Lines::One),
    ("taxId", 50, Lines::One),
    ("supportEmail", 254, Lines::One),
    ("senderName", 100, Lines::One),
    ("currency", 10, Lines::One),
    ("invoiceFooter", 1000, Lines::Many),
    ("timezone", 64, Lines::One),
    ("paperSize", 10, Lines::One),
    ("reason", 1000, Lines::Many),
    // Preferences and roles.
    ("currency", 10, Lines::One),
    ("language", 10, Lines::One),
    ("theme", 20, Lines::One),
    ("role", 20, Lines::One),
    ("status", 40, Lines::One),
];

pub fn rule(field: &str) -> Option<(usize, Lines)> {
    FIELDS.iter().find(|(name, ..)| *name == field).map(|(_, max, lines)| (*max, *lines))
}

/// Whether the text holds a character no one types into a form field: C0 controls (NUL, bell,
/// escape, ...), DEL and the C1 block. Line breaks and tabs only where the field has lines, or
/// around a one-line value (a pasted email ends in a newline; the endpoint trims it).
fn refused(text: &str, lines: Lines) -> bool {
    let spacing = |c: char| c.is_whitespace();
    match lines {
        Lines::One => text.chars().any(|c| c.is_control() && !spacing(c)) || text.trim().chars().any(char::is_control),
        Lines::Many => text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')),
    }
}

/// The characters [`refused`] refuses, as a regular expression class of the OpenAPI document.
pub fn refused_class(lines: Lines) -> &'static str {
    match lines {
        Lines::One => r"\u0000-\u001f\u007f-\u009f",
        Lines::Many => r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f",
    }
}

/// Objects inside a body whose fields are fields of the API (a shipping address); any other
/// nested object is not one of ours and is ignored, as unknown fields are.
const NESTED: &[&str] = &["shippingAddress"];

/// Checks every known text field of a parsed body.
pub fn check(body: &Value) -> Result<(), ApiError> {
    let mut errors = FieldErrors::new();
    if let Value::Object(map) = body {
        fields(map, &mut Vec::new(), &mut errors);
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::validation(errors)) }
}

fn fields(map: &serde_json::Map<String, Value>, path: &mut Vec<String>, errors: &mut FieldErrors) {
    for (key, value) in map {
        path.push(key.clone());
        match value {
            Value::String(text) => text_field(key, text, path, errors),
            // A list of texts (tags, images) takes its field's rule for each.
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::String(text) = item {
                        path.push(i.to_string());
                        text_field(key, text, path, errors);
                        path.pop();
                    }
                }
            }
            Value::Object(inner) if NESTED.contains(&key.as_str()) => fields(inner, path, errors),
            _ => {}
        }
        path.pop();
    }
}

fn text_field(field: &str, text: &str, path: &[String], errors: &mut FieldErrors) {
    let Some((max, lines)) = rule(field) else { return };
    let mut problems = Vec::new();
    if text.chars().count() > max {
        problems.push(format!("At most {max} characters"));
    }
    if refused(text, lines) {
        problems.push(match lines {
            Lines::One => "Must be one line without control characters".to_string(),
            Lines::Many => "Control characters are not allowed".to_string(),
        });
    }
    if !problems.is_empty() {
        errors.insert(path.join("."), problems);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(body: Value) -> Vec<String> {
        match check(&body) {
            Ok(()) => Vec::new(),
            Err(e) => e.details.unwrap().as_object().unwrap().keys().cloned().collect(),
        }
    }

    #[test]
    fn control_characters_and_long_values_are_named_by_path() {
        assert!(fields(json!({"email": "a@b.co", "description": "two\nlines\tok"})).is_empty());
        assert_eq!(fields(json!({"email": "a\u{0}@b.co"})), ["email"]);
        assert_eq!(fields(json!({"firstName": "Ann\nBoleyn"})), ["firstName"]);
        assert_eq!(fields(json!({"note": "bell \u{7}"})), ["note"]);
        assert_eq!(fields(json!({"note": "C1 \u{85}"})), ["note"]);
        let phone = "1".repeat(33);
        assert_eq!(fields(json!({"shippingAddress": {"phone": phone}})), ["shippingAddress.phone"]);
        assert_eq!(fields(json!({"tags": ["ok", "x".repeat(51)]})), ["tags.1"]);
        // Not a field of any body: ignored, as unknown fields are, with what is inside it.
        assert!(fields(json!({"metadata": "x\u{0}".repeat(10_000)})).is_empty());
        assert!(fields(json!({"metadata": {"address": "1 Main\nApt 2"}})).is_empty());
        // Around a one-line value, spacing is the endpoint's to trim.
        assert!(fields(json!({"email": " a@b.co\n"})).is_empty());
        assert_eq!(fields(json!({"email": "a@b.co\u{0}"})), ["email"]);
        // Length counts characters, not bytes.
        assert!(fields(json!({"firstName": "é".repeat(100)})).is_empty());
    }
}
