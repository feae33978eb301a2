//! Uploaded images in an S3-compatible bucket (`UPLOADS_S3_*`) instead of the data dir: for a
//! shop whose images outgrow its disk, or that serves them from a CDN. Objects are named
//! `<prefix>/<folder>/<file>`; `/uploads/<folder>/<file>` answers from the bucket, or redirects to
//! `UPLOADS_S3_PUBLIC_URL` when the bucket is public (a CDN in front of it).

use std::sync::Arc;

use object_store::{ObjectStore, PutPayload};
use poem::Response;
use poem::http::{StatusCode, header};

use crate::config::Settings;
use crate::error::{ApiError, ApiResult, ErrorCode};

pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    public_url: Option<String>,
}

fn failed(doing: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::ServiceUnavailable)
        .with_message("The image storage does not answer; try again in a moment")
        .with_header("Retry-After", "5")
        .with_cause(format!("{doing}: {e}"))
}

impl Bucket {
    pub fn from_settings(s: &Settings) -> anyhow::Result<Option<Arc<Bucket>>> {
        let Some(bucket) = &s.uploads_s3_bucket else { return Ok(None) };
        let store = crate::objects::S3 {
            bucket,
            endpoint: s.uploads_s3_endpoint.as_deref(),
            region: &s.uploads_s3_region,
            access_key_id: s.uploads_s3_access_key_id.as_ref(),
            secret_access_key: s.uploads_s3_secret_access_key.as_ref(),
        }
        .open("uploads")?;
        let public_url = s.uploads_s3_public_url.as_ref().map(|u| u.trim_end_matches('/').to_string());
        Ok(Some(Arc::new(Bucket { store, prefix: s.uploads_s3_prefix.clone(), public_url })))
    }

    pub async fn put(&self, name: &str, bytes: Vec<u8>) -> ApiResult<()> {
        let object = crate::objects::under(&self.prefix, name);
        self.store.put(&object, PutPayload::from(bytes)).await.map_err(|e| failed("storing an upload", e))?;
        Ok(())
    }

    /// Best effort: a file that stays behind is only space.
    pub async fn delete(&self, name: &str) {
        let object = crate::objects::under(&self.prefix, name);
        if let Err(e) = self.store.delete(&object).await {
            tracing::warn!(object = %object, error = %e, "could not delete a replaced upload from the bucket");
        }
    }

    /// The bytes of a stored file; None when it is not there or the bucket does not answer.
    pub async fn get(&self, name: &str) -> Option<Vec<u8>> {
        let object = crate::objects::under(&self.prefix, name);
        let found = self.store.get(&object).await.ok()?;
        found.bytes().await.ok().map(|b| b.to_vec())
    }

    /// The answer to `/uploads/<name>` for a file in the bucket.
    pub async fn serve(&self, name: &str, head: bool) -> ApiResult<Response> {
        if let Some(base) = &self.public_url {
            return Ok(Response::builder()
                .status(StatusCode::FOUND)
                .header(header::LOCATION, format!("{base}/{name}"))
                .finish());
        }
        let object = crate::objects::under(&self.prefix, name);
        let not_found = || ApiError::new(ErrorCode::NotFound).with_message("File not found");
        let found = match self.store.get(&object).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Err(not_found()),
            Err(e) => return Err(failed("reading an upload", e)),
        };
        let bytes = found.bytes().await.map_err(|e| failed("reading an upload", e))?;
        let kind = match name.rsplit('.').next() {
            Some("png") => "image/png",
            Some("jpg") | Some("jpeg") => "image/jpeg",
            Some("webp") => "image/webp",
            Some("svg") => "image/svg+xml",
            _ => "application/octet-stream",
        };
        let builder = Response::builder().content_type(kind).header(header::CONTENT_LENGTH, bytes.len());
        Ok(if head { builder.finish() } else { builder.body(bytes.to_vec()) })
    }
}
