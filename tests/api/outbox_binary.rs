//! The outbox against the real binary: kill -9 under order load never loses or doubles a
//! confirmation; a refund survives the client that asked for it going away (HTTP/1.1 and
//! HTTP/2) and the process dying between Stripe's answer and its record.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shopd::jobs::{JOBS, Task};
use shopd::notifications::NOTIFICATIONS;
use shopd::orders::ORDERS;
use shopd::payments::PAYMENTS;
use shopd::store::Store;

use crate::binary::{Running, post_json};
use crate::helpers::raw_request;

fn body(response: &str) -> Value {
    serde_json::from_str(response.split_once("\r\n\r\n").map_or("", |p| p.1)).unwrap_or_default()
}

fn get_json(addr: SocketAddr, path: &str, bearer: &str) -> Value {
    let (_, text) = raw_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: {bearer}\r\nConnection: close\r\n\r\n"),
    );
    body(&text)
}

fn sign_in(addr: SocketAddr, email: &str, password: &str) -> String {
    let (status, text) = post_json(addr, "/api/v1/auth/login", &json!({"email": email, "password": password}), &[]);
    assert_eq!(status, 200, "{text}");
    format!("Bearer {}", body(&text)["data"]["token"].as_str().unwrap())
}

fn add_product(addr: SocketAddr, bearer: &str, stock: i64) -> u64 {
    let p = json!({"title": "Outbox item", "price": 12.5, "stock": stock, "brand": "O", "category": "outbox"});
    let (status, text) = post_json(addr, "/api/v1/products", &p, &[("Authorization", bearer.to_string())]);
    assert_eq!(status, 201, "{text}");
    body(&text)["data"]["id"].as_u64().unwrap()
}

fn address() -> Value {
    json!({"firstName": "A", "lastName": "B", "address": "1 St", "city": "C", "state": "S", "zipCode": "1", "country": "NO"})
}

/// Waits until the server has no job due or running (from its metrics).
fn drain(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, metrics) = crate::helpers::http_get(addr, "/metrics");
        let open = ["PENDING", "RUNNING"]
            .iter()
            .any(|s| !metrics.lines().any(|l| l == format!("shopd_jobs{{status=\"{s}\"}} 0")));
        if !open {
            return;
        }
        assert!(Instant::now() < deadline, "the outbox did not drain: {metrics}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The order each confirmation mail in the outbox is about, as the subject names it (`#1001`).
fn confirmations(data_dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(data_dir.join("outbox")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "eml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let subject = text.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default();
        if let Some(id) = subject.strip_prefix("Order ").and_then(|s| s.strip_suffix(" confirmed")) {
            out.push(id.to_string());
        }
    }
    out
}

/// Rounds of the kill -9 test: 50 in CI; `OUTBOX_CRASH_ROUNDS=500 cargo test kill_9_under` for
/// a longer run.
fn crash_rounds() -> usize {
    std::env::var("OUTBOX_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(50)
}

/// Orders placed while the server is killed with SIGKILL at random moments: after a restart and
/// a drain, every order in the store (so every order answered 201) has exactly one confirmation
/// mail and one notification, and no mail or notification is about an order that does not exist.
#[test]
fn kill_9_under_order_load_leaves_exactly_one_mail_and_notification_per_order() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("RATE_LIMIT_ENABLED", "false"),
        ("ADMIN_EMAIL", "root@shop.test"),
        ("ADMIN_PASSWORD", "Root1234x"),
        ("PASSWORD_HASH_MEMORY_KIB", "1024"),
        ("JOB_RETRY_BASE_MS", "20"),
    ];
    let mut server = Running::start_with(dir.path(), &env);
    let bearer = sign_in(server.addr, "root@shop.test", "Root1234x");
    let product = add_product(server.addr, &bearer, 10_000_000);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let rounds = crash_rounds();
    for round in 0..rounds {
        let addr = server.addr;
        let stop = Arc::new(AtomicBool::new(false));
        let buyers: Vec<_> = (0..4)
            .map(|_| {
                let (acked, stop, bearer) = (acked.clone(), stop.clone(), bearer.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let order = json!({"products": [{"id": product, "quantity": 1}], "shippingAddress": address()});
                        let (status, text) =
                            post_json(addr, "/api/v1/orders", &order, &[("Authorization", bearer.clone())]);
                        match status {
                            201 => acked.lock().unwrap().push(body(&text)["data"]["id"].as_str().unwrap().to_string()),
                            0 => break,
                            _ => {}
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(40 + (uuid::Uuid::new_v4().as_u128() % 160) as u64));
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for b in buyers {
            let _ = b.join();
        }
        if round % 10 == 0 {
            eprintln!("round {round}: {} orders acknowledged", acked.lock().unwrap().len());
        }
        server = Running::start_with(dir.path(), &env);
    }
    drain(server.addr);
    server.signal(libc::SIGTERM);
    server.wait(Duration::from_secs(35));

    let store = Store::open(dir.path()).unwrap();
    let r = store.read().unwrap();
    let stored: Vec<_> = r.scan(&ORDERS, &(), false).unwrap().map(|o| o.unwrap()).collect();
    let orders: HashSet<String> = stored.iter().map(|o| o.id.to_string()).collect();
    // Mails name an order by its number.
    let by_label: HashMap<String, String> = stored.iter().map(|o| (o.label(), o.id.to_string())).collect();
    let mut numbers: Vec<u64> = stored.iter().map(|o| o.number).collect();
    numbers.sort();
    assert_eq!(
        numbers,
        (1001..1001 + stored.len() as u64).collect::<Vec<_>>(),
        "numbers survive kill -9 without gaps or repeats"
    );
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > rounds * 5, "orders were placed: {}", acked.len());
    for id in &acked {
        assert!(orders.contains(id), "order {id} was answered 201 and is gone");
    }
    let mut mails: HashMap<String, usize> = HashMap::new();
    for label in confirmations(dir.path()) {
        let id =
            by_label.get(&label).unwrap_or_else(|| panic!("a confirmation for order {label}, which does not exist"));
        *mails.entry(id.clone()).or_default() += 1;
    }
    let mut notes: HashMap<String, usize> = HashMap::new();
    for n in r.scan(&NOTIFICATIONS, &(), false).unwrap() {
        let n = n.unwrap();
        if n.kind != "ORDER_CREATED" {
            continue;
        }
        let job = r.get(&JOBS, &n.job.expect("a notification names its job")).unwrap().expect("its job is kept");
        let Task::Notify { order_id, .. } = job.task else { panic!("a notification job: {:?}", job.task) };
        assert!(orders.contains(&order_id.to_string()), "a notification for order {order_id}, which does not exist");
        *notes.entry(order_id.to_string()).or_default() += 1;
    }
    for id in &orders {
        assert_eq!(mails.get(id), Some(&1), "order {id}: one confirmation mail");
        assert_eq!(notes.get(id), Some(&1), "order {id}: one notification");
    }
    eprintln!(
        "{rounds} rounds: {} orders acknowledged, {} stored, each with one mail and one notification",
        acked.len(),
        orders.len()
    );
}

/// A local Stripe: intents that succeed when read back, and refunds that take `refund_delay`,
/// or wait while `hold` is set. Answers a repeated idempotency key with the same refund.
#[derive(Default)]
struct Stripe {
    refund_delay: Duration,
    hold: bool,
    /// (path, idempotency key) of every request.
    seen: Vec<(String, Option<String>)>,
    intents: usize,
}

type Mock = Arc<Mutex<Stripe>>;

#[poem::handler]
async fn stripe_post(req: &poem::Request, body: String, mock: poem::web::Data<&Mock>) -> poem::Response {
    let path = req.uri().path().to_string();
    let key = req.header("idempotency-key").map(str::to_string);
    let (delay, n) = {
        let mut m = mock.lock().unwrap();
        m.seen.push((path.clone(), key.clone()));
        m.intents += 1;
        (m.refund_delay, m.intents)
    };
    let json = |v: Value| poem::Response::builder().content_type("application/json").body(v.to_string());
    if path == "/v1/refunds" {
        tokio::time::sleep(delay).await;
        while mock.lock().unwrap().hold {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let amount: i64 =
            body.split('&').find_map(|kv| kv.strip_prefix("amount=")).and_then(|a| a.parse().ok()).unwrap_or_default();
        let id = format!("re_{}", &shopd::types::fingerprint(&key)[..24]);
        return json(
            json!({"id": id, "object": "refund", "amount": amount, "created": 1, "currency": "usd", "status": "succeeded"}),
        );
    }
    json(intent(&format!("pi_mock_{n}"), "requires_payment_method"))
}

#[poem::handler]
fn stripe_get(poem::web::Path(id): poem::web::Path<String>) -> poem::Response {
    poem::Response::builder().content_type("application/json").body(intent(&id, "succeeded").to_string())
}

fn intent(id: &str, status: &str) -> Value {
    json!({"id": id, "object": "payment_intent", "amount": 1250, "amount_capturable": 0, "amount_received": 0,
           "capture_method": "automatic", "confirmation_method": "automatic", "created": 1, "currency": "usd",
           "livemode": false, "metadata": {}, "payment_method_types": ["card"], "status": status,
           "client_secret": format!("{id}_secret_x")})
}

/// Starts the mock on a thread of its own; returns its base URL.
fn stripe_mock(mock: Mock) -> String {
    use poem::EndpointExt;
    use poem::listener::{Acceptor, Listener};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let routes = poem::Route::new()
                .at("/v1/payment_intents", poem::post(stripe_post))
                .at("/v1/payment_intents/:id", poem::get(stripe_get))
                .at("/v1/refunds", poem::post(stripe_post))
                .data(mock);
            let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
            tx.send(acceptor.local_addr()[0].as_socket_addr().copied().unwrap()).unwrap();
            poem::Server::new_with_acceptor(acceptor).run(routes).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

fn stripe_env(base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("RATE_LIMIT_ENABLED", "false".into()),
        ("ADMIN_EMAIL", "root@shop.test".into()),
        ("ADMIN_PASSWORD", "Root1234x".into()),
        ("PASSWORD_HASH_MEMORY_KIB", "1024".into()),
        ("STRIPE_SECRET_KEY", "sk_test_mock".into()),
        ("STRIPE_API_BASE", base.into()),
        ("STRIPE_TIMEOUT_MS", "10000".into()),
        ("JOB_RETRY_BASE_MS", "50".into()),
    ]
}

fn start(dir: &Path, env: &[(&'static str, String)]) -> Running {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Running::start_with(dir, &env)
}

/// A PROCESSING order paid through the mock; returns (order id, payment id, intent id).
fn paid_order(addr: SocketAddr, bearer: &str, product: u64) -> (String, String, String) {
    let auth = [("Authorization", bearer.to_string())];
    let order = json!({"products": [{"id": product, "quantity": 1}], "shippingAddress": address()});
    let (status, text) = post_json(addr, "/api/v1/orders", &order, &auth);
    assert_eq!(status, 201, "{text}");
    let order_id = body(&text)["data"]["id"].as_str().unwrap().to_string();
    let (status, text) = post_json(addr, "/api/v1/payments/create-intent", &json!({"orderId": order_id}), &auth);
    assert_eq!(status, 201, "{text}");
    let intent = body(&text)["data"]["id"].as_str().unwrap().to_string();
    let (status, text) = post_json(addr, "/api/v1/payments/confirm", &json!({"paymentIntentId": intent}), &auth);
    assert_eq!((status, body(&text)["data"]["status"].as_str()), (200, Some("SUCCEEDED")), "{text}");
    (order_id, body(&text)["data"]["id"].as_str().unwrap().to_string(), intent)
}

/// Sends the cancel over HTTP/1.1 and closes the connection after `after`, unanswered.
fn cancel_and_leave_h1(addr: SocketAddr, order: &str, bearer: &str, after: Duration) {
    use std::io::Write;
    let body = "{}";
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /api/v1/orders/{order}/cancel HTTP/1.1\r\nHost: t\r\nAuthorization: {bearer}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    std::thread::sleep(after);
    stream.shutdown(std::net::Shutdown::Both).unwrap();
}

/// The same over HTTP/2 (prior knowledge, as h2c): the stream is reset and the connection
/// dropped after `after`.
fn cancel_and_leave_h2(addr: SocketAddr, order: &str, bearer: &str, after: Duration) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (client, connection) = h2::client::handshake(tcp).await.unwrap();
        let conn = tokio::spawn(connection);
        let mut client = client.ready().await.unwrap();
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("http://{addr}/api/v1/orders/{order}/cancel"))
            .header("authorization", bearer)
            .header("content-type", "application/json")
            .body(())
            .unwrap();
        let (response, mut stream) = client.send_request(request, false).unwrap();
        stream.send_data(bytes::Bytes::from_static(b"{}"), true).unwrap();
        let answered = tokio::time::timeout(after, response).await;
        assert!(answered.is_err(), "the refund takes longer than the client waits");
        drop(stream);
        drop(client);
        conn.abort();
    });
}

fn wait_for_status(addr: SocketAddr, bearer: &str, order: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = get_json(addr, &format!("/api/v1/orders/{order}"), bearer)["data"].clone();
        if o["status"] == status {
            return o;
        }
        assert!(Instant::now() < deadline, "order {order} did not become {status}: {o}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the store holds of a payment once the server is stopped: (status, refunds, reserved).
fn stored_payment(dir: &Path, payment: &str) -> (String, usize, String) {
    let store = Store::open(dir).unwrap();
    let p = store.read().unwrap().get(&PAYMENTS, &payment.parse().unwrap()).unwrap().unwrap();
    store.close();
    (format!("{:?}", p.status), p.refunds.len(), p.reserved.to_string())
}

#[test]
fn a_refund_completes_when_the_client_that_asked_for_it_leaves() {
    let mock: Mock = Arc::default();
    mock.lock().unwrap().refund_delay = Duration::from_secs(3);
    let base = stripe_mock(mock.clone());
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), &stripe_env(&base));
    let bearer = sign_in(server.addr, "root@shop.test", "Root1234x");
    let product = add_product(server.addr, &bearer, 100);
    let mut paid = BTreeMap::new();
    for protocol in ["HTTP/1.1", "HTTP/2"] {
        let (order, payment, _) = paid_order(server.addr, &bearer, product);
        let leave = Duration::from_millis(500);
        match protocol {
            "HTTP/1.1" => cancel_and_leave_h1(server.addr, &order, &bearer, leave),
            _ => cancel_and_leave_h2(server.addr, &order, &bearer, leave),
        }
        let o = wait_for_status(server.addr, &bearer, &order, "CANCELLED");
        assert_eq!(o["payment"]["status"], "REFUNDED", "{protocol}: {o}");
        assert_eq!(o["payment"]["refunded"], o["total"], "{protocol}: all of it");
        paid.insert(protocol, payment);
    }
    // The catalog shows a job's restock a moment after the store has it.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stock = get_json(server.addr, &format!("/api/v1/products/{product}"), &bearer)["data"]["stock"].clone();
        if stock == 100 {
            break;
        }
        assert!(Instant::now() < deadline, "both orders restocked: {stock}");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.signal(libc::SIGTERM);
    server.wait(Duration::from_secs(35));
    for (protocol, payment) in &paid {
        assert_eq!(
            stored_payment(dir.path(), payment),
            ("Refunded".into(), 1, "0.00".into()),
            "{protocol}: refunded once, nothing left reserved"
        );
    }
    let refunds = mock.lock().unwrap().seen.iter().filter(|(p, _)| p == "/v1/refunds").count();
    assert_eq!(refunds, 2, "one refund asked of Stripe per order");
}

#[test]
fn a_kill_9_between_stripes_refund_and_its_record_is_recovered_with_the_same_key() {
    let mock: Mock = Arc::default();
    let base = stripe_mock(mock.clone());
    let dir = tempfile::tempdir().unwrap();
    let env = stripe_env(&base);
    let mut server = start(dir.path(), &env);
    let bearer = sign_in(server.addr, "root@shop.test", "Root1234x");
    let product = add_product(server.addr, &bearer, 100);
    let (order, payment, _) = paid_order(server.addr, &bearer, product);
    mock.lock().unwrap().hold = true;
    let addr = server.addr;
    let (b, o) = (bearer.clone(), order.clone());
    let client = std::thread::spawn(move || {
        post_json(addr, &format!("/api/v1/orders/{o}/cancel"), &json!({}), &[("Authorization", b)])
    });
    // Stripe has the refund request: the process dies before it hears back.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !mock.lock().unwrap().seen.iter().any(|(p, _)| p == "/v1/refunds") {
        assert!(Instant::now() < deadline, "the refund reached Stripe");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert_eq!(client.join().unwrap().0, 0, "the client got no answer");
    mock.lock().unwrap().hold = false;

    let mut server = start(dir.path(), &env);
    let o = wait_for_status(server.addr, &bearer, &order, "CANCELLED");
    assert_eq!(o["payment"]["status"], "REFUNDED", "{o}");
    server.signal(libc::SIGTERM);
    server.wait(Duration::from_secs(35));
    assert_eq!(stored_payment(dir.path(), &payment), ("Refunded".into(), 1, "0.00".into()), "recorded once");
    let keys: Vec<Option<String>> =
        mock.lock().unwrap().seen.iter().filter(|(p, _)| p == "/v1/refunds").map(|(_, k)| k.clone()).collect();
    assert_eq!(keys.len(), 2, "asked again after the restart: {keys:?}");
    assert!(keys[0].is_some() && keys[0] == keys[1], "with the same idempotency key: {keys:?}");
}
