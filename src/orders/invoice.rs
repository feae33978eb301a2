//! The invoice of an order and the credit note of each of its refunds, as the documents
//! [`crate::pdf`] draws: what they say is decided here, how it looks there.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::Order;
use crate::payments::Payment;
use crate::payments::refunds::{Refund, RefundStatus};
use crate::pdf::{Document, Line, Paper, Party};
use crate::shop::{PaperSize, ShopSettings};
use crate::users::User;

/// What a document of an order is drawn from, read in one snapshot.
pub struct Sources {
    pub order: Order,
    pub customer: Option<User>,
    pub shop: ShopSettings,
    pub logo: Option<Vec<u8>>,
    pub payment: Option<Payment>,
    /// The order's refunds that went through, oldest first: a credit note's number is its place.
    pub refunds: Vec<Refund>,
    pub tax_rate: Decimal,
    pub timezone: chrono_tz::Tz,
}

impl Sources {
    fn date(&self, at: &DateTime<Utc>) -> String {
        at.with_timezone(&self.timezone).format("%Y-%m-%d").to_string()
    }

    fn seller(&self) -> Party {
        let s = &self.shop;
        let mut lines = vec![s.name.clone()];
        lines.extend(s.legal_name.clone().filter(|l| *l != s.name));
        lines.extend(s.address.clone());
        lines.extend(s.tax_id.as_ref().map(|t| format!("Tax ID: {t}")));
        lines.extend(s.support_email.clone());
        Party { lines }
    }

    fn buyer(&self) -> Party {
        let a = &self.order.address;
        let mut lines = vec![
            format!("{} {}", a.first_name.trim(), a.last_name.trim()),
            a.address.trim().to_string(),
            format!("{} {}", a.zip_code.trim(), a.city.trim()),
        ];
        lines.extend([a.state.trim(), a.country.trim()].into_iter().filter(|s| !s.is_empty()).map(str::to_string));
        let email = self.order.email.clone().or_else(|| self.customer.as_ref().map(|u| u.email.clone()));
        lines.extend(email);
        Party { lines }
    }

    fn paper(&self) -> Paper {
        match self.shop.paper_size {
            PaperSize::A4 => Paper::A4,
            PaperSize::Letter => Paper::Letter,
        }
    }

    fn percent(&self) -> String {
        format!("{}%", (self.tax_rate * Decimal::ONE_HUNDRED).normalize())
    }

    /// The payment's state in words, and when the money came.
    fn payment_state(&self) -> (String, Option<String>) {
        use crate::payments::view::PaymentStatus as P;
        match &self.payment {
            Some(p) if p.status == P::Refunded => ("Refunded".into(), Some(self.date(&p.created_at))),
            Some(p) if p.status == P::PartiallyRefunded => {
                ("Paid, partly refunded".into(), Some(self.date(&p.created_at)))
            }
            Some(p) if p.status.is_paid() => ("Paid".into(), Some(self.date(&p.updated_at))),
            _ => ("Not paid".into(), None),
        }
    }

    fn document(&self, title: &str, number: String) -> Document {
        Document {
            title: title.into(),
            number,
            paper: self.paper(),
            seller: self.seller(),
            logo: self.logo.clone(),
            buyer: self.buyer(),
            facts: Vec::new(),
            lines: Vec::new(),
            totals: Vec::new(),
            grand_total: (String::new(), String::new()),
            stamp: None,
            footer: self.shop.invoice_footer.clone(),
        }
    }
}

/// The invoice's number: the order's.
pub fn invoice_number(o: &Order) -> String {
    format!("INV-{}", o.number)
}

/// The invoice: every line with its coupon share, the discount, the tax at its rate, the
/// shipping, the total, and whether (and when) it was paid.
pub fn invoice(src: &Sources) -> Document {
    let o = &src.order;
    let mut doc = src.document("Invoice", invoice_number(o));
    let (paid, paid_on) = src.payment_state();
    doc.facts = vec![("Invoice date".into(), src.date(&o.created_at)), ("Order".into(), o.label())];
    doc.facts.push(("Payment".into(), paid.clone()));
    doc.facts.extend(paid_on.map(|d| ("Paid on".into(), d)));
    doc.facts.extend(o.coupon.as_ref().map(|c| ("Coupon".into(), c.code.clone())));
    if o.status == super::Status::Cancelled {
        doc.facts.push(("Status".into(), "Cancelled".into()));
    }
    doc.stamp = (paid != "Not paid").then(|| "PAID".into());
    doc.lines = o
        .items
        .iter()
        .map(|i| Line {
            description: i.title.clone(),
            quantity: i.quantity.to_string(),
            unit_price: i.price.to_string(),
            discount: if i.discount.is_positive() { format!("-{}", i.discount) } else { String::new() },
            total: i.total.to_string(),
        })
        .collect();
    doc.totals = vec![("Subtotal".into(), o.subtotal.to_string())];
    if let Some(c) = &o.coupon {
        doc.totals.push((format!("Discount ({})", c.code), format!("-{}", o.discount)));
    }
    doc.totals.push((format!("Tax ({})", src.percent()), o.tax.to_string()));
    doc.totals.push(("Shipping".into(), o.shipping.to_string()));
    doc.grand_total = (format!("Total ({})", o.currency), o.total.to_string());
    doc
}

/// A credit note's number: the invoice's, and the refund's place among the order's refunds.
pub fn credit_note_number(o: &Order, place: usize) -> String {
    format!("CN-{}-{}", o.number, place + 1)
}

/// The credit note of refund `refund_id`, if it is one of the order's refunds that went
/// through.
pub fn credit_note(src: &Sources, refund_id: uuid::Uuid) -> Option<Document> {
    let place = src.refunds.iter().position(|r| r.id == refund_id && r.status == RefundStatus::Succeeded)?;
    let refund = &src.refunds[place];
    let o = &src.order;
    let mut doc = src.document("Credit note", credit_note_number(o, place));
    doc.facts = vec![
        ("Date".into(), src.date(&refund.created_at)),
        ("Invoice".into(), invoice_number(o)),
        ("Order".into(), o.label()),
    ];
    doc.lines = vec![Line {
        description: format!("Refund for order {} (invoice {})", o.label(), invoice_number(o)),
        quantity: "1".into(),
        unit_price: format!("-{}", refund.amount),
        discount: String::new(),
        total: format!("-{}", refund.amount),
    }];
    doc.grand_total = (format!("Credited ({})", o.currency), format!("-{}", refund.amount));
    doc.stamp = Some("REFUNDED".into());
    Some(doc)
}

/// PDFs drawn at once: each takes a core for a few milliseconds.
static PDF_WORK: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(2));

/// Reads what the documents of `order` are drawn from.
pub async fn sources(state: &crate::state::AppState, order: Order) -> crate::error::ApiResult<Sources> {
    use crate::payments::refunds::{REFUNDS, REFUNDS_BY_PAYMENT};
    use crate::payments::{PAYMENTS, PAYMENTS_BY_ORDER};
    let timezone = crate::shop::tz(state)?;
    let (customer, shop, logo_url, payment, refunds) = {
        let r = state.store.read()?;
        let customer = r.get(&crate::users::USERS, &order.user_id)?;
        let shop = crate::shop::settings(&r, &state.settings)?;
        let logo_url = crate::shop::logo(&r)?;
        let payments: Vec<Payment> =
            r.scan_index(&PAYMENTS, PAYMENTS_BY_ORDER, &(order.id,), false)?.collect::<Result<_, _>>()?;
        let mut refunds = Vec::new();
        for p in &payments {
            refunds
                .extend(r.scan_index(&REFUNDS, REFUNDS_BY_PAYMENT, &(p.id,), false)?.collect::<Result<Vec<_>, _>>()?);
        }
        refunds.retain(|r: &Refund| r.status == RefundStatus::Succeeded);
        refunds.sort_by_key(|r| (r.created_at, r.id));
        (customer, shop, logo_url, payments.into_iter().last(), refunds)
    };
    let logo = match logo_url {
        Some(url) => crate::uploads::read(state, &url).await,
        None => None,
    };
    Ok(Sources { order, customer, shop, logo, payment, refunds, tax_rate: state.settings.tax_rate, timezone })
}

/// Draws `doc` off the async runtime, two at a time.
pub async fn draw(doc: Document) -> crate::error::ApiResult<Vec<u8>> {
    let _permit = PDF_WORK.acquire().await.map_err(crate::error::ApiError::internal)?;
    tokio::task::spawn_blocking(move || crate::pdf::render(&doc)).await.map_err(crate::error::ApiError::internal)
}
