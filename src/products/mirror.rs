//! Keeping the in-memory catalog and the search index in step with the store: a write that
//! changes products is mirrored into both before it is answered, in a task of its own.

use super::Product;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::{Collection, StoreError, WriteTx};

/// Bumped by every write that changes what the search index holds; the index's commit carries
/// the value it has caught up to.
pub static GENERATION: Collection<u8, u8> = Collection::new("catalog_generation");

/// Mirrors committed product writes into the catalog and the search index, before the write is
/// answered. An index failure is logged: the index is rebuilt at the next start (its generation
/// is behind the store's).
pub async fn publish(state: &AppState, products: Vec<Product>, generation: Option<u64>) {
    for p in &products {
        state.catalog.put(p.clone());
    }
    if let Some(generation) = generation {
        let search = state.search.clone();
        let outcome = tokio::task::spawn_blocking(move || search.put(&products, generation)).await;
        if !matches!(outcome, Ok(Ok(()))) {
            tracing::error!("updating the search index failed; it will be rebuilt at the next start");
        }
    }
}

/// Runs a write and mirrors the products it changed into the catalog (and, with a generation,
/// the search index), in a task of its own: a client that goes away meanwhile cannot leave them
/// behind the store. Order writes use it too, since they change stock.
pub async fn write_published<R, F>(
    state: &AppState,
    f: F,
    changed: fn(&R) -> (Vec<Product>, Option<u64>),
) -> ApiResult<R>
where
    F: FnOnce(&mut WriteTx<'_>) -> ApiResult<R> + Send + 'static,
    R: Send + 'static,
{
    let state = state.clone();
    crate::http::detached::detached(async move {
        let out = state.store.write(f).await?;
        let (products, generation) = changed(&out);
        publish(&state, products, generation).await;
        Ok(out)
    })
    .await
}

pub fn bump_generation(w: &mut WriteTx<'_>) -> Result<u64, StoreError> {
    w.next_id(&GENERATION)
}
