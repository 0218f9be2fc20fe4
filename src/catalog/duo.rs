//! The GA4GH Data Use Ontology (DUO) terms bundled with the portal (`seed/duo.json`, release 2022-09-15).

use std::sync::LazyLock;

use serde::Deserialize;

/// The DUO release built into the binary.
const DUO_JSON: &str = include_str!("../../seed/duo.json");

/// One DUO term.
#[derive(Clone, Debug, Deserialize)]
pub struct DuoTerm {
    pub id: String,
    pub shorthand: Option<String>,
    pub label: String,
    pub definition: String,
    pub category: String,
    pub obsolete: bool,
}

impl DuoTerm {
    /// Permissions and modifiers that are not obsolete: the terms a limitation or a declared use may carry.
    pub fn is_usable(&self) -> bool {
        !self.obsolete && matches!(self.category.as_str(), "permission" | "modifier")
    }

    /// `GRU — general research use`.
    pub fn display(&self) -> String {
        match &self.shorthand {
            Some(short) => format!("{short} — {}", self.label),
            None => self.label.clone(),
        }
    }
}

#[derive(Deserialize)]
struct DuoFile {
    terms: Vec<DuoTerm>,
}

static TERMS: LazyLock<Vec<DuoTerm>> = LazyLock::new(|| {
    serde_json::from_str::<DuoFile>(DUO_JSON)
        .expect("the bundled DUO file parses")
        .terms
});

/// Every term of the bundled release.
pub fn terms() -> &'static [DuoTerm] {
    &TERMS
}

/// A term by its id (`DUO:0000042`).
pub fn find(id: &str) -> Option<&'static DuoTerm> {
    TERMS.iter().find(|term| term.id == id)
}

/// A usable term by id or shorthand (`GRU`, `duo:0000042`).
pub fn find_usable(id_or_shorthand: &str) -> Option<&'static DuoTerm> {
    let wanted = id_or_shorthand.trim();
    TERMS.iter().filter(|term| term.is_usable()).find(|term| {
        term.id.eq_ignore_ascii_case(wanted)
            || term
                .shorthand
                .as_deref()
                .is_some_and(|short| short.eq_ignore_ascii_case(wanted))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_terms_are_current_permissions_and_modifiers() {
        let usable: Vec<&str> = terms()
            .iter()
            .filter(|t| t.is_usable())
            .filter_map(|t| t.shorthand.as_deref())
            .collect();
        for expected in [
            "NRES", "GRU", "HMB", "DS", "POA", "NMDS", "GSO", "NPUNCU", "IRB", "NCU", "NPU",
        ] {
            assert!(usable.contains(&expected), "{expected}");
        }
        assert!(
            !usable.contains(&"GRU-CC"),
            "obsolete terms are never offered"
        );
        assert_eq!(find_usable("gru").unwrap().id, "DUO:0000042");
        assert!(find_usable("DUO:0000005").is_none());
        assert_eq!(
            find("DUO:0000006").unwrap().display(),
            "HMB — health or medical or biomedical research"
        );
    }
}
