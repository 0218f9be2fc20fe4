//! `/metrics` for Prometheus: on the portal's own address behind a bearer token
//! (`RADPORTAL_METRICS_TOKEN`), or on an address of its own (`RADPORTAL_METRICS_LISTEN`); with neither
//! it answers 404. Also the middleware that counts every request by its route template, and the
//! readings of the pool, the outbox and the job schedule taken at each scrape.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::metrics::{self, PoolReading, Readings};
use crate::web::routes::Routes;
use crate::web::{AppState, ErrorPage};

/// The route on the portal's address.
pub fn routes() -> Routes {
    Routes::new().get("/metrics", scrape)
}

/// The router of the separate metrics address: `/metrics` and nothing else.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(scrape_separately))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state)
}

/// Counts the request by its route template (never its path as sent), method and status, and times
/// it until its response's headers.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = method_label(request.method());
    let started = Instant::now();
    let in_flight = metrics::request_started();
    let response = next.run(request).await;
    drop(in_flight);
    metrics::observe_request(
        route
            .as_ref()
            .map_or(metrics::UNMATCHED_ROUTE, MatchedPath::as_str),
        method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// A standard method's name; anything else a client invents is `other`, so it cannot grow the labels.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::TRACE, "TRACE"),
        (Method::CONNECT, "CONNECT"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| known == method)
        .map_or("other", |(_, name)| name)
}

/// `/metrics` on the portal's address: only with a token configured and no separate address.
async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match (&state.config.metrics_token, state.config.metrics_listen) {
        (Some(token), None) => answer(&state, &headers, Some(token)).await,
        _ => AppError::NotFound.into_response(),
    }
}

/// `/metrics` on the separate address, with the token when one is configured.
async fn scrape_separately(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(&state, &headers, state.config.metrics_token.as_ref()).await
}

async fn answer(state: &AppState, headers: &HeaderMap, token: Option<&SecretString>) -> Response {
    if let Some(token) = token
        && !presents(headers, token)
    {
        let mut refused = ErrorPage::new(
            StatusCode::UNAUTHORIZED,
            "The metrics need the bearer token set in RADPORTAL_METRICS_TOKEN.".to_owned(),
        )
        .into_response();
        refused.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"metrics\""),
        );
        return refused;
    }
    let body = metrics::render(&readings(state).await);
    (
        [
            (header::CONTENT_TYPE, metrics::CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Whether `headers` carry `Authorization: Bearer <token>`. The digests are compared, so the time
/// taken says nothing about how much of the token was right.
fn presents(headers: &HeaderMap, token: &SecretString) -> bool {
    let Some(presented) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    Sha256::digest(presented.trim().as_bytes()) == Sha256::digest(token.expose_secret().as_bytes())
}

/// The pool as it is, and the outbox and the shared jobs' schedule when the database answers within
/// the readiness timeout (a scrape never waits longer for it).
async fn readings(state: &AppState) -> Readings {
    let pool = PoolReading {
        size: state.db.size(),
        idle: state.db.num_idle(),
        max: state.db.options().get_max_connections(),
    };
    let jobs = crate::jobs::all(&state.config);
    let from_database = tokio::time::timeout(state.config.readyz_timeout, async {
        let outbox = crate::mail::outbox_reading(&state.db).await?;
        let schedule = crate::jobs::schedule_readings(&state.db, &jobs).await?;
        Ok::<_, sqlx::Error>((outbox, schedule))
    })
    .await;
    let database = match from_database {
        Ok(Ok(read)) => Some(read),
        Ok(Err(error)) => {
            tracing::warn!(%error, "metrics: cannot read the outbox and job schedule");
            None
        }
        Err(_) => {
            tracing::warn!("metrics: the database did not answer in time");
            None
        }
    };
    Readings { pool, database }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        let token = SecretString::from("0123456789abcdef".to_owned());
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            presents(&headers, &token)
        };
        assert!(with("Bearer 0123456789abcdef"));
        assert!(!with("Bearer 0123456789abcde"));
        assert!(!with("Basic 0123456789abcdef"));
        assert!(!presents(&HeaderMap::new(), &token));
    }
}
