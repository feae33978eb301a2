//! The shop itself (API.md §6): its name, seller details, contact and formats. Kept in the
//! store and changed by its admins (`/admin/settings`), with `config.toml` (`SHOP_NAME`,
//! `SHOP_EMAIL`, `TIMEZONE`) as the defaults of what was never set; `GET /shop` is what a
//! storefront shows of it.

use chrono::Utc;
use poem::Request;
use poem::web::Data;
use poem_openapi::types::multipart::Upload;
use poem_openapi::{Enum, Multipart, Object, OpenApi};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Actor, Event};
use crate::auth::guard::Admin;
use crate::config::{PaymentProvider, Settings};
use crate::error::{ApiError, ApiResult};
use crate::http::envelope::{Reply, public_url};
use crate::http::json::JsonBody;
use crate::state::AppState;
use crate::store::{Collection, ReadTx, StoreError, WriteTx};
use crate::types::number;
use crate::users::{Check, is_email};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[oai(rename_all = "UPPERCASE")]
#[serde(rename_all = "UPPERCASE")]
pub enum PaperSize {
    A4,
    Letter,
}

/// What the owner set; `None`: the configured default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Stored {
    name: Option<String>,
    legal_name: Option<String>,
    address: Option<String>,
    tax_id: Option<String>,
    support_email: Option<String>,
    sender_name: Option<String>,
    currency: Option<String>,
    invoice_footer: Option<String>,
    paper_size: Option<PaperSize>,
    timezone: Option<String>,
    logo: Option<String>,
    /// The owner's switch for guest checkout (on unless turned off; `FEATURE_GUEST_CHECKOUT`
    /// off refuses guests whatever this says).
    #[serde(default)]
    guest_checkout: Option<bool>,
    updated_at: Option<chrono::DateTime<Utc>>,
}

static SHOP: Collection<str, Stored> = Collection::new("shop");
const KEY: &str = "settings";

/// The shop's settings as they apply now.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ShopSettings", rename_all = "camelCase")]
pub struct ShopSettings {
    pub name: String,
    /// The seller's registered name on invoices (the name when unset).
    pub legal_name: Option<String>,
    /// The seller's postal address on one line (`Königstraße 5, 80331 München, Germany`).
    pub address: Option<String>,
    pub tax_id: Option<String>,
    pub support_email: Option<String>,
    /// The display name of the shop's mails (the name when unset).
    pub sender_name: Option<String>,
    /// ISO 4217, e.g. `USD`.
    pub currency: String,
    pub invoice_footer: Option<String>,
    pub paper_size: PaperSize,
    /// IANA, e.g. `Europe/Berlin`: where the days of the sales figures begin.
    pub timezone: String,
    pub logo_url: Option<String>,
    /// Whether guests may order (`POST /orders/guest`); `FEATURE_GUEST_CHECKOUT` off refuses
    /// them whatever this says.
    pub guest_checkout: bool,
}

impl Stored {
    fn apply(&self, s: &Settings) -> ShopSettings {
        let name = self.name.clone().or_else(|| s.shop_name.clone()).unwrap_or_else(|| "shopd".into());
        ShopSettings {
            sender_name: self.sender_name.clone(),
            legal_name: self.legal_name.clone(),
            address: self.address.clone(),
            tax_id: self.tax_id.clone(),
            support_email: self.support_email.clone().or_else(|| s.shop_email.clone()),
            currency: self.currency.clone().unwrap_or_else(|| "USD".into()),
            invoice_footer: self.invoice_footer.clone(),
            paper_size: self.paper_size.unwrap_or(PaperSize::A4),
            timezone: self.timezone.clone().unwrap_or_else(|| s.timezone.clone()),
            logo_url: self.logo.as_deref().map(public_url),
            guest_checkout: self.guest_checkout.unwrap_or(true),
            name,
        }
    }
}

/// The settings in force, read from a snapshot.
pub fn settings(r: &ReadTx, s: &Settings) -> Result<ShopSettings, StoreError> {
    Ok(r.get(&SHOP, KEY)?.unwrap_or_default().apply(s))
}

/// The shop's currency inside a write (an order takes it when placed).
pub fn currency_in(w: &mut WriteTx<'_>, s: &Settings) -> Result<String, StoreError> {
    Ok(w.get(&SHOP, KEY)?.unwrap_or_default().apply(s).currency)
}

/// The stored logo's own URL (`/uploads/...`), as the server reads it back.
pub fn logo(r: &ReadTx) -> Result<Option<String>, StoreError> {
    Ok(r.get(&SHOP, KEY)?.and_then(|s| s.logo))
}

/// The shop's timezone now (the owner's choice, else `TIMEZONE`).
pub fn tz(state: &AppState) -> ApiResult<chrono_tz::Tz> {
    let zone = settings(&state.store.read()?, &state.settings)?.timezone;
    zone.parse().map_err(|_| ApiError::internal(format!("the stored timezone `{zone}` is not known")))
}

#[derive(Debug, Object)]
#[oai(rename = "Shop", rename_all = "camelCase")]
pub struct ShopView {
    pub name: String,
    pub currency: String,
    pub support_email: Option<String>,
    pub logo_url: Option<String>,
    /// Whether `POST /orders/guest` takes orders.
    pub guest_checkout: bool,
    /// `stripe`, `offline` or `manual`.
    pub payment_provider: String,
    pub stripe_publishable_key: Option<String>,
    pub tax_rate: f64,
    pub free_shipping_threshold: f64,
    pub shipping_flat_rate: f64,
    /// For Web Push subscriptions (`applicationServerKey`, base64url).
    pub vapid_public_key: Option<String>,
    pub timezone: String,
}

/// A change of settings: the fields given are set, an empty text clears an optional one.
#[derive(Debug, Default, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename = "ShopSettingsInput", rename_all = "camelCase")]
pub struct Input {
    #[oai(validator(max_length = 100, pattern = r"\S"))]
    pub name: Option<String>,
    #[oai(validator(max_length = 200))]
    pub legal_name: Option<String>,
    #[oai(validator(max_length = 200))]
    pub address: Option<String>,
    #[oai(validator(max_length = 50))]
    pub tax_id: Option<String>,
    #[oai(validator(max_length = 254))]
    pub support_email: Option<String>,
    #[oai(validator(max_length = 100))]
    pub sender_name: Option<String>,
    #[oai(validator(pattern = r"^[A-Za-z]{3}$"))]
    pub currency: Option<String>,
    #[oai(validator(max_length = 1000))]
    pub invoice_footer: Option<String>,
    pub paper_size: Option<PaperSize>,
    #[oai(validator(max_length = 64))]
    pub timezone: Option<String>,
    pub guest_checkout: Option<bool>,
}

/// `Some("")` clears, `Some(text)` sets (trimmed), `None` leaves.
fn set(field: &mut Option<String>, value: Option<String>) {
    if let Some(v) = value {
        let v = v.trim();
        *field = (!v.is_empty()).then(|| v.to_string());
    }
}

impl Input {
    fn check(&self) -> ApiResult<()> {
        let mut c = Check::default();
        if self.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            c.add("name", "The shop needs a name");
        }
        if let Some(e) = self.support_email.as_deref().map(str::trim).filter(|e| !e.is_empty())
            && !is_email(e)
        {
            c.add("supportEmail", "Invalid email format");
        }
        if self.currency.as_deref().is_some_and(|v| v.len() != 3 || !v.chars().all(|c| c.is_ascii_alphabetic())) {
            c.add("currency", "A currency is its three-letter ISO 4217 code, like USD or EUR");
        }
        if let Some(zone) = self.timezone.as_deref().map(str::trim).filter(|z| !z.is_empty())
            && zone.parse::<chrono_tz::Tz>().is_err()
        {
            c.add("timezone", "Not an IANA timezone name (like UTC or Europe/Berlin)");
        }
        c.finish()
    }

    fn apply(self, s: &mut Stored) {
        set(&mut s.name, self.name);
        set(&mut s.legal_name, self.legal_name);
        set(&mut s.address, self.address);
        set(&mut s.tax_id, self.tax_id);
        set(&mut s.support_email, self.support_email);
        set(&mut s.sender_name, self.sender_name);
        set(&mut s.currency, self.currency.map(|c| c.to_ascii_uppercase()));
        set(&mut s.invoice_footer, self.invoice_footer);
        set(&mut s.timezone, self.timezone);
        if let Some(g) = self.guest_checkout {
            s.guest_checkout = Some(g);
        }
        if let Some(p) = self.paper_size {
            s.paper_size = Some(p);
        }
    }
}

#[derive(Debug, Multipart)]
pub struct LogoForm {
    /// A JPEG, PNG or WebP image; redrawn at most 512 px a side (a transparent one stays PNG).
    pub logo: Upload,
}

pub struct ShopApi;

#[OpenApi(tag = "crate::openapi::Tag::Operations")]
impl ShopApi {
    /// The shop as a storefront shows it: name, currency, contact, logo, how it takes payments,
    /// its tax and shipping rates.
    #[oai(path = "/api/v1/shop", method = "get", operation_id = "getShop")]
    async fn shop(&self, state: Data<&AppState>) -> ApiResult<Reply<ShopView>> {
        let s = &state.settings;
        let shop = settings(&state.store.read()?, s)?;
        let provider = match s.payments().unwrap_or(PaymentProvider::Offline) {
            PaymentProvider::Stripe => "stripe",
            PaymentProvider::Offline => "offline",
            PaymentProvider::Manual => "manual",
        };
        Ok(Reply::ok(ShopView {
            name: shop.name,
            currency: shop.currency,
            support_email: shop.support_email,
            logo_url: shop.logo_url,
            guest_checkout: s.feature_guest_checkout && shop.guest_checkout,
            payment_provider: provider.into(),
            stripe_publishable_key: s.stripe_publishable_key.clone(),
            tax_rate: number(s.tax_rate),
            free_shipping_threshold: number(s.free_shipping_threshold),
            shipping_flat_rate: number(s.shipping_flat_rate),
            vapid_public_key: Some(state.vapid.public_key()),
            timezone: shop.timezone,
        }))
    }

    /// The shop's settings.
    #[oai(
        path = "/api/v1/admin/settings",
        method = "get",
        operation_id = "getSettings",
        tag = "crate::openapi::Tag::Admin"
    )]
    async fn get(&self, state: Data<&AppState>, _admin: Admin) -> ApiResult<Reply<ShopSettings>> {
        Ok(Reply::ok(settings(&state.store.read()?, &state.settings)?))
    }

    /// Change the shop's settings: the fields given are set, an empty text clears an optional
    /// one. Audited (`SETTINGS_UPDATE`).
    #[oai(
        path = "/api/v1/admin/settings",
        method = "put",
        operation_id = "updateSettings",
        tag = "crate::openapi::Tag::Admin"
    )]
    async fn put(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        body: JsonBody<Input>,
    ) -> ApiResult<Reply<ShopSettings>> {
        body.0.check()?;
        let (input, actor, config) = (body.0, Actor::of(req, Some(admin.0.user_id)), state.settings.clone());
        let now = state
            .store
            .write(move |w| {
                let mut stored = w.get(&SHOP, KEY)?.unwrap_or_default();
                let before = stored.apply(&config);
                input.apply(&mut stored);
                stored.updated_at = Some(Utc::now());
                w.put(&SHOP, KEY, &stored)?;
                let after = stored.apply(&config);
                let (old, new) =
                    (poem_openapi::types::ToJSON::to_json(&before), poem_openapi::types::ToJSON::to_json(&after));
                audit::record(
                    w,
                    &actor,
                    Event::about("SETTINGS_UPDATE", "Shop").change(old.unwrap_or_default(), new.unwrap_or_default()),
                )?;
                Ok::<_, ApiError>(after)
            })
            .await?;
        Ok(Reply::ok(now))
    }

    /// Upload the shop's logo (multipart field `logo`), decoded like every upload.
    #[oai(
        path = "/api/v1/admin/settings/logo",
        method = "post",
        operation_id = "uploadLogo",
        tag = "crate::openapi::Tag::Admin"
    )]
    async fn logo(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        form: LogoForm,
    ) -> ApiResult<Reply<ShopSettings>> {
        let stored = crate::uploads::store_image(
            &state,
            "logo",
            "shop",
            "logo",
            form.logo,
            crate::uploads::Keep::Redrawn(512),
            false,
        )
        .await?;
        let (url, actor, config) = (stored.url.clone(), Actor::of(req, Some(admin.0.user_id)), state.settings.clone());
        let written = state
            .store
            .write(move |w| {
                let mut s = w.get(&SHOP, KEY)?.unwrap_or_default();
                let old = s.logo.replace(url.clone());
                s.updated_at = Some(Utc::now());
                w.put(&SHOP, KEY, &s)?;
                audit::record(w, &actor, Event::about("LOGO_CHANGE", "Shop").change(json!(old), json!(url)))?;
                Ok::<_, ApiError>((old, s.apply(&config)))
            })
            .await;
        match written {
            Ok((old, now)) => {
                if let Some(old) = old {
                    crate::uploads::remove(&state, &old);
                }
                Ok(Reply::ok(now))
            }
            Err(e) => {
                crate::uploads::remove(&state, &stored.url);
                Err(e)
            }
        }
    }
}
