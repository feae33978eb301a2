//! `/api/v1/admin/webhooks`: the endpoints, their deliveries, a test button and a replay.

use chrono::Utc;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::{Enum, Object, OpenApi};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{DELIVERIES, DELIVERIES_BY_ENDPOINT, Delivery, ENDPOINTS, EVENTS, Endpoint, TEST_EVENT, address};
use crate::audit::{self, Actor, Event};
use crate::auth::guard::Admin;
use crate::error::{ApiError, ApiResult, ErrorCode, FieldErrors};
use crate::http::envelope::{Created, Reply};
use crate::http::json::JsonBody;
use crate::jobs::{self, Task};
use crate::state::AppState;
use crate::users::timestamp;

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename = "WebhookInput", rename_all = "camelCase")]
pub struct WebhookInput {
    /// Where deliveries are POSTed: http or https, a public address.
    pub url: String,
    /// Event names (`order.created`, ...), at least one.
    pub events: Vec<String>,
    /// `whsec_` + base64; made when not given. Shown only in the answer to this call.
    pub secret: Option<String>,
    /// Default true.
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename = "WebhookPatch", rename_all = "camelCase")]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
}

#[derive(Debug, Object)]
#[oai(rename = "Webhook", rename_all = "camelCase")]
pub struct WebhookView {
    pub id: u64,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    /// Only in the answer to the endpoint's creation.
    pub secret: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Object)]
#[oai(rename = "WebhookList")]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "DeliveryState", rename_all = "UPPERCASE")]
pub enum DeliveryState {
    /// Not answered with a 2xx yet; tried again with backoff.
    Pending,
    Delivered,
}

#[derive(Debug, Object)]
#[oai(rename = "WebhookAttempt", rename_all = "camelCase")]
pub struct AttemptView {
    pub at: String,
    /// The receiver's status; null when it gave no answer.
    pub status: Option<u16>,
    pub duration_ms: u64,
    pub error: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename = "WebhookDelivery", rename_all = "camelCase")]
pub struct DeliveryView {
    pub id: String,
    /// The `webhook-id` header, the same on every try and replay.
    pub webhook_id: String,
    pub event: String,
    pub state: DeliveryState,
    pub attempts: Vec<AttemptView>,
    pub delivered_at: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Object)]
#[oai(rename = "WebhookDeliveries")]
pub struct DeliveryList {
    /// Newest first, at most 100.
    pub deliveries: Vec<DeliveryView>,
}

#[derive(Debug, Object)]
pub struct DeletedWebhook {
    pub id: u64,
    pub deleted: bool,
}

impl Endpoint {
    fn view(&self, with_secret: bool) -> WebhookView {
        WebhookView {
            id: self.id,
            url: self.url.clone(),
            events: self.events.clone(),
            active: self.active,
            secret: with_secret.then(|| self.secret.clone()),
            created_at: timestamp(&self.created_at),
            updated_at: timestamp(&self.updated_at),
        }
    }
}

impl Delivery {
    fn view(&self) -> DeliveryView {
        DeliveryView {
            id: self.id.to_string(),
            webhook_id: self.webhook_id(),
            event: self.event.clone(),
            state: if self.delivered_at.is_some() { DeliveryState::Delivered } else { DeliveryState::Pending },
            attempts: self
                .attempts
                .iter()
                .map(|a| AttemptView {
                    at: timestamp(&a.at),
                    status: a.status,
                    duration_ms: a.duration_ms,
                    error: a.error.clone(),
                })
                .collect(),
            delivered_at: self.delivered_at.as_ref().map(timestamp),
            created_at: timestamp(&self.created_at),
        }
    }
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound).with_message("No webhook has this id")
}

/// The URL's checks: its shape, then where it resolves to.
async fn check_url(state: &AppState, url: &str) -> ApiResult<()> {
    if url.len() > 2048 {
        return Err(ApiError::field("url", "At most 2048 characters"));
    }
    let refused = |why: String| ApiError::new(ErrorCode::WebhookUrlNotAllowed).with_message(why);
    let (host, port) = address::target(url).map_err(|r| refused(r.0))?;
    address::resolve(&host, port, state.settings.webhooks_allow_private).await.map_err(|u| refused(u.message()))?;
    Ok(())
}

fn check_events(events: &[String]) -> ApiResult<Vec<String>> {
    let mut errors = FieldErrors::new();
    if events.is_empty() {
        errors.entry("events".into()).or_default().push("At least one event".into());
    }
    for (i, e) in events.iter().enumerate() {
        if !EVENTS.contains(&e.as_str()) {
            errors
                .entry(format!("events.{i}"))
                .or_default()
                .push(format!("Not an event: one of {}", EVENTS.join(", ")));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(crate::coupons::distinct(events))
}

pub struct WebhooksApi;

#[OpenApi(prefix_path = "/api/v1/admin/webhooks", tag = "crate::openapi::Tag::Admin")]
impl WebhooksApi {
    /// The registered endpoints (their secrets are shown only when made).
    #[oai(path = "/", method = "get", operation_id = "listWebhooks")]
    async fn list(&self, state: Data<&AppState>, _admin: Admin) -> ApiResult<Reply<WebhookList>> {
        let r = state.store.read()?;
        let webhooks = r.scan(&ENDPOINTS, &(), false)?.map(|e| e.map(|e| e.view(false))).collect::<Result<_, _>>()?;
        Ok(Reply::ok(WebhookList { webhooks }))
    }

    /// Register an endpoint. The answer holds its signing secret, shown this once.
    #[oai(path = "/", method = "post", operation_id = "createWebhook")]
    async fn create(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        body: JsonBody<WebhookInput>,
    ) -> ApiResult<Created<WebhookView>> {
        let i = body.0;
        let events = check_events(&i.events)?;
        check_url(&state, i.url.trim()).await?;
        let secret = match i.secret.map(|s| s.trim().to_string()) {
            Some(s) if s.len() < 24 || s.len() > 200 => {
                return Err(ApiError::field(
                    "secret",
                    "24 to 200 characters (whsec_ + base64); leave it out to get one",
                ));
            }
            Some(s) => s,
            None => super::new_secret(),
        };
        let now = Utc::now();
        let mut e = Endpoint {
            id: 0,
            url: i.url.trim().to_string(),
            events,
            secret,
            active: i.active.unwrap_or(true),
            created_at: now,
            updated_at: now,
        };
        let actor = Actor::of(req, Some(admin.0.user_id));
        let e = state
            .store
            .write(move |w| {
                e.id = w.next_id(&ENDPOINTS)?;
                w.put(&ENDPOINTS, &e.id, &e)?;
                audit::record(
                    w,
                    &actor,
                    Event::new("WEBHOOK_CREATE", "Webhook", e.id).metadata(json!({ "url": e.url })),
                )?;
                Ok::<_, ApiError>(e)
            })
            .await?;
        Ok(Created::new(e.view(true)))
    }

    /// Change an endpoint's URL, events or state.
    #[oai(path = "/:id", method = "patch", operation_id = "updateWebhook")]
    async fn update(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<u64>,
        body: JsonBody<WebhookPatch>,
    ) -> ApiResult<Reply<WebhookView>> {
        let (id, p) = (id.0, body.0);
        let events = p.events.as_deref().map(check_events).transpose()?;
        let url = p.url.map(|u| u.trim().to_string());
        if let Some(u) = &url {
            check_url(&state, u).await?;
        }
        let actor = Actor::of(req, Some(admin.0.user_id));
        let e = state
            .store
            .write(move |w| {
                let mut e = w.get(&ENDPOINTS, &id)?.ok_or_else(not_found)?;
                let before = json!({ "url": e.url, "events": e.events, "active": e.active });
                if let Some(u) = url {
                    e.url = u;
                }
                if let Some(ev) = events {
                    e.events = ev;
                }
                if let Some(a) = p.active {
                    e.active = a;
                }
                e.updated_at = Utc::now();
                w.put(&ENDPOINTS, &id, &e)?;
                let after = json!({ "url": e.url, "events": e.events, "active": e.active });
                audit::record(w, &actor, Event::new("WEBHOOK_UPDATE", "Webhook", id).change(before, after))?;
                Ok::<_, ApiError>(e)
            })
            .await?;
        Ok(Reply::ok(e.view(false)))
    }

    /// Delete an endpoint; deliveries still due to it are dropped.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteWebhook")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<u64>,
    ) -> ApiResult<Reply<DeletedWebhook>> {
        let id = id.0;
        let actor = Actor::of(req, Some(admin.0.user_id));
        state
            .store
            .write(move |w| {
                let e = w.delete(&ENDPOINTS, &id)?.ok_or_else(not_found)?;
                audit::record(
                    w,
                    &actor,
                    Event::new("WEBHOOK_DELETE", "Webhook", id).metadata(json!({ "url": e.url })),
                )?;
                Ok::<_, ApiError>(())
            })
            .await?;
        Ok(Reply::ok(DeletedWebhook { id, deleted: true }))
    }

    /// The endpoint's latest deliveries, each try with its status and time.
    #[oai(path = "/:id/deliveries", method = "get", operation_id = "listWebhookDeliveries")]
    async fn deliveries(&self, state: Data<&AppState>, _admin: Admin, id: Path<u64>) -> ApiResult<Reply<DeliveryList>> {
        let r = state.store.read()?;
        r.get(&ENDPOINTS, &id.0)?.ok_or_else(not_found)?;
        let deliveries = r
            .scan_index(&DELIVERIES, DELIVERIES_BY_ENDPOINT, &(id.0,), true)?
            .take(100)
            .map(|d| d.map(|d| d.view()))
            .collect::<Result<_, _>>()?;
        Ok(Reply::ok(DeliveryList { deliveries }))
    }

    /// Send a `webhook.test` event to the endpoint now, whatever events it takes.
    #[oai(path = "/:id/test", method = "post", operation_id = "testWebhook")]
    async fn test(&self, state: Data<&AppState>, _admin: Admin, id: Path<u64>) -> ApiResult<Created<DeliveryView>> {
        let id = id.0;
        let d = state
            .store
            .write(move |w| {
                w.get(&ENDPOINTS, &id)?.ok_or_else(not_found)?;
                let now = Utc::now();
                let body = json!({ "type": TEST_EVENT, "timestamp": timestamp(&now), "data": { "webhookId": id } });
                let d = super::deliver(w, id, TEST_EVENT, body.to_string())?;
                Ok::<_, ApiError>(w.get(&DELIVERIES, &d)?.expect("just written"))
            })
            .await?;
        Ok(Created::new(d.view()))
    }

    /// Send a delivery again, with the same `webhook-id` and body (delivered or not).
    #[oai(path = "/deliveries/:delivery_id/replay", method = "post", operation_id = "replayWebhookDelivery")]
    async fn replay(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        delivery_id: Path<Uuid>,
    ) -> ApiResult<Reply<DeliveryView>> {
        let id = delivery_id.0;
        let actor = Actor::of(req, Some(admin.0.user_id));
        let d = state
            .store
            .write(move |w| {
                let mut d = w
                    .get(&DELIVERIES, &id)?
                    .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("No delivery has this id"))?;
                d.delivered_at = None;
                w.put(&DELIVERIES, &id, &d)?;
                jobs::enqueue(w, Task::Webhook { delivery_id: id })?;
                audit::record(
                    w,
                    &actor,
                    Event::about("WEBHOOK_REPLAY", "WebhookDelivery").metadata(json!({ "delivery": id })),
                )?;
                Ok::<_, ApiError>(d)
            })
            .await?;
        Ok(Reply::ok(d.view()))
    }
}
