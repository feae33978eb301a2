//! Shared value types: money and list paging.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiResult;

/// An amount of money: exact decimal, always at most 2 decimals, rounded half-up (away from
/// zero) to the cent whenever arithmetic produces more. Shown to clients as a JSON number (the
/// framework would print a `Decimal` as a string); stored as an exact decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Money(#[serde(with = "rust_decimal::serde::str")] Decimal);

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Rounds half-up to the cent.
    pub fn from_decimal(value: Decimal) -> Money {
        Money(value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero).normalize())
    }

    /// An amount as given by a client: refused when it has more than 2 decimals, not rounded.
    pub fn exact(value: Decimal) -> Result<Money, MoneyError> {
        if value.normalize().scale() > 2 {
            return Err(MoneyError::TooManyDecimals(value));
        }
        Ok(Money(value.normalize()))
    }

    pub fn amount(self) -> Decimal {
        self.0
    }

    /// The amount in cents (what payment providers take).
    pub fn cents(self) -> i64 {
        (self.0 * Decimal::ONE_HUNDRED).to_i64().expect("money fits in i64 cents")
    }

    pub fn is_positive(self) -> bool {
        self.0 > Decimal::ZERO
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

/// Why an amount given by a client is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("{0} has more than 2 decimals")]
    TooManyDecimals(Decimal),
    #[error("`{0}` is not an amount")]
    NotAnAmount(String),
}

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Money, MoneyError> {
        let value = Decimal::from_str(s.trim()).map_err(|_| MoneyError::NotAnAmount(s.to_string()))?;
        Money::exact(value)
    }
}

impl Type for Money {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "number_money".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("number", "money")))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for Money {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            // serde_json prints a float in its shortest round-trip form, so 19.99 reads as
            // exactly 19.99 here.
            Value::Number(n) => n.to_string().parse().map_err(ParseError::custom),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ParseFromParameter for Money {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        value.parse().map_err(ParseError::custom)
    }
}

impl ToJSON for Money {
    fn to_json(&self) -> Option<Value> {
        // Two decimals of anything below 2^53 cents survive f64 and print back exactly.
        self.0.to_f64().and_then(serde_json::Number::from_f64).map(Value::Number)
    }
}

/// A day from the query string (`from`, `to`): `2026-12-01`. An empty value is no day, as a
/// form's empty date field sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day(pub Option<chrono::NaiveDate>);

impl Type for Day {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_day".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        // A date, or nothing: an empty value is as good as none.
        let date = MetaSchema::new_with_format("string", "date");
        let mut empty = MetaSchema::new("string");
        empty.max_length = Some(0);
        let mut schema = MetaSchema::ANY;
        schema.description = Some("A day, `YYYY-MM-DD` (empty: none).");
        schema.any_of = vec![MetaSchemaRef::Inline(Box::new(date)), MetaSchemaRef::Inline(Box::new(empty))];
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromParameter for Day {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(Day(None));
        }
        use chrono::Datelike;
        chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .ok()
            .filter(|d| (1970..=9999).contains(&d.year()))
            .map(|d| Day(Some(d)))
            .ok_or_else(|| ParseError::custom("must be a day like 2026-12-01, from 1970 to 9999"))
    }
}

/// The day of an optional `Day` parameter.
pub fn day(param: Option<Day>) -> Option<chrono::NaiveDate> {
    param.and_then(|d| d.0)
}

/// A count from the query string (`skip`, `limit`): a whole number of 0 or more. Any number of
/// digits is taken, a value past `u64` saturates, since the contract clamps rather than refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Count(pub u64);

impl Type for Count {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "integer_count".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("integer");
        schema.minimum = Some(0.0);
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromParameter for Count {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        let digits = value.trim().strip_prefix('+').unwrap_or(value.trim());
        if let Some(negative) = digits.strip_prefix('-')
            && !negative.is_empty()
            && negative.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ParseError::custom("must be 0 or more"));
        }
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::custom("must be a whole number"));
        }
        Ok(Count(digits.parse().unwrap_or(u64::MAX)))
    }
}

impl ParseFromJSON for Count {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::Number(n) => n.as_u64().map(Count).ok_or_else(|| ParseError::custom("must be 0 or more")),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for Count {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0))
    }
}

/// A decimal of 0 or more from the query string (`minPrice`, `maxPrice`), plain or in
/// scientific notation; one too large for a decimal saturates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Number(pub Decimal);

impl Type for Number {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "number_nonnegative".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("number");
        schema.minimum = Some(0.0);
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromParameter for Number {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        let v = value.trim();
        let parsed = Decimal::from_str(v).or_else(|_| Decimal::from_scientific(v)).ok().or_else(|| {
            // Beyond a decimal's range (1e300) but a real number: as large as a decimal gets,
            // or as small (1e-300 is 0 to the cent).
            let f: f64 = v.parse().ok().filter(|f: &f64| f.is_finite())?;
            Some(if f.abs() >= 1.0 { Decimal::MAX * Decimal::from(f.signum() as i64) } else { Decimal::ZERO })
        });
        match parsed {
            Some(d) if d >= Decimal::ZERO => Ok(Number(d)),
            Some(_) => Err(ParseError::custom("must be 0 or more")),
            None => Err(ParseError::custom("must be a number")),
        }
    }
}

impl ParseFromJSON for Number {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::Number(n) => Self::parse_from_parameter(&n.to_string()),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for Number {
    fn to_json(&self) -> Option<Value> {
        self.0.to_f64().and_then(serde_json::Number::from_f64).map(Value::Number)
    }
}

/// The most units one line may ask for: enough for any basket, small enough that sums of lines
/// never come near overflowing.
pub const MAX_QUANTITY: u32 = 10_000;

/// A quantity a client asks for (a cart line, an order line): a whole number from `MIN` to
/// [`MAX_QUANTITY`], checked as the body is read, so a bad one is a `VALIDATION_ERROR` naming the
/// field before any handler code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Quantity<const MIN: u32>(pub u32);

impl<'de, const MIN: u32> Deserialize<'de> for Quantity<MIN> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        if n < i64::from(MIN) || n > i64::from(MAX_QUANTITY) {
            return Err(serde::de::Error::custom(format!("Quantity must be {MIN} to {MAX_QUANTITY}")));
        }
        Ok(Quantity(n as u32))
    }
}

impl<const MIN: u32> Type for Quantity<MIN> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        format!("integer_quantity_from_{MIN}").into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("integer");
        schema.minimum = Some(f64::from(MIN));
        schema.maximum = Some(f64::from(MAX_QUANTITY));
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl<const MIN: u32> ParseFromJSON for Quantity<MIN> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        serde_json::from_value(value.unwrap_or_default()).map_err(ParseError::custom)
    }
}

impl<const MIN: u32> ToJSON for Quantity<MIN> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0))
    }
}

/// `skip` and `limit` of a list request: skip default 0, limit default 10 (0 means the
/// default), larger than 100 is clamped to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub skip: usize,
    pub limit: usize,
}

impl Paging {
    pub const DEFAULT_LIMIT: usize = 10;
    pub const MAX_LIMIT: usize = 100;

    pub fn new(skip: Option<Count>, limit: Option<Count>) -> Paging {
        let limit = match limit {
            None | Some(Count(0)) => Self::DEFAULT_LIMIT,
            Some(Count(l)) => l.min(Self::MAX_LIMIT as u64) as usize,
        };
        let skip = skip.map_or(0, |Count(s)| usize::try_from(s).unwrap_or(usize::MAX));
        Paging { skip, limit }
    }

    /// This page of the `items` that `keep` accepts, each made into what the list shows, and how
    /// many such items there are in all.
    pub fn page<T, U>(
        &self,
        items: impl Iterator<Item = Result<T, crate::store::StoreError>>,
        mut keep: impl FnMut(&T) -> bool,
        mut show: impl FnMut(T) -> ApiResult<U>,
    ) -> ApiResult<(Vec<U>, u64)> {
        let (mut total, mut page) = (0u64, Vec::new());
        for item in items {
            let item = item?;
            if !keep(&item) {
                continue;
            }
            if total as usize >= self.skip && page.len() < self.limit {
                page.push(show(item)?);
            }
            total += 1;
        }
        Ok((page, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_rounds_half_up_to_the_cent() {
        assert_eq!(Money::from_decimal(Decimal::new(1005, 3)).to_string(), "1.01");
        assert_eq!(Money::from_decimal(Decimal::new(1004, 3)).to_string(), "1.00");
        assert_eq!(Money::from_decimal(Decimal::new(-1005, 3)).to_string(), "-1.01");
        assert_eq!(Money::from_decimal(Decimal::new(1999, 2)).cents(), 1999);
    }

    #[test]
    fn money_is_a_json_number_and_parses_exactly() {
        let m: Money = "19.99".parse().unwrap();
        assert_eq!(m.to_json(), Some(serde_json::json!(19.99)));
        assert_eq!(Money::parse_from_json(Some(serde_json::json!(0.1))).unwrap().amount(), Decimal::new(1, 1));
        assert!(Money::parse_from_json(Some(serde_json::json!(1.005))).is_err());
        assert!(Money::parse_from_json(Some(serde_json::json!("12"))).is_err());
    }

    #[test]
    fn money_is_stored_as_an_exact_string() {
        let m: Money = "1234567.89".parse().unwrap();
        let bytes = rmp_serde::to_vec_named(&m).unwrap();
        assert_eq!(rmp_serde::from_slice::<Money>(&bytes).unwrap(), m);
    }

    #[test]
    fn paging_defaults_clamps_and_refuses_negatives() {
        assert_eq!(Paging::new(None, None), Paging { skip: 0, limit: 10 });
        assert_eq!(Paging::new(Some(Count(5)), Some(Count(500))), Paging { skip: 5, limit: 100 });
        assert_eq!(Paging::new(None, Some(Count(0))), Paging { skip: 0, limit: 10 });
    }

    #[test]
    fn quantities_are_checked_as_they_are_read() {
        let line: Quantity<1> = serde_json::from_str("3").unwrap();
        assert_eq!(line, Quantity(3));
        for bad in ["0", "10001", "-1", "1.5", "\"2\""] {
            assert!(serde_json::from_str::<Quantity<1>>(bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::from_str::<Quantity<0>>("0").unwrap(), Quantity(0));
        let err = serde_json::from_str::<Quantity<1>>("0").unwrap_err().to_string();
        assert!(err.starts_with("Quantity must be 1 to 10000"), "{err}");
    }

    #[test]
    fn counts_clamp_instead_of_refusing_and_refuse_negatives() {
        assert_eq!(Count::parse_from_parameter("1000000000000000000000000000000").unwrap(), Count(u64::MAX));
        assert_eq!(Count::parse_from_parameter("7").unwrap(), Count(7));
        assert!(Count::parse_from_parameter("-1").is_err());
        assert!(Count::parse_from_parameter("ten").is_err());
        assert!(Count::parse_from_parameter("").is_err());
        assert_eq!(Number::parse_from_parameter("1e-5").unwrap().0, Decimal::from_scientific("1e-5").unwrap());
        assert_eq!(Number::parse_from_parameter("19.99").unwrap().0, Decimal::new(1999, 2));
        assert_eq!(Number::parse_from_parameter("1e300").unwrap().0, Decimal::MAX);
        assert!(Number::parse_from_parameter("-0.5").is_err());
        assert!(Number::parse_from_parameter("abc").is_err());
    }
}

/// A decimal number as a client sends it: a JSON number read exactly (19.99 is 19.99, not the
/// nearest double), shown in the spec as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(pub Decimal);

/// Lets the `Object` derive's numeric validators (`minimum`, `multiple_of`) describe amounts.
impl num_traits::AsPrimitive<f64> for Amount {
    fn as_(self) -> f64 {
        self.0.to_f64().unwrap_or(f64::NAN)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        let s = n.to_string();
        Decimal::from_str(&s).or_else(|_| Decimal::from_scientific(&s)).map(Amount).map_err(serde::de::Error::custom)
    }
}

impl Type for Amount {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "number_amount".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("number")))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for Amount {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::Number(n) => Decimal::from_str(&n.to_string()).map(Amount).map_err(ParseError::custom),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for Amount {
    fn to_json(&self) -> Option<Value> {
        self.0.to_f64().and_then(serde_json::Number::from_f64).map(Value::Number)
    }
}

/// A decimal shown as a JSON number (ratings, percentages).
pub fn number(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// SHA-256 of `bytes`, lowercase hex: how tokens are stored and requests fingerprinted.
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// What an idempotent request is compared by on replay: the hash of its JSON form.
pub fn fingerprint(value: &impl Serialize) -> String {
    sha256_hex(serde_json::to_vec(value).unwrap_or_default())
}
