//! S3-compatible object storage, through `object_store`: where offsite backups go, and where
//! uploaded images may live instead of the data dir.

use std::sync::Arc;

use anyhow::Context;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;

use crate::config::Secret;

/// One bucket's settings, as the `BACKUP_S3_*` and `UPLOADS_S3_*` groups give them.
pub struct S3<'a> {
    pub bucket: &'a str,
    /// For S3-compatible services (MinIO, R2, B2, ...); `None`: AWS.
    pub endpoint: Option<&'a str>,
    pub region: &'a str,
    /// `None`: the usual AWS sources (environment, profile, instance role).
    pub access_key_id: Option<&'a Secret>,
    pub secret_access_key: Option<&'a Secret>,
}

impl S3<'_> {
    pub fn open(&self, what: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
        let mut builder = AmazonS3Builder::new().with_bucket_name(self.bucket).with_region(self.region);
        if let Some(endpoint) = self.endpoint {
            builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if let (Some(id), Some(secret)) = (self.access_key_id, self.secret_access_key) {
            builder = builder.with_access_key_id(id.expose()).with_secret_access_key(secret.expose());
        }
        Ok(Arc::new(builder.build().with_context(|| format!("{what}_s3_* settings"))?))
    }
}

/// `prefix/name`, or `name` without a prefix.
pub fn under(prefix: &str, name: &str) -> object_store::path::Path {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() { name.into() } else { format!("{prefix}/{name}").into() }
}
