//! Uploaded images: checked by their content (never by name or declared type), stored under
//! `<data dir>/uploads` with generated names, served at `/uploads/...` with a long cache life.

use std::path::PathBuf;

use poem::endpoint::StaticFilesEndpoint;
use poem::http::header;
use poem::middleware::SetHeader;
use poem::{Endpoint, EndpointExt};
use poem_openapi::types::multipart::Upload;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

pub const URL_PREFIX: &str = "/uploads";

/// An image kind recognised by its first bytes.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("jpg")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}

pub struct Stored {
    pub url: String,
    pub path: PathBuf,
}

/// Checks and stores one uploaded image (form field `field`) under
/// `uploads/<folder>/<prefix>-<random>.<ext>`.
pub async fn store_image(
    state: &AppState,
    field: &str,
    folder: &str,
    prefix: &str,
    upload: Upload,
) -> ApiResult<Stored> {
    let max = state.settings.max_file_size;
    if upload.size() as u64 > max {
        return Err(
            ApiError::new(ErrorCode::PayloadTooLarge).with_message(format!("Each file may be at most {max} bytes"))
        );
    }
    let bytes = upload.into_vec().await.map_err(|e| ApiError::internal(format!("reading an upload: {e}")))?;
    let allowed: Vec<String> = state.settings.allowed_file_types.split(',').map(|t| t.trim().to_lowercase()).collect();
    let ext = sniff(&bytes).filter(|ext| allowed.iter().any(|a| a == ext || (*ext == "jpg" && a == "jpeg")));
    let Some(ext) = ext else {
        return Err(ApiError::field(
            field,
            format!("The file must be an image of type {}", state.settings.allowed_file_types),
        ));
    };
    let dir = state.settings.data_dir.join("uploads").join(folder);
    let name = format!("{prefix}-{}.{ext}", uuid::Uuid::new_v4().simple());
    let path = dir.join(&name);
    let target = path.clone();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let partial = dir.join(format!(".{name}.partial"));
        std::fs::write(&partial, &bytes)?;
        std::fs::File::open(&partial)?.sync_all()?;
        std::fs::rename(&partial, &target)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::internal(format!("storing an upload: {e}")))?;
    let url = format!("{URL_PREFIX}/{folder}/{}", path.file_name().and_then(|n| n.to_str()).unwrap_or_default());
    Ok(Stored { url, path })
}

/// Deletes a stored upload by its URL; anything outside our uploads is left alone.
pub fn remove(state: &AppState, url: &str) {
    let Some(rest) = url.strip_prefix(URL_PREFIX).and_then(|r| r.strip_prefix('/')) else { return };
    if rest.split('/').any(|part| part.is_empty() || part == ".." || part.starts_with('.')) {
        return;
    }
    let path = state.settings.data_dir.join("uploads").join(rest);
    if let Err(e) = std::fs::remove_file(&path) {
        tracing::warn!(path = %path.display(), error = %e, "could not delete a replaced upload");
    }
}

/// Serves `<data dir>/uploads`: file names are never reused, so clients may cache them forever.
pub fn endpoint(state: &AppState) -> impl Endpoint + use<> {
    StaticFilesEndpoint::new(state.settings.data_dir.join("uploads"))
        .with(SetHeader::new().overriding(header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
}
