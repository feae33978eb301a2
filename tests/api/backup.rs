//! The whole shop in one archive: taken while orders are written, it restores to a shop with
//! the same records, images and signing secret; a damaged archive changes nothing; scheduled
//! archives are pruned to the newest few.

use std::time::Duration;

use poem::http::StatusCode;
use serde_json::json;
use shopd::startup::App;

use crate::helpers::{TestApp, send};

pub fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(16, 16, |x, y| image::Rgb([x as u8 * 16, y as u8 * 16, 7]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_archive_taken_under_load_restores_records_images_and_the_secret() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let product = json!({"title": "Kept", "description": "d", "price": 3.5, "stock": 100000, "brand": "B",
        "category": "c", "sku": "KEPT-1"});
    let pid =
        send(app.post_as("/api/v1/products", &admin).body_json(&product)).await.json()["data"]["id"].as_u64().unwrap();
    let form =
        poem::test::TestForm::new().field(poem::test::TestFormField::bytes(png()).name("images").filename("a.png"));
    let r = send(app.post_as(&format!("/api/v1/products/{pid}/images"), &admin).multipart(form)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let image = r.json()["data"]["images"][0].as_str().unwrap().to_string();
    let image_bytes = send(app.get(&image)).await.body;
    let buyer = app.user("kept@shop.test").await;
    for _ in 0..5 {
        app.placed(&buyer, &[(pid, 1)]).await;
    }

    // Orders go on while the archive is taken.
    let app = std::sync::Arc::new(app);
    let writer = {
        let (app, buyer) = (app.clone(), buyer.clone());
        tokio::spawn(async move {
            let mut placed = 0;
            for _ in 0..60 {
                if app.place_order(&buyer, &[(pid, 1)]).await.status == StatusCode::CREATED {
                    placed += 1;
                }
            }
            placed
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (mut settings, store) = ((*app.state.settings).clone(), app.state.store.clone());
    let backups = tempfile::tempdir().unwrap();
    settings.smtp_pass = Some(shopd::config::Secret::new("hunter2-smtp-pass"));
    settings.metrics_token = Some(shopd::config::Secret::new("hunter2-metrics-token"));
    settings.backup_dir = Some(backups.path().to_path_buf());
    let (archive, packed) =
        tokio::task::spawn_blocking(move || shopd::backup::scheduled_once(&settings, &store)).await.unwrap().unwrap();
    let placed = writer.await.unwrap();
    assert!(packed.files >= 4, "store, image, thumbnail, secret, settings: {packed:?}");

    let restored = tempfile::tempdir().unwrap();
    let target = restored.path().join("data");
    let manifest = shopd::backup::restore(&target, &archive, None, None).unwrap().expect("an archive");
    assert!(manifest.jwt_secret_included);
    let raw = String::from_utf8_lossy(&std::fs::read(&archive).unwrap()).into_owned();
    assert!(raw.contains("\"backup_keep\"") && !raw.contains("hunter2"), "settings, never a credential");
    assert!(target.join("jwt-secret").is_file() && !target.join("settings.json").exists());

    let mut s = crate::helpers::test_settings(&restored);
    s.data_dir = target.clone();
    let again = App::build(s).await.unwrap();
    let client = poem::test::TestClient::new(again.endpoint(again.routes()));
    // A token issued before the backup still verifies: the secret came along.
    let me = client.get("/api/v1/users/me").header("Authorization", buyer.bearer()).send().await;
    me.assert_status_is_ok();
    let orders = client.get("/api/v1/orders?limit=1").header("Authorization", buyer.bearer()).send().await;
    let orders: serde_json::Value = serde_json::from_str(&orders.0.into_body().into_string().await.unwrap()).unwrap();
    let total = orders["data"]["total"].as_u64().unwrap();
    assert!((5..=5 + placed).contains(&total), "{total} of 5..={}", 5 + placed);
    let p = client.get(format!("/api/v1/products/{pid}")).send().await;
    let p: serde_json::Value = serde_json::from_str(&p.0.into_body().into_string().await.unwrap()).unwrap();
    assert_eq!(p["data"]["stock"].as_u64(), Some(100000 - total), "stock and orders from one snapshot");
    let served = client.get(&image).send().await;
    served.assert_status_is_ok();
    assert_eq!(served.0.into_body().into_vec().await.unwrap(), image_bytes, "the image came along");

    // Into a data dir that is not empty: refused.
    let err = shopd::backup::restore(&target, &archive, None, None).unwrap_err().to_string();
    assert!(err.contains("not empty"), "{err}");
}

#[test]
fn a_damaged_or_truncated_archive_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut settings = crate::helpers::test_settings(&dir);
    settings.backup_dir = Some(dir.path().join("backups"));
    let app = runtime.block_on(App::build(settings.clone())).unwrap();
    let (archive, _) = shopd::backup::scheduled_once(&settings, &app.state.store).unwrap();
    let bytes = std::fs::read(&archive).unwrap();

    let mut flipped = bytes.clone();
    flipped[700] ^= 0x55; // inside the store entry's data
    let truncated = bytes[..bytes.len() - 2048].to_vec();
    for (what, damaged, says) in [("flipped", flipped, "checksum"), ("truncated", truncated, "")] {
        let file = dir.path().join(format!("{what}.tar"));
        std::fs::write(&file, damaged).unwrap();
        let target = dir.path().join(format!("restored-{what}"));
        let err = format!("{:#}", shopd::backup::restore(&target, &file, None, None).unwrap_err());
        assert!(err.contains(says) && (err.contains("damaged") || err.contains("incomplete")), "{what}: {err}");
        assert!(!target.exists() || std::fs::read_dir(&target).unwrap().next().is_none(), "{what}: nothing written");
    }
    runtime.block_on(app.state.jobs.shutdown(Duration::from_secs(1)));
}

#[test]
fn scheduled_backups_keep_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut settings = crate::helpers::test_settings(&dir);
    settings.backup_dir = Some(dir.path().join("backups"));
    settings.backup_keep = 2;
    let app = runtime.block_on(App::build(settings.clone())).unwrap();
    let mut made = Vec::new();
    for _ in 0..4 {
        made.push(shopd::backup::scheduled_once(&settings, &app.state.store).unwrap().0);
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut left: Vec<_> = std::fs::read_dir(dir.path().join("backups")).unwrap().map(|e| e.unwrap().path()).collect();
    left.sort();
    assert_eq!(left, made[2..].to_vec(), "the two newest stay");
    runtime.block_on(app.state.jobs.shutdown(Duration::from_secs(1)));
}

/// moto's S3 server: `MOTO_SERVER`, or the one `.ci/run` installs into target/moto-venv.
fn moto() -> Option<std::path::PathBuf> {
    let installed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/moto-venv/bin/moto_server");
    std::env::var_os("MOTO_SERVER").map(Into::into).or_else(|| installed.is_file().then_some(installed))
}

struct Moto(std::process::Child, u16);

impl Moto {
    fn start(bin: &std::path::Path) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = std::process::Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server starts");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Moto(child, port);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("moto_server did not listen on {port}");
    }
}

impl Moto {
    /// Makes a bucket: moto takes any signature, so a bare PUT does.
    fn bucket(&self, name: &str) {
        let request =
            format!("PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let (status, _) = crate::helpers::raw_request(([127, 0, 0, 1], self.1).into(), &request);
        assert_eq!(status, 200, "bucket {name}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsite_backups_are_encrypted_sent_pruned_and_restored() {
    let Some(bin) = moto() else {
        assert!(std::env::var_os("REQUIRE_S3_TEST").is_none(), "REQUIRE_S3_TEST is set but moto_server is missing");
        eprintln!("skipped: no moto_server (MOTO_SERVER or target/moto-venv; .ci/run installs it)");
        return;
    };
    let moto = Moto::start(&bin);
    let endpoint = format!("http://127.0.0.1:{}", moto.1);
    moto.bucket("shop-backups");
    let backups = tempfile::tempdir().unwrap();
    let passphrase = "correct horse battery staple";
    let app = TestApp::with(
        |s| {
            s.backup_interval = Some("1h".into());
            s.backup_dir = Some(backups.path().to_path_buf());
            s.backup_keep = 2;
            s.backup_encryption_key = Some(shopd::config::Secret::new(passphrase));
            s.backup_s3_bucket = Some("shop-backups".into());
            s.backup_s3_endpoint = Some(endpoint.clone());
            s.backup_s3_access_key_id = Some(shopd::config::Secret::new("AKIDSHOPDTEST"));
            s.backup_s3_secret_access_key = Some(shopd::config::Secret::new("shopd-s3-secret-never-archived"));
        },
        |r| r,
    )
    .await;
    let buyer = app.user("offsite@shop.test").await;
    let offsite = shopd::backup::offsite::Offsite::from_settings(&app.state.settings).unwrap().expect("configured");
    for _ in 0..3 {
        shopd::backup::backup_now(&app.state, Some(&offsite)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let objects = offsite.list().await.unwrap();
    assert_eq!(objects.len(), 2, "pruned to BACKUP_KEEP: {objects:?}");
    assert!(objects.iter().all(|o| o.as_ref().starts_with("shopd/shopd-")), "{objects:?}");

    let fetched = backups.path().join("fetched.tar.age");
    offsite.fetch(objects.last().unwrap(), &fetched).await.unwrap();
    let sealed = std::fs::read(&fetched).unwrap();
    let secret = std::fs::read(app.state.settings.data_dir.join("jwt-secret")).unwrap();
    assert!(sealed.starts_with(b"age-encryption.org/v1"), "encrypted before it left");
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_slice()), "the signing secret is not readable");

    let wrong = backups.path().join("wrong");
    assert!(shopd::backup::restore(&wrong, &fetched, None, Some("not the passphrase at all")).is_err());
    let target = backups.path().join("restored");
    shopd::backup::restore(&target, &fetched, None, Some(passphrase)).unwrap().expect("an archive");
    assert_eq!(std::fs::read(target.join("jwt-secret")).unwrap(), secret);
    let plain = backups.path().join("plain.tar");
    shopd::backup::offsite::decrypt(&fetched, &plain, None, Some(passphrase)).unwrap();
    let raw = String::from_utf8_lossy(&std::fs::read(&plain).unwrap()).into_owned();
    assert!(!raw.contains("shopd-s3-secret-never-archived") && !raw.contains("AKIDSHOPDTEST"), "no storage credential");
    assert!(!raw.contains(passphrase), "nor the encryption key");

    let mut s = crate::helpers::test_settings(&backups);
    s.data_dir = target;
    let again = App::build(s).await.unwrap();
    let client = poem::test::TestClient::new(again.endpoint(again.routes()));
    client.get("/api/v1/users/me").header("Authorization", buyer.bearer()).send().await.assert_status_is_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_can_live_in_a_bucket_and_are_served_and_deleted_there() {
    let Some(bin) = moto() else {
        assert!(std::env::var_os("REQUIRE_S3_TEST").is_none(), "REQUIRE_S3_TEST is set but moto_server is missing");
        eprintln!("skipped: no moto_server (MOTO_SERVER or target/moto-venv; .ci/run installs it)");
        return;
    };
    let moto = Moto::start(&bin);
    moto.bucket("shop-images");
    let endpoint = format!("http://127.0.0.1:{}", moto.1);
    let bucket = |s: &mut shopd::config::Settings| {
        s.uploads_s3_bucket = Some("shop-images".into());
        s.uploads_s3_endpoint = Some(endpoint.clone());
        s.uploads_s3_access_key_id = Some(shopd::config::Secret::new("AKIDSHOPDTEST"));
        s.uploads_s3_secret_access_key = Some(shopd::config::Secret::new("shopd-s3-secret"));
    };
    let app = TestApp::with(bucket, |r| r).await;
    let admin = app.admin().await;
    let product = json!({"title": "Cloud", "description": "d", "price": 3.5, "stock": 5, "brand": "B",
        "category": "c", "sku": "CLOUD-1"});
    let pid =
        send(app.post_as("/api/v1/products", &admin).body_json(&product)).await.json()["data"]["id"].as_u64().unwrap();
    let image = png();
    let form = poem::test::TestForm::new()
        .field(poem::test::TestFormField::bytes(image.clone()).name("images").filename("a.png"));
    let r = send(app.post_as(&format!("/api/v1/products/{pid}/images"), &admin).multipart(form)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let url = r.json()["data"]["images"][0].as_str().unwrap().to_string();
    let thumb = r.json()["data"]["thumbnail"].as_str().unwrap().to_string();
    assert!(url.starts_with("/uploads/products/"), "{url}");
    assert!(
        !app.state.settings.data_dir.join("uploads").join(url.trim_start_matches("/uploads/")).exists(),
        "not in the data dir"
    );

    // /uploads passes it through from the bucket: another shop on the same bucket, with an
    // empty data dir of its own, serves the same bytes.
    let other = TestApp::with(bucket, |r| r).await;
    let there = send(other.get(&url)).await;
    assert_eq!((there.status, there.body.clone()), (StatusCode::OK, image.clone()));
    let served = send(app.get(&url)).await;
    assert_eq!((served.status, served.header("content-type")), (StatusCode::OK, Some("image/png")));
    assert_eq!(served.body, image);
    assert_eq!(send(app.get(&thumb)).await.status, StatusCode::OK);
    assert_eq!(send(app.get("/uploads/products/nope.png")).await.status, StatusCode::NOT_FOUND);

    // A replaced avatar is deleted from the bucket.
    let user = app.user("cloud@shop.test").await;
    let avatar =
        || poem::test::TestForm::new().field(poem::test::TestFormField::bytes(png()).name("avatar").filename("me.png"));
    let first =
        send(app.post_as("/api/v1/users/me/avatar", &user).multipart(avatar())).await.json()["data"]["imageUrl"]
            .as_str()
            .unwrap()
            .to_string();
    assert_eq!(send(app.get(&first)).await.status, StatusCode::OK);
    let r = send(app.post_as("/api/v1/users/me/avatar", &user).multipart(avatar())).await;
    assert_eq!(r.status, StatusCode::OK);
    let mut gone = false;
    for _ in 0..100 {
        if send(app.get(&first)).await.status == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "the old avatar is deleted from the bucket");

    // With a public URL (a CDN in front of the bucket), /uploads redirects there.
    let cdn = TestApp::with(
        |s| {
            bucket(s);
            s.uploads_s3_public_url = Some("https://images.shop.test/".into());
        },
        |r| r,
    )
    .await;
    let r = send(cdn.get("/uploads/products/product-1-abc.png")).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.header("location"), Some("https://images.shop.test/products/product-1-abc.png"));
}
