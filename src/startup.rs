//! Building the application from settings, and running it until a shutdown signal. Used by
//! `main` and by the tests alike.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::middleware::CatchPanic;
use poem::{Endpoint, EndpointExt, IntoResponse, Response, Route, Server, get};
use poem_openapi::OpenApiService;

use crate::audit::AuditApi;
use crate::auth::Auth;
use crate::auth::api::AuthApi;
use crate::auth::two_factor_api::TwoFactorApi;
use crate::backup::ControlSocket;
use crate::cart::api::CartApi;
use crate::config::Settings;
use crate::coupons::api::CouponsApi;
use crate::error::{ApiError, ErrorCode};
use crate::health::{self, HealthApi};
use crate::http::client_ip::{Trust, TrustProxy};
use crate::http::compress::Compression;
use crate::http::cors::Cors;
use crate::http::edge::{Catch, Edge};
use crate::http::rate_limit::{GeneralLimit, RateLimiter, UploadLimit};
use crate::jobs::Jobs;
use crate::jobs::api::JobsApi;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::notifications::api::NotificationsApi;
use crate::notifications::sms::PhoneApi;
use crate::notifications::subscriptions::PushApi;
use crate::orders::api::OrdersApi;
use crate::orders::export::AdminOrdersApi;
use crate::orders::guest::GuestOrdersApi;
use crate::payments::api::{AdminPaymentsApi, PaymentsApi};
use crate::payments::provider::Payments;
use crate::products::admin::AdminCatalogApi;
use crate::products::api::{AdminReviewsApi, ProductsApi};
use crate::products::bulk::AdminProductsApi;
use crate::products::catalog::Catalog;
use crate::products::mirror::GENERATION;
use crate::search::Search;
use crate::seed;
use crate::shop::ShopApi;
use crate::state::AppState;
use crate::stats::api::StatsApi;
use crate::store::{Store, StoreError};
use crate::users::admin::{AdminUsersApi, ensure_admin};
use crate::users::api::UsersApi;
use crate::webhooks::api::WebhooksApi;
use crate::wishlist::WishlistApi;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    /// With its context chain: `path: error`.
    #[error("{0:#}")]
    Setup(#[from] anyhow::Error),
}

/// In-flight requests get this long to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct App {
    pub state: AppState,
}

/// A bound listening socket, ready to serve.
pub struct Bound {
    acceptor: TcpAcceptor,
    pub addr: SocketAddr,
}

impl App {
    /// Opens the store, starts the password pool and the mailer, makes sure the configured
    /// admin exists. Must run inside the runtime.
    pub async fn build(settings: Settings) -> Result<App, StartupError> {
        let store = Store::open(&settings.data_dir)?;
        // Indexes added after a shop had records: built once, at the first start that has them.
        store.ensure_index(&crate::orders::ORDERS, crate::orders::ORDERS_BY_STATUS).await?;
        store.ensure_index(&crate::audit::AUDIT_LOGS, crate::audit::AUDIT_LOGS_BY_ACTION).await?;
        store.ensure_index(&crate::products::reviews::REVIEWS, crate::products::reviews::REVIEWS_BY_ID).await?;
        store.ensure_index(&crate::orders::ORDERS, crate::orders::ORDERS_BY_NUMBER).await?;
        crate::orders::number_old_orders(&store, settings.order_number_start).await?;
        crate::stats::rebuild::ensure(&store).await?;
        let auth = Auth::new(&settings, &store)?;
        let mailer = Mailer::new(&settings, store.clone())?;
        let jobs = Jobs::new(&store);
        if settings.seed_demo && settings.is_production() {
            // The demo's accounts have published passwords: never in a real shop.
            tracing::warn!("SEED_DEMO is ignored in production: the demo accounts have published passwords");
        } else if settings.seed_demo && seed::is_empty(&store)? {
            let n = seed::demo(&store, &auth.passwords, &settings.data_dir).await?;
            tracing::info!(products = n, "a new shop: loaded the demo catalog");
        }
        let catalog = Catalog::load(&store, settings.public_base())?;
        let search = open_search(&settings.data_dir, &store, &catalog).await?;
        let window = |ms| Duration::from_millis(ms);
        let general_limit =
            Arc::new(RateLimiter::new(settings.general_rate_limit(), window(settings.rate_limit_window_ms)));
        let admin_limit =
            Arc::new(RateLimiter::new(settings.admin_rate_limit_max, window(settings.rate_limit_window_ms)));
        let upload_limit =
            Arc::new(RateLimiter::new(settings.upload_rate_limit_max, window(settings.upload_rate_limit_window_ms)));
        let payments = Payments::from_settings(&settings)?;
        let uploads = crate::uploads::bucket::Bucket::from_settings(&settings)?;
        let vapid = Arc::new(crate::notifications::push::Vapid::load_or_create(
            &settings.data_dir,
            settings.vapid_private_key.as_ref().map(|k| k.expose()),
        )?);
        let state = AppState {
            jobs,
            settings: Arc::new(settings),
            store,
            auth: Arc::new(auth),
            catalog: Arc::new(catalog),
            search: Arc::new(search),
            payments: Arc::new(payments),
            mailer,
            metrics: Arc::new(Metrics::new()),
            general_limit,
            admin_limit,
            upload_limit,
            guest_limits: Arc::default(),
            sms_limits: Arc::default(),
            vapid,
            started: Instant::now(),
            uploads,
        };
        if let (Some(email), Some(password)) = (&state.settings.admin_email, &state.settings.admin_password) {
            let (id, created) = ensure_admin(&state.store, &state.auth.passwords, email, password.expose()).await?;
            tracing::info!(id, created, email = %email, "the configured admin account is ready");
        }
        if state.settings.is_production() {
            refuse_published_passwords(&state).await?;
        } else if let Ok(Some(_)) =
            state.store.read().and_then(|r| crate::users::User::find_by_email(&r, seed::DEMO_ADMIN.0))
        {
            tracing::info!(
                "demo sign-in (default passwords): admin {} / {}, customer {} / {}",
                seed::DEMO_ADMIN.0,
                seed::DEMO_ADMIN.1,
                seed::DEMO_CUSTOMER.0,
                seed::DEMO_CUSTOMER.1
            );
        }
        state.jobs.start(state.clone());
        release_startup_garbage();
        Ok(App { state })
    }

    /// The OpenAPI service of every operation.
    fn service() -> OpenApiService<impl poem_openapi::OpenApi, ()> {
        OpenApiService::new((HealthApi, AuthApi, TwoFactorApi, UsersApi, AdminUsersApi, AuditApi, ProductsApi, AdminReviewsApi, CartApi, OrdersApi, WishlistApi, NotificationsApi, PaymentsApi, AdminPaymentsApi, (JobsApi, StatsApi, AdminProductsApi, AdminCatalogApi, AdminOrdersApi, ShopApi, CouponsApi, GuestOrdersApi, WebhooksApi, PhoneApi, PushApi)), "shopd", VERSION)
            .description("The shopd e-commerce API. Every JSON response is an envelope: `{data, status, message, meta}` or `{message, status, code, details?, meta}`. See docs/api.md in the repository.")
            .server("/")
    }

    /// The OpenAPI document as served at `/api/v1/openapi.json` (built afresh: for tests).
    pub fn document() -> serde_json::Value {
        crate::openapi::document(&Self::service().spec())
    }

    /// The served document, built once per process (it depends only on the code): its JSON,
    /// and the methods of each path for 405s and route labels. The document's tree is dropped
    /// once these are made.
    fn served() -> &'static (String, Arc<crate::openapi::Allowed>) {
        static SERVED: std::sync::OnceLock<(String, Arc<crate::openapi::Allowed>)> = std::sync::OnceLock::new();
        SERVED.get_or_init(|| {
            let document = Self::document();
            let allowed = Arc::new(crate::openapi::Allowed::from_document(&document));
            (serde_json::to_string(&document).expect("the document serializes"), allowed)
        })
    }

    /// The Swagger UI page, made at its first request: it embeds a copy of the document and
    /// the UI's 1.5 MB of script, which a shop that never opens /docs need not hold.
    fn docs_page() -> &'static str {
        static PAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        PAGE.get_or_init(|| {
            let api = Self::service();
            // poem-openapi's page embeds its own document verbatim; it gets ours instead.
            api.swagger_ui_html().replace(&api.spec(), &Self::served().0)
        })
    }

    /// Every route of the application, without the middleware.
    pub fn routes(&self) -> Route {
        let spec_endpoint = poem::endpoint::make_sync(|_| {
            Response::builder().content_type("application/json; charset=utf-8").body(Self::served().0.as_str())
        });
        let docs = poem::endpoint::make_sync(|_| poem::web::Html(Self::docs_page()));
        let routes = Route::new().at("/api/v1/openapi.json", get(spec_endpoint)).at("/docs", get(docs));
        // With METRICS_ADDR, /metrics is served on that listener only.
        let routes = match self.state.settings.metrics_addr {
            Some(_) => routes,
            None => routes.at("/metrics", get(health::metrics)),
        };
        routes
            .nest(crate::uploads::URL_PREFIX, crate::uploads::endpoint(&self.state))
            .nest(crate::admin_app::URL_PREFIX, crate::admin_app::endpoint())
            .nest("/", Self::service())
    }

    /// `routes` wrapped in every middleware, outermost last: what the server runs and what
    /// in-process tests call.
    pub fn endpoint(&self, routes: Route) -> impl Endpoint<Output = Response> + use<> {
        let s = &self.state.settings;
        let upload_limit = s.max_file_size.saturating_mul(10).saturating_add(1024 * 1024);
        let allowed = Self::served().1.clone();
        routes
            .with(CatchPanic::new().with_handler(panic_response))
            .with(Catch { allowed: allowed.clone() })
            .with_if(s.rate_limit_enabled, UploadLimit(self.state.upload_limit.clone()))
            .with_if(
                s.rate_limit_enabled,
                GeneralLimit {
                    per_ip: self.state.general_limit.clone(),
                    per_admin: self.state.admin_limit.clone(),
                    admin_of: crate::auth::guard::admin_of,
                },
            )
            // Outside the limits: they need the client address behind a proxy and the tokens.
            .data(self.state.clone())
            .data(TrustProxy(Arc::new(Trust::new(&s.trust_proxy, s.trust_x_real_ip).unwrap_or_default())))
            .with(Compression)
            .with(Cors::new(s.origins()))
            .with(Edge { metrics: self.state.metrics.clone(), allowed, upload_limit, public_url: s.public_base() })
    }

    /// Binds the configured address (port 0 picks a free port).
    pub async fn bind(&self) -> std::io::Result<Bound> {
        let s = &self.state.settings;
        let acceptor = TcpListener::bind(format!("{}:{}", s.host, s.port)).into_acceptor().await?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| std::io::Error::other("no local address"))?;
        Ok(Bound { acceptor, addr })
    }

    /// Serves the application's routes until `shutdown` resolves.
    pub async fn run(self, bound: Bound, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let routes = self.routes();
        self.run_routes(bound, routes, shutdown).await
    }

    /// Serves `routes` (the tests add their own) until `shutdown` resolves; then stops
    /// accepting, lets in-flight requests finish for up to [`SHUTDOWN_GRACE`], and closes the
    /// store after its last write.
    pub async fn run_routes(
        self,
        bound: Bound,
        routes: Route,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let control = ControlSocket::start(self.state.store.clone(), &self.state.settings.data_dir)?;
        let sweeper = tokio::spawn(sweep_hourly(self.state.clone()));
        let disk = tokio::spawn(watch_disk(self.state.clone()));
        let every = self.state.settings.backup_interval.as_deref().and_then(|e| crate::config::parse_duration(e).ok());
        let backups = every.map(|every| {
            let dir = crate::backup::backup_dir(&self.state.settings);
            tracing::info!(every = ?every, dir = %dir.display(), keep = self.state.settings.backup_keep, "scheduled backups");
            tokio::spawn(crate::backup::schedule(self.state.clone(), every))
        });
        let metrics = match self.state.settings.metrics_addr {
            Some(addr) => {
                let listener = TcpListener::bind(addr).into_acceptor().await?;
                tracing::info!(metrics_address = %addr, "metrics at http://{addr}/metrics");
                let route = Route::new().at("/metrics", get(health::metrics)).data(self.state.clone());
                Some(tokio::spawn(Server::new_with_acceptor(listener).run(route)))
            }
            None => None,
        };
        let endpoint = self.endpoint(routes);
        tracing::info!(
            address = %bound.addr,
            "shopd {VERSION} listening on http://{addr} — API docs at http://{addr}/docs",
            addr = bound.addr
        );
        let served = Server::new_with_acceptor(bound.acceptor)
            .run_with_graceful_shutdown(endpoint, shutdown, Some(SHUTDOWN_GRACE))
            .await;
        control.stop();
        sweeper.abort();
        disk.abort();
        if let Some(b) = backups {
            b.abort();
        }
        if let Some(m) = metrics {
            m.abort();
        }
        self.state.jobs.shutdown(Duration::from_secs(5)).await;
        let store = self.state.store.clone();
        tokio::task::spawn_blocking(move || store.close()).await.map_err(std::io::Error::other)?;
        tracing::info!("shopd stopped; the store is closed");
        served
    }
}

/// In production, an account that still signs in with a password printed in the README (the
/// demo's) stops the start, saying how to change it; a shop without any admin is told how to
/// make one.
async fn refuse_published_passwords(state: &AppState) -> Result<(), StartupError> {
    for (email, password) in [seed::DEMO_ADMIN, seed::DEMO_CUSTOMER] {
        let Some(user) = crate::users::User::find_by_email(&state.store.read()?, email)? else { continue };
        let published = state
            .auth
            .passwords
            .verify(password, Some(&user.password_hash))
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        if published {
            return Err(anyhow::anyhow!(
                "the account {email} signs in with the demo's published password, which must not exist in production: \
                 change it (shopd admin create --email {email} --password NEW) or deactivate the account"
            )
            .into());
        }
    }
    let admins = state.store.read()?.scan(&crate::users::USERS, &(), false)?.filter_map(Result::ok);
    if !admins.into_iter().any(|u| u.role == crate::users::Role::Admin && u.is_active) {
        tracing::warn!(
            "this shop has no admin account: set ADMIN_EMAIL and ADMIN_PASSWORD, or run `shopd admin create --email E --password P` with the server stopped"
        );
    }
    Ok(())
}

/// Opens the search index and brings it up to date with the store: a missing, damaged or
/// lagging index (its generation is not the store's) is rebuilt from the catalog.
pub async fn open_search(data_dir: &std::path::Path, store: &Store, catalog: &Catalog) -> Result<Search, StartupError> {
    let search = Search::open(&data_dir.join("search")).map_err(anyhow::Error::from)?;
    let generation = store.read()?.last_id(&GENERATION)?;
    if search.generation() != Some(generation) {
        tracing::info!(products = catalog.active_count(), "rebuilding the search index from the store");
        let products = catalog.all();
        let started = Instant::now();
        search.rebuild(products.iter().map(|p| p.as_ref()), generation, |_| {}).map_err(anyhow::Error::from)?;
        tracing::info!(ms = started.elapsed().as_millis() as u64, "search index rebuilt");
    } else {
        search.learn_from_index().map_err(anyhow::Error::from)?;
    }
    Ok(search)
}

/// Says at start how much room the data dir has, warns while it is below `DISK_FREE_WARN_MB`
/// (and once when it is back), and lets a store whose commit failed on a full disk reopen as
/// soon as there is room, even when nobody writes.
async fn watch_disk(state: AppState) {
    let dir = state.settings.data_dir.clone();
    let threshold = state.settings.disk_free_warn_mb.saturating_mul(1024 * 1024);
    if let Some(free) = crate::store::disk::free_bytes(&dir) {
        tracing::info!(free_mib = free >> 20, path = %dir.display(), "free space on the data dir's disk");
    }
    let mut low = false;
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tick.tick().await;
        let Some(free) = crate::store::disk::free_bytes(&dir) else { continue };
        if free < threshold {
            tracing::warn!(
                free_mib = free >> 20,
                threshold_mib = state.settings.disk_free_warn_mb,
                "the data dir's disk is almost full: writes answer 507 once it is"
            );
        } else if low {
            tracing::info!(free_mib = free >> 20, "the data dir's disk has room again");
        }
        low = free < threshold;
        let _ = state.store.probe().await;
    }
}

/// Clears expired tokens and revocations, expired guest carts and old finished jobs once an
/// hour (the first pass a minute after start), and mails abandoned-cart reminders.
async fn sweep_hourly(state: AppState) {
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(60), Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match crate::auth::sweep(&state.store).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "swept expired tokens"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired tokens failed"),
        }
        match crate::cart::sweep_guests(&state.store, state.settings.cart_expiry_days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "swept expired guest carts"),
            Err(e) => tracing::warn!(error = %e, "sweeping guest carts failed"),
        }
        match crate::jobs::sweep(&state.store, chrono::Duration::days(crate::jobs::KEEP_DONE_DAYS)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "swept finished jobs"),
            Err(e) => tracing::warn!(error = %e, "sweeping finished jobs failed"),
        }
        match crate::webhooks::sweep(&state.store, chrono::Duration::days(crate::webhooks::KEEP_DAYS)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "swept old webhook deliveries"),
            Err(e) => tracing::warn!(error = %e, "sweeping webhook deliveries failed"),
        }
        match crate::cart::remind_abandoned(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sent = n, "sent abandoned-cart reminders"),
            Err(e) => tracing::warn!(error = %e, "abandoned-cart reminders failed"),
        }
    }
}

/// A panicking handler is a bug: the client gets a plain 500, the log gets what panicked.
fn panic_response(panic: Box<dyn std::any::Any + Send>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    tracing::error!(panic = %what, "a handler panicked");
    ApiError::new(ErrorCode::InternalError).into_response()
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled: a SIGTERM that arrives just after the start-up log line
/// (a supervisor stopping a service it has only just started) still shuts down gracefully.
/// Must be called inside the runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).expect("a SIGTERM handler"),
            signal(SignalKind::interrupt()).expect("a SIGINT handler"),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (mut term, mut int) = signals;
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received: finishing in-flight requests");
    }
}

/// Hands the heap that start-up used and freed (the demo's seeding, a rebuilt index, the OpenAPI
/// document's tree) back to the system: glibc keeps freed memory for reuse, and a small shop
/// would carry it for its whole life. A first start then costs no more memory than any other.
fn release_startup_garbage() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only gives free pages of the allocator's heaps back to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}
