//! The contract rows of API.md §1 that are about every endpoint: unknown body fields, bad UTF-8,
//! the Idempotency-Key rule, 405 with `Allow`, the limits' exemptions and the admins' own limit,
//! and the OpenAPI document itself (a snapshot, so that every change to it shows in review).

use poem::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, send, shipping_address};

#[tokio::test]
async fn unknown_body_fields_are_ignored_and_never_stored() {
    let app = TestApp::demo().await;
    let s = app.user("extra@shop.test").await;
    let order = app.placed(&s, &[(1, 1)]).await;
    // An older storefront sends amount, currency and metadata to create-intent.
    let body = json!({"orderId": order["id"], "amount": 0.01, "currency": "eur", "metadata": {"x": 1}});
    let r = send(app.post_as("/api/v1/payments/create-intent", &s).body_json(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(
        (r.json()["data"]["amount"].as_f64(), r.json()["data"]["currency"].as_str()),
        (order["total"].as_f64(), Some("USD"))
    );
    // A cart line with a field the cart does not know.
    let r = send(
        app.post_as("/api/v1/cart/items", &s).body_json(&json!({"productId": 2, "quantity": 1, "giftWrap": true})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let item = &r.json()["data"]["items"][0];
    assert_eq!((item["productId"].as_u64(), item["quantity"].as_u64(), item.get("giftWrap")), (Some(2), Some(1), None));
}

#[tokio::test]
async fn bodies_that_are_not_utf8_or_not_objects_are_refused() {
    let app = TestApp::new().await;
    let bad = b"{\"email\":\"a\xff@shop.test\",\"password\":\"x\"}".to_vec();
    let r = send(app.post("/api/v1/auth/login").content_type("application/json").body(bad)).await;
    assert_error(&r, 400, "INVALID_JSON");
    let r = send(app.post("/api/v1/auth/forgot-password").content_type("application/json").body("[\"a@b.co\"]")).await;
    let err = assert_error(&r, 400, "VALIDATION_ERROR");
    assert_eq!(err["details"]["body"], json!(["The request body must be a JSON object"]));
}

#[tokio::test]
async fn an_idempotency_key_over_255_characters_is_refused_everywhere() {
    let app = TestApp::demo().await;
    let s = app.user("keys@shop.test").await;
    let admin = app.admin().await;
    let order = app.placed(&s, &[(1, 1)]).await;
    let long = "k".repeat(256);
    let body = json!({"products": [{"id": 1, "quantity": 1}], "shippingAddress": shipping_address()});
    let r = send(app.post_as("/api/v1/orders", &s).header("Idempotency-Key", &long).body_json(&body)).await;
    let err = assert_error(&r, 400, "VALIDATION_ERROR");
    assert!(err["details"]["Idempotency-Key"].is_array(), "{err}");
    let r = send(
        app.post_as("/api/v1/payments/create-intent", &s)
            .header("Idempotency-Key", &long)
            .body_json(&json!({"orderId": order["id"]})),
    )
    .await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    let r = send(
        app.post_as("/api/v1/payments/0190a000-0000-7000-8000-000000000000/refund", &admin)
            .header("Idempotency-Key", &long)
            .body_json(&json!({})),
    )
    .await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    // Nothing was placed by the refused order.
    let mine = send(app.get_as("/api/v1/orders", &s)).await.json();
    assert_eq!(mine["data"]["total"], 1);
    // 255 is fine, and a repeat replays.
    let key = "k".repeat(255);
    let first = send(app.post_as("/api/v1/orders", &s).header("Idempotency-Key", &key).body_json(&body)).await;
    let again = send(app.post_as("/api/v1/orders", &s).header("Idempotency-Key", &key).body_json(&body)).await;
    assert_eq!((first.status, again.status), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first.json()["data"]["id"], again.json()["data"]["id"]);
    // An unknown payment is PAYMENT_NOT_FOUND, for the refund too.
    let r =
        send(app.post_as("/api/v1/payments/0190a000-0000-7000-8000-000000000000/refund", &admin).body_json(&json!({})))
            .await;
    assert_error(&r, 404, "PAYMENT_NOT_FOUND");
}

#[tokio::test]
async fn a_wrong_method_names_the_allowed_ones() {
    let app = TestApp::new().await;
    let r = send(app.client.delete("/api/v1/products/categories")).await;
    assert_error(&r, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    let r = send(app.client.put("/api/v1/auth/login")).await;
    assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
    // `{id}` paths too: DELETE, GET, PATCH and PUT are served on a product.
    let r = send(app.client.post("/api/v1/products/7")).await;
    assert_eq!(r.header("allow"), Some("DELETE, GET, PATCH, PUT, HEAD, OPTIONS"));
    // A path parameter that is not a number is named as the client knows it.
    let err = assert_error(&send(app.get("/api/v1/products/abc")).await, 400, "VALIDATION_ERROR");
    assert!(err["details"]["id"].is_array(), "{err}");
}

#[tokio::test]
async fn the_document_and_health_are_never_limited_and_admins_have_their_own_limit() {
    let app = TestApp::with(
        |s| {
            s.seed_demo = true;
            s.rate_limit_max_requests = Some(2);
            s.admin_rate_limit_max = 4;
        },
        |r| r,
    )
    .await;
    let admin = app.admin().await; // the sign-in is the address's first request
    for _ in 0..5 {
        assert_eq!(send(app.get("/api/v1/openapi.json")).await.status, StatusCode::OK);
        assert_eq!(send(app.get("/health")).await.status, StatusCode::OK);
    }
    assert_eq!(send(app.get("/api/v1/products")).await.status, StatusCode::OK);
    assert_error(&send(app.get("/api/v1/products")).await, 429, "RATE_LIMIT_EXCEEDED");
    // The address is out of requests; the admin is not, until its own four are used.
    for _ in 0..4 {
        let r = send(app.get_as("/api/v1/users", &admin)).await;
        assert_eq!((r.status, r.header("ratelimit-limit")), (StatusCode::OK, Some("4")));
    }
    assert_error(&send(app.get_as("/api/v1/users", &admin)).await, 429, "RATE_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn the_development_limit_is_a_thousand_and_production_a_hundred() {
    let app = TestApp::new().await;
    let r = send(app.get("/api/v1/products")).await;
    assert_eq!(r.header("ratelimit-limit"), Some("1000"));
}

#[tokio::test]
async fn an_email_change_with_a_wrong_password_counts_like_a_failed_sign_in() {
    let app = TestApp::new().await;
    let s = app.user("mover@shop.test").await;
    let wrong = json!({"email": "new@shop.test", "currentPassword": "Wrong1234"});
    for _ in 0..4 {
        let r = send(app.client.patch("/api/v1/users/me").header("Authorization", s.bearer()).body_json(&wrong)).await;
        assert_error(&r, 400, "INVALID_PASSWORD");
    }
    let r = send(app.client.patch("/api/v1/users/me").header("Authorization", s.bearer()).body_json(&wrong)).await;
    assert_error(&r, 423, "ACCOUNT_LOCKED");
    assert!(r.header("retry-after").is_some());
    // The lock is the account's: signing in from the same address is locked too.
    assert_error(&app.login("mover@shop.test", crate::helpers::PASSWORD).await, 423, "ACCOUNT_LOCKED");
    let me = send(app.get_as("/api/v1/users/me", &s)).await.json();
    assert_eq!(me["data"]["email"], "mover@shop.test");
}

/// The whole document, committed: a change to any schema, code or operation shows in the
/// diff. `UPDATE_SNAPSHOTS=1 cargo test openapi` writes the new one.
#[test]
fn the_openapi_document_matches_its_snapshot() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/openapi.snapshot.json");
    let now = serde_json::to_string_pretty(&shopd::startup::App::document()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &now).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == now,
        "the OpenAPI document changed: review it and run `UPDATE_SNAPSHOTS=1 cargo test openapi`"
    );
}

/// Every text field a request can carry has a length and character rule (`src/http/text.rs`),
/// and the document shows it.
#[test]
fn every_text_field_of_every_request_is_limited() {
    let doc = shopd::startup::App::document();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut request_schemas = Vec::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for media in op["requestBody"]["content"].as_object().into_iter().flat_map(|c| c.values()) {
                collect(&media["schema"], schemas, &mut request_schemas);
            }
        }
    }
    assert!(request_schemas.len() > 20, "{request_schemas:?}");
    for name in &request_schemas {
        for (field, prop) in schemas[name]["properties"].as_object().into_iter().flatten() {
            let text = if prop["type"] == "array" { &prop["items"] } else { prop };
            let typed = text.get("enum").is_some() || text.get("allOf").is_some() || text["format"] == "uuid";
            if text["type"] != "string" || typed {
                continue;
            }
            assert!(shopd::http::text::rule(field).is_some(), "{name}.{field} has no row in src/http/text.rs");
            assert!(text["maxLength"].is_u64() && text["pattern"].is_string(), "{name}.{field}: {text}");
        }
    }

    fn collect(v: &Value, schemas: &serde_json::Map<String, Value>, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(name) = map.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next())
                    && !out.iter().any(|n| n == name)
                {
                    out.push(name.to_string());
                    collect(&schemas[name], schemas, out);
                }
                map.values().for_each(|x| collect(x, schemas, out));
            }
            Value::Array(items) => items.iter().for_each(|x| collect(x, schemas, out)),
            _ => {}
        }
    }
}

#[test]
fn every_operation_is_named_and_lists_its_errors() {
    let doc = shopd::startup::App::document();
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_string()), "{id} twice");
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2')), "{id} has a success");
            assert!(!responses.contains_key("default"), "{id}");
            assert!(responses.contains_key("500") && responses.contains_key("429"), "{id}");
            assert!(op["security"].is_array(), "{id} says who may call it");
        }
    }
    assert_eq!(doc["paths"]["/health"]["get"]["security"], json!([]));
    assert_eq!(doc["paths"]["/api/v1/cart"]["get"]["security"], json!([{}, {"bearer": []}]));
    let place = &doc["paths"]["/api/v1/orders"]["post"];
    assert_eq!(place["operationId"], "placeOrder");
    let codes = &place["responses"]["400"]["content"]["application/json; charset=utf-8"]["schema"]["properties"]["code"]
        ["enum"];
    assert!(codes.as_array().unwrap().contains(&json!("INSUFFICIENT_STOCK")), "{codes}");
    let order = &doc["components"]["schemas"]["Order"];
    assert_eq!(order["properties"]["carrier"]["nullable"], true);
    assert!(order["required"].as_array().unwrap().contains(&json!("carrier")));
    assert_eq!(order["properties"]["createdAt"]["format"], "date-time");
}

#[tokio::test]
async fn metrics_count_orders_sign_ins_and_cache_hits_with_named_routes() {
    let app = TestApp::demo().await;
    let s = app.user("metrics@shop.test").await;
    assert_error(&app.login("metrics@shop.test", "Wrong1234").await, 400, "INVALID_CREDENTIALS");
    app.placed(&s, &[(1, 1)]).await;
    // The second is the whole answer again (a page hit); another page of it reuses the matches.
    for path in [
        "/api/v1/products/search?q=phone",
        "/api/v1/products/search?q=phone",
        "/api/v1/products/search?q=phone&limit=5",
    ] {
        assert_eq!(send(app.get(path)).await.status, StatusCode::OK);
    }
    assert_eq!(send(app.get("/api/v1/products/7")).await.status, StatusCode::OK);
    let text = send(app.get("/metrics")).await.text();
    for line in [
        "shopd_orders_placed_total 1",
        "shopd_sign_ins_total{outcome=\"success\"} 1",
        "shopd_sign_ins_total{outcome=\"failure\"} 1",
        "shopd_cache_requests_total{cache=\"search\",result=\"hit\"} 1",
        "shopd_cache_requests_total{cache=\"search\",result=\"miss\"} 1",
        "shopd_cache_requests_total{cache=\"pages\",result=\"hit\"} 1",
        "shopd_cache_requests_total{cache=\"pages\",result=\"miss\"} 3",
        "# TYPE shopd_store_commits_total counter",
        "# TYPE shopd_http_requests_total counter",
        "shopd_build_info{version=\"0.1.0\"} 1",
        "shopd_http_requests_total{method=\"GET\",route=\"/api/v1/products/{id}\",status=\"200\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    assert!(text.lines().any(|l| l.starts_with("shopd_process_resident_memory_bytes ")), "{text}");
}

#[tokio::test]
async fn public_url_makes_image_urls_absolute() {
    let app = TestApp::with(
        |s| {
            s.seed_demo = true;
            s.public_url = Some("https://api.shop.test/".into());
        },
        |r| r,
    )
    .await;
    let p = send(app.get("/api/v1/products/1")).await.json();
    let thumbnail = p["data"]["thumbnail"].as_str().unwrap();
    assert!(thumbnail.starts_with("https://api.shop.test/uploads/"), "{thumbnail}");
    let list = send(app.get("/api/v1/products?limit=1")).await.json();
    assert!(list["data"]["products"][0]["thumbnail"].as_str().unwrap().starts_with("https://api.shop.test/uploads/"));
    // Without it, paths.
    let plain = TestApp::demo().await;
    let p = send(plain.get("/api/v1/products/1")).await.json();
    assert!(p["data"]["thumbnail"].as_str().unwrap().starts_with("/uploads/"), "{p}");
}
