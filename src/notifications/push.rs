//! Web Push: order notifications delivered to a customer's browser while the shop's tab is closed.
//!
//! Three RFCs make one push:
//! - **RFC 8030** (delivery). The browser subscribes with its push service (FCM for Chrome, Mozilla's
//!   autopush for Firefox, Apple's for Safari) and hands us an *endpoint* URL. To notify, we POST the
//!   message to that URL; the service answers `201 Created` and holds the message for at most `TTL`
//!   seconds until the browser is online. `404`/`410` mean the subscription is gone for good.
//! - **RFC 8291** (payload encryption). The push service must not read orders, so the body is
//!   encrypted for the browser alone: an ECDH over P-256 with the subscription's `p256dh` key, mixed
//!   with its 16-byte `auth` secret, keys AES-128-GCM in the `aes128gcm` content coding of RFC 8188.
//! - **RFC 8292** (VAPID). Each request carries `Authorization: vapid t=<JWT>, k=<public key>`: an
//!   ES256 JWT, signed with the shop's VAPID key, whose `aud` is the endpoint's origin. The browser
//!   subscribed with that public key (`applicationServerKey`), so the service accepts pushes to the
//!   subscription only from whoever holds the private key. Losing or changing the key orphans every
//!   subscription, which is why it is kept in the data dir like the other secrets.
//!
//! The encryption comes from `web-push-native` (rust-crypto primitives, no HTTP client of its own, so
//! we send with the reqwest client the shop already has). Its default `vapid` feature is left off, and
//! the JWT is signed here with `jsonwebtoken`, which the shop already uses, for two reasons: the
//! crate's `aud` is `scheme://host` without the port, which RFC 8292 §2 (the RFC 6454 origin) and any
//! push service on a non-default port reject; and it ties the JWT's `exp` to the message's TTL, so a
//! TTL of 0 gives an already expired token and a TTL over a day one that services refuse. The feature
//! would also add over thirty crates (jwt-simple with RSA, Ed25519 and ML-DSA support) to sign one
//! ES256 token.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE_NO_PAD, URL_SAFE_NO_PAD_INDIFFERENT};
use http::header::{AUTHORIZATION, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngExt as _;
use serde::{Deserialize, Serialize};
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint as _;
use web_push_native::p256::pkcs8::EncodePrivateKey as _;
use web_push_native::{Auth, WebPushBuilder, p256};

/// How long a VAPID token is valid. RFC 8292 §2 forbids an `exp` more than 24 hours after the request
/// and services enforce it; 12 hours (what most push libraries use) leaves room for clocks that differ.
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The largest payload one push can carry. Push services need accept only 4096 bytes of body (RFC 8030
/// §7.2, RFC 8291 §4); the aes128gcm header takes 86 (salt 16, record size 4, key id length 1, the
/// sender's key 65) and the single record's padding delimiter and GCM tag 17 more.
pub const MAX_PAYLOAD: usize = 4096 - 86 - 17;

/// The name of the key's file in the data dir.
const KEY_FILE: &str = "vapid-key";

/// The shop's VAPID key pair (RFC 8292): ES256, i.e. ECDSA over P-256 with SHA-256.
pub struct Vapid {
    /// The private key as PKCS#8 DER, the form jsonwebtoken signs ES256 with.
    signing: EncodingKey,
    /// base64url of the uncompressed public point, computed once: every request sends it.
    public_key: String,
}

impl std::fmt::Debug for Vapid {
    /// The public half only: the private key must not end up in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vapid").field("public_key", &self.public_key).finish_non_exhaustive()
    }
}

impl Vapid {
    /// The key pair from `configured` (VAPID_PRIVATE_KEY: base64url of the 32-byte private scalar) if
    /// given, else from `<data_dir>/vapid-key`, which is made (random, mode 0600) on first start.
    pub fn load_or_create(data_dir: &Path, configured: Option<&str>) -> anyhow::Result<Vapid> {
        if let Some(text) = configured {
            return Vapid::from_private_key(text).context("VAPID_PRIVATE_KEY");
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                return Vapid::from_private_key(&text).with_context(|| {
                    // A broken file is not replaced: a new key would orphan every subscription.
                    format!("{} (remove it to make a new key; every push subscription is then lost)", path.display())
                });
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| path.display().to_string());
            }
            Err(_) => {}
        }
        let secret = random_secret_key();
        let text = URL_SAFE_NO_PAD.encode(secret.to_bytes());
        let mut options = std::fs::OpenOptions::new();
        // create_new: never overwrite a key that appeared meanwhile (another process on the same dir).
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).with_context(|| path.display().to_string())?;
        file.write_all(text.as_bytes()).and_then(|_| file.sync_all()).with_context(|| path.display().to_string())?;
        tracing::info!(path = %path.display(), "generated a VAPID key for web push");
        Vapid::from_secret(&secret)
    }

    /// From base64url (padded or not) of the 32-byte private scalar, as `load_or_create` stores it.
    fn from_private_key(text: &str) -> anyhow::Result<Vapid> {
        let bytes = URL_SAFE_NO_PAD_INDIFFERENT.decode(text.trim()).context("not base64url")?;
        // from_slice alone would also take 24 to 31 bytes, zero-padded: a truncated key must not pass.
        anyhow::ensure!(bytes.len() == 32, "a P-256 private key is 32 bytes, this is {}", bytes.len());
        let secret = p256::SecretKey::from_slice(&bytes).map_err(|_| anyhow::anyhow!("not a P-256 private key"))?;
        Vapid::from_secret(&secret)
    }

    fn from_secret(secret: &p256::SecretKey) -> anyhow::Result<Vapid> {
        let der = secret.to_pkcs8_der().map_err(|e| anyhow::anyhow!("encoding the VAPID key: {e}"))?;
        let public_key = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes());
        Ok(Vapid { signing: EncodingKey::from_ec_der(der.as_bytes()), public_key })
    }

    /// base64url (no padding) of the uncompressed SEC1 public key (65 bytes, starting 0x04): the
    /// browser's `applicationServerKey`, shown as `vapidPublicKey` by `GET /shop`.
    pub fn public_key(&self) -> String {
        self.public_key.clone()
    }
}

/// A random P-256 private key. The crate's own generator wants a rand_core 0.6 RNG; the shop's rand is
/// 0.10, so draw bytes and retry on the (about 2^-32 likely) value that is no scalar.
fn random_secret_key() -> p256::SecretKey {
    loop {
        let bytes: [u8; 32] = rand::rng().random();
        if let Ok(key) = p256::SecretKey::from_slice(&bytes) {
            return key;
        }
    }
}

/// A browser's push subscription, as `PushSubscription.toJSON()` gives it (its `keys` flattened).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The push service's URL for this browser. It works as a capability: keep it out of logs.
    pub endpoint: String,
    /// base64url of the browser's P-256 public key (65 bytes, uncompressed).
    pub p256dh: String,
    /// base64url of the browser's 16-byte authentication secret.
    pub auth: String,
}

/// Checks a subscription's keys as a browser sent them, so that a bad one is refused when it is
/// registered rather than failing at every notification.
pub fn check_keys(p256dh: &str, auth: &str) -> Result<(), String> {
    decode_keys(p256dh, auth).map(|_| ())
}

fn decode_keys(p256dh: &str, auth: &str) -> Result<(p256::PublicKey, Auth), String> {
    let point = URL_SAFE_NO_PAD_INDIFFERENT.decode(p256dh.trim()).map_err(|_| "p256dh is not base64url".to_string())?;
    // RFC 8291 §3.2: the key is an uncompressed point; from_sec1_bytes would also take a compressed one.
    if point.len() != 65 || point[0] != 0x04 {
        return Err(format!(
            "p256dh must be an uncompressed P-256 point (65 bytes starting 0x04), not {} bytes",
            point.len()
        ));
    }
    let key = p256::PublicKey::from_sec1_bytes(&point).map_err(|_| "p256dh is not a point on P-256".to_string())?;
    let secret = URL_SAFE_NO_PAD_INDIFFERENT.decode(auth.trim()).map_err(|_| "auth is not base64url".to_string())?;
    // Checked before Auth::clone_from_slice, which panics on any other length.
    if secret.len() != 16 {
        return Err(format!("auth must be 16 bytes, not {}", secret.len()));
    }
    Ok((key, Auth::clone_from_slice(&secret)))
}

/// The claims RFC 8292 §2 asks for, and no `nbf`/`iat`: a service whose clock is behind ours could
/// refuse a token that is "not yet valid".
#[derive(Serialize)]
struct VapidClaims<'a> {
    aud: &'a str,
    exp: u64,
    sub: &'a str,
}

/// The push of `payload` to `sub`: a POST to its endpoint with the body encrypted for the browser
/// (`Content-Encoding: aes128gcm`), `TTL: <ttl_secs>` (how long the service may hold it for an offline
/// browser; 0 = deliver now or drop) and the VAPID `Authorization`. `contact` is the JWT's `sub`, a
/// `mailto:` or `https:` URI where the push service's operator can reach the shop.
pub fn request(
    vapid: &Vapid,
    sub: &Subscription,
    contact: &str,
    payload: &[u8],
    ttl_secs: u64,
) -> Result<http::Request<Vec<u8>>, String> {
    // web-push-native sizes its one record to the payload; an empty one gives a record size of 17,
    // under RFC 8188's minimum of 18, which browsers refuse to decrypt.
    if payload.is_empty() {
        return Err("the push payload is empty".into());
    }
    // Refused here, not by the service: its 413 would be retried like any other failure, forever.
    if payload.len() > MAX_PAYLOAD {
        return Err(format!("the push payload is {} bytes, at most {MAX_PAYLOAD} fit", payload.len()));
    }
    // Apple's service, for one, refuses a token whose `sub` is neither.
    if !(contact.starts_with("mailto:") || contact.starts_with("https:")) {
        return Err(format!("the VAPID contact must be a mailto: or https: URI, not {contact:?}"));
    }
    let (ua_public, ua_auth) = decode_keys(&sub.p256dh, &sub.auth)?;
    let audience = origin(&sub.endpoint)?;
    let endpoint: http::Uri = sub.endpoint.parse().map_err(|e| format!("the endpoint is not a URI: {e}"))?;

    // The builder's valid duration is only the TTL header here: without its VAPID part it signs nothing.
    let mut req = WebPushBuilder::new(endpoint, ua_public, ua_auth)
        .with_valid_duration(Duration::from_secs(ttl_secs))
        .build(payload)
        .map_err(|e| format!("encrypting the push message: {e}"))?;

    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|_| "the clock is before 1970".to_string())?;
    let claims = VapidClaims { aud: &audience, exp: (now + TOKEN_LIFETIME).as_secs(), sub: contact };
    let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &vapid.signing)
        .map_err(|e| format!("signing the VAPID token: {e}"))?;
    let value = HeaderValue::try_from(format!("vapid t={token}, k={}", vapid.public_key))
        .map_err(|_| "the VAPID header is not a valid header value".to_string())?;
    req.headers_mut().insert(AUTHORIZATION, value);
    Ok(req)
}

/// The endpoint's origin (RFC 6454): scheme, host and a port other than the scheme's default, which is
/// what the JWT's `aud` must be and what the service compares it with.
fn origin(endpoint: &str) -> Result<String, String> {
    let url = url::Url::parse(endpoint).map_err(|e| format!("the endpoint is not a URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!("the endpoint must be an http(s) URL, not {}:", url.scheme()));
    }
    Ok(url.origin().ascii_serialization())
}

/// How much of a push service's answer is read: enough for its error text, and the connection can be
/// reused when the whole (usually empty) body has been read.
const RESPONSE_BODY_LIMIT: usize = 16 * 1024;

/// Sends a request made by [`request`] and returns the push service's status code. Timeouts and
/// redirects are the client's: give it a timeout, and no redirects (push services do not redirect, and
/// an endpoint is a URL a browser chose).
pub async fn send(client: &reqwest::Client, req: http::Request<Vec<u8>>) -> Result<u16, String> {
    // without_url: the endpoint is a capability and has no place in an error that gets logged.
    let req = reqwest::Request::try_from(req).map_err(|e| format!("the push request: {}", e.without_url()))?;
    let mut response = client.execute(req).await.map_err(|e| format!("the push service: {}", e.without_url()))?;
    let status = response.status();
    let mut body = Vec::new();
    while body.len() < RESPONSE_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            // The status is what counts; a body cut short changes nothing.
            Ok(None) | Err(_) => break,
        }
    }
    if !status.is_success() {
        // Services explain a refusal (a VAPID key that does not match the subscription, a bad
        // token) in the body; there is nothing else to go on.
        let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
        tracing::warn!(status = status.as_u16(), response = %text, "the push service refused a message");
    }
    Ok(status.as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    const CONTACT: &str = "mailto:shop@example.com";

    /// A browser's side of a subscription: its private key, and the subscription it would send us.
    fn browser(endpoint: &str) -> (p256::SecretKey, Auth, Subscription) {
        let secret = random_secret_key();
        let auth: [u8; 16] = rand::rng().random();
        let sub = Subscription {
            endpoint: endpoint.to_string(),
            p256dh: URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes()),
            auth: URL_SAFE_NO_PAD.encode(auth),
        };
        (secret, Auth::clone_from_slice(&auth), sub)
    }

    fn vapid() -> (tempfile::TempDir, Vapid) {
        let dir = tempfile::tempdir().unwrap();
        let vapid = Vapid::load_or_create(dir.path(), None).unwrap();
        (dir, vapid)
    }

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    /// The `t` and `k` of `Authorization: vapid t=..., k=...`.
    fn vapid_header(req: &http::Request<Vec<u8>>) -> (String, String) {
        let value = req.headers()[AUTHORIZATION].to_str().unwrap();
        let rest = value.strip_prefix("vapid t=").unwrap_or_else(|| panic!("not a vapid header: {value}"));
        let (t, k) = rest.split_once(", k=").unwrap();
        (t.to_string(), k.to_string())
    }

    /// Verifies the JWT's ES256 signature with the public key `k` and returns its claims.
    fn verified_claims(token: &str, k: &str, audience: &str) -> serde_json::Value {
        let point = URL_SAFE_NO_PAD.decode(k).unwrap();
        assert_eq!((point.len(), point[0]), (65, 4), "k is an uncompressed point");
        let key = DecodingKey::from_ec_components(
            &URL_SAFE_NO_PAD.encode(&point[1..33]),
            &URL_SAFE_NO_PAD.encode(&point[33..]),
        )
        .unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).unwrap().claims
    }

    #[test]
    fn the_browser_decrypts_what_was_sent() {
        let (_dir, vapid) = vapid();
        let (secret, auth, sub) = browser("https://fcm.googleapis.com/fcm/send/abc:APA91bXyz");
        let payload = br#"{"title":"Order #1042 shipped","url":"/orders/1042"}"#;
        let req = request(&vapid, &sub, CONTACT, payload, 3600).unwrap();

        assert_eq!(req.method(), http::Method::POST);
        assert_eq!(req.uri(), "https://fcm.googleapis.com/fcm/send/abc:APA91bXyz");
        assert_eq!(req.headers()["ttl"], "3600");
        assert_eq!(req.headers()["content-encoding"], "aes128gcm");
        assert_eq!(req.headers()["content-length"], req.body().len().to_string().as_str());
        assert_eq!(req.body().len(), 86 + payload.len() + 17);

        let plain = web_push_native::decrypt(req.body().clone(), &secret, &auth).unwrap();
        assert_eq!(plain, payload);
    }

    #[test]
    fn the_token_is_signed_for_the_endpoints_origin() {
        let (_dir, vapid) = vapid();
        for (endpoint, audience) in [
            ("https://fcm.googleapis.com/fcm/send/abc", "https://fcm.googleapis.com"),
            // A default port is no part of an origin; any other port is (the crate's own token drops it).
            ("https://updates.push.services.mozilla.com:443/wpush/v2/x", "https://updates.push.services.mozilla.com"),
            ("http://127.0.0.1:8099/push/abc?x=1", "http://127.0.0.1:8099"),
        ] {
            let (_, _, sub) = browser(endpoint);
            let req = request(&vapid, &sub, CONTACT, b"hi", 0).unwrap();
            let (token, k) = vapid_header(&req);
            assert_eq!(k, vapid.public_key());
            let claims = verified_claims(&token, &k, audience);
            assert_eq!(claims["aud"], audience);
            assert_eq!(claims["sub"], CONTACT);
            let exp = claims["exp"].as_u64().unwrap();
            // Valid for a while even with TTL 0, and never past RFC 8292's 24 hours.
            assert!(exp > now() + 3600 && exp <= now() + 24 * 3600, "exp {exp}");
            assert!(claims.get("nbf").is_none());
            assert_eq!(req.headers()["ttl"], "0");
        }
    }

    #[test]
    fn a_token_does_not_verify_with_another_key() {
        let (_dir, vapid) = vapid();
        let (_dir2, other) = self::vapid();
        let (_, _, sub) = browser("https://push.example.net/x");
        let (token, _) = vapid_header(&request(&vapid, &sub, CONTACT, b"hi", 60).unwrap());
        let point = URL_SAFE_NO_PAD.decode(other.public_key()).unwrap();
        let key = DecodingKey::from_ec_components(
            &URL_SAFE_NO_PAD.encode(&point[1..33]),
            &URL_SAFE_NO_PAD.encode(&point[33..]),
        )
        .unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["https://push.example.net"]);
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).is_err());
    }

    #[test]
    fn the_key_is_made_once_and_kept_secret() {
        let dir = tempfile::tempdir().unwrap();
        let first = Vapid::load_or_create(dir.path(), None).unwrap();
        let again = Vapid::load_or_create(dir.path(), None).unwrap();
        assert_eq!(first.public_key(), again.public_key());

        let public = URL_SAFE_NO_PAD.decode(first.public_key()).unwrap();
        assert_eq!((public.len(), public[0]), (65, 0x04));
        assert!(!first.public_key().contains('='));

        let path = dir.path().join(KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        // The configured key wins over the file, and is the same format.
        let text = std::fs::read_to_string(&path).unwrap();
        let configured = Vapid::load_or_create(Path::new("/nonexistent"), Some(&text)).unwrap();
        assert_eq!(configured.public_key(), first.public_key());
        assert!(!format!("{first:?}").contains(&text), "Debug shows no private key");
    }

    #[test]
    fn a_bad_key_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "not base64!", &URL_SAFE_NO_PAD.encode([7u8; 31]), &URL_SAFE_NO_PAD.encode([0u8; 32])] {
            assert!(Vapid::load_or_create(dir.path(), Some(bad)).is_err(), "{bad:?}");
        }
        let path = dir.path().join(KEY_FILE);
        std::fs::write(&path, "garbage").unwrap();
        let err = format!("{:#}", Vapid::load_or_create(dir.path(), None).unwrap_err());
        assert!(err.contains("vapid-key"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "garbage");
    }

    #[test]
    fn check_keys_takes_what_browsers_send() {
        let (_, _, sub) = browser("https://push.example.net/x");
        assert_eq!(check_keys(&sub.p256dh, &sub.auth), Ok(()));
        // Padded base64url too.
        let padded = |s: &str| format!("{s}{}", "=".repeat((4 - s.len() % 4) % 4));
        assert_eq!(check_keys(&padded(&sub.p256dh), &padded(&sub.auth)), Ok(()));
    }

    #[test]
    fn check_keys_refuses_bad_keys() {
        let (secret, _, sub) = browser("https://push.example.net/x");
        let short_auth = check_keys(&sub.p256dh, &URL_SAFE_NO_PAD.encode([1u8; 8])).unwrap_err();
        assert!(short_auth.contains("auth must be 16 bytes"), "{short_auth}");
        assert!(check_keys(&sub.p256dh, "%%%").unwrap_err().contains("auth"));

        assert!(check_keys("garbage!", &sub.auth).unwrap_err().contains("p256dh"));
        let not_a_point = check_keys(&URL_SAFE_NO_PAD.encode([4u8; 65]), &sub.auth).unwrap_err();
        assert!(not_a_point.contains("not a point"), "{not_a_point}");
        let compressed = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(true).as_bytes());
        assert!(check_keys(&compressed, &sub.auth).unwrap_err().contains("uncompressed"));
    }

    #[test]
    fn request_refuses_what_would_fail_later() {
        let (_dir, vapid) = vapid();
        let (_, _, sub) = browser("https://push.example.net/x");
        assert!(request(&vapid, &sub, CONTACT, b"", 60).is_err());
        assert!(request(&vapid, &sub, CONTACT, &vec![b'x'; MAX_PAYLOAD + 1], 60).is_err());
        let largest = request(&vapid, &sub, CONTACT, &vec![b'x'; MAX_PAYLOAD], 60).unwrap();
        assert_eq!(largest.body().len(), 4096);
        assert!(request(&vapid, &sub, "shop@example.com", b"hi", 60).is_err());
        let ftp = Subscription { endpoint: "ftp://push.example.net/x".into(), ..sub.clone() };
        assert!(request(&vapid, &ftp, CONTACT, b"hi", 60).is_err());
        let bad_auth = Subscription { auth: "AAAA".into(), ..sub };
        assert!(request(&vapid, &bad_auth, CONTACT, b"hi", 60).is_err());
    }

    #[tokio::test]
    async fn send_posts_the_request_and_returns_the_status() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 8192];
            // Headers, then as many body bytes as Content-Length says.
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen).to_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    if seen.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            socket.write_all(b"HTTP/1.1 410 Gone\r\ncontent-length: 4\r\n\r\ngone").await.unwrap();
            seen
        });

        let (_dir, vapid) = vapid();
        let (secret, auth, sub) = browser(&format!("http://127.0.0.1:{port}/push/abc"));
        let req = request(&vapid, &sub, CONTACT, b"shipped", 60).unwrap();
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        assert_eq!(send(&client, req).await, Ok(410));

        let seen = server.await.unwrap();
        let end = seen.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&seen[..end]).to_lowercase();
        assert!(head.starts_with("post /push/abc http/1.1\r\n"), "{head}");
        assert!(head.contains("\r\nttl: 60"), "{head}");
        assert!(head.contains("\r\ncontent-encoding: aes128gcm"), "{head}");
        assert!(head.contains("\r\nauthorization: vapid t="), "{head}");
        assert_eq!(head.matches("content-length:").count(), 1, "{head}");
        let plain = web_push_native::decrypt(seen[end + 4..].to_vec(), &secret, &auth).unwrap();
        assert_eq!(plain, b"shipped");
    }

    #[tokio::test]
    async fn send_reports_an_unreachable_service_without_its_url() {
        // A port nothing listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (_dir, vapid) = vapid();
        let (_, _, sub) = browser(&format!("http://127.0.0.1:{port}/push/secret-token"));
        let req = request(&vapid, &sub, CONTACT, b"hi", 60).unwrap();
        let err = send(&reqwest::Client::new(), req).await.unwrap_err();
        assert!(!err.contains("secret-token"), "{err}");
    }
}
