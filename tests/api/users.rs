//! /api/v1/users (own account and admin) and /api/v1/admin/audit-logs.

use poem::http::StatusCode;
use poem::test::{TestForm, TestFormField};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Session, TestApp, assert_error, send};

/// A real 1×1 PNG, a JPEG header and a WebP header: sniffing looks at content only.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D,
    0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];
const WEBP: &[u8] =
    b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00";

fn address(label: &str, default: Option<bool>) -> Value {
    let mut a = json!({"label": label, "firstName": "Ann", "lastName": "Smith", "address": "1 Main St", "city": "Oslo",
                       "state": "Oslo", "zipCode": "0150", "country": "NO", "phone": "+47 555"});
    if let Some(d) = default {
        a["isDefault"] = json!(d);
    }
    a
}

async fn add_address(app: &TestApp, s: &Session, body: &Value) -> Value {
    let r = send(app.post_as("/api/v1/users/me/addresses", s).body_json(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["data"].clone()
}

#[tokio::test]
async fn me_shows_the_user_with_default_preferences_and_addresses() {
    let app = TestApp::new().await;
    let s = app.user("me@shop.test").await;
    let r = send(app.get_as("/api/v1/users/me", &s)).await;
    assert_eq!(r.status, StatusCode::OK);
    let me = &r.json()["data"];
    assert_eq!(me["id"], s.id);
    assert_eq!(me["email"], "me@shop.test");
    assert_eq!(
        me["preferences"],
        json!({"theme": "light", "notifications": true, "emailNotifications": true, "smsNotifications": false, "pushNotifications": false, "currency": "USD", "language": "en"})
    );
    assert_eq!(me["addresses"], json!([]));
    assert!(me.get("passwordHash").is_none() && me.get("password").is_none());
    assert_error(&send(app.get("/api/v1/users/me")).await, 401, "UNAUTHORIZED");
}

#[tokio::test]
async fn profile_updates_are_partial_and_refuse_privileged_fields() {
    let app = TestApp::new().await;
    let s = app.user("prof@shop.test").await;
    app.register("taken@shop.test").await;
    let r = send(
        app.client
            .patch("/api/v1/users/me")
            .header("Authorization", s.bearer())
            .body_json(&json!({"firstName": "Anna", "age": 31, "gender": "female"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let u = &r.json()["data"];
    assert_eq!(
        (u["firstName"].as_str(), u["lastName"].as_str(), u["age"].as_u64()),
        (Some("Anna"), Some("Smith"), Some(31))
    );
    let r = send(
        app.client.put("/api/v1/users/me").header("Authorization", s.bearer()).body_json(&json!({"phone": "+1 222"})),
    )
    .await;
    assert_eq!(r.json()["data"]["phone"], "+1 222");
    assert_eq!(r.json()["data"]["firstName"], "Anna", "PUT is partial too");

    for field in [
        json!({"role": "ADMIN"}),
        json!({"isActive": false}),
        json!({"emailVerified": true}),
        json!({"password": "Xx12345678"}),
    ] {
        // Not fields of this body: ignored (as the plan's validator strips them), never stored.
        let r = send(app.client.patch("/api/v1/users/me").header("Authorization", s.bearer()).body_json(&field)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["data"]["role"], "USER");
    }
    // The ignored `password` did not change the password.
    assert_error(&app.login("prof@shop.test", "Xx12345678").await, 400, "INVALID_CREDENTIALS");
    app.session("prof@shop.test", PASSWORD).await;
    let me = send(app.get_as("/api/v1/users/me", &s)).await.json();
    assert_eq!((me["data"]["role"].as_str(), me["data"]["isActive"].as_bool()), (Some("USER"), Some(true)));

    let r = send(
        app.client
            .patch("/api/v1/users/me")
            .header("Authorization", s.bearer())
            .body_json(&json!({"email": "TAKEN@shop.test", "currentPassword": PASSWORD})),
    )
    .await;
    assert_error(&r, 409, "EMAIL_EXISTS");
    // A stolen access token alone cannot move the account to another address.
    let r = send(
        app.client
            .patch("/api/v1/users/me")
            .header("Authorization", s.bearer())
            .body_json(&json!({"email": "thief@shop.test"})),
    )
    .await;
    let err = assert_error(&r, 400, "VALIDATION_ERROR");
    assert!(err["details"]["currentPassword"].is_array(), "{err}");
    let wrong = json!({"email": "thief@shop.test", "currentPassword": "Wrong1234"});
    let r = send(app.client.patch("/api/v1/users/me").header("Authorization", s.bearer()).body_json(&wrong)).await;
    assert_error(&r, 400, "INVALID_PASSWORD");
    let r = send(
        app.client
            .patch("/api/v1/users/me")
            .header("Authorization", s.bearer())
            .body_json(&json!({"email": "bad", "age": 0})),
    )
    .await;
    let err = assert_error(&r, 400, "VALIDATION_ERROR");
    assert!(err["details"]["email"].is_array() && err["details"]["age"].is_array());
    let r = send(
        app.client
            .patch("/api/v1/users/me")
            .header("Authorization", s.bearer())
            .body_json(&json!({"email": "new@shop.test", "currentPassword": PASSWORD})),
    )
    .await;
    assert_eq!(r.json()["data"]["emailVerified"], false);
    assert!(app.mails().await.last().unwrap().contains("To: new@shop.test"), "a new address is verified again");
    assert_eq!(app.login("new@shop.test", PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn preferences_have_defaults_and_partial_updates() {
    let app = TestApp::new().await;
    let s = app.user("pref@shop.test").await;
    let r = send(app.get_as("/api/v1/users/me/preferences", &s)).await;
    assert_eq!(r.json()["data"]["theme"], "light");
    let r = send(
        app.client
            .put("/api/v1/users/me/preferences")
            .header("Authorization", s.bearer())
            .body_json(&json!({"theme": "dark", "currency": "eur"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json()["data"],
        json!({"theme": "dark", "notifications": true, "emailNotifications": true, "smsNotifications": false, "pushNotifications": false, "currency": "EUR", "language": "en"})
    );
    let r = send(
        app.client
            .put("/api/v1/users/me/preferences")
            .header("Authorization", s.bearer())
            .body_json(&json!({"theme": "neon", "currency": "EURO"})),
    )
    .await;
    let err = assert_error(&r, 400, "VALIDATION_ERROR");
    assert!(err["details"]["theme"].is_array() && err["details"]["currency"].is_array());
    assert_eq!(send(app.get_as("/api/v1/users/me/preferences", &s)).await.json()["data"]["theme"], "dark");
}

#[tokio::test]
async fn addresses_keep_exactly_one_default_and_stay_private() {
    let app = TestApp::new().await;
    let s = app.user("addr@shop.test").await;
    let other = app.user("other@shop.test").await;
    let home = add_address(&app, &s, &address("Home", None)).await;
    assert_eq!(home["isDefault"], true, "the first address is the default");
    assert_eq!(home["zipCode"], "0150");
    let work = add_address(&app, &s, &address("Work", None)).await;
    assert_eq!(work["isDefault"], false);
    let cabin = add_address(&app, &s, &address("Cabin", Some(true))).await;
    assert_eq!(cabin["isDefault"], true);
    let list = send(app.get_as("/api/v1/users/me/addresses", &s)).await.json()["data"].clone();
    let labels: Vec<&str> = list.as_array().unwrap().iter().map(|a| a["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["Cabin", "Home", "Work"], "the default first");
    assert_eq!(list.as_array().unwrap().iter().filter(|a| a["isDefault"] == true).count(), 1);
    let me = send(app.get_as("/api/v1/users/me", &s)).await.json();
    assert_eq!(me["data"]["addresses"][0]["label"], "Cabin");

    let work_path = format!("/api/v1/users/me/addresses/{}", work["id"]);
    let r = send(
        app.client
            .put(&work_path)
            .header("Authorization", s.bearer())
            .body_json(&json!({"isDefault": true, "city": "Bergen"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        (r.json()["data"]["isDefault"].as_bool(), r.json()["data"]["city"].as_str()),
        (Some(true), Some("Bergen"))
    );
    let list = send(app.get_as("/api/v1/users/me/addresses", &s)).await.json()["data"].clone();
    assert_eq!(list.as_array().unwrap().iter().filter(|a| a["isDefault"] == true).count(), 1);

    // Someone else's address does not exist for this user.
    let r =
        send(app.client.put(&work_path).header("Authorization", other.bearer()).body_json(&json!({"city": "X"}))).await;
    assert_error(&r, 404, "ADDRESS_NOT_FOUND");
    assert_error(
        &send(app.client.delete(&work_path).header("Authorization", other.bearer())).await,
        404,
        "ADDRESS_NOT_FOUND",
    );
    assert_error(
        &send(app.client.delete("/api/v1/users/me/addresses/999").header("Authorization", s.bearer())).await,
        404,
        "ADDRESS_NOT_FOUND",
    );

    assert_error(
        &send(app.client.delete(&work_path).header("Authorization", s.bearer())).await,
        400,
        "CANNOT_DELETE_DEFAULT",
    );
    let r = send(
        app.client.delete(format!("/api/v1/users/me/addresses/{}", home["id"])).header("Authorization", s.bearer()),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(send(app.get_as("/api/v1/users/me/addresses", &s)).await.json()["data"].as_array().unwrap().len(), 2);

    let r =
        send(app.post_as("/api/v1/users/me/addresses", &s).body_json(&json!({"label": "Half", "city": "Oslo"}))).await;
    let err = assert_error(&r, 400, "VALIDATION_ERROR");
    for f in ["firstName", "lastName", "address", "state", "zipCode", "country", "phone"] {
        assert!(err["details"][f].is_array(), "{f} in {err}");
    }
    let r = send(
        app.client.put("/api/v1/users/me/addresses/abc").header("Authorization", s.bearer()).body_json(&json!({})),
    )
    .await;
    assert_error(&r, 400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn stats_report_membership_from_the_real_creation_time() {
    let app = TestApp::new().await;
    let s = app.user("stats@shop.test").await;
    let created = send(app.get_as("/api/v1/users/me", &s)).await.json()["data"]["createdAt"].clone();
    let r = send(app.get_as("/api/v1/users/me/stats", &s)).await;
    assert_eq!(
        r.json()["data"],
        json!({"totalOrders": 0, "totalSpent": 0.0, "lastOrder": null, "memberSince": created})
    );
}

#[tokio::test]
async fn deleting_the_account_needs_the_password_frees_the_email_and_ends_sessions() {
    let app = TestApp::new().await;
    let s = app.user("gone@shop.test").await;
    let r = send(
        app.client
            .delete("/api/v1/users/me")
            .header("Authorization", s.bearer())
            .body_json(&json!({"password": "Wrong1234"})),
    )
    .await;
    assert_error(&r, 400, "INVALID_PASSWORD");
    let r = send(
        app.client
            .delete("/api/v1/users/me")
            .header("Authorization", s.bearer())
            .body_json(&json!({"password": PASSWORD, "reason": "moving"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_error(&send(app.get_as("/api/v1/users/me", &s)).await, 401, "TOKEN_REVOKED");
    let refresh = send(app.post("/api/v1/auth/refresh").header("Cookie", format!("refreshToken={}", s.refresh))).await;
    assert_error(&refresh, 401, "INVALID_REFRESH_TOKEN");
    assert_error(&app.login("gone@shop.test", PASSWORD).await, 400, "INVALID_CREDENTIALS");
    assert_eq!(app.register("gone@shop.test").await.status, StatusCode::CREATED, "the email is free again");
}

fn avatar_form(bytes: &[u8], name: &str) -> TestForm {
    TestForm::new().field(TestFormField::bytes(bytes.to_vec()).name("avatar").filename(name).content_type("image/png"))
}

#[tokio::test]
async fn avatars_are_checked_by_content_served_and_replaced() {
    let app = TestApp::new().await;
    let s = app.user("face@shop.test").await;
    let r = send(app.post_as("/api/v1/users/me/avatar", &s).multipart(avatar_form(PNG, "../../etc/passwd.png"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let first = r.json()["data"]["imageUrl"].as_str().unwrap().to_string();
    assert!(first.starts_with("/uploads/avatars/user-") && first.ends_with(".png"), "{first}");
    assert!(!first.contains("passwd"), "no client name reaches the file system");
    let served = send(app.get(&first)).await;
    assert_eq!(served.status, StatusCode::OK);
    // Redrawn from its pixels: the same 1×1 image with transparency, as a new PNG.
    let redrawn = image::load_from_memory_with_format(&served.body, image::ImageFormat::Png).unwrap();
    assert_eq!((redrawn.width(), redrawn.height(), redrawn.color().has_alpha()), (1, 1, true));
    assert!(served.header("cache-control").unwrap().contains("max-age=31536000"));
    assert_eq!(send(app.get_as("/api/v1/users/me", &s)).await.json()["data"]["image"], first.as_str());

    let r = send(app.post_as("/api/v1/users/me/avatar", &s).multipart(avatar_form(WEBP, "me.webp"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let second = r.json()["data"]["imageUrl"].as_str().unwrap().to_string();
    assert!(second.ends_with(".jpg") || second.ends_with(".png"), "redrawn, never kept as sent: {second}");
    assert_eq!(send(app.get(&first)).await.status, StatusCode::NOT_FOUND, "the old file is deleted");

    let r = send(
        app.post_as("/api/v1/users/me/avatar", &s).multipart(avatar_form(b"just some text, not an image", "fake.png")),
    )
    .await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    assert_eq!(
        send(app.get_as("/api/v1/users/me", &s)).await.json()["data"]["image"],
        second.as_str(),
        "nothing changed"
    );
}

#[tokio::test]
async fn uploads_are_rate_limited_per_ip() {
    let app = TestApp::with(|s| s.upload_rate_limit_max = 2, |r| r).await;
    let s = app.user("many@shop.test").await;
    for _ in 0..2 {
        assert_eq!(
            send(app.post_as("/api/v1/users/me/avatar", &s).multipart(avatar_form(PNG, "a.png"))).await.status,
            StatusCode::OK
        );
    }
    let r = send(app.post_as("/api/v1/users/me/avatar", &s).multipart(avatar_form(PNG, "a.png"))).await;
    assert_error(&r, 429, "UPLOAD_RATE_LIMIT_EXCEEDED");
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn a_streamed_upload_over_the_limit_is_413() {
    let app = TestApp::with(|s| s.max_file_size = 1000, |r| r).await;
    let s = app.user("big@shop.test").await;
    // No Content-Length: the limit (10 files of 1000 bytes plus 1 MiB) applies while reading.
    let boundary = "XyZ";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n").into_bytes();
    body.extend(std::iter::repeat_n(b'x', 1_100_000));
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let r = send(
        app.post_as("/api/v1/users/me/avatar", &s)
            .content_type(format!("multipart/form-data; boundary={boundary}"))
            .header("Transfer-Encoding", "chunked")
            .body(poem::Body::from_bytes_stream(futures_util::stream::iter(chunks))),
    )
    .await;
    assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
    // Within the limit but over max_file_size: refused per file.
    let r =
        send(app.post_as("/api/v1/users/me/avatar", &s).multipart(avatar_form(&[PNG, &[0u8; 2000]].concat(), "a.png")))
            .await;
    assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn admins_list_search_and_get_users_others_get_403() {
    let app = TestApp::new().await;
    let user = app.user("zed@shop.test").await;
    app.user("amy@shop.test").await;
    let admin = app.admin().await;
    assert_error(&send(app.get_as("/api/v1/users", &user)).await, 403, "FORBIDDEN");
    assert_error(&send(app.get("/api/v1/users")).await, 401, "UNAUTHORIZED");
    let r = send(app.get_as("/api/v1/users", &admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let page = &r.json()["data"];
    assert_eq!((page["total"].as_u64(), page["skip"].as_u64(), page["limit"].as_u64()), (Some(3), Some(0), Some(10)));
    assert_eq!(page["users"][0]["email"], "admin@shop.test", "newest first");
    let r = send(app.get_as("/api/v1/users?search=AMY&limit=500", &admin)).await;
    assert_eq!(r.json()["data"]["total"], 1);
    assert_eq!(r.json()["data"]["limit"], 100, "clamped");
    assert_eq!(r.json()["data"]["users"][0]["email"], "amy@shop.test");
    assert_error(&send(app.get_as("/api/v1/users?skip=-1", &admin)).await, 400, "VALIDATION_ERROR");
    assert_error(&send(app.get_as("/api/v1/users?limit=ten", &admin)).await, 400, "VALIDATION_ERROR");

    let r = send(app.get_as(&format!("/api/v1/users/{}", user.id), &admin)).await;
    assert_eq!(r.json()["data"]["email"], "zed@shop.test");
    assert_error(&send(app.get_as("/api/v1/users/9999", &admin)).await, 404, "USER_NOT_FOUND");
    assert_error(&send(app.get_as("/api/v1/users/abc", &admin)).await, 400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn admins_change_role_and_status_and_it_applies_at_once() {
    let app = TestApp::new().await;
    let user = app.user("promo@shop.test").await;
    let admin = app.admin().await;
    let path = format!("/api/v1/users/{}", user.id);
    let r =
        send(app.client.patch(&path).header("Authorization", user.bearer()).body_json(&json!({"role": "ADMIN"}))).await;
    assert_error(&r, 403, "FORBIDDEN");
    let r =
        send(app.client.patch(&path).header("Authorization", admin.bearer()).body_json(&json!({"role": "ROOT"}))).await;
    assert_error(&r, 400, "VALIDATION_ERROR");

    let r = send(app.client.patch(&path).header("Authorization", admin.bearer()).body_json(&json!({"role": "ADMIN"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["data"]["role"], "ADMIN");
    assert_error(&send(app.get_as("/api/v1/auth/validate", &user)).await, 401, "TOKEN_REVOKED");
    let promoted = app.session("promo@shop.test", PASSWORD).await;
    assert_eq!(send(app.get_as("/api/v1/users", &promoted)).await.status, StatusCode::OK);

    let r =
        send(app.client.patch(&path).header("Authorization", admin.bearer()).body_json(&json!({"isActive": false})))
            .await;
    assert_eq!(r.json()["data"]["isActive"], false);
    assert_error(&send(app.get_as("/api/v1/users/me", &promoted)).await, 401, "TOKEN_REVOKED");
    assert_error(&app.login("promo@shop.test", PASSWORD).await, 423, "ACCOUNT_LOCKED");

    let me = format!("/api/v1/users/{}", admin.id);
    let r =
        send(app.client.patch(&me).header("Authorization", admin.bearer()).body_json(&json!({"role": "USER"}))).await;
    assert_error(&r, 403, "FORBIDDEN");

    let r = send(app.get_as(&format!("/api/v1/admin/audit-logs?action=ROLE_CHANGE&userId={}", admin.id), &admin)).await;
    let logs = &r.json()["data"]["logs"];
    assert_eq!(logs.as_array().unwrap().len(), 1, "{logs}");
    assert_eq!(logs[0]["entity"], "User");
    assert_eq!(logs[0]["entityId"], user.id.to_string());
    assert_eq!((logs[0]["oldValue"].as_str(), logs[0]["newValue"].as_str()), (Some("USER"), Some("ADMIN")));
}

#[tokio::test]
async fn the_audit_log_records_sign_ins_with_ip_and_agent_and_filters() {
    let app = TestApp::new().await;
    let s = app.user("aud@shop.test").await;
    assert_eq!(app.login("aud@shop.test", "Wrong1234").await.status, StatusCode::BAD_REQUEST);
    send(app.post_as("/api/v1/auth/logout", &s).header("User-Agent", "test-agent/1.0")).await;
    let admin = app.admin().await;
    assert_error(&send(app.get_as("/api/v1/admin/audit-logs", &s)).await, 401, "TOKEN_REVOKED");
    let user2 = app.user("aud2@shop.test").await;
    assert_error(&send(app.get_as("/api/v1/admin/audit-logs", &user2)).await, 403, "FORBIDDEN");

    let all = send(app.get_as(&format!("/api/v1/admin/audit-logs?userId={}&limit=50", s.id), &admin)).await.json();
    let actions: Vec<&str> =
        all["data"]["logs"].as_array().unwrap().iter().map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["LOGOUT", "LOGIN_FAILED", "LOGIN", "REGISTER"], "newest first");
    let logout = &all["data"]["logs"][0];
    assert_eq!(logout["userAgent"], "test-agent/1.0");
    assert!(logout["ipAddress"].is_string());
    assert!(logout["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(all["data"]["logs"][1]["metadata"]["email"], "aud@shop.test");

    let failed = send(app.get_as("/api/v1/admin/audit-logs?action=LOGIN_FAILED", &admin)).await.json();
    assert_eq!(failed["data"]["total"], 1);
    let users = send(app.get_as("/api/v1/admin/audit-logs?entity=User&skip=1&limit=2", &admin)).await.json();
    assert_eq!(users["data"]["logs"].as_array().unwrap().len(), 2);
    assert_eq!(users["data"]["skip"], 1);
    assert!(users["data"]["total"].as_u64().unwrap() >= 6);
    assert!(!all.to_string().contains("$argon2"), "no hashes in the log");
}
