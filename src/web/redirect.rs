//! Where a page may send someone back to: only a path on this site, so that a link such as
//! `/sign-in?next=…` can never lead away from the portal; and where someone who followed the header's
//! sign-in link came from.

use axum::http::{HeaderMap, header};

/// The longest `next` accepted.
pub const MAX_NEXT_CHARS: usize = 512;

/// `next` when it is a path on this site: it starts with exactly one `/` (no `//` or `/\`, which
/// browsers read as another host), holds no backslash, whitespace or control character anywhere, and
/// is at most [`MAX_NEXT_CHARS`] long; `default` otherwise.
pub fn safe_next(next: Option<&str>, default: &str) -> String {
    match next {
        Some(next) if is_local_path(next) => next.to_owned(),
        _ => default.to_owned(),
    }
}

/// Pages that are no place to come back to after signing in.
const NOT_RETURNED_TO: [&str; 7] = [
    "/sign-in",
    "/sign-out",
    "/register",
    "/verify-email",
    "/forgot-password",
    "/reset-password",
    "/account/close",
];

/// The page of this site that linked to this request (its `Referer`, when that names the same host
/// as the request), as a path to return to; `None` for another site, a page about signing in, or no
/// `Referer`.
pub fn came_from(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let referer = url::Url::parse(headers.get(header::REFERER)?.to_str().ok()?).ok()?;
    let authority = match (referer.host_str(), referer.port()) {
        (Some(name), Some(port)) => format!("{name}:{port}"),
        (Some(name), None) => name.to_owned(),
        (None, _) => return None,
    };
    if !authority.eq_ignore_ascii_case(host) {
        return None;
    }
    let path = referer.path();
    if NOT_RETURNED_TO
        .iter()
        .any(|page| path == *page || path.starts_with(&format!("{page}/")))
    {
        return None;
    }
    let back = match referer.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    is_local_path(&back).then_some(back)
}

fn is_local_path(next: &str) -> bool {
    let mut chars = next.chars();
    chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && next.chars().count() <= MAX_NEXT_CHARS
        && !next
            .chars()
            .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = "/account";

    #[test]
    fn paths_on_this_site_are_kept() {
        for next in [
            "/",
            "/datasets?q=lung&page=2",
            "/requests/12#timeline",
            "/a/b/c",
        ] {
            assert_eq!(safe_next(Some(next), DEFAULT), next);
        }
    }

    #[test]
    fn everything_else_goes_to_the_default() {
        for next in [
            "",
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/%09/evil.example x",
            "/ /evil.example",
            "/\u{0}",
            "/\u{85}x",
            "/\u{a0}/evil.example",
            "/path\\..\\x",
            "evil.example",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(Some(next), DEFAULT), DEFAULT, "{next:?}");
        }
        assert_eq!(safe_next(None, DEFAULT), DEFAULT);
        assert_eq!(
            safe_next(Some(&format!("/{}", "a".repeat(MAX_NEXT_CHARS))), DEFAULT),
            DEFAULT
        );
    }

    fn headers(host: &str, referer: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        headers.insert(header::REFERER, referer.parse().unwrap());
        headers
    }

    #[test]
    fn a_page_of_this_site_is_returned_to() {
        assert_eq!(
            came_from(&headers(
                "portal.example:8080",
                "http://portal.example:8080/datasets/lidc-idri?tab=1"
            )),
            Some("/datasets/lidc-idri?tab=1".to_owned())
        );
        assert_eq!(
            came_from(&headers("portal.example", "https://portal.example/cart")),
            Some("/cart".to_owned())
        );
    }

    #[test]
    fn other_sites_and_sign_in_pages_are_not() {
        for (host, referer) in [
            ("portal.example", "https://evil.example/datasets"),
            (
                "portal.example",
                "https://portal.example.evil.example/datasets",
            ),
            ("portal.example:8080", "http://portal.example/datasets"),
            (
                "portal.example",
                "https://portal.example/sign-in?next=/cart",
            ),
            ("portal.example", "https://portal.example/register"),
            (
                "portal.example",
                "https://portal.example/reset-password?token=x",
            ),
            ("portal.example", "not a url"),
        ] {
            assert_eq!(came_from(&headers(host, referer)), None, "{referer}");
        }
        assert_eq!(came_from(&HeaderMap::new()), None);
    }

    #[test]
    fn percent_encoded_slashes_stay_a_path() {
        // Browsers do not decode %2F in a Location path, so these stay on this site.
        assert_eq!(
            safe_next(Some("/%2F%2Fevil.example"), DEFAULT),
            "/%2F%2Fevil.example"
        );
        assert_eq!(
            safe_next(Some("/%5Cevil.example"), DEFAULT),
            "/%5Cevil.example"
        );
    }
}
