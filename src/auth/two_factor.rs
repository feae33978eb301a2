//! Two-factor sign-in: TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, one step either side) for any
//! account, and single-use recovery codes.
//!
//! The secret and the last accepted step live in their own record beside the user. A step is
//! never accepted twice: the one a code matched is written in the same transaction that issues
//! the tokens (or enables, or disables), so a code seen over a shoulder or replayed from a log
//! is refused. Recovery codes are stored only as SHA-256 hashes and each one goes when used.

use chrono::Utc;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, TOTP};

use crate::auth::Timestamp;
use crate::error::{ApiError, ErrorCode};
use crate::store::{Collection, StoreError, WriteTx};
use crate::types::sha256_hex;
use crate::users::USERS;

/// Wrong codes for one account, from every address, before it is locked for 15 minutes.
pub const WRONG_CODES: u32 = 5;
pub const RECOVERY_CODES: usize = 10;
const STEP_SECS: u64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TwoFactor {
    pub user_id: u64,
    /// The shared secret (20 random bytes).
    pub secret: Vec<u8>,
    /// False between setup and the first code.
    pub enabled: bool,
    /// The last time step a code was accepted for: later codes must be of a later step.
    pub last_step: u64,
    /// SHA-256 hex of each unused recovery code.
    pub recovery: Vec<String>,
    pub created_at: Timestamp,
}

pub static TWO_FACTOR: Collection<u64, TwoFactor> = Collection::new("two_factor");

/// What a sign-in or a change offered as its second factor.
#[derive(Debug, Clone, Default)]
pub struct Offered {
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}

impl Offered {
    pub fn is_empty(&self) -> bool {
        self.code.as_deref().is_none_or(|c| c.trim().is_empty())
            && self.recovery_code.as_deref().is_none_or(|c| c.trim().is_empty())
    }
}

pub fn invalid_code() -> ApiError {
    ApiError::new(ErrorCode::InvalidTwoFactorCode)
}

fn totp(secret: &[u8], account: &str) -> Result<TOTP, ApiError> {
    totp_for(secret, account, "shopd")
}

/// The issuer only names the entry in the app; codes do not depend on it.
fn totp_for(secret: &[u8], account: &str, issuer: &str) -> Result<TOTP, ApiError> {
    // Neither name may hold a colon (it separates issuer and account in the URL).
    let (issuer, account) = (issuer.replace(':', " "), account.replace(':', " "));
    TOTP::new(Algorithm::SHA1, 6, 1, STEP_SECS, secret.to_vec(), Some(issuer), account)
        .map_err(|e| ApiError::internal(format!("totp: {e}")))
}

fn now_secs() -> u64 {
    Utc::now().timestamp().max(0) as u64
}

/// A new secret, and what the user's app needs to learn it.
pub struct Enrolment {
    pub record: TwoFactor,
    /// Base32, for typing into an app.
    pub secret: String,
    pub otpauth_url: String,
    pub qr_svg: String,
}

/// `issuer`: what the authenticator app shows the entry as (the shop's name).
pub fn enrol(user_id: u64, account: &str, issuer: &str) -> Result<Enrolment, ApiError> {
    let secret: [u8; 20] = rand::rng().random();
    let t = totp_for(&secret, account, issuer)?;
    let url = t.get_url();
    let qr = qrcode::QrCode::new(url.as_bytes()).map_err(|e| ApiError::internal(format!("qr: {e}")))?;
    let svg = qr.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).build();
    Ok(Enrolment {
        record: TwoFactor {
            user_id,
            secret: secret.to_vec(),
            enabled: false,
            last_step: 0,
            recovery: Vec::new(),
            created_at: Utc::now(),
        },
        secret: t.get_secret_base32(),
        otpauth_url: url,
        qr_svg: svg,
    })
}

/// The time step a TOTP code matches (this one or either neighbour), if it is later than the
/// last one accepted.
fn matching_step(record: &TwoFactor, account: &str, code: &str) -> Result<Option<u64>, ApiError> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let t = totp(&record.secret, account)?;
    let now = now_secs() / STEP_SECS;
    for step in [now.saturating_sub(1), now, now + 1] {
        if step > record.last_step && t.generate(step * STEP_SECS) == code {
            return Ok(Some(step));
        }
    }
    Ok(None)
}

fn recovery_hash(code: &str) -> String {
    let normal: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase();
    sha256_hex(normal)
}

/// Checks and spends what was offered, inside the caller's write: the TOTP step is recorded, a
/// recovery code removed. `Ok(false)`: wrong, and nothing changed.
pub fn spend(w: &mut WriteTx<'_>, record: &mut TwoFactor, account: &str, offered: &Offered) -> Result<bool, ApiError> {
    if let Some(code) = offered.code.as_deref().filter(|c| !c.trim().is_empty()) {
        let Some(step) = matching_step(record, account, code)? else { return Ok(false) };
        record.last_step = step;
    } else if let Some(code) = offered.recovery_code.as_deref().filter(|c| !c.trim().is_empty()) {
        let hash = recovery_hash(code);
        let Some(i) = record.recovery.iter().position(|h| *h == hash) else { return Ok(false) };
        record.recovery.remove(i);
    } else {
        return Ok(false);
    }
    w.put(&TWO_FACTOR, &record.user_id, record)?;
    Ok(true)
}

/// Ten new recovery codes (`xxxxx-xxxxx`, 50 bits each), kept as hashes in the record.
pub fn new_recovery_codes(record: &mut TwoFactor) -> Vec<String> {
    const CHARS: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let mut part = || (0..5).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect::<String>();
            format!("{}-{}", part(), part())
        })
        .collect();
    record.recovery = codes.iter().map(|c| recovery_hash(c)).collect();
    codes
}

/// Turns two-factor sign-in off for a user (their own choice, or `shopd admin reset-2fa`).
pub fn remove(w: &mut WriteTx<'_>, user_id: u64) -> Result<bool, StoreError> {
    let had = w.delete(&TWO_FACTOR, &user_id)?.is_some();
    if let Some(mut user) = w.get(&USERS, &user_id)?
        && user.two_factor_enabled
    {
        user.two_factor_enabled = false;
        user.updated_at = Utc::now();
        w.put(&USERS, &user_id, &user)?;
    }
    Ok(had)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_counts_for_its_step_once_and_neighbours_are_forgiven() {
        let e = enrol(7, "ann@shop.test", "shopd").unwrap();
        assert!(e.otpauth_url.starts_with("otpauth://totp/shopd:ann%40shop.test?"), "{}", e.otpauth_url);
        assert!(e.qr_svg.starts_with("<?xml") && e.qr_svg.contains("<svg"));
        let t = totp(&e.record.secret, "ann@shop.test").unwrap();
        let now = now_secs();
        let code = t.generate(now);
        let mut record = e.record.clone();
        let step = matching_step(&record, "ann@shop.test", &code).unwrap().expect("the current code");
        record.last_step = step;
        assert_eq!(matching_step(&record, "ann@shop.test", &code).unwrap(), None, "never twice");
        let next = t.generate(now + STEP_SECS);
        assert_eq!(matching_step(&record, "ann@shop.test", &next).unwrap(), Some(step + 1), "one step ahead");
        assert_eq!(matching_step(&record, "ann@shop.test", &t.generate(now + 3 * STEP_SECS)).unwrap(), None);
        assert_eq!(matching_step(&record, "ann@shop.test", "12 34").unwrap(), None);
        let codes = new_recovery_codes(&mut record);
        assert_eq!(codes.len(), 10);
        assert!(record.recovery.contains(&recovery_hash(&codes[3].to_uppercase())), "case and dashes do not count");
    }
}
