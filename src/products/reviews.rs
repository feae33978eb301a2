//! Product reviews: one per user and product; the product's rating is their mean.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use crate::store::{Collection, Index, ReadTx, StoreError, key};
use crate::users::timestamp;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Review {
    pub id: u64,
    pub product_id: u64,
    /// `None` for the demo catalog's reviews, which have no account behind them.
    pub user_id: Option<u64>,
    pub rating: u8,
    pub comment: String,
    pub date: DateTime<Utc>,
    pub reviewer_name: String,
    pub reviewer_email: String,
}

fn by_product_user(r: &Review) -> Vec<Vec<u8>> {
    r.user_id.map(|u| key::encode(&(r.product_id, u))).into_iter().collect()
}

fn by_id(r: &Review) -> Vec<Vec<u8>> {
    vec![key::encode(&r.id)]
}

pub static REVIEW_INDEXES: [Index<Review>; 2] =
    [Index::unique("reviews.by_product_user", by_product_user), Index::unique("reviews.by_id", by_id)];
/// Keyed (product id, review id): a product's reviews are one prefix, newest last.
pub static REVIEWS: Collection<(u64, u64), Review> = Collection::with_indexes("reviews", &REVIEW_INDEXES);
/// One review per product and user.
pub static REVIEWS_BY_PRODUCT_USER: &Index<Review> = &REVIEW_INDEXES[0];
/// A review by its id alone (moderation).
pub static REVIEWS_BY_ID: &Index<Review> = &REVIEW_INDEXES[1];

#[derive(Debug, Clone, Object)]
#[oai(rename = "Review", rename_all = "camelCase")]
pub struct ReviewView {
    pub id: u64,
    pub product_id: u64,
    pub user_id: Option<u64>,
    pub rating: u8,
    pub comment: String,
    pub date: String,
    pub reviewer_name: String,
    /// Only in the answer to the author's own review: a public view never shows an email.
    pub reviewer_email: Option<String>,
}

impl Review {
    /// As anyone may see it: the reviewer's name, never the email.
    pub fn view(&self) -> ReviewView {
        ReviewView { reviewer_email: None, ..self.own_view() }
    }

    /// As its author sees it in the answer to posting it.
    pub fn own_view(&self) -> ReviewView {
        ReviewView {
            id: self.id,
            product_id: self.product_id,
            user_id: self.user_id,
            rating: self.rating,
            comment: self.comment.clone(),
            date: timestamp(&self.date),
            reviewer_name: self.reviewer_name.clone(),
            reviewer_email: Some(self.reviewer_email.clone()),
        }
    }
}

/// A page of a product's reviews, newest first (reads only as far as the page).
pub fn page(r: &ReadTx, product_id: u64, skip: usize, limit: usize) -> Result<Vec<Review>, StoreError> {
    r.scan(&REVIEWS, &(product_id,), true)?.skip(skip).take(limit).collect()
}
