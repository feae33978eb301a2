//! `GET /admin/orders/export`: orders as a spreadsheet, oldest first, one line per order.
//! Streamed from one snapshot; a date range reads only its own orders (ids are UUID v7, so
//! their order is the order of creation).

use std::collections::HashMap;

use chrono::Utc;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Query;
use uuid::Uuid;

use super::{ORDERS, ORDERS_BY_STATUS, Order, Status, first_id_at};
use crate::audit::{self, Actor, Event};
use crate::auth::guard::Admin;
use crate::error::{ApiError, ApiResult};
use crate::payments::{PAYMENTS, PAYMENTS_BY_ORDER, Payment};
use crate::spreadsheet::{self, CsvReply};
use crate::state::AppState;
use crate::store::ReadTx;
use crate::types::{Day, day};
use crate::users::{USERS, timestamp};

const COLUMNS: [&str; 25] = [
    "number",
    "id",
    "createdAt",
    "status",
    "email",
    "customer",
    "items",
    "units",
    "subtotal",
    "tax",
    "shipping",
    "total",
    "currency",
    "paymentStatus",
    "paymentProvider",
    "refunded",
    "carrier",
    "trackingNumber",
    "shipTo",
    "address",
    "city",
    "state",
    "zipCode",
    "country",
    "phone",
];

/// The payment that paid the order, else its latest.
fn payment_of(r: &ReadTx, order: Uuid) -> anyhow::Result<Option<Payment>> {
    let mut latest = None;
    for p in r.scan_index(&PAYMENTS, PAYMENTS_BY_ORDER, &(order,), true)? {
        let p = p?;
        if p.status.is_paid() {
            return Ok(Some(p));
        }
        latest.get_or_insert(p);
    }
    Ok(latest)
}

fn write_order(
    out: &mut csv::Writer<spreadsheet::Chunks>,
    r: &ReadTx,
    customers: &mut HashMap<u64, (String, String)>,
    o: &Order,
) -> anyhow::Result<()> {
    if let std::collections::hash_map::Entry::Vacant(e) = customers.entry(o.user_id) {
        let who = r.get(&USERS, &o.user_id)?.map_or_else(Default::default, |u| {
            (u.email, format!("{} {}", u.first_name, u.last_name).trim().to_string())
        });
        e.insert(who);
    }
    let (email, name) = &customers[&o.user_id];
    let payment = payment_of(r, o.id)?;
    let status = payment.as_ref().and_then(|p| serde_json::to_value(p.status).ok());
    let items: Vec<String> = o.items.iter().map(|i| format!("{} × {}", i.quantity, i.title)).collect();
    let units: u32 = o.items.iter().map(|i| i.quantity).sum();
    let a = &o.address;
    let t = spreadsheet::text;
    let opt = |v: &Option<String>| t(v.as_deref().unwrap_or("")).into_owned();
    out.write_record([
        o.number.to_string(),
        o.id.to_string(),
        timestamp(&o.created_at),
        o.status.as_str().to_string(),
        t(email).into_owned(),
        t(name).into_owned(),
        t(&items.join("; ")).into_owned(),
        units.to_string(),
        o.subtotal.to_string(),
        o.tax.to_string(),
        o.shipping.to_string(),
        o.total.to_string(),
        o.currency.clone(),
        status.as_ref().and_then(|s| s.as_str()).unwrap_or("").to_string(),
        payment.as_ref().map_or(String::new(), |p| p.provider.clone()),
        payment.as_ref().map_or(String::new(), |p| p.refunded.to_string()),
        opt(&o.carrier),
        opt(&o.tracking_number),
        t(format!("{} {}", a.first_name, a.last_name).trim()).into_owned(),
        t(&a.address).into_owned(),
        t(&a.city).into_owned(),
        t(&a.state).into_owned(),
        t(&a.zip_code).into_owned(),
        t(&a.country).into_owned(),
        opt(&a.phone),
    ])?;
    Ok(())
}

pub struct AdminOrdersApi;

#[OpenApi(prefix_path = "/api/v1/admin/orders", tag = "crate::openapi::Tag::Admin")]
impl AdminOrdersApi {
    /// Orders as a CSV file, oldest first: one status, and placed from `from` to `to` (days of
    /// the shop's timezone, both included), when given. Audited (`ORDERS_EXPORT`): the file
    /// holds customers' names and addresses.
    #[oai(path = "/export", method = "get", operation_id = "exportOrders")]
    async fn export(
        &self,
        state: Data<&AppState>,
        req: &poem::Request,
        admin: Admin,
        status: Query<Option<Status>>,
        from: Query<Option<Day>>,
        to: Query<Option<Day>>,
    ) -> ApiResult<CsvReply> {
        let tz = crate::shop::tz(&state)?;
        if let (Some(f), Some(t)) = (day(from.0), day(to.0))
            && f > t
        {
            return Err(ApiError::field("from", "`from` must not be after `to`"));
        }
        let actor = Actor::of(req, Some(admin.0.user_id));
        let filters = serde_json::json!({"status": status.0.map(Status::as_str), "from": day(from.0), "to": day(to.0)});
        state
            .store
            .write(move |w| audit::record(w, &actor, Event::about("ORDERS_EXPORT", "Order").metadata(filters)))
            .await?;
        let start = day(from.0).map(|d| crate::stats::day_start(tz, d));
        let end = day(to.0).and_then(|d| d.succ_opt()).map(|d| crate::stats::day_start(tz, d));
        let r = state.store.read()?;
        let status = status.0;
        let name = format!("orders-{}.csv", Utc::now().format("%Y-%m-%d"));
        Ok(spreadsheet::stream(&name, move |out| {
            out.write_record(COLUMNS)?;
            let mut customers = HashMap::new();
            let within = |o: &Order| start.is_none_or(|s| o.created_at >= s) && end.is_none_or(|e| o.created_at < e);
            match status {
                Some(s) => {
                    for o in r.scan_index(&ORDERS, ORDERS_BY_STATUS, &(s.as_str(),), false)? {
                        let o = o?;
                        if within(&o) {
                            write_order(out, &r, &mut customers, &o)?;
                        }
                    }
                }
                None => {
                    let from_id = start.map_or(Uuid::nil(), first_id_at);
                    for o in r.scan_from(&ORDERS, &from_id, false)? {
                        let o = o?;
                        if end.is_some_and(|e| o.created_at >= e) {
                            break;
                        }
                        if within(&o) {
                            write_order(out, &r, &mut customers, &o)?;
                        }
                    }
                }
            }
            Ok(())
        }))
    }
}
