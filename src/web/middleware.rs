//! The middleware every request passes through, in one place: request ids, tracing, timeouts, body
//! limits, compression, security headers, `no-store` for signed-in pages, and the static files.

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::AppError;
use crate::web::AppState;
use crate::web::routes::Routes;
use crate::web::upload::MAX_UPLOAD_REQUEST_BYTES;

/// The content security policy: no inline script or style, nothing from other origins, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; \
     form-action 'self'; frame-ancestors 'none'";

/// Wraps the application's routes in the middleware stack and adds the static files.
///
/// From the outside in: the request metrics (outermost, so that they count every answer as sent),
/// `no-store` for signed-in answers and the security headers (so that every answer carries them,
/// the 408, 413, cross-site and panic answers included), request id and
/// tracing, panic recovery, the timeout, compression, body limits, the cross-site check, the
/// check of text at the edge, and sending accounts that must set up a second factor to do so.
pub fn apply(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    let config = &state.config;
    let request_id = HeaderName::from_static("x-request-id");
    let form_limit = config.max_body_bytes;
    let router = routes
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::enrolment::require_second_factor,
        ))
        .layer(axum::middleware::from_fn(move |request, next| {
            super::edge::check_request(request, next, form_limit)
        }))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::csrf::refuse_cross_site,
        ));
    let router = router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request<Body>| {
                        let request_id = request
                            .headers()
                            .get("x-request-id")
                            .and_then(|value| value.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id = %request_id,
                        )
                    })
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(request_id))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                config.request_timeout,
            ))
            .layer(CompressionLayer::new())
            .layer(DefaultBodyLimit::max(config.max_body_bytes))
            // Upload routes raise their own limit above the default, up to this one.
            .layer(RequestBodyLimitLayer::new(
                config.max_body_bytes.max(MAX_UPLOAD_REQUEST_BYTES),
            )),
    );

    let mut security_headers = vec![
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), interest-cohort=()",
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    if config.base_url.scheme() == "https" {
        security_headers.push((
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ));
    }
    security_headers
        .into_iter()
        .fold(router, |router, (name, value)| {
            router.layer(SetResponseHeaderLayer::if_not_present(
                name,
                HeaderValue::from_static(value),
            ))
        })
        .layer(axum::middleware::from_fn(no_store_when_signed_in))
        .layer(axum::middleware::from_fn(super::metrics::track))
}

/// The answer to a handler that panicked: logged with its message, shown as the generic error page.
fn panic_response(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    AppError::Internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}

/// Sends `Cache-Control: no-store` with every response to a request that carries a session cookie or
/// a bearer token, and with every response that sets or clears the session cookie, so no browser or
/// proxy keeps a copy of a signed-in page. The static files (the same for everyone) keep their
/// caching; so do public pages requested without a session.
async fn no_store_when_signed_in(request: Request<Body>, next: axum::middleware::Next) -> Response {
    let personal = crate::web::extract::session_token(request.headers()).is_some()
        || request.headers().contains_key(header::AUTHORIZATION);
    let is_static = request.uri().path().starts_with("/static/");
    let mut response = next.run(request).await;
    let session_cookie = format!("{}=", crate::auth::session::COOKIE);
    let sets_session = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|value| value.as_bytes().starts_with(session_cookie.as_bytes()));
    let already_no_store = response
        .headers()
        .get(header::CACHE_CONTROL)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("no-store"));
    if ((personal && !is_static) || sets_session) && !already_no_store {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The static files' route.
pub fn routes() -> Routes {
    Routes::new().get("/static/{file}", static_file)
}

/// A file built into the binary from `static/`.
struct StaticFile {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const STATIC_FILES: &[StaticFile] = &[
    StaticFile {
        name: "site.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../static/site.css"),
    },
    StaticFile {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../static/favicon.svg"),
    },
];

/// A short fingerprint of the static files, added to their URLs so browsers may cache them for a year.
pub fn asset_version() -> &'static str {
    use sha2::{Digest, Sha256};
    use std::sync::OnceLock;
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut hasher = Sha256::new();
        for file in STATIC_FILES {
            hasher.update(file.body);
        }
        hex::encode(&hasher.finalize()[..6])
    })
}

async fn static_file(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match STATIC_FILES.iter().find(|file| file.name == name) {
        Some(file) => (
            [
                (header::CONTENT_TYPE, file.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            file.body,
        )
            .into_response(),
        None => AppError::NotFound.into_response(),
    }
}
