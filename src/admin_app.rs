//! `/admin`: the owner's web app. Its files (plain ES modules, no build step) are compiled into
//! release binaries; a debug build reads them from `admin/` in the checkout, so they can be
//! edited without rebuilding. The app speaks only the public `/api/v1` with the admin's token.

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, Request, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "admin/"]
#[exclude = "*.d.ts"]
#[exclude = "tsconfig.json"]
struct Files;

pub const URL_PREFIX: &str = "/admin";

/// The app's own policy: nothing inline, nothing from elsewhere but product images (a catalog
/// may link its pictures from a CDN), no framing.
pub const CSP: &str = "default-src 'none';script-src 'self';style-src 'self';img-src 'self' data: blob: https:;connect-src 'self';font-src 'self';manifest-src 'self';base-uri 'none';form-action 'self';frame-ancestors 'none';object-src 'none'";

/// Serves a file of the app, and `index.html` for every path that is not one (the app routes
/// itself). Files are revalidated by ETag, so a new binary's app is never stale.
pub fn endpoint() -> impl Endpoint<Output = Response> {
    poem::endpoint::make_sync(|req: Request| {
        // The app's modules are addressed relative to `/admin/`.
        if req.original_uri().path() == URL_PREFIX {
            return Response::builder()
                .status(StatusCode::PERMANENT_REDIRECT)
                .header(header::LOCATION, "/admin/")
                .finish();
        }
        let rest = req.uri().path().trim_start_matches('/');
        let (name, file) = match Files::get(rest) {
            Some(file) if !rest.is_empty() => (rest.to_string(), file),
            // A missing module or image is a 404; anything else is a route of the app.
            _ if rest.rsplit('/').next().is_some_and(|last| last.contains('.')) => {
                return Response::builder().status(StatusCode::NOT_FOUND).body("not found");
            }
            _ => match Files::get("index.html") {
                Some(file) => ("index.html".to_string(), file),
                None => return Response::builder().status(StatusCode::NOT_FOUND).body("not found"),
            },
        };
        let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..12]));
        let fresh = req.header(header::IF_NONE_MATCH).is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
        let builder = Response::builder()
            .header(header::ETAG, etag)
            .header(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if fresh {
            return builder.status(StatusCode::NOT_MODIFIED).finish();
        }
        let mime = if name.ends_with(".js") {
            "text/javascript; charset=utf-8".to_string()
        } else {
            file.metadata.mimetype().to_string()
        };
        builder.content_type(mime).body(file.data.into_owned())
    })
}
