//! CSV as the owner's spreadsheet will open it: text cells that a spreadsheet would run as a
//! formula (`=`, `+`, `-`, `@`, a tab or a carriage return first) are written behind a `'`,
//! which spreadsheets show as text, and the `'` comes off again on import so a file exported
//! and imported back is unchanged. Exports are streamed: a large shop's file never sits whole
//! in memory.

use poem::Body;
use poem_openapi::ApiResponse;
use poem_openapi::payload::Binary;

fn is_formula(cell: &str) -> bool {
    cell.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// A text cell, made safe to open. A cell that starts with `'` gets one more, so that the
/// import's taking one off gives it back as it was.
pub fn text(cell: &str) -> std::borrow::Cow<'_, str> {
    if is_formula(cell) || cell.starts_with('\'') { format!("'{cell}").into() } else { cell.into() }
}

/// A cell as it was before [`text`].
pub fn untext(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if is_formula(rest) || rest.starts_with('\'') => rest,
        _ => cell,
    }
}

#[derive(ApiResponse)]
pub enum CsvReply {
    /// A CSV file (UTF-8, a header row, comma-separated, RFC 4180 quoting).
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Csv(Binary<Body>, #[oai(header = "Content-Disposition")] String),
}

/// Rows made by `fill` on a blocking thread, streamed as they come in chunks of about 64 KiB.
/// `fill` gets a writer and returns when done; an `Err` from it ends the file early (and is
/// logged), as the status line has gone out by then.
pub fn stream<F>(name: &str, fill: F) -> CsvReply
where
    F: FnOnce(&mut csv::Writer<Chunks>) -> anyhow::Result<()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    let failed = tx.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = csv::Writer::from_writer(Chunks { buf: Vec::with_capacity(CHUNK), tx });
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fill(&mut out)))
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the export panicked")))
            .and_then(|()| out.flush().map_err(Into::into));
        match done {
            Ok(()) => {
                if let Ok(mut chunks) = out.into_inner() {
                    chunks.send();
                }
            }
            // The status line has gone out: an error in the body makes the server cut the
            // response off, so the client sees a broken download, never a short file.
            Err(e) => {
                tracing::warn!(error = %e, "an export stopped early");
                let _ = failed.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    CsvReply::Csv(Binary(Body::from_bytes_stream(body)), format!("attachment; filename=\"{name}\""))
}

const CHUNK: usize = 64 * 1024;
/// How long a client may take to read one chunk.
const STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// The byte sink of [`stream`]: hands full chunks to the response; a client gone away stops it.
pub struct Chunks {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>,
}

impl Chunks {
    fn send(&mut self) -> bool {
        if self.buf.is_empty() {
            return true;
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        // A client that stops reading without going away would hold the snapshot (and this
        // thread) for ever: it gets a minute per chunk.
        let send = tokio::time::timeout(STALL, self.tx.send(Ok(chunk)));
        matches!(tokio::runtime::Handle::current().block_on(send), Ok(Ok(())))
    }
}

impl std::io::Write for Chunks {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK && !self.send() {
            return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"));
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_written_as_text_and_read_back_as_they_were() {
        for cell in ["=HYPERLINK(\"x\")", "+1", "-50% off", "@SUM(A1)", "\tx", "plain", "'quoted", "'=x", "''", ""] {
            assert_eq!(untext(&text(cell)), cell);
            assert!(!is_formula(&text(cell)), "{cell}");
        }
        assert_eq!(text("=1+1"), "'=1+1");
    }
}
