//! /api/v1/products over the demo catalog: lists, search, admin writes, stock, reviews, images.

use poem::http::StatusCode;
use poem::test::{TestForm, TestFormField};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, send};

async fn get(app: &TestApp, path: &str) -> Value {
    let r = send(app.get(path)).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
    r.json()["data"].clone()
}

fn titles(page: &Value) -> Vec<String> {
    page["products"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap().to_string()).collect()
}

fn ids(page: &Value) -> Vec<u64> {
    page["products"].as_array().unwrap().iter().map(|p| p["id"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn the_list_pages_sorts_filters_and_selects() {
    let app = TestApp::demo().await;
    let page = get(&app, "/api/v1/products").await;
    assert_eq!((page["total"].as_u64(), page["skip"].as_u64(), page["limit"].as_u64()), (Some(201), Some(0), Some(10)));
    assert_eq!(ids(&page), (192..=201).rev().collect::<Vec<_>>(), "newest first (createdAt desc) by default");
    let p = &page["products"][0];
    for k in [
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
    ] {
        assert!(p.get(k).is_some(), "{k} in {p}");
    }
    assert!(p["price"].is_number() && p["rating"].is_number());

    let page = get(&app, "/api/v1/products?skip=195&limit=1000").await;
    assert_eq!(page["limit"], 100, "clamped");
    assert_eq!(page["products"].as_array().unwrap().len(), 6);
    assert_error(&send(app.get("/api/v1/products?limit=-1")).await, 400, "VALIDATION_ERROR");
    assert_error(&send(app.get("/api/v1/products?skip=abc")).await, 400, "VALIDATION_ERROR");
    for (query, field) in
        [("sortBy=color", "sortBy"), ("order=up", "order"), ("minPrice=x", "minPrice"), ("maxPrice=-1", "maxPrice")]
    {
        let err = assert_error(&send(app.get(&format!("/api/v1/products?{query}"))).await, 400, "VALIDATION_ERROR");
        assert!(err["details"][field].is_array(), "{field} in {err}");
    }
    // A limit far past any integer is clamped like any other, not refused.
    let page = get(&app, "/api/v1/products?limit=1000000000000000000000000000000").await;
    assert_eq!((page["limit"].as_u64(), page["products"].as_array().map(Vec::len)), (Some(100), Some(100)));
    // An empty price range matches nothing.
    assert_eq!(get(&app, "/api/v1/products?minPrice=50&maxPrice=10").await["total"], 0);

    for (sort, order) in [
        ("price", "asc"),
        ("price", "desc"),
        ("title", "asc"),
        ("rating", "desc"),
        ("stock", "asc"),
        ("createdAt", "desc"),
        ("discountPercentage", "desc"),
    ] {
        let page = get(&app, &format!("/api/v1/products?sortBy={sort}&order={order}&limit=100")).await;
        let values: Vec<Value> = page["products"].as_array().unwrap().iter().map(|p| p[sort].clone()).collect();
        let key = |v: &Value| {
            if let Some(n) = v.as_f64() { format!("{n:020.4}") } else { v.as_str().unwrap().to_lowercase() }
        };
        let mut sorted = values.clone();
        sorted.sort_by_key(key);
        if order == "desc" {
            sorted.reverse();
        }
        assert_eq!(
            values.iter().map(key).collect::<Vec<_>>(),
            sorted.iter().map(key).collect::<Vec<_>>(),
            "{sort} {order}"
        );
    }

    // Each filter gives exactly the demo products that pass it, all of them on the page.
    let catalog = app.state.catalog.all();
    let expect = |keep: &dyn Fn(&shopd::products::Product) -> bool| {
        let mut ids: Vec<u64> = catalog.iter().filter(|p| p.is_active && keep(p)).map(|p| p.id).collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids
    };
    let hundred = rust_decimal::Decimal::from(100);
    let in_range = expect(&|p| p.price.amount() >= hundred && p.price.amount() <= hundred * rust_decimal::Decimal::TWO);
    let page = get(&app, "/api/v1/products?minPrice=100&maxPrice=200&limit=100").await;
    assert!(!in_range.is_empty());
    assert_eq!((ids(&page), page["total"].as_u64()), (in_range.clone(), Some(in_range.len() as u64)));
    let apple = get(&app, "/api/v1/products?brand=aPPLE&limit=100").await;
    let apples = expect(&|p| p.brand == "Apple");
    assert!(apples.len() >= 2);
    assert_eq!(ids(&apple), apples);
    let out = get(&app, "/api/v1/products?inStock=false&limit=100").await;
    let sold_out = expect(&|p| p.stock == 0);
    assert!(!sold_out.is_empty());
    assert_eq!(ids(&out), sold_out);
    let inside = get(&app, "/api/v1/products?inStock=true&limit=1").await;
    assert_eq!(inside["total"].as_u64().unwrap() + out["total"].as_u64().unwrap(), 201);

    let slim = get(&app, "/api/v1/products?select=title,price&limit=2").await;
    assert_eq!(slim["products"][0].as_object().unwrap().keys().collect::<Vec<_>>(), ["id", "price", "title"]);
    assert_error(&send(app.get("/api/v1/products?select=title,secret")).await, 400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn cursors_walk_the_whole_list_once() {
    let app = TestApp::demo().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/products?limit=50&sortBy=price&order=desc&cursor={c}"),
            None => "/api/v1/products?limit=50&sortBy=price&order=desc".into(),
        };
        let page = get(&app, &path).await;
        assert_eq!(page["total"], 201);
        seen.extend(ids(&page));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (201, 201));
    assert_error(&send(app.get("/api/v1/products?cursor=garbage")).await, 400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn categories_and_a_category_list() {
    let app = TestApp::demo().await;
    let cats: Vec<String> = serde_json::from_value(get(&app, "/api/v1/products/categories").await).unwrap();
    assert_eq!(cats.len(), 20);
    let mut sorted = cats.clone();
    sorted.sort();
    assert_eq!(cats, sorted);
    let phones = get(&app, "/api/v1/products/category/smartphones?limit=100").await;
    let mut expected: Vec<u64> =
        app.state.catalog.all().iter().filter(|p| p.is_active && p.category == "smartphones").map(|p| p.id).collect();
    expected.sort_unstable_by(|a, b| b.cmp(a));
    assert!(expected.len() >= 8);
    assert_eq!(ids(&phones), expected);
    assert_eq!(get(&app, "/api/v1/products/category/nothing-here").await["total"], 0);
}

#[tokio::test]
async fn a_product_shows_its_latest_reviews_and_missing_ones_are_404() {
    let app = TestApp::demo().await;
    let p = get(&app, "/api/v1/products/1").await;
    assert_eq!(p["id"], 1);
    let reviews = p["reviews"].as_array().unwrap();
    assert!(!reviews.is_empty() && reviews.len() <= 10);
    let dates: Vec<&str> = reviews.iter().map(|r| r["date"].as_str().unwrap()).collect();
    let mut newest_first = dates.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(dates, newest_first);
    let mean = reviews.len(); // the page may be partial; the rating is over all reviews
    assert!(mean > 0 && p["rating"].as_f64().unwrap() > 0.0);
    assert_error(&send(app.get("/api/v1/products/99999")).await, 404, "PRODUCT_NOT_FOUND");
    assert_error(&send(app.get("/api/v1/products/abc")).await, 400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn admins_write_products_and_everyone_sees_it_at_once() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let user = app.user("shopper@shop.test").await;
    let body = json!({"title": "Zyxquark Phone Zeta", "description": "A test phone", "price": 19.99, "discountPercentage": 12.5,
                      "stock": 5, "brand": "Zeta", "category": "Smart Phones", "tags": ["Test"]});
    assert_error(&send(app.post_as("/api/v1/products", &user).body_json(&body)).await, 403, "FORBIDDEN");
    assert_error(&send(app.post("/api/v1/products").body_json(&body)).await, 401, "UNAUTHORIZED");
    let bad = json!({"title": "", "price": 0, "discountPercentage": 101, "stock": -1, "brand": " ", "category": ""});
    let err =
        assert_error(&send(app.post_as("/api/v1/products", &admin).body_json(&bad)).await, 400, "VALIDATION_ERROR");
    for f in ["title", "price", "discountPercentage", "stock", "brand", "category"] {
        assert!(err["details"][f].is_array(), "{f} in {err}");
    }
    let r = send(app.post_as("/api/v1/products", &admin).body_json(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let created = r.json()["data"].clone();
    assert_eq!((created["price"].as_f64(), created["discountPercentage"].as_f64()), (Some(19.99), Some(12.5)));
    assert_eq!(created["category"], "smart-phones");
    let id = created["id"].as_u64().unwrap();

    // Visible to reads and search the moment the write returns.
    assert_eq!(get(&app, &format!("/api/v1/products/{id}")).await["title"], "Zyxquark Phone Zeta");
    let found = get(&app, "/api/v1/products/search?q=zyxquark").await;
    assert_eq!(ids(&found), [id]);
    assert!(get(&app, "/api/v1/products/categories").await.as_array().unwrap().contains(&json!("smart-phones")));

    let r = send(
        app.client
            .patch(format!("/api/v1/products/{id}"))
            .header("Authorization", admin.bearer())
            .body_json(&json!({"title": "Xylographix Phone Zeta"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["data"]["price"], 19.99, "partial");
    assert_eq!(get(&app, "/api/v1/products/search?q=zyxquark").await["total"], 0, "the old title is gone from search");
    assert_eq!(ids(&get(&app, "/api/v1/products/search?q=xylographix").await), [id]);
    let r = send(
        app.client
            .put(format!("/api/v1/products/{id}"))
            .header("Authorization", admin.bearer())
            .body_json(&json!({"stock": 7})),
    )
    .await;
    assert_eq!(r.json()["data"]["stock"], 7);
    let r = send(
        app.client
            .patch(format!("/api/v1/products/{id}"))
            .header("Authorization", admin.bearer())
            .body_json(&json!({"rating": 5, "stock": 8})),
    )
    .await;
    // A field the body does not know (the rating comes from reviews) is ignored, never stored.
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!((r.json()["data"]["rating"].as_f64(), r.json()["data"]["stock"].as_i64()), (Some(0.0), Some(8)));
    assert_eq!(get(&app, &format!("/api/v1/products/{id}")).await["rating"], 0.0);

    let r = send(app.client.delete(format!("/api/v1/products/{id}")).header("Authorization", admin.bearer())).await;
    assert_eq!(r.json()["data"], json!({"id": id, "isDeleted": true}));
    assert_error(&send(app.get(&format!("/api/v1/products/{id}"))).await, 404, "PRODUCT_NOT_FOUND");
    assert_eq!(get(&app, "/api/v1/products/search?q=xylographix").await["total"], 0);
    assert_eq!(get(&app, "/api/v1/products").await["total"], 201);
    assert!(!get(&app, "/api/v1/products/categories").await.as_array().unwrap().contains(&json!("smart-phones")));
    let r = send(app.client.delete(format!("/api/v1/products/{id}")).header("Authorization", admin.bearer())).await;
    assert_error(&r, 404, "PRODUCT_NOT_FOUND");
    // An admin brings a deleted (inactive) product back, and changes its stock meanwhile.
    let stock = send(
        app.client
            .patch(format!("/api/v1/products/{id}/stock"))
            .header("Authorization", admin.bearer())
            .body_json(&json!({"quantity": 2})),
    )
    .await;
    assert_eq!((stock.status, stock.json()["data"]["stock"].as_i64()), (StatusCode::OK, Some(10)), "{}", stock.text());
    assert_error(&send(app.get(&format!("/api/v1/products/{id}"))).await, 404, "PRODUCT_NOT_FOUND");
    let back = send(
        app.client
            .patch(format!("/api/v1/products/{id}"))
            .header("Authorization", admin.bearer())
            .body_json(&json!({"isActive": true})),
    )
    .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text());
    assert_eq!(get(&app, &format!("/api/v1/products/{id}")).await["stock"], 10);
    assert_eq!(ids(&get(&app, "/api/v1/products/search?q=xylographix").await), [id]);
    assert_eq!(get(&app, "/api/v1/products").await["total"], 202);

    let audit = send(app.get_as("/api/v1/admin/audit-logs?entity=Product&limit=100", &admin)).await.json();
    let actions: Vec<&str> =
        audit["data"]["logs"].as_array().unwrap().iter().map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "PRODUCT_UPDATE",
            "PRODUCT_STOCK",
            "PRODUCT_DELETE",
            "PRODUCT_UPDATE",
            "PRODUCT_UPDATE",
            "PRODUCT_UPDATE",
            "PRODUCT_CREATE"
        ]
    );
}

#[tokio::test]
async fn stock_changes_never_go_below_zero() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let stock = get(&app, "/api/v1/products/1").await["stock"].as_i64().unwrap();
    let patch = |q: i64| {
        app.client
            .patch("/api/v1/products/1/stock")
            .header("Authorization", admin.bearer())
            .body_json(&json!({"quantity": q}))
    };
    let r = send(patch(5)).await;
    assert_eq!(r.json()["data"]["stock"], stock + 5);
    let r = send(patch(-(stock + 6))).await;
    let err = assert_error(&r, 400, "INSUFFICIENT_STOCK");
    assert!(err["message"].as_str().unwrap().contains("iPhone 15 Pro"), "{err}");
    assert_eq!(get(&app, "/api/v1/products/1").await["stock"], stock + 5, "nothing changed");
    assert_eq!(send(patch(-(stock + 5))).await.json()["data"]["stock"], 0);
    let out = get(&app, "/api/v1/products?inStock=false&limit=100").await;
    assert!(ids(&out).contains(&1), "filters see the new stock at once");
}

#[tokio::test]
async fn search_finds_parts_of_words_tolerates_a_typo_and_ranks_whole_words_first() {
    let app = TestApp::demo().await;
    let phone = get(&app, "/api/v1/products/search?q=phone&limit=100").await;
    let found = titles(&phone);
    for expected in
        ["iPhone 15 Pro", "Galaxy Phone X", "Wireless Noise-Cancelling Headphones", "Vertex Smartphone Pro Max"]
    {
        assert!(found.iter().any(|t| t == expected), "{expected} in {found:?}");
    }
    // Whole-word title matches first, partial ones after.
    let first_partial = found
        .iter()
        .position(|t| !t.split(|c: char| !c.is_alphanumeric()).any(|w| w.eq_ignore_ascii_case("phone")))
        .unwrap();
    assert!(
        found[first_partial..]
            .iter()
            .all(|t| !t.split(|c: char| !c.is_alphanumeric()).any(|w| w.eq_ignore_ascii_case("phone"))),
        "{found:?}"
    );
    assert!(first_partial >= 3, "{found:?}");

    let facets = &phone["facets"];
    let by_category: u64 = facets["category"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    let by_brand: u64 = facets["brand"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!((by_category, by_brand), (phone["total"].as_u64().unwrap(), phone["total"].as_u64().unwrap()));
    let paged = get(&app, "/api/v1/products/search?q=phone&limit=2").await;
    assert_eq!(paged["facets"], phone["facets"], "facets count all matches, not the page");
    assert_eq!(paged["products"].as_array().unwrap().len(), 2);

    for typo in ["iphnoe", "iphon", "iphonee", "ipohne"] {
        let r = get(&app, &format!("/api/v1/products/search?q={typo}")).await;
        assert!(titles(&r).iter().any(|t| t.starts_with("iPhone")), "{typo}: {:?}", titles(&r));
    }
    let both = get(&app, "/api/v1/products/search?q=phone&category=audio&limit=100").await;
    assert!(both["total"].as_u64().unwrap() >= 3);
    assert!(both["products"].as_array().unwrap().iter().all(|p| p["category"] == "audio"));
    assert_eq!(both["facets"]["category"], json!({"audio": both["total"]}));
    let cheap = get(&app, "/api/v1/products/search?q=phone&sortBy=price&order=asc&limit=100").await;
    let prices: Vec<f64> = cheap["products"].as_array().unwrap().iter().map(|p| p["price"].as_f64().unwrap()).collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");
    assert_eq!(get(&app, "/api/v1/products/search?q=").await["total"], 201, "an empty query lists all");
    assert_eq!(get(&app, "/api/v1/products/search?q=zzzzqqqq").await["total"], 0);
}

#[tokio::test]
async fn a_rebuilt_index_gives_the_same_results() {
    let app = TestApp::demo().await;
    let queries = ["phone", "iphnoe", "wireless%20headphones", "kitchen", "apple"];
    let mut before = Vec::new();
    for q in queries {
        before.push(get(&app, &format!("/api/v1/products/search?q={q}&limit=100")).await);
    }
    let products = app.state.catalog.all();
    let generation = app.state.search.generation().unwrap();
    app.state.search.rebuild(products.iter().map(|p| p.as_ref()), generation, |_| {}).unwrap();
    for (q, b) in queries.iter().zip(before) {
        let after = get(&app, &format!("/api/v1/products/search?q={q}&limit=100")).await;
        assert_eq!(ids(&after), ids(&b), "{q}");
        assert_eq!(after["facets"], b["facets"], "{q}");
    }
}

#[tokio::test]
async fn reviews_are_one_per_user_and_move_the_rating() {
    let app = TestApp::demo().await;
    let a = app.user("rev1@shop.test").await;
    let b = app.user("rev2@shop.test").await;
    let admin = app.demo_admin().await;
    let fresh = send(
        app.post_as("/api/v1/products", &admin)
            .body_json(&json!({"title": "Review Me", "price": 10, "stock": 1, "brand": "B", "category": "c"})),
    )
    .await;
    let id = fresh.json()["data"]["id"].as_u64().unwrap();
    assert_eq!(get(&app, &format!("/api/v1/products/{id}")).await["rating"], 0.0);
    let path = format!("/api/v1/products/{id}/reviews");
    let r = send(app.post_as(&path, &a).body_json(&json!({"rating": 5, "comment": "Great"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let review = r.json()["data"].clone();
    assert_eq!(
        (review["productId"].as_u64(), review["userId"].as_u64(), review["rating"].as_u64()),
        (Some(id), Some(a.id), Some(5))
    );
    assert_eq!(review["reviewerName"], "Ann Smith");
    assert_eq!(review["reviewerEmail"], "rev1@shop.test");
    assert_error(&send(app.post_as(&path, &a).body_json(&json!({"rating": 4}))).await, 409, "REVIEW_EXISTS");
    assert_error(&send(app.post_as(&path, &b).body_json(&json!({"rating": 6}))).await, 400, "VALIDATION_ERROR");
    assert_error(&send(app.post(&path).body_json(&json!({"rating": 4}))).await, 401, "UNAUTHORIZED");
    send(app.post_as(&path, &b).body_json(&json!({"rating": 2}))).await;
    let c = app.user("rev3@shop.test").await;
    send(app.post_as(&path, &c).body_json(&json!({"rating": 4}))).await;
    assert_eq!(get(&app, &format!("/api/v1/products/{id}")).await["rating"], 3.67, "(5+2+4)/3 to 2 decimals");
    let page = get(&app, &format!("{path}?limit=2")).await;
    assert_eq!((page["total"].as_u64(), page["reviews"].as_array().unwrap().len()), (Some(3), 2));
    assert_eq!(page["reviews"][0]["userId"], c.id, "newest first");
    let public = page["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .chain(get(&app, &format!("/api/v1/products/{id}")).await["reviews"].as_array().unwrap())
        .cloned()
        .collect::<Vec<_>>();
    assert!(
        public.iter().all(|r| r["reviewerEmail"].is_null() && r["reviewerName"].is_string()),
        "no reviewer's email in public: {public:?}"
    );
    assert!(!send(app.get(&format!("{path}?limit=10"))).await.text().contains("@shop.test"));
    let listed = get(&app, "/api/v1/products?brand=b&sortBy=rating").await;
    assert_eq!(listed["products"][0]["rating"], 3.67, "lists see the new rating too");
    assert_error(
        &send(app.post_as("/api/v1/products/99999/reviews", &a).body_json(&json!({"rating": 3}))).await,
        404,
        "PRODUCT_NOT_FOUND",
    );
}

#[tokio::test]
async fn reviews_can_be_turned_off() {
    let app = TestApp::with(
        |s| {
            s.seed_demo = true;
            s.feature_reviews = false;
        },
        |r| r,
    )
    .await;
    let u = app.user("off@shop.test").await;
    assert_error(&send(app.get("/api/v1/products/1/reviews")).await, 404, "NOT_FOUND");
    assert_error(
        &send(app.post_as("/api/v1/products/1/reviews", &u).body_json(&json!({"rating": 3}))).await,
        404,
        "NOT_FOUND",
    );
    assert_eq!(get(&app, "/api/v1/products/1").await["reviews"], json!([]));
}

fn encoded(format: image::ImageFormat) -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, format).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn images_are_checked_by_content_stored_with_a_thumbnail_and_served() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let form = TestForm::new()
        .field(TestFormField::bytes(encoded(image::ImageFormat::Png)).name("images").filename("a.png"))
        .field(TestFormField::bytes(encoded(image::ImageFormat::Jpeg)).name("images").filename("../b.jpeg"))
        .field(TestFormField::bytes(encoded(image::ImageFormat::WebP)).name("images").filename("c.webp"));
    let r = send(app.post_as("/api/v1/products/1/images", &admin).multipart(form)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let p = r.json()["data"].clone();
    let images: Vec<&str> = p["images"].as_array().unwrap().iter().map(|i| i.as_str().unwrap()).collect();
    assert_eq!(images.len(), 4, "the demo image and three uploads: {images:?}");
    assert!(images[1].ends_with(".png") && images[2].ends_with(".jpg") && images[3].ends_with(".webp"), "{images:?}");
    let thumb = p["thumbnail"].as_str().unwrap();
    assert!(thumb.starts_with("/uploads/products/product-1-") && thumb.ends_with("-thumb.jpg"), "{thumb}");
    let served = send(app.get(thumb)).await;
    assert_eq!(served.status, StatusCode::OK);
    assert!(served.body.starts_with(&[0xFF, 0xD8, 0xFF]), "a JPEG thumbnail");
    let decoded = image::load_from_memory(&served.body).unwrap();
    assert!(decoded.width() <= 400 && decoded.height() <= 400);
    assert_eq!(send(app.get(images[3])).await.status, StatusCode::OK);

    let fake = TestForm::new()
        .field(TestFormField::bytes(b"plain text, honestly".to_vec()).name("images").filename("evil.png"));
    let r = send(app.post_as("/api/v1/products/1/images", &admin).multipart(fake)).await;
    let err = assert_error(&r, 400, "VALIDATION_ERROR");
    assert!(err["details"]["images"].is_array(), "{err}");
    let user = app.user("img@shop.test").await;
    let one =
        TestForm::new().field(TestFormField::bytes(encoded(image::ImageFormat::Png)).name("images").filename("a.png"));
    assert_error(&send(app.post_as("/api/v1/products/1/images", &user).multipart(one)).await, 403, "FORBIDDEN");
    let eleven = (0..11).fold(TestForm::new(), |f, i| {
        f.field(TestFormField::bytes(encoded(image::ImageFormat::Png)).name("images").filename(format!("{i}.png")))
    });
    assert_error(
        &send(app.post_as("/api/v1/products/1/images", &admin).multipart(eleven)).await,
        400,
        "VALIDATION_ERROR",
    );
}

#[tokio::test]
async fn the_index_survives_a_restart_and_a_damaged_one_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(&dir);
    settings.seed_demo = true;
    let app = shopd::startup::App::build(settings.clone()).await.unwrap();
    let generation = app.state.search.generation();
    let docs = app.state.search.doc_count();
    app.state.store.close();
    drop(app);
    let again = shopd::startup::App::build(settings.clone()).await.unwrap();
    assert_eq!(again.state.search.generation(), generation);
    assert_eq!(again.state.search.doc_count(), docs);
    assert!(!shopd::seed::is_empty(&again.state.store).unwrap(), "not seeded twice");
    assert_eq!(again.state.catalog.active_count(), 201);
    again.state.store.close();
    drop(again);
    std::fs::write(dir.path().join("search").join("meta.json"), b"{ not json").unwrap();
    let repaired = shopd::startup::App::build(settings).await.unwrap();
    assert_eq!(repaired.state.search.doc_count(), docs);
    assert!(!repaired.state.search.search("iphone").unwrap().list.is_empty());
}

#[tokio::test]
async fn a_cursor_keeps_its_place_when_the_last_product_changes() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let first = get(&app, "/api/v1/products?limit=50&sortBy=stock").await;
    let last = *ids(&first).last().unwrap();
    // The page boundary product jumps to the far end of the order.
    let r = send(
        app.client
            .patch(format!("/api/v1/products/{last}/stock"))
            .header("Authorization", admin.bearer())
            .body_json(&json!({"quantity": 100000})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let mut seen: Vec<u64> = ids(&first);
    let mut cursor = first["nextCursor"].as_str().map(str::to_string);
    while let Some(c) = cursor {
        let page = get(&app, &format!("/api/v1/products?limit=50&sortBy=stock&cursor={c}")).await;
        seen.extend(ids(&page));
        cursor = page["nextCursor"].as_str().map(str::to_string);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 201, "nothing after the boundary was skipped");
}

#[tokio::test]
async fn an_admin_removes_a_review_and_the_rating_is_recomputed() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    for (i, rating) in [5, 4, 1].into_iter().enumerate() {
        let s = app.user(&format!("reviewer{i}@shop.test")).await;
        let r = send(app.post_as("/api/v1/products/1/reviews", &s).body_json(&json!({"rating": rating}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
    let all = get(&app, "/api/v1/products/1/reviews?limit=100").await;
    let reviews = all["reviews"].as_array().unwrap().clone();
    assert!(reviews.len() >= 3, "{all}");
    let gone = reviews[0]["id"].as_u64().unwrap();
    // The moderation list: every product's reviews, newest first, with who wrote them.
    let listed = send(app.get_as("/api/v1/admin/reviews?limit=3", &admin)).await.json()["data"].clone();
    let newest = &listed["reviews"][0];
    assert_eq!(
        (newest["id"].as_u64(), newest["reviewerEmail"].as_str()),
        (Some(gone), Some("reviewer2@shop.test")),
        "{listed}"
    );
    assert_eq!(newest["productTitle"], get(&app, "/api/v1/products/1").await["title"]);
    let total = listed["total"].as_u64().unwrap();
    assert!(total > 3, "the demo's reviews too: {total}");
    let path = format!("/api/v1/admin/reviews/{gone}");
    let user = app.user("critic@shop.test").await;
    assert_error(&send(app.client.delete(&path).header("Authorization", user.bearer())).await, 403, "FORBIDDEN");

    let r = send(app.client.delete(&path).header("Authorization", admin.bearer())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let left: Vec<f64> = reviews[1..].iter().map(|r| r["rating"].as_f64().unwrap()).collect();
    let mean = (left.iter().sum::<f64>() / left.len() as f64 * 100.0).round() / 100.0;
    assert_eq!(r.json()["data"]["rating"].as_f64(), Some(mean), "the mean of the reviews left");
    let after = get(&app, "/api/v1/products/1/reviews?limit=100").await;
    assert_eq!(after["total"].as_u64(), Some(reviews.len() as u64 - 1));
    assert!(after["reviews"].as_array().unwrap().iter().all(|r| r["id"].as_u64() != Some(gone)));
    assert_eq!(get(&app, "/api/v1/products/1").await["rating"].as_f64(), Some(mean), "the catalog knows");

    let again = send(app.client.delete(&path).header("Authorization", admin.bearer())).await;
    assert_error(&again, 404, "NOT_FOUND");
    let listed = send(app.get_as("/api/v1/admin/reviews?limit=3", &admin)).await.json()["data"].clone();
    assert_eq!((listed["total"].as_u64(), listed["reviews"][0]["id"].as_u64() != Some(gone)), (Some(total - 1), true));
    let audit = send(app.get_as("/api/v1/admin/audit-logs?action=REVIEW_DELETE", &admin)).await.json();
    assert_eq!(audit["data"]["total"], 1, "{audit}");
}

#[tokio::test]
async fn admins_see_inactive_products_and_can_bring_one_back() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let r = send(app.client.delete("/api/v1/products/5").header("Authorization", admin.bearer())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_error(&send(app.get("/api/v1/products/5")).await, 404, "PRODUCT_NOT_FOUND");

    let one = send(app.get_as("/api/v1/admin/products/5", &admin)).await;
    assert_eq!((one.status, one.json()["data"]["isActive"].as_bool()), (StatusCode::OK, Some(false)));
    let list = |q: &str| send(app.get_as(&format!("/api/v1/admin/products{q}"), &admin));
    let inactive = list("?state=INACTIVE").await.json()["data"].clone();
    assert_eq!((inactive["total"].as_u64(), inactive["products"][0]["id"].as_u64()), (Some(1), Some(5)));
    let all = list("?limit=100").await.json()["data"].clone();
    assert_eq!(all["total"], 201);
    assert_eq!(list("?state=ACTIVE").await.json()["data"]["total"], 200);
    let title = one.json()["data"]["title"].as_str().unwrap().to_uppercase();
    let found = list(&format!("?search={}", title.replace(' ', "%20"))).await.json()["data"].clone();
    assert!(found["products"].as_array().unwrap().iter().any(|p| p["id"] == 5), "{found}");
    let cheap = list("?sortBy=price&order=asc&limit=3").await.json()["data"]["products"].clone();
    let prices: Vec<f64> = cheap.as_array().unwrap().iter().map(|p| p["price"].as_f64().unwrap()).collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");

    let back = send(
        app.client
            .patch("/api/v1/products/5")
            .header("Authorization", admin.bearer())
            .body_json(&serde_json::json!({"isActive": true})),
    )
    .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text());
    assert_eq!(send(app.get("/api/v1/products/5")).await.status, StatusCode::OK);
    let customer = app.user("c@shop.test").await;
    assert_error(&send(app.get_as("/api/v1/admin/products", &customer)).await, 403, "FORBIDDEN");
    assert_error(&send(app.get_as("/api/v1/admin/products/99999", &admin)).await, 404, "PRODUCT_NOT_FOUND");
}
