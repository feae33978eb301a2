//! Production is safe by default: no demo, no account with a published password, and a
//! binary whose flags work as the README shows them.

use std::time::Duration;

use shopd::config::Secret;
use shopd::startup::App;

use crate::helpers::{TestApp, production, send, test_settings};

#[tokio::test]
async fn production_never_loads_the_demo_or_its_accounts() {
    let app = TestApp::with(
        |s| {
            production(s);
            s.seed_demo = true;
        },
        |r| r,
    )
    .await;
    let products = send(app.get("/api/v1/products")).await.json();
    assert_eq!(products["data"]["total"], 0, "an empty shop: {products}");
    let (email, password) = shopd::seed::DEMO_ADMIN;
    crate::helpers::assert_error(&app.login(email, password).await, 400, "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn production_refuses_to_start_with_a_published_password() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = test_settings(&dir);
    dev.seed_demo = true;
    let app = App::build(dev.clone()).await.unwrap();
    app.state.jobs.shutdown(Duration::from_secs(1)).await;
    app.state.store.close();
    drop(app);

    let mut prod = dev;
    production(&mut prod);
    let err = App::build(prod).await.err().expect("production refuses the demo's admin").to_string();
    assert!(err.contains(shopd::seed::DEMO_ADMIN.0) && err.contains("published password"), "{err}");
    assert!(err.contains("shopd admin create"), "it says how to change it: {err}");
}

#[test]
fn flags_work_without_the_serve_word() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        crate::binary::shopd().args(["--data-dir", dir.path().to_str().unwrap(), "--port", "99999"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a bad port is refused by the parser, not taken for a command");
    let mut server = crate::binary::Running::start_args(
        &["--data-dir", dir.path().to_str().unwrap(), "--host", "127.0.0.1", "--port", "0"],
        &[],
    );
    assert_eq!(crate::helpers::http_get(server.addr, "/health").0, 200);
    server.signal(libc::SIGTERM);
    assert!(server.wait(Duration::from_secs(35)).success());
}

#[tokio::test]
async fn metrics_take_a_bearer_token_when_one_is_set() {
    let app = TestApp::with(|s| s.metrics_token = Some(Secret::new("scrape-me-please-0123456789")), |r| r).await;
    let r = send(app.get("/metrics")).await;
    crate::helpers::assert_error(&r, 401, "UNAUTHORIZED");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let wrong = send(app.get("/metrics").header("Authorization", "Bearer guess")).await;
    assert_eq!(wrong.status.as_u16(), 401);
    let r = send(app.get("/metrics").header("Authorization", "Bearer scrape-me-please-0123456789")).await;
    assert_eq!(r.status.as_u16(), 200);
    assert!(r.text().contains("shopd_build_info"), "{}", r.text());
    // Without a token it is open (a private network), as before.
    let open = TestApp::new().await;
    assert_eq!(send(open.get("/metrics")).await.status.as_u16(), 200);
}

#[test]
fn metrics_on_their_own_listener_and_a_healthcheck_for_containers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics: std::net::SocketAddr = free.local_addr().unwrap();
    drop(free);
    let metrics_env = metrics.to_string();
    let mut server = crate::binary::Running::start_args(
        &["--data-dir", data, "--host", "127.0.0.1", "--port", "0"],
        &[("METRICS_ADDR", metrics_env.as_str()), ("SEED_DEMO", "false")],
    );
    assert_eq!(crate::helpers::http_get(server.addr, "/metrics").0, 404, "not on the API's port");
    let (status, body) = crate::helpers::http_get(metrics, "/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("shopd_disk_free_bytes") && body.contains("shopd_http_requests_total"), "{body}");

    let port = server.addr.port().to_string();
    let check = || crate::binary::shopd().args(["--data-dir", data, "--port", &port, "healthcheck"]).output().unwrap();
    let up = check();
    assert_eq!(up.status.code(), Some(0), "{}", String::from_utf8_lossy(&up.stderr));
    server.signal(libc::SIGTERM);
    assert!(server.wait(Duration::from_secs(35)).success());
    let down = check();
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("not ready"));
}

#[test]
fn help_names_every_setting_and_config_example_prints_the_file() {
    let help = crate::binary::shopd().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    for name in shopd::config::env_keys() {
        assert!(help.contains(&name), "--help names {name}");
    }
    assert!(help.contains("PORT") && help.contains("3000"), "with defaults");
    let example = crate::binary::shopd().args(["config", "example"]).env("PORT", "not-a-port").output().unwrap();
    assert_eq!(example.status.code(), Some(0), "needs no valid settings");
    assert_eq!(String::from_utf8_lossy(&example.stdout), std::fs::read_to_string("config.toml").unwrap());
}

#[test]
fn init_makes_a_production_shop_that_starts_and_signs_its_admin_in() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let data = dir.path().join("data");
    let init = |extra: &[&str]| {
        let mut cmd = crate::binary::shopd();
        cmd.args(["--config", config.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "init"])
            .args(["--admin-email", "owner@shop.test", "--public-url", "https://api.shop.test"])
            .args(["--client-url", "https://shop.test", "--payment-provider", "manual", "--shop-name", "Lamp & Co"])
            .args(extra)
            .stdin(std::process::Stdio::null());
        cmd.output().unwrap()
    };
    let asked = init(&[]);
    assert_eq!(asked.status.code(), Some(1), "no password and no terminal to ask on");
    assert!(String::from_utf8_lossy(&asked.stderr).contains("no terminal"));
    let weak = init(&["--admin-password", "weak"]);
    assert_eq!(weak.status.code(), Some(2), "a bad password is bad input");
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 8 characters"));
    assert!(!config.exists(), "no half-made shop");

    let made = init(&["--admin-password", "Owner1234"]);
    assert_eq!(made.status.code(), Some(0), "{}", String::from_utf8_lossy(&made.stderr));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(config.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("app_env = \"production\"") && text.contains("payment_provider = \"manual\""), "{text}");
    assert!(text.contains("shop_name = \"Lamp & Co\""), "{text}");
    let secret = text.lines().find(|l| l.starts_with("jwt_secret = ")).expect("a secret").to_string();
    assert_eq!(secret.len(), "jwt_secret = \"\"".len() + 48, "{secret}");
    assert_eq!(init(&["--admin-password", "Owner1234"]).status.code(), Some(1), "an existing file is kept");
    let failed = init(&["--admin-password", "weak", "--force"]);
    assert_eq!(failed.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text, "a failed --force keeps the working file");

    let mut server = crate::binary::Running::start_args(
        &["--config", config.to_str().unwrap(), "--host", "127.0.0.1", "--port", "0"],
        &[("RATE_LIMIT_ENABLED", "false")],
    );
    let body = serde_json::json!({"email": "owner@shop.test", "password": "Owner1234"});
    let (status, answer) = crate::binary::post_json(server.addr, "/api/v1/auth/login", &body, &[]);
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"role\":\"ADMIN\""), "{answer}");
    server.signal(libc::SIGTERM);
    assert!(server.wait(Duration::from_secs(35)).success());
}

/// A log nobody reads (a full pipe, like a full disk) never holds up an answer: lines are
/// dropped instead.
#[test]
fn a_log_that_cannot_be_written_costs_no_request_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let mut child = crate::binary::shopd()
        .args(["--data-dir", dir.path().to_str().unwrap(), "--host", "127.0.0.1", "--port"])
        .arg(addr.port().to_string())
        .envs([("LOG_LEVEL", "debug"), ("RATE_LIMIT_ENABLED", "false"), ("SEED_DEMO", "false")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped()) // never read: the pipe fills after a few hundred lines
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..200 {
        if std::net::TcpStream::connect(addr).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(up, "shopd listens");
    for i in 0..2000 {
        let (status, _) = crate::helpers::http_get(addr, "/api/v1/products?limit=1");
        assert_eq!(status, 200, "request {i} answered");
    }
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let _ = child.wait();
}
