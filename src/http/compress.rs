//! gzip / br compression of responses that are worth it: the client accepts it, the body is at
//! least 1 KiB and of a compressible type, and it is not compressed already. An answer made of
//! ready catalog data ([`Spliced`]) takes its gzip form from there, without compressing, whenever
//! the client accepts gzip.

use poem::http::{HeaderValue, Method, header};
use poem::web::{Compress, CompressionAlgo, CompressionLevel};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};

use super::ready::Spliced;

const MIN_SIZE: usize = 1024;

pub struct Compression;

impl<E: Endpoint> Middleware<E> for Compression {
    type Output = CompressionEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CompressionEndpoint { inner }
    }
}

pub struct CompressionEndpoint<E> {
    inner: E,
}

/// br when accepted (smaller), else gzip; `q=0` refuses an encoding.
fn negotiate(accept: &str) -> Option<CompressionAlgo> {
    if accepts(accept, "br") {
        Some(CompressionAlgo::BR)
    } else if accepts(accept, "gzip") {
        Some(CompressionAlgo::GZIP)
    } else {
        None
    }
}

fn accepts(accept: &str, name: &str) -> bool {
    accept.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("");
        let refused = parts.any(|p| p.replace(' ', "") == "q=0" || p.replace(' ', "") == "q=0.0");
        coding.eq_ignore_ascii_case(name) && !refused
    })
}

fn compressible(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.contains("json")
        || ct.contains("javascript")
        || ct.contains("xml")
        || ct.starts_with("image/svg")
}

impl<E: Endpoint> Endpoint for CompressionEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let accept = if req.method() == Method::HEAD { None } else { req.header(header::ACCEPT_ENCODING) };
        let algo = accept.and_then(negotiate);
        let gzip_ok = accept.is_some_and(|a| accepts(a, "gzip"));
        let mut resp = self.inner.call(req).await?.into_response();
        let Some(algo) = algo else { return Ok(resp) };
        if gzip_ok && let Some(ready) = resp.data::<Spliced>().filter(|r| r.plain_len() >= MIN_SIZE).cloned() {
            let body = ready.gzip();
            let headers = resp.headers_mut();
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            resp.set_body(body);
            return Ok(resp);
        }
        let eligible = !resp.headers().contains_key(header::CONTENT_ENCODING)
            && resp.content_type().is_some_and(compressible)
            && resp.status().is_success() | resp.status().is_client_error() | resp.status().is_server_error();
        if !eligible {
            return Ok(resp);
        }
        let bytes = resp.take_body().into_bytes().await?;
        if bytes.len() < MIN_SIZE {
            resp.set_body(bytes);
            return Ok(resp);
        }
        let level = match algo {
            // brotli's default level (11) costs far more CPU than it saves bytes on API responses.
            CompressionAlgo::BR => CompressionLevel::Precise(4),
            _ => CompressionLevel::Default,
        };
        let (parts, _) = resp.into_parts();
        let mut out =
            Compress::new(Response::from_parts(parts, Body::from(bytes)), algo).with_quality(level).into_response();
        let compressed = out.take_body().into_bytes().await?;
        out.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(compressed.len()));
        out.headers_mut().append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        out.set_body(compressed);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_br_and_honours_q0() {
        assert!(matches!(negotiate("gzip, deflate, br"), Some(CompressionAlgo::BR)));
        assert!(matches!(negotiate("gzip"), Some(CompressionAlgo::GZIP)));
        assert!(matches!(negotiate("br;q=0, gzip"), Some(CompressionAlgo::GZIP)));
        assert!(negotiate("identity").is_none());
    }
}
