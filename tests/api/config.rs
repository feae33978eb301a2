//! Settings precedence (defaults < config.toml < environment < flags) and the refusals.

use std::path::PathBuf;

use rust_decimal::Decimal;
use shopd::config::{AppEnv, LogFormat, Overrides, Settings, Sources};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn toml_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn sources(file: Option<PathBuf>, overrides: Overrides) -> Sources {
    Sources { config_file: file, overrides }
}

#[test]
fn defaults_match_the_contract() {
    let s = Settings::load_from(&sources(None, Overrides::default()), env(&[])).unwrap();
    assert_eq!(s.port, 3000);
    assert_eq!(s.data_dir, PathBuf::from("data"));
    assert_eq!(s.app_env, AppEnv::Development);
    assert_eq!(
        (s.rate_limit_enabled, s.rate_limit_window_ms, s.general_rate_limit(), s.auth_rate_limit_max),
        (true, 900_000, 1_000, 5)
    );
    assert_eq!(s.admin_rate_limit_max, 10_000);
    assert_eq!(s.max_file_size, 5 * 1024 * 1024);
    assert_eq!(s.tax_rate, Decimal::new(8, 2));
    assert_eq!(s.shipping_flat_rate, Decimal::new(999, 2));
    assert_eq!(s.cart_expiry_days, 30);
    assert!(s.seed_demo && s.feature_guest_checkout && s.feature_wishlist && s.feature_reviews);
}

#[test]
fn file_then_environment_then_flags() {
    let (_d, file) = toml_file("port = 4000\nhost = \"127.0.0.1\"\nlog_level = \"debug\"\ntax_rate = 0.2\n");
    let s = Settings::load_from(&sources(Some(file.clone()), Overrides::default()), env(&[])).unwrap();
    assert_eq!((s.port, s.host.as_str(), s.log_level.as_str()), (4000, "127.0.0.1", "debug"));
    assert_eq!(s.tax_rate, Decimal::new(2, 1));

    let e = env(&[
        ("PORT", "5000"),
        ("LOG_FORMAT", "json"),
        ("TAX_RATE", "0.07"),
        ("SMTP_PASS", "12345678"),
        ("UNRELATED", "x"),
    ]);
    let s = Settings::load_from(&sources(Some(file.clone()), Overrides::default()), e.clone()).unwrap();
    assert_eq!(s.port, 5000, "environment beats the file");
    assert_eq!(s.host, "127.0.0.1", "the file still counts where the environment is silent");
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(s.tax_rate, Decimal::new(7, 2));
    assert_eq!(s.smtp_pass.as_ref().map(|p| p.expose()), Some("12345678"), "a numeric secret stays a string");
    assert_eq!(format!("{:?}", s.smtp_pass), "Some([redacted])", "secrets never print");

    let flags = Overrides { port: Some(6000), data_dir: Some("/tmp/x".into()), host: None };
    let s = Settings::load_from(&sources(Some(file), flags), e).unwrap();
    assert_eq!(s.port, 6000, "flags beat the environment");
    assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
}

#[test]
fn node_env_is_an_alias_of_app_env() {
    let strong = ("JWT_SECRET", "k3Y-9fQ2-vL7x-Wm4p-Zr8t-Hb6n-Jd5s-Ce1a");
    let s = Settings::load_from(
        &sources(None, Overrides::default()),
        env(&[("NODE_ENV", "production"), strong, ("PAYMENT_PROVIDER", "manual")]),
    )
    .unwrap();
    assert_eq!(s.app_env, AppEnv::Production);
    let s = Settings::load_from(
        &sources(None, Overrides::default()),
        env(&[("NODE_ENV", "production"), ("APP_ENV", "test")]),
    )
    .unwrap();
    assert_eq!(s.app_env, AppEnv::Test, "APP_ENV wins over NODE_ENV");
}

#[test]
fn production_refuses_a_missing_or_weak_jwt_secret() {
    for secret in [None, Some("short"), Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")] {
        let mut vars = vec![("APP_ENV", "production")];
        if let Some(s) = secret {
            vars.push(("JWT_SECRET", s));
        }
        let err = Settings::load_from(&sources(None, Overrides::default()), env(&vars)).unwrap_err().to_string();
        assert!(err.contains("jwt_secret"), "{secret:?}: {err}");
    }
    // Development does not need one: it is generated and kept in the data dir.
    assert!(Settings::load_from(&sources(None, Overrides::default()), env(&[])).unwrap().jwt_secret.is_none());
}

#[test]
fn unknown_keys_and_bad_values_are_named() {
    let (_d, file) = toml_file("port = 3000\ncolour = \"blue\"\n");
    let err = Settings::load_from(&sources(Some(file), Overrides::default()), env(&[])).unwrap_err().to_string();
    assert!(err.contains("colour"), "{err}");
    let (_d, file) = toml_file("smtp_hots = \"mail.example\"\n");
    let err = Settings::load_from(&sources(Some(file), Overrides::default()), env(&[])).unwrap_err().to_string();
    assert!(err.contains("unknown setting `smtp_hots`") && err.contains("did you mean `smtp_host`?"), "{err}");
    let err = Settings::load_from(&sources(None, Overrides::default()), env(&[("PORT", "abc")])).unwrap_err();
    assert!(
        err.to_string().contains("PORT (environment variable)") && err.to_string().contains("whole number"),
        "{err}"
    );
    let err = Settings::load_from(&sources(None, Overrides::default()), env(&[("RATE_LIMIT_ENABLED", "maybe")]));
    assert!(err.unwrap_err().to_string().contains("true or false"));

    let cases = [
        (("PORT", "abc"), "PORT"),
        (("LOG_FORMAT", "xml"), "LOG_FORMAT"),
        (("RATE_LIMIT_ENABLED", "maybe"), "RATE_LIMIT_ENABLED"),
        (("JWT_EXPIRES_IN", "15 fortnights"), "jwt_expires_in"),
        (("HOST", "not-an-ip"), "host"),
        (("TAX_RATE", "3"), "tax_rate"),
        (("ALLOWED_ORIGINS", "ftp://x"), "allowed_origins"),
        (("RATE_LIMIT_MAX_REQUESTS", "0"), "rate limit"),
        (("TRUST_PROXY", "10.0.0.1,proxy"), "trust_proxy"),
    ];
    for ((key, value), named) in cases {
        let err =
            Settings::load_from(&sources(None, Overrides::default()), env(&[(key, value)])).unwrap_err().to_string();
        assert!(err.contains(named), "{key}={value}: {err}");
    }
    use shopd::config::ProxyTrust;
    for (value, trust) in [
        ("true", ProxyTrust::Flag(true)),
        ("2", ProxyTrust::Hops(2)),
        ("10.0.0.2,10.0.0.3", ProxyTrust::Proxies("10.0.0.2,10.0.0.3".into())),
    ] {
        let s = Settings::load_from(&sources(None, Overrides::default()), env(&[("TRUST_PROXY", value)])).unwrap();
        assert_eq!(s.trust_proxy, trust, "TRUST_PROXY={value}");
    }
    let missing = Settings::load_from(&sources(Some("/nonexistent/shopd.toml".into()), Overrides::default()), env(&[]));
    assert!(missing.unwrap_err().to_string().contains("does not exist"));
}

#[test]
fn the_shipped_config_toml_lists_every_key_with_its_default() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml")).unwrap();
    // Every key is there, commented out, so the file changes nothing by itself ...
    for key in shopd::config::env_keys() {
        let key = key.to_lowercase();
        assert!(
            text.lines().any(|l| l.trim_start_matches('#').trim_start().starts_with(&format!("{key} "))),
            "config.toml documents {key}"
        );
    }
    // ... and uncommenting all of it gives exactly the defaults.
    let uncommented: String = text
        .lines()
        .map(|l| l.strip_prefix("# ").filter(|r| r.contains(" = ")).unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let (_d, file) = toml_file(&uncommented);
    let from_file = Settings::load_from(&sources(Some(file), Overrides::default()), env(&[])).unwrap();
    let defaults = Settings::load_from(&sources(None, Overrides::default()), env(&[])).unwrap();
    assert_eq!(format!("{from_file:?}"), format!("{defaults:?}"));
}
