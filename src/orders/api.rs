//! `/api/v1/orders`: checkout, the order lists, status changes, cancellation, tracking,
//! invoices, notes and returns.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Binary;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{
    HistoryEntry, Note, NoteView, ORDER_ITEMS, ORDER_NOTES, ORDER_RETURNS, ORDERS, ORDERS_BY_USER, Order, OrderItem,
    OrderUser, OrderView, Return, ReturnItem, ReturnStatus, ReturnView, ShippingAddress, Status, totals,
};
use crate::audit::{self, Actor, Event};
use crate::auth::guard::{Admin, Bearer, Principal};
use crate::cart::CARTS;
use crate::claims::{Claim, Purpose};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::events::Happened;
use crate::http::envelope::{Created, Reply};
use crate::http::json::JsonBody;
use crate::idempotency::{IdempotencyKey, Scoped};
use crate::products::mirror::write_published;
use crate::products::{PRODUCTS, Product};
use crate::state::AppState;
use crate::store::{StoreError, WriteTx};
use crate::types::{Count, Money, Paging, fingerprint};
use crate::users::{ADDRESSES, Check, USERS, timestamp};

const RETURN_DAYS: i64 = 30;
/// Lines per order: enough for any basket, small enough that one order cannot hold the writer.
const MAX_LINES: usize = 100;

#[derive(Debug, Clone, Serialize, Deserialize, Object)]
pub struct LineInput {
    /// The product id.
    pub id: u64,
    #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
    pub quantity: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct CreateOrder {
    /// Without it, the caller's cart is ordered (and emptied).
    #[oai(validator(min_items = 1, max_items = 100))]
    pub products: Option<Vec<LineInput>>,
    pub shipping_address: Option<ShippingAddress>,
    /// A saved address of the caller, instead of `shippingAddress`.
    pub address_id: Option<u64>,
    pub payment_intent_id: Option<String>,
}

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

#[derive(Debug, Deserialize, Object)]
pub struct ReturnBody {
    #[oai(validator(pattern = r"^\s*\S(?:[\s\S]{0,998}\S)?\s*$"))]
    pub reason: String,
    #[oai(validator(min_items = 1))]
    pub items: Vec<ReturnItem>,
}

#[derive(Debug, Deserialize, Object)]
pub struct ReturnDecision {
    /// APPROVED or REJECTED.
    pub status: ReturnStatus,
}

#[derive(Debug, Object)]
pub struct OrderPage {
    pub orders: Vec<OrderView>,
    pub total: u64,
    pub skip: u64,
    pub limit: u64,
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

fn parse_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| not_found())
}

/// The order if the principal may see it (owner or admin); otherwise "not found", with no hint
/// that it exists.
fn visible(state: &AppState, id: &str, who: &Principal) -> ApiResult<Order> {
    let order = state.store.read()?.get(&ORDERS, &parse_id(id)?)?.ok_or_else(not_found)?;
    if order.user_id != who.user_id && !who.is_admin() {
        return Err(not_found());
    }
    Ok(order)
}

fn insufficient(p: &Product, requested: u64) -> ApiError {
    ApiError::new(ErrorCode::InsufficientStock)
        .with_message(format!("Insufficient stock for {}: available {}, requested {requested}", p.title, p.stock))
}

/// Puts units back on the shelf; returns the products changed.
fn restock(w: &mut WriteTx<'_>, lines: &[(u64, u32)]) -> Result<Vec<Product>, StoreError> {
    let mut changed: BTreeMap<u64, Product> = BTreeMap::new();
    for (product_id, quantity) in lines {
        let current = match changed.remove(product_id) {
            Some(p) => Some(p),
            None => w.get(&PRODUCTS, product_id)?,
        };
        if let Some(mut p) = current {
            p.stock += *quantity as i64;
            p.updated_at = Utc::now();
            crate::products::save(w, &mut p)?;
            changed.insert(*product_id, p);
        }
    }
    Ok(changed.into_values().collect())
}

fn check_address(a: &ShippingAddress) -> ApiResult<()> {
    let mut c = Check::default();
    let fields = [
        ("firstName", &a.first_name),
        ("lastName", &a.last_name),
        ("address", &a.address),
        ("city", &a.city),
        ("state", &a.state),
        ("zipCode", &a.zip_code),
        ("country", &a.country),
    ];
    for (name, value) in fields {
        c.required(&format!("shippingAddress.{name}"), value, 200);
    }
    c.finish()
}

fn page_of(list: Vec<OrderView>, total: u64, paging: Paging) -> OrderPage {
    OrderPage { orders: list, total, skip: paging.skip as u64, limit: paging.limit as u64 }
}

fn tracking_url(carrier: &str, number: &str) -> Option<String> {
    let base = match carrier.to_ascii_lowercase().as_str() {
        "ups" => "https://www.ups.com/track?tracknum=",
        "fedex" => "https://www.fedex.com/fedextrack/?trknbr=",
        "usps" => "https://tools.usps.com/go/TrackConfirmAction?tLabels=",
        "dhl" => "https://www.dhl.com/global-en/home/tracking.html?tracking-id=",
        _ => return None,
    };
    Some(format!("{base}{number}"))
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
        if let Some(a) = &input.shipping_address {
            check_address(a)?;
        } else if input.address_id.is_none() {
            return Err(ApiError::field("shippingAddress", "A shipping address (or addressId) is required"));
        }
        if let Some(lines) = &input.products {
            if lines.len() > MAX_LINES {
                return Err(ApiError::field("products", format!("At most {MAX_LINES} lines per order")));
            }
            let mut c = Check::default();
            for (i, l) in lines.iter().enumerate() {
                if !(1..=10_000).contains(&l.quantity) {
                    c.add(&format!("products.{i}.quantity"), "Quantity must be 1 to 10000");
                }
            }
            c.finish()?;
        }
        let idem = key.0.map(|k| Scoped::new("orders", user_id, &k, fingerprint(&input)));
        let settings = state.settings.clone();
        let actor = Actor::of(req, Some(user_id));
        enum Outcome {
            Placed(Box<Order>, Vec<Product>),
            Replayed(Box<OrderView>),
        }
        let outcome = write_published(
            &state,
            move |w| {
                if let Some(k) = &idem
                    && let Some(first) = k.replay_in(w)?
                {
                    return Ok(Outcome::Replayed(Box::new(first)));
                }
                let address = match (input.shipping_address, input.address_id) {
                    (Some(a), _) => a,
                    (None, Some(id)) => {
                        let a = w
                            .get(&ADDRESSES, &(user_id, id))?
                            .ok_or_else(|| ApiError::new(ErrorCode::AddressNotFound))?;
                        ShippingAddress {
                            first_name: a.first_name,
                            last_name: a.last_name,
                            address: a.address,
                            city: a.city,
                            state: a.state,
                            zip_code: a.zip_code,
                            country: a.country,
                            phone: Some(a.phone),
                        }
                    }
                    (None, None) => unreachable!("checked above"),
                };
                let cart_key = format!("u:{user_id}");
                let from_cart = input.products.is_none();
                let mut wanted: BTreeMap<u64, u64> = BTreeMap::new();
                let requested: Vec<(u64, u64)> = match input.products {
                    Some(lines) => lines.into_iter().map(|l| (l.id, l.quantity as u64)).collect(),
                    None => w
                        .get(&CARTS, cart_key.as_str())?
                        .map(|c| c.items.into_iter().map(|l| (l.product_id, l.quantity as u64)).collect())
                        .unwrap_or_default(),
                };
                for (id, q) in requested {
                    *wanted.entry(id).or_default() += q;
                }
                if wanted.is_empty() {
                    return Err(ApiError::new(ErrorCode::EmptyOrder));
                }
                let mut items = Vec::with_capacity(wanted.len());
                let mut changed = Vec::with_capacity(wanted.len());
                for (product_id, quantity) in wanted {
                    let mut p = w.get(&PRODUCTS, &product_id)?.filter(|p| p.is_active).ok_or_else(|| {
                        ApiError::new(ErrorCode::ProductNotFound)
                            .with_message(format!("Product {product_id} not found"))
                    })?;
                    if (quantity as i64) > p.stock {
                        return Err(insufficient(&p, quantity));
                    }
                    p.stock -= quantity as i64;
                    p.updated_at = Utc::now();
                    crate::products::save(w, &mut p)?;
                    let price = p.discounted_price();
                    items.push(OrderItem {
                        id: w.next_id(&ORDER_ITEMS)?,
                        product_id,
                        quantity: quantity as u32,
                        price,
                        total: Money::from_decimal(price.amount() * rust_decimal::Decimal::from(quantity)),
                        title: p.title.clone(),
                        thumbnail: p.thumbnail.clone(),
                    });
                    changed.push(p);
                }
                let t = totals(&items, &settings);
                let now = Utc::now();
                let order = Order {
                    id: Uuid::now_v7(),
                    user_id,
                    status: Status::Pending,
                    subtotal: t.subtotal,
                    tax: t.tax,
                    shipping: t.shipping,
                    total: t.total,
                    currency: "USD".into(),
                    tracking_number: None,
                    carrier: None,
                    estimated_delivery: None,
                    delivered_at: None,
                    cancelled_at: None,
                    cancel_reason: None,
                    created_at: now,
                    updated_at: now,
                    items,
                    address,
                    // Bound by the payments endpoints, never taken from the client.
                    payment_intent_id: None,
                    notes: Vec::new(),
                    history: vec![HistoryEntry { status: Status::Pending, at: now, note: Some("Order placed".into()) }],
                    returns: Vec::new(),
                };
                w.put(&ORDERS, &order.id, &order)?;
                if from_cart {
                    w.delete(&CARTS, cart_key.as_str())?;
                }
                if let Some(k) = &idem {
                    k.record(w, &order.view())?;
                }
                audit::record(
                    w,
                    &actor,
                    Event::new("ORDER_CREATE", "Order", order.id).metadata(json!({ "total": order.total.to_string() })),
                )?;
                Ok(Outcome::Placed(Box::new(order), changed))
            },
            |o: &Outcome| match o {
                Outcome::Placed(_, changed) => (changed.clone(), None),
                Outcome::Replayed(_) => (Vec::new(), None),
            },
        )
        .await?;
        match outcome {
            Outcome::Placed(order, _) => {
                state.metrics.orders_placed.inc();
                state.events.publish(Happened::OrderCreated(order.as_ref().clone()));
                Ok(Created::new(order.view()))
            }
            Outcome::Replayed(first) => Ok(Created::new(*first)),
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

    /// Every order, newest first, each with its customer.
    #[oai(path = "/all", method = "get", operation_id = "listAllOrders")]
    async fn all(
        &self,
        state: Data<&AppState>,
        _admin: Admin,
        skip: Query<Option<Count>>,
        limit: Query<Option<Count>>,
        status: Query<Option<Status>>,
    ) -> ApiResult<Reply<OrderPage>> {
        let paging = Paging::new(skip.0, limit.0);
        let status = status.0;
        let r = state.store.read()?;
        let (list, total) = paging.page(
            r.scan(&ORDERS, &(), true)?,
            |o| status.is_none_or(|s| s == o.status),
            |o| {
                let mut view = o.view();
                view.payment = crate::payments::latest(&r, o.id)?;
                view.user = r.get(&USERS, &o.user_id)?.map(|u| OrderUser {
                    id: u.id,
                    email: u.email,
                    first_name: u.first_name,
                    last_name: u.last_name,
                });
                Ok(view)
            },
        )?;
        Ok(Reply::ok(page_of(list, total, paging)))
    }

    /// One order (its owner or an admin).
    #[oai(path = "/:id", method = "get", operation_id = "getOrder")]
    async fn get(&self, state: Data<&AppState>, auth: Bearer, id: Path<String>) -> ApiResult<Reply<OrderView>> {
        let order = visible(&state, &id.0, &auth.0)?;
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
        id: Path<String>,
        body: JsonBody<StatusChange>,
    ) -> ApiResult<Reply<OrderView>> {
        let id = parse_id(&id.0)?;
        let _claim = Claim::take(Purpose::OrderChange, id)?;
        let change = body.0;
        let actor = Actor::of(req, Some(admin.0.user_id));
        if change.status == Status::Cancelled {
            // The refund comes first: if the provider fails, the order is left as it was.
            let current = state.store.read()?.get(&ORDERS, &id)?.ok_or_else(not_found)?;
            if current.status.can_become(Status::Cancelled) {
                crate::payments::refund_order(&state, &current, None, "cancel", &actor).await?;
                crate::payments::cancel_open(&state, &current, &actor).await?;
            }
        }
        let (order, from, _) = write_published(
            &state,
            move |w| {
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
                let changed = if o.status == Status::Cancelled {
                    o.cancel_reason = Some("Cancelled by the shop".into());
                    restock(w, &o.items.iter().map(|i| (i.product_id, i.quantity)).collect::<Vec<_>>())?
                } else {
                    Vec::new()
                };
                w.put(&ORDERS, &id, &o)?;
                audit::record(
                    w,
                    &actor,
                    Event::new("ORDER_STATUS_CHANGE", "Order", id).change(json!(from), json!(o.status)),
                )?;
                Ok::<_, ApiError>((o, from, changed))
            },
            |r: &(Order, Status, Vec<Product>)| (r.2.clone(), None),
        )
        .await?;
        state.events.publish(Happened::StatusChanged { order: order.clone(), from });
        Ok(Reply::ok(order.view()))
    }

    /// Cancel an own order while it is PENDING or PROCESSING: the stock comes back and a
    /// succeeded payment is refunded.
    #[oai(path = "/:id/cancel", method = "post", operation_id = "cancelOrder")]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: Bearer,
        id: Path<String>,
        body: JsonBody<CancelBody>,
    ) -> ApiResult<Reply<OrderView>> {
        let id = parse_id(&id.0)?;
        let _claim = Claim::take(Purpose::OrderChange, id)?;
        let user_id = auth.0.user_id;
        let reason = body.0.reason.map(|r| r.chars().take(500).collect::<String>());
        let actor = Actor::of(req, Some(user_id));
        let current = state.store.read()?.get(&ORDERS, &id)?.filter(|o| o.user_id == user_id).ok_or_else(not_found)?;
        if current.status.can_become(Status::Cancelled) {
            // The refund comes first: if the provider fails, the order is left as it was.
            crate::payments::refund_order(&state, &current, None, "cancel", &actor).await?;
            crate::payments::cancel_open(&state, &current, &actor).await?;
        }
        let (order, _) = write_published(
            &state,
            move |w| {
                let mut o = w.get(&ORDERS, &id)?.filter(|o| o.user_id == user_id).ok_or_else(not_found)?;
                if !o.status.can_become(Status::Cancelled) {
                    return Err(ApiError::new(ErrorCode::OrderCannotCancel)
                        .with_message(format!("A {} order can no longer be cancelled", o.status.as_str())));
                }
                let from = o.status;
                o.transition(Status::Cancelled, reason.clone())?;
                o.cancel_reason = reason;
                let changed = restock(w, &o.items.iter().map(|i| (i.product_id, i.quantity)).collect::<Vec<_>>())?;
                w.put(&ORDERS, &id, &o)?;
                audit::record(
                    w,
                    &actor,
                    Event::new("ORDER_CANCEL", "Order", id).change(json!(from), json!(Status::Cancelled)),
                )?;
                Ok((o, changed))
            },
            |r: &(Order, Vec<Product>)| (r.1.clone(), None),
        )
        .await?;
        state.events.publish(Happened::Cancelled(order.clone()));
        Ok(Reply::ok(order.view()))
    }

    /// Where the parcel is, from the order's own status history.
    #[oai(path = "/:id/tracking", method = "get", operation_id = "getTracking")]
    async fn tracking(&self, state: Data<&AppState>, auth: Bearer, id: Path<String>) -> ApiResult<Reply<Tracking>> {
        let o = visible(&state, &id.0, &auth.0)?;
        let Some(number) = o.tracking_number.clone() else {
            return Err(ApiError::new(ErrorCode::TrackingUnavailable));
        };
        Ok(Reply::ok(Tracking {
            order_id: o.id.to_string(),
            status: o.status,
            tracking_url: o.carrier.as_deref().and_then(|c| tracking_url(c, &number)),
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

    /// The invoice as a PDF.
    #[oai(path = "/:id/invoice", method = "get", operation_id = "getInvoice")]
    async fn invoice(&self, state: Data<&AppState>, auth: Bearer, id: Path<String>) -> ApiResult<InvoiceReply> {
        let o = visible(&state, &id.0, &auth.0)?;
        let customer = state.store.read()?.get(&USERS, &o.user_id)?;
        let name = format!("invoice-{}.pdf", o.id);
        let pdf = tokio::task::spawn_blocking(move || super::invoice::render(&o, customer.as_ref()))
            .await
            .map_err(ApiError::internal)?;
        Ok(InvoiceReply::Pdf(Binary(pdf), format!("attachment; filename=\"{name}\"")))
    }

    /// Add a note (the owner or an admin).
    #[oai(path = "/:id/notes", method = "post", operation_id = "addOrderNote")]
    async fn note(
        &self,
        state: Data<&AppState>,
        auth: Bearer,
        id: Path<String>,
        body: JsonBody<NoteBody>,
    ) -> ApiResult<Created<NoteView>> {
        let text = body.0.note.trim().to_string();
        if !(1..=1000).contains(&text.chars().count()) {
            return Err(ApiError::field("note", "A note has 1 to 1000 characters"));
        }
        let who = auth.0;
        let id = visible(&state, &id.0, &who)?.id;
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
        id: Path<String>,
        body: JsonBody<ReturnBody>,
    ) -> ApiResult<Created<ReturnView>> {
        let id = parse_id(&id.0)?;
        let user_id = auth.0.user_id;
        let b = body.0;
        let mut c = Check::default();
        c.required("reason", &b.reason, 1000);
        if b.items.is_empty() {
            c.add("items", "Name at least one item to return");
        }
        for (i, item) in b.items.iter().enumerate() {
            if item.quantity == 0 {
                c.add(&format!("items.{i}.quantity"), "Quantity must be 1 or more");
            }
        }
        c.finish()?;
        let actor = Actor::of(req, Some(user_id));
        let ret = state
            .store
            .write(move |w| {
                let mut o = w.get(&ORDERS, &id)?.filter(|o| o.user_id == user_id).ok_or_else(not_found)?;
                let not_allowed = |why: &str| ApiError::new(ErrorCode::ReturnNotAllowed).with_message(why.to_string());
                let delivered = o
                    .delivered_at
                    .filter(|_| o.status == Status::Delivered)
                    .ok_or_else(|| not_allowed("Only delivered orders can be returned"))?;
                if Utc::now() - delivered > Duration::days(RETURN_DAYS) {
                    return Err(not_allowed("Returns are accepted for 30 days after delivery"));
                }
                for item in &b.items {
                    let line = o
                        .items
                        .iter()
                        .find(|l| l.id == item.order_item_id)
                        .ok_or_else(|| not_allowed("An item is not part of this order"))?;
                    // Summed in u64: client quantities must not wrap around the check.
                    let already: u64 = o
                        .returns
                        .iter()
                        .filter(|r| r.status != ReturnStatus::Rejected)
                        .flat_map(|r| &r.items)
                        .filter(|i| i.order_item_id == item.order_item_id)
                        .map(|i| i.quantity as u64)
                        .sum();
                    let asked: u64 = b
                        .items
                        .iter()
                        .filter(|i| i.order_item_id == item.order_item_id)
                        .map(|i| i.quantity as u64)
                        .sum();
                    if already + asked > line.quantity as u64 {
                        return Err(not_allowed("More units than were ordered"));
                    }
                }
                let ret = Return {
                    id: w.next_id(&ORDER_RETURNS)?,
                    status: ReturnStatus::Requested,
                    items: b.items,
                    reason: b.reason.trim().to_string(),
                    created_at: Utc::now(),
                    decided_at: None,
                };
                o.returns.push(ret.clone());
                o.updated_at = Utc::now();
                w.put(&ORDERS, &id, &o)?;
                audit::record(
                    w,
                    &actor,
                    Event::new("RETURN_REQUESTED", "Order", id).metadata(json!({ "returnId": ret.id })),
                )?;
                Ok(ret)
            })
            .await?;
        Ok(Created::new(ret.view()))
    }

    /// Approve (restocks and refunds the returned lines) or reject a requested return.
    #[oai(path = "/:id/returns/:return_id", method = "patch", operation_id = "decideReturn")]
    async fn decide_return(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        id: Path<String>,
        return_id: Path<u64>,
        body: JsonBody<ReturnDecision>,
    ) -> ApiResult<Reply<ReturnView>> {
        let id = parse_id(&id.0)?;
        let _claim = Claim::take(Purpose::OrderChange, id)?;
        let (return_id, decision) = (return_id.0, body.0.status);
        if decision == ReturnStatus::Requested {
            return Err(ApiError::field("status", "status must be APPROVED or REJECTED"));
        }
        let actor = Actor::of(req, Some(admin.0.user_id));
        if decision == ReturnStatus::Approved {
            // The refund comes first: if the provider fails, the return stays REQUESTED.
            let o = state.store.read()?.get(&ORDERS, &id)?.ok_or_else(not_found)?;
            if let Some(ret) = o.returns.iter().find(|r| r.id == return_id && r.status == ReturnStatus::Requested) {
                let amount: rust_decimal::Decimal = ret
                    .items
                    .iter()
                    .filter_map(|i| {
                        o.items
                            .iter()
                            .find(|l| l.id == i.order_item_id)
                            .map(|l| l.price.amount() * rust_decimal::Decimal::from(i.quantity))
                    })
                    .sum();
                // The returned lines with their share of the tax (shipping is not refunded).
                let amount = amount * (rust_decimal::Decimal::ONE + state.settings.tax_rate);
                let reason = format!("return-{return_id}");
                crate::payments::refund_order(&state, &o, Some(Money::from_decimal(amount)), &reason, &actor).await?;
            }
        }
        let (order, ret, _, _) = write_published(
            &state,
            move |w| {
                let mut o = w.get(&ORDERS, &id)?.ok_or_else(not_found)?;
                let lines = o.items.clone();
                let ret = o
                    .returns
                    .iter_mut()
                    .find(|r| r.id == return_id)
                    .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("Return not found"))?;
                if ret.status != ReturnStatus::Requested {
                    return Err(
                        ApiError::new(ErrorCode::ReturnNotAllowed).with_message("This return was already decided")
                    );
                }
                ret.status = decision;
                ret.decided_at = Some(Utc::now());
                let ret = ret.clone();
                let (changed, refund) = if decision == ReturnStatus::Approved {
                    let back: Vec<(u64, u32)> = ret
                        .items
                        .iter()
                        .filter_map(|i| {
                            lines.iter().find(|l| l.id == i.order_item_id).map(|l| (l.product_id, i.quantity))
                        })
                        .collect();
                    let refund: rust_decimal::Decimal = ret
                        .items
                        .iter()
                        .filter_map(|i| {
                            lines
                                .iter()
                                .find(|l| l.id == i.order_item_id)
                                .map(|l| l.price.amount() * rust_decimal::Decimal::from(i.quantity))
                        })
                        .sum();
                    (restock(w, &back)?, Some(Money::from_decimal(refund)))
                } else {
                    (Vec::new(), None)
                };
                o.updated_at = Utc::now();
                w.put(&ORDERS, &id, &o)?;
                let action = if decision == ReturnStatus::Approved { "RETURN_APPROVED" } else { "RETURN_REJECTED" };
                audit::record(w, &actor, Event::new(action, "Order", id).metadata(json!({ "returnId": return_id })))?;
                Ok((o, ret, changed, refund))
            },
            |r: &(Order, Return, Vec<Product>, Option<Money>)| (r.2.clone(), None),
        )
        .await?;
        state.events.publish(Happened::ReturnDecided {
            order,
            return_id,
            approved: decision == ReturnStatus::Approved,
        });
        Ok(Reply::ok(ret.view()))
    }
}
