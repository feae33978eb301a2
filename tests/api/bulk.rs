//! CSV import and export (API.md §6): a report row by row, nothing of a refused row written,
//! formulas escaped, and an export that imports back unchanged.

use poem::http::StatusCode;
use poem::test::{TestForm, TestFormField};
use serde_json::{Value, json};

use crate::helpers::{Reply, Session, TestApp, assert_error, send};

async fn import(app: &TestApp, admin: &Session, csv: impl Into<Vec<u8>>) -> Reply {
    let form = TestForm::new().field(TestFormField::bytes(csv.into()).name("file").filename("products.csv"));
    send(app.post_as("/api/v1/admin/products/import", admin).multipart(form)).await
}

async fn product(app: &TestApp, id: u64) -> Value {
    send(app.get(&format!("/api/v1/products/{id}"))).await.json()["data"].clone()
}

#[tokio::test]
async fn an_import_writes_the_good_rows_and_reports_each_bad_one() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let before = product(&app, 1).await;
    let count = |app: &TestApp| {
        let state = app.state.clone();
        async move { state.store.read().unwrap().count(&shopd::products::PRODUCTS).unwrap() }
    };
    let products_before = count(&app).await;
    let csv = "title,price,stock,brand,category,tags,colour,id\n\
               Walnut desk lamp,49.90,12,Lumo,Lighting,desk|walnut,brown,\n\
               ,abc,3,Lumo,Lighting,,,\n\
               ,,77,,,,,1\n\
               Ghost,1,1,X,Y,,,999999\n\
               \"'=HYPERLINK(\"\"http://evil\"\")\",5,1,Lumo,Lighting,,,\n\
               \n\
               Too long title,5,1,Lumo,Lighting,,,\n";
    let long = csv.replace("Too long title", &"x".repeat(201));
    let r = import(&app, &admin, long).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let report = r.json()["data"].clone();
    assert_eq!((report["created"].as_u64(), report["updated"].as_u64()), (Some(2), Some(1)), "{report}");
    assert_eq!(report["ignoredColumns"], json!(["colour"]));
    let failed = report["failed"].as_array().unwrap();
    let rows: Vec<u64> = failed.iter().map(|f| f["row"].as_u64().unwrap()).collect();
    assert_eq!(rows, [3, 5, 8], "{report}");
    assert_eq!(failed[0]["errors"]["price"], json!(["Must be a number, like 12.50"]));
    assert_eq!(failed[0]["errors"]["title"], json!(["Required"]));
    assert_eq!(failed[1]["errors"]["id"], json!(["Product not found"]));
    assert_eq!(failed[2]["errors"]["title"], json!(["At most 200 characters"]));
    assert_eq!(count(&app).await, products_before + 2, "refused rows wrote nothing");

    // The update changed the stock alone.
    let after = product(&app, 1).await;
    assert_eq!(after["stock"], 77);
    assert_eq!((&after["title"], &after["price"]), (&before["title"], &before["price"]));
    // New products are searchable at once, and the escaped formula came back as it was typed.
    let hits = send(app.get("/api/v1/products/search?q=walnut")).await.json()["data"]["products"].clone();
    let lamp = hits.as_array().unwrap().iter().find(|p| p["title"] == "Walnut desk lamp").expect("found").clone();
    assert_eq!((lamp["price"].as_f64(), lamp["category"].as_str()), (Some(49.9), Some("lighting")));
    assert_eq!(lamp["tags"], json!(["desk", "walnut"]));
    let all = send(app.get("/api/v1/products?limit=100&sortBy=createdAt&order=desc")).await.json()["data"]["products"]
        .clone();
    assert!(all.as_array().unwrap().iter().any(|p| p["title"] == "=HYPERLINK(\"http://evil\")"));

    // Audited: each product, and the file.
    let log = send(app.get_as("/api/v1/admin/audit-logs?action=PRODUCT_IMPORT", &admin)).await.json()["data"].clone();
    assert_eq!(log["logs"][0]["metadata"], json!({"created": 2, "updated": 1, "missing": 1}), "{log}");

    // Files that are no CSV of products: one clear error, nothing written.
    assert_error(&import(&app, &admin, vec![0xff, 0xfe, 0x00]).await, 400, "VALIDATION_ERROR");
    assert_error(&import(&app, &admin, "colour,size\nred,xl\n").await, 400, "VALIDATION_ERROR");
    assert_error(&import(&app, &admin, "title,Title\na,b\n").await, 400, "VALIDATION_ERROR");
    assert_eq!(count(&app).await, products_before + 2);
    let customer = app.user("c@shop.test").await;
    assert_error(&import(&app, &customer, "title\nx\n").await, 403, "FORBIDDEN");
}

#[tokio::test]
async fn an_export_opens_safely_and_imports_back_unchanged() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let r = import(
        &app,
        &admin,
        "title,price,stock,brand,category,description\n-50% lamp,5,1,@brand,Lighting,\"two\nlines, and a comma\"\n",
    )
    .await;
    assert_eq!(r.json()["data"]["created"], 1, "{}", r.text());
    let r = send(app.get_as("/api/v1/admin/products/export", &admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(r.header("content-disposition").unwrap().starts_with("attachment; filename=\"products-"));
    let csv = r.text();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("id,title,description,price,discountPercentage,stock,brand,category,thumbnail,images,tags,sku,isActive")
    );
    assert!(
        csv.contains(",'-50% lamp,\"two\nlines, and a comma\",5.00,0,1,'@brand,lighting,"),
        "{}",
        &csv[csv.len() - 400..]
    );
    let n = csv.lines().filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_digit())).count();
    assert!(n >= 202, "{n}");

    let views = |app: &TestApp| {
        let state = app.state.clone();
        async move {
            let all = state.catalog.all();
            all.iter().map(|p| poem_openapi::types::ToJSON::to_json(&p.view()).unwrap()).collect::<Vec<Value>>()
        }
    };
    let before = views(&app).await;
    let r = import(&app, &admin, csv).await;
    let report = r.json()["data"].clone();
    assert_eq!((report["created"].as_u64(), report["failed"].as_array().map(Vec::len)), (Some(0), Some(0)), "{report}");
    assert_eq!(report["updated"].as_u64(), Some(before.len() as u64));
    let strip = |v: Vec<Value>| {
        v.into_iter()
            .map(|mut p| {
                p.as_object_mut().unwrap().remove("updatedAt");
                p
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(views(&app).await), strip(before), "a round trip changes nothing");
}

#[tokio::test]
async fn orders_export_by_status_and_day() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let s = app.user("buyer@shop.test").await;
    let o = app.placed(&s, &[(1, 2)]).await;
    let id = o["id"].as_str().unwrap();
    let export = |q: &str| send(app.get_as(&format!("/api/v1/admin/orders/export{q}"), &admin));
    let csv = export("").await.text();
    let header = csv.lines().next().unwrap();
    assert!(
        header.starts_with("number,id,createdAt,status,email,customer,items,units,subtotal,tax,shipping,total"),
        "{header}"
    );
    let line = csv.lines().find(|l| l.contains(id)).expect("the order is exported");
    assert!(line.contains(",PENDING,buyer@shop.test,"), "{line}");
    assert!(line.contains(&format!(",{},", o["total"])), "{line} {}", o["total"]);
    let today = chrono::Utc::now().date_naive();
    assert_eq!(export(&format!("?status=PENDING&from={today}&to={today}")).await.text().lines().count(), 2);
    assert_eq!(export("?status=SHIPPED").await.text().lines().count(), 1, "only the header");
    let tomorrow = today.succ_opt().unwrap();
    assert_eq!(export(&format!("?from={tomorrow}")).await.text().lines().count(), 1);
    assert_eq!(export(&format!("?to={today}")).await.text().lines().count(), 2);
    assert_error(&export("?from=2026-12-02&to=2026-12-01").await, 400, "VALIDATION_ERROR");
    assert_error(&export("?status=LOST").await, 400, "VALIDATION_ERROR");
    assert_error(&send(app.get_as("/api/v1/admin/orders/export", &s)).await, 403, "FORBIDDEN");
    let log = send(app.get_as("/api/v1/admin/audit-logs?action=ORDERS_EXPORT", &admin)).await.json()["data"].clone();
    assert_eq!(log["total"], 5, "every export is audited (refused ones are no export): {log}");
    assert_eq!(log["logs"][0]["metadata"], json!({"status": null, "from": null, "to": today.to_string()}));
    assert_eq!(log["logs"][4]["metadata"], json!({"status": null, "from": null, "to": null}));
}
