//! Products: the stored record, its rules, and the view the API shows. The store is the source of
//! truth; `catalog` keeps an in-memory copy for listing and filtering, and `crate::search` a
//! tantivy index for full-text search. Both are updated before a write is answered.

pub mod admin;
pub mod api;
pub mod bulk;
pub mod catalog;
pub mod images;
pub mod mirror;
pub mod prepared;
pub mod reviews;

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::error::ApiResult;
use crate::store::Collection;
use crate::types::{Amount, Money, number};
use crate::users::{Check, timestamp};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Product {
    pub id: u64,
    pub title: String,
    pub description: String,
    pub price: Money,
    #[serde(with = "rust_decimal::serde::str")]
    pub discount_percentage: Decimal,
    pub stock: i64,
    pub brand: String,
    /// A slug: lowercase, words joined by `-`.
    pub category: String,
    pub thumbnail: String,
    pub images: Vec<String>,
    pub tags: Vec<String>,
    pub sku: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Sum and number of review ratings: the rating is their mean.
    #[serde(default)]
    pub rating_sum: u64,
    #[serde(default)]
    pub rating_count: u64,
    /// Bumped by every write: the in-memory catalog and the search index keep the newest copy
    /// even when two writers' updates reach them out of order.
    #[serde(default)]
    pub version: u64,
}

pub static PRODUCTS: Collection<u64, Product> = Collection::new("products");

/// Stores a product with its version bumped: every product write goes through here.
pub fn save(w: &mut crate::store::WriteTx<'_>, p: &mut Product) -> Result<(), crate::store::StoreError> {
    p.version += 1;
    w.put(&PRODUCTS, &p.id, p)
}

impl Product {
    /// The mean review rating, 2 decimals, 0 without reviews.
    pub fn rating(&self) -> Decimal {
        if self.rating_count == 0 {
            return Decimal::ZERO;
        }
        (Decimal::from(self.rating_sum) / Decimal::from(self.rating_count))
            .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
    }

    /// price × (1 − discount/100), half-up to the cent.
    pub fn discounted_price(&self) -> Money {
        Money::from_decimal(self.price.amount() * (Decimal::ONE - self.discount_percentage / Decimal::ONE_HUNDRED))
    }

    pub fn view(&self) -> ProductView {
        ProductView {
            id: self.id,
            title: self.title.clone(),
            description: self.description.clone(),
            price: self.price,
            discount_percentage: number(self.discount_percentage),
            rating: number(self.rating()),
            stock: self.stock,
            brand: self.brand.clone(),
            category: self.category.clone(),
            thumbnail: crate::http::envelope::public_url(&self.thumbnail),
            images: self.images.iter().map(|i| crate::http::envelope::public_url(i)).collect(),
            tags: self.tags.clone(),
            sku: self.sku.clone(),
            is_active: self.is_active,
            created_at: timestamp(&self.created_at),
            updated_at: timestamp(&self.updated_at),
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(rename = "Product", rename_all = "camelCase")]
pub struct ProductView {
    pub id: u64,
    pub title: String,
    pub description: String,
    pub price: Money,
    pub discount_percentage: f64,
    /// Mean review rating, 2 decimals; 0 without reviews.
    pub rating: f64,
    pub stock: i64,
    pub brand: String,
    pub category: String,
    pub thumbnail: String,
    pub images: Vec<String>,
    pub tags: Vec<String>,
    pub sku: String,
    pub is_active: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// A product as an admin writes it: every field optional (PATCH/PUT are partial; POST checks
/// that the required ones are there).
#[derive(Debug, Default, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct ProductInput {
    #[oai(validator(max_length = 200, pattern = r"\S"))]
    pub title: Option<String>,
    #[oai(validator(max_length = 5000))]
    pub description: Option<String>,
    #[oai(validator(minimum(value = "0", exclusive), maximum(value = "10000000"), multiple_of = "0.01"))]
    pub price: Option<Amount>,
    #[oai(validator(minimum(value = "0"), maximum(value = "100"), multiple_of = "0.01"))]
    pub discount_percentage: Option<Amount>,
    #[oai(validator(minimum(value = "0")))]
    pub stock: Option<i64>,
    #[oai(validator(max_length = 100, pattern = r"\S"))]
    pub brand: Option<String>,
    /// Any text with a letter or digit; shown as its slug (`Smart Phones` → `smart-phones`).
    #[oai(validator(max_length = 100, pattern = r"[^\W_]"))]
    pub category: Option<String>,
    pub thumbnail: Option<String>,
    pub images: Option<Vec<String>>,
    #[oai(validator(max_items = 20, max_length = 50, pattern = r"\S"))]
    pub tags: Option<Vec<String>>,
    pub sku: Option<String>,
    pub is_active: Option<bool>,
}

/// `Smart Phones` → `smart-phones`.
pub fn slug(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

impl ProductInput {
    /// Checks the fields given; with `create`, also that the required ones are given.
    pub fn check(&self, create: bool) -> ApiResult<()> {
        let mut c = Check::default();
        let missing = |c: &mut Check, f: &str| c.add(f, "Required");
        match &self.title {
            Some(t) if t.trim().is_empty() || t.chars().count() > 200 => {
                c.add("title", "Title must be 1 to 200 characters")
            }
            None if create => missing(&mut c, "title"),
            _ => {}
        }
        match &self.price {
            Some(p) if p.0 <= Decimal::ZERO => c.add("price", "Price must be greater than 0"),
            Some(p) if Money::exact(p.0).is_err() => c.add("price", "Price must have at most 2 decimals"),
            Some(p) if p.0 > Decimal::from(10_000_000) => c.add("price", "Price is too large"),
            None if create => missing(&mut c, "price"),
            _ => {}
        }
        if self
            .discount_percentage
            .is_some_and(|d| d.0 < Decimal::ZERO || d.0 > Decimal::ONE_HUNDRED || d.0.normalize().scale() > 2)
        {
            c.add("discountPercentage", "Discount must be between 0 and 100 with at most 2 decimals");
        }
        match self.stock {
            Some(s) if s < 0 => c.add("stock", "Stock must be 0 or more"),
            None if create => missing(&mut c, "stock"),
            _ => {}
        }
        for (field, value) in [("brand", &self.brand), ("category", &self.category)] {
            match value {
                Some(v) if v.trim().is_empty() || v.chars().count() > 100 => {
                    c.add(field, "Must be 1 to 100 characters")
                }
                None if create => missing(&mut c, field),
                _ => {}
            }
        }
        if self.category.as_deref().is_some_and(|v| !v.trim().is_empty() && slug(v).is_empty()) {
            c.add("category", "Category needs letters or digits");
        }
        if self.description.as_ref().is_some_and(|d| d.chars().count() > 5000) {
            c.add("description", "Description must be at most 5000 characters");
        }
        if self
            .tags
            .as_ref()
            .is_some_and(|t| t.len() > 20 || t.iter().any(|t| t.trim().is_empty() || t.chars().count() > 50))
        {
            c.add("tags", "At most 20 tags of 1 to 50 characters");
        }
        c.finish()
    }

    /// Applies the given fields to `p`.
    pub fn apply(self, p: &mut Product) {
        if let Some(v) = self.title {
            p.title = v.trim().to_string();
        }
        if let Some(v) = self.description {
            p.description = v.trim().to_string();
        }
        if let Some(v) = self.price {
            p.price = Money::from_decimal(v.0);
        }
        if let Some(v) = self.discount_percentage {
            p.discount_percentage = v.0.normalize();
        }
        if let Some(v) = self.stock {
            p.stock = v;
        }
        if let Some(v) = self.brand {
            p.brand = v.trim().to_string();
        }
        if let Some(v) = self.category {
            p.category = slug(&v);
        }
        if let Some(v) = self.thumbnail {
            p.thumbnail = v;
        }
        if let Some(v) = self.images {
            p.images = v;
        }
        if let Some(v) = self.tags {
            p.tags = v.into_iter().map(|t| t.trim().to_lowercase()).collect();
        }
        if let Some(v) = self.sku {
            p.sku = v.trim().to_string();
        }
        if let Some(v) = self.is_active {
            p.is_active = v;
        }
    }
}

/// A new, empty product with id `id` (fields come from a `ProductInput`).
pub fn blank(id: u64) -> Product {
    let now = Utc::now();
    Product {
        id,
        title: String::new(),
        description: String::new(),
        price: Money::ZERO,
        discount_percentage: Decimal::ZERO,
        stock: 0,
        brand: String::new(),
        category: String::new(),
        thumbnail: String::new(),
        images: Vec::new(),
        tags: Vec::new(),
        sku: format!("SKU-{id:06}"),
        is_active: true,
        created_at: now,
        updated_at: now,
        rating_sum: 0,
        rating_count: 0,
        version: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_discounts() {
        assert_eq!(slug(" Smart Phones & more "), "smart-phones-more");
        let mut p = blank(1);
        p.price = "19.99".parse().unwrap();
        p.discount_percentage = Decimal::new(125, 1); // 12.5%
        assert_eq!(p.discounted_price().to_string(), "17.49"); // 17.49125 → 17.49
        p.rating_sum = 14;
        p.rating_count = 3;
        assert_eq!(p.rating(), Decimal::new(467, 2)); // 4.666… → 4.67
    }
}
