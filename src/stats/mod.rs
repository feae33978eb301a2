//! Sales figures, kept as sums per quarter hour and per day (and per product per day) in the
//! same transaction as the orders, refunds and accounts they sum: a period costs the whole UTC
//! days inside it plus the quarter hours at its two ends, whatever the number of orders.
//!
//! Quarter hours in UTC, because every timezone's midnight falls on one, so the shop's days
//! (and a change of its timezone) need no rewrite. The record modules say what they contribute
//! (`orders::sale`, `payments::refunds`, `users`) and call in here through the store's derive
//! hook; this module knows no domain type, and `rebuild` recomputes everything from the records.

pub mod api;
pub mod rebuild;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::store::{Collection, ReadTx, Result, WriteTx};

/// Seconds in a bucket.
const QUARTER: i64 = 15 * 60;

/// Quarter hours in a day.
const PER_DAY: i64 = 96;

/// The sums of one quarter hour or one day. Money in cents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sums {
    /// Quarter hours (or days) since the epoch: the bucket's key, kept in the record to scan by.
    #[serde(default)]
    pub bucket: i64,
    pub revenue: i64,
    pub refunds: i64,
    pub orders: i64,
    pub units: i64,
    pub customers: i64,
}

impl Sums {
    fn add(&mut self, other: &Sums, sign: i64) {
        self.revenue += sign * other.revenue;
        self.refunds += sign * other.refunds;
        self.orders += sign * other.orders;
        self.units += sign * other.units;
        self.customers += sign * other.customers;
    }

    fn is_zero(&self) -> bool {
        Sums { bucket: self.bucket, ..Sums::default() } == *self
    }
}

/// One product's sales of one UTC day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDay {
    pub day: i64,
    pub product_id: u64,
    pub units: i64,
    pub revenue: i64,
}

pub static QUARTERS: Collection<i64, Sums> = Collection::new("stats.quarters");
/// The same sums per UTC day: what a long period reads.
pub static DAYS: Collection<i64, Sums> = Collection::new("stats.days");
/// Keyed (UTC day number, product id).
pub static PRODUCT_DAYS: Collection<(i64, u64), ProductDay> = Collection::new("stats.product_days");

/// What an order adds to the figures: its total on the day it was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    pub at: DateTime<Utc>,
    pub total: i64,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub product_id: u64,
    pub units: i64,
    pub revenue: i64,
}

fn quarter(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(QUARTER)
}

fn utc_day(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(86_400)
}

fn bump(w: &mut WriteTx<'_>, at: DateTime<Utc>, delta: Sums, sign: i64) -> Result<()> {
    for (c, bucket) in [(&QUARTERS, quarter(at)), (&DAYS, utc_day(at))] {
        let mut sums = w.get(c, &bucket)?.unwrap_or(Sums { bucket, ..Sums::default() });
        sums.add(&delta, sign);
        if sums.is_zero() {
            w.delete(c, &bucket)?;
        } else {
            w.put(c, &bucket, &sums)?;
        }
    }
    Ok(())
}

fn apply_sale(w: &mut WriteTx<'_>, sale: &Sale, sign: i64) -> Result<()> {
    let units = sale.lines.iter().map(|l| l.units).sum();
    bump(w, sale.at, Sums { revenue: sale.total, orders: 1, units, ..Sums::default() }, sign)?;
    let day = utc_day(sale.at);
    for line in &sale.lines {
        let k = (day, line.product_id);
        let mut p =
            w.get(&PRODUCT_DAYS, &k)?.unwrap_or(ProductDay { day, product_id: line.product_id, ..Default::default() });
        p.units += sign * line.units;
        p.revenue += sign * line.revenue;
        if p.units == 0 && p.revenue == 0 {
            w.delete(&PRODUCT_DAYS, &k)?;
        } else {
            w.put(&PRODUCT_DAYS, &k, &p)?;
        }
    }
    Ok(())
}

/// An order's contribution changed from `before` to `after` (`None`: it counts for nothing).
pub fn sale_changed(w: &mut WriteTx<'_>, before: Option<Sale>, after: Option<Sale>) -> Result<()> {
    if before == after {
        return Ok(());
    }
    if let Some(s) = before {
        apply_sale(w, &s, -1)?;
    }
    if let Some(s) = after {
        apply_sale(w, &s, 1)?;
    }
    Ok(())
}

/// A refund's contribution: `(when, cents)` once its money went back.
pub fn refund_changed(
    w: &mut WriteTx<'_>,
    before: Option<(DateTime<Utc>, i64)>,
    after: Option<(DateTime<Utc>, i64)>,
) -> Result<()> {
    if before == after {
        return Ok(());
    }
    if let Some((at, cents)) = before {
        bump(w, at, Sums { refunds: cents, ..Sums::default() }, -1)?;
    }
    if let Some((at, cents)) = after {
        bump(w, at, Sums { refunds: cents, ..Sums::default() }, 1)?;
    }
    Ok(())
}

/// A customer account's contribution: when it was made, while it is a customer's.
pub fn customer_changed(
    w: &mut WriteTx<'_>,
    before: Option<DateTime<Utc>>,
    after: Option<DateTime<Utc>>,
) -> Result<()> {
    if before == after {
        return Ok(());
    }
    if let Some(at) = before {
        bump(w, at, Sums { customers: 1, ..Sums::default() }, -1)?;
    }
    if let Some(at) = after {
        bump(w, at, Sums { customers: 1, ..Sums::default() }, 1)?;
    }
    Ok(())
}

/// The sums of the buckets `from..to` of `c`.
fn sum_of(r: &ReadTx, c: &'static Collection<i64, Sums>, from: i64, to: i64, into: &mut Sums) -> Result<()> {
    if from >= to {
        return Ok(());
    }
    for sums in r.scan_from(c, &from, false)? {
        let sums = sums?;
        if sums.bucket >= to {
            break;
        }
        into.add(&sums, 1);
    }
    Ok(())
}

/// The sums of `[from, to)`: the whole UTC days inside from the day buckets, the ends from the
/// quarter hours.
pub fn sums(r: &ReadTx, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Sums> {
    let (qa, qb) = (quarter(from), quarter(to));
    let (da, db) = (qa.div_euclid(PER_DAY) + i64::from(qa.rem_euclid(PER_DAY) != 0), qb.div_euclid(PER_DAY));
    let mut out = Sums::default();
    if da < db {
        sum_of(r, &QUARTERS, qa, da * PER_DAY, &mut out)?;
        sum_of(r, &DAYS, da, db, &mut out)?;
        sum_of(r, &QUARTERS, db * PER_DAY, qb, &mut out)?;
    } else {
        sum_of(r, &QUARTERS, qa, qb, &mut out)?;
    }
    Ok(out)
}

/// The sums of each period between consecutive `bounds` (ascending).
pub fn series(r: &ReadTx, bounds: &[DateTime<Utc>]) -> Result<Vec<Sums>> {
    bounds.windows(2).map(|w| sums(r, w[0], w[1])).collect()
}

/// Products by units sold (then revenue) in the UTC days that hold `[from, to)`, at most `n`.
pub fn best_sellers(r: &ReadTx, from: DateTime<Utc>, to: DateTime<Utc>, n: usize) -> Result<Vec<ProductDay>> {
    let mut by_product: std::collections::HashMap<u64, ProductDay> = Default::default();
    let last = utc_day(to);
    for p in r.scan_from(&PRODUCT_DAYS, &(utc_day(from), 0u64), false)? {
        let p = p?;
        if p.day > last {
            break;
        }
        let sum =
            by_product.entry(p.product_id).or_insert(ProductDay { product_id: p.product_id, ..Default::default() });
        sum.units += p.units;
        sum.revenue += p.revenue;
    }
    let mut all: Vec<ProductDay> = by_product.into_values().filter(|p| p.units > 0).collect();
    all.sort_by(|a, b| b.units.cmp(&a.units).then(b.revenue.cmp(&a.revenue)).then(a.product_id.cmp(&b.product_id)));
    all.truncate(n);
    Ok(all)
}

/// When `date` begins in `tz`. A day whose midnight a clock change skips begins at the first
/// minute that exists.
pub fn day_start(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let mut t = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    for _ in 0..=24 * 4 {
        if let Some(at) = tz.from_local_datetime(&t).earliest() {
            return at.with_timezone(&Utc);
        }
        t += Duration::minutes(15);
    }
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

/// Today in the shop's timezone.
pub fn today(tz: Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// How a series is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Day,
    Week,
    Month,
}

impl Interval {
    /// The first day of the period holding `date` (weeks begin on Monday).
    pub fn start_of(self, date: NaiveDate) -> NaiveDate {
        match self {
            Interval::Day => date,
            Interval::Week => date - Duration::days(date.weekday().num_days_from_monday() as i64),
            Interval::Month => date.with_day(1).expect("day 1 exists"),
        }
    }

    pub fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Interval::Day => start + Duration::days(1),
            Interval::Week => start + Duration::days(7),
            Interval::Month => start.checked_add_months(chrono::Months::new(1)).unwrap_or(NaiveDate::MAX),
        }
    }

    /// The period's label: `2026-12-01` (a day, a week's Monday) or `2026-12`.
    pub fn label(self, start: NaiveDate) -> String {
        match self {
            Interval::Month => start.format("%Y-%m").to_string(),
            _ => start.format("%Y-%m-%d").to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_begins_at_the_shops_midnight_even_when_a_clock_change_skips_it() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        assert_eq!(day_start(kolkata, d("2026-12-01")).to_rfc3339(), "2026-11-30T18:30:00+00:00");
        // Santiago springs forward at midnight: 2026-09-06 begins at 01:00 local (04:00 UTC).
        let santiago: Tz = "America/Santiago".parse().unwrap();
        assert_eq!(day_start(santiago, d("2026-09-06")).to_rfc3339(), "2026-09-06T04:00:00+00:00");
        assert_eq!(Interval::Week.start_of(d("2026-12-03")), d("2026-11-30"));
        assert_eq!(Interval::Month.label(Interval::Month.start_of(d("2026-12-31"))), "2026-12");
    }
}
