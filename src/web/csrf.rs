//! Cross-site request refusal. A form post, or any other unsafe method, is refused when the browser says
//! it came from another site (`Sec-Fetch-Site`, else `Origin`), and — failing closed — when a request
//! that carries the session cookie says nothing about where it came from. The machine APIs under
//! `/api/` take bearer tokens, never the cookie's authority, and are left to their own rules.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ErrorPage;
use super::extract::session_token;
use super::state::AppState;

/// What the browser told us about where a request came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provenance {
    /// This site (or the person typed the address, `Sec-Fetch-Site: none`).
    SameOrigin,
    /// Another site.
    CrossSite,
    /// Neither `Sec-Fetch-Site` nor `Origin` was sent.
    Unknown,
}

/// Judges a request's provenance from its headers; `site_origins` are the origins this portal answers
/// on (its public address, and the one the request was sent to).
pub fn provenance(headers: &HeaderMap, site_origins: &[String]) -> Provenance {
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.to_str().unwrap_or("") {
            "same-origin" | "none" => Provenance::SameOrigin,
            _ => Provenance::CrossSite,
        };
    }
    match headers.get(header::ORIGIN).map(|origin| origin.to_str()) {
        None => Provenance::Unknown,
        Some(Ok(origin))
            if site_origins
                .iter()
                .any(|site| site.eq_ignore_ascii_case(origin)) =>
        {
            Provenance::SameOrigin
        }
        Some(_) => Provenance::CrossSite,
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The middleware.
pub async fn refuse_cross_site(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if is_safe(request.method()) || request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let base = state.config.base_url.origin().ascii_serialization();
    let mut origins = vec![base];
    if let Some(host) = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
    {
        let scheme = state.config.base_url.scheme();
        origins.push(format!("{scheme}://{host}"));
    }
    let has_session = session_token(request.headers()).is_some();
    match provenance(request.headers(), &origins) {
        Provenance::SameOrigin => next.run(request).await,
        Provenance::Unknown if !has_session => next.run(request).await,
        provenance => {
            tracing::info!(?provenance, path = %request.uri().path(), "refused a cross-site request");
            ErrorPage::new(
                StatusCode::FORBIDDEN,
                "This form was refused because it did not come from a page of this portal (or your \
                 browser did not say where it came from). If you sent it yourself, go back, reload \
                 the page and send it again."
                    .to_owned(),
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn sec_fetch_site_decides_first_then_origin() {
        let site = vec!["https://portal.example.org".to_owned()];
        assert_eq!(
            provenance(&headers(&[("sec-fetch-site", "same-origin")]), &site),
            Provenance::SameOrigin
        );
        assert_eq!(
            provenance(&headers(&[("sec-fetch-site", "none")]), &site),
            Provenance::SameOrigin
        );
        assert_eq!(
            provenance(&headers(&[("sec-fetch-site", "same-site")]), &site),
            Provenance::CrossSite
        );
        assert_eq!(
            provenance(
                &headers(&[
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "https://portal.example.org")
                ]),
                &site
            ),
            Provenance::CrossSite
        );
        assert_eq!(
            provenance(&headers(&[("origin", "https://portal.example.org")]), &site),
            Provenance::SameOrigin
        );
        assert_eq!(
            provenance(&headers(&[("origin", "https://evil.example")]), &site),
            Provenance::CrossSite
        );
        assert_eq!(
            provenance(&headers(&[("origin", "null")]), &site),
            Provenance::CrossSite
        );
        assert_eq!(provenance(&headers(&[]), &site), Provenance::Unknown);
    }
}
