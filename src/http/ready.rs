//! Answers assembled from `data` serialized before the request (the catalog reads): per response
//! only `meta` is written around ready bytes. The data carries a weak ETag, a hash of its bytes
//! (so every replica gives the same one), and `If-None-Match` with it gets 304. Its gzip form is
//! made once too: the envelope's own parts go around it as stored deflate blocks, so a gzip answer
//! costs a copy and a checksum, not a compression. The OpenAPI document shows these answers
//! exactly as [`Reply<T>`], with the ETag header and the 304.

use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::registry::{MetaHeader, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::{ParseFromJSON, ToJSON, Type};

use super::envelope::{Meta, Reply};

/// The `data` of an answer, serialized, with its ETag and (once asked for) its gzip form.
pub struct Data {
    json: Vec<u8>,
    etag: String,
    deflated: OnceLock<Deflated>,
}

/// `json` as raw deflate blocks ending on a byte boundary (a sync flush, not a final block), and
/// the CRC-32 of `json`, which a gzip trailer needs over the whole body.
struct Deflated {
    blocks: Vec<u8>,
    crc: crc32fast::Hasher,
}

impl Data {
    pub fn new(json: Vec<u8>) -> Data {
        let etag = format!("W/\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&json));
        Data { json, etag, deflated: OnceLock::new() }
    }

    pub fn json(&self) -> &[u8] {
        &self.json
    }

    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// Bytes held, for the caches' budgets.
    pub fn size(&self) -> usize {
        self.json.len() + self.deflated.get().map_or(0, |d| d.blocks.len())
    }

    /// Whether an `If-None-Match` value names this data (weak comparison, RFC 9110 §13.1.2).
    pub fn matches(&self, if_none_match: &str) -> bool {
        let ours = self.etag.trim_start_matches("W/");
        if_none_match.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
    }

    fn deflated(&self) -> &Deflated {
        self.deflated.get_or_init(|| {
            let mut c = flate2::Compress::new(flate2::Compression::default(), false);
            let mut blocks = Vec::with_capacity(self.json.len() / 3 + 64);
            let mut input = &self.json[..];
            loop {
                blocks.reserve(4096);
                let before = c.total_in();
                let status =
                    c.compress_vec(input, &mut blocks, flate2::FlushCompress::Sync).expect("deflate into a vec");
                input = &input[(c.total_in() - before) as usize..];
                // Done once all input is in and the flush left spare room (nothing pending).
                if input.is_empty() && blocks.len() < blocks.capacity() || status == flate2::Status::StreamEnd {
                    break;
                }
            }
            let mut crc = crc32fast::Hasher::new();
            crc.update(&self.json);
            Deflated { blocks, crc }
        })
    }
}

/// A 200 envelope around ready `data`, or a 304 when the client holds it already.
pub struct Ready<T> {
    data: Arc<Data>,
    not_modified: bool,
    _data_type: PhantomData<fn() -> T>,
}

impl<T> Ready<T> {
    /// The envelope around `data`; 304 when `if_none_match` names it.
    pub fn new(data: Arc<Data>, if_none_match: Option<&str>) -> Ready<T> {
        let not_modified = if_none_match.is_some_and(|v| data.matches(v));
        Ready { data, not_modified, _data_type: PhantomData }
    }
}

/// The envelope's parts around `data`, as the other success answers write them (serde_json's
/// map order: data, message, meta, status). The request id is `[A-Za-z0-9._-]` or a UUID, the
/// timestamp RFC 3339: neither needs escaping.
fn parts() -> (&'static [u8], String) {
    let meta = Meta::current();
    let suffix = format!(
        ",\"message\":\"Success\",\"meta\":{{\"requestId\":{},\"timestamp\":\"{}\"}},\"status\":200}}",
        serde_json::to_string(&meta.request_id).expect("a string serializes"),
        meta.timestamp
    );
    (b"{\"data\":", suffix)
}

/// The gzip body of `prefix data suffix`: the parts as stored blocks around the ready deflate
/// blocks of `data` (RFC 1951 §3.2.4; RFC 1952).
fn gzip(prefix: &[u8], data: &Data, suffix: &[u8]) -> Vec<u8> {
    let d = data.deflated();
    let mut out = Vec::with_capacity(10 + 5 + prefix.len() + d.blocks.len() + 5 + suffix.len() + 8);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    stored(&mut out, prefix, false);
    out.extend_from_slice(&d.blocks);
    stored(&mut out, suffix, true);
    let mut crc = crc32fast::Hasher::new();
    crc.update(prefix);
    crc.combine(&d.crc);
    crc.update(suffix);
    let size = prefix.len() + data.json.len() + suffix.len();
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&(size as u32).to_le_bytes());
    out
}

/// One stored (uncompressed) deflate block; the parts are far below its 65,535-byte limit.
fn stored(out: &mut Vec<u8>, bytes: &[u8], last: bool) {
    let len = u16::try_from(bytes.len()).expect("an envelope part is small");
    out.push(u8::from(last));
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Marks an answer whose gzip form [`Ready`] can give without compressing: the compression
/// middleware asks it with [`Spliced::gzip`].
#[derive(Clone)]
pub struct Spliced {
    data: Arc<Data>,
    suffix: Arc<str>,
}

impl Spliced {
    /// The answer's length before compression.
    pub fn plain_len(&self) -> usize {
        8 + self.data.json.len() + self.suffix.len()
    }

    pub fn gzip(&self) -> Vec<u8> {
        gzip(b"{\"data\":", &self.data, self.suffix.as_bytes())
    }
}

impl<T: Send> IntoResponse for Ready<T> {
    fn into_response(self) -> Response {
        let etag = HeaderValue::from_str(&self.data.etag).expect("hex in quotes");
        if self.not_modified {
            return Response::builder().status(StatusCode::NOT_MODIFIED).header(header::ETAG, etag).finish();
        }
        let (prefix, suffix) = parts();
        let mut body = Vec::with_capacity(prefix.len() + self.data.json.len() + suffix.len());
        body.extend_from_slice(prefix);
        body.extend_from_slice(&self.data.json);
        body.extend_from_slice(suffix.as_bytes());
        let mut resp = Response::builder()
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .header(header::ETAG, etag)
            .body(body);
        resp.set_data(Spliced { data: self.data, suffix: suffix.into() });
        resp
    }
}

impl<T: ParseFromJSON + ToJSON> ApiResponse for Ready<T> {
    fn meta() -> MetaResponses {
        let mut meta = Reply::<T>::meta();
        let etag = || MetaHeader {
            name: "ETag".to_string(),
            description: Some("A weak tag of `data`: send it as `If-None-Match` to get 304 while it holds".into()),
            required: true,
            deprecated: false,
            schema: String::schema_ref(),
        };
        for r in &mut meta.responses {
            r.headers.push(etag());
        }
        meta.responses.push(MetaResponse {
            description: "Not modified: `data` is still what the `If-None-Match` tag names",
            status: Some(304),
            status_range: None,
            content: vec![],
            headers: vec![etag()],
        });
        meta
    }

    fn register(registry: &mut Registry) {
        Reply::<T>::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn the_spliced_gzip_is_the_envelope() {
        let json: Vec<u8> =
            format!("[{}]", (0..3000).map(|i| format!("{{\"n\":{i}}}")).collect::<Vec<_>>().join(",")).into_bytes();
        let data = Data::new(json.clone());
        let suffix = b",\"status\":200}";
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gzip(b"{\"data\":", &data, suffix)[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, [&b"{\"data\":"[..], &json, suffix].concat());
        // Made once, given again.
        assert!(data.size() > json.len());
        let mut again = Vec::new();
        flate2::read::GzDecoder::new(&gzip(b"{\"data\":", &data, suffix)[..]).read_to_end(&mut again).unwrap();
        assert_eq!(again, out);
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let data = Data::new(b"[1]".to_vec());
        let tag = data.etag().to_string();
        assert!(tag.starts_with("W/\""));
        assert!(data.matches(&tag));
        assert!(data.matches(tag.trim_start_matches("W/")));
        assert!(data.matches(&format!("\"x\", {tag}")));
        assert!(data.matches("*"));
        assert!(!data.matches("W/\"0000000000000000\""));
        assert_ne!(Data::new(b"[2]".to_vec()).etag(), tag);
    }
}
