//! CORS for the origins in `ALLOWED_ORIGINS`, with credentials. A request from any other origin
//! gets no CORS headers at all (the browser then blocks it), never an error status.

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

const METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const HEADERS: &str =
    "Content-Type, Authorization, X-Request-ID, X-Session-ID, X-Client-Version, Idempotency-Key, X-Order-Token";
const EXPOSED: &str = "X-Request-ID, X-Session-ID, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy, Retry-After, Content-Disposition";

pub struct Cors {
    origins: Vec<String>,
    any: bool,
}

impl Cors {
    pub fn new(origins: Vec<String>) -> Self {
        let any = origins.iter().any(|o| o == "*");
        Cors { origins, any }
    }
}

impl<E: Endpoint> Middleware<E> for Cors {
    type Output = CorsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CorsEndpoint { inner, origins: self.origins.clone(), any: self.any }
    }
}

pub struct CorsEndpoint<E> {
    inner: E,
    origins: Vec<String>,
    any: bool,
}

impl<E> CorsEndpoint<E> {
    fn allowed(&self, origin: &str) -> bool {
        self.any || self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }
}

fn set(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

impl<E: Endpoint> Endpoint for CorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let origin = req.header(header::ORIGIN).map(str::to_string);
        let preflight =
            req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let allowed = origin.as_deref().filter(|o| self.allowed(o)).map(str::to_string);

        let mut resp = if preflight {
            // Answered here: a preflight never reaches a handler (nor becomes a 405).
            let mut resp = StatusCode::NO_CONTENT.into_response();
            if allowed.is_some() {
                set(&mut resp, "access-control-allow-methods", METHODS);
                set(&mut resp, "access-control-allow-headers", HEADERS);
                set(&mut resp, "access-control-max-age", "86400");
            }
            resp
        } else {
            self.inner.call(req).await?.into_response()
        };

        if let Some(origin) = allowed {
            if self.any {
                // "*" opens the API to every site, so it never comes with credentials: a site
                // cannot act with a visitor's cookies on our behalf.
                set(&mut resp, "access-control-allow-origin", "*");
            } else {
                set(&mut resp, "access-control-allow-origin", &origin);
                set(&mut resp, "access-control-allow-credentials", "true");
            }
            set(&mut resp, "access-control-expose-headers", EXPOSED);
        }
        if origin.is_some() {
            resp.headers_mut().append(header::VARY, HeaderValue::from_static("Origin"));
        }
        Ok(resp)
    }
}
