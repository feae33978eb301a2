//! Settings: built-in defaults, then `config.toml`, then environment variables (the plan's names),
//! then command-line flags; later wins. An unknown key or a bad value is an error the binary
//! reports before doing anything else (exit code 2).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Metadata, Profile, Provider};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppEnv {
    Development,
    Production,
    Test,
}

/// How the SMTP connection is secured: STARTTLS on a plain port (587), TLS from the start (465),
/// or none (a local relay or a test sink only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    Starttls,
    Tls,
    None,
}

/// Who takes the money: Stripe; `offline`, a simulation whose confirm succeeds (development and
/// demos only); or `manual`, cash on delivery or bank transfer, where the shop marks orders paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentProvider {
    Stripe,
    Offline,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A configured secret: usable by the code that needs it, never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(#[serde(deserialize_with = "lenient::string")] String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Every setting, with the name it has in `config.toml`; the environment variable is the same name
/// in upper case. Defaults are in [`Settings::default`] and documented in `config.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub app_env: AppEnv,
    #[serde(deserialize_with = "lenient::string")]
    pub host: String,
    pub port: u16,
    pub data_dir: PathBuf,

    #[serde(deserialize_with = "lenient::opt_secret")]
    pub jwt_secret: Option<Secret>,
    #[serde(deserialize_with = "lenient::opt_secret")]
    pub jwt_refresh_secret: Option<Secret>,
    #[serde(deserialize_with = "lenient::string")]
    pub jwt_expires_in: String,
    #[serde(deserialize_with = "lenient::string")]
    pub jwt_refresh_expires_in: String,

    #[serde(deserialize_with = "lenient::opt_string")]
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub smtp_user: Option<String>,
    #[serde(deserialize_with = "lenient::opt_secret")]
    pub smtp_pass: Option<Secret>,
    #[serde(deserialize_with = "lenient::string")]
    pub from_email: String,
    pub smtp_tls: SmtpTls,

    /// Unset: `stripe` when `stripe_secret_key` is set, otherwise `offline` (refused in
    /// production).
    pub payment_provider: Option<PaymentProvider>,
    #[serde(deserialize_with = "lenient::opt_secret")]
    pub stripe_secret_key: Option<Secret>,
    #[serde(deserialize_with = "lenient::opt_secret")]
    pub stripe_webhook_secret: Option<Secret>,
    #[serde(deserialize_with = "lenient::string")]
    pub stripe_api_base: String,
    /// How long a call to Stripe may take before the client gets a 502.
    pub stripe_timeout_ms: u64,

    pub max_file_size: u64,
    #[serde(deserialize_with = "lenient::string")]
    pub allowed_file_types: String,

    pub rate_limit_enabled: bool,
    /// The reverse proxies in front of shopd: `false`, `true` (one), their number, or their
    /// addresses. The client's address (rate limits, lockouts, the audit log) is then read from
    /// `X-Forwarded-For`, counted from the right.
    pub trust_proxy: ProxyTrust,
    /// The nearest proxy sets `X-Real-IP` itself (replacing any the client sent): read it first.
    pub trust_x_real_ip: bool,
    pub rate_limit_window_ms: u64,
    /// Requests per window and client IP; unset: 100 in production, 1,000 in development.
    pub rate_limit_max_requests: Option<u32>,
    /// Requests per window for each admin (a valid ADMIN token), instead of the IP's limit.
    pub admin_rate_limit_max: u32,
    pub auth_rate_limit_max: u32,
    pub upload_rate_limit_max: u32,
    pub upload_rate_limit_window_ms: u64,

    #[serde(deserialize_with = "lenient::string")]
    pub log_level: String,
    pub log_format: LogFormat,

    #[serde(deserialize_with = "lenient::string")]
    pub allowed_origins: String,
    #[serde(deserialize_with = "lenient::string")]
    pub client_url: String,
    /// Where clients reach this server (`https://api.shop.example`), behind a proxy or a CDN:
    /// uploaded images are then shown as absolute URLs under it. Unset: paths (`/uploads/...`).
    pub public_url: Option<String>,

    pub feature_guest_checkout: bool,
    /// Let webhooks reach private, loopback and link-local addresses (tests, private networks).
    pub webhooks_allow_private: bool,
    /// The SMS provider's API in Twilio's shape (`https://api.twilio.com`); unset: no SMS.
    pub sms_api_url: Option<String>,
    pub sms_account_sid: Option<String>,
    pub sms_auth_token: Option<Secret>,
    /// The sender number (E.164).
    pub sms_from: Option<String>,
    /// The VAPID private key for Web Push (base64url of 32 bytes); unset: one made and kept in
    /// the data dir (`vapid-key`).
    pub vapid_private_key: Option<Secret>,
    pub feature_wishlist: bool,
    pub feature_reviews: bool,
    pub cart_expiry_days: u32,
    /// Days a guest's order token (the private link to their order) works.
    pub order_token_days: u32,
    pub abandoned_cart_reminder_hours: u32,
    /// Minutes a PENDING order waits for its payment before it is cancelled and restocked;
    /// 0 = never. Unset: 60 with Stripe, never with the other providers.
    pub unpaid_order_expiry_minutes: Option<u32>,
    /// Tries of an outbox job (a mail, a refund, ...) before it is kept as DEAD.
    pub job_max_attempts: u32,
    /// The delay before an outbox job's first retry; each further one doubles (capped at an
    /// hour), with ±25 % jitter.
    pub job_retry_base_ms: u64,
    pub tax_rate: Decimal,
    pub free_shipping_threshold: Decimal,
    pub shipping_flat_rate: Decimal,

    #[serde(deserialize_with = "lenient::opt_string")]
    pub admin_email: Option<String>,
    #[serde(deserialize_with = "lenient::opt_secret")]
    pub admin_password: Option<Secret>,
    /// When set, `/metrics` answers only `Authorization: Bearer <this token>` (what Prometheus's
    /// `authorization` setting sends); unset, it is open, for a private network.
    #[serde(deserialize_with = "lenient::opt_secret")]
    pub metrics_token: Option<Secret>,
    /// Serve `/metrics` on this address only (`127.0.0.1:9100`), not on the API's port.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Below this much free space on the data dir's disk, the log warns (every 30 s).
    pub disk_free_warn_mb: u64,
    /// Back the shop up this often while serving (`6h`, `1d`); unset: never.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub backup_interval: Option<String>,
    /// Where scheduled backups go; unset: `<data dir>/backups`.
    pub backup_dir: Option<PathBuf>,
    /// How many scheduled backups are kept (the oldest go first), here and in the bucket.
    pub backup_keep: u32,
    /// Encrypt backups that leave the machine: an age recipient (`age1…`) or a passphrase of
    /// 16+ characters. Required with `backup_s3_bucket`.
    #[serde(deserialize_with = "lenient::opt_secret")]
    pub backup_encryption_key: Option<Secret>,
    /// Send each scheduled backup, encrypted, to this S3-compatible bucket.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub backup_s3_bucket: Option<String>,
    /// The storage's endpoint for S3-compatible services (MinIO, R2, B2, ...); unset: AWS.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub backup_s3_endpoint: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub backup_s3_region: String,
    /// Object names start with this (`shopd/shopd-<time>.tar.age`).
    #[serde(deserialize_with = "lenient::string")]
    pub backup_s3_prefix: String,
    /// Unset: the usual AWS sources (environment, profile, instance role).
    #[serde(deserialize_with = "lenient::opt_secret")]
    pub backup_s3_access_key_id: Option<Secret>,
    #[serde(deserialize_with = "lenient::opt_secret")]
    pub backup_s3_secret_access_key: Option<Secret>,
    /// Keep uploaded images in this S3-compatible bucket instead of `<data dir>/uploads`.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub uploads_s3_bucket: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub uploads_s3_endpoint: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub uploads_s3_region: String,
    #[serde(deserialize_with = "lenient::string")]
    pub uploads_s3_prefix: String,
    /// Where the bucket is public (a CDN in front of it): `/uploads/...` then redirects there
    /// instead of passing the file through.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub uploads_s3_public_url: Option<String>,
    #[serde(deserialize_with = "lenient::opt_secret")]
    pub uploads_s3_access_key_id: Option<Secret>,
    #[serde(deserialize_with = "lenient::opt_secret")]
    pub uploads_s3_secret_access_key: Option<Secret>,
    pub seed_demo: bool,
    /// Every admin-only operation by an admin without two-factor sign-in is refused (403
    /// TWO_FACTOR_SETUP_REQUIRED) until they turn it on.
    pub admin_require_2fa: bool,
    /// The shop's name: the sender name of its mails, and the entry authenticator apps show.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub shop_name: Option<String>,
    /// The shop's own address: a mail for each new order, and when a product's stock falls
    /// below `low_stock_threshold`.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub shop_email: Option<String>,
    /// Stock below this is low: the shop is told, and the dashboard lists it.
    pub low_stock_threshold: u32,
    /// The shop's timezone (IANA): where the days of its sales figures begin.
    pub timezone: String,
    /// Stripe's publishable key (`pk_…`), which `GET /shop` hands the storefront for Stripe.js.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub stripe_publishable_key: Option<String>,
    /// The number of the shop's first order (`#1001`); later ones count up from it.
    pub order_number_start: u64,

    pub password_hash_memory_kib: u32,
    pub password_hash_iterations: u32,
    pub password_hash_parallelism: u32,
    /// Threads that hash passwords; 0 = one per CPU core.
    pub password_hash_threads: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            app_env: AppEnv::Development,
            host: "0.0.0.0".into(),
            port: 3000,
            data_dir: "data".into(),
            jwt_secret: None,
            jwt_refresh_secret: None,
            jwt_expires_in: "15m".into(),
            jwt_refresh_expires_in: "7d".into(),
            smtp_host: None,
            smtp_port: 587,
            smtp_user: None,
            smtp_pass: None,
            from_email: "noreply@shopd.local".into(),
            smtp_tls: SmtpTls::Starttls,
            payment_provider: None,
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_api_base: "https://api.stripe.com".into(),
            stripe_timeout_ms: 10_000,
            max_file_size: 5 * 1024 * 1024,
            allowed_file_types: "jpg,jpeg,png,webp".into(),
            rate_limit_enabled: true,
            trust_proxy: ProxyTrust::default(),
            trust_x_real_ip: false,
            rate_limit_window_ms: 15 * 60 * 1000,
            rate_limit_max_requests: None,
            admin_rate_limit_max: 10_000,
            auth_rate_limit_max: 5,
            upload_rate_limit_max: 10,
            upload_rate_limit_window_ms: 60 * 60 * 1000,
            log_level: "info".into(),
            log_format: LogFormat::Pretty,
            allowed_origins: "http://localhost:5173,http://localhost:3000".into(),
            client_url: "http://localhost:5173".into(),
            public_url: None,
            feature_guest_checkout: true,
            feature_wishlist: true,
            feature_reviews: true,
            cart_expiry_days: 30,
            order_token_days: 90,
            webhooks_allow_private: false,
            sms_api_url: None,
            sms_account_sid: None,
            sms_auth_token: None,
            sms_from: None,
            vapid_private_key: None,
            abandoned_cart_reminder_hours: 24,
            unpaid_order_expiry_minutes: None,
            job_max_attempts: 15,
            job_retry_base_ms: 2_000,
            tax_rate: Decimal::new(8, 2),
            free_shipping_threshold: Decimal::new(100, 0),
            shipping_flat_rate: Decimal::new(999, 2),
            admin_email: None,
            admin_password: None,
            metrics_token: None,
            metrics_addr: None,
            disk_free_warn_mb: 512,
            backup_interval: None,
            backup_dir: None,
            backup_keep: 7,
            backup_encryption_key: None,
            backup_s3_bucket: None,
            backup_s3_endpoint: None,
            backup_s3_region: "us-east-1".into(),
            backup_s3_prefix: "shopd".into(),
            backup_s3_access_key_id: None,
            backup_s3_secret_access_key: None,
            uploads_s3_bucket: None,
            uploads_s3_endpoint: None,
            uploads_s3_region: "us-east-1".into(),
            uploads_s3_prefix: "uploads".into(),
            uploads_s3_public_url: None,
            uploads_s3_access_key_id: None,
            uploads_s3_secret_access_key: None,
            seed_demo: true,
            admin_require_2fa: false,
            shop_name: None,
            shop_email: None,
            low_stock_threshold: 5,
            timezone: "UTC".into(),
            stripe_publishable_key: None,
            order_number_start: 1001,
            password_hash_memory_kib: 19 * 1024,
            password_hash_iterations: 2,
            password_hash_parallelism: 1,
            password_hash_threads: 0,
        }
    }
}

/// `TRUST_PROXY`: `false` (no proxy), `true` (one), a number of proxies in front of shopd, or
/// a comma-separated list of the proxies' addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProxyTrust {
    Flag(bool),
    Hops(u32),
    Proxies(String),
}

impl ProxyTrust {
    /// How many proxies are counted from the right, or which addresses are proxies.
    pub fn parse(&self) -> Result<(usize, Vec<IpAddr>), String> {
        match self {
            ProxyTrust::Flag(on) => Ok((*on as usize, Vec::new())),
            ProxyTrust::Hops(n) => Ok((*n as usize, Vec::new())),
            ProxyTrust::Proxies(list) => {
                let proxies = list
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| p.parse::<IpAddr>().map_err(|_| format!("trust_proxy: `{p}` is not an IP address")))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((0, proxies))
            }
        }
    }
}

impl Default for ProxyTrust {
    fn default() -> Self {
        ProxyTrust::Flag(false)
    }
}

/// Values given on the command line; `None` leaves the lower layers in charge.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// Where settings come from: the config file (`None` = `config.toml` in the working directory, if
/// it exists) and the command-line overrides.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub config_file: Option<PathBuf>,
    pub overrides: Overrides,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

/// The environment variable names shopd reads (besides `NODE_ENV`, an alias of `APP_ENV`).
pub fn env_keys() -> Vec<String> {
    let defaults = serde_json::to_value(Settings::default()).expect("settings serialize");
    defaults.as_object().expect("a struct").keys().map(|k| k.to_uppercase()).collect()
}

/// The settings as `--help` lists them: each environment variable with its default.
pub fn help_text() -> String {
    let defaults = serde_json::to_value(Settings::default()).expect("settings serialize");
    let mut out = String::from(
        "Settings (config.toml keys are the same names in lower case; environment beats the file, flags beat both;\n\
         `shopd config example` prints the commented file):\n",
    );
    for (key, value) in defaults.as_object().expect("a struct") {
        let shown = match value {
            serde_json::Value::Null => "(unset)".to_string(),
            serde_json::Value::String(s) if s.is_empty() => "(empty)".to_string(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!("  {:<34} {shown}\n", key.to_uppercase()));
    }
    out
}

impl Settings {
    /// Loads the settings from the process environment.
    pub fn load(sources: &Sources) -> Result<Settings, ConfigError> {
        Self::load_from(sources, std::env::vars())
    }

    /// Loads the settings with `env` standing in for the process environment (tests use this).
    pub fn load_from(
        sources: &Sources,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match &sources.config_file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.clone())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("config.toml").exists() => figment = figment.merge(Toml::file_exact("config.toml")),
            None => {}
        }
        let keys = env_keys();
        let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if let (None, Some(node_env)) = (lookup("APP_ENV"), lookup("NODE_ENV")) {
            figment = figment.merge(Serialized::default("app_env", node_env));
        }
        let vars: Dict =
            env.iter().filter(|(k, _)| keys.contains(k)).map(|(k, v)| (k.to_lowercase(), parse_env_value(v))).collect();
        figment = figment.merge(EnvVars(vars));
        figment = figment.merge(Serialized::defaults(&sources.overrides));
        let settings: Settings = figment.extract().map_err(|e| invalid(describe(e)))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.host.parse::<IpAddr>().map_err(|_| invalid(format!("host: `{}` is not an IP address", self.host)))?;
        parse_duration(&self.jwt_expires_in).map_err(|e| invalid(format!("jwt_expires_in: {e}")))?;
        parse_duration(&self.jwt_refresh_expires_in).map_err(|e| invalid(format!("jwt_refresh_expires_in: {e}")))?;
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| invalid(format!("log_level: `{}` is not a level or filter ({e})", self.log_level)))?;
        if self.rate_limit_window_ms == 0 || self.upload_rate_limit_window_ms == 0 {
            return Err(invalid("rate limit windows must be at least 1 ms"));
        }
        if self.general_rate_limit() == 0
            || self.admin_rate_limit_max == 0
            || self.auth_rate_limit_max == 0
            || self.upload_rate_limit_max == 0
        {
            return Err(invalid(
                "rate limit maxima must be at least 1 (set rate_limit_enabled = false to turn limits off)",
            ));
        }
        if self.job_max_attempts == 0 || self.job_retry_base_ms == 0 {
            return Err(invalid("job_max_attempts and job_retry_base_ms must be at least 1"));
        }
        self.trust_proxy.parse().map_err(invalid)?;
        if self.max_file_size == 0 {
            return Err(invalid("max_file_size must be at least 1 byte"));
        }
        for origin in self.origins() {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return Err(invalid(format!("allowed_origins: `{origin}` is not an http(s) origin")));
            }
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(format!("public_url: `{url}` is not an http(s) URL")));
        }
        if !(self.client_url.starts_with("http://") || self.client_url.starts_with("https://")) {
            return Err(invalid(format!("client_url: `{}` is not an http(s) URL", self.client_url)));
        }
        if self.is_production() {
            match &self.jwt_secret {
                None => return Err(invalid("jwt_secret is required in production (at least 32 characters)")),
                Some(s)
                    if s.expose().len() < 32
                        || s.expose().chars().collect::<std::collections::HashSet<_>>().len() < 8 =>
                {
                    return Err(invalid("jwt_secret is too weak for production: use at least 32 random characters"));
                }
                Some(_) => {}
            }
        }
        self.payments().map_err(invalid)?;
        self.tz().map_err(invalid)?;
        if let Some(every) = &self.backup_interval {
            parse_duration(every).map_err(|e| invalid(format!("backup_interval: {e}")))?;
        }
        if self.backup_keep == 0 {
            return Err(invalid("backup_keep must be at least 1"));
        }
        if let Some(key) = &self.backup_encryption_key {
            crate::backup::offsite::Key::parse(key.expose()).map_err(invalid)?;
        }
        if self.backup_s3_bucket.is_some() && self.backup_encryption_key.is_none() {
            return Err(invalid(
                "backup_s3_bucket needs backup_encryption_key: an archive that leaves the machine holds the signing secret",
            ));
        }
        if let Some(url) = &self.uploads_s3_public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(invalid(format!("uploads_s3_public_url: `{url}` is not an http(s) URL")));
        }
        if self.backup_s3_bucket.is_some() && self.backup_interval.is_none() {
            return Err(invalid(
                "backup_s3_bucket needs backup_interval: offsite copies are made of scheduled backups",
            ));
        }
        if self.shop_email.as_ref().is_some_and(|e| !e.contains('@')) {
            return Err(invalid("shop_email must be an email address"));
        }
        if self.admin_email.as_ref().is_some_and(|e| !e.contains('@') || self.admin_password.is_none()) {
            return Err(invalid("admin_email needs admin_password, and must be an email address"));
        }
        if self.password_hash_memory_kib < 8 || self.password_hash_iterations < 1 || self.password_hash_parallelism < 1
        {
            return Err(invalid("password_hash_* settings are below argon2's minimum (8 KiB, 1 pass, 1 lane)"));
        }
        if self.tax_rate < Decimal::ZERO || self.tax_rate > Decimal::ONE {
            return Err(invalid("tax_rate must be between 0 and 1 (0.08 is 8%)"));
        }
        if self.free_shipping_threshold < Decimal::ZERO || self.shipping_flat_rate < Decimal::ZERO {
            return Err(invalid("free_shipping_threshold and shipping_flat_rate cannot be negative"));
        }
        Ok(())
    }

    /// `public_url` without a trailing `/`: what the URLs a response shows start with.
    pub fn public_base(&self) -> Option<std::sync::Arc<str>> {
        self.public_url.as_deref().map(|u| u.trim_end_matches('/').into())
    }

    /// `allowed_origins` as a list.
    pub fn origins(&self) -> Vec<String> {
        self.allowed_origins
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The general limit per client IP: as set, or 100 in production and 1,000 in development
    /// (a developer building a storefront reloads a lot).
    pub fn general_rate_limit(&self) -> u32 {
        self.rate_limit_max_requests.unwrap_or(if self.is_production() { 100 } else { 1_000 })
    }

    /// The shop's timezone, or why `timezone` is not one.
    pub fn tz(&self) -> Result<chrono_tz::Tz, String> {
        self.timezone.parse().map_err(|_| {
            format!("timezone: `{}` is not an IANA timezone name (like `UTC` or `Europe/Berlin`)", self.timezone)
        })
    }

    /// The payment provider, or why this configuration cannot take money safely.
    pub fn payments(&self) -> Result<PaymentProvider, String> {
        let chosen = self.payment_provider.unwrap_or(match self.stripe_secret_key {
            Some(_) => PaymentProvider::Stripe,
            None => PaymentProvider::Offline,
        });
        match chosen {
            PaymentProvider::Stripe if self.stripe_secret_key.is_none() => {
                Err("payment_provider = stripe needs stripe_secret_key (STRIPE_SECRET_KEY)".into())
            }
            PaymentProvider::Offline if self.is_production() => {
                Err("production needs a real payment provider: the offline one lets a customer confirm their own \
                 payment (demos only). Set STRIPE_SECRET_KEY for cards, or PAYMENT_PROVIDER=manual for cash on \
                 delivery or bank transfer (an admin then marks orders paid)"
                    .into())
            }
            p => Ok(p),
        }
    }

    /// How long an unpaid order holds its stock; `None`: for ever.
    pub fn unpaid_order_expiry(&self) -> Option<chrono::Duration> {
        let default = if self.payments() == Ok(PaymentProvider::Stripe) { 60 } else { 0 };
        match self.unpaid_order_expiry_minutes.unwrap_or(default) {
            0 => None,
            m => Some(chrono::Duration::minutes(m as i64)),
        }
    }

    pub fn is_production(&self) -> bool {
        self.app_env == AppEnv::Production
    }
}

/// Figment's errors in words a shop owner can act on: where the value came from, what was
/// wrong with it, and for an unknown key the nearest known one.
fn describe(errors: figment::Error) -> String {
    use figment::error::Kind;
    let lines: Vec<String> = errors
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let place = match &e.metadata {
                Some(m) if m.name.contains("environment") => format!("{} (environment variable)", key.to_uppercase()),
                Some(m) => match &m.source {
                    Some(source) => format!("{key} in {source}"),
                    None => key.clone(),
                },
                None => key.clone(),
            };
            match &e.kind {
                Kind::UnknownField(field, expected) => {
                    let near = nearest(field, expected).map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
                    let file = e.metadata.as_ref().and_then(|m| m.source.as_ref()).map(|s| format!(" in {s}"));
                    format!("unknown setting `{field}`{}{near}", file.unwrap_or_default())
                }
                Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
                    format!("{place}: {actual} is not {}", in_words(expected))
                }
                Kind::UnknownVariant(value, expected) => {
                    format!("{place}: `{value}` is not one of {}", expected.join(", "))
                }
                _ => e.to_string(),
            }
        })
        .collect();
    lines.join("; ")
}

/// serde's name of an expected type, as a person says it.
fn in_words(expected: &str) -> String {
    match expected {
        "u16" => "a whole number from 0 to 65535".into(),
        "u32" | "u64" | "usize" => "a whole number, 0 or more".into(),
        "i32" | "i64" => "a whole number".into(),
        "a boolean" => "true or false".into(),
        e if e.contains("Decimal") => "a number like 0.08 or 9.99".into(),
        e if e.contains("socket address") => "an address with a port, like 127.0.0.1:9100".into(),
        other => other.to_string(),
    }
}

/// The known name closest to a misspelt one, when it is close enough to be what was meant.
fn nearest<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let here = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(here + 1);
                prev = here;
            }
        }
        row[b.len()]
    }
    let given = given.to_lowercase();
    known.iter().map(|k| (distance(&given, k), *k)).filter(|(d, k)| *d <= (k.len() / 3).max(2)).min().map(|(_, k)| k)
}

/// The environment variables shopd knows, as a provider whose errors name the variable.
struct EnvVars(Dict);

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable").interpolater(|_, keys| keys.join(".").to_uppercase())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.0.clone()))
    }
}

/// An environment value as TOML would read it (numbers, booleans), else the string itself.
fn parse_env_value(raw: &str) -> figment::value::Value {
    let raw = raw.trim();
    if let Ok(b) = raw.parse::<bool>() {
        return b.into();
    }
    // Only where the number prints back as written: `00123456` or `1.50` stay strings (a
    // password or a code), and numeric settings still read them.
    if let Ok(n) = raw.parse::<u64>().map_err(drop).and_then(|n| if n.to_string() == raw { Ok(n) } else { Err(()) }) {
        return n.into();
    }
    if let Ok(n) = raw.parse::<i64>().map_err(drop).and_then(|n| if n.to_string() == raw { Ok(n) } else { Err(()) }) {
        return n.into();
    }
    if let (true, Ok(f)) = (raw.contains('.'), raw.parse::<f64>())
        && f.to_string() == raw
    {
        return f.into();
    }
    raw.to_string().into()
}

/// Why a duration setting is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` is not a duration like 15m, 7d or 3600")]
    NotADuration(String),
    #[error("`{text}`: unknown unit `{unit}` (use s, m, h or d)")]
    UnknownUnit { text: String, unit: String },
    #[error("`{0}` must be between 1 second and 366 days")]
    OutOfRange(String),
}

/// Parses `900`, `30s`, `15m`, `24h` or `7d`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| DurationError::NotADuration(text.to_string()))?;
    let unit_secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(DurationError::UnknownUnit { text: text.to_string(), unit: unit.to_string() }),
    };
    let secs = n.checked_mul(unit_secs).filter(|s| *s > 0 && *s <= 366 * 86_400);
    let Some(secs) = secs else {
        return Err(DurationError::OutOfRange(text.to_string()));
    };
    Ok(Duration::from_secs(secs))
}

/// String fields that also accept what a TOML file or the environment parses as a number or a
/// boolean (`SMTP_PASS=12345678` must stay a string).
mod lenient {
    use super::*;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        U(u64),
        I(i64),
        F(f64),
        B(bool),
    }

    impl From<Scalar> for String {
        fn from(s: Scalar) -> String {
            match s {
                Scalar::S(s) => s,
                Scalar::U(n) => n.to_string(),
                Scalar::I(n) => n.to_string(),
                Scalar::F(n) => n.to_string(),
                Scalar::B(b) => b.to_string(),
            }
        }
    }

    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Scalar::deserialize(d).map(String::from)
    }

    pub fn opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
        Ok(opt_string(d)?.map(Secret))
    }

    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Option::<Scalar>::deserialize(d)?.map(String::from).filter(|s| !s.is_empty()))
    }
}
