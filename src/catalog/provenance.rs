//! Where a record's facts came from, in words a researcher understands: the catalog keeps each source
//! as the importer wrote it (`summary: https://…`, `owner/list@commit:README.md (note)`); this reads
//! them as a named source with a link, the facts it gave and its date. It also links a licence to its
//! text where the licence is a well-known one.

/// One source of a record's facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// What the source is called: a web site's host, or a public list and who keeps it.
    pub name: String,
    pub link: Option<String>,
    /// Which of the record's facts it gave (`summary`, `licence`), when the source says.
    pub facts: Vec<String>,
    /// The day the source speaks for, when it says (`2021-07-28`).
    pub date: Option<String>,
    /// What else it says about itself.
    pub note: Option<String>,
}

/// The sources of a record, in the order first named, one entry per page or list.
pub fn sources(raw: &[String]) -> Vec<Source> {
    let mut sources: Vec<Source> = Vec::new();
    for entry in raw {
        let source = read(entry.trim());
        match sources
            .iter_mut()
            .find(|known| known.link.is_some() && known.link == source.link)
        {
            Some(known) => {
                for fact in source.facts {
                    if !known.facts.contains(&fact) {
                        known.facts.push(fact);
                    }
                }
            }
            None => sources.push(source),
        }
    }
    sources
}

/// A fact's name as a researcher reads it.
fn fact_label(field: &str) -> String {
    match field {
        "license" | "license_raw" => "licence".to_owned(),
        "access" | "access_raw" => "access".to_owned(),
        "subjects_count" => "number of subjects".to_owned(),
        "images_count" => "number of images".to_owned(),
        other => other.replace('_', " "),
    }
}

fn read(entry: &str) -> Source {
    // `field: https://…`: the page a fact was read from.
    if let Some((field, url)) = entry.split_once(": ")
        && field.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        && is_web_address(url)
    {
        return Source {
            name: host(url),
            link: Some(url.to_owned()),
            facts: vec![fact_label(field)],
            date: None,
            note: None,
        };
    }
    if is_web_address(entry) {
        return Source {
            name: host(entry),
            link: Some(entry.to_owned()),
            facts: Vec::new(),
            date: None,
            note: None,
        };
    }
    // `owner/list@commit:path (note)` or `owner/list:path (note)`: a file of a public list on GitHub.
    let (reference, note) = match entry.split_once(" (") {
        Some((reference, rest)) => (reference, Some(rest.trim_end_matches(')'))),
        None => (entry, None),
    };
    if let Some((repository, path)) = reference.split_once(':')
        && let Some((owner, list)) = repository.split('@').next().and_then(|r| r.split_once('/'))
        && is_name(owner)
        && is_name(list)
        && !path.is_empty()
        && !path.contains(char::is_whitespace)
    {
        let revision = repository
            .split_once('@')
            .map_or("HEAD", |(_, commit)| commit);
        let note = note.map(plain_note).filter(|note| !note.is_empty());
        return Source {
            name: format!("{list} (a public list by {owner} on GitHub, file {path})"),
            link: Some(format!(
                "https://github.com/{owner}/{list}/blob/{revision}/{path}"
            )),
            facts: Vec::new(),
            date: note.as_deref().and_then(find_date),
            note,
        };
    }
    Source {
        name: entry.to_owned(),
        link: None,
        facts: Vec::new(),
        date: find_date(entry),
        note: None,
    }
}

fn is_web_address(text: &str) -> bool {
    (text.starts_with("https://") || text.starts_with("http://"))
        && !text.contains(char::is_whitespace)
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `https://www.example.org/a/b` → `example.org`.
fn host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    host.strip_prefix("www.").unwrap_or(host).to_owned()
}

/// The note without the importer's own bookkeeping (which search found the file).
fn plain_note(note: &str) -> String {
    note.split("; ")
        .filter(|part| !part.starts_with("search corpus"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The first `YYYY-MM-DD` in `text`.
fn find_date(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(9)).find_map(|start| {
        let candidate = text.get(start..start + 10)?;
        let shape = candidate.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
        (shape
            && time::Date::parse(
                candidate,
                &time::format_description::well_known::Iso8601::DATE,
            )
            .is_ok())
        .then(|| candidate.to_owned())
    })
}

/// The address of a well-known licence's text: Creative Commons, CC0, the GNU licences and the
/// PhysioNet credentialed licence; `None` for terms of a publisher's own.
pub fn licence_url(licence: &str) -> Option<String> {
    let words: String = licence
        .to_ascii_uppercase()
        .replace(['-', '_'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if words.starts_with("CC0") {
        return Some("https://creativecommons.org/publicdomain/zero/1.0/".to_owned());
    }
    if let Some(rest) = words.strip_prefix("CC BY") {
        let mut kinds = vec!["by"];
        let mut tokens = rest.split_whitespace().peekable();
        while let Some(token) = tokens.peek() {
            match *token {
                "NC" => kinds.push("nc"),
                "SA" => kinds.push("sa"),
                "ND" => kinds.push("nd"),
                _ => break,
            }
            tokens.next();
        }
        let version = tokens
            .next()
            .filter(|v| matches!(*v, "1.0" | "2.0" | "2.5" | "3.0" | "4.0"))?;
        return Some(format!(
            "https://creativecommons.org/licenses/{}/{version}/",
            kinds.join("-")
        ));
    }
    for (prefix, url) in [
        ("AGPL 3.0", "https://www.gnu.org/licenses/agpl-3.0.html"),
        ("GPL 3.0", "https://www.gnu.org/licenses/gpl-3.0.html"),
        (
            "GPL 2.0",
            "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html",
        ),
        (
            "PHYSIONET CREDENTIALED HEALTH DATA LICENSE 1.5.0",
            "https://physionet.org/about/licenses/physionet-credentialed-health-data-license-150/",
        ),
    ] {
        if words.starts_with(prefix) {
            return Some(url.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| (*e).to_owned()).collect()
    }

    #[test]
    fn pages_are_named_by_their_site_and_list_the_facts_they_gave() {
        let read = sources(&raw(&[
            "summary: https://www.cancerimagingarchive.net/collection/lidc-idri/",
            "license: https://www.cancerimagingarchive.net/collection/lidc-idri/",
            "license_raw: https://www.cancerimagingarchive.net/collection/lidc-idri/",
            "year: https://pypi.org/project/idc-index-data/",
        ]));
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].name, "cancerimagingarchive.net");
        assert_eq!(read[0].facts, ["summary", "licence"]);
        assert_eq!(
            read[0].link.as_deref(),
            Some("https://www.cancerimagingarchive.net/collection/lidc-idri/")
        );
        assert_eq!(read[1].name, "pypi.org");
        assert_eq!(read[1].facts, ["year"]);
    }

    #[test]
    fn list_files_become_a_named_list_with_a_permanent_link_and_their_date() {
        let read = sources(&raw(&[
            "UAMS-DBMI/prism_landing@947087f8e8b768a7449ac16382b4919766b474cf:frontend/src/CollectionTable.jsx (TCIA collections table snapshot; newest Updated value 2021-07-28)",
            "kulvait/KCT_doc:license-tcga-gbm.md (search corpus: code; quotes TCIA license text for TCGA-GBM)",
        ]));
        assert_eq!(
            read[0].name,
            "prism_landing (a public list by UAMS-DBMI on GitHub, file frontend/src/CollectionTable.jsx)"
        );
        assert_eq!(
            read[0].link.as_deref(),
            Some(
                "https://github.com/UAMS-DBMI/prism_landing/blob/947087f8e8b768a7449ac16382b4919766b474cf/frontend/src/CollectionTable.jsx"
            )
        );
        assert_eq!(read[0].date.as_deref(), Some("2021-07-28"));
        assert_eq!(
            read[1].link.as_deref(),
            Some("https://github.com/kulvait/KCT_doc/blob/HEAD/license-tcga-gbm.md")
        );
        assert_eq!(
            read[1].note.as_deref(),
            Some("quotes TCIA license text for TCGA-GBM")
        );
        assert_eq!(read[1].date, None);
    }

    #[test]
    fn anything_else_is_shown_as_written() {
        let read = sources(&raw(&["Curated by the research data office, 2026-02-30"]));
        assert_eq!(
            read[0].name,
            "Curated by the research data office, 2026-02-30"
        );
        assert_eq!(read[0].link, None);
        assert_eq!(read[0].date, None, "not a real day");
    }

    #[test]
    fn well_known_licences_link_to_their_text() {
        for (licence, url) in [
            ("CC-BY-4.0", "https://creativecommons.org/licenses/by/4.0/"),
            (
                "CC BY-NC-SA 4.0",
                "https://creativecommons.org/licenses/by-nc-sa/4.0/",
            ),
            (
                "CC-BY-NC-ND-3.0",
                "https://creativecommons.org/licenses/by-nc-nd/3.0/",
            ),
            (
                "CC0 1.0 (public domain)",
                "https://creativecommons.org/publicdomain/zero/1.0/",
            ),
            ("GPL-3.0", "https://www.gnu.org/licenses/gpl-3.0.html"),
            (
                "AGPL-3.0 and CC-BY-SA-4.0 (dual statement)",
                "https://www.gnu.org/licenses/agpl-3.0.html",
            ),
        ] {
            assert_eq!(licence_url(licence).as_deref(), Some(url), "{licence}");
        }
        for licence in [
            "CC-BY-NC-SA (version not stated)",
            "RSNA terms: non-commercial use only",
            "ADNI Data Use Agreement",
        ] {
            assert_eq!(licence_url(licence), None, "{licence}");
        }
    }
}
