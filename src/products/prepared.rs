//! Catalog answers from ready bytes. Each product's JSON is written once per version, field by
//! field, so a list page (with or without `select`) is a join of ready fields; whole answers are
//! kept by URL until the next catalog or index change, with their ETag and gzip form
//! ([`Data`]). The bytes are what the framework would write for the same views (the
//! serde_json map order, its number and string forms): a unit test below and the API tests hold
//! them to a fresh serialization.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use poem_openapi::types::ToJSON;
use serde_json::Value;

use super::Product;
use crate::http::ready::Data;

/// The fields of a product view, in the order its JSON has them.
pub const FIELDS: [&str; 16] = [
    "brand",
    "category",
    "createdAt",
    "description",
    "discountPercentage",
    "id",
    "images",
    "isActive",
    "price",
    "rating",
    "sku",
    "stock",
    "tags",
    "thumbnail",
    "title",
    "updatedAt",
];
const ID: usize = 5;
/// Where a product detail's `reviews` go: after `rating`.
const BEFORE_REVIEWS: usize = 10;

/// Which fields a list shows: a bit per [`FIELDS`] entry; `id` always.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Select(u16);

impl Select {
    pub const ALL: Select = Select(u16::MAX);

    /// The chosen fields (names as in [`FIELDS`]) and `id`; `None` for every field.
    pub fn of(fields: Option<&[String]>) -> Select {
        let Some(fields) = fields else { return Select::ALL };
        let mut bits = 1 << ID;
        for f in fields {
            if let Some(i) = FIELDS.iter().position(|n| n == f) {
                bits |= 1 << i;
            }
        }
        Select(bits)
    }
}

/// A product's JSON object and where each field's `"name":value` ends in it.
pub struct ProductJson {
    json: Box<str>,
    ends: [u32; FIELDS.len()],
}

impl ProductJson {
    /// The JSON of `p.view()`, with its URLs under `public_url` as a response shows them.
    pub fn of(p: &Product, public_url: &Option<Arc<str>>) -> ProductJson {
        let view = crate::http::envelope::PUBLIC_URL.sync_scope(public_url.clone(), || p.view());
        let Some(Value::Object(map)) = view.to_json() else { unreachable!("a product view is an object") };
        debug_assert!(map.keys().map(String::as_str).eq(FIELDS), "FIELDS follows the view's JSON");
        let mut json = String::with_capacity(1024);
        let mut ends = [0u32; FIELDS.len()];
        json.push('{');
        for (i, (key, value)) in map.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str(&serde_json::to_string(key).expect("a string serializes"));
            json.push(':');
            json.push_str(&serde_json::to_string(value).expect("a value serializes"));
            ends[i] = json.len() as u32;
        }
        json.push('}');
        ProductJson { json: json.into_boxed_str(), ends }
    }

    fn field(&self, i: usize) -> &str {
        let start = if i == 0 { 1 } else { self.ends[i - 1] as usize + 1 };
        &self.json[start..self.ends[i] as usize]
    }

    /// Writes the object with the selected fields.
    pub fn write(&self, out: &mut Vec<u8>, select: Select) {
        if select == Select::ALL {
            out.extend_from_slice(self.json.as_bytes());
            return;
        }
        out.push(b'{');
        let mut first = true;
        for i in (0..FIELDS.len()).filter(|i| select.0 & (1 << i) != 0) {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(self.field(i).as_bytes());
        }
        out.push(b'}');
    }

    /// Writes the object with `"reviews":` and the given JSON array in its place.
    pub fn write_with_reviews(&self, out: &mut Vec<u8>, reviews: &str) {
        let cut = self.ends[BEFORE_REVIEWS - 1] as usize;
        out.extend_from_slice(&self.json.as_bytes()[..cut]);
        out.extend_from_slice(b",\"reviews\":");
        out.extend_from_slice(reviews.as_bytes());
        out.extend_from_slice(&self.json.as_bytes()[cut..]);
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.json.len()
    }
}

/// Writes a JSON value as serde_json does.
pub fn write_value(out: &mut Vec<u8>, value: &impl serde::Serialize) {
    serde_json::to_writer(&mut *out, value).expect("a value serializes into a vec");
}

/// Matches per name (a facet).
pub type Counts = BTreeMap<String, u64>;

/// The `data` of a product list page: `{limit, nextCursor, products, skip, total}`, and with
/// facets (brand, category) a search page's `facets` first.
pub fn list_page<'a>(
    products: impl Iterator<Item = &'a ProductJson>,
    select: Select,
    (total, skip, limit): (usize, usize, usize),
    next_cursor: Option<&str>,
    facets: Option<[&Counts; 2]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.push(b'{');
    if let Some([brand, category]) = facets {
        out.extend_from_slice(b"\"facets\":{\"brand\":");
        write_value(&mut out, brand);
        out.extend_from_slice(b",\"category\":");
        write_value(&mut out, category);
        out.extend_from_slice(b"},");
    }
    out.extend_from_slice(format!("\"limit\":{limit},\"nextCursor\":").as_bytes());
    write_value(&mut out, &next_cursor);
    out.extend_from_slice(b",\"products\":[");
    for (i, p) in products.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        p.write(&mut out, select);
    }
    out.extend_from_slice(format!("],\"skip\":{skip},\"total\":{total}}}").as_bytes());
    out
}

/// The most the answers kept by URL may hold; past it they are all dropped and made again.
const PAGES_BUDGET: usize = 8 * 1024 * 1024;

/// Whole catalog answers by URL, each with the catalog and index state it was made from: an
/// answer is given only while both are unchanged, so a write is never followed by an old one.
#[derive(Default)]
pub struct Pages {
    inner: Mutex<PagesInner>,
    /// Answers given from here, and made (for /metrics).
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
struct PagesInner {
    map: HashMap<String, ((u64, u64), Arc<Data>)>,
    bytes: usize,
}

impl Pages {
    /// The answer kept for `key`, when it was made at `stamp` (the state now).
    pub fn get(&self, key: &str, stamp: (u64, u64)) -> Option<Arc<Data>> {
        let found = self.inner.lock().map.get(key).filter(|(at, _)| *at == stamp).map(|(_, data)| data.clone());
        let tally = if found.is_some() { &self.hits } else { &self.misses };
        tally.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Answers given from here, and made.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// Keeps `json`, made for `key` from the state at `stamp`, unless the state changed while it
    /// was made (`now`): such an answer may already be old.
    pub fn keep(&self, key: &str, stamp: (u64, u64), now: (u64, u64), json: Vec<u8>) -> Arc<Data> {
        let data = Arc::new(Data::new(json));
        if now == stamp {
            let mut inner = self.inner.lock();
            if inner.bytes + data.size() > PAGES_BUDGET {
                inner.map.clear();
                inner.bytes = 0;
            }
            inner.bytes += data.size();
            if let Some((_, old)) = inner.map.insert(key.to_string(), (stamp, data.clone())) {
                inner.bytes -= old.size().min(inner.bytes);
            }
        }
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product() -> Product {
        let mut p = crate::products::blank(7);
        p.title = "Caf\u{e9} \"cr\u{e8}me\" \u{1f600}".into();
        p.description = "line\nbreak\t<tab> & \\ slash".into();
        p.price = crate::types::Money::from_decimal("1234.50".parse().unwrap());
        p.discount_percentage = "12.5".parse().unwrap();
        p.stock = 3;
        p.brand = "Br\u{e4}nd".into();
        p.category = "home-decoration".into();
        p.thumbnail = "/uploads/t.webp".into();
        p.images = vec!["/uploads/a.webp".into(), "https://cdn.example/b.jpg".into()];
        p.tags = vec!["x".into(), "y z".into()];
        p.sku = "SKU-1".into();
        p.rating_sum = 9;
        p.rating_count = 2;
        p
    }

    #[test]
    fn the_ready_json_is_a_fresh_serialization() {
        let p = product();
        let base: Option<Arc<str>> = Some("https://shop.example".into());
        let ready = ProductJson::of(&p, &base);
        let fresh =
            crate::http::envelope::PUBLIC_URL.sync_scope(base.clone(), || serde_json::to_string(&p.view().to_json()));
        assert_eq!(&*ready.json, fresh.unwrap());
        assert!(ready.json.contains("\"thumbnail\":\"https://shop.example/uploads/t.webp\""));

        let mut some = Vec::new();
        ready.write(&mut some, Select::of(Some(&["title".into(), "price".into()])));
        assert_eq!(String::from_utf8(some).unwrap(), r#"{"id":7,"price":1234.5,"title":"Café \"crème\" 😀"}"#);

        let mut detail = Vec::new();
        ready.write_with_reviews(&mut detail, "[]");
        let mut want = p.view().to_json().unwrap();
        want["thumbnail"] = "https://shop.example/uploads/t.webp".into();
        want["images"][0] = "https://shop.example/uploads/a.webp".into();
        want["reviews"] = Value::Array(vec![]);
        assert_eq!(String::from_utf8(detail).unwrap(), serde_json::to_string(&want).unwrap());
    }
}
