//! Users: the stored record, its addresses and preferences, the rules for their fields, and
//! the views the API shows.

pub mod admin;
pub mod api;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, FieldErrors};
use crate::store::{Collection, Index, ReadTx, StoreError, WriteTx, key};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[oai(rename_all = "UPPERCASE")]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    User,
    Admin,
}

/// A stored user. `password_hash` is an Argon2id PHC string and never leaves this process.
#[derive(Clone, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    /// As the user typed it (trimmed); uniqueness is on the lowercase form.
    pub email: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub gender: Option<String>,
    pub age: Option<u32>,
    pub image: Option<String>,
    pub role: Role,
    pub is_active: bool,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub preferences: Preferences,
    /// Set when the account was deleted by its owner; the email was then freed.
    #[serde(default)]
    pub deleted_at: Option<DateTime<Utc>>,
    /// Sign-in asks for a second factor (its secret is in `auth::two_factor`).
    #[serde(default)]
    pub two_factor_enabled: bool,
    /// The number the user proved is theirs with a code (`POST /users/me/phone/confirm`): the
    /// only one SMS goes to.
    #[serde(default)]
    pub phone_verified: Option<String>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

fn by_email(u: &User) -> Vec<Vec<u8>> {
    vec![key::encode(&u.email.to_lowercase())]
}

pub static USER_INDEXES: [Index<User>; 1] = [Index::unique("users.by_email", by_email)];
/// The sales figures count new customers: accounts of role USER, from when they were made.
pub static USERS: Collection<u64, User> =
    Collection::with_indexes("users", &USER_INDEXES).deriving(|w, before, after| {
        let counted = |u: &User| (u.role == Role::User && u.deleted_at.is_none()).then_some(u.created_at);
        crate::stats::customer_changed(w, before.and_then(counted), after.and_then(counted))
    });
/// Users by their email (lowercase): unique.
pub static USERS_BY_EMAIL: &Index<User> = &USER_INDEXES[0];

/// Saved addresses, keyed (user id, address id): another user's address simply is not found.
pub static ADDRESSES: Collection<(u64, u64), Address> = Collection::new("addresses");

impl User {
    /// A new, active account with its email not yet verified and no profile details.
    pub fn new(id: u64, email: String, password_hash: String, name: (String, String), role: Role) -> User {
        let now = Utc::now();
        User {
            id,
            email,
            password_hash,
            first_name: name.0,
            last_name: name.1,
            phone: None,
            gender: None,
            age: None,
            image: None,
            role,
            is_active: true,
            email_verified: false,
            created_at: now,
            updated_at: now,
            preferences: Preferences::default(),
            deleted_at: None,
            two_factor_enabled: false,
            phone_verified: None,
        }
    }

    pub fn find_by_email(r: &ReadTx, email: &str) -> Result<Option<User>, StoreError> {
        r.get_unique(&USERS, USERS_BY_EMAIL, &email.trim().to_lowercase())
    }

    pub fn find_by_email_w(w: &mut WriteTx<'_>, email: &str) -> Result<Option<User>, StoreError> {
        w.get_unique(&USERS, USERS_BY_EMAIL, &email.trim().to_lowercase())
    }

    pub fn view(&self) -> UserView {
        UserView {
            id: self.id,
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            phone: self.phone.clone(),
            gender: self.gender.clone(),
            age: self.age,
            image: self.image.as_deref().map(crate::http::envelope::public_url),
            role: self.role,
            is_active: self.is_active,
            email_verified: self.email_verified,
            two_factor_enabled: self.two_factor_enabled,
            phone_verified: self.phone_verified.is_some() && self.phone_verified == self.phone,
            created_at: timestamp(&self.created_at),
            updated_at: timestamp(&self.updated_at),
        }
    }
}

/// RFC 3339, UTC, milliseconds: the contract's timestamp format.
pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A user as the API shows it: never the password or its hash.
#[derive(Debug, Clone, Object)]
#[oai(rename = "User", rename_all = "camelCase")]
pub struct UserView {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub gender: Option<String>,
    pub age: Option<u32>,
    /// URL of the avatar, under /uploads.
    pub image: Option<String>,
    pub role: Role,
    pub is_active: bool,
    pub email_verified: bool,
    /// Sign-in asks for a code from an authenticator app (or a recovery code).
    pub two_factor_enabled: bool,
    /// `phone` was confirmed with a code: SMS may go to it.
    pub phone_verified: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Preferences {
    pub theme: String,
    pub notifications: bool,
    pub email_notifications: bool,
    /// Order updates by SMS, to the verified phone (off by default: the shop pays for them).
    #[serde(default)]
    pub sms_notifications: bool,
    /// Order updates as Web Push, to the registered subscriptions (off by default).
    #[serde(default)]
    pub push_notifications: bool,
    pub currency: String,
    pub language: String,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            theme: "light".into(),
            notifications: true,
            email_notifications: true,
            sms_notifications: false,
            push_notifications: false,
            currency: "USD".into(),
            language: "en".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Address {
    pub id: u64,
    pub user_id: u64,
    pub label: String,
    pub first_name: String,
    pub last_name: String,
    pub address: String,
    pub city: String,
    pub state: String,
    pub zip_code: String,
    pub country: String,
    pub phone: String,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename = "Address", rename_all = "camelCase")]
pub struct AddressView {
    pub id: u64,
    pub label: String,
    pub first_name: String,
    pub last_name: String,
    pub address: String,
    pub city: String,
    pub state: String,
    pub zip_code: String,
    pub country: String,
    pub phone: String,
    pub is_default: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl Address {
    pub fn view(&self) -> AddressView {
        AddressView {
            id: self.id,
            label: self.label.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            address: self.address.clone(),
            city: self.city.clone(),
            state: self.state.clone(),
            zip_code: self.zip_code.clone(),
            country: self.country.clone(),
            phone: self.phone.clone(),
            is_default: self.is_default,
            created_at: timestamp(&self.created_at),
            updated_at: timestamp(&self.updated_at),
        }
    }
}

/// A user's addresses, the default first, then oldest first.
pub fn addresses_of(r: &ReadTx, user_id: u64) -> Result<Vec<Address>, StoreError> {
    let mut all: Vec<Address> = r.scan(&ADDRESSES, &(user_id,), false)?.collect::<Result<_, _>>()?;
    all.sort_by_key(|a| (!a.is_default, a.id));
    Ok(all)
}

/// A password a user chooses: at least 8 characters with an ASCII lowercase letter, an ASCII
/// uppercase letter and a digit, at most 1024 characters ([`Check::password`] is the rule; the
/// schema says the same as a pattern, which the `Object` derive cannot take: it has look-aheads).
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct NewPassword(pub String);

impl std::ops::Deref for NewPassword {
    type Target = String;
    fn deref(&self) -> &String {
        &self.0
    }
}

impl poem_openapi::types::Type for NewPassword {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> std::borrow::Cow<'static, str> {
        "string_password".into()
    }

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        let mut schema = poem_openapi::registry::MetaSchema::new("string");
        schema.format = Some("password");
        schema.max_length = Some(1024);
        schema.pattern = Some(r"^(?=[\s\S]*[a-z])(?=[\s\S]*[A-Z])(?=[\s\S]*[0-9])[\s\S]{8,}$".into());
        schema.example = Some(serde_json::Value::String("Sunflower42".into()));
        poem_openapi::registry::MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl poem_openapi::types::ParseFromJSON for NewPassword {
    fn parse_from_json(value: Option<serde_json::Value>) -> poem_openapi::types::ParseResult<Self> {
        String::parse_from_json(value).map(NewPassword).map_err(poem_openapi::types::ParseError::propagate)
    }
}

impl poem_openapi::types::ToJSON for NewPassword {
    fn to_json(&self) -> Option<serde_json::Value> {
        None
    }
}

/// Collects field errors; `finish` turns them into one `VALIDATION_ERROR`.
#[derive(Default)]
pub struct Check(FieldErrors);

impl Check {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.entry(field.to_string()).or_default().push(message.into());
    }

    pub fn email(&mut self, field: &str, value: &str) {
        if !is_email(value) {
            self.add(field, "Invalid email format");
        }
    }

    pub fn name(&mut self, field: &str, value: &str) {
        let n = value.trim().chars().count();
        if !(2..=50).contains(&n) {
            self.add(field, "Name must be between 2 and 50 characters");
        }
    }

    /// At least 8 characters with a lowercase letter, an uppercase letter and a digit (ASCII,
    /// as the plan's `[a-z]`, `[A-Z]`, `\d`).
    pub fn password(&mut self, field: &str, value: &str) {
        if value.chars().count() < 8 {
            self.add(field, "Password must be at least 8 characters");
        }
        if !value.chars().any(|c| c.is_ascii_lowercase()) {
            self.add(field, "Password must contain at least one lowercase letter");
        }
        if !value.chars().any(|c| c.is_ascii_uppercase()) {
            self.add(field, "Password must contain at least one uppercase letter");
        }
        if !value.chars().any(|c| c.is_ascii_digit()) {
            self.add(field, "Password must contain at least one number");
        }
        if value.chars().count() > 1024 {
            self.add(field, "Password must be at most 1024 characters");
        }
    }

    pub fn required(&mut self, field: &str, value: &str, max: usize) {
        let n = value.trim().chars().count();
        if n == 0 {
            self.add(field, "Required");
        } else if n > max {
            self.add(field, format!("Must be at most {max} characters"));
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() { Ok(()) } else { Err(ApiError::validation(self.0)) }
    }
}

/// A pragmatic email check: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn is_email(value: &str) -> bool {
    let v = value.trim();
    let Some((local, domain)) = v.rsplit_once('@') else { return false };
    !local.is_empty()
        && value.chars().count() <= 254
        && !v.chars().any(char::is_whitespace)
        && !local.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@shop.example.com"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in ["", "a", "a@b", "@b.co", "a@@b.co", "a b@c.co", "a@.co", "a@b.co.", "a@b..co"] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn password_rules_name_each_failure() {
        let mut c = Check::default();
        c.password("password", "short");
        let err = c.finish().unwrap_err();
        let msgs = &err.details.unwrap()["password"];
        assert_eq!(msgs.as_array().unwrap().len(), 3, "{msgs}"); // length, uppercase, digit
        let mut c = Check::default();
        c.password("password", "Secret123");
        assert!(c.finish().is_ok());
    }
}
