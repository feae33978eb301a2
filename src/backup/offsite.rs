//! Backups that leave the machine: each scheduled archive is encrypted with age (it holds the
//! signing secret) and copied to S3-compatible storage through `object_store`, where the newest
//! `BACKUP_KEEP` are kept.
//!
//! `BACKUP_ENCRYPTION_KEY` is an age recipient (`age1…`, the public half: the server that writes
//! backups cannot read them; restore with `--identity` and the secret half) or a passphrase of
//! at least 16 characters (the same passphrase restores).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use futures_util::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use tokio::io::AsyncWriteExt;

use super::archive::private_file;
use crate::config::Settings;

const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";

/// How an archive is encrypted.
#[derive(Clone)]
pub enum Key {
    Recipient(Box<age::x25519::Recipient>),
    Passphrase(String),
}

impl Key {
    pub fn parse(text: &str) -> Result<Key, String> {
        let text = text.trim();
        if text.starts_with("age1") {
            return text.parse::<age::x25519::Recipient>().map(|r| Key::Recipient(Box::new(r))).map_err(|e| {
                let start: String = text.chars().take(8).collect();
                format!("backup_encryption_key: `{start}…` is not an age recipient ({e})")
            });
        }
        if text.chars().count() < 16 {
            return Err(
                "backup_encryption_key: a passphrase needs at least 16 characters (or give an age1… recipient)".into(),
            );
        }
        Ok(Key::Passphrase(text.to_string()))
    }
}

/// Whether a file is age-encrypted.
pub fn is_encrypted(path: &Path) -> bool {
    let mut head = [0u8; 21];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && head == AGE_MAGIC
}

/// Encrypts `from` into `to`. Blocking.
pub fn encrypt(key: &Key, from: &Path, to: &Path) -> anyhow::Result<()> {
    let encryptor = match key {
        Key::Recipient(r) => age::Encryptor::with_recipients(std::iter::once(r.as_ref() as &dyn age::Recipient))
            .map_err(|e| anyhow!("encrypting: {e}"))?,
        Key::Passphrase(p) => age::Encryptor::with_user_passphrase(age::secrecy::SecretString::from(p.clone())),
    };
    let out = private_file(to).with_context(|| to.display().to_string())?;
    let mut writer = encryptor.wrap_output(std::io::BufWriter::new(out))?;
    std::io::copy(&mut std::fs::File::open(from)?, &mut writer)?;
    let out = writer.finish()?.into_inner().map_err(|e| e.into_error())?;
    out.sync_all()?;
    Ok(())
}

/// Decrypts `from` into `to` with an identity file (`AGE-SECRET-KEY-1…` lines) or a passphrase.
/// Blocking.
pub fn decrypt(from: &Path, to: &Path, identity: Option<&Path>, passphrase: Option<&str>) -> anyhow::Result<()> {
    let decryptor = age::Decryptor::new(std::io::BufReader::new(std::fs::File::open(from)?))
        .map_err(|e| anyhow!("{}: not a readable age file ({e})", from.display()))?;
    let mut reader = if decryptor.is_scrypt() {
        let Some(pass) = passphrase else {
            bail!("this backup is encrypted with a passphrase: set BACKUP_ENCRYPTION_KEY to it")
        };
        let identity = age::scrypt::Identity::new(age::secrecy::SecretString::from(pass.to_string()));
        decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)).map_err(|e| anyhow!("decrypting: {e}"))?
    } else {
        let Some(file) = identity else {
            bail!("this backup is encrypted for an age recipient: pass --identity FILE with its secret key")
        };
        let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
        let identities: Vec<age::x25519::Identity> = text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("AGE-SECRET-KEY-"))
            .map(|l| l.parse().map_err(|e| anyhow!("{}: {e}", file.display())))
            .collect::<anyhow::Result<_>>()?;
        decryptor.decrypt(identities.iter().map(|i| i as &dyn age::Identity)).map_err(|e| anyhow!("decrypting: {e}"))?
    };
    let mut out = private_file(to)?;
    std::io::copy(&mut reader, &mut out).context("decrypting: the file is damaged")?;
    out.flush()?;
    out.sync_all()?;
    Ok(())
}

/// The bucket backups go to, when one is configured.
pub struct Offsite {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    key: Key,
    keep: usize,
}

impl Offsite {
    pub fn from_settings(s: &Settings) -> anyhow::Result<Option<Offsite>> {
        let Some(bucket) = &s.backup_s3_bucket else { return Ok(None) };
        let key = s.backup_encryption_key.as_ref().ok_or_else(|| {
            anyhow!("backup_s3_bucket needs backup_encryption_key: an archive that leaves the machine holds the signing secret")
        })?;
        let key = Key::parse(key.expose()).map_err(anyhow::Error::msg)?;
        let store = crate::objects::S3 {
            bucket,
            endpoint: s.backup_s3_endpoint.as_deref(),
            region: &s.backup_s3_region,
            access_key_id: s.backup_s3_access_key_id.as_ref(),
            secret_access_key: s.backup_s3_secret_access_key.as_ref(),
        }
        .open("backup")?;
        let prefix = s.backup_s3_prefix.trim_matches('/').to_string();
        Ok(Some(Offsite { store, prefix, key, keep: s.backup_keep as usize }))
    }

    fn object(&self, name: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        }
    }

    /// Encrypts the archive, uploads it as `<prefix>/<name>.age`, then deletes the oldest
    /// beyond `keep`. Returns the object's path.
    pub async fn send(&self, archive: &Path) -> anyhow::Result<String> {
        let name = format!("{}.age", archive.file_name().and_then(|n| n.to_str()).unwrap_or("shopd.tar"));
        let sealed: PathBuf = archive.with_extension("tar.age.partial");
        let (key, from, to) = (self.key.clone(), archive.to_path_buf(), sealed.clone());
        let encrypted = tokio::task::spawn_blocking(move || encrypt(&key, &from, &to)).await;
        if !matches!(encrypted, Ok(Ok(()))) {
            let _ = tokio::fs::remove_file(&sealed).await;
        }
        encrypted??;
        let object = self.object(&name);
        let uploaded = async {
            let mut file = tokio::fs::File::open(&sealed).await?;
            let mut writer = object_store::buffered::BufWriter::new(self.store.clone(), object.clone());
            tokio::io::copy(&mut file, &mut writer).await?;
            writer.shutdown().await?;
            anyhow::Ok(())
        }
        .await;
        let _ = tokio::fs::remove_file(&sealed).await;
        uploaded.with_context(|| format!("uploading {object}"))?;
        self.prune().await?;
        Ok(object.to_string())
    }

    /// The backups in the bucket, oldest first (their names sort by time).
    pub async fn list(&self) -> anyhow::Result<Vec<ObjectPath>> {
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        let mut names: Vec<ObjectPath> = self
            .store
            .list(prefix.as_ref())
            .map_ok(|meta| meta.location)
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .filter(|p| p.filename().is_some_and(|f| f.starts_with("shopd-") && f.ends_with(".tar.age")))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Downloads one backup (as [`Offsite::list`] names it) to `to`, still encrypted.
    pub async fn fetch(&self, object: &ObjectPath, to: &Path) -> anyhow::Result<()> {
        let bytes = self.store.get(object).await?.bytes().await?;
        tokio::fs::write(to, &bytes).await?;
        Ok(())
    }

    /// Deletes the oldest backups beyond `keep` (needs the right to list and delete; under
    /// object lock a locked one stays, and the log says so).
    async fn prune(&self) -> anyhow::Result<()> {
        let names = self.list().await?;
        for old in names.iter().take(names.len().saturating_sub(self.keep)) {
            if let Err(e) = self.store.delete(old).await {
                tracing::warn!(object = %old, error = %e, "an old offsite backup could not be deleted");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use age::secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn a_recipient_seals_what_only_its_identity_opens() {
        let dir = std::env::temp_dir().join(format!("shopd-age-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let identity = age::x25519::Identity::generate();
        let key = Key::parse(&identity.to_public().to_string()).unwrap();
        let (plain, sealed, opened) = (dir.join("a.tar"), dir.join("a.tar.age"), dir.join("b.tar"));
        std::fs::write(&plain, b"the signing secret is in here").unwrap();
        encrypt(&key, &plain, &sealed).unwrap();
        assert!(is_encrypted(&sealed));
        assert!(!std::fs::read(&sealed).unwrap().windows(7).any(|w| w == b"signing"));
        let id_file = dir.join("key.txt");
        std::fs::write(&id_file, format!("# a comment\n{}\n", identity.to_string().expose_secret())).unwrap();
        decrypt(&sealed, &opened, Some(&id_file), None).unwrap();
        assert_eq!(std::fs::read(&opened).unwrap(), b"the signing secret is in here");
        let other = age::x25519::Identity::generate();
        std::fs::write(&id_file, other.to_string().expose_secret()).unwrap();
        assert!(decrypt(&sealed, &opened, Some(&id_file), None).is_err(), "another key opens nothing");
        assert!(decrypt(&sealed, &opened, None, Some("a passphrase of enough length")).is_err());
        assert!(Key::parse("short").is_err() && Key::parse("age1notarecipient").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
