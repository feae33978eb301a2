//! Uploaded images: checked by their content (never by name or declared type) and decoded whole
//! within limits before anything is kept, stored under `<data dir>/uploads` (or in the
//! `UPLOADS_S3_*` bucket, [`bucket`]) with generated names, served at `/uploads/...` with a long
//! cache life. A stored URL is always `/uploads/<folder>/<name>`, wherever the file lives.

pub mod bucket;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use image::{ImageFormat, ImageReader, Limits};
use poem::http::{Method, header};
use poem::web::StaticFileRequest;
use poem::{Endpoint, FromRequest, IntoResponse, Request, Response};
use poem_openapi::types::multipart::Upload;
use tokio::sync::Semaphore;

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
    /// The URL of the thumbnail, when one was asked for.
    pub thumbnail: Option<String>,
}

/// What is kept of an uploaded image.
#[derive(Debug, Clone, Copy)]
pub enum Keep {
    /// The file as sent (a product photo keeps its quality), once it decodes within the limits.
    Original,
    /// A new file drawn from the decoded pixels, at most this many pixels a side: nothing of
    /// the sent bytes survives (no trailing data, no EXIF with a home's GPS position).
    Redrawn(u32),
}

/// The most pixels a side and the most memory a decode may take: a 50000×50000 PNG of a few
/// kilobytes would otherwise ask for 10 GB.
const MAX_SIDE: u32 = 8192;
const MAX_DECODED_BYTES: u64 = 128 * 1024 * 1024;
const THUMB_SIDE: u32 = 400;

/// Image decoding is CPU- and memory-heavy: at most two at a time, off the async runtime.
static IMAGE_WORK: LazyLock<std::sync::Arc<Semaphore>> = LazyLock::new(|| std::sync::Arc::new(Semaphore::new(2)));

/// Checks one uploaded image (form field `field`) by decoding it whole within the limits, and
/// stores it under `uploads/<folder>/<prefix>-<random>.<ext>`, with a JPEG thumbnail of at most
/// 400×400 px when `thumbnail` is set.
pub async fn store_image(
    state: &AppState,
    field: &str,
    folder: &str,
    prefix: &str,
    upload: Upload,
    keep: Keep,
    thumbnail: bool,
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
    let stem = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
    // The permit goes with the work: a client that leaves does not free a slot while its
    // decode still runs.
    let permit = IMAGE_WORK.clone().acquire_owned().await.map_err(ApiError::internal)?;
    let rendered = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        render(&stem, ext, bytes, keep, thumbnail)
    })
    .await
    .map_err(ApiError::internal)?;
    let files = match rendered {
        Ok(files) => files,
        Err(Refused::Unreadable(e)) => {
            return Err(ApiError::field(field, format!("The image could not be read: {e}")));
        }
        Err(Refused::TooLarge) => {
            return Err(ApiError::field(
                field,
                format!(
                    "The image is too large: at most {MAX_SIDE}×{MAX_SIDE} pixels and {} MiB decoded",
                    MAX_DECODED_BYTES >> 20
                ),
            ));
        }
        Err(Refused::Io(e)) => return Err(ApiError::from_io(e, "storing an upload")),
    };
    let names: Vec<String> = files.iter().map(|(name, _)| name.clone()).collect();
    match &state.uploads {
        Some(bucket) => {
            for (name, bytes) in files {
                bucket.put(&format!("{folder}/{name}"), bytes).await?;
            }
        }
        None => {
            let dir = state.settings.data_dir.join("uploads").join(folder);
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                std::fs::create_dir_all(&dir)?;
                let written = files.iter().try_for_each(|(name, bytes)| put(&dir, name, bytes));
                if written.is_err() {
                    // All of an upload or none of it: no image without its thumbnail.
                    for (name, _) in &files {
                        let _ = std::fs::remove_file(dir.join(name));
                    }
                }
                written
            })
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::from_io(e, "storing an upload"))?;
        }
    }
    let url_of = |name: &str| format!("{URL_PREFIX}/{folder}/{name}");
    Ok(Stored { url: url_of(&names[0]), thumbnail: names.get(1).map(|n| url_of(n)) })
}

enum Refused {
    Unreadable(image::ImageError),
    TooLarge,
    Io(std::io::Error),
}

impl From<std::io::Error> for Refused {
    fn from(e: std::io::Error) -> Self {
        Refused::Io(e)
    }
}

fn decode(bytes: &[u8]) -> Result<image::DynamicImage, Refused> {
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => Refused::TooLarge,
        e => Refused::Unreadable(e),
    })
}

/// Decodes, then draws the files to keep: the image (as sent, or redrawn) and, when asked, its
/// thumbnail. Returns (file name, bytes), the image first.
fn render(
    stem: &str,
    ext: &str,
    bytes: Vec<u8>,
    keep: Keep,
    thumbnail: bool,
) -> Result<Vec<(String, Vec<u8>)>, Refused> {
    let image = decode(&bytes)?;
    let (bytes, ext) = match keep {
        Keep::Original => (bytes, ext),
        Keep::Redrawn(side) => {
            let redrawn =
                if image.width() > side || image.height() > side { image.thumbnail(side, side) } else { image.clone() };
            // PNG keeps transparency; everything else becomes a JPEG.
            if image.color().has_alpha() {
                (encode(&redrawn, ImageFormat::Png)?, "png")
            } else {
                (encode(&image::DynamicImage::ImageRgb8(redrawn.to_rgb8()), ImageFormat::Jpeg)?, "jpg")
            }
        }
    };
    let mut files = vec![(format!("{stem}.{ext}"), bytes)];
    if thumbnail {
        let small = image::DynamicImage::ImageRgb8(image.thumbnail(THUMB_SIDE, THUMB_SIDE).to_rgb8());
        files.push((format!("{stem}-thumb.jpg"), encode(&small, ImageFormat::Jpeg)?));
    }
    Ok(files)
}

fn encode(image: &image::DynamicImage, format: ImageFormat) -> Result<Vec<u8>, Refused> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).map_err(Refused::Unreadable)?;
    Ok(out.into_inner())
}

/// Writes one file through a hidden partial one that is renamed into place, so /uploads never
/// serves half a file.
fn put(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let partial = dir.join(format!(".{name}.partial"));
    let written = std::fs::write(&partial, bytes)
        .and_then(|()| std::fs::File::open(&partial)?.sync_all())
        .and_then(|()| std::fs::rename(&partial, dir.join(name)));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// Deletes a stored upload by its URL (in the background when it is in the bucket); anything
/// outside our uploads is left alone.
pub fn remove(state: &AppState, url: &str) {
    let Some(rest) = url.strip_prefix(URL_PREFIX).and_then(|r| r.strip_prefix('/')) else { return };
    if !is_our_name(rest) {
        return;
    }
    let path = state.settings.data_dir.join("uploads").join(rest);
    match std::fs::remove_file(&path) {
        Ok(()) => return,
        Err(e) if e.kind() != std::io::ErrorKind::NotFound || state.uploads.is_none() => {
            tracing::warn!(path = %path.display(), error = %e, "could not delete a replaced upload");
            return;
        }
        Err(_) => {}
    }
    if let Some(bucket) = state.uploads.clone() {
        let name = rest.to_string();
        tokio::spawn(async move { bucket.delete(&name).await });
    }
}

/// The bytes of one of our uploads by its URL (from the data dir, else the bucket), for what
/// the server draws itself (the logo on an invoice). Anything else is None: the server never
/// fetches a URL it was given.
pub async fn read(state: &AppState, url: &str) -> Option<Vec<u8>> {
    let rest = url.strip_prefix(URL_PREFIX)?.strip_prefix('/')?.to_string();
    let root = state.settings.data_dir.join("uploads");
    let local = {
        let rest = rest.clone();
        tokio::task::spawn_blocking(move || shopd_wrote(&root, &rest).and_then(|p| std::fs::read(p).ok())).await.ok()?
    };
    match (local, &state.uploads) {
        (Some(bytes), _) => Some(bytes),
        (None, Some(bucket)) => bucket.get(&rest).await,
        (None, None) => None,
    }
}

/// A name shopd gives: `<folder>/<file>` of letters, digits, `-`, `_` and `.`, neither starting
/// with a dot.
fn is_our_name(rest: &str) -> bool {
    let parts: Vec<&str> = rest.split('/').collect();
    let named = |p: &&str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    parts.len() == 2 && parts.iter().all(named)
}

/// Serves `/uploads`, GET and HEAD: file names are never reused, so clients may cache them
/// forever. Only what shopd writes is served: a name of letters, digits, `-`, `_` and `.` that
/// does not start with a dot (no partial file, no `.htaccess`), two levels deep, and no symbolic
/// link anywhere on the way (a link someone left in the data dir does not leak the file it
/// points to). A file not in the data dir is looked up in the bucket, when there is one.
pub fn endpoint(state: &AppState) -> impl Endpoint + use<> {
    let root = state.settings.data_dir.join("uploads");
    let bucket = state.uploads.clone();
    poem::endpoint::make(move |req: Request| {
        let (root, bucket) = (root.clone(), bucket.clone());
        async move {
            let mut response = serve(&root, bucket.as_deref(), req).await?;
            // Only a file is cached for ever; a 404 may be an upload still on its way.
            if response.status().is_success() || response.status() == poem::http::StatusCode::NOT_MODIFIED {
                response.headers_mut().insert(
                    header::CACHE_CONTROL,
                    header::HeaderValue::from_static("public, max-age=31536000, immutable"),
                );
            }
            Ok::<_, poem::Error>(response)
        }
    })
}

fn shopd_wrote(root: &Path, rest: &str) -> Option<PathBuf> {
    if !is_our_name(rest) {
        return None;
    }
    let mut path = root.to_path_buf();
    for part in rest.split('/') {
        path.push(part);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if meta.file_type().is_symlink() {
            return None;
        }
    }
    path.is_file().then_some(path)
}

async fn serve(root: &Path, bucket: Option<&bucket::Bucket>, req: Request) -> poem::Result<Response> {
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        return Err(ApiError::new(ErrorCode::MethodNotAllowed).with_header("Allow", "GET, HEAD").into());
    }
    let not_found = || ApiError::new(ErrorCode::NotFound).with_message("File not found");
    let rest = req.uri().path().trim_start_matches('/').to_string();
    let Some(path) = shopd_wrote(root, &rest) else {
        return match bucket {
            Some(b) if is_our_name(&rest) => b.serve(&rest, head).await.map_err(Into::into),
            _ => Err(not_found().into()),
        };
    };
    let file = StaticFileRequest::from_request_without_body(&req).await?;
    let response = file.create_response(&path, false, false).map_err(|_| not_found())?.into_response();
    if !head {
        return Ok(response);
    }
    let (mut parts, _) = response.into_parts();
    if let Ok(meta) = std::fs::metadata(&path)
        && parts.status == poem::http::StatusCode::OK
    {
        parts.headers.insert(header::CONTENT_LENGTH, meta.len().into());
    }
    Ok(Response::from_parts(parts, poem::Body::empty()))
}
