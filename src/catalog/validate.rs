//! The rules every dataset record obeys, however it arrives (import, editor, API).

use super::model::{DatasetFields, modality_name};
use super::organizations::slugify;
use crate::validation::FieldErrors;

/// Whether `slug` is already in canonical form: lower-case letters and digits joined by single hyphens.
pub fn is_valid_slug(slug: &str) -> bool {
    slug.len() <= 120 && slugify(slug).as_deref() == Some(slug)
}

/// Whether `url` is an absolute http(s) URL with a host and no white space.
pub fn is_web_url(url: &str) -> bool {
    !url.chars().any(char::is_whitespace)
        && url::Url::parse(url).is_ok_and(|parsed| {
            matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some()
        })
}

/// Whether `doi` looks like a DOI name (`10.<registrant>/<suffix>`), without a resolver prefix.
pub fn is_doi(doi: &str) -> bool {
    let Some(rest) = doi.strip_prefix("10.") else {
        return false;
    };
    let Some((registrant, suffix)) = rest.split_once('/') else {
        return false;
    };
    (4..=9).contains(&registrant.len())
        && registrant.chars().all(|c| c.is_ascii_digit())
        && !suffix.is_empty()
        && !suffix.chars().any(char::is_whitespace)
}

/// Checks a dataset record against the catalog's rules, collecting every problem.
pub fn check_dataset(fields: &DatasetFields, errors: &mut FieldErrors) {
    if !is_valid_slug(&fields.slug) {
        errors.add(
            "slug",
            "must be lower-case letters and digits joined by single hyphens, at most 120 characters",
        );
    }
    let title = fields.title.trim();
    if title.is_empty() {
        errors.add("title", "is required");
    } else if title.chars().count() > 300 {
        errors.add("title", "must be at most 300 characters");
    }
    if let Some(url) = &fields.landing_url
        && !is_web_url(url)
    {
        errors.add("landing_url", format!("'{url}' is not an http(s) URL"));
    }
    if let Some(bad) = fields.alt_urls.iter().find(|url| !is_web_url(url)) {
        errors.add("alt_urls", format!("'{bad}' is not an http(s) URL"));
    }
    if let Some(doi) = &fields.doi
        && !is_doi(doi)
    {
        errors.add(
            "doi",
            format!(
                "'{doi}' is not a DOI (expected 10.<digits>/<suffix>, without https://doi.org/)"
            ),
        );
    }
    if let Some(code) = fields
        .modalities
        .iter()
        .find(|code| modality_name(code).is_none())
    {
        errors.add(
            "modalities",
            format!("'{code}' is not a DICOM modality code"),
        );
    }
    if let Some(term) = fields
        .data_use_limitations
        .iter()
        .find(|term| !super::duo::find(term).is_some_and(|known| known.is_usable()))
    {
        errors.add(
            "data_use_limitations",
            format!("'{term}' is not a current DUO permission or modifier"),
        );
    }
    if let Some(year) = fields.year
        && !(1900..=2100).contains(&year)
    {
        errors.add("year", format!("{year} is not a plausible year"));
    }
    let counts = [
        ("subject_count", fields.subject_count),
        ("study_count", fields.study_count),
        ("image_count", fields.image_count),
        ("case_count", fields.case_count),
        ("size_bytes", fields.size_bytes),
        ("idc_subject_count", fields.idc_subject_count),
    ];
    for (field, count) in counts {
        if count.is_some_and(|count| count < 0) {
            errors.add(field, "cannot be negative");
        }
    }
    if fields.label_category_count.is_some_and(|count| count < 0) {
        errors.add("label_category_count", "cannot be negative");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(is_valid_slug("lidc-idri"));
        assert!(is_valid_slug("brats2023-ssa"));
        assert!(!is_valid_slug("LIDC-IDRI"));
        assert!(!is_valid_slug("lidc--idri"));
        assert!(!is_valid_slug("-lidc"));
        assert!(!is_valid_slug(""));
        assert!(!is_valid_slug("lidc idri"));
    }

    #[test]
    fn dois() {
        assert!(is_doi("10.7937/K9/TCIA.2015.LO9QL9SX"));
        assert!(is_doi("10.13026/8360-t248"));
        assert!(!is_doi("https://doi.org/10.7937/abc"));
        assert!(!is_doi("10.79/abc"));
        assert!(!is_doi("10.7937/"));
        assert!(!is_doi("10.7937/a b"));
    }

    #[test]
    fn urls() {
        assert!(is_web_url(
            "https://www.cancerimagingarchive.net/collection/lidc-idri/"
        ));
        assert!(!is_web_url("ftp://example.org/data"));
        assert!(!is_web_url("javascript:alert(1)"));
        assert!(!is_web_url("https://exa mple.org"));
        assert!(!is_web_url("example.org"));
    }
}
