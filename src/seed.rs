//! The demo catalog (`shopd seed`, and the first start of an empty data dir) and the benchmark
//! catalog generator (`shopd seed --generate N`).
//!
//! The demo data is our own (scripts/demo_catalog.py made it) and is compiled into the binary,
//! so a downloaded `shopd` fills a shop with nothing else at hand.

use anyhow::{Context, bail};
use chrono::{Duration, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::auth::password::Passwords;
use crate::error::ApiError;
use crate::products::mirror::GENERATION;
use crate::products::reviews::{REVIEWS, Review};
use crate::products::{PRODUCTS, Product, blank};
use crate::store::{Store, StoreError};
use crate::types::Money;
use crate::users::admin::ensure_admin;
use crate::users::{Role, USERS, User};

const CATALOG: &str = include_str!("../data/demo/catalog.json");
const IMAGES: [(&str, &[u8]); 20] = [
    ("audio.svg", include_bytes!("../data/demo/audio.svg")),
    ("beauty.svg", include_bytes!("../data/demo/beauty.svg")),
    ("cameras.svg", include_bytes!("../data/demo/cameras.svg")),
    ("fragrances.svg", include_bytes!("../data/demo/fragrances.svg")),
    ("furniture.svg", include_bytes!("../data/demo/furniture.svg")),
    ("gaming.svg", include_bytes!("../data/demo/gaming.svg")),
    ("groceries.svg", include_bytes!("../data/demo/groceries.svg")),
    ("home-appliances.svg", include_bytes!("../data/demo/home-appliances.svg")),
    ("home-decoration.svg", include_bytes!("../data/demo/home-decoration.svg")),
    ("kitchen.svg", include_bytes!("../data/demo/kitchen.svg")),
    ("laptops.svg", include_bytes!("../data/demo/laptops.svg")),
    ("mens-shirts.svg", include_bytes!("../data/demo/mens-shirts.svg")),
    ("mobile-accessories.svg", include_bytes!("../data/demo/mobile-accessories.svg")),
    ("skin-care.svg", include_bytes!("../data/demo/skin-care.svg")),
    ("smartphones.svg", include_bytes!("../data/demo/smartphones.svg")),
    ("smartwatches.svg", include_bytes!("../data/demo/smartwatches.svg")),
    ("sports-accessories.svg", include_bytes!("../data/demo/sports-accessories.svg")),
    ("sunglasses.svg", include_bytes!("../data/demo/sunglasses.svg")),
    ("tablets.svg", include_bytes!("../data/demo/tablets.svg")),
    ("womens-dresses.svg", include_bytes!("../data/demo/womens-dresses.svg")),
];

pub const DEMO_ADMIN: (&str, &str) = ("admin@shopd.local", "ShopdAdmin1");
pub const DEMO_CUSTOMER: (&str, &str) = ("customer@shopd.local", "ShopdDemo1");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoProduct {
    title: String,
    description: String,
    price: f64,
    discount_percentage: f64,
    stock: i64,
    brand: String,
    category: String,
    tags: Vec<String>,
    sku: String,
    thumbnail: String,
    images: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoReview {
    product: usize,
    rating: u8,
    comment: String,
    reviewer_name: String,
    reviewer_email: String,
    days_ago: i64,
}

#[derive(Deserialize)]
struct Demo {
    products: Vec<DemoProduct>,
    reviews: Vec<DemoReview>,
}

/// Two decimals of a JSON number, exactly as written in the file.
fn decimal(n: f64) -> Decimal {
    n.to_string().parse().unwrap_or_default()
}

/// Whether the store has neither products nor users: a new shop.
pub fn is_empty(store: &Store) -> Result<bool, StoreError> {
    let r = store.read()?;
    Ok(r.count(&PRODUCTS)? == 0 && r.count(&USERS)? == 0)
}

/// Loads the demo catalog, its placeholder images and the two demo accounts. Returns the number
/// of products. Refuses a store that already has products.
pub async fn demo(store: &Store, passwords: &Passwords, data_dir: &std::path::Path) -> anyhow::Result<usize> {
    if store.read().and_then(|r| r.count(&PRODUCTS))? > 0 {
        bail!("the store already has products; seed only an empty shop");
    }
    let demo: Demo = serde_json::from_str(CATALOG).context("the demo catalog is broken")?;
    let images = data_dir.join("uploads").join("demo");
    std::fs::create_dir_all(&images).with_context(|| images.display().to_string())?;
    for (name, bytes) in IMAGES {
        std::fs::write(images.join(name), bytes)?;
    }
    let count = demo.products.len();
    store
        .write(move |w| {
            let now = Utc::now();
            let mut products: Vec<Product> = Vec::with_capacity(demo.products.len());
            for (i, d) in demo.products.into_iter().enumerate() {
                let mut p = blank(w.next_id(&PRODUCTS)?);
                p.title = d.title;
                p.description = d.description;
                p.price = Money::from_decimal(decimal(d.price));
                p.discount_percentage = decimal(d.discount_percentage);
                p.stock = d.stock;
                p.brand = d.brand;
                p.category = d.category;
                p.tags = d.tags;
                p.sku = d.sku;
                p.thumbnail = d.thumbnail;
                p.images = d.images;
                // Spread creation times so that "newest" means something in the demo.
                p.created_at = now - Duration::hours((count - i) as i64);
                p.updated_at = p.created_at;
                products.push(p);
            }
            for r in demo.reviews {
                let Some(p) = products.get_mut(r.product) else { continue };
                let review = Review {
                    id: w.next_id(&REVIEWS)?,
                    product_id: p.id,
                    user_id: None,
                    rating: r.rating.clamp(1, 5),
                    comment: r.comment,
                    date: now - Duration::days(r.days_ago),
                    reviewer_name: r.reviewer_name,
                    reviewer_email: r.reviewer_email,
                };
                p.rating_sum += review.rating as u64;
                p.rating_count += 1;
                w.put(&REVIEWS, &(p.id, review.id), &review)?;
            }
            for p in &products {
                w.put(&PRODUCTS, &p.id, p)?;
            }
            w.next_id(&GENERATION)?;
            Ok::<_, StoreError>(())
        })
        .await?;
    ensure_admin(store, passwords, DEMO_ADMIN.0, DEMO_ADMIN.1).await?;
    demo_customer(store, passwords).await?;
    Ok(count)
}

async fn demo_customer(store: &Store, passwords: &Passwords) -> anyhow::Result<()> {
    let hash = passwords.hash(DEMO_CUSTOMER.1).await.map_err(|e| anyhow::Error::msg(e.message))?;
    store
        .write(move |w| {
            if User::find_by_email_w(w, DEMO_CUSTOMER.0)?.is_some() {
                return Ok(());
            }
            let id = w.next_id(&USERS)?;
            let name = ("Demo".to_string(), "Customer".to_string());
            let customer = User::new(id, DEMO_CUSTOMER.0.into(), hash, name, Role::User);
            let user = User { email_verified: true, ..customer };
            w.put(&USERS, &id, &user).map_err(ApiError::from)
        })
        .await?;
    Ok(())
}

const NOUNS: [&str; 24] = [
    "Phone",
    "Smartphone",
    "Headphones",
    "Laptop",
    "Tablet",
    "Camera",
    "Watch",
    "Speaker",
    "Keyboard",
    "Mouse",
    "Monitor",
    "Charger",
    "Backpack",
    "Jacket",
    "Sneakers",
    "Lamp",
    "Chair",
    "Desk",
    "Blender",
    "Kettle",
    "Perfume",
    "Serum",
    "Sunglasses",
    "Console",
];
const ADJECTIVES: [&str; 16] = [
    "Pro", "Max", "Mini", "Ultra", "Lite", "Classic", "Wireless", "Smart", "Portable", "Compact", "Deluxe", "Eco",
    "Sport", "Studio", "Travel", "Home",
];
const BRANDS: [&str; 12] =
    ["Apple", "Samsung", "Nordic", "Vertex", "Lumen", "Acme", "Orbit", "Pulse", "Zenith", "Kora", "Atlas", "Nimbus"];

/// Appends `n` generated products (for benchmarks), calling `progress` per thousand.
pub async fn generate(store: &Store, n: u64, progress: impl Fn(u64)) -> Result<u64, StoreError> {
    let mut made = 0u64;
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    while made < n {
        let batch = (n - made).min(1000);
        let mut rows = Vec::with_capacity(batch as usize);
        for _ in 0..batch {
            // xorshift: fast, deterministic, plenty for sample data.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            rows.push(seed);
        }
        store
            .write(move |w| {
                let now = Utc::now();
                for r in rows {
                    let mut p = blank(w.next_id(&PRODUCTS)?);
                    let noun = NOUNS[(r % 24) as usize];
                    let brand = BRANDS[((r >> 8) % 12) as usize];
                    p.title = format!("{brand} {noun} {} {}", ADJECTIVES[((r >> 16) % 16) as usize], (r >> 24) % 1000);
                    p.description = format!(
                        "A {} {} by {brand}, model {}.",
                        ADJECTIVES[((r >> 32) % 16) as usize].to_lowercase(),
                        noun.to_lowercase(),
                        r % 10_000
                    );
                    p.price = Money::from_decimal(Decimal::new(((r >> 20) % 200_000 + 99) as i64, 2));
                    p.discount_percentage = Decimal::new(((r >> 40) % 3000) as i64, 2);
                    p.stock = ((r >> 44) % 300) as i64;
                    p.brand = brand.into();
                    p.category = crate::products::slug(noun);
                    p.tags = vec![noun.to_lowercase(), brand.to_lowercase()];
                    p.created_at = now - Duration::seconds((r % 10_000_000) as i64);
                    p.updated_at = p.created_at;
                    w.put(&PRODUCTS, &p.id, &p)?;
                }
                w.next_id(&GENERATION)?;
                Ok::<_, StoreError>(())
            })
            .await?;
        made += batch;
        progress(made);
    }
    Ok(made)
}

/// Adds `n` sample orders of the shop's products, placed evenly over the `days` days before now
/// (oldest first) by its customers, in every status; written through the same indexes and
/// sales figures as real orders, without touching stock: a history for demos and benchmarks.
pub async fn orders(
    store: &Store,
    settings: &crate::config::Settings,
    n: u64,
    days: u32,
    progress: impl Fn(u64),
) -> anyhow::Result<u64> {
    use crate::orders::{HistoryEntry, ORDERS, Order, OrderItem, Status};
    let r = store.read()?;
    let products: Vec<(u64, Money, String, String)> = r
        .scan(&PRODUCTS, &(), false)?
        .filter_map(|p| p.ok())
        .filter(|p| p.is_active)
        .map(|p| (p.id, p.discounted_price(), p.title.clone(), p.thumbnail.clone()))
        .collect();
    let customers: Vec<(u64, String)> = r
        .scan(&USERS, &(), false)?
        .filter_map(|u| u.ok())
        .filter(|u| u.role == Role::User)
        .map(|u| (u.id, u.email))
        .collect();
    drop(r);
    if products.is_empty() || customers.is_empty() {
        bail!("sample orders need products and a customer account: seed the demo catalog first");
    }
    let (products, customers) = (std::sync::Arc::new(products), std::sync::Arc::new(customers));
    let span = i64::from(days) * 86_400;
    let start = Utc::now().timestamp() - span;
    let mut made = 0u64;
    while made < n {
        let batch = (n - made).min(5_000);
        let (products, customers, settings) = (products.clone(), customers.clone(), settings.clone());
        let first = made;
        store
            .write(move |w| {
                for i in first..first + batch {
                    let secs = start + (i as i64 * span) / n as i64;
                    let at = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_else(Utc::now);
                    let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs as u64, 0));
                    let status = match i % 20 {
                        0 | 1 => Status::Pending,
                        2..=4 => Status::Processing,
                        5..=7 => Status::Shipped,
                        8 => Status::Cancelled,
                        _ => Status::Delivered,
                    };
                    let mut items = Vec::new();
                    for l in 0..1 + i % 3 {
                        let (pid, price, title, thumbnail) =
                            &products[((i * 7 + l * 13) % products.len() as u64) as usize];
                        let quantity = 1 + ((i + l) % 3) as u32;
                        items.push(OrderItem {
                            id: w.next_id(&crate::orders::ORDER_ITEMS)?,
                            product_id: *pid,
                            quantity,
                            price: *price,
                            total: Money::from_decimal(price.amount() * Decimal::from(quantity)),
                            discount: Money::ZERO,
                            title: title.clone(),
                            thumbnail: thumbnail.clone(),
                        });
                    }
                    let (user_id, email) = &customers[(i % customers.len() as u64) as usize];
                    let buyer = crate::orders::Buyer {
                        user_id: *user_id,
                        email: Some(email.clone()),
                        address: sample_address(),
                    };
                    let mut o = Order::placed(w, &settings, id, buyer, items, None, at)?;
                    for next in [Status::Processing, Status::Shipped, Status::Delivered] {
                        if status == next || (status as u8 > next as u8 && status != Status::Cancelled) {
                            o.history.push(HistoryEntry { status: next, at, note: None });
                        }
                    }
                    if status == Status::Cancelled {
                        o.history.push(HistoryEntry { status, at, note: Some("Expired unpaid".into()) });
                        o.cancelled_at = Some(at);
                    }
                    o.status = status;
                    o.delivered_at = (status == Status::Delivered).then_some(at);
                    w.put(&ORDERS, &o.id, &o)?;
                }
                Ok::<_, StoreError>(())
            })
            .await?;
        made += batch;
        progress(made);
    }
    Ok(made)
}

fn sample_address() -> crate::orders::ShippingAddress {
    crate::orders::ShippingAddress {
        first_name: "Ann".into(),
        last_name: "Smith".into(),
        address: "1 Main St".into(),
        city: "Oslo".into(),
        state: "Oslo".into(),
        zip_code: "0150".into(),
        country: "NO".into(),
        phone: None,
    }
}
