//! `/api/v1/wishlist`: products a user keeps an eye on.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::{Deserialize, Serialize};

use crate::auth::guard::Bearer;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::envelope::{Envelope, Meta, Reply};
use crate::http::json::JsonBody;
use crate::products::{PRODUCTS, ProductView};
use crate::state::AppState;
use crate::store::Collection;
use crate::users::timestamp;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Wish {
    pub product_id: u64,
    pub created_at: DateTime<Utc>,
}

/// Keyed (user id, product id).
pub static WISHLIST: Collection<(u64, u64), Wish> = Collection::new("wishlist");

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct AddWish {
    pub product_id: u64,
}

#[derive(Debug, Object)]
#[oai(rename = "WishlistItem", rename_all = "camelCase")]
pub struct WishView {
    pub product_id: u64,
    pub product: Option<ProductView>,
    pub created_at: String,
}

#[derive(Debug, Object)]
pub struct WishlistView {
    pub items: Vec<WishView>,
    pub total: u64,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Removed {
    pub product_id: u64,
    pub removed: bool,
}

/// 201 when added, 200 when it was already there.
#[derive(ApiResponse)]
pub enum WishReply {
    #[oai(status = 201)]
    Added(Json<Envelope<WishView>>),
    #[oai(status = 200)]
    AlreadyThere(Json<Envelope<WishView>>),
}

fn enabled(state: &AppState) -> ApiResult<()> {
    if state.settings.feature_wishlist {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::NotFound).with_message("The wishlist is turned off in this shop"))
    }
}

fn view(state: &AppState, w: &Wish) -> WishView {
    WishView {
        product_id: w.product_id,
        product: state.catalog.get(w.product_id).filter(|p| p.is_active).map(|p| p.view()),
        created_at: timestamp(&w.created_at),
    }
}

pub struct WishlistApi;

#[OpenApi(prefix_path = "/api/v1/wishlist", tag = "crate::openapi::Tag::Wishlist")]
impl WishlistApi {
    /// The caller's wishlist, newest first.
    #[oai(path = "/", method = "get", operation_id = "getWishlist")]
    async fn list(&self, state: Data<&AppState>, auth: Bearer) -> ApiResult<Reply<WishlistView>> {
        enabled(&state)?;
        let mut wishes: Vec<Wish> =
            state.store.read()?.scan(&WISHLIST, &(auth.0.user_id,), false)?.collect::<Result<_, _>>()?;
        wishes.sort_by_key(|w| std::cmp::Reverse(w.created_at));
        let items: Vec<WishView> = wishes.iter().map(|w| view(&state, w)).collect();
        Ok(Reply::ok(WishlistView { total: items.len() as u64, items }))
    }

    /// Add a product (201), or find it already there (200).
    #[oai(path = "/", method = "post", operation_id = "addToWishlist")]
    async fn add(&self, state: Data<&AppState>, auth: Bearer, body: JsonBody<AddWish>) -> ApiResult<WishReply> {
        enabled(&state)?;
        let (user, product_id) = (auth.0.user_id, body.0.product_id);
        let (wish, added) = state
            .store
            .write(move |w| {
                w.get(&PRODUCTS, &product_id)?
                    .filter(|p| p.is_active)
                    .ok_or_else(|| ApiError::new(ErrorCode::ProductNotFound))?;
                if let Some(existing) = w.get(&WISHLIST, &(user, product_id))? {
                    return Ok((existing, false));
                }
                let wish = Wish { product_id, created_at: Utc::now() };
                w.put(&WISHLIST, &(user, product_id), &wish)?;
                Ok::<_, ApiError>((wish, true))
            })
            .await?;
        let data = view(&state, &wish);
        Ok(if added {
            WishReply::Added(Json(Envelope {
                data,
                status: 201,
                message: "Created successfully".into(),
                meta: Meta::current(),
            }))
        } else {
            WishReply::AlreadyThere(Json(Envelope {
                data,
                status: 200,
                message: "Already in the wishlist".into(),
                meta: Meta::current(),
            }))
        })
    }

    /// Remove a product.
    #[oai(path = "/:product_id", method = "delete", operation_id = "removeFromWishlist")]
    async fn remove(&self, state: Data<&AppState>, auth: Bearer, product_id: Path<u64>) -> ApiResult<Reply<Removed>> {
        enabled(&state)?;
        let (user, product_id) = (auth.0.user_id, product_id.0);
        state
            .store
            .write(move |w| {
                w.delete(&WISHLIST, &(user, product_id))?
                    .map(drop)
                    .ok_or_else(|| ApiError::new(ErrorCode::WishlistItemNotFound))
            })
            .await?;
        Ok(Reply::ok(Removed { product_id, removed: true }))
    }
}
