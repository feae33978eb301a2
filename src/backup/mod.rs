//! `shopd backup`, `shopd restore` and the scheduled backups of a running server.
//!
//! A backup is one archive ([`archive`]): a store snapshot, the uploads, the signing secret and
//! the settings, with a manifest of checksums. The store file is locked by the process that has
//! it open, so the snapshot of a running server is made by the server itself: it listens on
//! `<data dir>/shopd.sock` (a Unix socket only its user can open) and writes a snapshot to the
//! file the command names. With no server running, the command opens the store itself. Either
//! way the store in the archive is one consistent snapshot.

pub mod archive;
pub mod offsite;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::UnixListener;

use crate::config::Settings;
use crate::store::{self, BackupInfo, STORE_FILE, Store, StoreError};

pub const SOCKET_FILE: &str = "shopd.sock";

/// The running server's end of the backup socket.
pub struct ControlSocket {
    task: tokio::task::JoinHandle<()>,
    path: PathBuf,
}

impl ControlSocket {
    pub fn start(store: Store, data_dir: &Path) -> std::io::Result<ControlSocket> {
        let path = data_dir.join(SOCKET_FILE);
        // We hold the store's lock, so a socket file left here is a crashed server's.
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, store.clone()));
            }
        });
        Ok(ControlSocket { task, path })
    }

    pub fn stop(self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One request: `backup <absolute path>` → `ok <bytes> <records>` or `error <message>`.
async fn answer(stream: tokio::net::UnixStream, store: Store) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    if AsyncBufReader::new(read).read_line(&mut line).await.is_err() {
        return;
    }
    let line = line.trim_end();
    if let Some(email) = line.strip_prefix("reset-2fa ") {
        let reply = match reset_2fa_in(&store, email).await {
            Ok(true) => "ok 1\n".to_string(),
            Ok(false) => "ok 0\n".to_string(),
            Err(e) => format!("error {e}\n"),
        };
        let _ = write.write_all(reply.as_bytes()).await;
        return;
    }
    let reply = match line.strip_prefix("backup ") {
        Some(out) => {
            let out = PathBuf::from(out);
            match tokio::task::spawn_blocking(move || store.backup_to(&out)).await {
                Ok(Ok(info)) => {
                    tracing::info!(bytes = info.bytes, records = info.records, "backup written");
                    format!("ok {} {}\n", info.bytes, info.records)
                }
                Ok(Err(e)) => format!("error {e}\n"),
                Err(e) => format!("error {e}\n"),
            }
        }
        None => "error unknown command\n".to_string(),
    };
    let _ = write.write_all(reply.as_bytes()).await;
}

/// `shopd backup --out FILE [--force]`: the store's snapshot through the running server if there
/// is one, else directly; then the archive. An existing FILE is kept unless `force`.
pub fn backup(settings: &Settings, out: &Path, force: bool) -> anyhow::Result<archive::Packed> {
    let data_dir = &settings.data_dir;
    if !data_dir.join(STORE_FILE).exists() {
        bail!("there is no store in {}", data_dir.display());
    }
    let out = absolute(out)?;
    if out.exists() && !force {
        bail!("{} already exists: choose another file, or pass --force to overwrite it", out.display());
    }
    let snapshot = out.with_extension("store.partial");
    let info = match Store::open(data_dir) {
        Ok(store) => {
            let info = store.backup_to(&snapshot);
            store.close();
            info?
        }
        Err(StoreError::Locked(_)) => ask_server(data_dir, &snapshot)?,
        Err(e) => return Err(e.into()),
    };
    let packed = archive::pack(settings, &snapshot, &info, &out);
    let _ = std::fs::remove_file(&snapshot);
    packed
}

/// One scheduled backup of the running server into `BACKUP_DIR`, then the oldest beyond
/// `BACKUP_KEEP` are deleted. Blocking: run it off the async runtime.
pub fn scheduled_once(settings: &Settings, store: &Store) -> anyhow::Result<(PathBuf, archive::Packed)> {
    let dir = backup_dir(settings);
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let name = format!("shopd-{}.tar", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"));
    let out = dir.join(name);
    let snapshot = out.with_extension("store.partial");
    let info = store.backup_to(&snapshot)?;
    let packed = archive::pack(settings, &snapshot, &info, &out);
    let _ = std::fs::remove_file(&snapshot);
    let packed = packed?;
    prune(&dir, settings.backup_keep as usize)?;
    Ok((out, packed))
}

pub fn backup_dir(settings: &Settings) -> PathBuf {
    settings.backup_dir.clone().unwrap_or_else(|| settings.data_dir.join("backups"))
}

/// Keeps the newest `keep` scheduled archives (their names sort by time) and deletes the rest.
pub fn prune(dir: &Path, keep: usize) -> anyhow::Result<Vec<PathBuf>> {
    let mut archives: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with("shopd-") && name.ends_with(".tar")
        })
        .collect();
    archives.sort();
    // What a failed run left behind (a backup is never running while this one prunes).
    for entry in std::fs::read_dir(dir)?.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("shopd-") && name.ends_with(".partial") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let old = archives.len().saturating_sub(keep);
    let gone: Vec<PathBuf> = archives.drain(..old).collect();
    for path in &gone {
        std::fs::remove_file(path).with_context(|| path.display().to_string())?;
    }
    Ok(gone)
}

/// Backs the shop up every `BACKUP_INTERVAL` while it serves, and sends each archive to the
/// bucket when one is configured.
pub async fn schedule(state: crate::state::AppState, every: std::time::Duration) {
    let offsite = match offsite::Offsite::from_settings(&state.settings) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "offsite backups are off");
            None
        }
    };
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tick.tick().await;
        if let Err(e) = backup_now(&state, offsite.as_ref()).await {
            tracing::error!(error = %format!("{e:#}"), "the scheduled backup failed");
        }
    }
}

/// One scheduled backup: the local archive, then its encrypted copy in the bucket.
pub async fn backup_now(state: &crate::state::AppState, offsite: Option<&offsite::Offsite>) -> anyhow::Result<PathBuf> {
    let (settings, store) = (state.settings.clone(), state.store.clone());
    let (path, p) = tokio::task::spawn_blocking(move || scheduled_once(&settings, &store)).await??;
    tracing::info!(path = %path.display(), bytes = p.bytes, records = p.records, "scheduled backup written");
    if let Some(offsite) = offsite {
        let object = offsite.send(&path).await?;
        tracing::info!(object = %object, "the backup was encrypted and sent offsite");
    }
    Ok(path)
}

/// Turns two-factor sign-in off for one account (audited): the way back for a user, or the
/// only admin, who lost the device and the recovery codes.
async fn reset_2fa_in(store: &Store, email: &str) -> Result<bool, crate::error::ApiError> {
    let email = email.to_string();
    store
        .write(move |w| {
            let Some(user) = crate::users::User::find_by_email_w(w, &email)? else {
                return Err(crate::error::ApiError::new(crate::error::ErrorCode::UserNotFound));
            };
            let had = crate::auth::two_factor::remove(w, user.id)?;
            if had {
                let actor =
                    crate::audit::Actor { user_agent: Some("shopd admin reset-2fa".into()), ..Default::default() };
                crate::audit::record(w, &actor, crate::audit::Event::new("TWO_FACTOR_RESET", "User", user.id))?;
            }
            Ok(had)
        })
        .await
}

/// `shopd admin reset-2fa --email E`: through the running server's socket, or on the store.
pub fn reset_2fa(settings: &Settings, email: &str) -> anyhow::Result<bool> {
    let data_dir = &settings.data_dir;
    match Store::open(data_dir) {
        Ok(store) => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let done = runtime.block_on(reset_2fa_in(&store, email));
            store.close();
            done.map_err(|e| anyhow!("{}", e.message))
        }
        Err(StoreError::Locked(_)) => {
            let socket = data_dir.join(SOCKET_FILE);
            let mut stream = UnixStream::connect(&socket)
                .with_context(|| format!("the server's socket {} does not answer", socket.display()))?;
            writeln!(stream, "reset-2fa {email}")?;
            let mut reply = String::new();
            BufReader::new(stream).read_line(&mut reply)?;
            match reply.trim() {
                "ok 1" => Ok(true),
                "ok 0" => Ok(false),
                other => Err(anyhow!("{}", other.trim_start_matches("error "))),
            }
        }
        Err(e) => Err(e.into()),
    }
}

fn absolute(out: &Path) -> anyhow::Result<PathBuf> {
    let out = std::path::absolute(out).with_context(|| out.display().to_string())?;
    match out.parent() {
        Some(dir) if dir.is_dir() => Ok(out),
        _ => bail!("{}: the folder does not exist", out.display()),
    }
}

fn ask_server(data_dir: &Path, out: &Path) -> anyhow::Result<BackupInfo> {
    let socket = data_dir.join(SOCKET_FILE);
    let mut stream = UnixStream::connect(&socket).with_context(|| {
        format!("the store is in use but the server's backup socket {} does not answer", socket.display())
    })?;
    writeln!(stream, "backup {}", out.display())?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply)?;
    let mut words = reply.split_whitespace();
    match words.next() {
        Some("ok") => {
            let bytes = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            let records = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            Ok(BackupInfo { bytes, records })
        }
        _ => Err(anyhow!("{}", reply.trim().trim_start_matches("error "))),
    }
}

/// `shopd restore FILE`: into an empty (or missing) data dir only, after the whole archive was
/// checked. A bare store file from an older `shopd backup` is restored too.
pub fn restore(
    data_dir: &Path,
    file: &Path,
    identity: Option<&Path>,
    passphrase: Option<&str>,
) -> anyhow::Result<Option<archive::Manifest>> {
    if offsite::is_encrypted(file) {
        let plain = std::path::absolute(data_dir)?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| ".".into())
            .join(format!(".shopd-restore-{}.tar", uuid::Uuid::new_v4().simple()));
        let restored = offsite::decrypt(file, &plain, identity, passphrase)
            .and_then(|()| archive::unpack(&plain, data_dir).map(Some));
        let _ = std::fs::remove_file(&plain);
        return restored;
    }
    if archive::is_archive(file) {
        return archive::unpack(file, data_dir).map(Some);
    }
    store::restore(file, data_dir)?;
    Ok(None)
}
