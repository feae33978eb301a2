//! Product images: each decoded within limits before it is kept, stored under a generated
//! name, with a thumbnail of the first.

use poem_openapi::Multipart;
use poem_openapi::types::multipart::Upload;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::uploads;

pub const MAX_FILES: usize = 10;

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
    let prefix = format!("product-{product_id}");
    for (i, upload) in form.images.into_iter().enumerate() {
        // The first image gives the product its thumbnail.
        let first = i == 0;
        match uploads::store_image(state, "images", "products", &prefix, upload, uploads::Keep::Original, first).await {
            Ok(s) => stored.push(s),
            Err(e) => {
                for s in &stored {
                    uploads::remove(state, &s.url);
                    if let Some(t) = &s.thumbnail {
                        uploads::remove(state, t);
                    }
                }
                return Err(e);
            }
        }
    }
    let thumbnail = stored[0].thumbnail.clone();
    Ok(Saved { urls: stored.into_iter().map(|s| s.url).collect(), thumbnail })
}
