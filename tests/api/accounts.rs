//! /api/v1/auth: every row of the Auth table, its error codes, the guards, and mail.

use base64::Engine;
use poem::http::StatusCode;
use serde_json::{Value, json};
use shopd::auth::tokens::Claims;

use crate::helpers::{PASSWORD, TestApp, assert_error, link_token, refresh_cookie, send, unfold};

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn register_creates_a_user_returns_a_token_and_mails_a_verification_link() {
    let app = TestApp::new().await;
    let body = json!({"email": "Ann@Example.com", "password": PASSWORD, "firstName": "Ann", "lastName": "Smith",
                      "phone": "+47 555", "role": "ADMIN", "isActive": false});
    let r = send(app.post("/api/v1/auth/register").body_json(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let b = r.json();
    assert_eq!(b["message"], "User registered successfully");
    let user = &b["data"]["user"];
    assert_eq!(user["email"], "Ann@Example.com");
    assert_eq!(user["role"], "USER", "a client cannot register itself as admin");
    assert_eq!(user["isActive"], true);
    assert_eq!(user["emailVerified"], false);
    assert_eq!(user["phone"], "+47 555");
    assert!(user["gender"].is_null() && user["age"].is_null() && user["image"].is_null());
    let keys: Vec<&str> = user.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "id",
        "email",
        "firstName",
        "lastName",
        "phone",
        "gender",
        "age",
        "image",
        "role",
        "isActive",
        "emailVerified",
        "createdAt",
        "updatedAt",
    ] {
        assert!(keys.contains(&k), "{k} in {keys:?}");
    }
    assert!(!r.text().to_lowercase().contains("password"), "{}", r.text());

    let claims = claims_of(b["data"]["token"].as_str().unwrap());
    assert_eq!(claims["sub"], user["id"].as_u64().unwrap().to_string());
    assert_eq!(claims["email"], "Ann@Example.com");
    assert_eq!(claims["role"], "USER");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 15 * 60);
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());

    let mails = app.mails().await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("To: Ann@Example.com"), "{}", mails[0]);
    assert!(mails[0].contains("Subject: Confirm your email address"));
    assert!(mails[0].contains("Content-Type: text/html") && mails[0].contains("Content-Type: text/plain"));
    let token = link_token(&mails[0], "verify-email");
    assert!(unfold(&mails[0]).contains(&format!("http://localhost:5173/verify-email?token={token}")));

    let r = send(app.post("/api/v1/auth/verify-email").body_json(&json!({"token": token}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["message"], "Email verified successfully");
    let s = app.session("ann@example.com", PASSWORD).await;
    assert_eq!(send(app.get_as("/api/v1/users/me", &s)).await.json()["data"]["emailVerified"], true);
    let again = send(app.post("/api/v1/auth/verify-email").body_json(&json!({"token": token}))).await;
    assert_error(&again, 400, "INVALID_TOKEN");
    let bogus = send(app.post("/api/v1/auth/verify-email").body_json(&json!({"token": "nope"}))).await;
    assert_error(&bogus, 400, "INVALID_TOKEN");
}

#[tokio::test]
async fn register_names_each_bad_field_and_refuses_a_taken_email() {
    let app = TestApp::new().await;
    let body = json!({"email": "not-an-email", "password": "short", "firstName": "A", "lastName": &"x".repeat(51)});
    let r = send(app.post("/api/v1/auth/register").body_json(&body)).await;
    let err = assert_error(&r, 400, "VALIDATION_ERROR");
    let details = err["details"].as_object().unwrap();
    assert_eq!(details["email"], json!(["Invalid email format"]));
    assert!(details["password"].as_array().unwrap().len() >= 2, "{err}");
    assert!(details.contains_key("firstName") && details.contains_key("lastName"), "{err}");
    let missing = send(app.post("/api/v1/auth/register").body_json(&json!({"email": "a@b.co"}))).await;
    assert_error(&missing, 400, "VALIDATION_ERROR");

    assert_eq!(app.register("taken@shop.test").await.status, StatusCode::CREATED);
    let r = app.register("TAKEN@shop.test").await;
    assert_error(&r, 409, "EMAIL_EXISTS");
}

#[tokio::test]
async fn login_sets_a_strict_http_only_refresh_cookie_and_hides_which_part_was_wrong() {
    let app = TestApp::new().await;
    app.register("bob@shop.test").await;
    let r = app.login("BOB@shop.test", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let b = r.json();
    assert_eq!(b["message"], "Login successful");
    assert_eq!(b["data"]["user"]["email"], "bob@shop.test");
    let expires = chrono::DateTime::parse_from_rfc3339(b["data"]["expiresAt"].as_str().unwrap()).unwrap();
    let left = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!((890..=900).contains(&left), "{left}");
    let cookie = r.header("set-cookie").unwrap();
    for part in ["refreshToken=", "HttpOnly", "SameSite=Strict", "Max-Age=604800", "Path=/api/v1/auth"] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "not Secure outside production: {cookie}");
    assert!(!r.text().contains(&refresh_cookie(&r).unwrap()), "the refresh token is never in the body");

    let wrong = app.login("bob@shop.test", "Wrong1234").await;
    let unknown = app.login("nobody@shop.test", PASSWORD).await;
    let (a, b) = (assert_error(&wrong, 400, "INVALID_CREDENTIALS"), assert_error(&unknown, 400, "INVALID_CREDENTIALS"));
    assert_eq!(a["message"], b["message"], "no hint whether the account exists");
    let bad = send(app.post("/api/v1/auth/login").body_json(&json!({"email": "x", "password": ""}))).await;
    assert_error(&bad, 400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn in_production_the_cookie_is_secure() {
    let app = TestApp::with(crate::helpers::production, |r| r).await;
    app.register("sec@shop.test").await;
    let r = app.login("sec@shop.test", PASSWORD).await;
    assert!(r.header("set-cookie").unwrap().contains("; Secure"));
}

#[tokio::test]
async fn five_failures_lock_the_account_for_that_ip() {
    let app = TestApp::with(|s| s.auth_rate_limit_max = 100, |r| r).await;
    app.register("lock@shop.test").await;
    for _ in 0..4 {
        assert_error(&app.login("lock@shop.test", "Wrong1234").await, 400, "INVALID_CREDENTIALS");
    }
    let fifth = app.login("lock@shop.test", "Wrong1234").await;
    assert_error(&fifth, 423, "ACCOUNT_LOCKED");
    let retry: u64 = fifth.header("retry-after").unwrap().parse().unwrap();
    assert!((890..=900).contains(&retry), "{retry}");
    let right = app.login("lock@shop.test", PASSWORD).await;
    assert_error(&right, 423, "ACCOUNT_LOCKED");
    assert!(right.header("retry-after").is_some());
    // Another account from the same client is not affected.
    app.register("other@shop.test").await;
    assert_eq!(app.login("other@shop.test", PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn with_default_limits_a_locked_account_says_so_and_the_ip_limit_stops_the_rest() {
    let app = TestApp::new().await;
    app.register("lock2@shop.test").await;
    app.register("next@shop.test").await;
    for _ in 0..4 {
        assert_error(&app.login("lock2@shop.test", "Wrong1234").await, 400, "INVALID_CREDENTIALS");
    }
    assert_error(&app.login("lock2@shop.test", "Wrong1234").await, 423, "ACCOUNT_LOCKED");
    assert_error(&app.login("lock2@shop.test", PASSWORD).await, 423, "ACCOUNT_LOCKED");
    // Five failures from this IP: the per-IP limit now refuses other accounts too.
    assert_error(&app.login("next@shop.test", PASSWORD).await, 429, "AUTH_RATE_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn parallel_guesses_cannot_get_past_the_lockout() {
    let app = TestApp::with(|s| s.auth_rate_limit_max = 100, |r| r).await;
    app.register("race@shop.test").await;
    let attempts = (0..10).map(|_| app.login("race@shop.test", "Wrong1234"));
    let replies = futures_util::future::join_all(attempts).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 4, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 423).count(), 6, "only five passwords were tried: {statuses:?}");
}

#[tokio::test]
async fn the_auth_rate_limit_counts_failed_attempts_only() {
    let app = TestApp::with(|s| s.auth_rate_limit_max = 3, |r| r).await;
    app.register("ok@shop.test").await; // a success: not counted
    for _ in 0..5 {
        assert_eq!(app.login("ok@shop.test", PASSWORD).await.status, StatusCode::OK);
    }
    for i in 0..3 {
        assert_error(&app.login(&format!("x{i}@shop.test"), "Wrong1234").await, 400, "INVALID_CREDENTIALS");
    }
    let r = app.login("ok@shop.test", PASSWORD).await;
    assert_error(&r, 429, "AUTH_RATE_LIMIT_EXCEEDED");
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() > 0);
    let r = send(app.post("/api/v1/auth/forgot-password").body_json(&json!({"email": "ok@shop.test"}))).await;
    assert_error(&r, 429, "AUTH_RATE_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn validate_decides_every_401_in_one_place() {
    let app = TestApp::new().await;
    let s = app.user("val@shop.test").await;
    let r = send(app.get_as("/api/v1/auth/validate", &s)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["message"], "Token is valid");
    assert_eq!(
        r.json()["data"],
        json!({"isValid": true, "user": {"id": s.id, "email": "val@shop.test", "firstName": "Ann", "lastName": "Smith", "role": "USER"}})
    );

    assert_error(&send(app.get("/api/v1/auth/validate")).await, 401, "UNAUTHORIZED");
    let garbage = send(app.get("/api/v1/auth/validate").header("Authorization", "Bearer not.a.jwt")).await;
    assert_error(&garbage, 401, "INVALID_TOKEN");
    let mut tampered = s.token.clone();
    tampered.pop();
    tampered.push(if s.token.ends_with('A') { 'B' } else { 'A' });
    let r = send(app.get("/api/v1/auth/validate").header("Authorization", format!("Bearer {tampered}"))).await;
    assert_error(&r, 401, "INVALID_TOKEN");
    let now = chrono::Utc::now().timestamp();
    let expired = Claims {
        sub: s.id.to_string(),
        email: s.email.clone(),
        role: shopd::users::Role::User,
        iat: now - 1000,
        exp: now - 100,
        jti: uuid::Uuid::now_v7().to_string(),
    };
    let token = app.state.auth.jwt.sign(&expired);
    let r = send(app.get("/api/v1/auth/validate").header("Authorization", format!("Bearer {token}"))).await;
    assert_error(&r, 401, "TOKEN_EXPIRED");
    let forged =
        shopd::auth::tokens::Jwt::new(b"another secret entirely, 32+ bytes", std::time::Duration::from_secs(900));
    let alien = forged.sign(&Claims { exp: now + 100, ..expired });
    let r = send(app.get("/api/v1/auth/validate").header("Authorization", format!("Bearer {alien}"))).await;
    assert_error(&r, 401, "INVALID_TOKEN");
}

#[tokio::test]
async fn logout_revokes_the_access_and_refresh_tokens_and_clears_the_cookie() {
    let app = TestApp::new().await;
    let s = app.user("out@shop.test").await;
    let r = send(app.post_as("/api/v1/auth/logout", &s).header("Cookie", format!("refreshToken={}", s.refresh))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["message"], "Logged out successfully");
    assert!(r.json()["data"].is_null());
    assert_eq!(refresh_cookie(&r).as_deref(), Some(""));
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_error(&send(app.get_as("/api/v1/auth/validate", &s)).await, 401, "TOKEN_REVOKED");
    let r = send(app.post("/api/v1/auth/refresh").header("Cookie", format!("refreshToken={}", s.refresh))).await;
    assert_error(&r, 401, "INVALID_REFRESH_TOKEN");
    // A fresh sign-in is unaffected.
    let again = app.session("out@shop.test", PASSWORD).await;
    assert_eq!(send(app.get_as("/api/v1/auth/validate", &again)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn logout_also_revokes_a_refresh_token_sent_in_the_body() {
    let app = TestApp::new().await;
    let s = app.user("body@shop.test").await;
    let r = send(app.post_as("/api/v1/auth/logout", &s).body_json(&json!({"refreshToken": s.refresh}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = send(app.post("/api/v1/auth/refresh").body_json(&json!({"refreshToken": s.refresh}))).await;
    assert_error(&r, 401, "INVALID_REFRESH_TOKEN");
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_ends_every_session() {
    let app = TestApp::new().await;
    let s = app.user("rot@shop.test").await;
    let r = send(app.post("/api/v1/auth/refresh").header("Cookie", format!("refreshToken={}", s.refresh))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["message"], "Token refreshed successfully");
    let access = r.json()["data"]["token"].as_str().unwrap().to_string();
    assert!(r.json()["data"]["expiresAt"].is_string());
    let second = refresh_cookie(&r).unwrap();
    assert_ne!(second, s.refresh, "rotated");
    assert!(!r.text().contains(&second));

    // The body works as well as the cookie.
    let r = send(app.post("/api/v1/auth/refresh").body_json(&json!({"refreshToken": second}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let third = refresh_cookie(&r).unwrap();

    // The first token comes back: a copy is in someone else's hands.
    let r = send(app.post("/api/v1/auth/refresh").header("Cookie", format!("refreshToken={}", s.refresh))).await;
    assert_error(&r, 401, "INVALID_REFRESH_TOKEN");
    let r = send(app.post("/api/v1/auth/refresh").header("Cookie", format!("refreshToken={third}"))).await;
    assert_error(&r, 401, "INVALID_REFRESH_TOKEN");
    let r = send(app.get("/api/v1/auth/validate").header("Authorization", format!("Bearer {access}"))).await;
    assert_error(&r, 401, "TOKEN_REVOKED");
    assert_error(&send(app.get_as("/api/v1/auth/validate", &s)).await, 401, "TOKEN_REVOKED");

    assert_error(&send(app.post("/api/v1/auth/refresh")).await, 401, "INVALID_REFRESH_TOKEN");
    let r = send(app.post("/api/v1/auth/refresh").body_json(&json!({"refreshToken": "forged"}))).await;
    assert_error(&r, 401, "INVALID_REFRESH_TOKEN");
    // Signing in again works.
    app.session("rot@shop.test", PASSWORD).await;
}

#[tokio::test]
async fn password_reset_is_single_use_and_ends_every_session() {
    let app = TestApp::new().await;
    let s = app.user("reset@shop.test").await;
    let before = app.mails().await.len();
    let r = send(app.post("/api/v1/auth/forgot-password").body_json(&json!({"email": "nobody@shop.test"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    let unknown_message = r.json()["message"].clone();
    let r = send(app.post("/api/v1/auth/forgot-password").body_json(&json!({"email": "RESET@shop.test"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["message"], unknown_message, "the same answer either way");
    let mails = app.wait_for_mails(before + 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(app.mails().await.len(), before + 1, "one mail, for the real account only");
    assert!(mails.last().unwrap().contains("Subject: Reset your password"));
    let token = link_token(mails.last().unwrap(), "reset-password");
    let bad = send(app.post("/api/v1/auth/forgot-password").body_json(&json!({"email": "nope"}))).await;
    assert_error(&bad, 400, "VALIDATION_ERROR");

    let weak =
        send(app.post("/api/v1/auth/reset-password").body_json(&json!({"token": token, "newPassword": "weak"}))).await;
    assert_error(&weak, 400, "VALIDATION_ERROR");
    let r =
        send(app.post("/api/v1/auth/reset-password").body_json(&json!({"token": token, "newPassword": "Brand9New"})))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["message"], "Password reset successfully");
    assert_error(&send(app.get_as("/api/v1/auth/validate", &s)).await, 401, "TOKEN_REVOKED");
    let r = send(app.post("/api/v1/auth/refresh").header("Cookie", format!("refreshToken={}", s.refresh))).await;
    assert_error(&r, 401, "INVALID_REFRESH_TOKEN");
    assert_error(&app.login("reset@shop.test", PASSWORD).await, 400, "INVALID_CREDENTIALS");
    app.session("reset@shop.test", "Brand9New").await;

    let reuse =
        send(app.post("/api/v1/auth/reset-password").body_json(&json!({"token": token, "newPassword": "Other9New"})))
            .await;
    assert_error(&reuse, 400, "INVALID_TOKEN");
    let bogus =
        send(app.post("/api/v1/auth/reset-password").body_json(&json!({"token": "x", "newPassword": "Other9New"})))
            .await;
    assert_error(&bogus, 400, "INVALID_TOKEN");
}

#[tokio::test]
async fn an_expired_reset_token_is_refused() {
    use shopd::auth::tokens::{ONE_TIME_TOKENS, OneTimeToken, Purpose, token_hash};
    let app = TestApp::new().await;
    let s = app.user("late@shop.test").await;
    let id = s.id;
    app.state
        .store
        .write(move |w| {
            let t = OneTimeToken {
                hash: token_hash("stale"),
                user_id: id,
                purpose: Purpose::ResetPassword,
                expires_at: chrono::Utc::now() - chrono::Duration::minutes(1),
                used_at: None,
            };
            w.put(&ONE_TIME_TOKENS, t.hash.as_str(), &t)
        })
        .await
        .unwrap();
    let r =
        send(app.post("/api/v1/auth/reset-password").body_json(&json!({"token": "stale", "newPassword": "Brand9New"})))
            .await;
    assert_error(&r, 400, "INVALID_TOKEN");
}

#[tokio::test]
async fn change_password_needs_the_current_one() {
    let app = TestApp::new().await;
    let s = app.user("chg@shop.test").await;
    let r = send(
        app.post_as("/api/v1/auth/change-password", &s)
            .body_json(&json!({"currentPassword": "Wrong1234", "newPassword": "Next9Pass"})),
    )
    .await;
    assert_error(&r, 400, "INVALID_CURRENT_PASSWORD");
    let r = send(
        app.post_as("/api/v1/auth/change-password", &s)
            .body_json(&json!({"currentPassword": PASSWORD, "newPassword": "weak"})),
    )
    .await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    let r = send(
        app.post_as("/api/v1/auth/change-password", &s)
            .body_json(&json!({"currentPassword": PASSWORD, "newPassword": "Next9Pass"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["message"], "Password changed successfully");
    assert_error(&app.login("chg@shop.test", PASSWORD).await, 400, "INVALID_CREDENTIALS");
    app.session("chg@shop.test", "Next9Pass").await;
    let anonymous =
        send(app.post("/api/v1/auth/change-password").body_json(&json!({"currentPassword": "a", "newPassword": "b"})))
            .await;
    assert_error(&anonymous, 401, "UNAUTHORIZED");
}

#[tokio::test]
async fn resend_verification_replaces_the_link() {
    let app = TestApp::new().await;
    let s = app.user("again@shop.test").await;
    let first = link_token(&app.mails().await[0], "verify-email");
    let r = send(app.post_as("/api/v1/auth/resend-verification", &s)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["message"], "Verification email sent");
    let mails = app.mails().await;
    assert_eq!(mails.len(), 2);
    let second = link_token(&mails[1], "verify-email");
    assert_ne!(first, second);
    assert_error(
        &send(app.post("/api/v1/auth/verify-email").body_json(&json!({"token": first}))).await,
        400,
        "INVALID_TOKEN",
    );
    assert_eq!(
        send(app.post("/api/v1/auth/verify-email").body_json(&json!({"token": second}))).await.status,
        StatusCode::OK
    );
    let r = send(app.post_as("/api/v1/auth/resend-verification", &s)).await;
    assert_eq!(r.json()["message"], "The email address is already verified");
    assert_eq!(app.mails().await.len(), 2);
    assert_error(&send(app.post("/api/v1/auth/resend-verification")).await, 401, "UNAUTHORIZED");
}

#[tokio::test]
async fn the_configured_admin_exists_at_start() {
    let app = TestApp::with(
        |s| {
            s.admin_email = Some("boss@shop.test".into());
            s.admin_password = Some(shopd::config::Secret::new("Boss1234x"));
        },
        |r| r,
    )
    .await;
    let r = app.login("boss@shop.test", "Boss1234x").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["data"]["user"]["role"], "ADMIN");
}

#[tokio::test]
async fn with_smtp_configured_mail_goes_to_the_smtp_server() {
    let smtp = crate::helpers::smtp_sink(0).await;
    let port = smtp.port;
    let app = TestApp::with(
        move |s| {
            s.smtp_host = Some("127.0.0.1".into());
            s.smtp_port = port;
            s.smtp_tls = shopd::config::SmtpTls::None;
            s.from_email = "Shop <shop@shop.test>".into();
        },
        |r| r,
    )
    .await;
    app.register("smtp@shop.test").await;
    app.state.jobs.idle(std::time::Duration::ZERO).await;
    let data = smtp.accepted.lock().first().cloned().expect("the mail reached the SMTP server");
    assert!(data.contains("To: smtp@shop.test"), "{data}");
    assert!(data.contains("From: Shop <shop@shop.test>"), "{data}");
    assert!(data.contains("Subject: Confirm your email address"), "{data}");
    assert!(!link_token(&data.replace('\n', "\r\n"), "verify-email").is_empty());
    assert!(app.mails().await.is_empty(), "nothing in the outbox when SMTP works");
}

#[tokio::test]
async fn the_sweeper_removes_only_what_can_no_longer_be_used() {
    use shopd::auth::tokens::{ONE_TIME_TOKENS, OneTimeToken, Purpose, REFRESH_TOKENS, token_hash};
    let app = TestApp::new().await;
    let live = app.user("sweep@shop.test").await;
    let id = live.id;
    let past = chrono::Utc::now() - chrono::Duration::minutes(5);
    let (_, mut stale) = app.state.auth.new_refresh(id, None);
    stale.expires_at = past;
    let stale_hash = stale.hash.clone();
    app.state
        .store
        .write(move |w| {
            w.put(&REFRESH_TOKENS, stale.hash.as_str(), &stale)?;
            let t = OneTimeToken {
                hash: token_hash("old"),
                user_id: id,
                purpose: Purpose::VerifyEmail,
                expires_at: past,
                used_at: None,
            };
            w.put(&ONE_TIME_TOKENS, t.hash.as_str(), &t)
        })
        .await
        .unwrap();
    assert_eq!(shopd::auth::sweep(&app.state.store).await.unwrap(), 2);
    let r = app.state.store.read().unwrap();
    assert!(r.get(&REFRESH_TOKENS, stale_hash.as_str()).unwrap().is_none());
    assert!(
        r.get(&REFRESH_TOKENS, shopd::auth::tokens::token_hash(&live.refresh).as_str()).unwrap().is_some(),
        "a live token stays"
    );
    assert_eq!(r.count(&ONE_TIME_TOKENS).unwrap(), 1, "the live verification token stays");
}

/// Nobody can flood an inbox through us: three account mails an hour per email, ten asks an
/// hour per client address; the answer for an email past its share is the same as ever.
#[tokio::test]
async fn reset_and_verification_mails_are_limited_per_email_and_per_address() {
    let app = TestApp::new().await;
    let victim = app.user("victim@shop.test").await;
    let before = app.mails().await.len(); // the registration's verification mail
    let ask = |email: &'static str| send(app.post("/api/v1/auth/forgot-password").body_json(&json!({"email": email})));
    for _ in 0..5 {
        let r = ask("victim@shop.test").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert!(r.json()["message"].as_str().unwrap().starts_with("If an account exists"));
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let resets = app.mails().await.len() - before;
    assert_eq!(resets, shopd::auth::MAILS_PER_EMAIL as usize, "three reset mails, not five");
    // The verification mail has its own share of the same email: none left.
    let r = send(app.post_as("/api/v1/auth/resend-verification", &victim)).await;
    assert_error(&r, 429, "AUTH_RATE_LIMIT_EXCEEDED");
    // The address has asked 6 times; 4 more are let through, then 429.
    for i in 0..4 {
        assert_eq!(ask("other@shop.test").await.status, StatusCode::OK, "ask {i}");
    }
    let r = ask("third@shop.test").await;
    assert_error(&r, 429, "AUTH_RATE_LIMIT_EXCEEDED");
    assert!(r.header("retry-after").is_some());
}
