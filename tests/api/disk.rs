//! A full disk, on a small tmpfs the test mounts (CI runs as root): writes answer 507 and keep
//! nothing half-done, reads go on, /ready says 503, and once space is back writes work again
//! without a restart; every acknowledged order is there.

use std::path::{Path, PathBuf};
use std::process::Command;

use poem::http::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_error, send};

/// A tmpfs of `mib` MiB, unmounted when dropped (before its mount point's temp dir goes).
struct SmallDisk(PathBuf, #[allow(dead_code)] tempfile::TempDir);

impl SmallDisk {
    fn mount(mib: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs", path.to_str().unwrap()])
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(path, dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem of `dir` with one file, to the last byte it takes.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![7u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    for _ in 0..64 {
        let _ = f.write_all(&[7u8; 512]);
    }
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_507_then_writes_come_back_without_a_restart() {
    let Some(disk) = SmallDisk::mount(24) else {
        assert!(!nix_root(), "root could not mount a tmpfs");
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let data = disk.0.join("data");
    let app = TestApp::with(|s| s.data_dir = data.clone(), |r| r).await;
    let admin = app.admin().await;
    let product = json!({"title": "Disk", "description": "d", "price": 1.0, "stock": 100000, "brand": "B",
        "category": "c", "sku": "DISK-1"});
    let r = send(app.post_as("/api/v1/products", &admin).body_json(&product)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let pid = r.json()["data"]["id"].as_u64().unwrap();
    let buyer = app.user("full@shop.test").await;
    assert_eq!(app.placed(&buyer, &[(pid, 1)]).await["status"], "PENDING");
    let mut acknowledged = 1u64;

    let filler = fill(&disk.0);
    let mut refused = None;
    for _ in 0..5000 {
        let r = app.place_order(&buyer, &[(pid, 1)]).await;
        match r.status.as_u16() {
            201 => acknowledged += 1,
            _ => {
                refused = Some(r);
                break;
            }
        }
    }
    let refused = refused.expect("the disk filled up");
    eprintln!("disk full after {acknowledged} orders");
    let body = assert_error(&refused, 507, "INSUFFICIENT_STORAGE");
    assert!(body["message"].as_str().unwrap().contains("disk"), "{body}");
    let again = app.place_order(&buyer, &[(pid, 1)]).await;
    assert_error(&again, 507, "INSUFFICIENT_STORAGE");
    let ready = send(app.get("/ready")).await;
    assert_eq!(ready.status.as_u16(), 503, "{}", ready.text());
    // Reads go on.
    let p = send(app.get(&format!("/api/v1/products/{pid}"))).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(p.json()["data"]["stock"], 100000 - acknowledged, "nothing half-done: {}", p.text());

    std::fs::remove_file(filler).unwrap();
    let mut back = false;
    for _ in 0..100 {
        if send(app.get("/ready")).await.status == StatusCode::OK {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(back, "ready again once space is back");
    assert_eq!(app.placed(&buyer, &[(pid, 1)]).await["status"], "PENDING", "writes work without a restart");
    acknowledged += 1;
    let mine = send(app.get_as("/api/v1/orders?limit=1", &buyer)).await.json();
    assert_eq!(mine["data"]["total"], acknowledged, "every acknowledged order is there");
    let p = send(app.get(&format!("/api/v1/products/{pid}"))).await.json();
    assert_eq!(p["data"]["stock"], 100000 - acknowledged);
}

fn nix_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
