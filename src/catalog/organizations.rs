//! Normalising the many spellings of a publisher into one organization.

use super::model::OrganizationRef;

/// Publishers whose spellings vary across sources, keyed by their cleaned, lower-case name.
const KNOWN: &[(&[&str], &str, &str, Option<&str>)] = &[
    (
        &["tcia", "the cancer imaging archive"],
        "tcia",
        "The Cancer Imaging Archive (TCIA)",
        Some("https://www.cancerimagingarchive.net"),
    ),
    (
        &["nci imaging data commons", "idc"],
        "nci-idc",
        "NCI Imaging Data Commons (IDC)",
        Some("https://portal.imaging.datacommons.cancer.gov"),
    ),
    (
        &["grand challenge", "grand-challenge"],
        "grand-challenge",
        "Grand Challenge",
        Some("https://grand-challenge.org"),
    ),
    (
        &["kaggle"],
        "kaggle",
        "Kaggle",
        Some("https://www.kaggle.com"),
    ),
    (
        &["rsna"],
        "rsna",
        "Radiological Society of North America (RSNA)",
        Some("https://www.rsna.org"),
    ),
    (
        &["github", "github pages"],
        "github",
        "GitHub",
        Some("https://github.com"),
    ),
    (
        &["synapse"],
        "synapse",
        "Synapse (Sage Bionetworks)",
        Some("https://www.synapse.org"),
    ),
    (
        &["medical segmentation decathlon"],
        "medical-segmentation-decathlon",
        "Medical Segmentation Decathlon",
        Some("http://medicaldecathlon.com"),
    ),
    (
        &["physionet"],
        "physionet",
        "PhysioNet",
        Some("https://physionet.org"),
    ),
    (
        &["nih clinical center"],
        "nih-clinical-center",
        "NIH Clinical Center",
        Some("https://clinicalcenter.nih.gov"),
    ),
    (
        &["nih", "national institutes of health"],
        "nih",
        "National Institutes of Health (NIH)",
        Some("https://www.nih.gov"),
    ),
    (
        &["nlm", "national library of medicine"],
        "nlm",
        "National Library of Medicine (NLM)",
        Some("https://www.nlm.nih.gov"),
    ),
    (
        &["stanford aimi", "stanford ml group"],
        "stanford-aimi",
        "Stanford AIMI",
        Some("https://aimi.stanford.edu"),
    ),
    (
        &["codalab"],
        "codalab",
        "CodaLab",
        Some("https://codalab.org"),
    ),
    (
        &["codabench"],
        "codabench",
        "Codabench",
        Some("https://www.codabench.org"),
    ),
    (
        &["mendeley data"],
        "mendeley-data",
        "Mendeley Data",
        Some("https://data.mendeley.com"),
    ),
    (
        &["figshare"],
        "figshare",
        "Figshare",
        Some("https://figshare.com"),
    ),
    (&["zenodo"], "zenodo", "Zenodo", Some("https://zenodo.org")),
    (
        &["uk biobank"],
        "uk-biobank",
        "UK Biobank",
        Some("https://www.ukbiobank.ac.uk"),
    ),
];

/// The organization a raw publisher string stands for.
///
/// `"TCIA (The Cancer Imaging Archive)"` and `"TCIA"` are one organization; for a shared credit such as
/// `"RSNA / Kaggle"` the first named publisher is the organization; a bare host name such as
/// `"www.smir.ch"` becomes an organization named after the host, with the host as its homepage.
pub fn normalise_publisher(raw: &str) -> Option<OrganizationRef> {
    let first = raw.split(" / ").next().unwrap_or(raw).trim();
    let (base, qualifier) = split_parenthetical(first);
    let key = clean_key(base);
    let qualifier_key = qualifier.map(clean_key);
    let lookup = |key: &str| KNOWN.iter().find(|(keys, ..)| keys.contains(&key));
    let known = lookup(&key).or_else(|| qualifier_key.as_deref().and_then(lookup));
    if let Some((_, slug, name, homepage)) = known {
        return Some(OrganizationRef {
            slug: (*slug).to_owned(),
            name: (*name).to_owned(),
            homepage: homepage.map(str::to_owned),
        });
    }
    let name = base.strip_prefix("www.").unwrap_or(base).trim();
    let slug = slugify(name)?;
    let homepage = looks_like_host(base).then(|| format!("https://{base}"));
    Some(OrganizationRef {
        slug,
        name: name.to_owned(),
        homepage,
    })
}

/// `"BIMCV (Valencia)"` → `("BIMCV", Some("Valencia"))`.
fn split_parenthetical(value: &str) -> (&str, Option<&str>) {
    match (value.find(" ("), value.ends_with(')')) {
        (Some(open), true) => (
            value[..open].trim(),
            Some(&value[open + 2..value.len() - 1]),
        ),
        _ => (value, None),
    }
}

fn clean_key(value: &str) -> String {
    value.trim().to_lowercase()
}

fn looks_like_host(value: &str) -> bool {
    value.contains('.')
        && !value.contains(' ')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// A URL-safe slug: lower-case ASCII letters and digits separated by single hyphens.
pub fn slugify(value: &str) -> Option<String> {
    let mut slug = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(100).collect();
    let slug = slug.trim_end_matches('-').to_owned();
    (!slug.is_empty()).then_some(slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug_of(raw: &str) -> String {
        normalise_publisher(raw).expect("normalises").slug
    }

    #[test]
    fn spellings_of_one_publisher_become_one_organization() {
        assert_eq!(slug_of("TCIA (The Cancer Imaging Archive)"), "tcia");
        assert_eq!(slug_of("TCIA"), "tcia");
        assert_eq!(slug_of("NCI Imaging Data Commons (IDC) / TCIA"), "nci-idc");
        assert_eq!(slug_of("NCI Imaging Data Commons (IDC)"), "nci-idc");
        assert_eq!(slug_of("GitHub Pages"), "github");
        assert_eq!(slug_of("GitHub (DarwinAI)"), "github");
        assert_eq!(
            slug_of("Stanford ML Group / Stanford AIMI"),
            "stanford-aimi"
        );
        assert_eq!(slug_of("NLM (NIH)"), "nlm");
    }

    #[test]
    fn shared_credit_goes_to_the_first_publisher() {
        assert_eq!(slug_of("RSNA / Kaggle"), "rsna");
        assert_eq!(slug_of("RSNA / ASNR / ASSR / Kaggle"), "rsna");
        assert_eq!(slug_of("PhysioNet / VinBigData"), "physionet");
        assert_eq!(slug_of("Grand Challenge / Zenodo"), "grand-challenge");
    }

    #[test]
    fn host_names_become_organizations_with_a_homepage() {
        let org = normalise_publisher("www.smir.ch").unwrap();
        assert_eq!(org.slug, "smir-ch");
        assert_eq!(org.name, "smir.ch");
        assert_eq!(org.homepage.as_deref(), Some("https://www.smir.ch"));
    }

    #[test]
    fn unknown_publishers_keep_their_name() {
        let org = normalise_publisher("BIMCV (Valencia)").unwrap();
        assert_eq!((org.slug.as_str(), org.name.as_str()), ("bimcv", "BIMCV"));
        assert_eq!(org.homepage, None);
    }

    #[test]
    fn slugify_collapses_and_trims() {
        assert_eq!(
            slugify("  Fudan ZMIC (CARE)!! ").as_deref(),
            Some("fudan-zmic-care")
        );
        assert_eq!(
            slugify("Facebook AI + NYU").as_deref(),
            Some("facebook-ai-nyu")
        );
        assert_eq!(slugify("—"), None);
    }
}
