//! Coupons: the record, the rules that say whether a code applies to a set of lines, and how
//! its discount is shared out over them. Usage is counted by the order that uses a code, in its
//! own transaction, and given back when that order is cancelled.

pub mod api;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::{Collection, Index, StoreError, WriteTx, key};
use crate::types::Money;
use crate::users::timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[oai(rename = "CouponType", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    /// `value` percent off the eligible lines.
    Percent,
    /// `value` off the eligible lines, at most their sum.
    Fixed,
    /// No shipping charge; nothing off the lines.
    FreeShipping,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Coupon {
    pub id: u64,
    /// As the admin wrote it; matched without regard to case.
    pub code: String,
    pub kind: Kind,
    pub value: Option<Money>,
    pub min_subtotal: Option<Money>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub usage_limit: Option<u64>,
    pub per_customer_limit: Option<u64>,
    /// Category slugs; with `product_ids`, the lines the discount falls on (all when both are
    /// empty).
    pub categories: Vec<String>,
    pub product_ids: Vec<u64>,
    pub active: bool,
    /// Orders that hold the code and were not cancelled.
    pub used: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A code as it is compared: trimmed, lowercase.
pub fn normal(code: &str) -> String {
    code.trim().to_lowercase()
}

fn by_code(c: &Coupon) -> Vec<Vec<u8>> {
    vec![key::encode(&normal(&c.code))]
}

pub static COUPON_INDEXES: [Index<Coupon>; 1] = [Index::unique("coupons.by_code", by_code)];
pub static COUPONS: Collection<u64, Coupon> = Collection::with_indexes("coupons", &COUPON_INDEXES);
pub static COUPONS_BY_CODE: &Index<Coupon> = &COUPON_INDEXES[0];
/// (coupon id, customer email in lowercase) → orders of that customer holding the code. A
/// guest is the same customer as every order placed with their email.
pub static COUPON_USES: Collection<(u64, String), u64> = Collection::new("coupon_uses");

/// One line as a coupon sees it: what it costs after the product's own discount.
pub struct Priced {
    pub product_id: u64,
    pub category: String,
    pub total: Money,
}

/// What a coupon takes off a set of lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub discount: Money,
    /// Each line's part of `discount`, in the order of the lines; they sum to it exactly.
    pub shares: Vec<Money>,
    pub free_shipping: bool,
}

impl Coupon {
    fn not_applicable(message: String) -> ApiError {
        ApiError::new(ErrorCode::CouponNotApplicable).with_message(message)
    }

    /// Whether the code can be used at `now`: active (an inactive code is as unknown as one
    /// that never existed) and inside its dates.
    pub fn usable(&self, now: DateTime<Utc>) -> ApiResult<()> {
        if !self.active {
            return Err(ApiError::new(ErrorCode::CouponNotFound));
        }
        if self.starts_at.is_some_and(|s| now < s) {
            return Err(ApiError::new(ErrorCode::CouponExpired).with_message("This code is not valid yet"));
        }
        if self.ends_at.is_some_and(|e| now >= e) {
            return Err(ApiError::new(ErrorCode::CouponExpired));
        }
        Ok(())
    }

    /// Whether the limits leave a use for a customer who used the code `mine` times already.
    pub fn left_for(&self, mine: u64) -> ApiResult<()> {
        if self.usage_limit.is_some_and(|l| self.used >= l) {
            return Err(ApiError::new(ErrorCode::CouponExhausted));
        }
        if self.per_customer_limit.is_some_and(|l| mine >= l) {
            return Err(ApiError::new(ErrorCode::CouponExhausted)
                .with_message("You have used this code as many times as it allows"));
        }
        Ok(())
    }

    fn eligible(&self, line: &Priced) -> bool {
        (self.categories.is_empty() && self.product_ids.is_empty())
            || self.product_ids.contains(&line.product_id)
            || self.categories.contains(&line.category)
    }

    /// The discount on `lines` (dates and limits are checked apart): refused when the subtotal
    /// is under the minimum or no line is eligible. A percentage is rounded half-up to the cent
    /// once, on the eligible sum; a fixed value is capped at that sum.
    pub fn apply(&self, lines: &[Priced]) -> ApiResult<Applied> {
        let subtotal: Decimal = lines.iter().map(|l| l.total.amount()).sum();
        if let Some(min) = self.min_subtotal
            && subtotal < min.amount()
        {
            return Err(Self::not_applicable(format!("This code needs a subtotal of at least {min}")));
        }
        let eligible: Vec<bool> = lines.iter().map(|l| self.eligible(l)).collect();
        let base: Decimal = lines.iter().zip(&eligible).filter(|(_, e)| **e).map(|(l, _)| l.total.amount()).sum();
        if !eligible.contains(&true) {
            return Err(Self::not_applicable("This code does not apply to anything in the cart".into()));
        }
        let value = self.value.map_or(Decimal::ZERO, |v| v.amount());
        let discount = match self.kind {
            Kind::Percent => Money::from_decimal(base * value / Decimal::ONE_HUNDRED),
            Kind::Fixed => Money::from_decimal(value.min(base)),
            Kind::FreeShipping => Money::ZERO,
        };
        let totals: Vec<Decimal> =
            lines.iter().zip(&eligible).map(|(l, e)| if *e { l.total.amount() } else { Decimal::ZERO }).collect();
        Ok(Applied { discount, shares: share(discount, &totals), free_shipping: self.kind == Kind::FreeShipping })
    }

    /// Counts a use by `email` (in the order's transaction), or refuses when none is left.
    pub fn take(w: &mut WriteTx<'_>, id: u64, email: &str) -> ApiResult<Coupon> {
        let mut c = w.get(&COUPONS, &id)?.ok_or_else(|| ApiError::new(ErrorCode::CouponNotFound))?;
        let who = (id, email.to_lowercase());
        let mine = w.get(&COUPON_USES, &who)?.unwrap_or(0);
        c.left_for(mine)?;
        c.used += 1;
        w.put(&COUPONS, &id, &c)?;
        w.put(&COUPON_USES, &who, &(mine + 1))?;
        Ok(c)
    }

    /// Gives back the use of a cancelled order. A deleted coupon has nothing to give back to.
    pub fn give_back(w: &mut WriteTx<'_>, id: u64, email: &str) -> Result<(), StoreError> {
        if let Some(mut c) = w.get(&COUPONS, &id)? {
            c.used = c.used.saturating_sub(1);
            w.put(&COUPONS, &id, &c)?;
        }
        let who = (id, email.to_lowercase());
        match w.get(&COUPON_USES, &who)?.unwrap_or(0) {
            0 | 1 => w.delete(&COUPON_USES, &who).map(|_| ()),
            n => w.put(&COUPON_USES, &who, &(n - 1)),
        }
    }

    pub fn view(&self) -> CouponView {
        CouponView {
            id: self.id,
            code: self.code.clone(),
            r#type: self.kind,
            value: self.value,
            min_subtotal: self.min_subtotal,
            starts_at: self.starts_at.as_ref().map(timestamp),
            ends_at: self.ends_at.as_ref().map(timestamp),
            usage_limit: self.usage_limit,
            per_customer_limit: self.per_customer_limit,
            categories: self.categories.clone(),
            product_ids: self.product_ids.clone(),
            active: self.active,
            used: self.used,
            created_at: timestamp(&self.created_at),
            updated_at: timestamp(&self.updated_at),
        }
    }
}

/// Splits `discount` over lines in proportion to `totals` (0 for a line it does not touch):
/// each share is rounded down to the cent and the cents left over go one each to the lines
/// that lost most to the rounding, so the shares sum to the discount and none exceeds its line.
fn share(discount: Money, totals: &[Decimal]) -> Vec<Money> {
    let base: Decimal = totals.iter().sum();
    if base.is_zero() || !discount.is_positive() {
        return totals.iter().map(|_| Money::ZERO).collect();
    }
    let exact: Vec<Decimal> = totals.iter().map(|t| discount.amount() * t / base).collect();
    let mut cents: Vec<Decimal> = exact.iter().map(|e| (e * Decimal::ONE_HUNDRED).floor()).collect();
    let left = (discount.amount() * Decimal::ONE_HUNDRED - cents.iter().sum::<Decimal>()).to_usize().unwrap_or(0);
    let mut by_loss: Vec<usize> = (0..totals.len()).filter(|i| !totals[*i].is_zero()).collect();
    by_loss.sort_by(|a, b| {
        let loss = |i: usize| exact[i] * Decimal::ONE_HUNDRED - cents[i];
        loss(*b).cmp(&loss(*a)).then(a.cmp(b))
    });
    for i in by_loss.into_iter().take(left) {
        cents[i] += Decimal::ONE;
    }
    cents.into_iter().map(|c| Money::from_decimal(c / Decimal::ONE_HUNDRED)).collect()
}

/// The code as a cart or an order shows it.
#[derive(Debug, Clone, Object)]
#[oai(rename = "AppliedCoupon")]
pub struct AppliedCoupon {
    pub code: String,
    pub r#type: Kind,
}

#[derive(Debug, Clone, Object)]
#[oai(rename = "Coupon", rename_all = "camelCase")]
pub struct CouponView {
    pub id: u64,
    pub code: String,
    pub r#type: Kind,
    /// PERCENT: the percentage; FIXED: the amount; FREE_SHIPPING: null.
    pub value: Option<Money>,
    pub min_subtotal: Option<Money>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub usage_limit: Option<u64>,
    pub per_customer_limit: Option<u64>,
    pub categories: Vec<String>,
    pub product_ids: Vec<u64>,
    pub active: bool,
    /// Orders holding the code that were not cancelled.
    pub used: u64,
    pub created_at: String,
    pub updated_at: String,
}

/// The coupon of a code (any case); unknown is `COUPON_NOT_FOUND`.
pub fn find(w: &mut WriteTx<'_>, code: &str) -> ApiResult<Coupon> {
    w.get_unique(&COUPONS, COUPONS_BY_CODE, &normal(code))?.ok_or_else(|| ApiError::new(ErrorCode::CouponNotFound))
}

/// Sorted, without repeats: how restrictions are kept.
pub fn distinct<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    items.iter().cloned().collect::<BTreeSet<T>>().into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        s.parse().unwrap()
    }

    fn coupon(kind: Kind, value: Option<&str>) -> Coupon {
        let now = Utc::now();
        Coupon {
            id: 1,
            code: "SAVE".into(),
            kind,
            value: value.map(m),
            min_subtotal: None,
            starts_at: None,
            ends_at: None,
            usage_limit: None,
            per_customer_limit: None,
            categories: Vec::new(),
            product_ids: Vec::new(),
            active: true,
            used: 0,
            created_at: now,
            updated_at: now,
        }
    }

    fn lines(totals: &[(&str, &str)]) -> Vec<Priced> {
        let line = |(i, (c, t)): (usize, &(&str, &str))| Priced {
            product_id: i as u64 + 1,
            category: c.to_string(),
            total: m(t),
        };
        totals.iter().enumerate().map(line).collect()
    }

    #[test]
    fn shares_sum_to_the_discount_and_fall_on_eligible_lines() {
        let mut c = coupon(Kind::Percent, Some("10"));
        c.categories = vec!["beauty".into()];
        let a =
            c.apply(&lines(&[("beauty", "10.01"), ("food", "50"), ("beauty", "20.02"), ("beauty", "3.33")])).unwrap();
        // 10 % of 33.36, half-up.
        assert_eq!(a.discount, m("3.34"));
        assert_eq!(a.shares[1], Money::ZERO);
        assert_eq!(a.shares.iter().map(|s| s.amount()).sum::<Decimal>(), m("3.34").amount());
        assert_eq!(a.shares, vec![m("1"), Money::ZERO, m("2.01"), m("0.33")]);
    }

    #[test]
    fn a_fixed_value_is_capped_at_the_eligible_sum() {
        let mut c = coupon(Kind::Fixed, Some("25"));
        c.product_ids = vec![2];
        let a = c.apply(&lines(&[("x", "100"), ("x", "19.99")])).unwrap();
        assert_eq!(a.discount, m("19.99"));
        assert_eq!(a.shares, vec![Money::ZERO, m("19.99")]);
    }

    #[test]
    fn the_minimum_and_the_restriction_refuse() {
        let mut c = coupon(Kind::FreeShipping, None);
        c.min_subtotal = Some(m("50"));
        let e = c.apply(&lines(&[("x", "49.99")])).unwrap_err();
        assert_eq!(e.code, ErrorCode::CouponNotApplicable);
        assert!(c.apply(&lines(&[("x", "50")])).unwrap().free_shipping);
        let mut c = coupon(Kind::Percent, Some("5"));
        c.categories = vec!["shoes".into()];
        assert_eq!(c.apply(&lines(&[("x", "10")])).unwrap_err().code, ErrorCode::CouponNotApplicable);
    }

    #[test]
    fn dates_activity_and_limits() {
        let now = Utc::now();
        let mut c = coupon(Kind::Percent, Some("5"));
        c.ends_at = Some(now);
        assert_eq!(c.usable(now).unwrap_err().code, ErrorCode::CouponExpired);
        c.ends_at = None;
        c.starts_at = Some(now + chrono::Duration::minutes(1));
        assert_eq!(c.usable(now).unwrap_err().code, ErrorCode::CouponExpired);
        c.starts_at = None;
        c.active = false;
        assert_eq!(c.usable(now).unwrap_err().code, ErrorCode::CouponNotFound);
        c.active = true;
        c.usage_limit = Some(2);
        c.per_customer_limit = Some(1);
        assert!(c.left_for(0).is_ok());
        assert_eq!(c.left_for(1).unwrap_err().code, ErrorCode::CouponExhausted);
        c.used = 2;
        assert_eq!(c.left_for(0).unwrap_err().code, ErrorCode::CouponExhausted);
    }
}
