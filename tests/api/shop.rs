//! The shop (API.md §6): `GET /shop` for storefronts, `/admin/settings` for its owner, with the
//! configuration as the defaults of what was never set.

use poem::http::StatusCode;
use poem::test::{TestForm, TestFormField};
use serde_json::json;

use crate::helpers::{TestApp, assert_error, send};

#[tokio::test]
async fn the_shop_shows_its_configured_defaults_then_what_its_owner_sets() {
    let app = TestApp::with(
        |s| {
            s.seed_demo = true;
            s.shop_name = Some("Lamp Co".into());
            s.shop_email = Some("orders@lamp.example".into());
            s.stripe_publishable_key = Some("pk_test_123".into());
        },
        |r| r,
    )
    .await;
    let admin = app.demo_admin().await;
    let mut shop = send(app.get("/api/v1/shop")).await.json()["data"].clone();
    // The VAPID public key: an uncompressed P-256 point, base64url (87 characters).
    let vapid = shop["vapidPublicKey"].take();
    assert_eq!(vapid.as_str().map(str::len), Some(87), "{vapid}");
    assert_eq!(
        shop,
        json!({"name": "Lamp Co", "currency": "USD", "supportEmail": "orders@lamp.example", "logoUrl": null,
               "guestCheckout": true, "paymentProvider": "offline", "stripePublishableKey": "pk_test_123",
               "taxRate": 0.08, "freeShippingThreshold": 100.0, "shippingFlatRate": 9.99, "vapidPublicKey": null,
               "timezone": "UTC"})
    );

    let put = |body: serde_json::Value| {
        send(app.client.put("/api/v1/admin/settings").header("Authorization", admin.bearer()).body_json(&body))
    };
    let r = put(json!({"name": "Jürgen Müller Leuchten", "legalName": "Müller Leuchten GmbH", "address": "Königstraße 5, 80331 München",
                       "taxId": "DE123456789", "currency": "eur", "paperSize": "A4", "timezone": "Europe/Berlin",
                       "invoiceFooter": "Danke!\nBank: DE89 3704 0044 0532 0130 00"}))
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let s = r.json()["data"].clone();
    assert_eq!(
        (s["currency"].as_str(), &s["senderName"]),
        (Some("EUR"), &json!(null)),
        "no sender name: the shop's name"
    );
    assert_eq!(send(app.get_as("/api/v1/admin/settings", &admin)).await.json()["data"], s, "kept");
    let shop = send(app.get("/api/v1/shop")).await.json()["data"].clone();
    assert_eq!(
        (shop["name"].as_str(), shop["currency"].as_str(), shop["timezone"].as_str()),
        (Some("Jürgen Müller Leuchten"), Some("EUR"), Some("Europe/Berlin"))
    );
    // The sales figures now count Berlin's days.
    let overview = send(app.get_as("/api/v1/admin/stats/overview", &admin)).await.json()["data"].clone();
    assert_eq!(overview["timezone"], "Europe/Berlin");

    // An empty text clears an optional field; the name cannot be cleared.
    let s = put(json!({"taxId": "", "legalName": "  "})).await.json()["data"].clone();
    assert_eq!(
        (&s["taxId"], &s["legalName"], s["name"].as_str()),
        (&json!(null), &json!(null), Some("Jürgen Müller Leuchten"))
    );
    for (body, field) in [
        (json!({"currency": "EURO"}), "currency"),
        (json!({"timezone": "Mars/Olympus"}), "timezone"),
        (json!({"supportEmail": "not-an-email"}), "supportEmail"),
        (json!({"name": " "}), "name"),
        (json!({"paperSize": "A5"}), "paperSize"),
    ] {
        let err = assert_error(&put(body.clone()).await, 400, "VALIDATION_ERROR");
        assert!(err["details"][field].is_array(), "{body}: {err}");
    }
    assert_eq!(send(app.get("/api/v1/shop")).await.json()["data"]["currency"], "EUR", "refused changes change nothing");
    let log = send(app.get_as("/api/v1/admin/audit-logs?action=SETTINGS_UPDATE", &admin)).await.json()["data"].clone();
    assert_eq!(log["total"], 2);
    assert_eq!(log["logs"][0]["newValue"]["taxId"], json!(null));
    assert_eq!(log["logs"][0]["oldValue"]["taxId"], "DE123456789");

    let customer = app.user("c@shop.test").await;
    assert_error(&send(app.get_as("/api/v1/admin/settings", &customer)).await, 403, "FORBIDDEN");
}

#[tokio::test]
async fn the_logo_is_an_image_checked_like_every_upload() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let upload = |bytes: Vec<u8>| {
        let form = TestForm::new().field(TestFormField::bytes(bytes).name("logo").filename("logo.png"));
        send(app.post_as("/api/v1/admin/settings/logo", &admin).multipart(form))
    };
    assert_error(&upload(b"<html>not an image</html>".to_vec()).await, 400, "VALIDATION_ERROR");
    let r = upload(crate::backup::png()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let url = r.json()["data"]["logoUrl"].as_str().unwrap().to_string();
    assert!(url.starts_with("/uploads/shop/logo-"), "{url}");
    assert_eq!(send(app.get(&url)).await.status, StatusCode::OK);
    assert_eq!(send(app.get("/api/v1/shop")).await.json()["data"]["logoUrl"], url.as_str());
    // A new logo replaces the old file.
    let second = upload(crate::backup::png()).await.json()["data"]["logoUrl"].as_str().unwrap().to_string();
    assert_ne!(second, url);
    assert_eq!(send(app.get(&url)).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn mails_come_from_the_shop_and_show_the_whole_order() {
    let app = TestApp::with(
        |s| {
            s.seed_demo = true;
            s.client_url = "https://lamps.example".into();
        },
        |r| r,
    )
    .await;
    let admin = app.demo_admin().await;
    let r = send(
        app.client
            .put("/api/v1/admin/settings")
            .header("Authorization", admin.bearer())
            .body_json(&json!({"name": "Lamp Co", "senderName": "Lamp Co Orders"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let buyer = app.user("buyer@mails.test").await;
    let before = app.mails().await.len();
    let o = app.placed(&buyer, &[(1, 2)]).await;
    let id = o["id"].as_str().unwrap();
    let mails = app.wait_for_mails(before + 1).await;
    let confirmation = mails[before..]
        .iter()
        .find(|m| m.contains("confirmed"))
        .map(|m| crate::helpers::unfold(m))
        .expect("a confirmation");
    assert!(confirmation.contains("From: \"Lamp Co Orders\" <noreply@shopd.local>"), "{confirmation}");
    assert!(confirmation.contains(&format!("Subject: Order #{} confirmed", o["number"])), "{confirmation}");
    let money = |k: &str| format!("{:.2}", o[k].as_f64().unwrap());
    for part in [
        format!(
            "2 x {} at {} = {}",
            o["items"][0]["product"]["title"].as_str().unwrap(),
            money_of(&o["items"][0]["price"]),
            money_of(&o["items"][0]["total"])
        ),
        format!("Subtotal: {} USD", money("subtotal")),
        format!("Tax: {} USD", money("tax")),
        format!("Shipping: {} USD", money("shipping")),
        format!("Total: {} USD", money("total")),
        "Shipping to: Ann Smith, 1 Main St, 0150 Oslo, Oslo, NO".to_string(),
        format!("https://lamps.example/orders/{id}"),
    ] {
        assert!(confirmation.contains(&part), "{part} in {confirmation}");
    }

    // Shipped: the carrier's tracking page.
    let before = app.mails().await.len();
    for status in ["PROCESSING", "SHIPPED"] {
        let body = json!({"status": status, "carrier": "UPS", "trackingNumber": "1Z999AA10123456784"});
        let r = crate::checkout::set_status(&app, &admin, id, body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let mails = app.wait_for_mails(before + 1).await;
    let shipped = mails[before..]
        .iter()
        .find(|m| m.contains("has shipped"))
        .map(|m| crate::helpers::unfold(m))
        .expect("a shipping mail");
    assert!(shipped.contains("https://www.ups.com/track?tracknum=1Z999AA10123456784"), "{shipped}");
}

fn money_of(v: &serde_json::Value) -> String {
    format!("{:.2}", v.as_f64().unwrap())
}

#[tokio::test]
async fn a_shop_overrides_its_mail_templates_and_a_broken_one_falls_back() {
    let app = TestApp::with(
        |s| {
            s.seed_demo = true;
            let dir = s.data_dir.join("templates");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("order_confirmation.subject"), "Your order {{ order }}\n  is in").unwrap();
            std::fs::write(
                dir.join("order_confirmation.txt"),
                "Danke {{ name }}! Order {{ order }}: {{ total }} {{ currency }}{% if tracking_url %} never{% endif %}\n",
            )
            .unwrap();
            // Does not parse: the built-in HTML part is used.
            std::fs::write(dir.join("order_confirmation.html"), "{% if %}").unwrap();
        },
        |r| r,
    )
    .await;
    let buyer = app.user("tpl@mails.test").await;
    let before = app.mails().await.len();
    let o = app.placed(&buyer, &[(1, 1)]).await;
    let mails = app.wait_for_mails(before + 1).await;
    let mail = mails[before..]
        .iter()
        .map(|m| crate::helpers::unfold(m))
        .find(|m| m.contains("To: tpl@mails.test"))
        .expect("a mail");
    let number = o["number"].as_u64().unwrap();
    assert!(mail.contains(&format!("Subject: Your order #{number} is in\r\n")), "one line: {mail}");
    assert!(
        mail.contains(&format!("Danke Ann! Order #{number}: {:.2} USD\r\n", o["total"].as_f64().unwrap())),
        "{mail}"
    );
    assert!(!mail.contains("never"));
    assert!(mail.contains("Thank you for your order <b>"), "the built-in HTML: {mail}");
}
