//! The rules every dataset record obeys, however it arrives (import, editor, API).

use std::ops::RangeInclusive;

use super::model::{DatasetFields, OrganizationInput, modality_name};
use super::organizations::slugify;
use crate::validation::FieldErrors;

/// Longest slug, in characters (the `datasets_slug_format` constraint).
pub const MAX_SLUG_CHARS: usize = 120;
/// Longest dataset title, in characters (the `datasets_title_length` constraint).
pub const MAX_TITLE_CHARS: usize = 300;
/// Years a dataset can have been released in (the `datasets_year` constraint).
pub const PLAUSIBLE_YEARS: RangeInclusive<i32> = 1900..=2100;
/// Longest organization name, in characters (the `organizations_name_length` constraint).
pub const MAX_ORGANIZATION_NAME_CHARS: usize = 200;
/// Longest organization description, in characters.
pub const MAX_ORGANIZATION_DESCRIPTION_CHARS: usize = 5000;

/// Whether `slug` is already in canonical form: lower-case letters and digits joined by single hyphens.
pub fn is_valid_slug(slug: &str) -> bool {
    // Canonical slugs are ASCII, so bytes are characters.
    slug.len() <= MAX_SLUG_CHARS && slugify(slug).as_deref() == Some(slug)
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
            format!(
                "must be lower-case letters and digits joined by single hyphens, at most {MAX_SLUG_CHARS} characters"
            ),
        );
    }
    let title = fields.title.trim();
    if title.is_empty() {
        errors.add("title", "is required");
    } else if title.chars().count() > MAX_TITLE_CHARS {
        errors.add(
            "title",
            format!("must be at most {MAX_TITLE_CHARS} characters"),
        );
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
        && !PLAUSIBLE_YEARS.contains(&year)
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

/// Checks an organization as a curator entered it, collecting every problem with a message for them.
pub fn check_organization(organization: &OrganizationInput, errors: &mut FieldErrors) {
    if !is_valid_slug(&organization.slug) {
        errors.add(
            "slug",
            "Use lower-case letters, digits and single hyphens, e.g. example-hospital.",
        );
    }
    let name_chars = organization.name.chars().count();
    if name_chars == 0 || name_chars > MAX_ORGANIZATION_NAME_CHARS {
        errors.add(
            "name",
            format!("Give a name of at most {MAX_ORGANIZATION_NAME_CHARS} characters."),
        );
    }
    if let Some(homepage) = &organization.homepage
        && !is_web_url(homepage)
    {
        errors.add(
            "homepage",
            "Enter a web address starting with https:// or http://.",
        );
    }
    if organization.description.chars().count() > MAX_ORGANIZATION_DESCRIPTION_CHARS {
        errors.add(
            "description",
            format!("Use at most {MAX_ORGANIZATION_DESCRIPTION_CHARS} characters."),
        );
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

    #[test]
    fn organizations_are_checked_field_by_field() {
        let good = OrganizationInput {
            slug: "example-hospital".to_owned(),
            name: "Example Hospital".to_owned(),
            homepage: Some("https://example.org".to_owned()),
            description: String::new(),
        };
        let mut errors = FieldErrors::default();
        check_organization(&good, &mut errors);
        assert!(errors.is_empty());

        let bad = OrganizationInput {
            slug: "Example Hospital".to_owned(),
            name: "x".repeat(MAX_ORGANIZATION_NAME_CHARS + 1),
            homepage: Some("example.org".to_owned()),
            description: "x".repeat(MAX_ORGANIZATION_DESCRIPTION_CHARS + 1),
        };
        let mut errors = FieldErrors::default();
        check_organization(&bad, &mut errors);
        for field in ["slug", "name", "homepage", "description"] {
            assert!(errors.get(field).is_some(), "{field} has a message");
        }
    }
}
