//! In-app notifications: the record, and how events leave one. The endpoints are in `api`.

pub mod api;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{Collection, Store, StoreError};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    pub id: u64,
    pub user_id: u64,
    /// ORDER_CREATED, ORDER_SHIPPED, ...
    pub kind: String,
    pub title: String,
    pub body: String,
    pub read: bool,
    pub created_at: DateTime<Utc>,
}

/// Keyed (user id, notification id): a user's notifications are one prefix.
pub static NOTIFICATIONS: Collection<(u64, u64), Notification> = Collection::new("notifications");

pub async fn notify(store: &Store, user_id: u64, kind: &str, title: String, body: String) -> Result<(), StoreError> {
    let kind = kind.to_string();
    store
        .write(move |w| {
            let id = w.next_id(&NOTIFICATIONS)?;
            let n = Notification { id, user_id, kind, title, body, read: false, created_at: Utc::now() };
            w.put(&NOTIFICATIONS, &(user_id, id), &n)
        })
        .await
}
