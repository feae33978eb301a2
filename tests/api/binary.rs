//! The real `shopd` binary over a socket: start-up, signals, kill -9, the CLI's exit codes, and
//! backup/restore of a running server.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::http_get;

pub fn shopd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shopd"));
    // A developer's own settings must not leak into the tests.
    for key in shopd::config::env_keys().into_iter().chain(["NODE_ENV".to_string()]) {
        cmd.env_remove(key);
    }
    cmd.env("SEED_DEMO", "false");
    cmd
}

pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
    logs: mpsc::Receiver<String>,
}

impl Running {
    /// Starts `shopd serve` on a free port and waits for its "listening" line.
    pub fn start(data_dir: &Path) -> Running {
        Self::start_with(data_dir, &[])
    }

    pub fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Running {
        Self::start_args(
            &["--data-dir", data_dir.to_str().unwrap(), "serve", "--host", "127.0.0.1", "--port", "0"],
            env,
        )
    }

    /// Starts `shopd` with these arguments and waits for its "listening" line.
    pub fn start_args(args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut child = shopd()
            .args(args)
            .env("LOG_FORMAT", "json")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("shopd starts");
        let (tx, logs) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let addr = loop {
            let line = logs.recv_timeout(Duration::from_secs(20)).expect("a listening line");
            let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if let Some(addr) = entry["fields"]["address"].as_str() {
                break addr.parse().unwrap();
            }
        };
        Running { child, addr, logs }
    }

    pub fn signal(&self, signal: libc::c_int) {
        assert_eq!(unsafe { libc::kill(self.child.id() as libc::pid_t, signal) }, 0);
    }

    pub fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "shopd did not exit in {within:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.try_iter().collect()
    }
}

#[test]
fn starts_serves_and_stops_with_exit_0_on_sigterm_and_sigint() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Running::start(dir.path());
        let (status, text) = http_get(server.addr, "/health");
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("\"status\":\"ok\""), "{text}");
        let (status, _) = http_get(server.addr, "/ready");
        assert_eq!(status, 200);
        server.signal(signal);
        assert_eq!(server.wait(Duration::from_secs(35)).code(), Some(0));
        let logs = server.logs().join("\n");
        assert!(logs.contains("the store is closed"), "{logs}");
        // Every log line of a request carries its id.
        shopd::store::Store::open(dir.path()).expect("the data dir reopens").close();
    }
}

/// A supervisor may stop a service the moment it says it listens: the signal handlers are in
/// place before that line, so the stop is still graceful (this once raced under load).
#[test]
fn a_sigterm_right_after_the_listening_line_is_still_graceful() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Running::start(dir.path());
        server.signal(libc::SIGTERM);
        assert_eq!(server.wait(Duration::from_secs(35)).code(), Some(0));
    }
}

#[test]
fn after_kill_9_the_data_dir_reopens_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Running::start(dir.path());
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let mut again = Running::start(dir.path());
    let (status, text) = http_get(again.addr, "/ready");
    assert_eq!(status, 200, "{text}");
    again.signal(libc::SIGTERM);
    assert_eq!(again.wait(Duration::from_secs(35)).code(), Some(0));
}

#[test]
fn request_logs_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Running::start(dir.path());
    let (status, _) = crate::helpers::raw_request(
        server.addr,
        "GET /api/v1/nowhere HTTP/1.1\r\nHost: t\r\nX-Request-ID: trace-me-42\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 404);
    server.signal(libc::SIGTERM);
    server.wait(Duration::from_secs(35));
    let logs = server.logs();
    let line =
        logs.iter().find(|l| l.contains("handled") && l.contains("/api/v1/nowhere")).expect("an access log line");
    let entry: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(entry["span"]["id"], "trace-me-42", "{line}");
    assert_eq!(entry["fields"]["status"], 404, "{line}");
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Running::start(dir.path());
    let out = shopd().args(["--data-dir", dir.path().to_str().unwrap(), "serve", "--port", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("open in another process"), "{err}");
    first.signal(libc::SIGTERM);
    first.wait(Duration::from_secs(35));
}

#[test]
fn bad_arguments_and_config_exit_2_with_a_message() {
    // (arguments, environment, what the message must name)
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (vec!["--config", "/nonexistent/shopd.toml"], vec![], "does not exist"),
        (vec![], vec![("PORT", "abc")], "PORT"),
        (vec![], vec![("LOG_FORMAT", "xml")], "LOG_FORMAT"),
        (vec!["--bogus"], vec![], "--bogus"),
        (vec!["serve", "--port", "99999"], vec![], "99999"),
        (vec!["backup"], vec![], "--out"),
    ];
    for (args, env, says) in cases {
        let out = shopd().args(&args).envs(env.clone()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {err}");
        assert!(err.contains(says), "{args:?} {env:?} should mention {says}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("c.toml");
    std::fs::write(&toml, "prot = 3000\n").unwrap();
    let out = shopd().args(["--config", toml.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("prot"));
}

#[test]
fn help_lists_every_command() {
    let out = shopd().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["serve", "backup", "restore", "--config", "--data-dir"] {
        assert!(text.contains(word), "--help mentions {word}: {text}");
    }
}

#[test]
fn backup_of_a_running_server_restores_into_an_empty_dir_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Running::start(&data);
    let file = dir.path().join("shop.backup");
    let out = shopd()
        .args(["--data-dir", data.to_str().unwrap(), "backup", "--out", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("backup written"));
    assert!(file.metadata().unwrap().len() > 0);
    // An existing file is kept unless --force.
    let args = ["--data-dir", data.to_str().unwrap(), "backup", "--out", file.to_str().unwrap()];
    let out = shopd().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = shopd().args(args).arg("--force").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, _) = http_get(server.addr, "/ready");
    assert_eq!(status, 200, "the server keeps serving");
    server.signal(libc::SIGTERM);
    server.wait(Duration::from_secs(35));

    // Stopped server: the backup opens the store itself.
    let offline = dir.path().join("offline.backup");
    let out = shopd()
        .args(["--data-dir", data.to_str().unwrap(), "backup", "--out", offline.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    let restored = dir.path().join("restored");
    let out =
        shopd().args(["--data-dir", restored.to_str().unwrap(), "restore", file.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut again = Running::start(&restored);
    assert_eq!(http_get(again.addr, "/ready").0, 200);
    again.signal(libc::SIGTERM);
    again.wait(Duration::from_secs(35));

    let out = shopd()
        .args(["--data-dir", restored.to_str().unwrap(), "restore", offline.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
}

pub fn post_json(addr: SocketAddr, path: &str, body: &serde_json::Value, headers: &[(&str, String)]) -> (u16, String) {
    let body = body.to_string();
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    crate::helpers::raw_request(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn cookie_value(response: &str) -> String {
    let line =
        response.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie: refreshtoken=")).expect("a cookie");
    line.split_once('=').unwrap().1.split(';').next().unwrap().to_string()
}

fn body_of(response: &str) -> serde_json::Value {
    serde_json::from_str(response.split_once("\r\n\r\n").unwrap().1).unwrap_or_default()
}

#[test]
fn no_response_or_log_line_carries_a_password_hash_or_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Running::start_with(dir.path(), &[("LOG_LEVEL", "debug"), ("PASSWORD_HASH_MEMORY_KIB", "1024")]);
    let addr = server.addr;
    let (password, new_password) = ("Leak9Check", "Leak9Changed");
    let mut responses = Vec::new();
    let reg = json!({"email": "leak@shop.test", "password": password, "firstName": "Lee", "lastName": "Kay"});
    responses.push(post_json(addr, "/api/v1/auth/register", &reg, &[]).1);
    let (status, login) =
        post_json(addr, "/api/v1/auth/login", &json!({"email": "leak@shop.test", "password": password}), &[]);
    assert_eq!(status, 200, "{login}");
    let refresh = cookie_value(&login);
    let access = body_of(&login)["data"]["token"].as_str().unwrap().to_string();
    responses.push(login);
    let (status, refreshed) =
        post_json(addr, "/api/v1/auth/refresh", &json!({}), &[("Cookie", format!("refreshToken={refresh}"))]);
    assert_eq!(status, 200, "{refreshed}");
    let refresh2 = cookie_value(&refreshed);
    responses.push(refreshed);
    responses.push(
        post_json(addr, "/api/v1/auth/login", &json!({"email": "leak@shop.test", "password": "Wrong9Wrong"}), &[]).1,
    );
    let bearer = ("Authorization", format!("Bearer {access}"));
    let change = json!({"currentPassword": password, "newPassword": new_password});
    responses.push(post_json(addr, "/api/v1/auth/change-password", &change, std::slice::from_ref(&bearer)).1);
    responses.push(post_json(addr, "/api/v1/auth/forgot-password", &json!({"email": "leak@shop.test"}), &[]).1);
    responses.push(crate::helpers::raw_request(addr, &format!("GET /api/v1/users/me HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {access}\r\nConnection: close\r\n\r\n")).1);
    responses.push(
        post_json(addr, "/api/v1/auth/logout", &json!({}), &[bearer, ("Cookie", format!("refreshToken={refresh2}"))]).1,
    );
    server.signal(libc::SIGTERM);
    server.wait(Duration::from_secs(35));
    let logs = server.logs().join("\n");
    assert!(logs.contains("handled"), "debug logs were written: {logs}");

    for r in &responses {
        let body = r.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        for secret in [password, new_password, "$argon2", "argon2id", refresh.as_str(), refresh2.as_str()] {
            assert!(!body.contains(secret), "a response body contains {secret}: {r}");
        }
        assert!(!r.contains(password) && !r.contains(new_password) && !r.contains("$argon2"), "{r}");
    }
    for secret in [password, new_password, "$argon2", refresh.as_str(), refresh2.as_str(), access.as_str()] {
        assert!(!logs.contains(secret), "a log line contains {secret}");
    }
}

#[test]
fn admin_create_makes_an_admin_that_can_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = shopd()
        .args(["--data-dir", data, "admin", "create", "--email", "root@shop.test", "--password", "Root1234x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created admin root@shop.test"));
    let again = shopd()
        .args(["--data-dir", data, "admin", "create", "--email", "root@shop.test", "--password", "Root5678x"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
    let weak = shopd()
        .args(["--data-dir", data, "admin", "create", "--email", "x@shop.test", "--password", "weak"])
        .output()
        .unwrap();
    assert_eq!(weak.status.code(), Some(2), "bad input is a usage error");
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password"));

    let mut server = Running::start(dir.path());
    let (status, r) =
        post_json(server.addr, "/api/v1/auth/login", &json!({"email": "root@shop.test", "password": "Root5678x"}), &[]);
    assert_eq!(status, 200, "{r}");
    assert_eq!(body_of(&r)["data"]["user"]["role"], "ADMIN");
    let busy = shopd()
        .args(["--data-dir", data, "admin", "create", "--email", "b@shop.test", "--password", "Root1234x"])
        .output()
        .unwrap();
    assert_eq!(busy.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&busy.stderr).contains("server is running"));
    server.signal(libc::SIGTERM);
    server.wait(Duration::from_secs(35));
}

#[test]
fn seed_and_reindex_work_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = shopd().args(["--data-dir", data, "seed"]).env("PASSWORD_HASH_MEMORY_KIB", "1024").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("201 products") && text.contains("admin@shopd.local"), "{text}");
    let again = shopd().args(["--data-dir", data, "seed"]).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "a shop is seeded once");
    let out = shopd().args(["--data-dir", data, "seed", "--generate", "500"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = shopd().args(["--data-dir", data, "reindex"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("701 products"), "{}", String::from_utf8_lossy(&out.stdout));

    let mut server = Running::start(dir.path());
    let (status, body) = http_get(server.addr, "/api/v1/products/search?q=iphone&select=title");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("iPhone 15 Pro"), "{body}");
    let (_, page) = http_get(server.addr, "/api/v1/products?limit=1");
    assert!(page.contains("\"total\":701"), "{page}");
    server.signal(libc::SIGTERM);
    server.wait(Duration::from_secs(35));
}
