//! The backup archive: one tar file holding everything a shop is, checked before it is
//! restored.
//!
//! ```text
//! store.redb       a consistent snapshot of the store
//! uploads/...      every image shopd wrote (no dotfiles, no links); with UPLOADS_S3_BUCKET
//!                  the bucket keeps them, and the manifest names it
//! jwt-secret       the signing secret, when it was generated into the data dir
//! settings.json    the settings the shop ran with, without any password, key or token
//! manifest.json    last: the size and SHA-256 of every other entry
//! ```
//!
//! Restoring reads the archive twice: once to check every entry against the manifest (a damaged
//! or truncated archive changes nothing), then to fill the empty data dir.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::store::{self, BackupInfo};

pub const FORMAT: &str = "shopd-backup";
const VERSION: u32 = 1;
const STORE_ENTRY: &str = "store.redb";
const SECRET_ENTRY: &str = "jwt-secret";
const SETTINGS_ENTRY: &str = "settings.json";
const MANIFEST_ENTRY: &str = "manifest.json";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub shopd: String,
    pub created_at: String,
    pub records: u64,
    /// Whether the signing secret is inside (generated into the data dir) or comes from the
    /// configuration (`JWT_SECRET`), which must be kept with the deployment.
    pub jwt_secret_included: bool,
    /// The bucket holding the shop's images (`UPLOADS_S3_BUCKET`), which are then not in here.
    #[serde(default)]
    pub uploads_bucket: Option<String>,
    pub files: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub bytes: u64,
    pub sha256: String,
}

/// What [`pack`] wrote.
#[derive(Debug)]
pub struct Packed {
    pub bytes: u64,
    pub records: u64,
    pub files: usize,
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Hashing { inner, hasher: Sha256::new(), bytes: 0 }
    }
    fn entry(self) -> Entry {
        Entry { bytes: self.bytes, sha256: hex::encode(self.hasher.finalize()) }
    }
}

/// A new file only its owner reads (an archive, plain or decrypted, holds the signing secret).
pub(crate) fn private_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

/// Setting names that hold credentials: never written into an archive.
fn is_credential(key: &str) -> bool {
    ["secret", "pass", "key", "token"].iter().any(|w| key.contains(w))
}

/// The settings as the archive keeps them: for the record, without credentials.
fn settings_json(settings: &Settings) -> Vec<u8> {
    let mut value = serde_json::to_value(settings).expect("settings serialize");
    if let Some(map) = value.as_object_mut() {
        map.retain(|k, _| !is_credential(k));
    }
    serde_json::to_vec_pretty(&value).expect("json")
}

/// Every upload shopd wrote, as (entry name, path): two levels under `uploads/`, names that do
/// not start with a dot, regular files only.
fn uploads(data_dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let Ok(folders) = std::fs::read_dir(data_dir.join("uploads")) else { return Ok(out) };
    for folder in folders {
        let folder = folder?;
        let name = folder.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !folder.file_type()?.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(folder.path())? {
            let file = file?;
            let file_name = file.file_name().to_string_lossy().into_owned();
            if file_name.starts_with('.') || !file.file_type()?.is_file() {
                continue;
            }
            out.push((format!("uploads/{name}/{file_name}"), file.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
    header.set_entry_type(tar::EntryType::Regular);
    header
}

fn append(tar: &mut tar::Builder<File>, name: &str, bytes: &[u8]) -> anyhow::Result<Entry> {
    let mut reader = Hashing::new(bytes);
    tar.append_data(&mut header(bytes.len() as u64), name, &mut reader)?;
    Ok(reader.entry())
}

/// Appends a file as it is read, without holding it in memory. `None`: it vanished meanwhile.
fn append_file(tar: &mut tar::Builder<File>, name: &str, path: &Path) -> anyhow::Result<Option<Entry>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow!("{}: {e}", path.display())),
    };
    let size = file.metadata()?.len();
    let mut reader = Hashing::new(file.take(size));
    tar.append_data(&mut header(size), name, &mut reader)?;
    Ok(Some(reader.entry()))
}

/// Writes the archive to `out` (through `out.partial`, renamed at the end; removed when the
/// archive cannot be finished) from the store snapshot at `snapshot`.
pub fn pack(settings: &Settings, snapshot: &Path, info: &BackupInfo, out: &Path) -> anyhow::Result<Packed> {
    let partial = out.with_extension("partial");
    let packed = write_archive(settings, snapshot, info, &partial);
    match packed {
        Ok(count) => {
            std::fs::rename(&partial, out)?;
            Ok(Packed { bytes: std::fs::metadata(out)?.len(), records: info.records, files: count })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

fn write_archive(settings: &Settings, snapshot: &Path, info: &BackupInfo, partial: &Path) -> anyhow::Result<usize> {
    let file = private_file(partial).with_context(|| partial.display().to_string())?;
    let mut tar = tar::Builder::new(file);
    let mut files = BTreeMap::new();
    let data_dir = &settings.data_dir;
    let store = append_file(&mut tar, STORE_ENTRY, snapshot)?.ok_or_else(|| anyhow!("the snapshot vanished"))?;
    files.insert(STORE_ENTRY.to_string(), store);
    for (name, path) in uploads(data_dir)? {
        // An image deleted while the backup runs is simply not in it.
        if let Some(entry) = append_file(&mut tar, &name, &path)? {
            files.insert(name, entry);
        }
    }
    let secret = std::fs::read(data_dir.join(SECRET_ENTRY)).ok();
    if let Some(secret) = &secret {
        files.insert(SECRET_ENTRY.into(), append(&mut tar, SECRET_ENTRY, secret)?);
    }
    files.insert(SETTINGS_ENTRY.into(), append(&mut tar, SETTINGS_ENTRY, &settings_json(settings))?);
    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        shopd: env!("CARGO_PKG_VERSION").into(),
        created_at: crate::users::timestamp(&chrono::Utc::now()),
        records: info.records,
        jwt_secret_included: secret.is_some(),
        uploads_bucket: settings.uploads_s3_bucket.clone(),
        files,
    };
    let count = manifest.files.len();
    append(&mut tar, MANIFEST_ENTRY, &serde_json::to_vec_pretty(&manifest)?)?;
    let file = tar.into_inner()?;
    file.sync_all()?;
    Ok(count)
}

/// Whether `path` is a tar archive (an older `shopd backup` wrote the bare store file).
pub fn is_archive(path: &Path) -> bool {
    let mut head = [0u8; 262];
    File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && &head[257..262] == b"ustar"
}

/// An entry name restore accepts: the fixed ones, or `uploads/<folder>/<file>` with plain names.
fn allowed(name: &str) -> bool {
    let plain = |p: &str| !p.is_empty() && !p.starts_with('.') && !p.contains('\\');
    match name.split('/').collect::<Vec<_>>().as_slice() {
        [single] => [STORE_ENTRY, SECRET_ENTRY, SETTINGS_ENTRY, MANIFEST_ENTRY].contains(single),
        ["uploads", folder, file] => plain(folder) && plain(file),
        _ => false,
    }
}

/// Reads the whole archive and checks it: every entry allowed and listed with its size and
/// checksum, nothing missing, the store present. Returns the manifest.
pub fn check(path: &Path) -> anyhow::Result<Manifest> {
    let mut seen = BTreeMap::new();
    let mut manifest = None;
    let mut archive = tar::Archive::new(File::open(path).with_context(|| path.display().to_string())?);
    for entry in archive.entries().context("not a readable archive")? {
        let mut entry = entry.context("the archive is damaged")?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if !allowed(&name) || entry.header().entry_type() != tar::EntryType::Regular {
            bail!("the archive holds an entry a shopd backup never has: {name}");
        }
        if name == MANIFEST_ENTRY {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).context("the archive is damaged at its manifest")?;
            manifest = Some(serde_json::from_slice::<Manifest>(&bytes).context("the manifest is damaged")?);
        } else {
            let mut reader = Hashing::new(&mut entry);
            std::io::copy(&mut reader, &mut std::io::sink())
                .with_context(|| format!("the archive is damaged at {name}"))?;
            seen.insert(name, reader.entry());
        }
    }
    let manifest = manifest.ok_or_else(|| anyhow!("the archive has no manifest: it is incomplete"))?;
    if manifest.format != FORMAT || manifest.version > VERSION {
        bail!("not a shopd backup this build reads (format {} version {})", manifest.format, manifest.version);
    }
    for (name, want) in &manifest.files {
        match seen.get(name) {
            Some(got) if got == want => {}
            Some(_) => bail!("the archive is damaged: {name} does not match its checksum"),
            None => bail!("the archive is incomplete: {name} is missing"),
        }
    }
    if let Some(extra) = seen.keys().find(|n| !manifest.files.contains_key(*n)) {
        bail!("the archive holds {extra}, which its manifest does not list");
    }
    if !manifest.files.contains_key(STORE_ENTRY) {
        bail!("the archive has no store");
    }
    Ok(manifest)
}

/// Restores a checked archive into `data_dir`, which must be empty or missing. The store is
/// staged beside the data dir and checked (a shopd store this build reads) before anything is
/// written into it; every entry is checked again against the manifest as it is written, and a
/// restore that fails leaves the data dir as empty as it was.
pub fn unpack(path: &Path, data_dir: &Path) -> anyhow::Result<Manifest> {
    let manifest = check(path)?;
    let existed = data_dir.exists();
    if existed && std::fs::read_dir(data_dir)?.next().is_some() {
        bail!("{} is not empty: restore only into an empty data dir", data_dir.display());
    }
    let parent = std::path::absolute(data_dir)?.parent().map(Path::to_path_buf).unwrap_or_else(|| ".".into());
    std::fs::create_dir_all(&parent)?;
    let staged = parent.join(format!(".shopd-restore-{}.redb", uuid::Uuid::new_v4().simple()));
    let outcome = fill(path, data_dir, &staged, &manifest);
    let _ = std::fs::remove_file(&staged);
    if let Err(e) = outcome {
        if existed {
            if let Ok(entries) = std::fs::read_dir(data_dir) {
                for entry in entries.flatten() {
                    let _ = std::fs::remove_dir_all(entry.path()).or_else(|_| std::fs::remove_file(entry.path()));
                }
            }
        } else {
            let _ = std::fs::remove_dir_all(data_dir);
        }
        return Err(e);
    }
    Ok(manifest)
}

/// Where an entry is written before the whole archive was restored.
fn partial_of(file: &Path) -> PathBuf {
    PathBuf::from(format!("{}.restore-partial", file.display()))
}

fn fill(path: &Path, data_dir: &Path, staged: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let mut later = Vec::new();
    let mut archive = tar::Archive::new(File::open(path)?);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if !allowed(&name) || entry.header().entry_type() != tar::EntryType::Regular {
            bail!("the archive changed while it was restored: {name}");
        }
        let target = match name.as_str() {
            // The settings are for the record: the deployment keeps its own.
            MANIFEST_ENTRY | SETTINGS_ENTRY => continue,
            STORE_ENTRY => staged.to_path_buf(),
            _ => {
                let file = data_dir.join(&name);
                later.push(file.clone());
                partial_of(&file)
            }
        };
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut out = private_file(&target)?;
        let mut reader = Hashing::new(&mut entry);
        std::io::copy(&mut reader, &mut out)?;
        out.sync_all()?;
        if manifest.files.get(&name) != Some(&reader.entry()) {
            bail!("the archive changed while it was restored: {name} does not match its checksum");
        }
        if name == STORE_ENTRY {
            store::restore(staged, data_dir)?;
        }
    }
    for file in later {
        std::fs::rename(partial_of(&file), &file)?;
    }
    Ok(())
}
