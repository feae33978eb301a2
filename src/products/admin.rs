//! `/api/v1/admin/products`: the catalog as its owner sees it — inactive products (drafts, and
//! deleted ones kept for past orders) included, so one can be found, opened and brought back.
//! Read from the in-memory catalog.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{Enum, Object, OpenApi};

use super::api::{ProductDetail, SortField, SortOrder, not_found};
use super::{Product, ProductView};
use crate::auth::guard::Admin;
use crate::error::ApiResult;
use crate::http::envelope::Reply;
use crate::state::AppState;
use crate::types::{Count, Paging};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "ProductState", rename_all = "UPPERCASE")]
pub enum State {
    Active,
    Inactive,
    All,
}

#[derive(Debug, Object)]
#[oai(rename = "AdminProductPage")]
pub struct Page {
    pub products: Vec<ProductView>,
    pub total: u64,
    pub skip: u64,
    pub limit: u64,
}

fn sort_key(a: &Product, b: &Product, by: SortField) -> std::cmp::Ordering {
    match by {
        SortField::Title => a.title.to_lowercase().cmp(&b.title.to_lowercase()),
        SortField::Price => a.price.amount().cmp(&b.price.amount()),
        SortField::Rating => a.rating().cmp(&b.rating()),
        SortField::Stock => a.stock.cmp(&b.stock),
        SortField::CreatedAt => a.created_at.cmp(&b.created_at),
        SortField::DiscountPercentage => a.discount_percentage.cmp(&b.discount_percentage),
    }
    .then(a.id.cmp(&b.id))
}

pub struct AdminCatalogApi;

#[OpenApi(prefix_path = "/api/v1/admin/products", tag = "crate::openapi::Tag::Admin")]
impl AdminCatalogApi {
    /// Every product, active or not (`state`), newest first unless sorted; `search` matches
    /// title, brand, category and SKU (case-insensitive); `category` is a slug.
    #[oai(path = "/", method = "get", operation_id = "listAdminProducts")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        _admin: Admin,
        skip: Query<Option<Count>>,
        limit: Query<Option<Count>>,
        #[oai(name = "state")] wanted: Query<Option<State>>,
        #[oai(validator(max_length = 200))] search: Query<Option<String>>,
        #[oai(validator(max_length = 100))] category: Query<Option<String>>,
        #[oai(name = "inStock")] in_stock: Query<Option<bool>>,
        #[oai(name = "sortBy")] sort_by: Query<Option<SortField>>,
        order: Query<Option<SortOrder>>,
    ) -> ApiResult<Reply<Page>> {
        let paging = Paging::new(skip.0, limit.0);
        let needle = search.0.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
        let wanted = wanted.0.unwrap_or(State::All);
        let matches = |p: &Product| {
            let shown = match wanted {
                State::All => true,
                State::Active => p.is_active,
                State::Inactive => !p.is_active,
            };
            shown
                && category.0.as_deref().is_none_or(|c| p.category == super::slug(c))
                && (in_stock.0 != Some(true) || p.stock > 0)
                && needle.as_deref().is_none_or(|n| {
                    [&p.title, &p.brand, &p.category, &p.sku].iter().any(|h| h.to_lowercase().contains(n))
                })
        };
        let mut found: Vec<Arc<Product>> = state.catalog.all().into_iter().filter(|p| matches(p)).collect();
        let by = sort_by.0.unwrap_or(SortField::CreatedAt);
        let desc = order.0.map_or(sort_by.0.is_none(), |o| o == SortOrder::Desc);
        found.sort_by(|a, b| if desc { sort_key(b, a, by) } else { sort_key(a, b, by) });
        let total = found.len() as u64;
        let products = found.iter().skip(paging.skip).take(paging.limit).map(|p| p.view()).collect();
        Ok(Reply::ok(Page { products, total, skip: paging.skip as u64, limit: paging.limit as u64 }))
    }

    /// One product, active or not, with its latest 10 reviews.
    #[oai(path = "/:id", method = "get", operation_id = "getAdminProduct")]
    async fn get(&self, state: Data<&AppState>, _admin: Admin, id: Path<u64>) -> ApiResult<Reply<ProductDetail>> {
        let p = state.catalog.get(id.0).ok_or_else(not_found)?;
        let reviews = super::reviews::page(&state.store.read()?, p.id, 0, 10)?.iter().map(|r| r.view()).collect();
        Ok(Reply::ok(ProductDetail { product: p.view(), reviews }))
    }
}
