//! The middleware every request passes through, in one place: request ids, tracing, timeouts, body
//! limits, compression, security headers and the static files.

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::csrf::CsrfLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::Config;
use crate::error::AppError;
use crate::web::AppState;
use crate::web::routes::Routes;
use crate::web::upload::MAX_UPLOAD_REQUEST_BYTES;

/// The content security policy: no inline script or style, nothing from other origins, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; \
     form-action 'self'; frame-ancestors 'none'";

/// Wraps the application's routes in the middleware stack and adds the static files.
pub fn apply(routes: Router<AppState>, config: &Config) -> Router<AppState> {
    let request_id = HeaderName::from_static("x-request-id");
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

    let mut router = routes;
    for (name, value) in security_headers {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }

    router.layer(
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
            .layer(CatchPanicLayer::custom(|_| {
                AppError::Internal(anyhow::anyhow!("handler panicked")).into_response()
            }))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                config.request_timeout,
            ))
            .layer(
                // Cross-site form posts are refused (Sec-Fetch-Site / Origin); the machine APIs, which
                // carry no cookies' authority, are left to their own rules.
                CsrfLayer::new().with_insecure_bypass(|_, uri| uri.path().starts_with("/api/")),
            )
            .layer(CompressionLayer::new())
            .layer(DefaultBodyLimit::max(config.max_body_bytes))
            // Upload routes raise their own limit above the default, up to this one.
            .layer(RequestBodyLimitLayer::new(
                config.max_body_bytes.max(MAX_UPLOAD_REQUEST_BYTES),
            )),
    )
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
