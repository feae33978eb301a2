//! Outgoing mail. Handlers queue a mail and go on; a background task delivers it: over SMTP when
//! `smtp_host` is set, otherwise as one `.eml` file per mail in `<data dir>/outbox`. A failed
//! delivery is logged and retried; a mail that still cannot go out is kept in `outbox/failed`
//! instead of being dropped.

pub mod templates;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::config::{Settings, SmtpTls};

/// A rendered mail.
#[derive(Debug, Clone)]
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

const ATTEMPTS: u32 = 4;

/// The handle handlers use. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    queue: mpsc::Sender<Mail>,
    worker: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    /// Mails queued or being delivered.
    pending: Arc<AtomicUsize>,
    /// Set at shutdown once the grace time is over: what is still queued goes to
    /// `outbox/failed` at once instead of waiting for SMTP.
    stopping: Arc<AtomicBool>,
    outbox: PathBuf,
}

impl Mailer {
    /// Starts the delivery task on the current runtime.
    pub fn start(settings: &Settings) -> anyhow::Result<Mailer> {
        let from: Mailbox = settings.from_email.parse().context("from_email")?;
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
        let (queue, mut rx) = mpsc::channel::<Mail>(10_000);
        let dir = outbox.clone();
        let pending = Arc::new(AtomicUsize::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let (done, stop) = (pending.clone(), stopping.clone());
        let worker = tokio::spawn(async move {
            while let Some(mail) = rx.recv().await {
                if stop.load(Ordering::SeqCst) {
                    keep_failed(&dir, render_fallback(&mail)).await;
                } else {
                    deliver(&transport, &from, &dir, mail).await;
                }
                done.fetch_sub(1, Ordering::SeqCst);
            }
        });
        Ok(Mailer { queue, worker: Arc::new(Mutex::new(Some(worker))), pending, stopping, outbox })
    }

    /// Queues a mail; it goes out in the background.
    pub fn send(&self, mail: Mail) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = self.queue.try_send(mail) {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            // Only when 10,000 mails are waiting or delivery stopped: keep the mail on disk.
            let mail = match e {
                mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m) => m,
            };
            tracing::error!(to = %mail.to, "the mail queue is full; the mail is kept in outbox/failed");
            let _ = save(&self.outbox.join("failed"), &render_fallback(&mail));
        }
    }

    /// Lets the queued mails go out (for up to `grace`), then stops delivering.
    pub async fn shutdown(&self, grace: Duration) {
        let _ = tokio::time::timeout(grace, self.idle()).await;
        self.stopping.store(true, Ordering::SeqCst);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.idle()).await;
        if let Some(worker) = self.worker.lock().take() {
            worker.abort();
        }
        let left = self.pending.load(Ordering::SeqCst);
        if left > 0 {
            tracing::warn!(left, "stopped with mails still queued");
        }
    }

    /// Resolves once nothing is queued or being delivered.
    pub async fn idle(&self) {
        while self.pending.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn outbox(&self) -> &Path {
        &self.outbox
    }
}

fn build(from: &Mailbox, mail: &Mail) -> anyhow::Result<Message> {
    let to: Mailbox = mail.to.parse().with_context(|| format!("recipient {}", mail.to))?;
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))?;
    Ok(message)
}

fn render_fallback(mail: &Mail) -> Vec<u8> {
    format!("To: {}\r\nSubject: {}\r\n\r\n{}", mail.to, mail.subject, mail.text).into_bytes()
}

async fn deliver(transport: &Transport, from: &Mailbox, outbox: &Path, mail: Mail) {
    let message = match build(from, &mail) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "a mail could not be built; kept in outbox/failed");
            keep_failed(outbox, render_fallback(&mail)).await;
            return;
        }
    };
    let mut last_error = String::new();
    for attempt in 1..=ATTEMPTS {
        let result = match transport {
            Transport::Outbox => {
                let (dir, bytes) = (outbox.to_path_buf(), message.formatted());
                tokio::task::spawn_blocking(move || save(&dir, &bytes).map(drop).map_err(|e| format!("{e:#}")))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()))
            }
            Transport::Smtp(smtp) => smtp.send(message.clone()).await.map(|_| ()).map_err(|e| e.to_string()),
        };
        match result {
            Ok(()) => {
                tracing::debug!(subject = %mail.subject, "mail delivered");
                return;
            }
            Err(e) => {
                tracing::warn!(attempt, error = %e, "mail delivery failed; retrying");
                last_error = e;
                tokio::time::sleep(Duration::from_millis(250 * 4u64.pow(attempt - 1))).await;
            }
        }
    }
    tracing::error!(error = %last_error, subject = %mail.subject, "mail not delivered after {ATTEMPTS} attempts; kept in outbox/failed");
    keep_failed(outbox, message.formatted()).await;
}

async fn keep_failed(outbox: &Path, bytes: Vec<u8>) {
    let dir = outbox.join("failed");
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || save(&dir, &bytes)).await {
        tracing::error!(error = %format!("{e:#}"), "could not keep an undelivered mail");
    }
}

/// Writes one `.eml` file, complete or not at all (written aside, then renamed).
fn save(dir: &Path, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let name = format!("{}-{}.eml", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), uuid::Uuid::now_v7());
    let path = dir.join(&name);
    let partial = dir.join(format!(".{name}.partial"));
    std::fs::write(&partial, bytes)
        .and_then(|_| std::fs::rename(&partial, &path))
        .with_context(|| path.display().to_string())?;
    Ok(path)
}
