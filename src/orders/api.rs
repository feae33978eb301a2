//! `/api/v1/orders`: checkout, the order lists, status changes, cancellation, tracking,
//! invoices, notes and returns.

use chrono::Utc;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Binary;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::checkout::{self, CreateOrder, Placed};
use super::guest;
use super::returns::{self, ReturnBody, ReturnDecision};
use super::{
    GUEST, Note, NoteView, ORDER_NOTES, ORDERS, ORDERS_BY_NUMBER, ORDERS_BY_STATUS, ORDERS_BY_USER, Order, OrderUser,
    OrderView, ReturnView, Status, Why, first_id_at,
};
use crate::audit::{self, Actor, Event};
use crate::auth::guard::{Admin, Bearer, Principal, Viewer};
use crate::claims::{Claim, Purpose};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::events::OrderEvent;
use crate::http::envelope::{Created, Reply};
use crate::http::json::JsonBody;
use crate::idempotency::{IdempotencyKey, Scoped};
use crate::state::AppState;
use crate::store::At;
use crate::types::{Count, Day, Paging, day, fingerprint};
use crate::users::{USERS, USERS_BY_EMAIL, timestamp};

#[derive(Debug, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct StatusChange {
    pub status: Status,
    pub tracking_number: Option<String>,
    pub carrier: Option<String>,
    pub estimated_delivery: Option<String>,
}

#[derive(Debug, Deserialize, Object)]
pub struct CancelBody {
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, Object)]
pub struct NoteBody {
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,998}\S)?\s*$"))]
    pub note: String,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct OrderPage {
    pub orders: Vec<OrderView>,
    pub total: u64,
    pub skip: u64,
    pub limit: u64,
    /// For the admin list: the `cursor` of the next page; null at the end (and on a user's own
    /// list).
    pub next_cursor: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct TrackingEvent {
    pub status: Status,
    pub at: String,
    pub note: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Tracking {
    pub order_id: String,
    pub status: Status,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub estimated_delivery: Option<String>,
    pub events: Vec<TrackingEvent>,
}

#[derive(ApiResponse)]
pub enum InvoiceReply {
    /// The invoice as a PDF.
    #[oai(status = 200, content_type = "application/pdf")]
    Pdf(Binary<Vec<u8>>, #[oai(header = "Content-Disposition")] String),
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::OrderNotFound)
}

/// The order if the principal may see it (owner or admin); otherwise "not found", with no hint
/// that it exists.
fn visible(state: &AppState, id: Uuid, who: &Principal) -> ApiResult<Order> {
    let order = state.store.read()?.get(&ORDERS, &id)?.ok_or_else(not_found)?;
    if order.user_id != who.user_id && !who.is_admin() {
        return Err(not_found());
    }
    Ok(order)
}

fn page_of(list: Vec<OrderView>, total: u64, paging: Paging) -> OrderPage {
    OrderPage { orders: list, total, skip: paging.skip as u64, limit: paging.limit as u64, next_cursor: None }
}

pub struct OrdersApi;

#[OpenApi(prefix_path = "/api/v1/orders", tag = "crate::openapi::Tag::Orders")]
impl OrdersApi {
    /// Place an order, from `products` or from the cart. Stock is taken for every line in one
    /// transaction, or for none. With an `Idempotency-Key`, a repeat returns the first answer.
    #[oai(path = "/", method = "post", operation_id = "placeOrder")]
    async fn create(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Bearer,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<CreateOrder>,
    ) -> ApiResult<Created<OrderView>> {
        let input = body.0;
        let user_id = auth.0.user_id;
        checkout::check(&input)?;
        let idem = key.0.map(|k| Scoped::new("orders", user_id, &k, fingerprint(&input)));
        match checkout::place(&state, checkout::Customer::User(user_id), input, idem, Actor::of(req, Some(user_id)))
            .await?
        {
            Placed::New(order) => {
                state.metrics.orders_placed.inc();
                Ok(Created::new(order.view()))
            }
            Placed::Replayed(first) => Ok(Created::new(*first)),
        }
    }

    /// The caller's orders, newest first.
    #[oai(path = "/", method = "get", operation_id = "listMyOrders")]
    async fn mine(
        &self,
        state: Data<&AppState>,
        auth: Bearer,
        skip: Query<Option<Count>>,
        limit: Query<Option<Count>>,
        status: Query<Option<Status>>,
    ) -> ApiResult<Reply<OrderPage>> {
        let paging = Paging::new(skip.0, limit.0);
        let status = status.0;
        let r = state.store.read()?;
        let (list, total) = paging.page(
            r.scan_index(&ORDERS, ORDERS_BY_USER, &(auth.0.user_id,), true)?,
            |o| status.is_none_or(|s| s == o.status),
            |o| {
                let mut view = o.view();
                view.payment = crate::payments::latest(&r, o.id)?;
                Ok(view)
            },
        )?;
        Ok(Reply::ok(page_of(list, total, paging)))
    }

    /// Every order, newest first, each with its customer. `status`, `from`/`to` (days of the
    /// shop's timezone, both included), `userId` and `q` (an order id, or a customer's email)
    /// narrow it. A page costs the page at any number of orders: pass the answer's
    /// `nextCursor` as `cursor` for the next one (`skip` works too, and walks the keys it
    /// skips); the total of a date range costs a walk of the range's keys.
    #[oai(path = "/all", method = "get", operation_id = "listAllOrders")]
    #[allow(clippy::too_many_arguments)]
    async fn all(
        &self,
        state: Data<&AppState>,
        _admin: Admin,
        skip: Query<Option<Count>>,
        limit: Query<Option<Count>>,
        status: Query<Option<Status>>,
        cursor: Query<Option<Uuid>>,
        from: Query<Option<Day>>,
        to: Query<Option<Day>>,
        #[oai(name = "userId")] user_id: Query<Option<u64>>,
        /// The order's number (`1001`).
        number: Query<Option<u64>>,
        /// An order number (`#1001` or `1001`), an order id, or a customer's email (whole, any
        /// case).
        #[oai(validator(max_length = 254))]
        q: Query<Option<String>>,
    ) -> ApiResult<Reply<OrderPage>> {
        let paging = Paging::new(skip.0, limit.0);
        let tz = crate::shop::tz(&state)?;
        if let (Some(f), Some(t)) = (day(from.0), day(to.0))
            && f > t
        {
            return Err(ApiError::field("from", "`from` must not be after `to`"));
        }
        let lo = day(from.0).map(|d| first_id_at(crate::stats::day_start(tz, d)));
        let hi = day(to.0).and_then(|d| d.succ_opt()).map(|d| first_id_at(crate::stats::day_start(tz, d)));
        let in_range = |id: &Uuid| lo.is_none_or(|lo| *id >= lo) && hi.is_none_or(|hi| *id < hi);
        let r = state.store.read()?;
        let empty = || Ok(Reply::ok(page_of(Vec::new(), 0, paging)));

        let by_number = |n: u64| -> ApiResult<Option<Uuid>> {
            Ok(Some(r.get_unique(&ORDERS, ORDERS_BY_NUMBER, &n)?.map_or(Uuid::nil(), |o| o.id)))
        };
        let (mut customer, mut only) = (user_id.0, None);
        if let Some(n) = number.0 {
            only = by_number(n)?;
        }
        if let Some(q) = q.0.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            if let Ok(n) = q.trim_start_matches('#').parse::<u64>() {
                match (only, by_number(n)?) {
                    (Some(a), Some(b)) if a != b => return empty(),
                    (_, found) => only = found,
                }
            } else if let Ok(id) = q.parse::<Uuid>() {
                if only.is_some_and(|o| o != id) {
                    return empty();
                }
                only = Some(id);
            } else if q.contains('@') {
                match r.get_unique(&USERS, USERS_BY_EMAIL, &q.to_lowercase())? {
                    Some(u) if customer.is_none_or(|c| c == u.id) => customer = Some(u.id),
                    _ => return empty(),
                }
            } else {
                return Err(ApiError::field("q", "Search by an order number, an order id or a customer's whole email"));
            }
        }
        let wanted = |o: &Order| {
            status.0.is_none_or(|s| o.status == s) && customer.is_none_or(|c| o.user_id == c) && in_range(&o.id)
        };
        let (orders, total) = if only.is_some() || customer.is_some() {
            // One order, or one customer's: few enough to filter whole.
            let all: Vec<Order> = match (only, customer) {
                (Some(id), _) => r.get(&ORDERS, &id)?.into_iter().collect(),
                (None, Some(c)) => r.scan_index(&ORDERS, ORDERS_BY_USER, &(c,), true)?.collect::<Result<_, _>>()?,
                (None, None) => unreachable!("one of them is set"),
            };
            let all: Vec<Order> = all.into_iter().filter(|o| wanted(o)).collect();
            let total = all.len() as u64;
            let start = match cursor.0 {
                Some(c) => all.iter().position(|o| o.id == c).map_or(all.len(), |i| i + 1),
                None => paging.skip.min(all.len()),
            };
            (all.into_iter().skip(start).take(paging.limit).collect::<Vec<_>>(), total)
        } else {
            // Newest first from the range's end (ids are v7: their order is the time's).
            // A cursor past the range's end starts at the end.
            let start = match (cursor.0, hi) {
                (Some(c), Some(h)) => Some(c.min(h)),
                (c, h) => c.or(h),
            };
            let at = At {
                from: start.as_ref(),
                skip: if cursor.0.is_some() { 0 } else { paging.skip },
                limit: paging.limit,
            };
            let dated = lo.is_some() || hi.is_some();
            let (mut page, total) = match status.0 {
                None => {
                    let total =
                        if dated { r.count_between(&ORDERS, lo.as_ref(), hi.as_ref())? } else { r.count(&ORDERS)? };
                    (r.page(&ORDERS, true, at)?, total)
                }
                Some(s) => {
                    let key = (s.as_str(),);
                    let total = if dated {
                        r.count_index_between(ORDERS_BY_STATUS, &key, lo.as_ref(), hi.as_ref())?
                    } else {
                        r.count_key(ORDERS_BY_STATUS, &key)?
                    };
                    (r.page_index(&ORDERS, ORDERS_BY_STATUS, &key, true, at)?, total)
                }
            };
            // The page may run past the range's start.
            if let Some(end) = page.iter().position(|o| !in_range(&o.id)) {
                page.truncate(end);
            }
            (page, total)
        };
        let next_cursor = (orders.len() == paging.limit).then(|| orders.last().map(|o| o.id.to_string())).flatten();
        let mut list = Vec::with_capacity(orders.len());
        for o in orders {
            let mut view = o.view();
            view.payment = crate::payments::latest(&r, o.id)?;
            view.user = r.get(&USERS, &o.user_id)?.map(|u| OrderUser {
                id: u.id,
                email: u.email,
                first_name: u.first_name,
                last_name: u.last_name,
            });
            list.push(view);
        }
        let mut page = page_of(list, total, paging);
        page.next_cursor = next_cursor;
        Ok(Reply::ok(page))
    }

    /// One order (its owner or an admin).
    #[oai(path = "/:id", method = "get", operation_id = "getOrder")]
    async fn get(&self, state: Data<&AppState>, auth: Viewer, id: Path<Uuid>) -> ApiResult<Reply<OrderView>> {
        let (order, _) = guest::visible(&state, id.0, &auth)?;
        let mut view = order.view();
        view.payment = crate::payments::latest(&state.store.read()?, order.id)?;
        Ok(Reply::ok(view))
    }

    /// Move an order along: PENDING → PROCESSING → SHIPPED → DELIVERED, or cancel it from
    /// PENDING or PROCESSING (which restocks it).
    #[oai(path = "/:id/status", method = "patch", operation_id = "updateOrderStatus")]
    async fn set_status(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<Uuid>,
        body: JsonBody<StatusChange>,
    ) -> ApiResult<Reply<OrderView>> {
        let id = id.0;
        let _claim = Claim::take(Purpose::OrderChange, id)?;
        let change = body.0;
        let actor = Actor::of(req, Some(admin.0.user_id));
        if change.status == Status::Cancelled {
            let order = super::cancel::cancel(&state, id, None, Why::Shop, actor).await?;
            return Ok(Reply::ok(order.view()));
        }
        let order = state
            .store
            .write(move |w| {
                let mut o = w.get(&ORDERS, &id)?.ok_or_else(not_found)?;
                let from = o.status;
                o.transition(change.status, None)?;
                if let Some(t) = change.tracking_number.filter(|t| !t.trim().is_empty()) {
                    o.tracking_number = Some(t.trim().to_string());
                }
                if let Some(c) = change.carrier.filter(|c| !c.trim().is_empty()) {
                    o.carrier = Some(c.trim().to_string());
                }
                if let Some(e) = change.estimated_delivery.filter(|e| !e.trim().is_empty()) {
                    o.estimated_delivery = Some(e.trim().to_string());
                }
                w.put(&ORDERS, &id, &o)?;
                audit::record(
                    w,
                    &actor,
                    Event::new("ORDER_STATUS_CHANGE", "Order", id).change(json!(from), json!(o.status)),
                )?;
                crate::events::tell(w, id, OrderEvent::StatusChanged { from, to: o.status })?;
                Ok::<_, ApiError>(o)
            })
            .await?;
        Ok(Reply::ok(order.view()))
    }

    /// Cancel an own order while it is PENDING or PROCESSING: the stock comes back and a
    /// succeeded payment is refunded.
    #[oai(path = "/:id/cancel", method = "post", operation_id = "cancelOrder")]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Viewer,
        id: Path<Uuid>,
        body: JsonBody<CancelBody>,
    ) -> ApiResult<Reply<OrderView>> {
        let (order, who) = guest::visible(&state, id.0, &auth)?;
        let id = order.id;
        let _claim = Claim::take(Purpose::OrderChange, id)?;
        // The customer's own order (an admin cancels as a customer would here only their own).
        let user_id = who.map_or(GUEST, |p| p.user_id);
        if order.user_id != user_id {
            return Err(not_found());
        }
        let reason = body.0.reason.map(|r| r.chars().take(500).collect::<String>());
        let actor = Actor::of(req, who.map(|p| p.user_id));
        let order = super::cancel::cancel(&state, id, Some(user_id), Why::Customer { reason }, actor).await?;
        Ok(Reply::ok(order.view()))
    }

    /// Where the parcel is, from the order's own status history.
    #[oai(path = "/:id/tracking", method = "get", operation_id = "getTracking")]
    async fn tracking(&self, state: Data<&AppState>, auth: Viewer, id: Path<Uuid>) -> ApiResult<Reply<Tracking>> {
        let (o, _) = guest::visible(&state, id.0, &auth)?;
        let Some(number) = o.tracking_number.clone() else {
            return Err(ApiError::new(ErrorCode::TrackingUnavailable));
        };
        Ok(Reply::ok(Tracking {
            order_id: o.id.to_string(),
            status: o.status,
            tracking_url: o.carrier.as_deref().and_then(|c| super::tracking_url(c, &number)),
            carrier: o.carrier,
            tracking_number: Some(number),
            estimated_delivery: o.estimated_delivery,
            events: o
                .history
                .iter()
                .map(|h| TrackingEvent { status: h.status, at: timestamp(&h.at), note: h.note.clone() })
                .collect(),
        }))
    }

    /// The invoice as a PDF: seller, buyer, lines with their discount, tax, shipping, total and
    /// payment, on as many A4 or Letter pages as the order needs.
    #[oai(path = "/:id/invoice", method = "get", operation_id = "getInvoice")]
    async fn invoice(&self, state: Data<&AppState>, auth: Viewer, id: Path<Uuid>) -> ApiResult<InvoiceReply> {
        let (o, _) = guest::visible(&state, id.0, &auth)?;
        let name = format!("invoice-{}.pdf", o.number);
        let doc = super::invoice::invoice(&super::invoice::sources(&state, o).await?);
        let pdf = super::invoice::draw(doc).await?;
        Ok(InvoiceReply::Pdf(Binary(pdf), format!("attachment; filename=\"{name}\"")))
    }

    /// The credit note of one of the order's refunds that went through, as a PDF.
    #[oai(path = "/:id/credit-notes/:refundId", method = "get", operation_id = "getCreditNote")]
    async fn credit_note(
        &self,
        state: Data<&AppState>,
        auth: Viewer,
        id: Path<Uuid>,
        #[oai(name = "refundId")] refund_id: Path<Uuid>,
    ) -> ApiResult<InvoiceReply> {
        let (o, _) = guest::visible(&state, id.0, &auth)?;
        let src = super::invoice::sources(&state, o).await?;
        let doc = super::invoice::credit_note(&src, refund_id.0)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("No refund of this order has this id"))?;
        let name = format!("{}.pdf", doc.number);
        let pdf = super::invoice::draw(doc).await?;
        Ok(InvoiceReply::Pdf(Binary(pdf), format!("attachment; filename=\"{name}\"")))
    }

    /// Add a note (the owner or an admin).
    #[oai(path = "/:id/notes", method = "post", operation_id = "addOrderNote")]
    async fn note(
        &self,
        state: Data<&AppState>,
        auth: Bearer,
        id: Path<Uuid>,
        body: JsonBody<NoteBody>,
    ) -> ApiResult<Created<NoteView>> {
        let text = body.0.note.trim().to_string();
        if !(1..=1000).contains(&text.chars().count()) {
            return Err(ApiError::field("note", "A note has 1 to 1000 characters"));
        }
        let who = auth.0;
        let id = visible(&state, id.0, &who)?.id;
        let note = state
            .store
            .write(move |w| {
                let mut o = w.get(&ORDERS, &id)?.ok_or_else(not_found)?;
                let note =
                    Note { id: w.next_id(&ORDER_NOTES)?, author_id: who.user_id, note: text, created_at: Utc::now() };
                o.notes.push(note.clone());
                w.put(&ORDERS, &id, &o)?;
                Ok::<_, ApiError>(note)
            })
            .await?;
        Ok(Created::new(NoteView {
            id: note.id,
            author_id: note.author_id,
            note: note.note,
            created_at: timestamp(&note.created_at),
        }))
    }

    /// Ask to return items of a DELIVERED order, within 30 days of delivery.
    #[oai(path = "/:id/returns", method = "post", operation_id = "requestReturn")]
    async fn request_return(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Bearer,
        id: Path<Uuid>,
        body: JsonBody<ReturnBody>,
    ) -> ApiResult<Created<ReturnView>> {
        let id = id.0;
        let b = body.0;
        returns::check(&b)?;
        let ret = returns::request(&state, id, auth.0.user_id, b, Actor::of(req, Some(auth.0.user_id))).await?;
        Ok(Created::new(ret.view()))
    }

    /// Approve (restocks and refunds the returned lines) or reject a requested return.
    #[oai(path = "/:id/returns/:return_id", method = "patch", operation_id = "decideReturn")]
    async fn decide_return(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<Uuid>,
        return_id: Path<u64>,
        body: JsonBody<ReturnDecision>,
    ) -> ApiResult<Reply<ReturnView>> {
        let id = id.0;
        let decision = body.0.status;
        let actor = Actor::of(req, Some(admin.0.user_id));
        let (_, ret) = returns::decide(&state, id, return_id.0, decision, &actor).await?;
        Ok(Reply::ok(ret.view()))
    }
}
