//! Hostile input: control characters and over-long values in any body field are refused with a
//! `VALIDATION_ERROR` naming the field, and change nothing.

use poem::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_error, send, shipping_address};

fn named(reply: &crate::helpers::Reply, field: &str) -> Value {
    let body = assert_error(reply, 400, "VALIDATION_ERROR");
    assert!(body["details"][field].is_array(), "{field} is named: {body}");
    body
}

#[tokio::test]
async fn a_nul_in_an_email_or_a_control_character_in_a_name_registers_nothing() {
    let app = TestApp::new().await;
    let register = |email: &str, first: &str| json!({"email": email, "password": PASSWORD, "firstName": first, "lastName": "Smith"});
    let r = send(app.post("/api/v1/auth/register").body_json(&register("nul\u{0}@shop.test", "Ann"))).await;
    named(&r, "email");
    let r = send(app.post("/api/v1/auth/register").body_json(&register("bell@shop.test", "An\u{7}n"))).await;
    named(&r, "firstName");
    let r = send(app.post("/api/v1/auth/register").body_json(&register("line@shop.test", "Ann\r\nBcc: x"))).await;
    named(&r, "firstName");
    assert_error(&app.login("bell@shop.test", PASSWORD).await, 400, "INVALID_CREDENTIALS");
    // A pasted email's trailing newline is only trimmed.
    let r = send(app.post("/api/v1/auth/register").body_json(&register(" paste@shop.test\n", "Ann"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["data"]["user"]["email"], "paste@shop.test");
}

#[tokio::test]
async fn an_over_long_phone_is_refused_and_no_order_is_placed() {
    let app = TestApp::demo().await;
    let s = app.user("long@shop.test").await;
    let stock = send(app.get("/api/v1/products/1")).await.json()["data"]["stock"].clone();
    let mut address = shipping_address();
    address["phone"] = json!("5".repeat(900_000));
    let body = json!({"products": [{"id": 1, "quantity": 1}], "shippingAddress": address});
    let r = send(app.post_as("/api/v1/orders", &s).body_json(&body)).await;
    let err = named(&r, "shippingAddress.phone");
    assert_eq!(err["details"]["shippingAddress.phone"][0], "At most 32 characters");
    let mine = send(app.get_as("/api/v1/orders", &s)).await.json();
    assert_eq!(mine["data"]["total"], 0, "{mine}");
    assert_eq!(send(app.get("/api/v1/products/1")).await.json()["data"]["stock"], stock, "stock untouched");
}

#[tokio::test]
async fn descriptions_keep_their_lines_but_not_control_characters() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let product = |description: &str, tags: Value| {
        json!({"title": "Lamp", "description": description, "price": 10.0, "stock": 1, "brand": "B",
            "category": "home", "tags": tags})
    };
    let r =
        send(app.post_as("/api/v1/products", &admin).body_json(&product("Line one\n\tLine two", json!(["a"])))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["data"]["description"], "Line one\n\tLine two");
    let r = send(app.post_as("/api/v1/products", &admin).body_json(&product("esc \u{1b}[31m", json!(["a"])))).await;
    named(&r, "description");
    let r = send(app.post_as("/api/v1/products", &admin).body_json(&product("ok", json!(["a", "b\u{0}"])))).await;
    named(&r, "tags.1");
    assert_eq!(send(app.get("/api/v1/products")).await.json()["data"]["total"], 1, "only the clean one");
}

#[tokio::test]
async fn made_up_session_ids_get_a_new_one_and_a_visit_stores_no_cart() {
    let app = TestApp::demo().await;
    let carts = || app.state.store.read().unwrap().count(&shopd::cart::CARTS).unwrap();
    let before = carts();
    for _ in 0..3 {
        let r = send(app.get("/api/v1/cart")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.header("x-session-id").is_some());
    }
    assert_eq!(carts(), before, "a visit stores nothing");

    // Guessable ids are replaced by a server-issued one; random ones are kept.
    for weak in [
        "guest-session-0000000001",
        "00000000-0000-4000-8000-000000000000",
        "0123456789abcdef0123456789abcdef",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "abababababababababababababababababab",
        "6f1c2b9e-8d4a-1c7e-b1f3-2a9d5e7c0b48",
    ] {
        let r = send(app.get("/api/v1/cart").header("X-Session-ID", weak)).await;
        let issued = r.header("x-session-id").unwrap_or_else(|| panic!("{weak} is replaced"));
        assert_ne!(issued, weak);
        assert!(shopd::cart::api::strong_session(issued), "{issued}");
    }
    for strong in
        ["6f1c2b9e-8d4a-4c7e-b1f3-2a9d5e7c0b48", "9f86d081884c7d659a2feaa0c55ad015", "Zk3q-9Xv_Lw2Rt8yBn4Hs6Jd1Fm7Gc0P"]
    {
        let r = send(app.get("/api/v1/cart").header("X-Session-ID", strong)).await;
        assert!(r.header("x-session-id").is_none(), "{strong} is kept");
    }

    // A guest's cart is merged only by a request that carries that guest's own session.
    let guest = "2d7b9f4e-6a1c-4e3b-8f5d-c9a0e2b7d143";
    let r = send(
        app.post("/api/v1/cart/items").header("X-Session-ID", guest).body_json(&json!({"productId": 1, "quantity": 2})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let thief = app.user("thief@shop.test").await;
    let r = send(app.post_as("/api/v1/cart/merge", &thief).header("X-Session-ID", "guest-session-0000000001")).await;
    assert_eq!(r.json()["data"]["items"], json!([]), "a made-up id merges nothing");
    let r = send(app.get("/api/v1/cart").header("X-Session-ID", guest)).await;
    assert_eq!(r.json()["data"]["itemCount"], 2, "the guest keeps the cart");
}

#[tokio::test]
async fn the_session_cookie_is_secure_in_production() {
    let app = TestApp::with(crate::helpers::production, |r| r).await;
    let r = send(app.get("/api/v1/cart")).await;
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.contains("; Secure") && cookie.contains("HttpOnly"), "{cookie}");
    let dev = send(TestApp::new().await.get("/api/v1/cart")).await;
    assert!(!dev.header("set-cookie").unwrap().contains("Secure"));
}

/// A PNG whose header declares `width`×`height` pixels, with a tiny (and wrong) body: a few
/// hundred bytes that would decode to gigabytes.
fn declared_png(width: u32, height: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
        out
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    png.extend(chunk(b"IEND", &[]));
    png
}

fn real_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(32, 24, |x, y| image::Rgb([x as u8 * 8, y as u8 * 10, 99]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn images(files: &[(&[u8], &str)]) -> poem::test::TestForm {
    files.iter().fold(poem::test::TestForm::new(), |form, (bytes, name)| {
        form.field(poem::test::TestFormField::bytes(bytes.to_vec()).name("images").filename(*name))
    })
}

fn stored_files(app: &TestApp) -> Vec<String> {
    let dir = app.state.settings.data_dir.join("uploads/products");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn bombs_and_html_behind_an_image_header_are_refused_wherever_they_are_sent() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let before = stored_files(&app);
    let bomb = declared_png(50_000, 50_000);
    let html = b"\x89PNG\r\n\x1a\n<html><script>alert(document.cookie)</script></html>".to_vec();
    let good = real_png();
    for (second, why) in [(&bomb, "too large"), (&html, "could not be read")] {
        // Second in the request: every image is decoded, not only the one the thumbnail is made of.
        let form = images(&[(&good, "a.png"), (second, "b.png")]);
        let r = send(app.post_as("/api/v1/products/1/images", &admin).multipart(form)).await;
        let err = named(&r, "images");
        assert!(err["details"]["images"][0].as_str().unwrap().contains(why), "{err}");
        assert_eq!(stored_files(&app), before, "nothing kept");
    }
    let user = app.user("bomb@shop.test").await;
    let avatar = |bytes: &[u8]| {
        poem::test::TestForm::new()
            .field(poem::test::TestFormField::bytes(bytes.to_vec()).name("avatar").filename("a.png"))
    };
    let r = send(app.post_as("/api/v1/users/me/avatar", &user).multipart(avatar(&bomb))).await;
    named(&r, "avatar");
    let r = send(app.post_as("/api/v1/users/me/avatar", &user).multipart(avatar(&html))).await;
    named(&r, "avatar");
    assert_eq!(send(app.get_as("/api/v1/users/me", &user)).await.json()["data"]["image"], Value::Null);
    let r = send(app.post_as("/api/v1/products/1/images", &admin).multipart(images(&[(&good, "a.png")]))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn uploads_serve_only_what_shopd_wrote_with_head() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let r = send(app.post_as("/api/v1/products/1/images", &admin).multipart(images(&[(&real_png(), "a.png")]))).await;
    let url = r.json()["data"]["images"].as_array().unwrap().last().unwrap().as_str().unwrap().to_string();
    let full = send(app.get(&url)).await;
    assert_eq!((full.status, full.header("content-type")), (StatusCode::OK, Some("image/png")));
    let head = send(app.client.head(&url)).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-length"), Some(full.body.len().to_string().as_str()));
    assert!(head.body.is_empty(), "HEAD has no body");

    let dir = app.state.settings.data_dir.join("uploads/products");
    std::fs::write(dir.join(".htpasswd"), "admin:secret").unwrap();
    std::fs::write(dir.join(".p.png.partial"), "half").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd.png")).unwrap();
    std::os::unix::fs::symlink("/etc", app.state.settings.data_dir.join("uploads/etc")).unwrap();
    for path in [
        "/uploads/products/.htpasswd",
        "/uploads/products/.p.png.partial",
        "/uploads/products/passwd.png",
        "/uploads/etc/passwd",
        "/uploads/products/../../config.toml",
        "/uploads/products/%2e%2e/%2e%2e/store.redb",
        "/uploads/products",
    ] {
        let r = send(app.get(path)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text());
        assert!(!r.header("cache-control").unwrap_or_default().contains("immutable"), "a 404 is not cached for ever");
        assert!(!r.text().contains("root:"), "{path}");
    }
    assert_error(&send(app.post(&url)).await, 405, "METHOD_NOT_ALLOWED");
}
