//! Product images: each checked by its content, stored under a generated name, with a
//! thumbnail made in process on a bounded blocking pool.

use std::io::Cursor;
use std::sync::LazyLock;

use image::{ImageFormat, ImageReader, Limits};
use poem_openapi::Multipart;
use poem_openapi::types::multipart::Upload;
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::uploads;

pub const MAX_FILES: usize = 10;
const THUMB_SIZE: u32 = 400;

/// Image decoding is CPU- and memory-heavy: at most two at a time, off the async runtime.
static IMAGE_WORK: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(2));

#[derive(Multipart)]
pub struct ImagesForm {
    /// 1 to 10 images (jpg, png or webp), each at most MAX_FILE_SIZE bytes.
    pub images: Vec<Upload>,
}

pub struct Saved {
    pub urls: Vec<String>,
    pub thumbnail: Option<String>,
}

/// Stores the uploads of one request; on any refusal nothing is kept.
pub async fn save_all(state: &AppState, product_id: u64, form: ImagesForm) -> ApiResult<Saved> {
    if form.images.is_empty() || form.images.len() > MAX_FILES {
        return Err(ApiError::field("images", format!("Send 1 to {MAX_FILES} images")));
    }
    let mut stored: Vec<uploads::Stored> = Vec::new();
    for upload in form.images {
        match uploads::store_image(state, "images", "products", &format!("product-{product_id}"), upload).await {
            Ok(s) => stored.push(s),
            Err(e) => {
                for s in &stored {
                    uploads::remove(state, &s.url);
                }
                return Err(e);
            }
        }
    }
    let first = stored[0].path.clone();
    let thumb_path =
        first.with_file_name(format!("{}-thumb.jpg", first.file_stem().and_then(|s| s.to_str()).unwrap_or("image")));
    let _permit = IMAGE_WORK.acquire().await.map_err(ApiError::internal)?;
    let target = thumb_path.clone();
    let made = tokio::task::spawn_blocking(move || thumbnail(&first, &target)).await.map_err(ApiError::internal)?;
    let thumbnail = match made {
        Ok(()) => Some(format!(
            "{}/products/{}",
            uploads::URL_PREFIX,
            thumb_path.file_name().and_then(|n| n.to_str()).unwrap_or_default()
        )),
        Err(e) => {
            // A file that passes the content check but does not decode is refused too.
            for s in &stored {
                uploads::remove(state, &s.url);
            }
            // `{e}`, not `{e:#}`: the message is the image error's own, which already ends with
            // its cause (`{e:#}` would repeat it).
            return Err(ApiError::field("images", format!("The image could not be read: {e}")));
        }
    };
    Ok(Saved { urls: stored.into_iter().map(|s| s.url).collect(), thumbnail })
}

/// Writes a JPEG of at most 400×400 px. Refuses images over 40 megapixels (decompression bombs).
fn thumbnail(source: &std::path::Path, target: &std::path::Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(source)?;
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(10_000);
    limits.max_image_height = Some(10_000);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let image = reader.decode()?;
    let thumb = image.thumbnail(THUMB_SIZE, THUMB_SIZE).to_rgb8();
    let mut out = Cursor::new(Vec::new());
    thumb.write_to(&mut out, ImageFormat::Jpeg)?;
    std::fs::write(target, out.into_inner())?;
    Ok(())
}
