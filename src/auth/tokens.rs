//! Access tokens (HS256 JWTs), refresh tokens and one-time tokens (email verification, password
//! reset). Only hashes of refresh and one-time tokens are stored: a copy of the store does not
//! let anyone sign in.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ApiError, ErrorCode};
use crate::store::{Collection, Index, key};
use crate::users::{Role, User};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub email: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    /// A UUID v7: unique, and it carries the issue time in milliseconds (revocation compares it).
    pub jti: String,
}

impl Claims {
    pub fn user_id(&self) -> Option<u64> {
        self.sub.parse().ok()
    }

    pub fn jti(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.jti).ok()
    }
}

/// The issue time of a v7 id, in milliseconds since the epoch.
pub fn issued_ms(jti: &Uuid) -> Option<i64> {
    jti.get_timestamp().map(|t| {
        let (secs, nanos) = t.to_unix();
        secs as i64 * 1000 + (nanos / 1_000_000) as i64
    })
}

pub struct Jwt {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl: Duration,
}

/// A freshly signed access token.
pub struct Issued {
    pub token: String,
    pub claims: Claims,
    pub expires_at: DateTime<Utc>,
}

impl Jwt {
    pub fn new(secret: &[u8], access_ttl: Duration) -> Jwt {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Jwt {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl,
        }
    }

    pub fn issue(&self, user: &User) -> Result<Issued, ApiError> {
        self.issue_not_before(user, 0)
    }

    /// A token whose id is dated no earlier than `not_before_ms`: one issued right after a
    /// session cutoff, in the same millisecond, must not fall under it.
    pub fn issue_not_before(&self, user: &User, not_before_ms: i64) -> Result<Issued, ApiError> {
        let now_ms = Utc::now().timestamp_millis();
        let jti = if now_ms >= not_before_ms {
            Uuid::now_v7()
        } else {
            let ms = not_before_ms as u64;
            Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, ((ms % 1000) * 1_000_000) as u32))
        };
        let now = Utc::now();
        let expires_at = now + self.access_ttl;
        let claims = Claims {
            sub: user.id.to_string(),
            email: user.email.clone(),
            role: user.role,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: jti.to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(format!("jwt encode: {e}")))?;
        Ok(Issued { token, claims, expires_at })
    }

    /// Checks the signature and expiry: `INVALID_TOKEN` or `TOKEN_EXPIRED`.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|d| d.claims).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::new(ErrorCode::TokenExpired),
                _ => ApiError::new(ErrorCode::InvalidToken),
            }
        })
    }

    /// Signs arbitrary claims (tests make expired tokens with it).
    pub fn sign(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding).expect("HS256 signing cannot fail")
    }
}

/// The private link of a guest's order: HMAC-SHA256, under a key derived from the signing
/// secret, of the order's id and the link's end. Derived rather than random, so that the
/// store keeps only its hash and the mail, the first answer and a replay can all show it.
pub struct OrderTokens([u8; 32]);

impl OrderTokens {
    pub fn new(secret: &[u8]) -> OrderTokens {
        OrderTokens(mac(secret, b"shopd order tokens v1"))
    }

    pub fn token(&self, order_id: Uuid, expires_at: DateTime<Utc>) -> String {
        URL_SAFE_NO_PAD.encode(mac(&self.0, format!("{order_id}.{}", expires_at.timestamp()).as_bytes()))
    }
}

fn mac(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    m.update(message);
    m.finalize().into_bytes().into()
}

/// A random token for a client: 256 bits, URL-safe.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    crate::types::sha256_hex(token)
}

/// A refresh token, stored under the hash of its value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshToken {
    /// SHA-256 of the value: also the record's key.
    pub hash: String,
    pub id: Uuid,
    pub user_id: u64,
    /// Every token rotated from the same sign-in shares the family.
    pub family: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set when it was exchanged for a new token: presenting it again is a reuse.
    pub used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

fn refresh_by_user(t: &RefreshToken) -> Vec<Vec<u8>> {
    vec![key::encode(&t.user_id)]
}

pub static REFRESH_INDEXES: [Index<RefreshToken>; 1] = [Index::new("refresh_tokens.by_user", refresh_by_user)];
pub static REFRESH_TOKENS: Collection<str, RefreshToken> = Collection::with_indexes("refresh_tokens", &REFRESH_INDEXES);
/// A user's refresh tokens.
pub static REFRESH_TOKENS_BY_USER: &Index<RefreshToken> = &REFRESH_INDEXES[0];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

/// A single-use token mailed to a user, stored under the hash of its value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OneTimeToken {
    /// SHA-256 of the value: also the record's key.
    pub hash: String,
    pub user_id: u64,
    pub purpose: Purpose,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

fn one_time_by_user(t: &OneTimeToken) -> Vec<Vec<u8>> {
    vec![key::encode(&(t.user_id, t.purpose as u8))]
}

pub static ONE_TIME_INDEXES: [Index<OneTimeToken>; 1] = [Index::new("one_time_tokens.by_user", one_time_by_user)];
pub static ONE_TIME_TOKENS: Collection<str, OneTimeToken> =
    Collection::with_indexes("one_time_tokens", &ONE_TIME_INDEXES);
/// A user's one-time tokens, by purpose.
pub static ONE_TIME_TOKENS_BY_USER: &Index<OneTimeToken> = &ONE_TIME_INDEXES[0];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v7_ids_carry_their_issue_time() {
        let before = Utc::now().timestamp_millis();
        let ms = issued_ms(&Uuid::now_v7()).unwrap();
        assert!(ms >= before && ms <= Utc::now().timestamp_millis());
    }

    #[test]
    fn tokens_are_random_and_hashes_fixed_length() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_eq!(token_hash(&a), token_hash(&a));
    }
}
