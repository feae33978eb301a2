//! The command line: `shopd [serve|backup|restore] ...`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::auth::password::{Cost, Passwords};
use crate::config::{Overrides, Settings, Sources};
use crate::products::catalog::Catalog;
use crate::products::mirror::GENERATION;
use crate::search::Search;
use crate::startup::{App, shutdown_signal};
use crate::store::{Store, StoreError};
use crate::users::admin::{InvalidAdmin, ensure_admin};

#[derive(Debug, Parser)]
#[command(
    name = "shopd",
    version,
    about = "A complete e-commerce backend in one binary: the store API, search, carts, orders and payments, with no database server to run."
)]
pub struct Cli {
    /// Settings file (default: ./config.toml when it exists)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the store, uploads and outbox live (default: ./data)
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to serve on, e.g. 127.0.0.1 (HOST; default 0.0.0.0)
    #[arg(long, global = true, value_name = "ADDR")]
    pub host: Option<String>,
    /// Port to serve on; 0 picks a free one (PORT; default 3000)
    #[arg(long, global = true, value_name = "N")]
    pub port: Option<u16>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (what `shopd` does without a command): `shopd --port 8080` is
    /// `shopd serve --port 8080`
    Serve,
    /// Write the whole shop to one archive FILE (store snapshot, uploads, signing secret,
    /// settings, checksums), also while the server runs
    Backup {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Overwrite FILE if it exists
        #[arg(long)]
        force: bool,
    },
    /// Check a backup FILE whole, then restore it into an empty data dir. An encrypted one
    /// (.tar.age) is opened with BACKUP_ENCRYPTION_KEY (a passphrase) or --identity
    Restore {
        file: PathBuf,
        /// The age identity file (AGE-SECRET-KEY-1…) of the recipient the backup was sealed for
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Fill an empty shop with the demo catalog, or add N generated products or sample orders
    /// (demos, benchmarks)
    Seed {
        /// Add this many generated products instead of the demo catalog
        #[arg(long, value_name = "N")]
        generate: Option<u64>,
        /// Add this many sample orders of the shop's products, placed over the last two years
        #[arg(long, value_name = "N", conflicts_with = "generate")]
        orders: Option<u64>,
    },
    /// Rebuild the search index from the store
    Reindex,
    /// The sales figures of the dashboard
    Stats {
        #[command(subcommand)]
        command: StatsCommand,
    },
    /// Manage administrator accounts
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Make a new production shop: a commented config.toml (with a generated signing secret,
    /// the public URLs and the payment provider) and the first admin; asks for what is not given
    Init(crate::init::InitArgs),
    /// Exit 0 when the server on HOST:PORT is ready (GET /ready answers 200), 1 otherwise: for
    /// a container's HEALTHCHECK, where there is no curl
    Healthcheck,
    /// The settings
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Recompute them from the orders, refunds and accounts (server stopped)
    Rebuild,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the commented example config.toml: every setting with its default
    Example,
}

/// The shipped `config.toml`: every setting, commented, with its default.
pub const CONFIG_EXAMPLE: &str = include_str!("../config.toml");

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin, or promote the account with this email and set its password
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
    },
    /// Turn two-factor sign-in off for the account with this email (a lost device), with the
    /// server stopped or through its socket while it runs
    #[command(name = "reset-2fa")]
    Reset2fa {
        #[arg(long)]
        email: String,
    },
}

impl Cli {
    pub fn sources(&self) -> Sources {
        Sources {
            config_file: self.config.clone(),
            overrides: Overrides { data_dir: self.data_dir.clone(), host: self.host.clone(), port: self.port },
        }
    }
}

/// Runs the command with loaded settings; the exit code to return.
pub fn run(command: Option<Command>, settings: Settings) -> ExitCode {
    match command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Backup { out, force } => match crate::backup::backup(&settings, &out, force) {
            Ok(p) => {
                println!(
                    "backup written to {} ({} bytes, {} records, {} files)",
                    out.display(),
                    p.bytes,
                    p.records,
                    p.files
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("backup failed: {e:#}")),
        },
        Command::Seed { generate: _, orders: Some(n) } => {
            let s = settings.clone();
            offline(&settings, |store, _| async move {
                // Numbers follow creation: a store's older orders are numbered first.
                crate::orders::number_old_orders(&store, s.order_number_start).await?;
                let bar = progress_bar(n, "placing sample orders");
                crate::seed::orders(&store, &s, n, 730, |done| bar.set_position(done)).await?;
                bar.finish();
                Ok(format!("added {n} sample orders over the last two years"))
            })
        }
        Command::Seed { generate, orders: None } => {
            let s = settings.clone();
            offline(&settings, |store, passwords| async move { seed(&s, store, passwords, generate).await })
        }
        Command::Reindex => {
            let s = settings.clone();
            offline(&settings, |store, _| async move { reindex(&s, store).await })
        }
        Command::Stats { command: StatsCommand::Rebuild } => offline(&settings, |store, _| async move {
            let done = crate::stats::rebuild::rebuild(&store).await?;
            Ok(format!(
                "sales figures rebuilt from {} orders, {} refunds and {} accounts",
                done.orders, done.refunds, done.accounts
            ))
        }),
        Command::Admin { command: AdminCommand::Create { email, password } } => {
            admin_create(&settings, &email, &password)
        }
        Command::Admin { command: AdminCommand::Reset2fa { email } } => {
            match crate::backup::reset_2fa(&settings, &email) {
                Ok(true) => {
                    println!(
                        "two-factor sign-in is off for {email}: they sign in with their password and may enrol again"
                    );
                    ExitCode::SUCCESS
                }
                Ok(false) => fail(&format!("{email} has no two-factor sign-in to reset")),
                Err(e) => fail(&format!("admin reset-2fa: {e:#}")),
            }
        }
        Command::Healthcheck => healthcheck(&settings),
        // Runs before settings exist: see [`init`].
        Command::Init(_) => fail("shopd init runs before the settings are loaded"),
        Command::Config { command: ConfigCommand::Example } => {
            print!("{CONFIG_EXAMPLE}");
            ExitCode::SUCCESS
        }
        Command::Restore { file, identity } => match crate::backup::restore(
            &settings.data_dir,
            &file,
            identity.as_deref(),
            settings.backup_encryption_key.as_ref().map(|k| k.expose()),
        ) {
            Ok(manifest) => {
                println!("restored {} into {}", file.display(), settings.data_dir.display());
                if manifest.is_some_and(|m| !m.jwt_secret_included) {
                    println!("the signing secret came from the configuration (JWT_SECRET): set the same one here");
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("restore failed: {e:#}")),
        },
    }
}

/// `shopd init`: writes the config file, then makes the admin with the settings it holds.
pub fn init(cli: &Cli, args: &crate::init::InitArgs) -> ExitCode {
    let path = crate::init::config_path(cli.config.as_ref());
    let data_dir = cli.data_dir.clone().unwrap_or_else(|| PathBuf::from("data"));
    let data_dir = std::path::absolute(&data_dir).unwrap_or(data_dir);
    let (email, password) = match crate::init::write_config(args, &path, &data_dir) {
        Ok(admin) => admin,
        Err(e) => return fail(&format!("init: {e:#}")),
    };
    let staged = crate::init::staged(&path);
    let sources = Sources { config_file: Some(staged.clone()), overrides: Overrides::default() };
    let made = match Settings::load(&sources) {
        Ok(settings) => admin_create(&settings, &email, &password),
        Err(e) => fail(&format!("init: the new config does not load: {e}")),
    };
    // No half-made shop: the file takes its place only once its admin exists.
    if made != ExitCode::SUCCESS {
        let _ = std::fs::remove_file(&staged);
        return made;
    }
    if let Err(e) = std::fs::rename(&staged, &path) {
        return fail(&format!("init: {}: {e}", path.display()));
    }
    println!("wrote {} (mode 0600: it holds the signing secret)", path.display());
    println!("start the shop with: shopd --config {}", path.display());
    made
}

/// `shopd healthcheck`: one GET /ready over loopback (or the configured host), 3 s at most.
fn healthcheck(settings: &Settings) -> ExitCode {
    use std::io::{Read, Write};
    let host: std::net::IpAddr = match settings.host.parse() {
        Ok(ip) if !std::net::IpAddr::is_unspecified(&ip) => ip,
        _ => std::net::Ipv4Addr::LOCALHOST.into(),
    };
    let addr = std::net::SocketAddr::new(host, settings.port);
    let ask = || -> std::io::Result<String> {
        let timeout = std::time::Duration::from_secs(3);
        let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.write_all(format!("GET /ready HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())?;
        let mut head = String::new();
        stream.take(4096).read_to_string(&mut head)?;
        Ok(head.lines().next().unwrap_or_default().to_string())
    };
    match ask() {
        Ok(status) if status.split_whitespace().nth(1) == Some("200") => {
            println!("ready: http://{addr}/ready answered 200");
            ExitCode::SUCCESS
        }
        Ok(status) => fail(&format!("not ready: http://{addr}/ready answered {status}")),
        Err(e) => fail(&format!("not ready: http://{addr}/ready: {e}")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("shopd: {message}");
    ExitCode::FAILURE
}

fn serve(settings: Settings) -> ExitCode {
    let _log = crate::telemetry::init(&settings);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().max_blocking_threads(64).build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async {
        let app = match App::build(settings).await {
            Ok(app) => app,
            Err(e) => return fail(&e.to_string()),
        };
        let bound = match app.bind().await {
            Ok(b) => b,
            Err(e) => {
                return fail(&format!("cannot listen on {}:{}: {e}", app.state.settings.host, app.state.settings.port));
            }
        };
        match app.run(bound, shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("server error: {e}")),
        }
    })
}

fn admin_create(settings: &Settings, email: &str, password: &str) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async {
        let store = match Store::open(&settings.data_dir) {
            Ok(s) => s,
            Err(StoreError::Locked(_)) => {
                return fail("the server is running on this data dir: stop it, or set ADMIN_EMAIL and ADMIN_PASSWORD and restart it");
            }
            Err(e) => return fail(&e.to_string()),
        };
        let cost = Cost {
            memory_kib: settings.password_hash_memory_kib,
            iterations: settings.password_hash_iterations,
            parallelism: settings.password_hash_parallelism,
        };
        let passwords = match Passwords::start(cost, 1, 4) {
            Ok(p) => p,
            Err(e) => return fail(&format!("{e:#}")),
        };
        let outcome = ensure_admin(&store, &passwords, email, password).await;
        store.close();
        match outcome {
            Ok((id, true)) => {
                println!("created admin {email} (id {id})");
                ExitCode::SUCCESS
            }
            Ok((id, false)) => {
                println!("{email} (id {id}) is an active admin with the given password");
                ExitCode::SUCCESS
            }
            Err(e) if e.is::<InvalidAdmin>() => {
                eprintln!("shopd: admin create: {e:#}");
                ExitCode::from(2)
            }
            Err(e) => fail(&format!("admin create failed: {e:#}")),
        }
    })
}

fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
        .map(|s| s.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar
}

/// Runs a command that needs the store to itself (the server stopped).
fn offline<F, Fut>(settings: &Settings, work: F) -> ExitCode
where
    F: FnOnce(Store, Passwords) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async {
        let store = match Store::open(&settings.data_dir) {
            Ok(s) => s,
            Err(StoreError::Locked(_)) => return fail("the server is running on this data dir: stop it first"),
            Err(e) => return fail(&e.to_string()),
        };
        let cost = Cost {
            memory_kib: settings.password_hash_memory_kib,
            iterations: settings.password_hash_iterations,
            parallelism: settings.password_hash_parallelism,
        };
        let passwords = match Passwords::start(cost, 1, 4) {
            Ok(p) => p,
            Err(e) => return fail(&format!("{e:#}")),
        };
        let outcome = work(store.clone(), passwords).await;
        store.close();
        match outcome {
            Ok(message) => {
                println!("{message}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("{e:#}")),
        }
    })
}

async fn seed(
    settings: &Settings,
    store: Store,
    passwords: Passwords,
    generate: Option<u64>,
) -> anyhow::Result<String> {
    let message = match generate {
        Some(n) => {
            let bar = progress_bar(n, "generating products");
            crate::seed::generate(&store, n, |done| bar.set_position(done)).await?;
            bar.finish();
            format!("added {n} generated products")
        }
        None => {
            let n = crate::seed::demo(&store, &passwords, &settings.data_dir).await?;
            format!(
                "loaded the demo catalog ({n} products); sign in as {} / {} or {} / {}",
                crate::seed::DEMO_ADMIN.0,
                crate::seed::DEMO_ADMIN.1,
                crate::seed::DEMO_CUSTOMER.0,
                crate::seed::DEMO_CUSTOMER.1
            )
        }
    };
    let indexed = reindex(settings, store).await?;
    Ok(format!("{message}\n{indexed}"))
}

async fn reindex(settings: &Settings, store: Store) -> anyhow::Result<String> {
    let catalog = Catalog::load(&store, None)?; // only its records: no URLs are shown
    let search = Search::open(&settings.data_dir.join("search"))?;
    let generation = store.read().and_then(|r| r.last_id(&GENERATION))?;
    let products = catalog.all();
    let bar = progress_bar(products.len() as u64, "indexing products");
    let n = search.rebuild(products.iter().map(|p| p.as_ref()), generation, |done| bar.set_position(done))?;
    bar.finish();
    Ok(format!("search index rebuilt: {n} products, {} searchable", search.doc_count()))
}
