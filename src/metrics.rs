//! Prometheus metrics: requests by route and status, a latency histogram, store commits, orders
//! placed, sign-ins by outcome, cache hits, outbox jobs by status, the process (CPU, memory, files) and the build.
//! One registry per app (not a global), so tests running many apps in one process stay apart.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    store_commits: IntCounter,
    store_writes: IntCounter,
    pub orders_placed: IntCounter,
    sign_ins: IntCounterVec,
    cache: IntCounterVec,
    jobs: IntGaugeVec,
    disk_free: IntGauge,
}

/// How a sign-in ended.
#[derive(Debug, Clone, Copy)]
pub enum SignIn {
    Success,
    /// Wrong email or password.
    Failure,
    /// Refused because the account is locked (or deactivated).
    Locked,
}

/// Counts kept elsewhere (the store, the search index), read when metrics are scraped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub store_commits: u64,
    pub store_writes: u64,
    pub search_hits: u64,
    pub search_misses: u64,
    pub facet_hits: u64,
    pub facet_misses: u64,
    pub page_hits: u64,
    pub page_misses: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("shopd".into()), None).expect("valid prefix");
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by method, route and status"),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by method and route").buckets(
                vec![0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
            ),
            &["method", "route"],
        )
        .expect("valid metric");
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric");
        let store_commits = counter("store_commits_total", "Durable store commits (each holds one or more writes)");
        let store_writes = counter("store_writes_total", "Write transactions committed");
        let orders_placed = counter("orders_placed_total", "Orders placed (idempotent repeats not counted)");
        let sign_ins = IntCounterVec::new(
            Opts::new("sign_ins_total", "Sign-ins by outcome: success, failure (wrong credentials), locked"),
            &["outcome"],
        )
        .expect("valid metric");
        let cache = IntCounterVec::new(
            Opts::new(
                "cache_requests_total",
                "Cache lookups: search (a query's matches), facets (their counts), pages (whole catalog answers)",
            ),
            &["cache", "result"],
        )
        .expect("valid metric");
        let jobs =
            IntGaugeVec::new(Opts::new("jobs", "Outbox jobs by status (PENDING, RUNNING, DONE, DEAD)"), &["status"])
                .expect("valid metric");
        let disk_free =
            IntGauge::new("disk_free_bytes", "Free bytes on the data dir's filesystem (for an unprivileged writer)")
                .expect("valid metric");
        let build = IntGauge::with_opts(
            Opts::new("build_info", "The running build (always 1)").const_label("version", env!("CARGO_PKG_VERSION")),
        )
        .expect("valid metric");
        build.set(1);
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(store_commits.clone()),
            Box::new(store_writes.clone()),
            Box::new(orders_placed.clone()),
            Box::new(sign_ins.clone()),
            Box::new(cache.clone()),
            Box::new(jobs.clone()),
            Box::new(disk_free.clone()),
            Box::new(build),
        ] {
            registry.register(c).expect("unique metric names");
        }
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("unique metric names");
        Metrics {
            registry,
            requests,
            latency,
            store_commits,
            store_writes,
            orders_placed,
            sign_ins,
            cache,
            jobs,
            disk_free,
        }
    }

    pub fn sign_in(&self, outcome: SignIn) {
        let label = match outcome {
            SignIn::Success => "success",
            SignIn::Failure => "failure",
            SignIn::Locked => "locked",
        };
        self.sign_ins.with_label_values(&[label]).inc();
    }

    /// Brings the counters kept elsewhere up to their totals.
    pub fn sync(&self, t: Totals) {
        fn to(counter: &IntCounter, total: u64) {
            let now = counter.get();
            if total > now {
                counter.inc_by(total - now);
            }
        }
        to(&self.store_commits, t.store_commits);
        to(&self.store_writes, t.store_writes);
        to(&self.cache.with_label_values(&["search", "hit"]), t.search_hits);
        to(&self.cache.with_label_values(&["search", "miss"]), t.search_misses);
        to(&self.cache.with_label_values(&["facets", "hit"]), t.facet_hits);
        to(&self.cache.with_label_values(&["facets", "miss"]), t.facet_misses);
        to(&self.cache.with_label_values(&["pages", "hit"]), t.page_hits);
        to(&self.cache.with_label_values(&["pages", "miss"]), t.page_misses);
    }

    /// The outbox's jobs by status, as counted at a scrape.
    pub fn jobs(&self, counts: &[(crate::jobs::JobStatus, u64)]) {
        for (status, n) in counts {
            self.jobs.with_label_values(&[status.as_str()]).set(*n as i64);
        }
    }

    pub fn disk_free(&self, bytes: Option<u64>) {
        if let Some(b) = bytes {
            self.disk_free.set(b.min(i64::MAX as u64) as i64);
        }
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests.with_label_values(&[method, route, &status.to_string()]).inc();
        self.latency.with_label_values(&[method, route]).observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding cannot fail");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}
