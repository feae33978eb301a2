//! Logging: `LOG_LEVEL` (a level or a tracing filter) and `LOG_FORMAT` (`pretty` or `json`).
//! Every line inside a request carries its span, and with it the request id.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::{LogFormat, Settings};

/// Installs the global subscriber. A second call (tests build many apps) keeps the first.
///
/// Lines are written by a thread of their own from a bounded queue, and dropped when it is full:
/// a log on a full disk or a stalled pipe never holds up a request. Keep the guard until exit;
/// dropping it writes what is queued.
pub fn init(settings: &Settings) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = EnvFilter::try_new(&settings.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .thread_name("log-writer")
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_span_events(FmtSpan::NONE).with_writer(writer);
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Pretty => builder.compact().with_ansi(std::io::stderr().is_terminal()).try_init(),
    };
    guard
}
