//! `TestApp`: the whole application with every middleware over a store in a temporary dir,
//! driven in-process; plus a raw HTTP client for tests that use a real socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
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
    let mut s =
        Settings { data_dir: dir.path().to_path_buf(), host: "127.0.0.1".into(), port: 0, ..Settings::default() };
    if std::env::var("TEST_LOG").is_ok() {
        s.log_level = "debug".into();
        s.log_format = LogFormat::Pretty;
        shopd::telemetry::init(&s);
    }
    s
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
pub fn raw_request(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
    stream.write_all(request.as_bytes()).expect("send");
    let mut out = String::new();
    stream.read_to_string(&mut out).expect("read");
    let status = out.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, out)
}

pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    raw_request(addr, &format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"))
}
