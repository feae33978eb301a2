//! Guest checkout: a session's cart ordered with an email, the private link that stands in for
//! a sign-in on that order, and the account that takes the guest's orders once verified.

use poem::http::StatusCode;
use serde_json::{Value, json};

use crate::checkout::{product, stock};
use crate::helpers::{TestApp, assert_error, link_token, send, shipping_address, unfold};

const SESSION: &str = "4d1c9a6e-2f7b-4c3e-9a1d-8b5f0e7c6a21";

async fn guest_cart(app: &TestApp, id: u64, quantity: u32) {
    let r = send(
        app.post("/api/v1/cart/items")
            .header("X-Session-ID", SESSION)
            .body_json(&json!({"productId": id, "quantity": quantity})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

fn guest_order<'a>(
    app: &'a TestApp,
    email: &str,
) -> poem::test::TestRequestBuilder<'a, poem::endpoint::BoxEndpoint<'static, poem::Response>> {
    app.post("/api/v1/orders/guest")
        .header("X-Session-ID", SESSION)
        .body_json(&json!({"email": email, "shippingAddress": shipping_address()}))
}

#[tokio::test]
async fn a_guest_orders_its_cart_and_its_private_link_views_pays_invoices_and_cancels_that_order_only() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let id = product(&app, &admin, 40.0, 0.0, 5).await;
    guest_cart(&app, id, 2).await;
    let r = send(guest_order(&app, "Guest@Example.com").header("Idempotency-Key", "g-1")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let data = r.json()["data"].clone();
    let (order, token) = (data["order"].clone(), data["orderToken"].as_str().unwrap().to_string());
    assert_eq!(
        (&order["email"], &order["userId"], &order["status"]),
        (&json!("guest@example.com"), &Value::Null, &json!("PENDING"))
    );
    // 80.00 + 8 % tax + shipping under the threshold.
    assert_eq!(
        (order["subtotal"].as_f64(), order["tax"].as_f64(), order["total"].as_f64()),
        (Some(80.0), Some(6.4), Some(96.39))
    );
    assert_eq!(stock(&app, id).await, 3);
    assert!(token.len() >= 40, "unguessable: {token}");
    let again = send(guest_order(&app, "Guest@Example.com").header("Idempotency-Key", "g-1")).await;
    assert_eq!(
        (again.status, &again.json()["data"]["order"]["id"], again.json()["data"]["orderToken"].as_str()),
        (StatusCode::CREATED, &order["id"], Some(token.as_str()))
    );
    assert_eq!(stock(&app, id).await, 3, "the replay placed nothing");
    let cart = send(app.get("/api/v1/cart").header("X-Session-ID", SESSION)).await.json()["data"].clone();
    assert_eq!(cart["items"], json!([]), "the ordered cart is emptied");

    // The confirmation mail carries the private link.
    let oid = order["id"].as_str().unwrap().to_string();
    let mails = app.wait_for_mails(1).await;
    let mail = mails
        .iter()
        .find(|m| unfold(m).contains(&format!("/orders/{oid}?token=")))
        .expect("a confirmation with the link");
    assert!(unfold(mail).contains("To: guest@example.com"), "{mail}");
    assert_eq!(link_token(mail, &format!("orders/{oid}")), token);

    // The token opens this order: as a header and as the link's query.
    let r = send(app.get(&format!("/api/v1/orders/{oid}")).header("X-Order-Token", &token)).await;
    assert_eq!((r.status, &r.json()["data"]["id"]), (StatusCode::OK, &order["id"]));
    let r = send(app.get(&format!("/api/v1/orders/{oid}?token={token}"))).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(app.get(&format!("/api/v1/orders/{oid}/invoice")).header("X-Order-Token", &token)).await;
    assert_eq!((r.status, r.header("content-type")), (StatusCode::OK, Some("application/pdf")));
    assert_error(
        &send(app.get(&format!("/api/v1/orders/{oid}/tracking")).header("X-Order-Token", &token)).await,
        404,
        "TRACKING_UNAVAILABLE",
    );
    // A wrong token, or none, is "not found"; so is another order's token.
    assert_error(
        &send(app.get(&format!("/api/v1/orders/{oid}")).header("X-Order-Token", "x".repeat(43))).await,
        404,
        "ORDER_NOT_FOUND",
    );
    assert_eq!(send(app.get(&format!("/api/v1/orders/{oid}"))).await.status, StatusCode::UNAUTHORIZED);
    let s = app.user("other@guest.test").await;
    let theirs = app.placed(&s, &[(id, 1)]).await;
    let tid = theirs["id"].as_str().unwrap();
    assert_error(
        &send(app.get(&format!("/api/v1/orders/{tid}")).header("X-Order-Token", &token)).await,
        404,
        "ORDER_NOT_FOUND",
    );
    assert_error(
        &send(app.post(&format!("/api/v1/orders/{tid}/cancel")).header("X-Order-Token", &token).body_json(&json!({})))
            .await,
        404,
        "ORDER_NOT_FOUND",
    );

    // Paying with the token: the intent is the order's; the confirm goes through.
    let r = send(
        app.post("/api/v1/payments/create-intent").header("X-Order-Token", &token).body_json(&json!({"orderId": oid})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let pi = r.json()["data"]["id"].as_str().unwrap().to_string();
    let r = send(app.get(&format!("/api/v1/payments/{pi}/status")).header("X-Order-Token", &token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let wrong = "A".repeat(43);
    let r = send(app.get(&format!("/api/v1/payments/{pi}/status")).header("X-Order-Token", &wrong)).await;
    assert_error(&r, 404, "PAYMENT_NOT_FOUND");
    // What is not even shaped like a token is no credential at all.
    let r = send(app.get(&format!("/api/v1/orders/{oid}")).header("X-Order-Token", "nope")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Cancelling through the link restocks.
    let r = send(
        app.post(&format!("/api/v1/orders/{oid}/cancel?token={token}"))
            .body_json(&json!({"reason": "changed my mind"})),
    )
    .await;
    assert_eq!((r.status, &r.json()["data"]["status"]), (StatusCode::OK, &json!("CANCELLED")), "{}", r.text());
    assert_eq!(stock(&app, id).await, 4);
}

#[tokio::test]
async fn guest_orders_join_the_account_verified_with_their_email() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let id = product(&app, &admin, 10.0, 0.0, 5).await;
    guest_cart(&app, id, 1).await;
    let order = send(guest_order(&app, "later@guest.test")).await.json()["data"]["order"].clone();
    let r = send(app.post("/api/v1/auth/register").body_json(
        &json!({"email": "LATER@guest.test", "password": "Secret123!", "firstName": "Lia", "lastName": "Later"}),
    ))
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let s = app.session("later@guest.test", "Secret123!").await;
    let mine = || send(app.get_as("/api/v1/orders", &s));
    assert_eq!(mine().await.json()["data"]["total"], 0, "not before the email is verified");
    let mails = app.wait_for_mails(2).await;
    let verify = mails.iter().find(|m| unfold(m).contains("/verify-email?token=")).expect("a verification mail");
    let token = link_token(verify, "verify-email");
    assert_eq!(
        send(app.post("/api/v1/auth/verify-email").body_json(&json!({"token": token}))).await.status,
        StatusCode::OK
    );
    let list = mine().await.json()["data"].clone();
    assert_eq!((list["total"].as_u64(), &list["orders"][0]["id"]), (Some(1), &order["id"]));
    assert!(list["orders"][0]["userId"].is_u64());
}

#[tokio::test]
async fn guests_are_refused_when_the_owner_turns_them_off_and_limited_per_email() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let id = product(&app, &admin, 1.0, 0.0, 100).await;
    let off = send(
        app.client
            .put("/api/v1/admin/settings")
            .header("Authorization", admin.bearer())
            .body_json(&json!({"guestCheckout": false})),
    )
    .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text());
    assert_eq!(send(app.get("/api/v1/shop")).await.json()["data"]["guestCheckout"], false);
    guest_cart(&app, id, 1).await;
    assert_error(&send(guest_order(&app, "no@guest.test")).await, 403, "GUEST_CHECKOUT_DISABLED");
    send(
        app.client
            .put("/api/v1/admin/settings")
            .header("Authorization", admin.bearer())
            .body_json(&json!({"guestCheckout": true})),
    )
    .await;
    let mut created = 0;
    for _ in 0..12 {
        guest_cart(&app, id, 1).await;
        let r = send(guest_order(&app, "many@guest.test")).await;
        match r.status.as_u16() {
            201 => created += 1,
            429 => assert_eq!(r.json()["code"], "RATE_LIMIT_EXCEEDED"),
            other => panic!("{other}: {}", r.text()),
        }
    }
    assert_eq!(created, shopd::orders::guest::PER_HOUR);
    let r = send(
        app.post("/api/v1/orders/guest")
            .body_json(&json!({"email": "a@b.test", "shippingAddress": shipping_address()})),
    )
    .await;
    assert!(assert_error(&r, 400, "VALIDATION_ERROR")["details"]["X-Session-ID"].is_array());

    let off = TestApp::with(
        |s| {
            s.seed_demo = true;
            s.feature_guest_checkout = false;
        },
        |r| r,
    )
    .await;
    let r = send(
        off.post("/api/v1/orders/guest")
            .header("X-Session-ID", SESSION)
            .body_json(&json!({"email": "a@b.test", "shippingAddress": shipping_address()})),
    )
    .await;
    assert_error(&r, 403, "GUEST_CHECKOUT_DISABLED");
}
