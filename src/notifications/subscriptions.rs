//! Web Push subscriptions: a customer's browsers that take order updates (when they chose push
//! in their preferences), and the job that pushes one update to one of them. The endpoint is a
//! URL the browser chose, so it is held to the webhooks' address rules (`WEBHOOKS_ALLOW_PRIVATE`
//! lifts them) when registered and again on each push, on the address pushed to.

use std::time::Duration;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::{Object, OpenApi};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::push::{self, Subscription};
use crate::auth::guard::Bearer;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::events::OrderEvent;
use crate::http::envelope::{Created, Reply};
use crate::http::json::JsonBody;
use crate::jobs::{self, Outcome, Task};
use crate::orders::Order;
use crate::state::AppState;
use crate::store::{Collection, StoreError, WriteTx};
use crate::users::USERS;
use crate::webhooks::address;

/// Browsers per account: a few devices, not a mailing list.
const MAX_PER_USER: usize = 10;
/// How long a push service may hold an update for a browser that is offline.
const TTL_SECS: u64 = 24 * 3600;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushSubscription {
    pub id: u64,
    pub user_id: u64,
    pub subscription: Subscription,
    pub created_at: DateTime<Utc>,
}

/// (user id, subscription id) → the subscription.
pub static PUSH_SUBSCRIPTIONS: Collection<(u64, u64), PushSubscription> = Collection::new("push_subscriptions");

#[derive(Debug, Deserialize, Object)]
#[oai(rename = "PushKeys")]
pub struct Keys {
    pub p256dh: String,
    pub auth: String,
}

/// What `PushSubscription.toJSON()` gives in the browser.
#[derive(Debug, Deserialize, Object)]
#[oai(rename = "PushSubscriptionInput")]
pub struct Input {
    pub endpoint: String,
    pub keys: Keys,
}

#[derive(Debug, Object)]
#[oai(rename = "PushSubscriptionCreated")]
pub struct CreatedView {
    pub id: u64,
}

#[derive(Debug, Object)]
#[oai(rename = "PushSubscriptionDeleted")]
pub struct DeletedView {
    pub id: u64,
    pub deleted: bool,
}

/// Enqueues a push of an order event to each browser of its customer, when they chose push.
pub fn tell(w: &mut WriteTx<'_>, order: &Order, event: OrderEvent) -> Result<(), StoreError> {
    if event.template().is_none() {
        return Ok(());
    }
    let Some(user) = w.get(&USERS, &order.user_id)? else { return Ok(()) };
    if !user.is_active || !user.preferences.push_notifications {
        return Ok(());
    }
    let (_, title, body) = event.notice(order);
    for s in w.scan(&PUSH_SUBSCRIPTIONS, &(user.id,), false, MAX_PER_USER)? {
        let payload = json!({ "title": title, "body": body, "orderId": order.id, "number": order.number }).to_string();
        jobs::enqueue(w, Task::Push { user_id: user.id, subscription_id: s.id, payload })?;
    }
    Ok(())
}

/// One push (the job of `Task::Push`): 2xx is delivered; 404 or 410 means the browser dropped
/// the subscription, which goes too; a refused address or another 4xx is for good.
pub async fn run(state: &AppState, user_id: u64, subscription_id: u64, payload: &str) -> Outcome {
    let found = state.store.read().and_then(|r| r.get(&PUSH_SUBSCRIPTIONS, &(user_id, subscription_id)));
    let sub = match found {
        Ok(Some(s)) => s.subscription,
        Ok(None) => return Outcome::done(),
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let contact = match &state.settings.shop_email {
        Some(e) => format!("mailto:{e}"),
        None => "mailto:shop@shopd.local".to_string(),
    };
    let request = match push::request(&state.vapid, &sub, &contact, payload.as_bytes(), TTL_SECS) {
        Ok(r) => r,
        Err(e) => return Outcome::Refused(e, None),
    };
    let (host, port) = match address::target(&sub.endpoint) {
        Ok(t) => t,
        Err(r) => return Outcome::Refused(r.0, None),
    };
    let addrs = match address::resolve(&host, port, state.settings.webhooks_allow_private).await {
        Ok(a) => a,
        Err(address::Unreachable::Lookup(m)) => return Outcome::Retry(m),
        Err(address::Unreachable::Refused(r)) => return Outcome::Refused(r.0, None),
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .resolve_to_addrs(&host, &addrs)
        .build();
    let client = match client {
        Ok(c) => c,
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    match push::send(&client, request).await {
        Ok(s) if (200..300).contains(&s) => Outcome::done(),
        Ok(404 | 410) => Outcome::with(move |w| {
            w.delete(&PUSH_SUBSCRIPTIONS, &(user_id, subscription_id))?;
            Ok(Vec::new())
        }),
        Ok(s) if (400..500).contains(&s) && s != 429 => {
            Outcome::Refused(format!("the push service answered {s}"), None)
        }
        Ok(s) => Outcome::Retry(format!("the push service answered {s}")),
        Err(e) => Outcome::Retry(e),
    }
}

pub struct PushApi;

#[OpenApi(prefix_path = "/api/v1/users/me/push-subscriptions", tag = "crate::openapi::Tag::Users")]
impl PushApi {
    /// Register a browser's push subscription (`PushSubscription.toJSON()`, made with the
    /// `vapidPublicKey` of `GET /shop`). Order updates go to it once `pushNotifications` is on.
    #[oai(path = "/", method = "post", operation_id = "addPushSubscription")]
    async fn add(
        &self,
        state: Data<&AppState>,
        auth: Bearer,
        body: JsonBody<Input>,
    ) -> ApiResult<Created<CreatedView>> {
        let i = body.0;
        let endpoint = i.endpoint.trim().to_string();
        if endpoint.len() > 2048 {
            return Err(ApiError::field("endpoint", "At most 2048 characters"));
        }
        push::check_keys(&i.keys.p256dh, &i.keys.auth).map_err(|m| ApiError::field("keys", m))?;
        let (host, port) = address::target(&endpoint).map_err(|r| ApiError::field("endpoint", r.0))?;
        address::resolve(&host, port, state.settings.webhooks_allow_private)
            .await
            .map_err(|u| ApiError::field("endpoint", u.message()))?;
        let user_id = auth.0.user_id;
        let subscription = Subscription { endpoint, p256dh: i.keys.p256dh, auth: i.keys.auth };
        let id = state
            .store
            .write(move |w| {
                let mine = w.scan(&PUSH_SUBSCRIPTIONS, &(user_id,), false, usize::MAX)?;
                // The same browser again is the same subscription.
                if let Some(same) = mine.iter().find(|s| s.subscription.endpoint == subscription.endpoint) {
                    let mut s = same.clone();
                    s.subscription = subscription;
                    w.put(&PUSH_SUBSCRIPTIONS, &(user_id, s.id), &s)?;
                    return Ok(s.id);
                }
                if mine.len() >= MAX_PER_USER {
                    return Err(ApiError::new(ErrorCode::Conflict)
                        .with_message(format!("At most {MAX_PER_USER} browsers per account: remove one first")));
                }
                let id = w.next_id(&PUSH_SUBSCRIPTIONS)?;
                let s = PushSubscription { id, user_id, subscription, created_at: Utc::now() };
                w.put(&PUSH_SUBSCRIPTIONS, &(user_id, id), &s)?;
                Ok::<_, ApiError>(id)
            })
            .await?;
        Ok(Created::new(CreatedView { id }))
    }

    /// Remove a subscription (the browser unsubscribed).
    #[oai(path = "/:id", method = "delete", operation_id = "deletePushSubscription")]
    async fn delete(&self, state: Data<&AppState>, auth: Bearer, id: Path<u64>) -> ApiResult<Reply<DeletedView>> {
        let (user_id, id) = (auth.0.user_id, id.0);
        state
            .store
            .write(move |w| {
                w.delete(&PUSH_SUBSCRIPTIONS, &(user_id, id))?.ok_or_else(|| {
                    ApiError::new(ErrorCode::NotFound).with_message("No subscription of yours has this id")
                })?;
                Ok::<_, ApiError>(())
            })
            .await?;
        Ok(Reply::ok(DeletedView { id, deleted: true }))
    }
}
