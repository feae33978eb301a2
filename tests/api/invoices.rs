//! Invoices and credit notes: the PDF's text as `pdftotext` (poppler-utils) extracts it, and
//! its pages as `pdfinfo` counts them.

use std::io::Write;

use poem::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, assert_error, send};
use crate::payments::{intent, offline_shop};

/// Whether poppler-utils is here; without it (a machine with only Rust) the PDF tests are
/// skipped, unless `REQUIRE_POPPLER` is set (.ci/run installs it and sets it).
fn have_poppler() -> bool {
    let here = std::process::Command::new("pdftotext").arg("-v").output().is_ok();
    assert!(here || std::env::var_os("REQUIRE_POPPLER").is_none(), "REQUIRE_POPPLER is set but pdftotext is missing");
    if !here {
        eprintln!("skipped: no pdftotext (Debian's poppler-utils; .ci/run installs it)");
    }
    here
}

/// What poppler reads from a PDF: its text (`-layout` keeps a line's cells on one line) and
/// its `pdfinfo` report.
fn poppler(pdf: &[u8]) -> (String, String) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(pdf).unwrap();
    let run = |cmd: &str, args: &[&str]| {
        let out = std::process::Command::new(cmd)
            .args(args)
            .arg(file.path())
            .args(if cmd == "pdftotext" { &["-"][..] } else { &[][..] })
            .output()
            .unwrap_or_else(|e| panic!("{cmd} (Debian's poppler-utils) runs: {e}"));
        assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    (run("pdftotext", &["-layout"]), run("pdfinfo", &[]))
}

fn pages(info: &str) -> u32 {
    info.lines().find_map(|l| l.strip_prefix("Pages:")).unwrap().trim().parse().unwrap()
}

async fn titled(app: &TestApp, admin: &Session, title: &str, price: f64, category: &str) -> u64 {
    let body = json!({"title": title, "price": price, "stock": 50, "brand": "T", "category": category});
    let r = send(app.post_as("/api/v1/products", admin).body_json(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["data"]["id"].as_u64().unwrap()
}

async fn pay(app: &TestApp, s: &Session, order_id: &str) -> Value {
    let pi = intent(app, s, order_id).await.json()["data"].clone();
    let r = send(app.post_as("/api/v1/payments/confirm", s).body_json(&json!({"paymentIntentId": pi["id"]}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["data"].clone()
}

#[tokio::test]
async fn the_invoice_shows_the_seller_the_buyer_and_the_money_exactly_in_any_script() {
    if !have_poppler() {
        return;
    }
    let app = offline_shop().await;
    let admin = app.demo_admin().await;
    let r = send(app.client.put("/api/v1/admin/settings").header("Authorization", admin.bearer()).body_json(&json!({
        "name": "Müller & Söhne", "legalName": "Müller & Söhne GmbH", "address": "Marienplatz 1, 80331 München",
        "taxId": "DE123456789", "supportEmail": "rechnung@mueller.example", "currency": "EUR", "paperSize": "LETTER",
        "invoiceFooter": "Danke für Ihren Einkauf!\nIBAN DE89 3704 0044 0532 0130 00"
    })))
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mug = titled(&app, &admin, "Łódź ceramic mug", 24.5, "mugs").await;
    let honey = titled(&app, &admin, "Ελληνικό μέλι (Greek honey)", 12.25, "food").await;
    let c = json!({"code": "MUGS10", "type": "PERCENT", "value": 10, "categories": ["mugs"]});
    assert_eq!(send(app.post_as("/api/v1/admin/coupons", &admin).body_json(&c)).await.status, StatusCode::CREATED);
    let s = app.user("juergen@mueller.example").await;
    let address = json!({"firstName": "Jürgen", "lastName": "Müller", "address": "Königstraße 5", "city": "München",
                         "state": "Bayern", "zipCode": "80331", "country": "Deutschland"});
    let body = json!({"products": [{"id": mug, "quantity": 2}, {"id": honey, "quantity": 1}], "shippingAddress": address, "couponCode": "mugs10"});
    let r = send(app.post_as("/api/v1/orders", &s).body_json(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let o = r.json()["data"].clone();
    let oid = o["id"].as_str().unwrap().to_string();
    // 49.00 + 12.25 = 61.25; 10 % of the mugs = 4.90; tax 8 % of 56.35 = 4.51; shipping 9.99.
    assert_eq!(
        (o["currency"].as_str(), o["discount"].as_f64(), o["tax"].as_f64(), o["total"].as_f64()),
        (Some("EUR"), Some(4.9), Some(4.51), Some(70.85))
    );
    let invoice = || send(app.get_as(&format!("/api/v1/orders/{oid}/invoice"), &s));
    let r = invoice().await;
    assert_eq!((r.status, r.header("content-type")), (StatusCode::OK, Some("application/pdf")));
    let number = o["number"].as_u64().unwrap();
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment; filename=\"invoice-{number}.pdf\"").as_str())
    );
    let (text, info) = poppler(&r.body);
    for needle in [
        format!("INV-{number}"),
        format!("#{number}"),
        "Müller & Söhne GmbH".into(),
        "Marienplatz 1, 80331 München".into(),
        "Tax ID: DE123456789".into(),
        "Jürgen Müller".into(),
        "Königstraße 5".into(),
        "80331 München".into(),
        "Bayern".into(),
        "juergen@mueller.example".into(),
        "Łódź ceramic mug".into(),
        "Ελληνικό μέλι (Greek honey)".into(),
        "Not paid".into(),
        "Discount (MUGS10)".into(),
        "-4.90".into(),
        "Tax (8%)".into(),
        "4.51".into(),
        "9.99".into(),
        "61.25".into(),
        "Total (EUR)".into(),
        "70.85".into(),
        "Danke für Ihren Einkauf!".into(),
        "Page 1 of 1".into(),
    ] {
        assert!(text.contains(&needle), "{needle:?} in the invoice:\n{text}");
    }
    assert!(!text.contains("PAID"), "not paid yet");
    assert!(info.contains("612 x 792 pts"), "Letter, as the shop set: {info}");
    // A line's cells stay on its line: quantity, unit price, discount and total.
    let line = text.lines().find(|l| l.contains("Łódź ceramic mug")).unwrap();
    assert!(
        line.contains(" 2 ") && line.contains("24.50") && line.contains("-4.90") && line.contains("49.00"),
        "{line}"
    );

    pay(&app, &s, &oid).await;
    let (text, _) = poppler(&invoice().await.body);
    assert!(text.contains("PAID") && text.contains("Paid on"), "{text}");
    let stranger = app.user("nosy@invoice.test").await;
    let r = send(app.get_as(&format!("/api/v1/orders/{oid}/invoice"), &stranger)).await;
    assert_error(&r, 404, "ORDER_NOT_FOUND");
}

#[tokio::test]
async fn an_order_of_150_lines_runs_over_several_pages_with_every_line_and_the_totals() {
    if !have_poppler() {
        return;
    }
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let s = app.user("big@invoice.test").await;
    let mut lines: Vec<(u64, u32)> = Vec::new();
    for skip in [0, 100] {
        let page =
            send(app.get_as(&format!("/api/v1/admin/products?inStock=true&limit=100&skip={skip}"), &admin)).await;
        let products = page.json()["data"]["products"].as_array().unwrap().clone();
        lines.extend(products.iter().map(|p| (p["id"].as_u64().unwrap(), 1)));
    }
    lines.truncate(150);
    assert_eq!(lines.len(), 150, "the demo catalog has 150 products in stock");
    let o = app.placed(&s, &lines).await;
    assert_eq!(o["items"].as_array().unwrap().len(), 150);
    let r = send(app.get_as(&format!("/api/v1/orders/{}/invoice", o["id"].as_str().unwrap()), &admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    let (text, info) = poppler(&r.body);
    let n = pages(&info);
    assert!(n >= 3, "{n} pages");
    assert!(info.contains("595.28 x 841.89 pts") || info.contains("595 x 842 pts"), "A4 by default: {info}");
    for p in 1..=n {
        assert!(text.contains(&format!("Page {p} of {n}")), "page {p} of {n}");
    }
    // The column heads on every page, and every line's title once.
    let heads = text.matches("Unit price").count() as u32;
    assert!(
        heads == n || heads == n - 1,
        "{heads} column heads on {n} pages (the totals may have a page of their own)"
    );
    for item in o["items"].as_array().unwrap() {
        let title = item["product"]["title"].as_str().unwrap();
        let short: String = title.chars().take(20).collect();
        assert!(text.contains(&short), "{title} in the invoice");
    }
    assert!(text.contains(&format!("{:.2}", o["total"].as_f64().unwrap())), "the total");
}

#[tokio::test]
async fn each_refund_gets_a_credit_note_with_its_own_number() {
    if !have_poppler() {
        return;
    }
    let app = offline_shop().await;
    let admin = app.demo_admin().await;
    let s = app.user("refunds@invoice.test").await;
    let o = app.placed(&s, &[(1, 1)]).await;
    let oid = o["id"].as_str().unwrap().to_string();
    let p = pay(&app, &s, &oid).await;
    assert_eq!(p["refunds"], json!([]));
    let path = format!("/api/v1/payments/{}/refund", p["id"].as_str().unwrap());
    for amount in [25.0, 10.5] {
        let r = send(app.post_as(&path, &admin).body_json(&json!({"amount": amount}))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let order = send(app.get_as(&format!("/api/v1/orders/{oid}"), &s)).await.json()["data"].clone();
    let refunds = order["payment"]["refunds"].as_array().unwrap().clone();
    assert_eq!(
        refunds.iter().map(|r| (r["amount"].as_f64().unwrap(), r["status"].as_str().unwrap())).collect::<Vec<_>>(),
        vec![(25.0, "SUCCEEDED"), (10.5, "SUCCEEDED")]
    );
    let number = o["number"].as_u64().unwrap();
    for (i, (refund, amount)) in refunds.iter().zip(["-25.00", "-10.50"]).enumerate() {
        let r = send(app.get_as(&format!("/api/v1/orders/{oid}/credit-notes/{}", refund["id"].as_str().unwrap()), &s))
            .await;
        assert_eq!((r.status, r.header("content-type")), (StatusCode::OK, Some("application/pdf")));
        let (text, _) = poppler(&r.body);
        let cn = format!("CN-{number}-{}", i + 1);
        assert_eq!(r.header("content-disposition"), Some(format!("attachment; filename=\"{cn}.pdf\"").as_str()));
        for needle in ["Credit note", cn.as_str(), &format!("INV-{number}"), amount, "Ann Smith"] {
            assert!(text.contains(needle), "{needle:?} in the credit note:\n{text}");
        }
    }
    let unknown = format!("/api/v1/orders/{oid}/credit-notes/{}", uuid::Uuid::now_v7());
    assert_error(&send(app.get_as(&unknown, &s)).await, 404, "NOT_FOUND");
    let stranger = app.user("nosy@refunds.test").await;
    let theirs = format!("/api/v1/orders/{oid}/credit-notes/{}", refunds[0]["id"].as_str().unwrap());
    assert_error(&send(app.get_as(&theirs, &stranger)).await, 404, "ORDER_NOT_FOUND");
}
