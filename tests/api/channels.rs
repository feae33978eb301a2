//! The other notification channels: SMS through a local mock of Twilio's message API.

use std::sync::Arc;

use parking_lot::Mutex;
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{EndpointExt, Request, Route, Server, handler, post, web::Data};
use serde_json::json;

use crate::checkout::set_status;
use crate::helpers::{Session, TestApp, assert_error, send};

/// A message as the mock received it: the account in the path, the basic-auth header, the form.
type Message = (String, String, Vec<(String, String)>);

#[derive(Clone, Default)]
struct Twilio {
    got: Arc<Mutex<Vec<Message>>>,
}

#[handler]
async fn messages(req: &Request, body: String, twilio: Data<&Twilio>) -> (StatusCode, String) {
    let account = req.uri().path().split('/').nth(3).unwrap_or_default().to_string();
    let auth = req.header("authorization").unwrap_or_default().to_string();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    twilio.got.lock().push((account, auth, form));
    (StatusCode::CREATED, json!({"sid": "SM1", "status": "queued"}).to_string())
}

async fn twilio() -> (Twilio, String) {
    let t = Twilio::default();
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
    let app = Route::new().at("/2010-04-01/Accounts/:sid/Messages.json", post(messages)).data(t.clone());
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    (t, format!("http://127.0.0.1:{port}"))
}

fn texts_to(t: &Twilio, to: &str) -> Vec<String> {
    let got = t.got.lock();
    got.iter()
        .filter(|(_, _, f)| f.iter().any(|(k, v)| k == "To" && v == to))
        .filter_map(|(_, _, f)| f.iter().find(|(k, _)| k == "Body").map(|(_, v)| v.clone()))
        .collect()
}

async fn verified(app: &TestApp, s: &Session, t: &Twilio, phone: &str) {
    let r = send(app.post_as("/api/v1/users/me/phone/verify", s).body_json(&json!({"phone": phone}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    app.mails().await;
    let text = texts_to(t, &phone.replace(' ', "")).pop().expect("the code was texted");
    let code: String = text.chars().filter(char::is_ascii_digit).take(6).collect();
    assert_error(
        &send(app.post_as("/api/v1/users/me/phone/confirm", s).body_json(&json!({"code": "000000"}))).await,
        400,
        "INVALID_PHONE_CODE",
    );
    let r = send(app.post_as("/api/v1/users/me/phone/confirm", s).body_json(&json!({"code": code}))).await;
    assert_eq!((r.status, &r.json()["data"]["phoneVerified"]), (StatusCode::OK, &json!(true)), "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_updates_are_texted_to_a_verified_phone_of_a_customer_who_chose_sms_only() {
    let (t, url) = twilio().await;
    let app = TestApp::with(
        |s| {
            s.seed_demo = true;
            s.sms_api_url = Some(url.clone());
            s.sms_account_sid = Some("AC123".into());
            s.sms_auth_token = Some(shopd::config::Secret::new("tok"));
            s.sms_from = Some("+15005550006".into());
        },
        |r| r,
    )
    .await;
    let admin = app.demo_admin().await;
    let (yes, no) = (app.user("sms-yes@shop.test").await, app.user("sms-no@shop.test").await);
    verified(&app, &yes, &t, "+49 151 1234 5678").await;
    verified(&app, &no, &t, "+4915199999999").await;
    let me = send(app.get_as("/api/v1/users/me", &yes)).await.json()["data"].clone();
    assert_eq!((&me["phone"], &me["phoneVerified"]), (&json!("+4915112345678"), &json!(true)));
    let r = send(
        app.client
            .put("/api/v1/users/me/preferences")
            .header("Authorization", yes.bearer())
            .body_json(&json!({"smsNotifications": true})),
    )
    .await;
    assert_eq!((r.status, &r.json()["data"]["smsNotifications"]), (StatusCode::OK, &json!(true)), "{}", r.text());
    let before = t.got.lock().len();

    let (mine, theirs) = (app.placed(&yes, &[(1, 1)]).await, app.placed(&no, &[(1, 1)]).await);
    for o in [&mine, &theirs] {
        let id = o["id"].as_str().unwrap();
        for next in ["PROCESSING", "SHIPPED"] {
            assert_eq!(set_status(&app, &admin, id, json!({"status": next})).await.status, StatusCode::OK);
        }
    }
    app.mails().await;
    let texts = texts_to(&t, "+4915112345678");
    let number = mine["number"].as_u64().unwrap();
    assert!(texts.iter().any(|b| b.contains(&format!("#{number}")) && b.contains("placed")), "{texts:?}");
    assert!(texts.iter().any(|b| b.contains(&format!("#{number}")) && b.contains("on its way")), "{texts:?}");
    assert_eq!(texts_to(&t, "+4915199999999").len(), 1, "only the code went to the one who did not opt in");
    let got = t.got.lock();
    assert!(got[before..].iter().all(|(acct, auth, f)| acct == "AC123"
        && auth.starts_with("Basic ")
        && f.contains(&("From".to_string(), "+15005550006".to_string()))));
}

#[tokio::test]
async fn phone_codes_are_limited_per_account_and_per_number() {
    let (t, url) = twilio().await;
    let app = TestApp::with(
        |s| {
            s.sms_api_url = Some(url.clone());
            s.sms_account_sid = Some("AC1".into());
            s.sms_auth_token = Some(shopd::config::Secret::new("tok"));
            s.sms_from = Some("+15005550006".into());
        },
        |r| r,
    )
    .await;
    let s = app.user("codes@shop.test").await;
    let ask = |phone: &str| send(app.post_as("/api/v1/users/me/phone/verify", &s).body_json(&json!({"phone": phone})));
    assert!(assert_error(&ask("12345").await, 400, "VALIDATION_ERROR")["details"]["phone"].is_array());
    for _ in 0..shopd::notifications::sms::CODES_PER_HOUR {
        assert_eq!(ask("+4915100000001").await.status, StatusCode::OK);
    }
    assert_error(&ask("+4915100000002").await, 429, "RATE_LIMIT_EXCEEDED");
    // Another account cannot make a number someone else asked for receive more.
    let other = app.user("codes2@shop.test").await;
    let r =
        send(app.post_as("/api/v1/users/me/phone/verify", &other).body_json(&json!({"phone": "+4915100000001"}))).await;
    assert_error(&r, 429, "RATE_LIMIT_EXCEEDED");
    app.mails().await;
    assert_eq!(texts_to(&t, "+4915100000001").len(), 3);

    let off = TestApp::new().await;
    let s = off.user("nosms@shop.test").await;
    let r = send(off.post_as("/api/v1/users/me/phone/verify", &s).body_json(&json!({"phone": "+4915100000003"}))).await;
    assert_error(&r, 403, "SMS_DISABLED");
}

/// A push as the service received it: the path, the Authorization and TTL headers, the body.
type Push = (String, String, String, Vec<u8>);

#[derive(Clone, Default)]
struct PushService {
    got: Arc<Mutex<Vec<Push>>>,
}

#[handler]
async fn pushed(req: &Request, body: Vec<u8>, svc: Data<&PushService>) -> StatusCode {
    let h = |n: &str| req.header(n).unwrap_or_default().to_string();
    svc.got.lock().push((req.uri().path().to_string(), h("authorization"), h("ttl"), body));
    StatusCode::CREATED
}

/// The browser's side, played by scripts/push-receiver.py in target/push-venv (http_ece and
/// cryptography); None on a machine without it, unless REQUIRE_PUSH_LIB is set.
fn browser(args: &[&str], input: Option<serde_json::Value>) -> Option<Vec<u8>> {
    let input = input.map(|v| v.to_string()).unwrap_or_default();
    crate::helpers::reference_python("push-venv", "REQUIRE_PUSH_LIB", "push-receiver.py", args, &input)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_updates_are_pushed_encrypted_for_the_subscription_and_vapid_signed() {
    use base64::Engine;
    let svc = PushService::default();
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
    tokio::spawn(Server::new_with_acceptor(acceptor).run(Route::new().at("/push/:id", post(pushed)).data(svc.clone())));
    let app = TestApp::with(
        |s| {
            s.seed_demo = true;
            s.webhooks_allow_private = true;
        },
        |r| r,
    )
    .await;
    let admin = app.demo_admin().await;
    let vapid = send(app.get("/api/v1/shop")).await.json()["data"]["vapidPublicKey"].as_str().unwrap().to_string();

    // The browser's keys: from the reference side when it is here, else a fixed valid pair
    // (pushes are then checked for arriving, not decrypted).
    let keys: serde_json::Value = match browser(&["keys"], None) {
        Some(out) => serde_json::from_slice(&out).unwrap(),
        None => {
            json!({"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", "auth": "BTBZMqHH6r4Tts7J_aSIgg"})
        }
    };
    let (yes, no) = (app.user("push-yes@shop.test").await, app.user("push-no@shop.test").await);
    let subscribe = |s: &Session, path: &str| {
        let body = json!({"endpoint": format!("http://127.0.0.1:{port}/push/{path}"), "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}});
        send(app.post_as("/api/v1/users/me/push-subscriptions", s).body_json(&body))
    };
    let r = subscribe(&yes, "yes").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(subscribe(&no, "no").await.status, StatusCode::CREATED);
    let bad = send(
        app.post_as("/api/v1/users/me/push-subscriptions", &yes)
            .body_json(&json!({"endpoint": "http://127.0.0.1/x", "keys": {"p256dh": "xx", "auth": "yy"}})),
    )
    .await;
    assert!(assert_error(&bad, 400, "VALIDATION_ERROR")["details"]["keys"].is_array());
    let r = send(
        app.client
            .put("/api/v1/users/me/preferences")
            .header("Authorization", yes.bearer())
            .body_json(&json!({"pushNotifications": true})),
    )
    .await;
    assert_eq!(r.json()["data"]["pushNotifications"], true);

    let mine = app.placed(&yes, &[(1, 1)]).await;
    app.placed(&no, &[(1, 1)]).await;
    let id = mine["id"].as_str().unwrap();
    for next in ["PROCESSING", "SHIPPED"] {
        assert_eq!(set_status(&app, &admin, id, json!({"status": next})).await.status, StatusCode::OK);
    }
    app.mails().await;
    let got = svc.got.lock().clone();
    assert!(got.iter().all(|(path, ..)| path == "/push/yes"), "nothing for the one who did not opt in: {got:?}");
    assert_eq!(got.len(), 2, "placed and shipped");
    for (_, authorization, ttl, body) in &got {
        assert!(
            authorization.starts_with("vapid t=") && authorization.contains(&format!("k={vapid}")),
            "{authorization}"
        );
        assert_eq!(ttl, "86400");
        let input = json!({
            "private": keys["private"], "auth": keys["auth"],
            "body_b64": base64::engine::general_purpose::STANDARD.encode(body),
            "authorization": authorization, "endpoint": format!("http://127.0.0.1:{port}/push/yes"),
            "vapid_public_key": vapid,
        });
        let Some(plain) = browser(&["decrypt"], Some(input)) else { continue };
        let message: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!((&message["orderId"], &message["number"]), (&mine["id"], &mine["number"]));
        assert!(message["body"].as_str().unwrap().contains(&format!("#{}", mine["number"])), "{message}");
    }

    // A private endpoint is refused where private addresses are (the default).
    let strict = TestApp::new().await;
    let s = strict.user("strict@shop.test").await;
    let body =
        json!({"endpoint": "http://169.254.169.254/push", "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}});
    let r = send(strict.post_as("/api/v1/users/me/push-subscriptions", &s).body_json(&body)).await;
    assert!(assert_error(&r, 400, "VALIDATION_ERROR")["details"]["endpoint"].is_array());
}
