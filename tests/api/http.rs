//! The contract's HTTP conventions through the whole app: envelope, errors, headers, CORS,
//! compression, rate limits, operations endpoints.

use std::io::Read;

use poem::Route;
use poem::http::StatusCode;
use poem_openapi::{Object, OpenApi, OpenApiService};
use serde::Deserialize;
use serde_json::json;
use shopd::error::{ApiError, ApiResult};
use shopd::http::envelope::{Created, Reply as Envelope};
use shopd::http::json::JsonBody;

use crate::helpers::{TestApp, assert_error, send};

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Probe {
    name: String,
    shipping_address: Address,
    products: Vec<Line>,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
struct Address {
    zip_code: String,
}

#[derive(Debug, Object, Deserialize)]
struct Line {
    id: u64,
    quantity: u32,
}

/// Probes for conventions that no foundation endpoint exercises on its own.
struct ProbeApi;

#[OpenApi]
impl ProbeApi {
    #[oai(path = "/probe", method = "post")]
    async fn probe(&self, body: JsonBody<Probe>) -> Created<String> {
        Created::new(format!("{} x{}", body.0.name, body.0.products.len()))
    }

    #[oai(path = "/fail", method = "get")]
    async fn fail(&self) -> ApiResult<Envelope<String>> {
        Err(ApiError::internal("disk /var/secret/shopd.redb exploded"))
    }

    #[oai(path = "/panic", method = "get")]
    async fn panic(&self) -> Envelope<String> {
        panic!("boom at /var/secret/path")
    }

    #[oai(path = "/big", method = "get")]
    async fn big(&self) -> Envelope<Vec<String>> {
        Envelope::ok((0..400).map(|i| format!("product number {i} with a long title")).collect())
    }
}

fn with_probes(r: Route) -> Route {
    r.nest("/t", OpenApiService::new(ProbeApi, "probes", "1"))
}

async fn probe_app() -> TestApp {
    TestApp::with(|_| {}, with_probes).await
}

fn valid_probe() -> serde_json::Value {
    json!({"name": "n", "shippingAddress": {"zipCode": "0150"}, "products": [{"id": 1, "quantity": 2}]})
}

#[tokio::test]
async fn health_is_an_envelope_with_request_id_and_timestamp() {
    let app = TestApp::new().await;
    let r = send(app.get("/health")).await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    assert_eq!(body["status"], 200);
    assert_eq!(body["message"], "Success");
    assert_eq!(body["data"]["status"], "ok");
    assert_eq!(body["data"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["data"]["uptimeSeconds"].is_u64());
    let id = r.header("x-request-id").expect("a request id header");
    assert_eq!(body["meta"]["requestId"], id);
    assert!(uuid::Uuid::parse_str(id).is_ok(), "a new id is a UUID: {id}");
    let ts = body["meta"]["timestamp"].as_str().unwrap();
    assert_eq!(ts.len(), 24, "RFC 3339 UTC with milliseconds: {ts}");
    assert!(ts.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
}

#[tokio::test]
async fn a_sane_request_id_is_echoed_and_a_bad_one_replaced() {
    let app = TestApp::new().await;
    let r = send(app.get("/health").header("X-Request-ID", "abc.DEF_123-x")).await;
    assert_eq!(r.header("x-request-id"), Some("abc.DEF_123-x"));
    assert_eq!(r.json()["meta"]["requestId"], "abc.DEF_123-x");
    for bad in ["has space", "semi;colon", &"x".repeat(129)] {
        let r = send(app.get("/health").header("X-Request-ID", bad)).await;
        let id = r.header("x-request-id").unwrap();
        assert_ne!(id, bad);
        assert!(uuid::Uuid::parse_str(id).is_ok());
    }
}

#[tokio::test]
async fn unknown_route_and_wrong_method_are_enveloped() {
    let app = TestApp::new().await;
    let r = send(app.get("/api/v1/nope?x=1")).await;
    let body = assert_error(&r, 404, "ROUTE_NOT_FOUND");
    assert_eq!(body["message"], "Route /api/v1/nope not found");
    let r = send(app.client.delete("/health")).await;
    assert_error(&r, 405, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn malformed_json_is_invalid_json() {
    let app = probe_app().await;
    for broken in ["{\"name\": ", "{name: 1}", "[1,2", "{} trailing"] {
        let r = send(app.post("/t/probe").content_type("application/json").body(broken)).await;
        assert_error(&r, 400, "INVALID_JSON");
    }
    let r = send(app.post("/t/probe").content_type("application/json").body("")).await;
    assert_error(&r, 400, "INVALID_JSON");
}

#[tokio::test]
async fn a_bad_field_is_a_validation_error_naming_its_path() {
    let app = probe_app().await;
    let mut body = valid_probe();
    body["shippingAddress"] = json!({});
    let r = send(app.post("/t/probe").body_json(&body)).await;
    let err = assert_error(&r, 400, "VALIDATION_ERROR");
    let details = err["details"].as_object().expect("a field map");
    assert_eq!(details.keys().collect::<Vec<_>>(), ["shippingAddress.zipCode"], "{err}");
    assert!(details["shippingAddress.zipCode"][0].as_str().unwrap().contains("missing field"), "{err}");

    let mut body = valid_probe();
    body["products"] = json!([{"id": 1, "quantity": 1}, {"id": 2, "quantity": "two"}]);
    let err = assert_error(&send(app.post("/t/probe").body_json(&body)).await, 400, "VALIDATION_ERROR");
    assert!(err["details"]["products.1.quantity"].is_array(), "{err}");

    let mut body = valid_probe();
    body["products"][0]["quantity"] = json!(-1);
    let err = assert_error(&send(app.post("/t/probe").body_json(&body)).await, 400, "VALIDATION_ERROR");
    assert!(err["details"]["products.0.quantity"].is_array(), "{err}");

    let r = send(app.post("/t/probe").body_json(&valid_probe())).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["message"], "Created successfully");
    assert_eq!(r.json()["status"], 201);
    assert_eq!(r.json()["data"], "n x1");
}

#[tokio::test]
async fn a_wrong_or_missing_content_type_is_415() {
    let app = probe_app().await;
    let body = valid_probe().to_string();
    let r = send(app.post("/t/probe").content_type("text/plain").body(body.clone())).await;
    assert_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE");
    let r = send(app.post("/t/probe").body(body.clone())).await;
    assert_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE");
    let r = send(app.post("/t/probe").content_type("application/json; charset=utf-8").body(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "parameters on the JSON type are fine");
}

#[tokio::test]
async fn a_body_over_one_mib_is_413_whether_declared_or_streamed() {
    let app = probe_app().await;
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(1024 * 1024 + 10));
    let r = send(app.post("/t/probe").content_type("application/json").body(huge.clone())).await;
    assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
    // Without a Content-Length the limit is enforced while reading.
    let stream = futures_util::stream::iter(
        huge.into_bytes().chunks(64 * 1024).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>(),
    );
    let r =
        send(app.post("/t/probe").content_type("application/json").body(poem::Body::from_bytes_stream(stream))).await;
    assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn an_internal_error_or_panic_is_500_with_nothing_leaked() {
    let app = probe_app().await;
    for path in ["/t/fail", "/t/panic"] {
        let r = send(app.get(path)).await;
        let body = assert_error(&r, 500, "INTERNAL_ERROR");
        assert_eq!(body["message"], "Internal server error");
        assert!(!r.text().contains("secret"), "no internals in {}", r.text());
    }
    let r = send(app.get("/health")).await;
    assert_eq!(r.status, StatusCode::OK, "the server goes on after a panic");
}

#[tokio::test]
async fn security_headers_are_on_every_response_and_no_banner() {
    let app = TestApp::new().await;
    for r in [send(app.get("/health")).await, send(app.get("/api/v1/missing")).await] {
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("x-frame-options"), Some("SAMEORIGIN"));
        assert!(r.header("strict-transport-security").unwrap().starts_with("max-age="));
        assert!(r.header("content-security-policy").unwrap().contains("default-src 'self'"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(r.header("cross-origin-opener-policy"), Some("same-origin"));
        assert!(r.header("server").is_none() && r.header("x-powered-by").is_none());
    }
}

#[tokio::test]
async fn cors_allows_configured_origins_with_credentials_only() {
    let app = TestApp::with(|s| s.allowed_origins = "http://shop.example, http://localhost:5173".into(), |r| r).await;
    let r = send(app.get("/health").header("Origin", "http://shop.example")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("access-control-allow-origin"), Some("http://shop.example"));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(r.header("access-control-expose-headers").unwrap().contains("X-Request-ID"));

    let r = send(app.get("/health").header("Origin", "http://evil.example")).await;
    assert_eq!(r.status, StatusCode::OK, "a foreign origin is not an error");
    assert!(r.header("access-control-allow-origin").is_none());
    assert!(r.header("access-control-allow-credentials").is_none());

    let preflight = |origin: &'static str| {
        app.client
            .options("/api/v1/orders")
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type,idempotency-key")
    };
    let r = send(preflight("http://localhost:5173")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("access-control-allow-origin"), Some("http://localhost:5173"));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST, PUT, PATCH, DELETE, OPTIONS"));
    let allowed = r.header("access-control-allow-headers").unwrap();
    for h in [
        "Content-Type",
        "Authorization",
        "X-Request-ID",
        "X-Session-ID",
        "X-Client-Version",
        "Idempotency-Key",
        "X-Order-Token",
    ] {
        assert!(allowed.contains(h), "{h} in {allowed}");
    }
    let r = send(preflight("http://evil.example")).await;
    assert!(r.status.is_success());
    assert!(r.header("access-control-allow-origin").is_none() && r.header("access-control-allow-methods").is_none());
}

#[tokio::test]
async fn a_wildcard_origin_never_comes_with_credentials() {
    let app = TestApp::with(|s| s.allowed_origins = "*".into(), |r| r).await;
    let r = send(app.get("/health").header("Origin", "http://anywhere.example")).await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("access-control-allow-credentials").is_none());
}

#[tokio::test]
async fn large_bodies_are_compressed_when_accepted() {
    let app = probe_app().await;
    let plain = send(app.get("/t/big")).await;
    assert!(plain.header("content-encoding").is_none());
    assert!(plain.body.len() > 10_000);

    let gz = send(app.get("/t/big").header("Accept-Encoding", "gzip")).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert!(gz.header("vary").unwrap().to_ascii_lowercase().contains("accept-encoding"));
    assert!(gz.body.len() < plain.body.len() / 4, "{} vs {}", gz.body.len(), plain.body.len());
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(gz.body.as_slice()).read_to_string(&mut unzipped).unwrap();
    let value: serde_json::Value = serde_json::from_str(&unzipped).unwrap();
    assert_eq!(value["data"].as_array().unwrap().len(), 400);

    let br = send(app.get("/t/big").header("Accept-Encoding", "gzip, deflate, br")).await;
    assert_eq!(br.header("content-encoding"), Some("br"));

    let small = send(app.get("/health").header("Accept-Encoding", "gzip, br")).await;
    assert!(small.header("content-encoding").is_none(), "a small body is not worth compressing");
}

#[tokio::test]
async fn the_general_rate_limit_counts_api_requests_per_ip() {
    let app = TestApp::with(
        |s| {
            s.rate_limit_max_requests = Some(3);
            s.rate_limit_window_ms = 60_000;
        },
        |r| r,
    )
    .await;
    for remaining in ["2", "1", "0"] {
        let r = send(app.get("/api/v1/anything")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.header("ratelimit-limit"), Some("3"));
        assert_eq!(r.header("ratelimit-remaining"), Some(remaining));
        let reset: u64 = r.header("ratelimit-reset").unwrap().parse().unwrap();
        assert!((1..=60).contains(&reset));
    }
    let r = send(app.get("/api/v1/anything")).await;
    let body = assert_error(&r, 429, "RATE_LIMIT_EXCEEDED");
    assert!(body["message"].as_str().unwrap().contains("Too many requests"));
    let retry: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    // Operations endpoints are outside the API limit.
    assert_eq!(send(app.get("/health")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client() {
    let limited = |trust: bool| async move {
        TestApp::with(
            move |s| {
                s.rate_limit_max_requests = Some(2);
                s.trust_proxy = shopd::http::client_ip::ProxyTrust::Flag(trust);
            },
            |r| r,
        )
        .await
    };
    let app = limited(true).await;
    let from = |ip: &'static str| app.get("/api/v1/nothing").header("X-Forwarded-For", format!("203.0.113.9, {ip}"));
    assert_eq!(send(from("198.51.100.1")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(send(from("198.51.100.1")).await.status, StatusCode::NOT_FOUND);
    assert_error(&send(from("198.51.100.1")).await, 429, "RATE_LIMIT_EXCEEDED");
    assert_eq!(send(from("198.51.100.2")).await.status, StatusCode::NOT_FOUND, "another client has its own quota");
    // X-Real-IP is the client's own word unless TRUST_X_REAL_IP says the proxy sets it.
    let spoof = |fake: &'static str| from("198.51.100.2").header("X-Real-IP", fake);
    assert_eq!(send(spoof("192.0.2.1")).await.status, StatusCode::NOT_FOUND);
    assert_error(&send(spoof("192.0.2.2")).await, 429, "RATE_LIMIT_EXCEEDED");
    // Without trust_proxy the header is the client's word and changes nothing.
    let app = limited(false).await;
    for (i, ip) in ["198.51.100.1", "198.51.100.2"].into_iter().enumerate() {
        let r = send(app.get("/api/v1/nothing").header("X-Forwarded-For", ip)).await;
        assert_eq!(r.header("ratelimit-remaining"), Some(["1", "0"][i]));
    }
}

#[tokio::test]
async fn rate_limits_can_be_turned_off() {
    let app = TestApp::with(
        |s| {
            s.rate_limit_enabled = false;
            s.rate_limit_max_requests = Some(1);
        },
        |r| r,
    )
    .await;
    for _ in 0..5 {
        let r = send(app.get("/api/v1/anything")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.header("ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn ready_is_503_once_the_store_stops_answering() {
    let app = TestApp::new().await;
    let r = send(app.get("/ready")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["data"], json!({"status": "ready", "checks": {"store": "ok", "search": "ok"}}));
    app.state.store.close();
    let r = send(app.get("/ready")).await;
    let body = assert_error(&r, 503, "SERVICE_UNAVAILABLE");
    assert_eq!(body["details"], json!({"store": "unavailable", "search": "ok"}));
    assert_eq!(send(app.get("/health")).await.status, StatusCode::OK, "liveness does not depend on the store");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::new().await;
    send(app.get("/health")).await;
    send(app.get("/health")).await;
    send(app.get("/api/v1/does/not/exist")).await;
    let r = send(app.get("/metrics")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = r.text();
    assert!(text.contains(r#"shopd_http_requests_total{method="GET",route="/health",status="200"} 2"#), "{text}");
    assert!(text.contains(r#"shopd_http_requests_total{method="GET",route="unmatched",status="404"} 1"#), "{text}");
    assert!(
        text.contains(r#"shopd_http_request_duration_seconds_bucket{method="GET",route="/health",le="0.005"}"#),
        "{text}"
    );
    assert!(text.contains("shopd_store_commits_total"), "{text}");
}

#[tokio::test]
async fn the_openapi_spec_and_swagger_ui_are_served() {
    let app = TestApp::new().await;
    let r = send(app.get("/api/v1/openapi.json")).await;
    assert_eq!(r.status, StatusCode::OK);
    let spec = r.json();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    assert!(spec["paths"]["/health"]["get"].is_object());
    assert!(spec["paths"]["/ready"]["get"].is_object());
    assert!(spec["components"]["schemas"]["Error"].is_object(), "the error envelope is documented");
    let r = send(app.get("/docs")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("swagger"));
}

#[tokio::test]
async fn every_error_code_has_one_row_and_a_client_or_server_status() {
    use shopd::error::ErrorCode;
    let mut seen = std::collections::HashSet::new();
    for code in ErrorCode::ALL {
        let s = code.as_str();
        assert!(s.chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{s} is UPPER_SNAKE");
        assert!(seen.insert(s), "{s} appears once");
        assert!(code.status().is_client_error() || code.status().is_server_error());
    }
}
