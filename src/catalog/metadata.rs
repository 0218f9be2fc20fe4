//! Open metadata: schema.org `Dataset` JSON-LD for dataset pages, a DCAT catalog in JSON-LD, citations,
//! and CSV export of search results.

use serde_json::{Value, json};

use super::model::{AccessLevel, Dataset, DatasetFields, modality_name};
use super::search::Hit;

/// The dataset's page URL.
fn page_url(base_url: &str, slug: &str) -> String {
    format!("{base_url}/datasets/{slug}")
}

/// Keywords: modalities (with names), body parts, conditions and task categories.
fn keywords(fields: &DatasetFields) -> Vec<String> {
    let mut keywords: Vec<String> = Vec::new();
    for code in &fields.modalities {
        keywords.push(code.clone());
        if let Some(name) = modality_name(code) {
            keywords.push(name.to_owned());
        }
    }
    keywords.extend(fields.body_parts.iter().cloned());
    keywords.extend(fields.conditions.iter().cloned());
    keywords.extend(fields.tasks.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    keywords.retain(|keyword| seen.insert(keyword.to_lowercase()));
    keywords
}

/// How access works, in a sentence for `conditionsOfAccess` and `dct:accessRights`.
pub fn conditions_of_access(fields: &DatasetFields) -> String {
    match fields.access_level {
        Some(level) => level.explanation().to_owned(),
        None => "Not stated by the sources; see the publisher's page.".to_owned(),
    }
}

/// A description for metadata: the description, else the summary.
fn description(fields: &DatasetFields) -> &str {
    if fields.description.trim().is_empty() {
        &fields.summary
    } else {
        &fields.description
    }
}

/// schema.org `Dataset` for a dataset page.
pub fn schema_org(dataset: &Dataset, organization_homepage: Option<&str>, base_url: &str) -> Value {
    let fields = &dataset.fields;
    let url = page_url(base_url, &fields.slug);
    let mut value = json!({
        "@context": "https://schema.org",
        "@type": "Dataset",
        "@id": url,
        "name": fields.title,
        "description": description(fields),
        "url": url,
        "identifier": [url],
        "keywords": keywords(fields),
        "measurementTechnique": fields.modalities.iter().map(|code| modality_name(code).unwrap_or(code)).collect::<Vec<_>>(),
        "publisher": {
            "@type": "Organization",
            "name": dataset.organization_name,
            "url": organization_homepage,
        },
        "creator": {"@type": "Organization", "name": dataset.organization_name},
        "isAccessibleForFree": fields.access_level.map(|level| level != AccessLevel::Controlled && level != AccessLevel::Credentialed),
        "conditionsOfAccess": conditions_of_access(fields),
        "dateModified": dataset.updated_at.date().to_string(),
        "citation": citation(fields, &dataset.organization_name),
    });
    if !fields.aliases.is_empty() {
        value["alternateName"] = json!(fields.aliases);
    }
    if let Some(doi) = &fields.doi {
        value["identifier"] = json!([
            format!("https://doi.org/{doi}"),
            {"@type": "PropertyValue", "propertyID": "DOI", "value": doi},
            url,
        ]);
        value["sameAs"] = json!(format!("https://doi.org/{doi}"));
    }
    if let Some(license) = &fields.license {
        value["license"] = json!(license);
    }
    if let Some(landing) = &fields.landing_url {
        value["distribution"] = json!([{"@type": "DataDownload", "contentUrl": landing, "encodingFormat": "text/html"}]);
    }
    if let Some(year) = fields.year {
        value["datePublished"] = json!(year.to_string());
    }
    if let Some(subjects) = fields.subject_count {
        value["variableMeasured"] =
            json!({"@type": "PropertyValue", "name": "subjects", "value": subjects});
    }
    strip_nulls(&mut value);
    value
}

/// JSON for a `<script type="application/ld+json">` element: `<` escaped so no text can end the element.
pub fn script_json(value: &Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// A citation from the record's facts: the stated citation, else title, publisher, year and DOI or URL.
pub fn citation(fields: &DatasetFields, organization_name: &str) -> String {
    if let Some(citation) = &fields.citation {
        return citation.clone();
    }
    let mut parts = vec![format!("{}.", fields.title.trim_end_matches('.'))];
    parts.push(format!("{organization_name}."));
    if let Some(year) = fields.year {
        parts.push(format!("{year}."));
    }
    match (&fields.doi, &fields.landing_url) {
        (Some(doi), _) => parts.push(format!("https://doi.org/{doi}")),
        (None, Some(url)) => parts.push(url.clone()),
        (None, None) => {}
    }
    parts.join(" ")
}

/// A DCAT catalog (JSON-LD) of the given datasets, with a link to the next page when there is one.
pub fn dcat_catalog(
    datasets: &[Dataset],
    base_url: &str,
    page: i64,
    next_page: Option<i64>,
) -> Value {
    let items: Vec<Value> = datasets
        .iter()
        .map(|dataset| {
            let fields = &dataset.fields;
            let url = page_url(base_url, &fields.slug);
            let mut item = json!({
                "@id": url,
                "@type": "dcat:Dataset",
                "dct:identifier": fields.doi.as_ref().map_or_else(|| fields.slug.clone(), |doi| format!("https://doi.org/{doi}")),
                "dct:title": fields.title,
                "dct:description": description(fields),
                "dct:publisher": {
                    "@id": format!("{base_url}/organizations/{}", fields.organization_slug),
                    "@type": "foaf:Organization",
                    "foaf:name": dataset.organization_name,
                },
                "dcat:landingPage": {"@id": fields.landing_url.clone().unwrap_or_else(|| url.clone())},
                "dcat:keyword": keywords(fields),
                "dct:accessRights": conditions_of_access(fields),
                "dct:modified": {"@value": dataset.updated_at.date().to_string(), "@type": "xsd:date"},
            });
            if let Some(license) = &fields.license {
                item["dct:license"] = json!(license);
            }
            if let Some(year) = fields.year {
                item["dct:issued"] = json!({"@value": year.to_string(), "@type": "xsd:gYear"});
            }
            item
        })
        .collect();
    let mut catalog = json!({
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
            "hydra": "http://www.w3.org/ns/hydra/core#"
        },
        "@id": format!("{base_url}/catalog.jsonld"),
        "@type": "dcat:Catalog",
        "dct:title": "radportal catalog of AI-radiology datasets",
        "dct:description": "Imaging datasets for AI research: public archives, challenges, credentialed collections and controlled institutional data.",
        "foaf:homepage": {"@id": format!("{base_url}/")},
        "dcat:dataset": items,
    });
    let mut view = json!({
        "@id": format!("{base_url}/catalog.jsonld?page={page}"),
        "@type": "hydra:PartialCollectionView",
    });
    if let Some(next) = next_page {
        view["hydra:next"] = json!({"@id": format!("{base_url}/catalog.jsonld?page={next}")});
    }
    catalog["hydra:view"] = view;
    catalog
}

fn strip_nulls(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, v| !v.is_null());
        for v in map.values_mut() {
            strip_nulls(v);
        }
    }
}

/// The columns of the CSV export.
pub const CSV_HEADER: [&str; 15] = [
    "slug",
    "title",
    "organization",
    "source_kind",
    "access_level",
    "modalities",
    "body_parts",
    "subject_count",
    "image_count",
    "year",
    "license",
    "doi",
    "summary",
    "url",
    "api_url",
];

/// Search results as CSV (cells that a spreadsheet would run as a formula are prefixed with `'`).
pub fn csv(hits: &[Hit], base_url: &str) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_HEADER)?;
    for hit in hits {
        let item = &hit.dataset;
        let optional = |value: Option<String>| value.unwrap_or_default();
        let cells = [
            item.slug.clone(),
            item.title.clone(),
            item.organization_name.clone(),
            item.source_kind.as_str().to_owned(),
            item.access_level
                .map_or("unknown", AccessLevel::as_str)
                .to_owned(),
            item.modalities.join(";"),
            item.body_parts.join(";"),
            optional(item.subject_count.map(|n| n.to_string())),
            optional(item.image_count.map(|n| n.to_string())),
            optional(item.year.map(|n| n.to_string())),
            optional(item.license.clone()),
            optional(item.doi.clone()),
            item.summary.clone(),
            page_url(base_url, &item.slug),
            format!("{base_url}/api/v1/datasets/{}", item.slug),
        ];
        writer.write_record(cells.iter().map(|cell| defuse_formula(cell)))?;
    }
    writer
        .into_inner()
        .map_err(|error| csv::Error::from(error.into_error()))
}

/// Prefixes a cell that starts like a spreadsheet formula.
pub fn defuse_formula(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_the_element() {
        let text = script_json(&json!({"name": "</script><script>alert(1)</script>"}));
        assert!(!text.contains("</script>"));
        assert!(text.contains("\\u003c/script\\u003e"));
    }

    #[test]
    fn formulas_are_defused() {
        assert_eq!(defuse_formula("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(defuse_formula("-1+2"), "'-1+2");
        assert_eq!(defuse_formula("LIDC-IDRI"), "LIDC-IDRI");
    }
}
