//! The catalog as a spreadsheet (API.md §6): `POST /admin/products/import` and
//! `GET /admin/products/export`. A row goes through the same checks as the JSON body of
//! `POST /products` (text limits included); a refused row is reported with its line and writes
//! nothing, the others are written together in one transaction.

use std::collections::BTreeMap;

use chrono::Utc;
use poem::Request;
use poem::web::Data;
use poem_openapi::types::multipart::Upload;
use poem_openapi::{Multipart, Object, OpenApi};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::api::{audit_view, not_found};
use super::mirror::{bump_generation, write_published};
use super::{PRODUCTS, Product, ProductInput, blank};
use crate::audit::{self, Actor, Event};
use crate::auth::guard::Admin;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::http::envelope::Reply;
use crate::spreadsheet::{self, CsvReply};
use crate::state::AppState;
use crate::types::Amount;

/// The columns, in the order an export writes them: the product body's fields, `id` first.
pub const COLUMNS: [&str; 13] = [
    "id",
    "title",
    "description",
    "price",
    "discountPercentage",
    "stock",
    "brand",
    "category",
    "thumbnail",
    "images",
    "tags",
    "sku",
    "isActive",
];
const MAX_ROWS: usize = 10_000;
/// Between the items of `images` and `tags`.
const LIST: char = '|';

#[derive(Debug, Multipart)]
pub struct ImportForm {
    /// A CSV file, UTF-8, with a header row naming the columns (any of `id, title, description,
    /// price, discountPercentage, stock, brand, category, thumbnail, images, tags, sku,
    /// isActive`; `images` and `tags` separated by `|`). A row with an `id` changes that
    /// product (empty cells leave a field as it is); one without creates a product.
    pub file: Upload,
}

#[derive(Debug, Object)]
#[oai(rename = "ImportFailure")]
pub struct Failure {
    /// The row's line in the file (the header is line 1).
    pub row: u64,
    /// Field → messages, as the `details` of a `VALIDATION_ERROR`.
    pub errors: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Object)]
#[oai(rename = "ImportReport", rename_all = "camelCase")]
pub struct Report {
    pub created: u64,
    pub updated: u64,
    pub failed: Vec<Failure>,
    /// Header names that are no column of a product: their cells were not read.
    pub ignored_columns: Vec<String>,
}

/// One row that passed its checks.
struct Row {
    line: u64,
    id: Option<u64>,
    input: ProductInput,
}

fn errors_of(e: ApiError) -> FieldErrors {
    match e.details.and_then(|d| serde_json::from_value::<FieldErrors>(d).ok()) {
        Some(fields) if !fields.is_empty() => fields,
        _ => BTreeMap::from([("row".to_string(), vec![e.message])]),
    }
}

fn file_error(message: impl Into<String>) -> ApiError {
    ApiError::field("file", message)
}

/// Reads the file into rows that pass and rows that do not.
fn parse(bytes: &[u8]) -> ApiResult<(Vec<Row>, Vec<Failure>, Vec<String>)> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| file_error("The file is not UTF-8 text (save it as CSV UTF-8)"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| file_error(format!("The header row cannot be read: {e}")))?.clone();
    // Header position → column; names match in any case.
    let mut columns: Vec<Option<&'static str>> = Vec::new();
    let mut ignored = Vec::new();
    for name in headers.iter() {
        let column = COLUMNS.iter().copied().find(|c| c.eq_ignore_ascii_case(name.trim()));
        if let Some(c) = column
            && columns.contains(&Some(c))
        {
            return Err(file_error(format!("The column `{c}` is named twice")));
        }
        if column.is_none() && !name.trim().is_empty() {
            ignored.push(name.trim().to_string());
        }
        columns.push(column);
    }
    if columns.iter().all(Option::is_none) {
        return Err(file_error(format!(
            "The header row names no column of a product (expected some of: {})",
            COLUMNS.join(", ")
        )));
    }
    let (mut rows, mut failed) = (Vec::new(), Vec::new());
    // The reader skips blank lines without counting them: lines are counted here, by byte.
    let (mut line, mut counted_to) = (1u64, 0usize);
    for record in reader.records() {
        let record = record.map_err(|e| file_error(format!("The file is not valid CSV: {e}")))?;
        if rows.len() + failed.len() == MAX_ROWS {
            return Err(file_error(format!("At most {MAX_ROWS} rows in one file: split it")));
        }
        let mut at = record.position().map_or(counted_to, |p| p.byte() as usize);
        // The position may be that of blank lines before the record.
        while text.as_bytes().get(at).is_some_and(|b| matches!(b, b'\n' | b'\r')) {
            at += 1;
        }
        line += text.as_bytes()[counted_to..at].iter().filter(|b| **b == b'\n').count() as u64;
        counted_to = at;
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cells: BTreeMap<&str, &str> = columns
            .iter()
            .zip(record.iter())
            .filter_map(|(c, cell)| Some((((*c)?), spreadsheet::untext(cell))))
            .filter(|(_, cell)| !cell.trim().is_empty())
            .collect();
        match row(&cells) {
            Ok((id, input)) => rows.push(Row { line, id, input }),
            Err(errors) => failed.push(Failure { row: line, errors }),
        }
    }
    Ok((rows, failed, ignored))
}

/// One row's cells (non-empty only) as a product body, checked as `POST /products` checks one.
fn row(cells: &BTreeMap<&str, &str>) -> Result<(Option<u64>, ProductInput), FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut bad = |field: &str, message: &str| errors.entry(field.to_string()).or_default().push(message.to_string());
    let text = |f: &str| cells.get(f).map(|c| c.to_string());
    let list = |f: &str| {
        cells
            .get(f)
            .map(|c| c.split(LIST).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>())
    };
    let mut amount = |f: &str| match cells.get(f) {
        None => None,
        Some(c) => match c.trim().parse::<Decimal>() {
            Ok(d) => Some(Amount(d)),
            Err(_) => {
                bad(f, "Must be a number, like 12.50");
                None
            }
        },
    };
    let price = amount("price");
    let discount_percentage = amount("discountPercentage");
    let stock = cells.get("stock").and_then(|c| match c.trim().parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            bad("stock", "Must be a whole number");
            None
        }
    });
    let id = cells.get("id").and_then(|c| match c.trim().parse::<u64>() {
        Ok(n) => Some(n),
        Err(_) => {
            bad("id", "Must be a product id (a whole number), or empty to create one");
            None
        }
    });
    let is_active = cells.get("isActive").and_then(|c| match c.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => {
            bad("isActive", "Must be true or false");
            None
        }
    });
    let input = ProductInput {
        title: text("title"),
        description: text("description"),
        price,
        discount_percentage,
        stock,
        brand: text("brand"),
        category: text("category"),
        thumbnail: text("thumbnail"),
        images: list("images"),
        tags: list("tags"),
        sku: text("sku"),
        is_active,
    };
    // The text limits of the JSON body, on the same field names.
    let body = json!({
        "title": input.title, "description": input.description, "brand": input.brand,
        "category": input.category, "thumbnail": input.thumbnail, "images": input.images,
        "tags": input.tags, "sku": input.sku,
    });
    // A field keeps the first complaint about it: a cell that is no number is not also
    // "required", a title too long once.
    let checks = [crate::http::text::check(&body), input.check(cells.get("id").is_none())];
    for e in checks.into_iter().filter_map(Result::err) {
        for (field, messages) in errors_of(e) {
            errors.entry(field).or_insert(messages);
        }
    }
    if errors.is_empty() { Ok((id, input)) } else { Err(errors) }
}

fn cell_list(items: &[String]) -> String {
    items.join(&LIST.to_string())
}

pub struct AdminProductsApi;

#[OpenApi(prefix_path = "/api/v1/admin/products", tag = "crate::openapi::Tag::Admin")]
impl AdminProductsApi {
    /// Create and change products from a CSV file, in one call: the report lists what was
    /// created, what was changed, and each refused row with its errors (nothing of such a row
    /// is written). Audited per product, and once for the file.
    #[oai(path = "/import", method = "post", operation_id = "importProducts")]
    async fn import(
        &self,
        state: Data<&AppState>,
        req: &Request,
        admin: Admin,
        form: ImportForm,
    ) -> ApiResult<Reply<Report>> {
        let bytes = form.file.into_vec().await.map_err(|e| file_error(format!("The file could not be read: {e}")))?;
        let (rows, mut failed, ignored) =
            tokio::task::spawn_blocking(move || parse(&bytes)).await.map_err(ApiError::internal)??;
        let actor = Actor::of(req, Some(admin.0.user_id));
        type Done = (u64, u64, Vec<Failure>, Vec<Product>, Option<u64>);
        let (created, updated, missing, _, _) = write_published(
            &state,
            move |w| {
                let (mut created, mut updated, mut missing, mut changed) = (0, 0, Vec::new(), Vec::new());
                for Row { line, id, input } in rows {
                    let mut p = match id {
                        Some(id) => match w.get(&PRODUCTS, &id)? {
                            Some(p) => p,
                            None => {
                                let e = errors_of(not_found());
                                missing.push(Failure {
                                    row: line,
                                    errors: e.into_values().map(|m| ("id".to_string(), m)).collect(),
                                });
                                continue;
                            }
                        },
                        None => blank(w.next_id(&PRODUCTS)?),
                    };
                    let before = if id.is_some() { audit_view(&p) } else { Value::Null };
                    input.apply(&mut p);
                    p.updated_at = Utc::now();
                    super::save(w, &mut p)?;
                    let action = if id.is_some() { "PRODUCT_UPDATE" } else { "PRODUCT_CREATE" };
                    let event = Event::new(action, "Product", p.id)
                        .change(before, audit_view(&p))
                        .metadata(json!({"import": {"row": line}}));
                    audit::record(w, &actor, event)?;
                    if id.is_some() {
                        updated += 1
                    } else {
                        created += 1
                    }
                    changed.push(p);
                }
                let summary = json!({"created": created, "updated": updated, "missing": missing.len()});
                audit::record(w, &actor, Event::about("PRODUCT_IMPORT", "Product").metadata(summary))?;
                let generation = if changed.is_empty() { None } else { Some(bump_generation(w)?) };
                Ok::<Done, ApiError>((created, updated, missing, changed, generation))
            },
            |d: &Done| (d.3.clone(), d.4),
        )
        .await?;
        failed.extend(missing);
        failed.sort_by_key(|f| f.row);
        Ok(Reply::ok(Report { created, updated, failed, ignored_columns: ignored }))
    }

    /// Every product, active or not, as a CSV file that imports back unchanged.
    #[oai(path = "/export", method = "get", operation_id = "exportProducts")]
    async fn export(&self, state: Data<&AppState>, _admin: Admin) -> ApiResult<CsvReply> {
        let products = state.catalog.all();
        let name = format!("products-{}.csv", Utc::now().format("%Y-%m-%d"));
        Ok(spreadsheet::stream(&name, move |out| {
            out.write_record(COLUMNS)?;
            for p in products {
                let t = spreadsheet::text;
                out.write_record([
                    p.id.to_string().as_str(),
                    &t(&p.title),
                    &t(&p.description),
                    &p.price.to_string(),
                    &p.discount_percentage.normalize().to_string(),
                    &p.stock.to_string(),
                    &t(&p.brand),
                    &t(&p.category),
                    &t(&p.thumbnail),
                    &t(&cell_list(&p.images)),
                    &t(&cell_list(&p.tags)),
                    &t(&p.sku),
                    if p.is_active { "true" } else { "false" },
                ])?;
            }
            Ok(())
        }))
    }
}
