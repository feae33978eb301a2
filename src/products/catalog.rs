//! The in-memory catalog: every product, plus the active ones in each sort order, so that a
//! page of a list costs the page (and a filter one pass), not a scan and a sort of the store.
//! Updated right after each committed product write, before the write is answered, so reads
//! never see a stale product or stock count.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::RwLock;
use rust_decimal::Decimal;

use super::prepared::{Pages, ProductJson};
use super::{PRODUCTS, Product};
use crate::error::{ApiError, ApiResult};
use crate::search::Hits;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Id,
    Title,
    Price,
    Rating,
    Stock,
    CreatedAt,
    Discount,
}

impl SortBy {
    pub fn parse(s: &str) -> Option<SortBy> {
        Some(match s {
            "id" => SortBy::Id,
            "title" => SortBy::Title,
            "price" => SortBy::Price,
            "rating" => SortBy::Rating,
            "stock" => SortBy::Stock,
            "createdAt" => SortBy::CreatedAt,
            "discountPercentage" => SortBy::Discount,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            SortBy::Id => "id",
            SortBy::Title => "title",
            SortBy::Price => "price",
            SortBy::Rating => "rating",
            SortBy::Stock => "stock",
            SortBy::CreatedAt => "createdAt",
            SortBy::Discount => "discountPercentage",
        }
    }
}

/// What a list asks for. `brand` is matched case-insensitively, `category` as a slug.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub min_price: Option<Decimal>,
    pub max_price: Option<Decimal>,
    pub brand: Option<String>,
    pub category: Option<String>,
    pub in_stock: Option<bool>,
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.min_price.is_none()
            && self.max_price.is_none()
            && self.brand.is_none()
            && self.category.is_none()
            && self.in_stock.is_none()
    }

    fn matches(&self, p: &Product) -> bool {
        let price = p.price.amount();
        self.min_price.is_none_or(|m| price >= m)
            && self.max_price.is_none_or(|m| price <= m)
            && self.brand.as_ref().is_none_or(|b| p.brand.eq_ignore_ascii_case(b))
            && self.category.as_ref().is_none_or(|c| &p.category == c)
            && self.in_stock.is_none_or(|want| (p.stock > 0) == want)
    }
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub skip: usize,
    pub limit: usize,
    /// `None`: newest first for lists, by relevance for searches.
    pub sort: Option<SortBy>,
    pub desc: bool,
    pub filter: Filter,
    pub cursor: Option<String>,
}

pub struct Page {
    pub items: Vec<Arc<Listed>>,
    pub total: usize,
    pub next_cursor: Option<String>,
    pub facets: Option<Facets>,
}

#[derive(Debug, Default)]
pub struct Facets {
    pub category: BTreeMap<String, u64>,
    pub brand: BTreeMap<String, u64>,
}

/// A product as the catalog holds it: the record, its JSON, and the ids of its category and
/// brand names (facets are counted over ids, not strings).
pub struct Listed {
    pub product: Arc<Product>,
    /// Written by the first read of this version: a catalog of 100,000 products does not carry
    /// the JSON of those nobody looks at (it is about as big as the record).
    json: OnceLock<Box<ProductJson>>,
    category: u32,
    brand: u32,
    /// The JSON of its latest reviews, once a detail asked for them. Kept across writes that do
    /// not change its rating: every review written or deleted changes the rating's sum or count.
    reviews: OnceLock<Arc<str>>,
}

impl Listed {
    /// Its JSON, with its URLs under `public_url`.
    pub fn json(&self, public_url: &Option<Arc<str>>) -> &ProductJson {
        self.json.get_or_init(|| Box::new(ProductJson::of(&self.product, public_url)))
    }

    pub fn reviews(&self, make: impl FnOnce() -> ApiResult<String>) -> ApiResult<Arc<str>> {
        if let Some(r) = self.reviews.get() {
            return Ok(r.clone());
        }
        let made: Arc<str> = make()?.into();
        Ok(self.reviews.get_or_init(|| made).clone())
    }
}

/// Distinct names (categories, brands) as small ids.
#[derive(Default)]
struct Names {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Names {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }
}

#[derive(Default)]
struct Inner {
    products: HashMap<u64, Arc<Listed>>,
    by_id: BTreeSet<(u64, u64)>,
    by_title: BTreeSet<(String, u64)>,
    by_price: BTreeSet<(Decimal, u64)>,
    by_rating: BTreeSet<(Decimal, u64)>,
    by_stock: BTreeSet<(i64, u64)>,
    by_created: BTreeSet<(i64, u64)>,
    by_discount: BTreeSet<(Decimal, u64)>,
    categories: BTreeMap<String, usize>,
    category_names: Names,
    brand_names: Names,
}

impl Inner {
    fn insert(&mut self, p: Product, reviews: Option<Arc<str>>) {
        self.index(&p, true);
        let (category, brand) = (self.category_names.id(&p.category), self.brand_names.id(&p.brand));
        let listed = Listed { product: Arc::new(p), json: OnceLock::new(), category, brand, reviews: OnceLock::new() };
        if let Some(r) = reviews {
            let _ = listed.reviews.set(r);
        }
        self.products.insert(listed.product.id, Arc::new(listed));
    }

    /// Counts categories and brands over ids, then names them.
    fn facets<'a>(&self, found: impl Iterator<Item = &'a Listed>) -> Facets {
        let mut category = vec![0u64; self.category_names.names.len()];
        let mut brand = vec![0u64; self.brand_names.names.len()];
        for l in found {
            category[l.category as usize] += 1;
            brand[l.brand as usize] += 1;
        }
        let named = |counts: Vec<u64>, names: &Names| -> BTreeMap<String, u64> {
            counts.into_iter().enumerate().filter(|(_, n)| *n > 0).map(|(i, n)| (names.names[i].clone(), n)).collect()
        };
        Facets { category: named(category, &self.category_names), brand: named(brand, &self.brand_names) }
    }

    fn index(&mut self, p: &Product, add: bool) {
        if !p.is_active {
            return;
        }
        fn apply<K: Ord>(set: &mut BTreeSet<K>, key: K, add: bool) {
            if add {
                set.insert(key);
            } else {
                set.remove(&key);
            }
        }
        apply(&mut self.by_id, (p.id, p.id), add);
        apply(&mut self.by_title, (p.title.to_lowercase(), p.id), add);
        apply(&mut self.by_price, (p.price.amount(), p.id), add);
        apply(&mut self.by_rating, (p.rating(), p.id), add);
        apply(&mut self.by_stock, (p.stock, p.id), add);
        apply(&mut self.by_created, (p.created_at.timestamp_millis(), p.id), add);
        apply(&mut self.by_discount, (p.discount_percentage, p.id), add);
        let count = self.categories.entry(p.category.clone()).or_default();
        if add {
            *count += 1;
        } else {
            *count -= 1;
            if *count == 0 {
                self.categories.remove(&p.category);
            }
        }
    }

    /// Ids of active products in `sort` order, after the position `after` (the sort key as the
    /// cursor recorded it, and the id) when resuming. `None` when the key does not parse.
    fn walk(&self, sort: SortBy, desc: bool, after: Option<(&str, u64)>) -> Option<Box<dyn Iterator<Item = u64> + '_>> {
        fn go<'a, K: Ord + Clone>(
            set: &'a BTreeSet<(K, u64)>,
            after: Option<(K, u64)>,
            desc: bool,
        ) -> Box<dyn Iterator<Item = u64> + 'a> {
            let ids = |it: std::collections::btree_set::Range<'a, (K, u64)>| it.map(|(_, id)| *id);
            match (after, desc) {
                (None, false) => Box::new(set.iter().map(|(_, id)| *id)),
                (None, true) => Box::new(set.iter().rev().map(|(_, id)| *id)),
                (Some(k), false) => Box::new(ids(set.range((Bound::Excluded(k), Bound::Unbounded)))),
                (Some(k), true) => Box::new(ids(set.range((Bound::Unbounded, Bound::Excluded(k)))).rev()),
            }
        }
        fn key<K: std::str::FromStr>(after: Option<(&str, u64)>) -> Option<Option<(K, u64)>> {
            match after {
                None => Some(None),
                Some((k, id)) => k.parse().ok().map(|k| Some((k, id))),
            }
        }
        Some(match sort {
            SortBy::Id => go(&self.by_id, key::<u64>(after)?, desc),
            SortBy::Title => go(&self.by_title, key::<String>(after)?, desc),
            SortBy::Price => go(&self.by_price, key::<Decimal>(after)?, desc),
            SortBy::Rating => go(&self.by_rating, key::<Decimal>(after)?, desc),
            SortBy::Stock => go(&self.by_stock, key::<i64>(after)?, desc),
            SortBy::CreatedAt => go(&self.by_created, key::<i64>(after)?, desc),
            SortBy::Discount => go(&self.by_discount, key::<Decimal>(after)?, desc),
        })
    }
}

/// Compares two products by a sort key, then by id.
fn compare(sort: SortBy, a: &Product, b: &Product) -> std::cmp::Ordering {
    let by = match sort {
        SortBy::Id => a.id.cmp(&b.id),
        SortBy::Title => a.title.to_lowercase().cmp(&b.title.to_lowercase()),
        SortBy::Price => a.price.cmp(&b.price),
        SortBy::Rating => a.rating().cmp(&b.rating()),
        SortBy::Stock => a.stock.cmp(&b.stock),
        SortBy::CreatedAt => a.created_at.cmp(&b.created_at),
        SortBy::Discount => a.discount_percentage.cmp(&b.discount_percentage),
    };
    by.then(a.id.cmp(&b.id))
}

/// The sort key of a product as a cursor records it.
fn key_text(sort: SortBy, p: &Product) -> String {
    match sort {
        SortBy::Id => p.id.to_string(),
        SortBy::Title => p.title.to_lowercase(),
        SortBy::Price => p.price.amount().to_string(),
        SortBy::Rating => p.rating().to_string(),
        SortBy::Stock => p.stock.to_string(),
        SortBy::CreatedAt => p.created_at.timestamp_millis().to_string(),
        SortBy::Discount => p.discount_percentage.to_string(),
    }
}

/// The position after the last product of a page: the sort, and that product's key and id as
/// they were (so a page boundary does not move when the product changes meanwhile).
fn encode_cursor(sort: SortBy, desc: bool, last: &Product) -> String {
    let order = if desc { "desc" } else { "asc" };
    URL_SAFE_NO_PAD.encode(format!("{}:{order}:{}:{}", sort.name(), last.id, key_text(sort, last)))
}

fn decode_cursor(cursor: &str) -> Option<(SortBy, bool, u64, String)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let mut parts = text.splitn(4, ':');
    let sort = SortBy::parse(parts.next()?)?;
    let desc = parts.next()? == "desc";
    let id = parts.next()?.parse().ok()?;
    Some((sort, desc, id, parts.next()?.to_string()))
}

fn bad_cursor() -> ApiError {
    ApiError::field("cursor", "The cursor is not valid for this list (start again without it)")
}

pub struct Catalog {
    inner: RwLock<Inner>,
    /// `PUBLIC_URL`, which the products' JSON writes their URLs under.
    public_url: Option<Arc<str>>,
    /// Bumped by every change mirrored in: the answers in `pages` are valid for one value.
    generation: AtomicU64,
    /// Whole answers by URL (lists, details, searches, categories).
    pub pages: Pages,
    /// Searches whose facet counts were reused, and counted afresh (for /metrics).
    facet_hits: std::sync::atomic::AtomicU64,
    facet_misses: std::sync::atomic::AtomicU64,
}

impl Catalog {
    /// Loads every product from the store.
    pub fn load(store: &Store, public_url: Option<Arc<str>>) -> Result<Catalog, StoreError> {
        let catalog = Catalog {
            inner: RwLock::new(Inner::default()),
            public_url,
            generation: AtomicU64::new(0),
            pages: Pages::default(),
            facet_hits: Default::default(),
            facet_misses: Default::default(),
        };
        {
            let mut inner = catalog.inner.write();
            for p in store.read()?.scan(&PRODUCTS, &(), false)? {
                inner.insert(p?, None);
            }
        }
        Ok(catalog)
    }

    /// Mirrors a committed write of a product.
    pub fn put(&self, p: Product) {
        let mut inner = self.inner.write();
        let old = inner.products.get(&p.id).cloned();
        if old.as_ref().is_some_and(|old| old.product.version > p.version) {
            return; // a newer write was mirrored already
        }
        let mut reviews = None;
        if let Some(old) = old {
            inner.products.remove(&p.id);
            inner.index(&old.product, false);
            let same_rating = (old.product.rating_sum, old.product.rating_count) == (p.rating_sum, p.rating_count);
            reviews = old.reviews.get().filter(|_| same_rating).cloned();
        }
        inner.insert(p, reviews);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts changes: an answer made at one value is valid while it holds.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A product, active or not.
    pub fn get(&self, id: u64) -> Option<Arc<Product>> {
        self.inner.read().products.get(&id).map(|l| l.product.clone())
    }

    /// A product with its JSON, active or not.
    pub fn listed(&self, id: u64) -> Option<Arc<Listed>> {
        self.inner.read().products.get(&id).cloned()
    }

    /// The JSON of a product as this catalog's answers show it.
    pub fn json<'a>(&self, l: &'a Listed) -> &'a ProductJson {
        l.json(&self.public_url)
    }

    /// Sorted category slugs of active products.
    pub fn categories(&self) -> Vec<String> {
        self.inner.read().categories.keys().cloned().collect()
    }

    /// Every product, by id.
    pub fn all(&self) -> Vec<Arc<Product>> {
        let inner = self.inner.read();
        let mut all: Vec<Arc<Product>> = inner.products.values().map(|l| l.product.clone()).collect();
        all.sort_by_key(|p| p.id);
        all
    }

    /// Searches whose facet counts were reused, and counted afresh.
    pub fn facet_stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.facet_hits.load(Relaxed), self.facet_misses.load(Relaxed))
    }

    pub fn active_count(&self) -> usize {
        self.inner.read().by_id.len()
    }

    /// A page of the active products that pass the filter.
    pub fn list(&self, q: &ListQuery) -> ApiResult<Page> {
        let inner = self.inner.read();
        // Without a sort field, the newest first (`list_query` sets `desc` for it).
        let mut sort = q.sort.unwrap_or(SortBy::CreatedAt);
        let mut desc = q.desc;
        let mut skip = q.skip;
        let after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => {
                let (s, d, id, key) = decode_cursor(c).ok_or_else(bad_cursor)?;
                (sort, desc, skip) = (s, d, 0);
                Some((key, id))
            }
            None => None,
        };
        let no_filter = q.filter.is_empty();
        let (mut counted, mut items, mut more) = (0usize, Vec::with_capacity(q.limit.min(256)), false);
        let position = after.as_ref().map(|(k, id)| (k.as_str(), *id));
        for id in inner.walk(sort, desc, position).ok_or_else(bad_cursor)? {
            let p = &inner.products[&id];
            if !q.filter.matches(&p.product) {
                continue;
            }
            if counted >= skip && items.len() < q.limit {
                items.push(p.clone());
            } else if items.len() == q.limit {
                more = true;
                if no_filter || after.is_some() {
                    break; // the total comes from elsewhere
                }
            }
            counted += 1;
        }
        let total = if no_filter {
            inner.by_id.len()
        } else if after.is_some() {
            inner.by_id.iter().filter(|(id, _)| q.filter.matches(&inner.products[id].product)).count()
        } else {
            counted
        };
        let next_cursor =
            (more && !items.is_empty()).then(|| encode_cursor(sort, desc, &items.last().expect("not empty").product));
        Ok(Page { items, total, next_cursor, facets: None })
    }

    /// A page of search matches: only active products that pass the filter, by relevance or by
    /// `sort`, with facet counts over all of them.
    pub fn matches(&self, hits: &Hits, q: &ListQuery) -> ApiResult<Page> {
        let inner = self.inner.read();
        if q.filter.is_empty() && q.sort.is_none() {
            // The common case (type, see the best matches): every hit is an active product (a
            // deactivation empties the search cache), so the page is a slice of the hits and the
            // facets are counted once per query.
            let active = |id: &u64| inner.products.get(id).filter(|l| l.product.is_active);
            let mut counted = false;
            let (category, brand, total) = hits.facets.get_or_init(|| {
                counted = true;
                let found: Vec<&Arc<Listed>> = hits.list.iter().filter_map(|(id, _)| active(id)).collect();
                let f = inner.facets(found.iter().map(|l| &***l));
                (f.category, f.brand, found.len())
            });
            let tally = if counted { &self.facet_misses } else { &self.facet_hits };
            tally.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let items = hits.list.iter().filter_map(|(id, _)| active(id)).skip(q.skip).take(q.limit).cloned().collect();
            let facets = Facets { category: category.clone(), brand: brand.clone() };
            return Ok(Page { items, total: *total, next_cursor: None, facets: Some(facets) });
        }
        let mut found: Vec<(&Arc<Listed>, f32)> = hits
            .list
            .iter()
            .filter_map(|(id, score)| inner.products.get(id).map(|p| (p, *score)))
            .filter(|(l, _)| l.product.is_active && q.filter.matches(&l.product))
            .collect();
        let facets = inner.facets(found.iter().map(|(l, _)| &***l));
        if let Some(sort) = q.sort {
            found.sort_by(|a, b| {
                let order = compare(sort, &a.0.product, &b.0.product);
                if q.desc { order.reverse() } else { order }
            });
        }
        let total = found.len();
        let items: Vec<Arc<Listed>> = found.into_iter().skip(q.skip).take(q.limit).map(|(p, _)| p.clone()).collect();
        Ok(Page { items, total, next_cursor: None, facets: Some(facets) })
    }
}
