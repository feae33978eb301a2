//! `TestApp`: the whole application with every middleware over a store in a temporary dir,
//! driven in-process; plus a raw HTTP client for tests that use a real socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderMap, StatusCode};
use poem::test::{TestClient, TestRequestBuilder};
use poem::{EndpointExt, Response, Route};
use serde_json::Value;
use shopd::config::{LogFormat, Settings};
use shopd::startup::App;
use shopd::state::AppState;
use tempfile::TempDir;

pub struct TestApp {
    pub state: AppState,
    pub client: TestClient<BoxEndpoint<'static, Response>>,
    /// Kept so the data dir lives as long as the app.
    _dir: TempDir,
}

/// Settings for a test: a fresh data dir, logs only with `TEST_LOG=1`.
pub fn test_settings(dir: &TempDir) -> Settings {
    let mut s = Settings {
        data_dir: dir.path().to_path_buf(),
        host: "127.0.0.1".into(),
        port: 0,
        // Cheap hashes: the tests check behaviour, the benchmark checks cost.
        password_hash_memory_kib: 256,
        password_hash_iterations: 1,
        // Catalog tests ask for the demo catalog; the others start from an empty shop.
        seed_demo: false,
        // Retries in milliseconds, not seconds: a test waits for a retried job.
        job_retry_base_ms: 20,
        ..Settings::default()
    };
    if std::env::var("TEST_LOG").is_ok() {
        s.log_level = "debug".into();
        s.log_format = LogFormat::Pretty;
        std::mem::forget(shopd::telemetry::init(&s));
    }
    s
}

/// Production settings that start: a strong secret and a payment provider that is allowed there.
pub fn production(s: &mut Settings) {
    s.app_env = shopd::config::AppEnv::Production;
    s.jwt_secret = Some(shopd::config::Secret::new("k3J9vQ2xLp7Zr4Tn8Wc1Ys6Hb5Gd0FmA"));
    s.payment_provider = Some(shopd::config::PaymentProvider::Manual);
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with(|_| {}, |r| r).await
    }

    /// An app with adjusted settings and extra routes (tests add probes the real app lacks).
    pub async fn with(adjust: impl FnOnce(&mut Settings), extra: impl FnOnce(Route) -> Route) -> TestApp {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut settings = test_settings(&dir);
        adjust(&mut settings);
        let app = App::build(settings).await.expect("the app builds");
        let endpoint = app.endpoint(extra(app.routes())).boxed();
        TestApp { state: app.state, client: TestClient::new(endpoint), _dir: dir }
    }

    pub fn get(&self, path: &str) -> TestRequestBuilder<'_, BoxEndpoint<'static, Response>> {
        self.client.get(path)
    }

    pub fn post(&self, path: &str) -> TestRequestBuilder<'_, BoxEndpoint<'static, Response>> {
        self.client.post(path)
    }
}

/// A response read to the end.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub async fn of(resp: poem::test::TestResponse) -> Reply {
        let resp = resp.0;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().into_vec().await.expect("a body");
        Reply { status, headers, body }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("a text header"))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub async fn send(req: TestRequestBuilder<'_, BoxEndpoint<'static, Response>>) -> Reply {
    Reply::of(req.send().await).await
}

/// Asserts the error envelope: status, code, and that meta carries the response's request id.
pub fn assert_error(reply: &Reply, status: u16, code: &str) -> Value {
    let body = reply.json();
    assert_eq!(reply.status.as_u16(), status, "status of {body}");
    assert_eq!(body["status"], status, "envelope status of {body}");
    assert_eq!(body["code"], code, "code of {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "a message in {body}");
    assert_eq!(body["meta"]["requestId"].as_str(), reply.header("x-request-id"), "request id of {body}");
    assert!(body.get("data").is_none(), "no data in an error: {body}");
    body
}

/// A minimal HTTP/1.1 request over a real socket; returns (status, headers+body text).
/// Status 0 when the connection fails (the server is gone).
pub fn raw_request(addr: SocketAddr, request: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(addr) else { return (0, String::new()) };
    stream.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut out = String::new();
    if stream.read_to_string(&mut out).is_err() {
        return (0, out);
    }
    let status = out.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, out)
}

pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    raw_request(addr, &format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"))
}

pub const PASSWORD: &str = "Secret123";

/// A signed-in user of a test app.
#[derive(Clone)]
pub struct Session {
    pub id: u64,
    pub email: String,
    pub token: String,
    /// The refresh token from the sign-in cookie.
    pub refresh: String,
}

impl Session {
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }
}

/// The value of the `refreshToken` cookie a response sets ("" when it clears it).
pub fn refresh_cookie(reply: &Reply) -> Option<String> {
    let cookie = reply.header("set-cookie")?;
    let value = cookie.strip_prefix("refreshToken=")?;
    Some(value.split(';').next().unwrap_or_default().to_string())
}

impl TestApp {
    pub async fn register(&self, email: &str) -> Reply {
        let body = serde_json::json!({"email": email, "password": PASSWORD, "firstName": "Ann", "lastName": "Smith"});
        send(self.post("/api/v1/auth/register").body_json(&body)).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        send(self.post("/api/v1/auth/login").body_json(&serde_json::json!({"email": email, "password": password})))
            .await
    }

    /// Registers `email` and signs in.
    pub async fn user(&self, email: &str) -> Session {
        let r = self.register(email).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        self.session(email, PASSWORD).await
    }

    pub async fn session(&self, email: &str, password: &str) -> Session {
        let r = self.login(email, password).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let body = r.json();
        Session {
            id: body["data"]["user"]["id"].as_u64().unwrap(),
            email: email.to_string(),
            token: body["data"]["token"].as_str().unwrap().to_string(),
            refresh: refresh_cookie(&r).expect("a refresh cookie"),
        }
    }

    /// An admin account, signed in.
    pub async fn admin(&self) -> Session {
        let email = "admin@shop.test";
        shopd::users::admin::ensure_admin(&self.state.store, &self.state.auth.passwords, email, PASSWORD)
            .await
            .unwrap();
        self.session(email, PASSWORD).await
    }

    pub fn get_as(&self, path: &str, s: &Session) -> TestRequestBuilder<'_, BoxEndpoint<'static, Response>> {
        self.client.get(path).header("Authorization", s.bearer())
    }

    pub fn post_as(&self, path: &str, s: &Session) -> TestRequestBuilder<'_, BoxEndpoint<'static, Response>> {
        self.client.post(path).header("Authorization", s.bearer())
    }

    /// The mails once there are at least `n` (mail queued by background work takes a moment).
    pub async fn wait_for_mails(&self, n: usize) -> Vec<String> {
        for _ in 0..500 {
            let mails = self.mails().await;
            if mails.len() >= n {
                return mails;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.mails().await
    }

    /// Every mail delivered so far (outbox files, oldest first), once no job is due.
    pub async fn mails(&self) -> Vec<String> {
        self.state.jobs.idle(std::time::Duration::ZERO).await;
        let dir = self.state.mailer.outbox();
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut names: Vec<_> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".eml"))
            .map(|e| e.path())
            .collect();
        names.sort();
        names.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
    }
}

/// A mail's text with quoted-printable soft line breaks and `=3D` undone.
pub fn unfold(mail: &str) -> String {
    mail.replace("=\r\n", "").replace("=3D", "=")
}

/// The token of the first `<path>?token=` link in a mail (quoted-printable soft breaks removed).
pub fn link_token(mail: &str, path: &str) -> String {
    let plain = unfold(mail);
    let start =
        plain.find(&format!("/{path}?token=")).unwrap_or_else(|| panic!("a {path} link in {plain}")) + path.len() + 8;
    plain[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

/// The shipping address the tests order to.
pub fn shipping_address() -> Value {
    serde_json::json!({"firstName": "Ann", "lastName": "Smith", "address": "1 Main St", "city": "Oslo", "state": "Oslo", "zipCode": "0150", "country": "NO"})
}

impl TestApp {
    /// An app with the demo catalog (201 products) and its two accounts.
    pub async fn demo() -> TestApp {
        TestApp::with(|s| s.seed_demo = true, |r| r).await
    }

    /// The demo catalog's admin, signed in.
    pub async fn demo_admin(&self) -> Session {
        self.session(shopd::seed::DEMO_ADMIN.0, shopd::seed::DEMO_ADMIN.1).await
    }

    /// `POST /api/v1/orders` of `lines` (product id, quantity) to [`shipping_address`].
    pub async fn place_order(&self, s: &Session, lines: &[(u64, u32)]) -> Reply {
        let products: Vec<Value> = lines.iter().map(|(id, q)| serde_json::json!({"id": id, "quantity": q})).collect();
        let body = serde_json::json!({"products": products, "shippingAddress": shipping_address()});
        send(self.post_as("/api/v1/orders", s).body_json(&body)).await
    }

    /// [`TestApp::place_order`] that must succeed: the order's `data`.
    pub async fn placed(&self, s: &Session, lines: &[(u64, u32)]) -> Value {
        let r = self.place_order(s, lines).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["data"].clone()
    }
}

/// An SMTP server that answers `451` to the first `refuse` transactions (`usize::MAX`: all of
/// them, until changed) and keeps the DATA of those it accepts.
pub struct SmtpSink {
    pub port: u16,
    pub refuse: Arc<AtomicUsize>,
    pub accepted: Arc<parking_lot::Mutex<Vec<String>>>,
}

pub async fn smtp_sink(refuse: usize) -> SmtpSink {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let refuse = Arc::new(AtomicUsize::new(refuse));
    let accepted: Arc<parking_lot::Mutex<Vec<String>>> = Arc::default();
    let (left, kept) = (refuse.clone(), accepted.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (left, kept) = (left.clone(), kept.clone());
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let (mut data, mut in_data) = (String::new(), false);
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            kept.lock().push(std::mem::take(&mut data));
                            let _ = write.write_all(b"250 queued\r\n").await;
                        } else {
                            data.push_str(&line);
                            data.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "MAIL" => {
                            let refused = left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
                                0 => None,
                                usize::MAX => Some(usize::MAX),
                                n => Some(n - 1),
                            });
                            if refused.is_ok() { b"451 4.3.0 try again later\r\n" } else { b"250 ok\r\n" }
                        }
                        "DATA" => {
                            in_data = true;
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    if write.write_all(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    SmtpSink { port, refuse, accepted }
}

/// Runs `scripts/<script>` with the Python of `target/<venv>` (a pinned reference library that
/// `.ci/run` installs), `input` on its stdin, and returns its stdout; it must succeed. None on
/// a machine without that venv, unless `require` (an environment variable CI sets) is set.
pub fn reference_python(venv: &str, require: &str, script: &str, args: &[&str], input: &str) -> Option<Vec<u8>> {
    use std::io::Write;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("target").join(venv).join("bin/python");
    if !python.exists() {
        assert!(std::env::var_os(require).is_none(), "{require} is set but target/{venv} is missing");
        eprintln!("reference check skipped: no target/{venv} (.ci/run installs it)");
        return None;
    }
    let mut child = std::process::Command::new(python)
        .arg(root.join("scripts").join(script))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{script} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Some(out.stdout)
}
