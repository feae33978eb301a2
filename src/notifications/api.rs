//! `/api/v1/notifications`: a user's notifications, marking them read.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{Object, OpenApi};

use super::{Kind, NOTIFICATIONS, Notification};
use crate::auth::guard::Bearer;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::envelope::Reply;
use crate::state::AppState;
use crate::store::StoreError;
use crate::types::{Count, Paging};
use crate::users::timestamp;

#[derive(Debug, Object)]
#[oai(rename = "Notification", rename_all = "camelCase")]
pub struct NotificationView {
    pub id: u64,
    #[oai(rename = "type")]
    pub kind: Kind,
    pub title: String,
    pub body: String,
    pub read: bool,
    pub created_at: String,
}

#[derive(Debug, Object)]
pub struct NotificationPage {
    pub notifications: Vec<NotificationView>,
    pub total: u64,
    pub skip: u64,
    pub limit: u64,
    /// Unread notifications in all.
    pub unread: u64,
}

#[derive(Debug, Object)]
pub struct Marked {
    /// How many changed.
    pub updated: u64,
}

fn view(n: &Notification) -> NotificationView {
    NotificationView {
        id: n.id,
        kind: Kind::of(&n.kind),
        title: n.title.clone(),
        body: n.body.clone(),
        read: n.read,
        created_at: timestamp(&n.created_at),
    }
}

pub struct NotificationsApi;

#[OpenApi(prefix_path = "/api/v1/notifications", tag = "crate::openapi::Tag::Notifications")]
impl NotificationsApi {
    /// The caller's notifications, newest first, with the unread count.
    #[oai(path = "/", method = "get", operation_id = "listNotifications")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: Bearer,
        skip: Query<Option<Count>>,
        limit: Query<Option<Count>>,
    ) -> ApiResult<Reply<NotificationPage>> {
        let paging = Paging::new(skip.0, limit.0);
        let r = state.store.read()?;
        let mut unread = 0u64;
        let counting = |n: &Notification| {
            unread += u64::from(!n.read);
            true
        };
        let (list, total) =
            paging.page(r.scan(&NOTIFICATIONS, &(auth.0.user_id,), true)?, counting, |n| Ok(view(&n)))?;
        Ok(Reply::ok(NotificationPage {
            notifications: list,
            total,
            skip: paging.skip as u64,
            limit: paging.limit as u64,
            unread,
        }))
    }

    /// Mark one as read.
    #[oai(path = "/:id/read", method = "patch", operation_id = "markNotificationRead")]
    async fn read(&self, state: Data<&AppState>, auth: Bearer, id: Path<u64>) -> ApiResult<Reply<NotificationView>> {
        let key = (auth.0.user_id, id.0);
        let n = state
            .store
            .write(move |w| {
                let mut n = w
                    .get(&NOTIFICATIONS, &key)?
                    .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("Notification not found"))?;
                n.read = true;
                w.put(&NOTIFICATIONS, &key, &n)?;
                Ok::<_, ApiError>(n)
            })
            .await?;
        Ok(Reply::ok(view(&n)))
    }

    /// Mark all as read.
    #[oai(path = "/read-all", method = "post", operation_id = "markAllNotificationsRead")]
    async fn read_all(&self, state: Data<&AppState>, auth: Bearer) -> ApiResult<Reply<Marked>> {
        let user = auth.0.user_id;
        let updated = state
            .store
            .write(move |w| {
                let mut n = 0u64;
                for mut item in w.scan(&NOTIFICATIONS, &(user,), false, usize::MAX)? {
                    if !item.read {
                        item.read = true;
                        w.put(&NOTIFICATIONS, &(user, item.id), &item)?;
                        n += 1;
                    }
                }
                Ok::<_, StoreError>(n)
            })
            .await?;
        Ok(Reply::ok(Marked { updated }))
    }
}
