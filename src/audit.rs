//! The audit log: who did what to which entity, from where, with the old and new values. Entries
//! are written in the same transaction as the change they describe.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{Object, OpenApi};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::guard::Admin;
use crate::error::ApiResult;
use crate::http::client_ip::client_key;
use crate::http::envelope::Reply;
use crate::state::AppState;
use crate::store::{At, Collection, Index, StoreError, WriteTx, key};
use crate::types::{Count, Paging};
use crate::users::timestamp;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: u64,
    pub user_id: Option<u64>,
    /// UPPER_SNAKE: LOGIN, LOGIN_FAILED, ACCOUNT_LOCKED, LOGOUT, PASSWORD_CHANGE, ...
    pub action: String,
    /// User, Product, Order, ...
    pub entity: String,
    pub entity_id: Option<String>,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub metadata: Option<Value>,
    pub created_at: DateTime<Utc>,
}

fn by_user(e: &AuditEntry) -> Vec<Vec<u8>> {
    e.user_id.map(|u| key::encode(&(u, e.id))).into_iter().collect()
}

fn by_action(e: &AuditEntry) -> Vec<Vec<u8>> {
    vec![key::encode(&(e.action.to_ascii_uppercase(),))]
}

pub static AUDIT_INDEXES: [Index<AuditEntry>; 2] =
    [Index::new("audit_logs.by_user", by_user), Index::counted("audit_logs.by_action", by_action)];
pub static AUDIT_LOGS: Collection<u64, AuditEntry> = Collection::with_indexes("audit_logs", &AUDIT_INDEXES);
/// What a user did, oldest first.
pub static AUDIT_LOGS_BY_USER: &Index<AuditEntry> = &AUDIT_INDEXES[0];
/// Entries by action (upper case), oldest first within one, with a count per action.
pub static AUDIT_LOGS_BY_ACTION: &Index<AuditEntry> = &AUDIT_INDEXES[1];

/// Who acts and from where: the signed-in user (if any), the client IP and user agent.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Actor {
    pub user_id: Option<u64>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Actor {
    pub fn of(req: &Request, user_id: Option<u64>) -> Actor {
        Actor {
            user_id,
            ip: Some(client_key(req)),
            user_agent: req.header("user-agent").map(|ua| ua.chars().take(512).collect()),
        }
    }

    pub fn as_user(&self, user_id: u64) -> Actor {
        Actor { user_id: Some(user_id), ..self.clone() }
    }
}

/// One event to log.
pub struct Event<'a> {
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: Option<String>,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub metadata: Option<Value>,
}

impl<'a> Event<'a> {
    pub fn new(action: &'a str, entity: &'a str, entity_id: impl ToString) -> Self {
        Event {
            action,
            entity,
            entity_id: Some(entity_id.to_string()),
            old_value: None,
            new_value: None,
            metadata: None,
        }
    }

    /// An event about a kind of entity rather than one record (an import, an export, the
    /// shop's settings).
    pub fn about(action: &'a str, entity: &'a str) -> Self {
        Event { entity_id: None, ..Event::new(action, entity, "") }
    }

    pub fn change(mut self, old: Value, new: Value) -> Self {
        self.old_value = Some(old);
        self.new_value = Some(new);
        self
    }

    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

/// Writes an entry inside the caller's transaction.
pub fn record(w: &mut WriteTx<'_>, actor: &Actor, event: Event<'_>) -> Result<(), StoreError> {
    let id = w.next_id(&AUDIT_LOGS)?;
    let entry = AuditEntry {
        id,
        user_id: actor.user_id,
        action: event.action.to_string(),
        entity: event.entity.to_string(),
        entity_id: event.entity_id,
        old_value: event.old_value,
        new_value: event.new_value,
        ip_address: actor.ip.clone(),
        user_agent: actor.user_agent.clone(),
        metadata: event.metadata,
        created_at: Utc::now(),
    };
    w.put(&AUDIT_LOGS, &id, &entry)
}

#[derive(Debug, Object)]
#[oai(rename = "AuditLog", rename_all = "camelCase")]
pub struct AuditView {
    pub id: u64,
    pub user_id: Option<u64>,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub metadata: Option<Value>,
    pub created_at: String,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        AuditView {
            id: e.id,
            user_id: e.user_id,
            action: e.action,
            entity: e.entity,
            entity_id: e.entity_id,
            old_value: e.old_value,
            new_value: e.new_value,
            ip_address: e.ip_address,
            user_agent: e.user_agent,
            metadata: e.metadata,
            created_at: timestamp(&e.created_at),
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct AuditPage {
    pub logs: Vec<AuditView>,
    pub total: u64,
    pub skip: u64,
    pub limit: u64,
    /// The `cursor` of the next page (null at the end).
    pub next_cursor: Option<u64>,
}

pub struct AuditApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "crate::openapi::Tag::Admin")]
impl AuditApi {
    /// The audit log, newest first, filtered by user, action and entity.
    #[oai(path = "/audit-logs", method = "get", operation_id = "listAuditLogs")]
    // One argument per documented query parameter: that is how the spec learns them.
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        _admin: Admin,
        #[oai(name = "userId")] user_id: Query<Option<u64>>,
        action: Query<Option<String>>,
        entity: Query<Option<String>>,
        skip: Query<Option<Count>>,
        limit: Query<Option<Count>>,
        cursor: Query<Option<u64>>,
    ) -> ApiResult<Reply<AuditPage>> {
        let paging = Paging::new(skip.0, limit.0);
        let r = state.store.read()?;
        let skip = if cursor.0.is_some() { 0 } else { paging.skip };
        let at = At { from: cursor.0.as_ref(), skip, limit: paging.limit };
        // Served by an index, a page costing the page: everything, or one action.
        let fast = match (user_id.0, action.0.as_deref(), entity.0.as_deref()) {
            (None, None, None) => Some((r.page(&AUDIT_LOGS, true, at)?, r.count(&AUDIT_LOGS)?)),
            (None, Some(a), None) => {
                let key = (a.to_ascii_uppercase(),);
                let page = r.page_index(&AUDIT_LOGS, AUDIT_LOGS_BY_ACTION, &key, true, at)?;
                Some((page, r.count_key(AUDIT_LOGS_BY_ACTION, &key)?))
            }
            _ => None,
        };
        let (logs, total) = match fast {
            Some((page, total)) => (page.into_iter().map(AuditView::from).collect(), total),
            None => {
                let entries: Box<dyn Iterator<Item = Result<AuditEntry, StoreError>>> = match user_id.0 {
                    Some(u) => Box::new(r.scan_index(&AUDIT_LOGS, AUDIT_LOGS_BY_USER, &(u,), true)?),
                    None => Box::new(r.scan(&AUDIT_LOGS, &(), true)?),
                };
                let before = |e: &AuditEntry| cursor.0.is_none_or(|c| e.id < c);
                Paging { skip, ..paging }.page(
                    entries,
                    |e| {
                        before(e)
                            && action.0.as_ref().is_none_or(|a| a.eq_ignore_ascii_case(&e.action))
                            && entity.0.as_ref().is_none_or(|x| x.eq_ignore_ascii_case(&e.entity))
                    },
                    |e| Ok(AuditView::from(e)),
                )?
            }
        };
        let next_cursor = (logs.len() == paging.limit).then(|| logs.last().map(|l| l.id)).flatten();
        Ok(Reply::ok(AuditPage { logs, total, skip: paging.skip as u64, limit: paging.limit as u64, next_cursor }))
    }
}
