//! `/api/v1/admin/coupons`: the shop's codes, with how often each was used.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use rust_decimal::Decimal;
use serde_json::json;

use super::{COUPONS, Coupon, CouponView, Kind, distinct};
use crate::audit::{self, Actor, Event};
use crate::auth::guard::Admin;
use crate::error::{ApiError, ApiResult, ErrorCode, FieldErrors, OnConflict};
use crate::http::envelope::{Created, Reply};
use crate::http::json::JsonBody;
use crate::state::AppState;
use crate::types::{Amount, Money};
use serde::Deserialize;

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename = "CouponInput", rename_all = "camelCase")]
pub struct CouponInput {
    /// Letters, digits, `-` and `_`; matched without regard to case.
    pub code: String,
    pub r#type: Kind,
    /// PERCENT: 0 to 100; FIXED: an amount above 0; not given for FREE_SHIPPING.
    pub value: Option<Amount>,
    pub min_subtotal: Option<Amount>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub usage_limit: Option<u64>,
    pub per_customer_limit: Option<u64>,
    /// Category slugs the discount falls on (with `productIds`; every line when both are empty).
    #[oai(validator(max_items = 100))]
    pub categories: Option<Vec<String>>,
    #[oai(validator(max_items = 1000))]
    pub product_ids: Option<Vec<u64>>,
    /// Default true.
    pub active: Option<bool>,
}

/// A partial change: an absent field stays, `null` clears an optional one.
#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename = "CouponPatch", rename_all = "camelCase")]
pub struct CouponPatch {
    pub code: Option<String>,
    pub r#type: Option<Kind>,
    #[serde(default)]
    pub value: MaybeUndefined<Amount>,
    #[serde(default)]
    pub min_subtotal: MaybeUndefined<Amount>,
    #[serde(default)]
    pub starts_at: MaybeUndefined<DateTime<Utc>>,
    #[serde(default)]
    pub ends_at: MaybeUndefined<DateTime<Utc>>,
    #[serde(default)]
    pub usage_limit: MaybeUndefined<u64>,
    #[serde(default)]
    pub per_customer_limit: MaybeUndefined<u64>,
    #[oai(validator(max_items = 100))]
    pub categories: Option<Vec<String>>,
    #[oai(validator(max_items = 1000))]
    pub product_ids: Option<Vec<u64>>,
    pub active: Option<bool>,
}

#[derive(Debug, Object)]
pub struct CouponList {
    pub coupons: Vec<CouponView>,
    pub total: u64,
}

#[derive(Debug, Object)]
pub struct DeletedCoupon {
    pub id: u64,
    pub deleted: bool,
}

fn set<T>(field: &mut Option<T>, v: MaybeUndefined<T>) {
    match v {
        MaybeUndefined::Value(v) => *field = Some(v),
        MaybeUndefined::Null => *field = None,
        MaybeUndefined::Undefined => {}
    }
}

fn slugs(categories: &[String]) -> Vec<String> {
    distinct(&categories.iter().map(|s| s.trim().to_lowercase()).collect::<Vec<_>>())
}

/// An amount as a coupon keeps it: exact to the cent.
fn money(field: &str, a: Option<Amount>) -> ApiResult<Option<Money>> {
    a.map(|a| Money::exact(a.0).map_err(|_| ApiError::field(field, "At most 2 decimals"))).transpose()
}

fn money_patch(field: &str, a: MaybeUndefined<Amount>) -> ApiResult<MaybeUndefined<Money>> {
    Ok(match a {
        MaybeUndefined::Value(v) => MaybeUndefined::Value(money(field, Some(v))?.expect("a value")),
        MaybeUndefined::Null => MaybeUndefined::Null,
        MaybeUndefined::Undefined => MaybeUndefined::Undefined,
    })
}

fn patch(c: &mut Coupon, p: CouponPatch) -> ApiResult<()> {
    if let Some(code) = p.code {
        c.code = code.trim().to_string();
    }
    if let Some(kind) = p.r#type {
        c.kind = kind;
    }
    set(&mut c.value, money_patch("value", p.value)?);
    set(&mut c.min_subtotal, money_patch("minSubtotal", p.min_subtotal)?);
    set(&mut c.starts_at, p.starts_at);
    set(&mut c.ends_at, p.ends_at);
    set(&mut c.usage_limit, p.usage_limit);
    set(&mut c.per_customer_limit, p.per_customer_limit);
    if let Some(cats) = p.categories {
        c.categories = slugs(&cats);
    }
    if let Some(ids) = p.product_ids {
        c.product_ids = distinct(&ids);
    }
    if let Some(a) = p.active {
        c.active = a;
    }
    Ok(())
}

/// The rules of a coupon as a whole, checked after every create or change.
fn check(c: &Coupon) -> ApiResult<()> {
    let mut errors = FieldErrors::new();
    let mut bad = |field: &str, message: &str| errors.entry(field.into()).or_default().push(message.into());
    let code_ok = (1..=50).contains(&c.code.chars().count())
        && c.code.chars().all(|ch| ch.is_alphanumeric() || ch == '-' || ch == '_');
    if !code_ok {
        bad("code", "1 to 50 letters, digits, - or _");
    }
    match (c.kind, c.value) {
        (Kind::Percent, Some(v)) if v.amount() > Decimal::ZERO && v.amount() <= Decimal::ONE_HUNDRED => {}
        (Kind::Percent, _) => bad("value", "A percentage above 0 and at most 100"),
        (Kind::Fixed, Some(v)) if v.is_positive() => {}
        (Kind::Fixed, _) => bad("value", "An amount above 0"),
        (Kind::FreeShipping, None) => {}
        (Kind::FreeShipping, Some(_)) => bad("value", "A free-shipping code takes no value"),
    }
    if c.min_subtotal.is_some_and(|m| m.amount().is_sign_negative()) {
        bad("minSubtotal", "At least 0");
    }
    if let (Some(s), Some(e)) = (c.starts_at, c.ends_at)
        && e <= s
    {
        bad("endsAt", "After startsAt");
    }
    if c.usage_limit == Some(0) {
        bad("usageLimit", "At least 1 (or null for no limit)");
    }
    if c.per_customer_limit == Some(0) {
        bad("perCustomerLimit", "At least 1 (or null for no limit)");
    }
    if c.categories.len() > 100 {
        bad("categories", "At most 100 categories");
    }
    if c.product_ids.len() > 1000 {
        bad("productIds", "At most 1000 products");
    }
    if c.categories.iter().any(|s| s.is_empty()) {
        bad("categories", "Category slugs, not empty");
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::validation(errors)) }
}

pub struct CouponsApi;

#[OpenApi(prefix_path = "/api/v1/admin/coupons", tag = "crate::openapi::Tag::Admin")]
impl CouponsApi {
    /// Every coupon, newest first, with its uses.
    #[oai(path = "/", method = "get", operation_id = "listCoupons")]
    async fn list(&self, state: Data<&AppState>, _admin: Admin) -> ApiResult<Reply<CouponList>> {
        let r = state.store.read()?;
        let coupons: Vec<CouponView> =
            r.scan(&COUPONS, &(), true)?.map(|c| c.map(|c| c.view())).collect::<Result<_, _>>()?;
        Ok(Reply::ok(CouponList { total: coupons.len() as u64, coupons }))
    }

    /// A new code. Codes are unique without regard to case.
    #[oai(path = "/", method = "post", operation_id = "createCoupon")]
    async fn create(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        body: JsonBody<CouponInput>,
    ) -> ApiResult<Created<CouponView>> {
        let i = body.0;
        let now = Utc::now();
        let mut c = Coupon {
            id: 0,
            code: i.code.trim().to_string(),
            kind: i.r#type,
            value: money("value", i.value)?,
            min_subtotal: money("minSubtotal", i.min_subtotal)?,
            starts_at: i.starts_at,
            ends_at: i.ends_at,
            usage_limit: i.usage_limit,
            per_customer_limit: i.per_customer_limit,
            categories: slugs(&i.categories.unwrap_or_default()),
            product_ids: distinct(&i.product_ids.unwrap_or_default()),
            active: i.active.unwrap_or(true),
            used: 0,
            created_at: now,
            updated_at: now,
        };
        check(&c)?;
        let actor = Actor::of(req, Some(admin.0.user_id));
        let c = state
            .store
            .write(move |w| {
                c.id = w.next_id(&COUPONS)?;
                w.put(&COUPONS, &c.id, &c).on_conflict(ErrorCode::CouponExists)?;
                audit::record(
                    w,
                    &actor,
                    Event::new("COUPON_CREATE", "Coupon", c.id).metadata(json!({ "code": c.code })),
                )?;
                Ok::<_, ApiError>(c)
            })
            .await?;
        Ok(Created::new(c.view()))
    }

    /// One coupon.
    #[oai(path = "/:id", method = "get", operation_id = "getCoupon")]
    async fn get(&self, state: Data<&AppState>, _admin: Admin, id: Path<u64>) -> ApiResult<Reply<CouponView>> {
        let c = state.store.read()?.get(&COUPONS, &id.0)?.ok_or_else(|| ApiError::new(ErrorCode::CouponNotFound))?;
        Ok(Reply::ok(c.view()))
    }

    /// Change a coupon. Orders placed with it keep the discount they got.
    #[oai(path = "/:id", method = "patch", operation_id = "updateCoupon")]
    async fn update(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<u64>,
        body: JsonBody<CouponPatch>,
    ) -> ApiResult<Reply<CouponView>> {
        let (id, p) = (id.0, body.0);
        let actor = Actor::of(req, Some(admin.0.user_id));
        let c = state
            .store
            .write(move |w| {
                let before = w.get(&COUPONS, &id)?.ok_or_else(|| ApiError::new(ErrorCode::CouponNotFound))?;
                let mut c = before.clone();
                patch(&mut c, p)?;
                check(&c)?;
                c.updated_at = Utc::now();
                w.put(&COUPONS, &id, &c).on_conflict(ErrorCode::CouponExists)?;
                audit::record(
                    w,
                    &actor,
                    Event::new("COUPON_UPDATE", "Coupon", id).change(
                        json!({ "code": before.code, "active": before.active }),
                        json!({ "code": c.code, "active": c.active }),
                    ),
                )?;
                Ok::<_, ApiError>(c)
            })
            .await?;
        Ok(Reply::ok(c.view()))
    }

    /// Delete a coupon. Orders placed with it keep their code and discount.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteCoupon")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<u64>,
    ) -> ApiResult<Reply<DeletedCoupon>> {
        let id = id.0;
        let actor = Actor::of(req, Some(admin.0.user_id));
        state
            .store
            .write(move |w| {
                let c = w.delete(&COUPONS, &id)?.ok_or_else(|| ApiError::new(ErrorCode::CouponNotFound))?;
                audit::record(
                    w,
                    &actor,
                    Event::new("COUPON_DELETE", "Coupon", id).metadata(json!({ "code": c.code })),
                )?;
                Ok::<_, ApiError>(())
            })
            .await?;
        Ok(Reply::ok(DeletedCoupon { id, deleted: true }))
    }
}
