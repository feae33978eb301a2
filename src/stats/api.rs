//! `/api/v1/admin/stats`: the dashboard's figures (API.md §6). Every figure is read from the
//! aggregates, the status counts and the in-memory catalog: no order is read.

use chrono::{Duration, Utc};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{Enum, Object, OpenApi};
use rust_decimal::Decimal;

use super::{Interval, Sums, best_sellers, day_start, series, today};
use crate::auth::guard::Admin;
use crate::error::{ApiError, ApiResult};
use crate::http::envelope::Reply;
use crate::orders::{ORDERS_BY_STATUS, Status};
use crate::state::AppState;
use crate::types::{Day, Money, day};

/// How many periods one series may have.
const MAX_PERIODS: usize = 731;
const BEST_SELLERS: usize = 10;
const LOW_STOCK: usize = 20;

#[derive(Debug, Object)]
#[oai(rename = "SalesFigures", rename_all = "camelCase")]
pub struct Figures {
    /// What orders placed in the period came to (tax and shipping included), except orders
    /// cancelled or expired without ever being paid.
    pub revenue: Money,
    /// What was refunded in the period, whichever period its order was placed in.
    pub refunds: Money,
    /// revenue − refunds.
    pub net: Money,
    pub orders: i64,
    pub units: i64,
    /// revenue / orders, rounded half-up to the cent (0 without orders).
    pub average_order_value: Money,
}

fn money(cents: i64) -> Money {
    Money::from_decimal(Decimal::new(cents, 2))
}

impl From<Sums> for Figures {
    fn from(s: Sums) -> Figures {
        let average = if s.orders == 0 { Decimal::ZERO } else { Decimal::new(s.revenue, 2) / Decimal::from(s.orders) };
        Figures {
            revenue: money(s.revenue),
            refunds: money(s.refunds),
            net: money(s.revenue - s.refunds),
            orders: s.orders,
            units: s.units,
            average_order_value: Money::from_decimal(average),
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename = "StatusCount")]
pub struct StatusCount {
    pub status: Status,
    pub count: u64,
}

#[derive(Debug, Object)]
#[oai(rename = "BestSeller", rename_all = "camelCase")]
pub struct BestSeller {
    pub product_id: u64,
    pub title: String,
    pub units: i64,
    /// What its lines came to (after discounts, before tax).
    pub revenue: Money,
}

#[derive(Debug, Object)]
#[oai(rename = "LowStock", rename_all = "camelCase")]
pub struct LowStock {
    pub product_id: u64,
    pub title: String,
    pub stock: i64,
}

#[derive(Debug, Object)]
#[oai(rename = "StatsOverview", rename_all = "camelCase")]
pub struct Overview {
    /// Since the shop's midnight.
    pub today: Figures,
    /// Today and the 6 days before.
    pub last7_days: Figures,
    /// Today and the 29 days before.
    pub last30_days: Figures,
    pub orders_by_status: Vec<StatusCount>,
    /// The most units sold in the last 30 days (UTC days).
    pub best_sellers: Vec<BestSeller>,
    /// Active products with stock below `lowStockThreshold`, least first (at most 20).
    pub low_stock: Vec<LowStock>,
    /// How many active products are low on stock in all.
    pub low_stock_count: u64,
    pub low_stock_threshold: u32,
    /// Customer accounts made in the last 30 days.
    pub new_customers: i64,
    /// The IANA timezone whose days these are.
    pub timezone: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "SalesInterval", rename_all = "lowercase")]
pub enum IntervalParam {
    Day,
    Week,
    Month,
}

#[derive(Debug, Object)]
#[oai(rename = "SalesPeriod", rename_all = "camelCase")]
pub struct Period {
    /// `2026-12-01` for a day or a week (its Monday), `2026-12` for a month.
    pub period: String,
    #[oai(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Object)]
#[oai(rename = "SalesSeries")]
pub struct Series {
    /// The first day of the first period.
    pub from: String,
    /// The last day of the last period.
    pub to: String,
    pub interval: IntervalParam,
    pub timezone: String,
    /// Every period from `from` to `to`, empty ones included.
    pub series: Vec<Period>,
}

pub struct StatsApi;

#[OpenApi(prefix_path = "/api/v1/admin/stats", tag = "crate::openapi::Tag::Admin")]
impl StatsApi {
    /// Today, the last 7 and the last 30 days in the shop's timezone; orders by status; best
    /// sellers; low stock; new customers.
    #[oai(path = "/overview", method = "get", operation_id = "getStatsOverview")]
    async fn overview(&self, state: Data<&AppState>, _admin: Admin) -> ApiResult<Reply<Overview>> {
        let s = &state.settings;
        let tz = crate::shop::tz(&state)?;
        let now = Utc::now();
        let day = today(tz, now);
        let starts = [day - Duration::days(29), day - Duration::days(6), day, day + Duration::days(1)];
        let bounds: Vec<_> = starts.iter().map(|d| day_start(tz, *d)).collect();
        let r = state.store.read()?;
        let parts = series(&r, &bounds)?;
        let (mut week, mut month) = (parts[2], parts[2]);
        week.add(&parts[1], 1);
        month.add(&parts[1], 1);
        month.add(&parts[0], 1);

        let mut orders_by_status = Vec::new();
        for status in [Status::Pending, Status::Processing, Status::Shipped, Status::Delivered, Status::Cancelled] {
            orders_by_status.push(StatusCount { status, count: r.count_key(ORDERS_BY_STATUS, &(status.as_str(),))? });
        }
        let title = |id: u64| state.catalog.get(id).map(|p| p.title.clone()).unwrap_or_else(|| format!("Product {id}"));
        let best_sellers = best_sellers(&r, bounds[0], now, BEST_SELLERS)?
            .into_iter()
            .map(|p| BestSeller {
                product_id: p.product_id,
                title: title(p.product_id),
                units: p.units,
                revenue: money(p.revenue),
            })
            .collect();
        let threshold = i64::from(s.low_stock_threshold);
        let mut low: Vec<_> = state.catalog.all().into_iter().filter(|p| p.is_active && p.stock < threshold).collect();
        low.sort_by_key(|p| (p.stock, p.id));
        let low_stock_count = low.len() as u64;
        let low_stock = low
            .into_iter()
            .take(LOW_STOCK)
            .map(|p| LowStock { product_id: p.id, title: p.title.clone(), stock: p.stock })
            .collect();
        Ok(Reply::ok(Overview {
            today: parts[2].into(),
            last7_days: week.into(),
            last30_days: month.into(),
            orders_by_status,
            best_sellers,
            low_stock,
            low_stock_count,
            low_stock_threshold: s.low_stock_threshold,
            new_customers: month.customers,
            timezone: tz.name().to_string(),
        }))
    }

    /// Sales per day, week (from Monday) or month between two dates of the shop's timezone,
    /// both included and widened to whole periods; 30 days to today without them.
    #[oai(path = "/sales", method = "get", operation_id = "getSalesSeries")]
    async fn sales(
        &self,
        state: Data<&AppState>,
        _admin: Admin,
        from: Query<Option<Day>>,
        to: Query<Option<Day>>,
        interval: Query<Option<IntervalParam>>,
    ) -> ApiResult<Reply<Series>> {
        let tz = crate::shop::tz(&state)?;
        let param = interval.0.unwrap_or(IntervalParam::Day);
        let every = match param {
            IntervalParam::Day => Interval::Day,
            IntervalParam::Week => Interval::Week,
            IntervalParam::Month => Interval::Month,
        };
        let last = day(to.0).unwrap_or_else(|| today(tz, Utc::now()));
        let first = day(from.0).unwrap_or(last - Duration::days(29));
        if first > last {
            return Err(ApiError::field("from", "`from` must not be after `to`"));
        }
        let mut starts = vec![every.start_of(first)];
        while *starts.last().expect("one start") <= last {
            if starts.len() > MAX_PERIODS {
                return Err(ApiError::field(
                    "to",
                    format!("At most {MAX_PERIODS} periods in one series: use a longer interval or a shorter range"),
                ));
            }
            let next = every.next(*starts.last().expect("one start"));
            starts.push(next);
        }
        let bounds: Vec<_> = starts.iter().map(|d| day_start(tz, *d)).collect();
        let sums = series(&state.store.read()?, &bounds)?;
        let series =
            starts.iter().zip(sums).map(|(d, s)| Period { period: every.label(*d), figures: s.into() }).collect();
        Ok(Reply::ok(Series {
            from: starts[0].to_string(),
            to: (*starts.last().expect("one end") - Duration::days(1)).to_string(),
            interval: param,
            timezone: tz.name().to_string(),
            series,
        }))
    }
}
