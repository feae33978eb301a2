//! `shopd backup` and `shopd restore`.
//!
//! The store file is locked by the process that has it open, so a backup of a running server is
//! made by the server itself: it listens on `<data dir>/shopd.sock` (a Unix socket only its user
//! can open) and writes a snapshot to the file the command names. With no server running, the
//! command opens the store and copies it directly. Either way the copy is one consistent snapshot.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::UnixListener;

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
    let reply = match line.trim_end().strip_prefix("backup ") {
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

/// `shopd backup --out FILE`: through the running server if there is one, else directly.
pub fn backup(data_dir: &Path, out: &Path) -> anyhow::Result<BackupInfo> {
    if !data_dir.join(STORE_FILE).exists() {
        bail!("there is no store in {}", data_dir.display());
    }
    let out = absolute(out)?;
    match Store::open(data_dir) {
        Ok(store) => {
            let info = store.backup_to(&out);
            store.close();
            Ok(info?)
        }
        Err(StoreError::Locked(_)) => ask_server(data_dir, &out),
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

/// `shopd restore FILE`: into an empty (or missing) data dir only.
pub fn restore(data_dir: &Path, file: &Path) -> anyhow::Result<()> {
    Ok(store::restore(file, data_dir)?)
}
