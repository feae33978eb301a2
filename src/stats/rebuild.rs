//! The sales figures recomputed from the records they sum: `shopd stats rebuild` (server
//! stopped), and once at start-up for a store whose figures were never built (one written
//! before they existed, or by a build that counted differently).

use super::{DAYS, PRODUCT_DAYS, ProductDay, QUARTERS, Sums};
use crate::orders::ORDERS;
use crate::payments::refunds::REFUNDS;
use crate::store::{Collection, Key, Record, Store, StoreError};
use crate::users::USERS;

/// Bumped when what a record contributes changes: a store built by another version is rebuilt.
const VERSION: u32 = 2;
static STATE: Collection<str, u32> = Collection::new("stats.state");
const BATCH: usize = 2_000;

/// What a rebuild counted.
#[derive(Debug, Default)]
pub struct Rebuilt {
    pub orders: u64,
    pub refunds: u64,
    pub accounts: u64,
}

/// Rebuilds the figures unless this version built them. Runs before the server takes requests.
pub async fn ensure(store: &Store) -> Result<(), StoreError> {
    if store.read()?.get(&STATE, "built")? == Some(VERSION) {
        return Ok(());
    }
    let done = rebuild(store).await?;
    if done.orders > 0 {
        tracing::info!(orders = done.orders, refunds = done.refunds, "built the sales figures from the orders");
    }
    Ok(())
}

/// Drops the figures and adds every order, refund and account again. Not one transaction: it
/// must not run beside a server (the store lock sees to that, and start-up runs it first).
pub async fn rebuild(store: &Store) -> Result<Rebuilt, StoreError> {
    store.write(|w| w.delete(&STATE, "built").map(drop)).await?;
    clear(store, &QUARTERS, |s: &Sums| s.bucket).await?;
    clear(store, &DAYS, |s: &Sums| s.bucket).await?;
    clear(store, &PRODUCT_DAYS, |p: &ProductDay| (p.day, p.product_id)).await?;
    let done = Rebuilt {
        orders: replay(store, &ORDERS).await?,
        refunds: replay(store, &REFUNDS).await?,
        accounts: replay(store, &USERS).await?,
    };
    store.write(|w| w.put(&STATE, "built", &VERSION)).await?;
    Ok(done)
}

async fn clear<K, V>(store: &Store, c: &'static Collection<K, V>, key: fn(&V) -> K) -> Result<(), StoreError>
where
    K: Key + Send + 'static,
    V: Record,
{
    loop {
        let keys: Vec<K> =
            store.read()?.scan(c, &(), false)?.take(BATCH).map(|v| v.map(|v| key(&v))).collect::<Result<_, _>>()?;
        if keys.is_empty() {
            return Ok(());
        }
        store
            .write(move |w| {
                for k in &keys {
                    w.delete(c, k)?;
                }
                Ok::<_, StoreError>(())
            })
            .await?;
    }
}

/// Hands every record of `c` to its derive hook as if it were new; returns how many.
async fn replay<K, V>(store: &Store, c: &'static Collection<K, V>) -> Result<u64, StoreError>
where
    K: ?Sized + 'static,
    V: Record + Sync,
{
    let Some(derive) = c.derive else { return Ok(0) };
    let r = store.read()?;
    let mut batch = Vec::with_capacity(BATCH);
    let mut n = 0u64;
    let mut records = r.scan(c, &(), false)?;
    loop {
        let next = records.next().transpose()?;
        let end = next.is_none();
        if let Some(v) = next {
            batch.push(v);
        }
        if batch.len() == BATCH || (end && !batch.is_empty()) {
            n += batch.len() as u64;
            let records = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            store
                .write(move |w| {
                    for v in &records {
                        derive(w, None, Some(v))?;
                    }
                    Ok::<_, StoreError>(())
                })
                .await?;
        }
        if end {
            return Ok(n);
        }
    }
}
