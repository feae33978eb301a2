//! Coupons: the admin's codes, the cart's discount, and orders that count their uses.

use poem::http::StatusCode;
use serde_json::{Value, json};

use crate::checkout::{product, set_status, stock};
use crate::helpers::{Session, TestApp, assert_error, send, shipping_address};

async fn coupon(app: &TestApp, admin: &Session, body: Value) -> Value {
    let r = send(app.post_as("/api/v1/admin/coupons", admin).body_json(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["data"].clone()
}

/// A product in `category` at `price`, 100 in stock.
async fn item(app: &TestApp, admin: &Session, price: f64, category: &str) -> u64 {
    let body = json!({"title": format!("{category} {price}"), "price": price, "stock": 100, "brand": "T", "category": category});
    let r = send(app.post_as("/api/v1/products", admin).body_json(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["data"]["id"].as_u64().unwrap()
}

async fn order_with(app: &TestApp, s: &Session, lines: &[(u64, u32)], code: Option<&str>) -> crate::helpers::Reply {
    let products: Vec<Value> = lines.iter().map(|(id, q)| json!({"id": id, "quantity": q})).collect();
    let body = json!({"products": products, "shippingAddress": shipping_address(), "couponCode": code});
    send(app.post_as("/api/v1/orders", s).body_json(&body)).await
}

async fn used(app: &TestApp, admin: &Session, id: u64) -> u64 {
    send(app.get_as(&format!("/api/v1/admin/coupons/{id}"), admin)).await.json()["data"]["used"].as_u64().unwrap()
}

#[tokio::test]
async fn admins_manage_codes_that_are_unique_without_regard_to_case() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let c = coupon(&app, &admin, json!({"code": "Summer-10", "type": "PERCENT", "value": 10, "usageLimit": 5})).await;
    assert_eq!(
        (&c["code"], &c["type"], c["value"].as_f64(), &c["used"], &c["active"], &c["endsAt"], &c["categories"]),
        (&json!("Summer-10"), &json!("PERCENT"), Some(10.0), &json!(0), &json!(true), &Value::Null, &json!([]))
    );
    let again = send(
        app.post_as("/api/v1/admin/coupons", &admin)
            .body_json(&json!({"code": "summer-10", "type": "FIXED", "value": 5})),
    )
    .await;
    assert_error(&again, 409, "COUPON_EXISTS");
    for (bad, field) in [
        (json!({"code": "BIG", "type": "PERCENT", "value": 150}), "value"),
        (json!({"code": "NOVALUE", "type": "FIXED"}), "value"),
        (json!({"code": "SHIP", "type": "FREE_SHIPPING", "value": 3}), "value"),
        (json!({"code": "has space", "type": "FIXED", "value": 3}), "code"),
        (json!({"code": "CENTS", "type": "FIXED", "value": 1.005}), "value"),
        (
            json!({"code": "DATES", "type": "FIXED", "value": 1, "startsAt": "2026-06-02T00:00:00Z", "endsAt": "2026-06-01T00:00:00Z"}),
            "endsAt",
        ),
        (json!({"code": "ZERO", "type": "FIXED", "value": 1, "usageLimit": 0}), "usageLimit"),
    ] {
        let r = send(app.post_as("/api/v1/admin/coupons", &admin).body_json(&bad)).await;
        assert!(assert_error(&r, 400, "VALIDATION_ERROR")["details"][field].is_array(), "{bad}: {}", r.text());
    }
    let id = c["id"].as_u64().unwrap();
    let path = format!("/api/v1/admin/coupons/{id}");
    let r = send(
        app.client
            .patch(&path)
            .header("Authorization", admin.bearer())
            .body_json(&json!({"value": 15, "usageLimit": null, "active": false})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        (r.json()["data"]["value"].as_f64(), &r.json()["data"]["usageLimit"], &r.json()["data"]["active"]),
        (Some(15.0), &Value::Null, &json!(false))
    );
    let list = send(app.get_as("/api/v1/admin/coupons", &admin)).await.json();
    assert_eq!((list["data"]["total"].as_u64(), &list["data"]["coupons"][0]["code"]), (Some(1), &json!("Summer-10")));
    let customer = app.user("c@coupons.test").await;
    assert_error(&send(app.get_as("/api/v1/admin/coupons", &customer)).await, 403, "FORBIDDEN");
    let r = send(app.client.delete(&path).header("Authorization", admin.bearer())).await;
    assert_eq!((r.status, &r.json()["data"]["deleted"]), (StatusCode::OK, &json!(true)));
    assert_error(&send(app.get_as(&path, &admin)).await, 404, "COUPON_NOT_FOUND");
}

#[tokio::test]
async fn the_cart_shows_the_code_and_refuses_each_kind_of_bad_code_with_its_own_error() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let mug = item(&app, &admin, 30.0, "mugs").await;
    let s = app.user("cart@coupons.test").await;
    let r = send(app.post_as("/api/v1/cart/items", &s).body_json(&json!({"productId": mug, "quantity": 2}))).await;
    assert_eq!(r.status, StatusCode::OK);
    coupon(&app, &admin, json!({"code": "TENOFF", "type": "FIXED", "value": 10})).await;
    coupon(&app, &admin, json!({"code": "OLD", "type": "PERCENT", "value": 5, "endsAt": "2020-01-01T00:00:00Z"})).await;
    coupon(&app, &admin, json!({"code": "LATER", "type": "PERCENT", "value": 5, "startsAt": "2099-01-01T00:00:00Z"}))
        .await;
    coupon(&app, &admin, json!({"code": "BIGSPENDER", "type": "PERCENT", "value": 5, "minSubtotal": 100})).await;
    coupon(&app, &admin, json!({"code": "SHOESONLY", "type": "PERCENT", "value": 5, "categories": ["shoes"]})).await;
    coupon(&app, &admin, json!({"code": "OFF", "type": "PERCENT", "value": 5, "active": false})).await;
    let apply = |code: &str| send(app.post_as("/api/v1/cart/coupon", &s).body_json(&json!({"code": code})));
    assert_error(&apply("NOPE").await, 404, "COUPON_NOT_FOUND");
    assert_error(&apply("off").await, 404, "COUPON_NOT_FOUND");
    assert_error(&apply("old").await, 422, "COUPON_EXPIRED");
    assert_error(&apply("LATER").await, 422, "COUPON_EXPIRED");
    assert_error(&apply("bigspender").await, 422, "COUPON_NOT_APPLICABLE");
    assert_error(&apply("ShoesOnly").await, 422, "COUPON_NOT_APPLICABLE");
    let cart = send(app.get_as("/api/v1/cart", &s)).await.json()["data"].clone();
    assert_eq!(
        (&cart["coupon"], cart["discount"].as_f64(), cart["total"].as_f64()),
        (&Value::Null, Some(0.0), Some(60.0)),
        "refused codes leave the cart as it was"
    );

    let r = apply("  tenoff ").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let cart = r.json()["data"].clone();
    assert_eq!(cart["coupon"], json!({"code": "TENOFF", "type": "FIXED"}));
    assert_eq!(
        (cart["subtotal"].as_f64(), cart["discount"].as_f64(), cart["total"].as_f64()),
        (Some(60.0), Some(10.0), Some(50.0))
    );
    // Ordering the cart applies its code: 50.00 taxed at 8 %, shipping under the threshold.
    let r = send(app.post_as("/api/v1/orders", &s).body_json(&json!({"shippingAddress": shipping_address()}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let o = r.json()["data"].clone();
    assert_eq!(
        (
            &o["couponCode"],
            o["subtotal"].as_f64(),
            o["discount"].as_f64(),
            o["tax"].as_f64(),
            o["shipping"].as_f64(),
            o["total"].as_f64()
        ),
        (&json!("TENOFF"), Some(60.0), Some(10.0), Some(4.0), Some(9.99), Some(63.99))
    );
    assert_eq!(o["email"], "cart@coupons.test");
    let mails = app.wait_for_mails(1).await;
    let confirmation = mails
        .iter()
        .map(|m| crate::helpers::unfold(m))
        .find(|m| m.contains("Thank you for your order"))
        .expect("a confirmation");
    assert!(
        confirmation.contains("Discount (TENOFF): -10.00 USD") && confirmation.contains("Total: 63.99 USD"),
        "{confirmation}"
    );
    let cart = send(app.get_as("/api/v1/cart", &s)).await.json()["data"].clone();
    assert_eq!((&cart["items"], &cart["coupon"]), (&json!([]), &Value::Null), "the ordered cart is gone, code and all");

    // A removed code stops applying.
    send(app.post_as("/api/v1/cart/items", &s).body_json(&json!({"productId": mug, "quantity": 1}))).await;
    apply("TENOFF").await;
    let r = send(app.client.delete("/api/v1/cart/coupon").header("Authorization", s.bearer())).await;
    assert_eq!((&r.json()["data"]["coupon"], r.json()["data"]["total"].as_f64()), (&Value::Null, Some(30.0)));
}

#[tokio::test]
async fn the_discount_falls_on_eligible_lines_and_tax_and_free_shipping_follow_it_to_the_cent() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let (mug, tea) = (item(&app, &admin, 60.0, "mugs").await, item(&app, &admin, 16.67, "tea").await);
    let s = app.user("cents@coupons.test").await;
    coupon(&app, &admin, json!({"code": "MUGS20", "type": "PERCENT", "value": 20, "categories": ["mugs"]})).await;
    // 60 + 3 × 16.67 = 110.01; 20 % of the mug = 12.00; 98.01 is under the 100 threshold.
    let r = order_with(&app, &s, &[(mug, 1), (tea, 3)], Some("mugs20")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let o = r.json()["data"].clone();
    assert_eq!(
        (
            o["subtotal"].as_f64(),
            o["discount"].as_f64(),
            o["tax"].as_f64(),
            o["shipping"].as_f64(),
            o["total"].as_f64()
        ),
        (Some(110.01), Some(12.0), Some(7.84), Some(9.99), Some(115.84))
    );
    let shares: Vec<(u64, Option<f64>)> = o["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["productId"].as_u64().unwrap(), i["discount"].as_f64()))
        .collect();
    assert!(shares.contains(&(mug, Some(12.0))) && shares.contains(&(tea, Some(0.0))), "{shares:?}");

    // A percentage over several lines: the shares sum to the rounded discount exactly.
    coupon(&app, &admin, json!({"code": "ALL7", "type": "PERCENT", "value": 7})).await;
    let o = order_with(&app, &s, &[(mug, 1), (tea, 1)], Some("ALL7")).await.json()["data"].clone();
    // 7 % of 76.67 = 5.3669 → 5.37; 71.30 → tax 5.70, shipping 9.99.
    assert_eq!((o["discount"].as_f64(), o["tax"].as_f64(), o["total"].as_f64()), (Some(5.37), Some(5.7), Some(86.99)));
    let sum: f64 = o["items"].as_array().unwrap().iter().map(|i| i["discount"].as_f64().unwrap()).sum();
    assert!((sum - 5.37).abs() < 1e-9, "{sum}");

    // FIXED is capped at the eligible lines; FREE_SHIPPING takes the shipping off.
    coupon(&app, &admin, json!({"code": "TEA50", "type": "FIXED", "value": 50, "productIds": [tea]})).await;
    let o = order_with(&app, &s, &[(mug, 1), (tea, 1)], Some("TEA50")).await.json()["data"].clone();
    assert_eq!(
        (o["discount"].as_f64(), o["tax"].as_f64(), o["shipping"].as_f64(), o["total"].as_f64()),
        (Some(16.67), Some(4.8), Some(9.99), Some(74.79))
    );
    coupon(&app, &admin, json!({"code": "SHIPFREE", "type": "FREE_SHIPPING"})).await;
    let o = order_with(&app, &s, &[(tea, 1)], Some("SHIPFREE")).await.json()["data"].clone();
    assert_eq!(
        (o["discount"].as_f64(), o["shipping"].as_f64(), o["total"].as_f64()),
        (Some(0.0), Some(0.0), Some(18.0))
    );

    // A refused code places nothing and takes no stock.
    let before = stock(&app, mug).await;
    assert_error(&order_with(&app, &s, &[(mug, 1)], Some("TEA50")).await, 422, "COUPON_NOT_APPLICABLE");
    assert_error(&order_with(&app, &s, &[(mug, 1)], Some("WHAT")).await, 404, "COUPON_NOT_FOUND");
    assert_eq!(stock(&app, mug).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_orders_for_a_code_of_ten_uses_make_exactly_ten_discounted_orders() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let id = product(&app, &admin, 20.0, 0.0, 1000).await;
    let c = coupon(&app, &admin, json!({"code": "TEN", "type": "FIXED", "value": 5, "usageLimit": 10})).await;
    let cid = c["id"].as_u64().unwrap();
    let mut buyers = Vec::new();
    for i in 0..5 {
        buyers.push(app.user(&format!("rush{i}@coupons.test")).await);
    }
    let line = [(id, 1)];
    let attempts = (0..50).map(|i| order_with(&app, &buyers[i % 5], &line, Some("ten")));
    let replies = futures_util::future::join_all(attempts).await;
    let created: Vec<Value> =
        replies.iter().filter(|r| r.status == StatusCode::CREATED).map(|r| r.json()["data"].clone()).collect();
    let refused = replies.iter().filter(|r| r.status.as_u16() == 422 && r.json()["code"] == "COUPON_EXHAUSTED").count();
    assert_eq!(
        (created.len(), refused),
        (10, 40),
        "{:?}",
        replies.iter().map(|r| r.status.as_u16()).collect::<Vec<_>>()
    );
    assert!(created.iter().all(|o| o["discount"].as_f64() == Some(5.0) && o["couponCode"] == "TEN"));
    assert_eq!(used(&app, &admin, cid).await, 10);
    assert_eq!(stock(&app, id).await, 990, "refused orders took no stock");

    // A cancelled order gives its use back.
    let first = created[0]["id"].as_str().unwrap();
    let r = set_status(&app, &admin, first, json!({"status": "CANCELLED"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(used(&app, &admin, cid).await, 9);
    let r = order_with(&app, &buyers[0], &[(id, 1)], Some("TEN")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_error(&order_with(&app, &buyers[0], &[(id, 1)], Some("TEN")).await, 422, "COUPON_EXHAUSTED");
}

#[tokio::test]
async fn a_per_customer_limit_counts_each_customer_apart() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let id = product(&app, &admin, 20.0, 0.0, 100).await;
    coupon(&app, &admin, json!({"code": "ONCE", "type": "PERCENT", "value": 50, "perCustomerLimit": 1})).await;
    let (a, b) = (app.user("a@coupons.test").await, app.user("b@coupons.test").await);
    assert_eq!(order_with(&app, &a, &[(id, 1)], Some("ONCE")).await.status, StatusCode::CREATED);
    let err = assert_error(&order_with(&app, &a, &[(id, 1)], Some("once")).await, 422, "COUPON_EXHAUSTED");
    assert!(err["message"].as_str().unwrap().contains("You have used"), "{err}");
    let r = send(app.post_as("/api/v1/cart/coupon", &a).body_json(&json!({"code": "ONCE"}))).await;
    assert_error(&r, 422, "COUPON_EXHAUSTED");
    assert_eq!(order_with(&app, &b, &[(id, 1)], Some("ONCE")).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_return_refunds_what_the_line_really_cost_after_its_share_of_the_discount() {
    let app = crate::payments::offline_shop().await;
    let admin = app.demo_admin().await;
    let mug = item(&app, &admin, 30.0, "mugs").await;
    coupon(&app, &admin, json!({"code": "MUGS20", "type": "PERCENT", "value": 20})).await;
    let s = app.user("returns@coupons.test").await;
    // 3 × 30 = 90; 20 % off = 18; tax 8 % of 72 = 5.76; shipping 9.99.
    let o = order_with(&app, &s, &[(mug, 3)], Some("MUGS20")).await.json()["data"].clone();
    assert_eq!((o["discount"].as_f64(), o["total"].as_f64()), (Some(18.0), Some(87.75)));
    let oid = o["id"].as_str().unwrap().to_string();
    let pi = crate::payments::intent(&app, &s, &oid).await.json()["data"].clone();
    let r = send(app.post_as("/api/v1/payments/confirm", &s).body_json(&json!({"paymentIntentId": pi["id"]}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    for next in ["SHIPPED", "DELIVERED"] {
        assert_eq!(set_status(&app, &admin, &oid, json!({"status": next})).await.status, StatusCode::OK);
    }
    let item_id = o["items"][0]["id"].as_u64().unwrap();
    let body = json!({"reason": "Chipped", "items": [{"orderItemId": item_id, "quantity": 1}]});
    let r = send(app.post_as(&format!("/api/v1/orders/{oid}/returns"), &s).body_json(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let rid = r.json()["data"]["id"].as_u64().unwrap();
    let r = send(
        app.client
            .patch(format!("/api/v1/orders/{oid}/returns/{rid}"))
            .header("Authorization", admin.bearer())
            .body_json(&json!({"status": "APPROVED"})),
    )
    .await;
    assert_eq!(r.json()["data"]["status"], "APPROVED", "{}", r.text());
    // One mug cost 24.00 after its share of the discount, 25.92 with its tax: not 32.40.
    let payment = send(app.get_as(&format!("/api/v1/orders/{oid}"), &s)).await.json()["data"]["payment"].clone();
    assert_eq!(payment["refunded"].as_f64(), Some(25.92), "{payment}");
}
