//! Outgoing mail, delivered by outbox jobs (a change enqueues its mail in its own transaction):
//! over SMTP when `smtp_host` is set, otherwise as one `.eml` file per mail in
//! `<data dir>/outbox`. A failed delivery is retried by the job; one that keeps failing stays in
//! the outbox as a DEAD job with its last error.

pub mod templates;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::{Settings, SmtpTls};
use crate::events::OrderEvent;
use crate::jobs::{Job, Outcome};
use crate::orders::ORDERS;
use crate::state::AppState;
use crate::users::USERS;

/// A rendered mail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

enum Transport {
    Outbox,
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
}

/// Delivers mails for the outbox jobs (`jobs`): one attempt per call, the job retries. Cheap to
/// clone.
#[derive(Clone)]
pub struct Mailer {
    transport: Arc<Transport>,
    from: Mailbox,
    /// `from_email` named its sender itself: that name wins over the shop's settings.
    named: bool,
    outbox: PathBuf,
    /// Where the shop's settings (its sender name) are read at each delivery.
    shop: (crate::store::Store, Arc<Settings>),
}

impl Mailer {
    /// The sender name is the shop's (`senderName`, else its name, from `/admin/settings` in
    /// `store`) as it is when a mail goes out.
    pub fn new(settings: &Settings, store: crate::store::Store) -> anyhow::Result<Mailer> {
        let mut from: Mailbox = settings.from_email.parse().context("from_email")?;
        let named = from.name.is_some();
        // `"My Shop" <noreply@...>` unless from_email names a sender itself.
        if from.name.is_none() {
            from.name = settings.shop_name.clone();
        }
        let shop = (store, Arc::new(settings.clone()));
        let outbox = settings.data_dir.join("outbox");
        let transport = match &settings.smtp_host {
            None => Transport::Outbox,
            Some(host) => {
                let builder = match settings.smtp_tls {
                    SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
                    SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)),
                }
                // Flattened: lettre's message already ends with its source, which `{:#}` would
                // print a second time.
                .map_err(|e| anyhow!("smtp_host: {e}"))?;
                let mut builder = builder.port(settings.smtp_port).timeout(Some(Duration::from_secs(20)));
                if let (Some(user), Some(pass)) = (&settings.smtp_user, &settings.smtp_pass) {
                    builder = builder.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
                }
                Transport::Smtp(Box::new(builder.build()))
            }
        };
        Ok(Mailer { transport: Arc::new(transport), from, named, outbox, shop })
    }

    /// Sends the mail of `job` once. Its `Message-ID` is made from the job, and so is its outbox
    /// file's name: a job that runs twice overwrites its own file, and a mail server (or the
    /// reader's client) sees a repeat as the same message.
    pub async fn deliver(&self, mail: &Mail, job: &Job) -> Result<(), Failure> {
        let domain = self.from.email.domain().to_string();
        let message = build(&self.sender(), mail, format!("<{}@{domain}>", job.id))
            .map_err(|e| Failure::Refused(format!("{e:#}")))?;
        match &*self.transport {
            Transport::Outbox => {
                let name = format!("{}-{}.eml", job.created_at.format("%Y%m%dT%H%M%S%.3fZ"), job.id);
                let (dir, bytes) = (self.outbox.clone(), message.formatted());
                tokio::task::spawn_blocking(move || save(&dir, &name, &bytes))
                    .await
                    .map_err(|e| Failure::Retry(e.to_string()))?
                    .map(drop)
                    .map_err(|e| Failure::Retry(format!("{e:#}")))
            }
            Transport::Smtp(smtp) => match smtp.send(message).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(Failure::Refused(e.to_string())),
                Err(e) => Err(Failure::Retry(e.to_string())),
            },
        }
    }

    /// The `From` of a mail going out now.
    fn sender(&self) -> Mailbox {
        let mut from = self.from.clone();
        let (store, settings) = &self.shop;
        if !self.named
            && let Ok(shop) = store.read().and_then(|r| crate::shop::settings(&r, settings))
        {
            from.name = Some(shop.sender_name.unwrap_or(shop.name));
        }
        from
    }

    pub fn outbox(&self) -> &Path {
        &self.outbox
    }
}

/// Why a mail did not go out.
#[derive(Debug)]
pub enum Failure {
    /// Try again later (the server is away or answered 4xx).
    Retry(String),
    /// It will never go: a bad address, a 5xx answer.
    Refused(String),
}

impl Failure {
    pub fn outcome(self) -> Outcome {
        match self {
            Failure::Retry(e) => Outcome::Retry(e),
            Failure::Refused(e) => Outcome::Refused(e, None),
        }
    }
}

/// The job that mails an order's customer about `event`, from the order as it is now. A
/// customer who turned order mails off, or whose account is gone, gets none; a guest gets
/// every one, at the email they ordered with, with the private link to the order.
pub async fn order_mail(state: &AppState, job: &Job, order_id: Uuid, event: OrderEvent) -> Outcome {
    let Some(template) = event.template() else { return Outcome::done() };
    let found = state.store.read().and_then(|r| {
        let Some(order) = r.get(&ORDERS, &order_id)? else { return Ok(None) };
        let user = r.get(&USERS, &order.user_id)?;
        Ok(Some((order, user)))
    });
    let (order, user) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return Outcome::done(),
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let (to, name) = match (&user, &order.email) {
        (Some(u), _) if u.is_active && u.preferences.email_notifications => (u.email.clone(), u.first_name.clone()),
        (None, Some(email)) if order.user_id == crate::orders::GUEST => {
            (email.clone(), order.address.first_name.clone())
        }
        _ => return Outcome::done(),
    };
    let lines: String =
        order.items.iter().map(|i| format!("{} x {} at {} = {}\n", i.quantity, i.title, i.price, i.total)).collect();
    let a = &order.address;
    let address = [
        format!("{} {}", a.first_name, a.last_name),
        a.address.clone(),
        format!("{} {}", a.zip_code, a.city),
        a.state.clone(),
        a.country.clone(),
    ]
    .join(", ");
    let mut link = format!("{}/orders/{}", state.settings.client_url.trim_end_matches('/'), order.id);
    if let Some(token) = crate::orders::guest::token_of(state, &order) {
        link = format!("{link}?token={token}");
    }
    let tracking_url = match (&order.carrier, &order.tracking_number) {
        (Some(c), Some(n)) => crate::orders::tracking_url(c, n).unwrap_or_default(),
        _ => String::new(),
    };
    let (subtotal, tax, shipping, total) =
        (order.subtotal.to_string(), order.tax.to_string(), order.shipping.to_string(), order.total.to_string());
    let (coupon, discount) =
        (order.coupon.as_ref().map(|c| c.code.clone()).unwrap_or_default(), order.discount.to_string());
    let id = order.label();
    let vars = [
        ("name", name.as_str()),
        ("order", id.as_str()),
        ("lines", lines.as_str()),
        ("subtotal", subtotal.as_str()),
        ("coupon", coupon.as_str()),
        ("discount", discount.as_str()),
        ("tax", tax.as_str()),
        ("shipping", shipping.as_str()),
        ("total", total.as_str()),
        ("currency", order.currency.as_str()),
        ("address", address.as_str()),
        ("link", link.as_str()),
        ("carrier", order.carrier.as_deref().unwrap_or("-")),
        ("tracking", order.tracking_number.as_deref().unwrap_or("-")),
        ("tracking_url", tracking_url.as_str()),
    ];
    let mail = template.load(&state.settings.data_dir).await.render(&to, &vars);
    match state.mailer.deliver(&mail, job).await {
        Ok(()) => Outcome::done(),
        Err(f) => f.outcome(),
    }
}

fn build(from: &Mailbox, mail: &Mail, message_id: String) -> anyhow::Result<Message> {
    let to: Mailbox = mail.to.parse().with_context(|| format!("recipient {}", mail.to))?;
    let message = Message::builder()
        .message_id(Some(message_id))
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))?;
    Ok(message)
}

/// Writes one `.eml` file, complete or not at all (written aside, then renamed over any
/// earlier copy of the same mail).
fn save(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let path = dir.join(name);
    let partial = dir.join(format!(".{name}.partial"));
    std::fs::write(&partial, bytes)
        .and_then(|_| std::fs::rename(&partial, &path))
        .with_context(|| path.display().to_string())?;
    Ok(path)
}
