//! `/api/v1/products`: lists, search, categories, details, admin writes, stock, images, reviews.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::Utc;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::types::ToJSON;
use poem_openapi::{Object, OpenApi};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use super::catalog::{Filter, ListQuery, Page, SortBy};
use super::images::{ImagesForm, save_all};
use super::reviews::{self, REVIEWS, Review, ReviewView};
use super::{PRODUCTS, Product, ProductInput, ProductView, blank, slug};
use crate::audit::{self, Actor, Event};
use crate::auth::guard::{Admin, Bearer};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldErrors, OnConflict};
use crate::http::envelope::Reply;
use crate::http::json::JsonBody;
use crate::search::Hits;
use crate::state::AppState;
use crate::store::{Collection, StoreError, WriteTx};
use crate::types::Paging;
use crate::users::USERS;

/// Bumped by every write that changes what the search index holds; the index's commit carries
/// the value it has caught up to.
pub static GENERATION: Collection<u8, u8> = Collection::new("catalog_generation");

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
    pub products: Vec<Value>,
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
    pub products: Vec<Value>,
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
#[serde(deny_unknown_fields)]
pub struct StockChange {
    /// Added to the stock (negative removes).
    pub quantity: i64,
}

#[derive(Debug, Deserialize, Object)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    /// 1 to 5.
    pub rating: i64,
    pub comment: Option<String>,
}

#[derive(Debug, Object)]
pub struct ReviewPage {
    pub reviews: Vec<ReviewView>,
    pub total: u64,
    pub skip: u64,
    pub limit: u64,
}

/// The list parameters every product list takes.
#[allow(clippy::too_many_arguments)]
fn list_query(
    skip: Option<i64>,
    limit: Option<i64>,
    sort_by: Option<String>,
    order: Option<String>,
    min_price: Option<String>,
    max_price: Option<String>,
    brand: Option<String>,
    category: Option<String>,
    in_stock: Option<bool>,
    cursor: Option<String>,
) -> ApiResult<ListQuery> {
    let paging = Paging::new(skip, limit)?;
    let mut errors = FieldErrors::new();
    let mut bad = |f: &str, m: &str| errors.entry(f.to_string()).or_default().push(m.to_string());
    let sort = match sort_by.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => {
            let parsed = SortBy::parse(s);
            if parsed.is_none() {
                bad("sortBy", "sortBy must be one of title, price, rating, stock, createdAt, discountPercentage");
            }
            parsed
        }
    };
    let desc = match order.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            bad("order", "order must be asc or desc");
            false
        }
    };
    let mut price = |name: &str, v: Option<String>| match v.filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => match Decimal::from_str(v.trim()) {
            Ok(d) if d >= Decimal::ZERO => Some(d),
            _ => {
                bad(name, &format!("{name} must be a number of 0 or more"));
                None
            }
        },
    };
    let (min_price, max_price) = (price("minPrice", min_price), price("maxPrice", max_price));
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(ListQuery {
        skip: paging.skip,
        limit: paging.limit,
        sort,
        desc,
        filter: Filter {
            min_price,
            max_price,
            brand: brand.filter(|b| !b.trim().is_empty()).map(|b| b.trim().to_string()),
            category: category.filter(|c| !c.trim().is_empty()).map(|c| slug(&c)),
            in_stock,
        },
        cursor,
    })
}

/// The chosen fields of a product (and its id), or all of them.
fn project(p: &Product, select: &Option<Vec<String>>) -> Value {
    let full = p.view().to_json().unwrap_or(Value::Null);
    match (select, full) {
        (Some(fields), Value::Object(mut map)) => {
            map.retain(|k, _| k == "id" || fields.iter().any(|f| f == k));
            Value::Object(map)
        }
        (_, v) => v,
    }
}

fn parse_select(select: Option<String>) -> ApiResult<Option<Vec<String>>> {
    let Some(s) = select.filter(|s| !s.trim().is_empty()) else { return Ok(None) };
    let fields: Vec<String> = s.split(',').map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect();
    if let Some(unknown) = fields.iter().find(|f| !SELECTABLE.contains(&f.as_str())) {
        return Err(ApiError::field("select", format!("Unknown field {unknown}")));
    }
    Ok(Some(fields))
}

fn page_of(page: Page, q: &ListQuery, select: &Option<Vec<String>>) -> ProductPage {
    ProductPage {
        products: page.items.iter().map(|p| project(p, select)).collect(),
        total: page.total as u64,
        skip: q.skip as u64,
        limit: q.limit as u64,
        next_cursor: page.next_cursor,
    }
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::ProductNotFound)
}

fn reviews_disabled() -> ApiError {
    ApiError::new(ErrorCode::NotFound).with_message("Reviews are turned off in this shop")
}

/// The product snapshot the audit log keeps.
fn audit_view(p: &Product) -> Value {
    p.view().to_json().unwrap_or(Value::Null)
}

/// Mirrors committed product writes into the catalog and the search index, before the write is
/// answered. An index failure is logged: the index is rebuilt at the next start (its generation
/// is behind the store's).
pub async fn publish(state: &AppState, products: Vec<Product>, generation: Option<u64>) {
    for p in &products {
        state.catalog.put(p.clone());
    }
    if let Some(generation) = generation {
        let search = state.search.clone();
        let outcome = tokio::task::spawn_blocking(move || search.put(&products, generation)).await;
        if !matches!(outcome, Ok(Ok(()))) {
            tracing::error!("updating the search index failed; it will be rebuilt at the next start");
        }
    }
}

/// Runs a write and mirrors the products it changed into the catalog (and, with a generation,
/// the search index), in a task of its own: a client that goes away meanwhile cannot leave them
/// behind the store. Order writes use it too, since they change stock.
pub async fn write_published<R, F>(
    state: &AppState,
    f: F,
    changed: fn(&R) -> (Vec<Product>, Option<u64>),
) -> ApiResult<R>
where
    F: FnOnce(&mut WriteTx<'_>) -> ApiResult<R> + Send + 'static,
    R: Send + 'static,
{
    let state = state.clone();
    crate::auth::detached(async move {
        let out = state.store.write(f).await?;
        let (products, generation) = changed(&out);
        publish(&state, products, generation).await;
        Ok(out)
    })
    .await
}

pub fn bump_generation(w: &mut WriteTx<'_>) -> Result<u64, StoreError> {
    w.next_id(&GENERATION)
}

pub struct ProductsApi;

#[OpenApi(prefix_path = "/api/v1/products", tag = "crate::openapi::Tag::Products")]
impl ProductsApi {
    /// Active products: paging, sorting, price range, brand (any case), category, stock, field
    /// selection, cursor.
    #[oai(path = "/", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        skip: Query<Option<i64>>,
        limit: Query<Option<i64>>,
        #[oai(name = "sortBy")] sort_by: Query<Option<String>>,
        order: Query<Option<String>>,
        #[oai(name = "minPrice")] min_price: Query<Option<String>>,
        #[oai(name = "maxPrice")] max_price: Query<Option<String>>,
        brand: Query<Option<String>>,
        category: Query<Option<String>>,
        #[oai(name = "inStock")] in_stock: Query<Option<bool>>,
        select: Query<Option<String>>,
        cursor: Query<Option<String>>,
    ) -> ApiResult<Reply<ProductPage>> {
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
        let page = state.catalog.list(&q)?;
        Ok(Reply::ok(page_of(page, &q, &select)))
    }

    /// Full-text search over title, description, brand, category and tags; the list filters
    /// apply; facets count all matches. An empty `q` lists everything.
    #[oai(path = "/search", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        state: Data<&AppState>,
        q: Query<Option<String>>,
        skip: Query<Option<i64>>,
        limit: Query<Option<i64>>,
        #[oai(name = "sortBy")] sort_by: Query<Option<String>>,
        order: Query<Option<String>>,
        #[oai(name = "minPrice")] min_price: Query<Option<String>>,
        #[oai(name = "maxPrice")] max_price: Query<Option<String>>,
        brand: Query<Option<String>>,
        category: Query<Option<String>>,
        #[oai(name = "inStock")] in_stock: Query<Option<bool>>,
        select: Query<Option<String>>,
    ) -> ApiResult<Reply<SearchPage>> {
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
                .map(|p| (p.id, 0.0))
                .collect();
            let everything = Hits { list, facets: Default::default() };
            state.catalog.matches(&everything, &ListQuery { sort: query.sort.or(Some(SortBy::Id)), ..query.clone() })?
        } else {
            let search = state.search.clone();
            let text = text.to_string();
            let hits = tokio::task::spawn_blocking(move || search.search(&text))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?;
            state.catalog.matches(&hits, &query)?
        };
        let facets = page.facets.unwrap_or_default();
        Ok(Reply::ok(SearchPage {
            products: page.items.iter().map(|p| project(p, &select)).collect(),
            total: page.total as u64,
            skip: query.skip as u64,
            limit: query.limit as u64,
            next_cursor: None,
            facets: Facets { category: facets.category, brand: facets.brand },
        }))
    }

    /// Category slugs of active products, sorted.
    #[oai(path = "/categories", method = "get")]
    async fn categories(&self, state: Data<&AppState>) -> Reply<Vec<String>> {
        Reply::ok(state.catalog.categories())
    }

    /// Like the list, within one category.
    #[oai(path = "/category/:category", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn by_category(
        &self,
        state: Data<&AppState>,
        category: Path<String>,
        skip: Query<Option<i64>>,
        limit: Query<Option<i64>>,
        #[oai(name = "sortBy")] sort_by: Query<Option<String>>,
        order: Query<Option<String>>,
        #[oai(name = "minPrice")] min_price: Query<Option<String>>,
        #[oai(name = "maxPrice")] max_price: Query<Option<String>>,
        brand: Query<Option<String>>,
        #[oai(name = "inStock")] in_stock: Query<Option<bool>>,
        select: Query<Option<String>>,
        cursor: Query<Option<String>>,
    ) -> ApiResult<Reply<ProductPage>> {
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
        let page = state.catalog.list(&q)?;
        Ok(Reply::ok(page_of(page, &q, &select)))
    }

    /// One active product with its latest 10 reviews.
    #[oai(path = "/:id", method = "get")]
    async fn get(&self, state: Data<&AppState>, id: Path<u64>) -> ApiResult<Reply<ProductDetail>> {
        let p = state.catalog.get(id.0).filter(|p| p.is_active).ok_or_else(not_found)?;
        let reviews = if state.settings.feature_reviews {
            reviews::page(&state.store.read()?, p.id, 0, 10)?.iter().map(Review::view).collect()
        } else {
            Vec::new()
        };
        Ok(Reply::ok(ProductDetail { product: p.view(), reviews }))
    }

    /// Create a product.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        body: JsonBody<ProductInput>,
    ) -> ApiResult<Reply<ProductView>> {
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
        Ok(Reply::created(p.view()))
    }

    /// Change a product (partial).
    #[oai(path = "/:id", method = "put")]
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
    #[oai(path = "/:id", method = "patch")]
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
    #[oai(path = "/:id", method = "delete")]
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
    #[oai(path = "/:id/stock", method = "patch")]
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
                let mut p = w.get(&PRODUCTS, &id)?.filter(|p| p.is_active).ok_or_else(not_found)?;
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
                Ok::<_, ApiError>(p)
            },
            |p: &Product| (vec![p.clone()], None),
        )
        .await?;
        Ok(Reply::ok(p.view()))
    }

    /// Upload images (multipart field `images`, up to 10; jpg, png or webp by content). The
    /// first one's thumbnail becomes the product's when it has none of its own yet.
    #[oai(path = "/:id/images", method = "post")]
    async fn images(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<u64>,
        form: ImagesForm,
    ) -> ApiResult<Reply<ProductView>> {
        let id = id.0;
        state.catalog.get(id).filter(|p| p.is_active).ok_or_else(not_found)?;
        let saved = save_all(&state, id, form).await?;
        let actor = Actor::of(req, Some(admin.0.user_id));
        let (urls, thumb) = (saved.urls.clone(), saved.thumbnail.clone());
        let written = state
            .store
            .write(move |w| {
                let mut p = w.get(&PRODUCTS, &id)?.filter(|p| p.is_active).ok_or_else(not_found)?;
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
    #[oai(path = "/:id/reviews", method = "get")]
    async fn reviews(
        &self,
        state: Data<&AppState>,
        id: Path<u64>,
        skip: Query<Option<i64>>,
        limit: Query<Option<i64>>,
    ) -> ApiResult<Reply<ReviewPage>> {
        if !state.settings.feature_reviews {
            return Err(reviews_disabled());
        }
        let paging = Paging::new(skip.0, limit.0)?;
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
    #[oai(path = "/:id/reviews", method = "post")]
    async fn review(
        &self,
        state: Data<&AppState>,
        auth: Bearer,
        id: Path<u64>,
        body: JsonBody<NewReview>,
    ) -> ApiResult<Reply<ReviewView>> {
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
        Ok(Reply::created(review.view()))
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
            let mut p = w.get(&PRODUCTS, &id)?.filter(|p| p.is_active).ok_or_else(not_found)?;
            let before = audit_view(&p);
            input.apply(&mut p);
            p.updated_at = Utc::now();
            crate::products::save(w, &mut p)?;
            audit::record(w, &actor, Event::new("PRODUCT_UPDATE", "Product", id).change(before, audit_view(&p)))?;
            Ok::<_, ApiError>((p, bump_generation(w)?))
        },
        |r: &(Product, u64)| (vec![r.0.clone()], Some(r.1)),
    )
    .await?;
    Ok(Reply::ok(p.view()))
}
