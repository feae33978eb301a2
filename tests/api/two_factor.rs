//! Two-factor sign-in (API.md §6): enrol after the password, sign in with a code once per time
//! step or with a recovery code once, wrong codes locked per account from every address,
//! ADMIN_REQUIRE_2FA, and the reset for a lost device.

use poem::http::StatusCode;
use serde_json::{Value, json};
use totp_rs::{Algorithm, TOTP};

use crate::helpers::{PASSWORD, Session, TestApp, assert_error, send};

fn code_for(secret: &str, offset_steps: i64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_string()).to_bytes().unwrap();
    let t = TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes, None, "x".into()).unwrap();
    let now = chrono::Utc::now().timestamp() + offset_steps * 30;
    t.generate(now as u64)
}

async fn enrol(app: &TestApp, s: &Session) -> (String, Vec<String>, String) {
    let r = send(app.post_as("/api/v1/auth/2fa/setup", s).body_json(&json!({"password": "Wrong999"}))).await;
    assert_error(&r, 400, "INVALID_PASSWORD");
    let r = send(app.post_as("/api/v1/auth/2fa/setup", s).body_json(&json!({"password": PASSWORD}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let setup = r.json()["data"].clone();
    let secret = setup["secret"].as_str().unwrap().to_string();
    assert!(setup["otpauthUrl"].as_str().unwrap().starts_with("otpauth://totp/"), "{setup}");
    assert!(setup["qrSvg"].as_str().unwrap().contains("<svg"), "{setup}");
    let wrong = send(app.post_as("/api/v1/auth/2fa/enable", s).body_json(&json!({"code": "000000"}))).await;
    assert_error(&wrong, 400, "INVALID_TWO_FACTOR_CODE");
    let r = send(app.post_as("/api/v1/auth/2fa/enable", s).body_json(&json!({"code": code_for(&secret, 0)}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let codes: Vec<String> =
        r.json()["data"]["recoveryCodes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    assert_eq!(codes.len(), 10);
    (secret, codes, setup["otpauthUrl"].as_str().unwrap().to_string())
}

fn login(email: &str, extra: Value) -> Value {
    let mut body = json!({"email": email, "password": PASSWORD});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

#[tokio::test]
async fn sign_in_takes_a_code_once_or_a_recovery_code_once() {
    // Every refused code below also counts against the address's limit of failed requests.
    let app = TestApp::with(
        |s| {
            s.auth_rate_limit_max = 50;
            s.shop_name = Some("Lamp Co".into());
        },
        |r| r,
    )
    .await;
    let s = app.user("tfa@shop.test").await;
    let (secret, recovery, url) = enrol(&app, &s).await;
    assert!(url.starts_with("otpauth://totp/Lamp%20Co:tfa%40shop.test?") && url.contains("issuer=Lamp%20Co"), "{url}");
    let me = send(app.get_as("/api/v1/users/me", &s)).await.json();
    assert_eq!(me["data"]["twoFactorEnabled"], true);

    let post = |body: Value| app.post("/api/v1/auth/login").body_json(&body);
    assert_error(&send(post(login("tfa@shop.test", json!({})))).await, 401, "TWO_FACTOR_REQUIRED");
    // The code the enrolment used is spent: the next step's code signs in, once.
    assert_error(
        &send(post(login("tfa@shop.test", json!({"code": code_for(&secret, 0)})))).await,
        400,
        "INVALID_TWO_FACTOR_CODE",
    );
    let next = code_for(&secret, 1);
    let r = send(post(login("tfa@shop.test", json!({"code": next})))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json()["data"]["token"].is_string());
    assert_error(&send(post(login("tfa@shop.test", json!({"code": next})))).await, 400, "INVALID_TWO_FACTOR_CODE");

    let r = send(post(login("tfa@shop.test", json!({"recoveryCode": recovery[0].to_uppercase()})))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let again = send(post(login("tfa@shop.test", json!({"recoveryCode": recovery[0]})))).await;
    assert_error(&again, 400, "INVALID_TWO_FACTOR_CODE");

    let audit_admin = app.admin().await;
    let audit = send(app.get_as("/api/v1/admin/audit-logs?action=TWO_FACTOR_ENABLED", &audit_admin)).await.json();
    assert_eq!(audit["data"]["total"], 1, "{audit}");

    // Off again: password and a code.
    let bad = json!({"password": PASSWORD, "code": "123456"});
    assert_error(
        &send(app.post_as("/api/v1/auth/2fa/disable", &s).body_json(&bad)).await,
        400,
        "INVALID_TWO_FACTOR_CODE",
    );
    let off = json!({"password": PASSWORD, "recoveryCode": recovery[1]});
    let r = send(app.post_as("/api/v1/auth/2fa/disable", &s).body_json(&off)).await;
    assert_eq!(r.json()["data"]["twoFactorEnabled"], false, "{}", r.text());
    assert_eq!(send(post(login("tfa@shop.test", json!({})))).await.status, StatusCode::OK);
}

#[tokio::test]
async fn five_wrong_codes_lock_the_account_from_every_address() {
    let app = TestApp::with(|s| s.trust_proxy = shopd::config::ProxyTrust::Flag(true), |r| r).await;
    let s = app.user("locked2fa@shop.test").await;
    // The wrong code tried while enrolling counts too: 1 + 3 here, the fifth locks.
    let (secret, _, _) = enrol(&app, &s).await;
    for i in 0..3 {
        let r = send(
            app.post("/api/v1/auth/login")
                .header("X-Forwarded-For", format!("203.0.113.{i}"))
                .body_json(&login("locked2fa@shop.test", json!({"code": "000000"}))),
        )
        .await;
        assert_error(&r, 400, "INVALID_TWO_FACTOR_CODE");
    }
    let r = send(
        app.post("/api/v1/auth/login")
            .header("X-Forwarded-For", "198.51.100.9")
            .body_json(&login("locked2fa@shop.test", json!({"code": "000000"}))),
    )
    .await;
    assert_error(&r, 423, "ACCOUNT_LOCKED");
    // Even the right code waits now, from yet another address.
    let r = send(
        app.post("/api/v1/auth/login")
            .header("X-Forwarded-For", "192.0.2.77")
            .body_json(&login("locked2fa@shop.test", json!({"code": code_for(&secret, 1)}))),
    )
    .await;
    assert_error(&r, 423, "ACCOUNT_LOCKED");
}

#[tokio::test]
async fn admins_can_be_required_to_use_two_factor_and_reset() {
    let app = TestApp::with(|s| s.admin_require_2fa = true, |r| r).await;
    let admin = app.admin().await;
    let r = send(app.get_as("/api/v1/admin/jobs", &admin)).await;
    assert_error(&r, 403, "TWO_FACTOR_SETUP_REQUIRED");
    let (secret, _, _) = enrol(&app, &admin).await;
    assert_eq!(send(app.get_as("/api/v1/admin/jobs", &admin)).await.status, StatusCode::OK, "at once, same token");
    let _ = secret;
}

/// A lost device: `shopd admin reset-2fa` through the running server's socket.
#[test]
fn reset_2fa_turns_it_off_through_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let mut server = crate::binary::Running::start_args(
        &["--data-dir", data, "--host", "127.0.0.1", "--port", "0"],
        &[("SEED_DEMO", "false"), ("RATE_LIMIT_ENABLED", "false")],
    );
    let post = |path: &str, body: Value, token: Option<&str>| {
        let headers: Vec<(&str, String)> =
            token.map(|t| ("Authorization", format!("Bearer {t}"))).into_iter().collect();
        let (status, text) = crate::binary::post_json(server.addr, path, &body, &headers);
        let json: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap_or("{}")).unwrap_or_default();
        (status, json)
    };
    let email = "lost@shop.test";
    let body = json!({"email": email, "password": PASSWORD, "firstName": "Lo", "lastName": "St"});
    let (status, reg) = post("/api/v1/auth/register", body, None);
    assert_eq!(status, 201, "{reg}");
    let token = reg["data"]["token"].as_str().unwrap().to_string();
    let (_, setup) = post("/api/v1/auth/2fa/setup", json!({"password": PASSWORD}), Some(&token));
    let secret = setup["data"]["secret"].as_str().unwrap().to_string();
    let (status, _) = post("/api/v1/auth/2fa/enable", json!({"code": code_for(&secret, 0)}), Some(&token));
    assert_eq!(status, 200);
    let (status, _) = post("/api/v1/auth/login", json!({"email": email, "password": PASSWORD}), None);
    assert_eq!(status, 401);

    let out =
        crate::binary::shopd().args(["--data-dir", data, "admin", "reset-2fa", "--email", email]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, signed) = post("/api/v1/auth/login", json!({"email": email, "password": PASSWORD}), None);
    assert_eq!(status, 200, "{signed}");
    assert_eq!(signed["data"]["user"]["twoFactorEnabled"], false);
    let again =
        crate::binary::shopd().args(["--data-dir", data, "admin", "reset-2fa", "--email", email]).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "nothing left to reset");
    server.signal(libc::SIGTERM);
    assert!(server.wait(std::time::Duration::from_secs(35)).success());
}
