//! Where a page may send someone back to: only a path on this site, so that a link such as
//! `/sign-in?next=…` can never lead away from the portal.

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
