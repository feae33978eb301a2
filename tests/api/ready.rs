//! Catalog reads answered from ready bytes: after every kind of product write they equal a fresh
//! serialization (the admin's detail, which is made per request), their ETag follows the data,
//! `If-None-Match` gets 304, and the gzip form (made once, spliced) decodes to the same envelope.

use std::io::Read;

use poem::http::StatusCode;
use poem::test::{TestForm, TestFormField};
use serde_json::{Value, json};

use crate::helpers::{Reply, Session, TestApp, send};

/// The fresh serialization: the admin's view of the product, with its latest reviews.
async fn fresh(app: &TestApp, admin: &Session, id: u64) -> Value {
    let r = send(app.get_as(&format!("/api/v1/admin/products/{id}"), admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["data"].clone()
}

async fn ok(app: &TestApp, path: &str) -> Reply {
    let r = send(app.get(path)).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
    r
}

/// The listed entry of `id` in a page of products.
fn entry(page: &Value, id: u64) -> Option<Value> {
    page["products"].as_array().unwrap().iter().find(|p| p["id"] == id).cloned()
}

/// Every catalog read of product `id` shows what the fresh serialization shows; it returns the
/// detail's ETag.
async fn reads_agree(app: &TestApp, admin: &Session, id: u64, step: &str) -> String {
    let want = fresh(app, admin, id).await;
    let detail = ok(app, &format!("/api/v1/products/{id}")).await;
    assert_eq!(detail.json()["data"], want, "detail after {step}");
    let mut product = want.clone();
    product.as_object_mut().unwrap().remove("reviews");
    let title = want["title"].as_str().unwrap();

    let list = ok(app, "/api/v1/products?limit=100").await.json()["data"].clone();
    assert_eq!(entry(&list, id), Some(product.clone()), "list after {step}");
    let category = format!("/api/v1/products/category/{}?limit=100", want["category"].as_str().unwrap());
    let listed = ok(app, &category).await.json()["data"].clone();
    assert_eq!(entry(&listed, id), Some(product.clone()), "category list after {step}");
    let picked = ok(app, "/api/v1/products?limit=100&select=price,title,tags").await.json()["data"].clone();
    let chosen = json!({"id": id, "price": want["price"], "title": title, "tags": want["tags"]});
    assert_eq!(entry(&picked, id), Some(chosen), "select after {step}");
    let word = title.split_whitespace().next().unwrap();
    let found = ok(app, &format!("/api/v1/products/search?q={word}&limit=100")).await.json()["data"].clone();
    assert_eq!(entry(&found, id), Some(product), "search after {step}");
    detail.header("etag").expect("an ETag").to_string()
}

#[tokio::test]
async fn ready_answers_equal_a_fresh_serialization_after_every_kind_of_product_write() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let shopper = app.user("ready@shop.test").await;
    let mut tags = Vec::new();
    let mut step = async |app: &TestApp, id: u64, name: &str| {
        let tag = reads_agree(app, &admin, id, name).await;
        assert!(!tags.contains(&tag), "a new ETag after {name}: {tag} in {tags:?}");
        tags.push(tag);
    };

    let body = json!({"title": "Quokka \"Deluxe\" kettle — 1,5 l", "description": "Boils.\nFast & quiet <3",
                      "price": 49.9, "discountPercentage": 7.25, "stock": 20, "brand": "Quokka",
                      "category": "Kitchen Accessories", "tags": ["kettle", "steel"]});
    let r = send(app.post_as("/api/v1/products", &admin).body_json(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["data"]["id"].as_u64().unwrap();
    step(&app, id, "create").await;

    let put = app
        .client
        .put(format!("/api/v1/products/{id}"))
        .header("Authorization", admin.bearer())
        .body_json(&json!({"title": "Quokka kettle Pro", "price": 59.95}));
    assert_eq!(send(put).await.status, StatusCode::OK);
    step(&app, id, "put").await;

    let patch = app
        .client
        .patch(format!("/api/v1/products/{id}"))
        .header("Authorization", admin.bearer())
        .body_json(&json!({"tags": ["kettle"], "category": "Home Decoration"}));
    assert_eq!(send(patch).await.status, StatusCode::OK);
    step(&app, id, "patch").await;

    let stock = app
        .client
        .patch(format!("/api/v1/products/{id}/stock"))
        .header("Authorization", admin.bearer())
        .body_json(&json!({"quantity": -5}));
    assert_eq!(send(stock).await.status, StatusCode::OK);
    step(&app, id, "stock").await;

    let r = send(
        app.post_as(&format!("/api/v1/products/{id}/reviews"), &shopper)
            .body_json(&json!({"rating": 4, "comment": "Good \"tea\""})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let review = r.json()["data"]["id"].as_u64().unwrap();
    step(&app, id, "review").await;
    assert_eq!(fresh(&app, &admin, id).await["reviews"][0]["comment"], "Good \"tea\"");

    let image = {
        let mut png = Vec::new();
        image::RgbImage::new(8, 8)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("a png");
        png
    };
    let form = TestForm::new().field(TestFormField::bytes(image).name("images").filename("k.png"));
    let r = send(app.post_as(&format!("/api/v1/products/{id}/images"), &admin).multipart(form)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    step(&app, id, "image").await;

    let order = app.placed(&shopper, &[(id, 3)]).await;
    step(&app, id, "order").await;
    let cancel = app
        .post_as(&format!("/api/v1/orders/{}/cancel", order["id"].as_str().unwrap()), &shopper)
        .body_json(&json!({"reason": "Changed my mind"}));
    assert_eq!(send(cancel).await.status, StatusCode::OK);
    step(&app, id, "cancel").await;
    assert_eq!(fresh(&app, &admin, id).await["stock"], 15);

    let csv = format!("id,title,stock\n{id},Quokka kettle Max,9\n");
    let form = TestForm::new().field(TestFormField::bytes(csv.into_bytes()).name("file").filename("p.csv"));
    let r = send(app.post_as("/api/v1/admin/products/import", &admin).multipart(form)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    step(&app, id, "import").await;

    let r = send(app.client.delete(format!("/api/v1/admin/reviews/{review}")).header("Authorization", admin.bearer()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    step(&app, id, "review removed").await;

    let r = send(app.client.delete(format!("/api/v1/products/{id}")).header("Authorization", admin.bearer())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(send(app.get(&format!("/api/v1/products/{id}"))).await.status, StatusCode::NOT_FOUND);
    let list = ok(&app, "/api/v1/products?limit=100").await.json()["data"].clone();
    assert_eq!(entry(&list, id), None, "a deleted product leaves the list");
    let put = app
        .client
        .put(format!("/api/v1/products/{id}"))
        .header("Authorization", admin.bearer())
        .body_json(&json!({"isActive": true}));
    assert_eq!(send(put).await.status, StatusCode::OK);
    step(&app, id, "brought back").await;
}

#[tokio::test]
async fn catalog_reads_revalidate_with_their_etag() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    for path in [
        "/api/v1/products?limit=30",
        "/api/v1/products/1",
        "/api/v1/products/categories",
        "/api/v1/products/category/beauty",
        "/api/v1/products/search?q=phone",
    ] {
        let first = ok(&app, path).await;
        let tag = first.header("etag").expect("an ETag").to_string();
        assert!(tag.starts_with("W/\"") && tag.ends_with('"') && tag.len() == 20, "{path}: {tag}");
        // The tag is of the data, not of the envelope: another request, another id, same tag.
        let again = ok(&app, path).await;
        assert_ne!(again.json()["meta"]["requestId"], first.json()["meta"]["requestId"]);
        assert_eq!(again.header("etag"), Some(tag.as_str()), "{path}");

        let r = send(app.get(path).header("If-None-Match", &tag)).await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(r.body.is_empty(), "a 304 has no body");
        assert_eq!(r.header("etag"), Some(tag.as_str()));
        let strong = tag.trim_start_matches("W/");
        let listed = format!("\"other\", {strong}");
        assert_eq!(send(app.get(path).header("If-None-Match", &listed)).await.status, StatusCode::NOT_MODIFIED);
        let r = send(app.get(path).header("If-None-Match", "W/\"0123456789abcdef\"")).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: another tag gets the data");
        assert_eq!(r.json()["data"], first.json()["data"]);
    }

    // A write changes the tag of what it changed; the old tag then gets the new data.
    let old = ok(&app, "/api/v1/products/1").await;
    let tag = old.header("etag").unwrap().to_string();
    let stock = app
        .client
        .patch("/api/v1/products/1/stock")
        .header("Authorization", admin.bearer())
        .body_json(&json!({"quantity": 1}));
    assert_eq!(send(stock).await.status, StatusCode::OK);
    let r = send(app.get("/api/v1/products/1").header("If-None-Match", &tag)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_ne!(r.header("etag"), Some(tag.as_str()));
    assert_eq!(r.json()["data"]["stock"].as_i64(), old.json()["data"]["stock"].as_i64().map(|s| s + 1));
}

fn gunzip(body: &[u8]) -> Value {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body).read_to_end(&mut out).expect("valid gzip");
    serde_json::from_slice(&out).expect("JSON inside")
}

#[tokio::test]
async fn the_gzip_form_is_the_same_envelope_and_br_still_works() {
    let app = TestApp::demo().await;
    let plain = ok(&app, "/api/v1/products?limit=30").await;
    for _ in 0..2 {
        // The first makes the compressed data, the second reuses it: both must decode alike.
        let r = send(
            app.get("/api/v1/products?limit=30")
                .header("Accept-Encoding", "gzip, deflate, br")
                .header("X-Request-Id", "gz-1"),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("content-length").map(|l| l.parse::<usize>().unwrap()), Some(r.body.len()));
        assert!(r.body.len() * 3 < plain.body.len(), "compressed: {} of {}", r.body.len(), plain.body.len());
        let body = gunzip(&r.body);
        assert_eq!(body["data"], plain.json()["data"]);
        assert_eq!((body["status"].as_u64(), body["message"].as_str()), (Some(200), Some("Success")));
        assert_eq!(body["meta"]["requestId"], "gz-1");
        assert!(body["meta"]["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    // A client that takes only br gets br, compressed for it.
    let r = send(app.get("/api/v1/products?limit=30").header("Accept-Encoding", "br")).await;
    assert_eq!(r.header("content-encoding"), Some("br"));
    // A small answer is not worth compressing.
    let r = send(app.get("/api/v1/products/categories").header("Accept-Encoding", "gzip")).await;
    assert_eq!(r.header("content-encoding"), None);
    assert!(r.json()["data"].as_array().is_some_and(|c| c.len() == 20));
}
