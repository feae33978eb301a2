//! `shopd init`: a new production shop from flags or questions: a commented `config.toml` with a
//! generated signing secret, the shop's public URLs and its payment provider, and the first
//! admin account in the data dir.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rand::RngExt;

/// What `shopd init` asks for; `None` is asked on a terminal, refused otherwise.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct InitArgs {
    /// The first admin's email
    #[arg(long, value_name = "EMAIL")]
    pub admin_email: Option<String>,
    /// The first admin's password (8+ characters with a lower case letter, an upper case letter
    /// and a digit); asked without echo when left out
    #[arg(long, value_name = "PASSWORD")]
    pub admin_password: Option<String>,
    /// Where clients reach the API, e.g. https://api.shop.example
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// The storefront's address, e.g. https://shop.example (mail links, CORS)
    #[arg(long, value_name = "URL")]
    pub client_url: Option<String>,
    /// The shop's name (the sender of its mails)
    #[arg(long, value_name = "NAME")]
    pub shop_name: Option<String>,
    /// stripe (then also --stripe-secret-key) or manual (cash on delivery, bank transfer)
    #[arg(long, value_name = "PROVIDER", value_parser = ["stripe", "manual"])]
    pub payment_provider: Option<String>,
    #[arg(long, value_name = "KEY")]
    pub stripe_secret_key: Option<String>,
    /// Overwrite an existing config file
    #[arg(long)]
    pub force: bool,
}

/// A signing secret: 48 characters from 62, about 286 bits.
pub fn new_secret() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..48).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect()
}

fn ask(question: &str, hidden: bool) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("{question}: not given, and there is no terminal to ask on (see shopd init --help)");
    }
    print!("{question}: ");
    std::io::stdout().flush()?;
    let _quiet = hidden.then(Quiet::start);
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if hidden {
        println!();
    }
    Ok(line.trim().to_string())
}

/// The terminal does not echo while this lives (a password is typed).
struct Quiet(Option<libc::termios>);

impl Quiet {
    fn start() -> Quiet {
        // SAFETY: tcgetattr/tcsetattr on stdin with a valid termios; failure leaves echo on.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return Quiet(None);
            }
            let before = t;
            t.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            Quiet(Some(before))
        }
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            // SAFETY: restores the attributes read in `start`.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
    }
}

/// Sets `key = value` in the example file: the commented default line becomes a real one.
fn set(text: &mut String, key: &str, value: &str) {
    let line = format!("{key} = {}", toml_string(value));
    let found = text.lines().find(|l| {
        let l = l.trim_start_matches('#').trim();
        l.starts_with(&format!("{key} ="))
    });
    match found.map(str::to_string) {
        Some(old) => *text = text.replacen(&old, &line, 1),
        None => text.push_str(&format!("{line}\n")),
    }
}

fn toml_string(value: &str) -> String {
    serde_json::to_string(value).expect("a string")
}

/// Writes the config file beside `path` ([`staged`]) and returns the admin to make.
pub fn write_config(args: &InitArgs, path: &Path, data_dir: &Path) -> anyhow::Result<(String, String)> {
    if path.exists() && !args.force {
        bail!("{} already exists: pass --force to replace it", path.display());
    }
    let email = match &args.admin_email {
        Some(e) => e.clone(),
        None => ask("Admin email", false)?,
    };
    let password = match &args.admin_password {
        Some(p) => p.clone(),
        None => ask("Admin password (8+ characters, upper and lower case and a digit)", true)?,
    };
    let shop_name = match &args.shop_name {
        Some(n) => n.clone(),
        None => ask("The shop's name", false)?,
    };
    let public_url = match &args.public_url {
        Some(u) => u.clone(),
        None => ask("Public URL of the API (https://api.shop.example)", false)?,
    };
    let client_url = match &args.client_url {
        Some(u) => u.clone(),
        None => ask("The storefront's URL (https://shop.example)", false)?,
    };
    let provider = match &args.payment_provider {
        Some(p) => p.clone(),
        None => ask("Payment provider: stripe or manual (cash on delivery, bank transfer)", false)?,
    };
    for (name, url) in [("public URL", &public_url), ("storefront URL", &client_url)] {
        if !url.starts_with("https://") && !url.starts_with("http://") {
            bail!("the {name} must start with https:// (got `{url}`)");
        }
    }
    let mut text = crate::cli::CONFIG_EXAMPLE.to_string();
    text.insert_str(
        0,
        &format!(
            "# Written by `shopd init` on {}. It holds the signing secret: keep it private (mode 0600).\n\n",
            chrono::Utc::now().format("%Y-%m-%d")
        ),
    );
    set(&mut text, "app_env", "production");
    set(&mut text, "data_dir", &data_dir.display().to_string());
    set(&mut text, "jwt_secret", &new_secret());
    if !shop_name.trim().is_empty() {
        set(&mut text, "shop_name", shop_name.trim());
    }
    set(&mut text, "public_url", public_url.trim_end_matches('/'));
    set(&mut text, "client_url", client_url.trim_end_matches('/'));
    set(&mut text, "allowed_origins", client_url.trim_end_matches('/'));
    match provider.as_str() {
        "manual" => set(&mut text, "payment_provider", "manual"),
        "stripe" => {
            let key = match &args.stripe_secret_key {
                Some(k) => k.clone(),
                None => ask("Stripe secret key (sk_live_…)", true)?,
            };
            set(&mut text, "payment_provider", "stripe");
            set(&mut text, "stripe_secret_key", &key);
        }
        other => bail!("payment provider `{other}`: stripe or manual"),
    }
    let partial = staged(path);
    let _ = std::fs::remove_file(&partial);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| partial.display().to_string())?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok((email, password))
}

/// Where the new config waits until its admin exists: an existing file is replaced only then.
pub fn staged(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.partial", path.display()))
}

/// The config file `shopd init` writes: `--config`, else ./config.toml.
pub fn config_path(given: Option<&PathBuf>) -> PathBuf {
    given.cloned().unwrap_or_else(|| PathBuf::from("config.toml"))
}
