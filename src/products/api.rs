//! `/api/v1/products`: lists, search, categories, details, admin writes, stock, images, reviews.

use std::collections::BTreeMap;

use chrono::Utc;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::types::ToJSON;
use poem_openapi::{Enum, Object, OpenApi};
use serde::Deserialize;
use serde_json::{Value, json};

use super::catalog::{Catalog, Filter, ListQuery, Page, SortBy};
use super::images::{ImagesForm, save_all};
use super::mirror::{bump_generation, publish, write_published};
use super::prepared::{self, Select};
use super::reviews::{self, REVIEWS, Review, ReviewView};
use super::{PRODUCTS, Product, ProductInput, ProductView, blank, slug};
use crate::audit::{self, Actor, Event};
use crate::auth::guard::{Admin, Bearer};
use crate::error::{ApiError, ApiResult, ErrorCode, OnConflict};
use crate::http::envelope::{Created, Reply};
use crate::http::json::JsonBody;
use crate::http::ready::Ready;
use crate::search::Hits;
use crate::state::AppState;
use crate::types::{Count, Number, Paging};
use crate::users::USERS;

const SELECTABLE: [&str; 16] = [
    "id",
    "title",
    "description",
    "price",
    "discountPercentage",
    "rating",
    "stock",
    "brand",
    "category",
    "thumbnail",
    "images",
    "tags",
    "sku",
    "isActive",
    "createdAt",
    "updatedAt",
];

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ProductPage {
    /// Products; with `select`, each has only the chosen fields and `id`.
    pub products: Vec<SelectedProduct>,
    pub total: u64,
    pub skip: u64,
    pub limit: u64,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Object)]
pub struct Facets {
    /// Matches per category slug.
    pub category: BTreeMap<String, u64>,
    /// Matches per brand.
    pub brand: BTreeMap<String, u64>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SearchPage {
    /// Best matches first (or in `sortBy` order); with `select`, only the chosen fields and `id`.
    pub products: Vec<SelectedProduct>,
    pub total: u64,
    pub skip: u64,
    pub limit: u64,
    pub next_cursor: Option<String>,
    /// Counts over all matches, not just this page.
    pub facets: Facets,
}

#[derive(Debug, Object)]
pub struct ProductDetail {
    #[oai(flatten)]
    pub product: ProductView,
    /// The latest 10, newest first.
    pub reviews: Vec<ReviewView>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct DeletedProduct {
    pub id: u64,
    pub is_deleted: bool,
}

#[derive(Debug, Deserialize, Object)]
pub struct StockChange {
    /// Added to the stock (negative removes).
    pub quantity: i64,
}

#[derive(Debug, Deserialize, Object)]
pub struct NewReview {
    /// 1 to 5.
    #[oai(validator(minimum(value = "1"), maximum(value = "5")))]
    pub rating: i64,
    #[oai(validator(max_length = 2000))]
    pub comment: Option<String>,
}

#[derive(Debug, Object)]
pub struct ReviewPage {
    pub reviews: Vec<ReviewView>,
    pub total: u64,
    pub skip: u64,
    pub limit: u64,
}

/// What a product list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum SortField {
    #[oai(rename = "title")]
    Title,
    #[oai(rename = "price")]
    Price,
    #[oai(rename = "rating")]
    Rating,
    #[oai(rename = "stock")]
    Stock,
    #[oai(rename = "createdAt")]
    CreatedAt,
    #[oai(rename = "discountPercentage")]
    DiscountPercentage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

/// The list parameters every product list takes. Without `sortBy` the newest come first
/// (`createdAt desc`); with it, `order` defaults to `asc`.
#[allow(clippy::too_many_arguments)]
fn list_query(
    skip: Option<Count>,
    limit: Option<Count>,
    sort_by: Option<SortField>,
    order: Option<SortOrder>,
    min_price: Option<Number>,
    max_price: Option<Number>,
    brand: Option<String>,
    category: Option<String>,
    in_stock: Option<bool>,
    cursor: Option<String>,
) -> ApiResult<ListQuery> {
    let paging = Paging::new(skip, limit);
    let sort = sort_by.map(|field| match field {
        SortField::Title => SortBy::Title,
        SortField::Price => SortBy::Price,
        SortField::Rating => SortBy::Rating,
        SortField::Stock => SortBy::Stock,
        SortField::CreatedAt => SortBy::CreatedAt,
        SortField::DiscountPercentage => SortBy::Discount,
    });
    let desc = match (sort_by, order) {
        (None, None) => true,
        (_, order) => order == Some(SortOrder::Desc),
    };
    Ok(ListQuery {
        skip: paging.skip,
        limit: paging.limit,
        sort,
        desc,
        filter: Filter {
            min_price: min_price.map(|n| n.0),
            max_price: max_price.map(|n| n.0),
            brand: brand.filter(|b| !b.trim().is_empty()).map(|b| b.trim().to_string()),
            category: category.filter(|c| !c.trim().is_empty()).map(|c| slug(&c)),
            in_stock,
        },
        cursor,
    })
}

/// A product in a list: every field, or with `select` only the chosen ones and `id` (the others
/// are left out, not sent as null).
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct SelectedProduct {
    pub id: u64,
    pub title: Option<String>,
    pub description: Option<String>,
    pub price: Option<crate::types::Money>,
    pub discount_percentage: Option<f64>,
    pub rating: Option<f64>,
    pub stock: Option<i64>,
    pub brand: Option<String>,
    pub category: Option<String>,
    pub thumbnail: Option<String>,
    pub images: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub sku: Option<String>,
    pub is_active: Option<bool>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// A catalog answer: the one kept for this URL while the catalog and the index are as they were
/// when it was made, else `make`'s, kept for the next request; 304 when `if_none_match` names it.
async fn ready<T, E>(
    state: &AppState,
    req: &Request,
    if_none_match: Option<String>,
    make: impl AsyncFnOnce() -> Result<Vec<u8>, E>,
) -> Result<Ready<T>, E> {
    let at = stamp(state);
    let data = match state.catalog.pages.get(url(req), at) {
        Some(data) => data,
        None => {
            let json = make().await?;
            state.catalog.pages.keep(url(req), at, stamp(state), json)
        }
    };
    Ok(Ready::new(data, if_none_match.as_deref()))
}

/// The state the catalog answers are made from: the catalog's changes and the index's.
fn stamp(state: &AppState) -> (u64, u64) {
    (state.catalog.generation(), state.search.epoch())
}

/// What catalog answers are kept by: the path and query as sent.
fn url(req: &Request) -> &str {
    req.uri().path_and_query().map_or(req.uri().path(), |pq| pq.as_str())
}

fn parse_select(select: Option<String>) -> ApiResult<Select> {
    let Some(s) = select.filter(|s| !s.trim().is_empty()) else { return Ok(Select::ALL) };
    let fields: Vec<String> = s.split(',').map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect();
    if let Some(unknown) = fields.iter().find(|f| !SELECTABLE.contains(&f.as_str())) {
        return Err(ApiError::field("select", format!("Unknown field {unknown}")));
    }
    Ok(Select::of(Some(&fields)))
}

/// The `data` of a list or search page.
fn list_json(catalog: &Catalog, page: Page, q: &ListQuery, select: Select) -> Vec<u8> {
    let facets = page.facets.as_ref().map(|f| [&f.brand, &f.category]);
    prepared::list_page(
        page.items.iter().map(|l| catalog.json(l)),
        select,
        (page.total, q.skip, q.limit),
        page.next_cursor.as_deref(),
        facets,
    )
}

pub(crate) fn not_found() -> ApiError {
    ApiError::new(ErrorCode::ProductNotFound)
}

fn reviews_disabled() -> ApiError {
    ApiError::new(ErrorCode::NotFound).with_message("Reviews are turned off in this shop")
}

/// The product snapshot the audit log keeps.
pub(crate) fn audit_view(p: &Product) -> Value {
    p.view().to_json().unwrap_or(Value::Null)
}

pub struct ProductsApi;

#[OpenApi(prefix_path = "/api/v1/products", tag = "crate::openapi::Tag::Products")]
impl ProductsApi {
    /// Active products: paging, sorting, price range, brand (any case), category, stock, field
    /// selection, cursor.
    #[oai(path = "/", method = "get", operation_id = "listProducts")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        req: &Request,
        skip: Query<Option<Count>>,
        limit: Query<Option<Count>>,
        #[oai(name = "sortBy")] sort_by: Query<Option<SortField>>,
        order: Query<Option<SortOrder>>,
        #[oai(name = "minPrice")] min_price: Query<Option<Number>>,
        #[oai(name = "maxPrice")] max_price: Query<Option<Number>>,
        brand: Query<Option<String>>,
        category: Query<Option<String>>,
        #[oai(name = "inStock")] in_stock: Query<Option<bool>>,
        /// Comma-separated fields to return (with `id`), e.g. `title,price`.
        #[oai(validator(
            pattern = r"^\s*(?:(?:id|title|description|price|discountPercentage|rating|stock|brand|category|thumbnail|images|tags|sku|isActive|createdAt|updatedAt)\s*)?(?:,\s*(?:(?:id|title|description|price|discountPercentage|rating|stock|brand|category|thumbnail|images|tags|sku|isActive|createdAt|updatedAt)\s*)?)*$"
        ))]
        select: Query<Option<String>>,
        cursor: Query<Option<String>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> ApiResult<Ready<ProductPage>> {
        ready(&state, req, if_none_match.0, async || {
            let q = list_query(
                skip.0,
                limit.0,
                sort_by.0,
                order.0,
                min_price.0,
                max_price.0,
                brand.0,
                category.0,
                in_stock.0,
                cursor.0,
            )?;
            let select = parse_select(select.0)?;
            let json = list_json(&state.catalog, state.catalog.list(&q)?, &q, select);
            Ok(json)
        })
        .await
    }

    /// Full-text search over title, description, brand, category and tags; the list filters
    /// apply; facets count all matches. An empty `q` lists everything.
    #[oai(path = "/search", method = "get", operation_id = "searchProducts")]
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        state: Data<&AppState>,
        req: &Request,
        q: Query<Option<String>>,
        skip: Query<Option<Count>>,
        limit: Query<Option<Count>>,
        #[oai(name = "sortBy")] sort_by: Query<Option<SortField>>,
        order: Query<Option<SortOrder>>,
        #[oai(name = "minPrice")] min_price: Query<Option<Number>>,
        #[oai(name = "maxPrice")] max_price: Query<Option<Number>>,
        brand: Query<Option<String>>,
        category: Query<Option<String>>,
        #[oai(name = "inStock")] in_stock: Query<Option<bool>>,
        /// Comma-separated fields to return (with `id`), e.g. `title,price`.
        #[oai(validator(
            pattern = r"^\s*(?:(?:id|title|description|price|discountPercentage|rating|stock|brand|category|thumbnail|images|tags|sku|isActive|createdAt|updatedAt)\s*)?(?:,\s*(?:(?:id|title|description|price|discountPercentage|rating|stock|brand|category|thumbnail|images|tags|sku|isActive|createdAt|updatedAt)\s*)?)*$"
        ))]
        select: Query<Option<String>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> ApiResult<Ready<SearchPage>> {
        ready(&state, req, if_none_match.0, async || {
            let query = list_query(
                skip.0,
                limit.0,
                sort_by.0,
                order.0,
                min_price.0,
                max_price.0,
                brand.0,
                category.0,
                in_stock.0,
                None,
            )?;
            let select = parse_select(select.0)?;
            let text = q.0.unwrap_or_default();
            let text = text.trim();
            if text.chars().count() > 200 {
                return Err(ApiError::field("q", "The search text must be at most 200 characters"));
            }
            let page = if !text.chars().any(char::is_alphanumeric) {
                // Everything matches: the catalog's own order, and facets over all of it.
                let list = state
                    .catalog
                    .list(&ListQuery { skip: 0, limit: usize::MAX, cursor: None, ..query.clone() })?
                    .items
                    .iter()
                    .map(|l| (l.product.id, 0.0))
                    .collect();
                let everything = Hits { list, facets: Default::default() };
                state.catalog.matches(
                    &everything,
                    &ListQuery { sort: query.sort.or(Some(SortBy::CreatedAt)), ..query.clone() },
                )?
            } else {
                let search = state.search.clone();
                let text = text.to_string();
                tokio::task::spawn_blocking(move || search.search(&text))
                    .await
                    .map_err(ApiError::internal)?
                    .map_err(ApiError::internal)
                    .and_then(|hits| state.catalog.matches(&hits, &query))?
            };
            let json = list_json(&state.catalog, page, &query, select);
            Ok(json)
        })
        .await
    }

    /// Category slugs of active products, sorted.
    #[oai(path = "/categories", method = "get", operation_id = "listCategories")]
    async fn categories(
        &self,
        state: Data<&AppState>,
        req: &Request,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Ready<Vec<String>> {
        let made = ready(&state, req, if_none_match.0, async || {
            let mut json = Vec::new();
            prepared::write_value(&mut json, &state.catalog.categories());
            Ok::<_, std::convert::Infallible>(json)
        });
        made.await.unwrap_or_else(|never| match never {})
    }

    /// Like the list, within one category.
    #[oai(path = "/category/:category", method = "get", operation_id = "listProductsByCategory")]
    #[allow(clippy::too_many_arguments)]
    async fn by_category(
        &self,
        state: Data<&AppState>,
        req: &Request,
        category: Path<String>,
        skip: Query<Option<Count>>,
        limit: Query<Option<Count>>,
        #[oai(name = "sortBy")] sort_by: Query<Option<SortField>>,
        order: Query<Option<SortOrder>>,
        #[oai(name = "minPrice")] min_price: Query<Option<Number>>,
        #[oai(name = "maxPrice")] max_price: Query<Option<Number>>,
        brand: Query<Option<String>>,
        #[oai(name = "inStock")] in_stock: Query<Option<bool>>,
        /// Comma-separated fields to return (with `id`), e.g. `title,price`.
        #[oai(validator(
            pattern = r"^\s*(?:(?:id|title|description|price|discountPercentage|rating|stock|brand|category|thumbnail|images|tags|sku|isActive|createdAt|updatedAt)\s*)?(?:,\s*(?:(?:id|title|description|price|discountPercentage|rating|stock|brand|category|thumbnail|images|tags|sku|isActive|createdAt|updatedAt)\s*)?)*$"
        ))]
        select: Query<Option<String>>,
        cursor: Query<Option<String>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> ApiResult<Ready<ProductPage>> {
        ready(&state, req, if_none_match.0, async || {
            let q = list_query(
                skip.0,
                limit.0,
                sort_by.0,
                order.0,
                min_price.0,
                max_price.0,
                brand.0,
                Some(category.0),
                in_stock.0,
                cursor.0,
            )?;
            let select = parse_select(select.0)?;
            let json = list_json(&state.catalog, state.catalog.list(&q)?, &q, select);
            Ok(json)
        })
        .await
    }

    /// One active product with its latest 10 reviews.
    #[oai(path = "/:id", method = "get", operation_id = "getProduct")]
    async fn get(
        &self,
        state: Data<&AppState>,
        req: &Request,
        id: Path<u64>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> ApiResult<Ready<ProductDetail>> {
        ready(&state, req, if_none_match.0, async || {
            let listed = state.catalog.listed(id.0).filter(|l| l.product.is_active).ok_or_else(not_found)?;
            let reviews = listed.reviews(|| {
                let reviews: Vec<ReviewView> = if state.settings.feature_reviews {
                    reviews::page(&state.store.read()?, id.0, 0, 10)?.iter().map(Review::view).collect()
                } else {
                    Vec::new()
                };
                Ok(serde_json::to_string(&reviews.to_json()).expect("a value serializes"))
            })?;
            let ready = state.catalog.json(&listed);
            let mut json = Vec::with_capacity(ready.size() + reviews.len() + 16);
            ready.write_with_reviews(&mut json, &reviews);
            Ok(json)
        })
        .await
    }

    /// Create a product.
    #[oai(path = "/", method = "post", operation_id = "createProduct")]
    async fn create(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        body: JsonBody<ProductInput>,
    ) -> ApiResult<Created<ProductView>> {
        body.0.check(true)?;
        let input = body.0;
        let actor = Actor::of(req, Some(admin.0.user_id));
        let (p, _) = write_published(
            &state,
            move |w| {
                let id = w.next_id(&PRODUCTS)?;
                let mut p = blank(id);
                input.apply(&mut p);
                crate::products::save(w, &mut p)?;
                audit::record(
                    w,
                    &actor,
                    Event::new("PRODUCT_CREATE", "Product", id).change(Value::Null, audit_view(&p)),
                )?;
                Ok::<_, ApiError>((p, bump_generation(w)?))
            },
            |r: &(Product, u64)| (vec![r.0.clone()], Some(r.1)),
        )
        .await?;
        Ok(Created::new(p.view()))
    }

    /// Change a product (partial).
    #[oai(path = "/:id", method = "put", operation_id = "updateProduct")]
    async fn put(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<u64>,
        body: JsonBody<ProductInput>,
    ) -> ApiResult<Reply<ProductView>> {
        update(&state, req, admin.0.user_id, id.0, body.0).await
    }

    /// Change a product (partial).
    #[oai(path = "/:id", method = "patch", operation_id = "patchProduct")]
    async fn patch(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<u64>,
        body: JsonBody<ProductInput>,
    ) -> ApiResult<Reply<ProductView>> {
        update(&state, req, admin.0.user_id, id.0, body.0).await
    }

    /// Delete a product (it stays in the store, inactive, for past orders).
    #[oai(path = "/:id", method = "delete", operation_id = "deleteProduct")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<u64>,
    ) -> ApiResult<Reply<DeletedProduct>> {
        let id = id.0;
        let actor = Actor::of(req, Some(admin.0.user_id));
        let _ = write_published(
            &state,
            move |w| {
                let mut p = w.get(&PRODUCTS, &id)?.filter(|p| p.is_active).ok_or_else(not_found)?;
                p.is_active = false;
                p.updated_at = Utc::now();
                crate::products::save(w, &mut p)?;
                audit::record(w, &actor, Event::new("PRODUCT_DELETE", "Product", id))?;
                Ok::<_, ApiError>((p, bump_generation(w)?))
            },
            |r: &(Product, u64)| (vec![r.0.clone()], Some(r.1)),
        )
        .await?;
        Ok(Reply::ok(DeletedProduct { id, is_deleted: true }))
    }

    /// Add to (or, negative, remove from) the stock; never below 0.
    #[oai(path = "/:id/stock", method = "patch", operation_id = "adjustStock")]
    async fn stock(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<u64>,
        body: JsonBody<StockChange>,
    ) -> ApiResult<Reply<ProductView>> {
        let (id, delta) = (id.0, body.0.quantity);
        let actor = Actor::of(req, Some(admin.0.user_id));
        let p = write_published(
            &state,
            move |w| {
                let mut p = w.get(&PRODUCTS, &id)?.ok_or_else(not_found)?;
                let new = p.stock.checked_add(delta).filter(|s| *s >= 0).ok_or_else(|| {
                    ApiError::new(ErrorCode::InsufficientStock).with_message(format!(
                        "Insufficient stock for {}: available {}, requested {}",
                        p.title,
                        p.stock,
                        delta.unsigned_abs()
                    ))
                })?;
                audit::record(
                    w,
                    &actor,
                    Event::new("PRODUCT_STOCK", "Product", id).change(json!(p.stock), json!(new)),
                )?;
                p.stock = new;
                p.updated_at = Utc::now();
                crate::products::save(w, &mut p)?;
                crate::webhooks::emit(w, "product.updated", crate::webhooks::data(&p.view()))?;
                Ok::<_, ApiError>(p)
            },
            |p: &Product| (vec![p.clone()], None),
        )
        .await?;
        Ok(Reply::ok(p.view()))
    }

    /// Upload images (multipart field `images`, up to 10; jpg, png or webp by content). The
    /// first one's thumbnail becomes the product's when it has none of its own yet.
    #[oai(path = "/:id/images", method = "post", operation_id = "uploadProductImages")]
    async fn images(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<u64>,
        form: ImagesForm,
    ) -> ApiResult<Reply<ProductView>> {
        let id = id.0;
        state.store.read()?.get(&PRODUCTS, &id)?.ok_or_else(not_found)?;
        let saved = save_all(&state, id, form).await?;
        let actor = Actor::of(req, Some(admin.0.user_id));
        let (urls, thumb) = (saved.urls.clone(), saved.thumbnail.clone());
        let written = state
            .store
            .write(move |w| {
                let mut p = w.get(&PRODUCTS, &id)?.ok_or_else(not_found)?;
                p.images.extend(urls.iter().cloned());
                if let Some(t) = thumb.filter(|_| p.thumbnail.is_empty() || p.thumbnail.starts_with("/uploads/demo/")) {
                    p.thumbnail = t;
                }
                p.updated_at = Utc::now();
                crate::products::save(w, &mut p)?;
                audit::record(w, &actor, Event::new("PRODUCT_IMAGES", "Product", id).change(Value::Null, json!(urls)))?;
                Ok::<_, ApiError>(p)
            })
            .await;
        match written {
            Ok(p) => {
                publish(&state, vec![p.clone()], None).await;
                // The product kept a thumbnail of its own: the new one is not needed.
                if let Some(t) = saved.thumbnail.filter(|t| *t != p.thumbnail) {
                    crate::uploads::remove(&state, &t);
                }
                Ok(Reply::ok(p.view()))
            }
            Err(e) => {
                for url in saved.urls.iter().chain(saved.thumbnail.iter()) {
                    crate::uploads::remove(&state, url);
                }
                Err(e)
            }
        }
    }

    /// A product's reviews, newest first.
    #[oai(path = "/:id/reviews", method = "get", operation_id = "listReviews")]
    async fn reviews(
        &self,
        state: Data<&AppState>,
        id: Path<u64>,
        skip: Query<Option<Count>>,
        limit: Query<Option<Count>>,
    ) -> ApiResult<Reply<ReviewPage>> {
        if !state.settings.feature_reviews {
            return Err(reviews_disabled());
        }
        let paging = Paging::new(skip.0, limit.0);
        state.catalog.get(id.0).filter(|p| p.is_active).ok_or_else(not_found)?;
        let product = state.catalog.get(id.0).filter(|p| p.is_active).ok_or_else(not_found)?;
        let (list, total) =
            (reviews::page(&state.store.read()?, id.0, paging.skip, paging.limit)?, product.rating_count);
        Ok(Reply::ok(ReviewPage {
            reviews: list.iter().map(Review::view).collect(),
            total,
            skip: paging.skip as u64,
            limit: paging.limit as u64,
        }))
    }

    /// Review a product (once per user); updates its rating.
    #[oai(path = "/:id/reviews", method = "post", operation_id = "createReview")]
    async fn review(
        &self,
        state: Data<&AppState>,
        auth: Bearer,
        id: Path<u64>,
        body: JsonBody<NewReview>,
    ) -> ApiResult<Created<ReviewView>> {
        if !state.settings.feature_reviews {
            return Err(reviews_disabled());
        }
        let b = body.0;
        let mut check = crate::users::Check::default();
        if !(1..=5).contains(&b.rating) {
            check.add("rating", "Rating must be an integer from 1 to 5");
        }
        if b.comment.as_ref().is_some_and(|c| c.chars().count() > 2000) {
            check.add("comment", "Comment must be at most 2000 characters");
        }
        check.finish()?;
        let (product_id, user_id) = (id.0, auth.0.user_id);
        let (review, _) = write_published(
            &state,
            move |w| {
                let mut p = w.get(&PRODUCTS, &product_id)?.filter(|p| p.is_active).ok_or_else(not_found)?;
                let user = w.get(&USERS, &user_id)?.ok_or_else(|| ApiError::new(ErrorCode::UserNotFound))?;
                let review = Review {
                    id: w.next_id(&REVIEWS)?,
                    product_id,
                    user_id: Some(user_id),
                    rating: b.rating as u8,
                    comment: b.comment.unwrap_or_default().trim().to_string(),
                    date: Utc::now(),
                    reviewer_name: format!("{} {}", user.first_name, user.last_name),
                    reviewer_email: user.email,
                };
                w.put(&REVIEWS, &(product_id, review.id), &review).on_conflict(ErrorCode::ReviewExists)?;
                p.rating_sum += review.rating as u64;
                p.rating_count += 1;
                crate::products::save(w, &mut p)?;
                Ok::<_, ApiError>((review, p))
            },
            |r: &(Review, Product)| (vec![r.1.clone()], None),
        )
        .await?;
        Ok(Created::new(review.own_view()))
    }
}

async fn update(
    state: &AppState,
    req: &Request,
    admin: u64,
    id: u64,
    input: ProductInput,
) -> ApiResult<Reply<ProductView>> {
    input.check(false)?;
    let actor = Actor::of(req, Some(admin));
    let (p, _) = write_published(
        state,
        move |w| {
            // Admins change inactive (draft or deleted) products too: that is how one comes back.
            let mut p = w.get(&PRODUCTS, &id)?.ok_or_else(not_found)?;
            let before = audit_view(&p);
            input.apply(&mut p);
            p.updated_at = Utc::now();
            crate::products::save(w, &mut p)?;
            audit::record(w, &actor, Event::new("PRODUCT_UPDATE", "Product", id).change(before, audit_view(&p)))?;
            crate::webhooks::emit(w, "product.updated", crate::webhooks::data(&p.view()))?;
            Ok::<_, ApiError>((p, bump_generation(w)?))
        },
        |r: &(Product, u64)| (vec![r.0.clone()], Some(r.1)),
    )
    .await?;
    Ok(Reply::ok(p.view()))
}

pub struct AdminReviewsApi;

#[derive(Debug, Object)]
#[oai(rename = "AdminReview", rename_all = "camelCase")]
pub struct AdminReview {
    #[oai(flatten)]
    pub review: ReviewView,
    /// The reviewed product's title.
    pub product_title: String,
}

#[derive(Debug, Object)]
#[oai(rename = "AdminReviewPage")]
pub struct AdminReviewPage {
    pub reviews: Vec<AdminReview>,
    pub total: u64,
    pub skip: u64,
    pub limit: u64,
}

#[OpenApi(prefix_path = "/api/v1/admin/reviews", tag = "crate::openapi::Tag::Admin")]
impl AdminReviewsApi {
    /// Every product's reviews, newest first, with the reviewer's email (moderation).
    #[oai(path = "/", method = "get", operation_id = "listAllReviews")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _admin: Admin,
        skip: Query<Option<Count>>,
        limit: Query<Option<Count>>,
    ) -> ApiResult<Reply<AdminReviewPage>> {
        let paging = Paging::new(skip.0, limit.0);
        let r = state.store.read()?;
        let at = crate::store::At { from: None, skip: paging.skip, limit: paging.limit };
        let page = r.page_index(&REVIEWS, reviews::REVIEWS_BY_ID, &(), true, at)?;
        let reviews = page
            .iter()
            .map(|rv| AdminReview {
                review: rv.own_view(),
                product_title: state.catalog.get(rv.product_id).map(|p| p.title.clone()).unwrap_or_default(),
            })
            .collect();
        Ok(Reply::ok(AdminReviewPage {
            reviews,
            total: r.count(&REVIEWS)?,
            skip: paging.skip as u64,
            limit: paging.limit as u64,
        }))
    }

    /// Remove a review (moderation): the product's rating is recomputed without it. The answer
    /// is the product. Audited with the review as it was.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteReview")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<u64>,
    ) -> ApiResult<Reply<ProductView>> {
        let (id, actor) = (id.0, Actor::of(req, Some(admin.0.user_id)));
        let p = write_published(
            &state,
            move |w| {
                let review = w
                    .get_unique(&REVIEWS, reviews::REVIEWS_BY_ID, &id)?
                    .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("Review not found"))?;
                w.delete(&REVIEWS, &(review.product_id, review.id))?;
                let mut p = w.get(&PRODUCTS, &review.product_id)?.ok_or_else(not_found)?;
                p.rating_sum = p.rating_sum.saturating_sub(review.rating as u64);
                p.rating_count = p.rating_count.saturating_sub(1);
                p.updated_at = Utc::now();
                crate::products::save(w, &mut p)?;
                let before = json!({ "rating": review.rating, "comment": review.comment, "userId": review.user_id });
                audit::record(
                    w,
                    &actor,
                    Event::new("REVIEW_DELETE", "Review", id)
                        .change(before, Value::Null)
                        .metadata(json!({ "product": p.id })),
                )?;
                Ok::<_, ApiError>(p)
            },
            |p: &Product| (vec![p.clone()], None),
        )
        .await?;
        Ok(Reply::ok(p.view()))
    }
}
