//! Carts, orders, wishlist and notifications through the whole app.

use poem::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Reply, Session, TestApp, assert_error, send, shipping_address};

/// A product with a known price, discount and stock.
pub async fn product(app: &TestApp, admin: &Session, price: f64, discount: f64, stock: i64) -> u64 {
    let body = json!({"title": format!("Test item {price}"), "price": price, "discountPercentage": discount, "stock": stock, "brand": "T", "category": "tests"});
    let r = send(app.post_as("/api/v1/products", admin).body_json(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["data"]["id"].as_u64().unwrap()
}

pub async fn stock(app: &TestApp, id: u64) -> i64 {
    send(app.get(&format!("/api/v1/products/{id}"))).await.json()["data"]["stock"].as_i64().unwrap()
}

pub async fn set_status(app: &TestApp, admin: &Session, id: &str, body: Value) -> Reply {
    send(
        app.client
            .patch(format!("/api/v1/orders/{id}/status"))
            .header("Authorization", admin.bearer())
            .body_json(&body),
    )
    .await
}

#[tokio::test]
async fn a_guest_gets_a_session_and_a_private_cart_priced_to_the_cent() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let id = product(&app, &admin, 19.99, 12.5, 5).await;
    let r = send(app.get("/api/v1/cart")).await;
    assert_eq!(r.status, StatusCode::OK);
    let session = r.header("x-session-id").expect("a new session").to_string();
    assert!(r.header("set-cookie").unwrap().starts_with(&format!("sessionId={session}")));
    assert_eq!(r.json()["data"]["items"], json!([]));
    assert!(r.json()["data"]["expiresAt"].is_string());

    let add = |q: u32| {
        app.post("/api/v1/cart/items")
            .header("X-Session-ID", &session)
            .body_json(&json!({"productId": id, "quantity": q}))
    };
    let r = send(add(2)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.header("x-session-id").is_none(), "the session already exists");
    let r = send(add(1)).await;
    let cart = r.json()["data"].clone();
    assert_eq!(cart["items"].as_array().unwrap().len(), 1, "added to the same line");
    let line = &cart["items"][0];
    assert_eq!(
        (
            line["quantity"].as_u64(),
            line["unitPrice"].as_f64(),
            line["discountedPrice"].as_f64(),
            line["itemTotal"].as_f64()
        ),
        (Some(3), Some(19.99), Some(17.49), Some(52.47))
    );
    assert_eq!((cart["subtotal"].as_f64(), cart["itemCount"].as_u64()), (Some(52.47), Some(3)));
    assert_eq!(line["product"]["title"], "Test item 19.99");
    let err = assert_error(&send(add(3)).await, 400, "INSUFFICIENT_STOCK");
    assert!(err["message"].as_str().unwrap().contains("available 5, requested 6"), "{err}");
    let r = send(
        app.post("/api/v1/cart/items")
            .header("X-Session-ID", &session)
            .body_json(&json!({"productId": 99999, "quantity": 1})),
    )
    .await;
    assert_error(&r, 404, "PRODUCT_NOT_FOUND");
    let r = send(
        app.post("/api/v1/cart/items")
            .header("X-Session-ID", &session)
            .body_json(&json!({"productId": id, "quantity": 0})),
    )
    .await;
    assert_error(&r, 400, "VALIDATION_ERROR");

    // Another session cannot see or touch this line; the cookie works like the header.
    let item = line["id"].as_u64().unwrap();
    let other = "3b8e1f0a-7c2d-4e9b-a6f4-d1c05b82e937";
    assert_eq!(send(app.get("/api/v1/cart").header("X-Session-ID", other)).await.json()["data"]["items"], json!([]));
    let r = send(
        app.client
            .put(format!("/api/v1/cart/items/{item}"))
            .header("X-Session-ID", other)
            .body_json(&json!({"quantity": 1})),
    )
    .await;
    assert_error(&r, 404, "CART_ITEM_NOT_FOUND");
    let r = send(app.client.delete(format!("/api/v1/cart/items/{item}")).header("X-Session-ID", other)).await;
    assert_error(&r, 404, "CART_ITEM_NOT_FOUND");
    let r = send(app.get("/api/v1/cart").header("Cookie", format!("sessionId={session}"))).await;
    assert_eq!(r.json()["data"]["itemCount"], 3);

    let put = |q: i64| {
        app.client
            .put(format!("/api/v1/cart/items/{item}"))
            .header("X-Session-ID", &session)
            .body_json(&json!({"quantity": q}))
    };
    assert_error(&send(put(6)).await, 400, "INSUFFICIENT_STOCK");
    assert_eq!(send(put(1)).await.json()["data"]["subtotal"], 17.49);
    assert_eq!(send(put(0)).await.json()["data"]["items"], json!([]), "0 removes the line");
    send(add(1)).await;
    let r = send(app.client.delete("/api/v1/cart").header("X-Session-ID", &session)).await;
    assert_eq!(r.json()["data"]["items"], json!([]));
}

#[tokio::test]
async fn merging_adds_the_guest_cart_capped_at_stock_and_deletes_it() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let a = product(&app, &admin, 10.0, 0.0, 4).await;
    let b = product(&app, &admin, 5.0, 0.0, 10).await;
    let user = app.user("merge@shop.test").await;
    send(app.post_as("/api/v1/cart/items", &user).body_json(&json!({"productId": a, "quantity": 3}))).await;
    let session = "6f1c2b9e-8d4a-4c7e-b1f3-2a9d5e7c0b48";
    for (id, q) in [(a, 3), (b, 2)] {
        let r = send(
            app.post("/api/v1/cart/items")
                .header("X-Session-ID", session)
                .body_json(&json!({"productId": id, "quantity": q})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    assert_error(&send(app.post("/api/v1/cart/merge").header("X-Session-ID", session)).await, 401, "UNAUTHORIZED");
    let r = send(app.post_as("/api/v1/cart/merge", &user).header("X-Session-ID", session)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let items = r.json()["data"]["items"].clone();
    let qty = |id: u64| {
        items.as_array().unwrap().iter().find(|l| l["productId"] == id).unwrap()["quantity"].as_u64().unwrap()
    };
    assert_eq!((qty(a), qty(b)), (4, 2), "3 + 3 capped at the stock of 4");
    assert_eq!(
        send(app.get("/api/v1/cart").header("X-Session-ID", session)).await.json()["data"]["items"],
        json!([]),
        "the guest cart is gone"
    );
}

#[tokio::test]
async fn an_order_takes_stock_for_every_line_or_none_and_totals_exactly() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let cheap = product(&app, &admin, 19.99, 12.5, 10).await;
    let pricey = product(&app, &admin, 60.0, 0.0, 2).await;
    let s = app.user("buyer@shop.test").await;

    let o = app.placed(&s, &[(cheap, 3)]).await;
    // 3 × 17.49 = 52.47; tax 8% = 4.1976 → 4.20; under 100: shipping 9.99.
    assert_eq!(
        (o["subtotal"].as_f64(), o["tax"].as_f64(), o["shipping"].as_f64(), o["total"].as_f64()),
        (Some(52.47), Some(4.2), Some(9.99), Some(66.66))
    );
    assert_eq!(
        (o["status"].as_str(), o["currency"].as_str(), o["userId"].as_u64()),
        (Some("PENDING"), Some("USD"), Some(s.id))
    );
    assert_eq!(o["items"][0]["price"], 17.49);
    assert_eq!(o["items"][0]["product"]["title"], "Test item 19.99");
    assert_eq!(o["history"][0]["status"], "PENDING");
    assert!(o["payment"].is_null());
    assert_eq!(stock(&app, cheap).await, 7);

    let big = app.placed(&s, &[(pricey, 2)]).await;
    assert_eq!(
        (big["subtotal"].as_f64(), big["tax"].as_f64(), big["shipping"].as_f64(), big["total"].as_f64()),
        (Some(120.0), Some(9.6), Some(0.0), Some(129.6)),
        "free shipping from 100"
    );

    // All or nothing: the second line fails, the first keeps its stock.
    let r = app.place_order(&s, &[(cheap, 1), (pricey, 1)]).await;
    let err = assert_error(&r, 400, "INSUFFICIENT_STOCK");
    assert!(
        err["message"].as_str().unwrap().contains("Test item 60")
            && err["message"].as_str().unwrap().contains("available 0, requested 1"),
        "{err}"
    );
    assert_eq!(stock(&app, cheap).await, 7);
    assert_error(&app.place_order(&s, &[(99999, 1)]).await, 404, "PRODUCT_NOT_FOUND");
    let r =
        send(app.post_as("/api/v1/orders", &s).body_json(&json!({"products": [{"id": cheap, "quantity": 1}]}))).await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    let mut bad = shipping_address();
    bad["zipCode"] = json!("");
    let r = send(
        app.post_as("/api/v1/orders", &s)
            .body_json(&json!({"products": [{"id": cheap, "quantity": 1}], "shippingAddress": bad})),
    )
    .await;
    let err = assert_error(&r, 400, "VALIDATION_ERROR");
    assert!(err["details"]["shippingAddress.zipCode"].is_array(), "{err}");
    let r = send(
        app.post_as("/api/v1/orders", &s)
            .body_json(&json!({"products": [{"id": cheap, "quantity": 0}], "shippingAddress": shipping_address()})),
    )
    .await;
    assert!(assert_error(&r, 400, "VALIDATION_ERROR")["details"]["products.0.quantity"].is_array());
    assert_error(&send(app.post("/api/v1/orders").body_json(&json!({}))).await, 401, "UNAUTHORIZED");
}

#[tokio::test]
async fn an_order_from_the_cart_empties_it_and_saved_addresses_work() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let id = product(&app, &admin, 10.0, 0.0, 5).await;
    let s = app.user("cart@shop.test").await;
    let r = send(app.post_as("/api/v1/orders", &s).body_json(&json!({"shippingAddress": shipping_address()}))).await;
    assert_error(&r, 400, "EMPTY_ORDER");
    send(app.post_as("/api/v1/cart/items", &s).body_json(&json!({"productId": id, "quantity": 2}))).await;
    let mut saved = shipping_address();
    saved["label"] = json!("Home");
    saved["phone"] = json!("+47 1");
    let a = send(app.post_as("/api/v1/users/me/addresses", &s).body_json(&saved)).await.json()["data"]["id"]
        .as_u64()
        .unwrap();
    let other = app.user("other@shop.test").await;
    let r = send(
        app.post_as("/api/v1/orders", &other)
            .body_json(&json!({"products": [{"id": id, "quantity": 1}], "addressId": a})),
    )
    .await;
    assert_error(&r, 404, "ADDRESS_NOT_FOUND");
    let r = send(app.post_as("/api/v1/orders", &s).body_json(&json!({"addressId": a}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["data"]["items"][0]["quantity"], 2);
    assert_eq!(r.json()["data"]["address"]["city"], "Oslo");
    assert_eq!(send(app.get_as("/api/v1/cart", &s)).await.json()["data"]["items"], json!([]), "the cart was emptied");
    assert_eq!(stock(&app, id).await, 3);
}

#[tokio::test]
async fn an_idempotency_key_places_an_order_once() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let id = product(&app, &admin, 10.0, 0.0, 5).await;
    let s = app.user("idem@shop.test").await;
    let body = json!({"products": [{"id": id, "quantity": 2}], "shippingAddress": shipping_address()});
    let first = send(app.post_as("/api/v1/orders", &s).header("Idempotency-Key", "k-1").body_json(&body)).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = send(app.post_as("/api/v1/orders", &s).header("Idempotency-Key", "k-1").body_json(&body)).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.json()["data"], first.json()["data"], "the first answer again");
    assert_eq!(stock(&app, id).await, 3, "stock taken once");
    let changed = json!({"products": [{"id": id, "quantity": 1}], "shippingAddress": shipping_address()});
    let r = send(app.post_as("/api/v1/orders", &s).header("Idempotency-Key", "k-1").body_json(&changed)).await;
    assert_error(&r, 422, "IDEMPOTENCY_KEY_REUSED");
    // Keys belong to their user.
    let t = app.user("idem2@shop.test").await;
    let r = send(app.post_as("/api/v1/orders", &t).header("Idempotency-Key", "k-1").body_json(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_ne!(r.json()["data"]["id"], first.json()["data"]["id"]);
    let mine = send(app.get_as("/api/v1/orders", &s)).await.json();
    assert_eq!(mine["data"]["total"], 1);
}

#[tokio::test]
async fn lists_and_details_show_only_what_the_caller_may_see() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let id = product(&app, &admin, 5.0, 0.0, 50).await;
    let a = app.user("a@shop.test").await;
    let b = app.user("b@shop.test").await;
    let first = app.placed(&a, &[(id, 1)]).await;
    let second = app.placed(&a, &[(id, 2)]).await;
    app.placed(&b, &[(id, 3)]).await;
    let mine = send(app.get_as("/api/v1/orders", &a)).await.json()["data"].clone();
    assert_eq!(mine["total"], 2);
    assert_eq!(mine["orders"][0]["id"], second["id"], "newest first");
    assert_eq!(send(app.get_as("/api/v1/orders?status=CANCELLED", &a)).await.json()["data"]["total"], 0);
    assert_error(&send(app.get_as("/api/v1/orders?status=LOST", &a)).await, 400, "VALIDATION_ERROR");
    assert_error(&send(app.get_as("/api/v1/orders/all", &a)).await, 403, "FORBIDDEN");
    let all = send(app.get_as("/api/v1/orders/all", &admin)).await.json()["data"].clone();
    assert_eq!(all["total"], 3);
    assert_eq!(all["orders"][0]["user"]["email"], "b@shop.test");
    assert!(all["orders"][0]["user"]["firstName"].is_string());

    let path = format!("/api/v1/orders/{}", first["id"].as_str().unwrap());
    assert_eq!(send(app.get_as(&path, &a)).await.status, StatusCode::OK);
    assert_eq!(send(app.get_as(&path, &admin)).await.status, StatusCode::OK);
    let r = send(app.get_as(&path, &b)).await;
    let hidden = assert_error(&r, 404, "ORDER_NOT_FOUND");
    let missing = assert_error(
        &send(app.get_as("/api/v1/orders/0190f0f0-0000-7000-8000-000000000000", &b)).await,
        404,
        "ORDER_NOT_FOUND",
    );
    assert_eq!(hidden["message"], missing["message"], "no hint that it exists");
    let err = assert_error(&send(app.get_as("/api/v1/orders/not-a-uuid", &b)).await, 400, "VALIDATION_ERROR");
    assert!(err["details"]["id"].is_array(), "{err}");
}

#[tokio::test]
async fn the_status_machine_history_tracking_and_the_shops_cancel() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let id = product(&app, &admin, 5.0, 0.0, 10).await;
    let s = app.user("status@shop.test").await;
    let o = app.placed(&s, &[(id, 2)]).await;
    let oid = o["id"].as_str().unwrap().to_string();
    assert_error(&send(app.get_as(&format!("/api/v1/orders/{oid}/tracking"), &s)).await, 404, "TRACKING_UNAVAILABLE");
    for bad in ["SHIPPED", "DELIVERED", "PENDING"] {
        let err = assert_error(
            &set_status(&app, &admin, &oid, json!({"status": bad})).await,
            422,
            "INVALID_STATUS_TRANSITION",
        );
        assert!(err["message"].as_str().unwrap().contains("PENDING"), "{err}");
    }
    assert_error(&set_status(&app, &s, &oid, json!({"status": "PROCESSING"})).await, 403, "FORBIDDEN");
    assert_eq!(
        set_status(&app, &admin, &oid, json!({"status": "PROCESSING"})).await.json()["data"]["status"],
        "PROCESSING"
    );
    let r = set_status(
        &app,
        &admin,
        &oid,
        json!({"status": "SHIPPED", "trackingNumber": "1Z999", "carrier": "UPS", "estimatedDelivery": "2026-12-01"}),
    )
    .await;
    assert_eq!(r.json()["data"]["trackingNumber"], "1Z999");
    assert_error(
        &set_status(&app, &admin, &oid, json!({"status": "CANCELLED"})).await,
        422,
        "INVALID_STATUS_TRANSITION",
    );
    let t = send(app.get_as(&format!("/api/v1/orders/{oid}/tracking"), &s)).await.json()["data"].clone();
    assert_eq!(
        (t["carrier"].as_str(), t["trackingNumber"].as_str(), t["status"].as_str()),
        (Some("UPS"), Some("1Z999"), Some("SHIPPED"))
    );
    assert_eq!(t["trackingUrl"], "https://www.ups.com/track?tracknum=1Z999");
    let events: Vec<&str> = t["events"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(events, ["PENDING", "PROCESSING", "SHIPPED"], "from the real history");
    let r = set_status(&app, &admin, &oid, json!({"status": "DELIVERED"})).await;
    assert!(r.json()["data"]["deliveredAt"].is_string());
    assert_error(&set_status(&app, &admin, &oid, json!({"status": "SHIPPED"})).await, 422, "INVALID_STATUS_TRANSITION");
    assert_error(&set_status(&app, &admin, &oid, json!({"status": "LOST"})).await, 400, "VALIDATION_ERROR");

    let other = app.placed(&s, &[(id, 3)]).await;
    assert_eq!(stock(&app, id).await, 5);
    let r = set_status(&app, &admin, other["id"].as_str().unwrap(), json!({"status": "CANCELLED"})).await;
    assert_eq!(r.json()["data"]["status"], "CANCELLED");
    assert!(r.json()["data"]["cancelledAt"].is_string());
    assert_eq!(stock(&app, id).await, 8, "a cancelled order is restocked");
    let audit = send(app.get_as("/api/v1/admin/audit-logs?action=ORDER_STATUS_CHANGE&limit=50", &admin)).await.json();
    assert_eq!(audit["data"]["total"], 4);
}

#[tokio::test]
async fn owners_cancel_open_orders_and_get_their_stock_back() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let id = product(&app, &admin, 5.0, 0.0, 10).await;
    let s = app.user("cancel@shop.test").await;
    let o = app.placed(&s, &[(id, 4)]).await;
    let oid = o["id"].as_str().unwrap().to_string();
    let stranger = app.user("stranger@shop.test").await;
    assert_error(
        &send(app.post_as(&format!("/api/v1/orders/{oid}/cancel"), &stranger).body_json(&json!({}))).await,
        404,
        "ORDER_NOT_FOUND",
    );
    let r =
        send(app.post_as(&format!("/api/v1/orders/{oid}/cancel"), &s).body_json(&json!({"reason": "changed my mind"})))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        (r.json()["data"]["status"].as_str(), r.json()["data"]["cancelReason"].as_str()),
        (Some("CANCELLED"), Some("changed my mind"))
    );
    assert_eq!(stock(&app, id).await, 10);
    assert_error(
        &send(app.post_as(&format!("/api/v1/orders/{oid}/cancel"), &s).body_json(&json!({}))).await,
        422,
        "ORDER_CANNOT_CANCEL",
    );
    let shipped = app.placed(&s, &[(id, 1)]).await;
    let sid = shipped["id"].as_str().unwrap().to_string();
    set_status(&app, &admin, &sid, json!({"status": "PROCESSING"})).await;
    set_status(&app, &admin, &sid, json!({"status": "SHIPPED"})).await;
    assert_error(
        &send(app.post_as(&format!("/api/v1/orders/{sid}/cancel"), &s).body_json(&json!({}))).await,
        422,
        "ORDER_CANNOT_CANCEL",
    );
}

#[tokio::test]
async fn notes_and_returns() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let id = product(&app, &admin, 5.0, 0.0, 10).await;
    let s = app.user("ret@shop.test").await;
    let o = app.placed(&s, &[(id, 3)]).await;
    let oid = o["id"].as_str().unwrap().to_string();
    let item = o["items"][0]["id"].as_u64().unwrap();

    let r =
        send(app.post_as(&format!("/api/v1/orders/{oid}/notes"), &s).body_json(&json!({"note": "Leave at the door"})))
            .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(
        (r.json()["data"]["authorId"].as_u64(), r.json()["data"]["note"].as_str()),
        (Some(s.id), Some("Leave at the door"))
    );
    assert_eq!(
        send(app.post_as(&format!("/api/v1/orders/{oid}/notes"), &admin).body_json(&json!({"note": "ok"})))
            .await
            .status,
        StatusCode::CREATED
    );
    let stranger = app.user("x@shop.test").await;
    assert_error(
        &send(app.post_as(&format!("/api/v1/orders/{oid}/notes"), &stranger).body_json(&json!({"note": "hi"}))).await,
        404,
        "ORDER_NOT_FOUND",
    );
    assert_error(
        &send(app.post_as(&format!("/api/v1/orders/{oid}/notes"), &s).body_json(&json!({"note": ""}))).await,
        400,
        "VALIDATION_ERROR",
    );
    assert_eq!(
        send(app.get_as(&format!("/api/v1/orders/{oid}"), &s)).await.json()["data"]["notes"].as_array().unwrap().len(),
        2
    );

    let ask = |n: u32| {
        app.post_as(&format!("/api/v1/orders/{oid}/returns"), &s)
            .body_json(&json!({"reason": "Too small", "items": [{"orderItemId": item, "quantity": n}]}))
    };
    assert_error(&send(ask(1)).await, 422, "RETURN_NOT_ALLOWED");
    for next in ["PROCESSING", "SHIPPED", "DELIVERED"] {
        set_status(&app, &admin, &oid, json!({"status": next})).await;
    }
    assert_eq!(stock(&app, id).await, 7);
    assert_error(&send(ask(4)).await, 422, "RETURN_NOT_ALLOWED");
    let r = send(ask(2)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let ret = r.json()["data"].clone();
    assert_eq!((ret["status"].as_str(), ret["reason"].as_str()), (Some("REQUESTED"), Some("Too small")));
    assert_eq!(ret["items"], json!([{"orderItemId": item, "quantity": 2}]));
    assert_error(&send(ask(2)).await, 422, "RETURN_NOT_ALLOWED");
    let rid = ret["id"].as_u64().unwrap();
    let decide = |who: &Session, status: &str| {
        app.client
            .patch(format!("/api/v1/orders/{oid}/returns/{rid}"))
            .header("Authorization", who.bearer())
            .body_json(&json!({"status": status}))
    };
    assert_error(&send(decide(&s, "APPROVED")).await, 403, "FORBIDDEN");
    let r = send(decide(&admin, "APPROVED")).await;
    assert_eq!(r.json()["data"]["status"], "APPROVED");
    assert_eq!(stock(&app, id).await, 9, "approval restocks the returned units");
    assert_error(&send(decide(&admin, "REJECTED")).await, 422, "RETURN_NOT_ALLOWED");
    let r = send(ask(1)).await;
    let rid2 = r.json()["data"]["id"].as_u64().unwrap();
    let r = send(
        app.client
            .patch(format!("/api/v1/orders/{oid}/returns/{rid2}"))
            .header("Authorization", admin.bearer())
            .body_json(&json!({"status": "REJECTED"})),
    )
    .await;
    assert_eq!(r.json()["data"]["status"], "REJECTED");
    assert_eq!(stock(&app, id).await, 9, "rejection restocks nothing");
}

#[tokio::test]
async fn events_notify_and_mail_and_stats_follow_orders() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let id = product(&app, &admin, 50.0, 0.0, 10).await;
    let s = app.user("events@shop.test").await;
    let o = app.placed(&s, &[(id, 1)]).await;
    let oid = o["id"].as_str().unwrap().to_string();
    for next in ["PROCESSING", "SHIPPED", "DELIVERED"] {
        set_status(&app, &admin, &oid, json!({"status": next, "trackingNumber": "T1", "carrier": "DHL"})).await;
    }
    let mut page = Value::Null;
    for _ in 0..200 {
        page = send(app.get_as("/api/v1/notifications", &s)).await.json()["data"].clone();
        if page["total"] == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!((page["total"].as_u64(), page["unread"].as_u64()), (Some(4), Some(4)), "{page}");
    let kinds: Vec<&str> =
        page["notifications"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ORDER_DELIVERED", "ORDER_SHIPPED", "ORDER_STATUS", "ORDER_CREATED"]);
    let first = page["notifications"][0]["id"].as_u64().unwrap();
    let r =
        send(app.client.patch(format!("/api/v1/notifications/{first}/read")).header("Authorization", s.bearer())).await;
    assert_eq!(r.json()["data"]["read"], true);
    assert_eq!(send(app.get_as("/api/v1/notifications", &s)).await.json()["data"]["unread"], 3);
    let other = app.user("notme@shop.test").await;
    assert_error(
        &send(app.client.patch(format!("/api/v1/notifications/{first}/read")).header("Authorization", other.bearer()))
            .await,
        404,
        "NOT_FOUND",
    );
    assert_eq!(send(app.post_as("/api/v1/notifications/read-all", &s)).await.json()["data"]["updated"], 3);
    assert_eq!(send(app.get_as("/api/v1/notifications", &s)).await.json()["data"]["unread"], 0);

    let mails = app.wait_for_mails(4).await;
    let subjects: Vec<String> = mails
        .iter()
        .filter(|m| m.contains("To: events@shop.test"))
        .filter_map(|m| m.lines().find(|l| l.starts_with("Subject: ")).map(str::to_string))
        .collect();
    assert!(subjects.iter().any(|s| s.contains("confirmed")), "{subjects:?}");
    assert!(
        subjects.iter().any(|s| s.contains("shipped")) && subjects.iter().any(|s| s.contains("delivered")),
        "{subjects:?}"
    );

    let stats = send(app.get_as("/api/v1/users/me/stats", &s)).await.json()["data"].clone();
    assert_eq!(
        (stats["totalOrders"].as_u64(), stats["totalSpent"].as_f64()),
        (Some(1), Some(63.99)),
        "50 + 4.00 tax + 9.99 shipping: {stats}"
    );
    assert_eq!(stats["lastOrder"]["id"], oid);
}

#[tokio::test]
async fn the_wishlist() {
    let app = TestApp::demo().await;
    let s = app.user("wish@shop.test").await;
    let r = send(app.post_as("/api/v1/wishlist", &s).body_json(&json!({"productId": 1}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(
        send(app.post_as("/api/v1/wishlist", &s).body_json(&json!({"productId": 1}))).await.status,
        StatusCode::OK
    );
    send(app.post_as("/api/v1/wishlist", &s).body_json(&json!({"productId": 2}))).await;
    assert_error(
        &send(app.post_as("/api/v1/wishlist", &s).body_json(&json!({"productId": 99999}))).await,
        404,
        "PRODUCT_NOT_FOUND",
    );
    let list = send(app.get_as("/api/v1/wishlist", &s)).await.json()["data"].clone();
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"][0]["product"]["id"], 2, "newest first");
    assert!(list["items"][1]["createdAt"].is_string());
    assert_eq!(
        send(app.client.delete("/api/v1/wishlist/1").header("Authorization", s.bearer())).await.status,
        StatusCode::OK
    );
    assert_error(
        &send(app.client.delete("/api/v1/wishlist/1").header("Authorization", s.bearer())).await,
        404,
        "WISHLIST_ITEM_NOT_FOUND",
    );
    assert_error(&send(app.get("/api/v1/wishlist")).await, 401, "UNAUTHORIZED");

    let off = TestApp::with(|s| s.feature_wishlist = false, |r| r).await;
    let u = off.user("w@shop.test").await;
    assert_error(&send(off.get_as("/api/v1/wishlist", &u)).await, 404, "NOT_FOUND");
}

#[tokio::test]
async fn without_guest_checkout_the_cart_needs_a_sign_in() {
    let app = TestApp::with(|s| s.feature_guest_checkout = false, |r| r).await;
    assert_error(&send(app.get("/api/v1/cart")).await, 401, "UNAUTHORIZED");
    let u = app.user("signed@shop.test").await;
    assert_eq!(send(app.get_as("/api/v1/cart", &u)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn idle_carts_are_reminded_once_and_old_guest_carts_swept() {
    let app = TestApp::with(
        |s| {
            s.seed_demo = true;
            s.abandoned_cart_reminder_hours = 0;
        },
        |r| r,
    )
    .await;
    let s = app.user("idle@shop.test").await;
    send(app.post_as("/api/v1/cart/items", &s).body_json(&json!({"productId": 1, "quantity": 1}))).await;
    send(
        app.post("/api/v1/cart/items")
            .header("X-Session-ID", "9c4d7e2a-1b5f-4a8e-93d6-e0f2b7a1c5d8")
            .body_json(&json!({"productId": 1, "quantity": 1})),
    )
    .await;
    let before = app.mails().await.len();
    assert_eq!(shopd::cart::remind_abandoned(&app.state).await.unwrap(), 1, "the user's cart, not the guest's");
    assert_eq!(shopd::cart::remind_abandoned(&app.state).await.unwrap(), 0, "once per cart");
    let mails = app.wait_for_mails(before + 1).await;
    assert!(mails.last().unwrap().contains("You left something in your cart"));
    assert_eq!(shopd::cart::sweep_guests(&app.state.store, 30).await.unwrap(), 0, "fresh carts stay");
    assert_eq!(shopd::cart::sweep_guests(&app.state.store, 0).await.unwrap(), 1, "only the guest cart goes");
    assert_eq!(send(app.get_as("/api/v1/cart", &s)).await.json()["data"]["itemCount"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_buyers_for_ten_units_make_exactly_ten_orders() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let id = product(&app, &admin, 5.0, 0.0, 10).await;
    let mut buyers = Vec::new();
    for i in 0..5 {
        buyers.push(app.user(&format!("rush{i}@shop.test")).await);
    }
    let line = [(id, 1)];
    let attempts = (0..50).map(|i| app.place_order(&buyers[i % 5], &line));
    let replies = futures_util::future::join_all(attempts).await;
    let created = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let refused = replies
        .iter()
        .filter(|r| r.status == StatusCode::BAD_REQUEST && r.json()["code"] == "INSUFFICIENT_STOCK")
        .count();
    assert_eq!((created, refused), (10, 40), "{:?}", replies.iter().map(|r| r.status.as_u16()).collect::<Vec<_>>());
    assert_eq!(stock(&app, id).await, 0);
    let all = send(app.get_as("/api/v1/orders/all?limit=100", &admin)).await.json();
    assert_eq!(all["data"]["total"], 10);
}

#[tokio::test]
async fn hostile_quantities_are_refused_cleanly() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let id = product(&app, &admin, 5.0, 0.0, 10).await;
    let s = app.user("hostile@shop.test").await;
    let lines: Vec<Value> = (0..251).map(|_| json!({"id": id, "quantity": 1})).collect();
    let r = send(
        app.post_as("/api/v1/orders", &s).body_json(&json!({"products": lines, "shippingAddress": shipping_address()})),
    )
    .await;
    assert!(assert_error(&r, 400, "VALIDATION_ERROR")["details"]["products"].is_array());
    let o = app.placed(&s, &[(id, 2)]).await;
    let oid = o["id"].as_str().unwrap().to_string();
    let item = o["items"][0]["id"].as_u64().unwrap();
    for next in ["PROCESSING", "SHIPPED", "DELIVERED"] {
        set_status(&app, &admin, &oid, json!({"status": next})).await;
    }
    // u32::MAX + 2 would wrap to 1 if the units were summed in 32 bits.
    let items = json!([{"orderItemId": item, "quantity": 4294967295u32}, {"orderItemId": item, "quantity": 2}]);
    let r = send(
        app.post_as(&format!("/api/v1/orders/{oid}/returns"), &s).body_json(&json!({"reason": "x", "items": items})),
    )
    .await;
    assert_error(&r, 422, "RETURN_NOT_ALLOWED");
    let r = send(
        app.client
            .patch(format!("/api/v1/products/{id}/stock"))
            .header("Authorization", admin.bearer())
            .body_json(&json!({"quantity": i64::MIN})),
    )
    .await;
    assert_error(&r, 400, "INSUFFICIENT_STOCK");
    assert_eq!(stock(&app, id).await, 8);
}

#[tokio::test]
async fn deleted_products_do_not_count_in_carts_and_vanish_from_wishlists() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let keep = product(&app, &admin, 10.0, 0.0, 5).await;
    let gone = product(&app, &admin, 7.0, 0.0, 5).await;
    let s = app.user("gone@shop.test").await;
    for id in [keep, gone] {
        send(app.post_as("/api/v1/cart/items", &s).body_json(&json!({"productId": id, "quantity": 1}))).await;
        send(app.post_as("/api/v1/wishlist", &s).body_json(&json!({"productId": id}))).await;
    }
    send(app.client.delete(format!("/api/v1/products/{gone}")).header("Authorization", admin.bearer())).await;
    let cart = send(app.get_as("/api/v1/cart", &s)).await.json()["data"].clone();
    assert_eq!((cart["subtotal"].as_f64(), cart["itemCount"].as_u64()), (Some(10.0), Some(1)));
    let line = cart["items"].as_array().unwrap().iter().find(|l| l["productId"] == gone).unwrap().clone();
    assert_eq!(line["product"]["isActive"], false);
    let wish = send(app.get_as("/api/v1/wishlist", &s)).await.json()["data"].clone();
    let gone_wish = wish["items"].as_array().unwrap().iter().find(|w| w["productId"] == gone).unwrap().clone();
    assert!(gone_wish["product"].is_null());
    assert_eq!(
        send(app.get("/api/v1/products/search?q=!!")).await.json()["data"]["total"],
        202,
        "no words: every active product"
    );
}

#[tokio::test]
async fn order_numbers_count_up_without_gaps_or_repeats_under_concurrent_orders() {
    let app = TestApp::with(|s| s.seed_demo = true, |r| r).await;
    let admin = app.demo_admin().await;
    let scarce = product(&app, &admin, 10.0, 0.0, 3).await;
    let mut buyers = Vec::new();
    for i in 0..24 {
        buyers.push(app.user(&format!("n{i}@numbers.test")).await);
    }
    // 24 buyers at once, 3 units of one product among them and one each of another: the ones
    // refused (no stock) take no number.
    let placed = futures_util::future::join_all(buyers.iter().enumerate().map(|(i, b)| {
        let lines = if i % 2 == 0 { vec![(scarce, 1)] } else { vec![(1, 1)] };
        let app = &app;
        async move { app.place_order(b, &lines).await }
    }))
    .await;
    let mut numbers: Vec<u64> = placed
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .map(|r| r.json()["data"]["number"].as_u64().expect("a number"))
        .collect();
    assert_eq!(numbers.len(), 12 + 3, "12 of product 1, 3 of the scarce one");
    numbers.sort();
    assert_eq!(numbers, (1001..1016).collect::<Vec<_>>(), "from ORDER_NUMBER_START, no gaps, no repeats");
    let next = app.placed(&buyers[1], &[(1, 1)]).await;
    assert_eq!(next["number"], 1016);

    // Shown and found by number.
    let list = |q: &str| send(app.get_as(&format!("/api/v1/orders/all?{q}"), &admin));
    for q in ["number=1016", "q=%231016", "q=1016"] {
        let page = list(q).await.json()["data"].clone();
        assert_eq!((page["total"].as_u64(), &page["orders"][0]["id"]), (Some(1), &next["id"]), "{q}: {page}");
    }
    assert_eq!(list("number=99").await.json()["data"]["total"], 0);
    let mine = send(app.get_as(&format!("/api/v1/orders/{}", next["id"].as_str().unwrap()), &buyers[1])).await;
    assert_eq!(mine.json()["data"]["number"], 1016);
    let csv = send(app.get_as("/api/v1/admin/orders/export", &admin)).await.text();
    assert!(csv.lines().any(|l| l.starts_with(&format!("1016,{}", next["id"].as_str().unwrap()))), "{csv}");
}

#[tokio::test]
async fn order_numbers_start_where_the_shop_says() {
    let app = TestApp::with(
        |s| {
            s.seed_demo = true;
            s.order_number_start = 50_000;
        },
        |r| r,
    )
    .await;
    let s = app.user("start@numbers.test").await;
    assert_eq!(app.placed(&s, &[(1, 1)]).await["number"], 50_000);
    assert_eq!(app.placed(&s, &[(1, 1)]).await["number"], 50_001);
}
