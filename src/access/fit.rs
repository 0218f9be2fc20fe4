//! Does a project's declared research use fit a dataset's data-use limitations (GA4GH DUO)? The answer
//! per dataset: fits, fits with obligations to acknowledge, or does not fit, with reasons in plain words.

use time::Date;

/// The research purpose a project declares, as a DUO permission term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// GRU: general research use.
    General,
    /// HMB: health, medical or biomedical research.
    Health,
    /// DS: research on specific diseases.
    Disease,
    /// POA: population origins or ancestry research.
    Ancestry,
}

impl Purpose {
    /// Every purpose, in the order the project form lists them.
    pub const ALL: [Self; 4] = [Self::General, Self::Health, Self::Disease, Self::Ancestry];

    /// The DUO shorthand, which is also how `projects.purpose` stores it.
    pub fn code(self) -> &'static str {
        match self {
            Self::General => "GRU",
            Self::Health => "HMB",
            Self::Disease => "DS",
            Self::Ancestry => "POA",
        }
    }

    /// The purpose with this shorthand.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|purpose| purpose.code() == code)
    }

    /// The purpose in words, with its shorthand.
    pub fn label(self) -> &'static str {
        match self {
            Self::General => "General research use (GRU)",
            Self::Health => "Health, medical or biomedical research (HMB)",
            Self::Disease => "Research on specific diseases (DS)",
            Self::Ancestry => "Population origins or ancestry research (POA)",
        }
    }
}

// Stored as its shorthand in a text column (whose check constraint lists the four), so it reads and
// writes as text.
impl sqlx::Type<sqlx::Postgres> for Purpose {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <&str as sqlx::Type<sqlx::Postgres>>::type_info()
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for Purpose {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.code(), buf)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for Purpose {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let code = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
        Self::parse(code).ok_or_else(|| format!("unknown research purpose {code:?}").into())
    }
}

/// What a project declares about its research.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResearchUse {
    pub purpose: Purpose,
    pub diseases: Vec<String>,
    pub methods_development: bool,
    pub commercial: bool,
    pub for_profit: bool,
    pub genetic: bool,
    pub irb_expires_on: Option<Date>,
}

/// The check's answer for one dataset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fit {
    /// Why the use does not fit; any entry blocks submission.
    pub problems: Vec<String>,
    /// Conditions the applicant acknowledges and the committee weighs.
    pub obligations: Vec<String>,
}

impl Fit {
    /// Whether nothing blocks the use.
    pub fn fits(&self) -> bool {
        self.problems.is_empty()
    }

    /// "fits", "fits with obligations" or "does not fit".
    pub fn verdict(&self) -> &'static str {
        if !self.problems.is_empty() {
            "does not fit"
        } else if !self.obligations.is_empty() {
            "fits with obligations"
        } else {
            "fits"
        }
    }
}

/// DUO codes by shorthand, accepting `DUO:0000042`-style identifiers too.
fn shorthand(code: &str) -> &str {
    crate::catalog::duo::find_usable(code)
        .and_then(|term| term.shorthand.as_deref())
        .unwrap_or(code)
}

fn same_disease(declared: &[String], dataset: &[String]) -> bool {
    declared.iter().any(|d| {
        let d = d.trim().to_lowercase();
        !d.is_empty()
            && dataset.iter().any(|c| {
                let c = c.to_lowercase();
                c.contains(&d) || d.contains(&c)
            })
    })
}

/// Checks `use_` against a dataset's `limitations` (DUO codes) and `conditions`, for access until
/// `period_end`.
pub fn check(
    limitations: &[String],
    conditions: &[String],
    use_: &ResearchUse,
    period_end: Date,
) -> Fit {
    let mut fit = Fit::default();
    for code in limitations {
        match shorthand(code) {
            "NRES" | "GRU" => {}
            "HMB" => {
                if !matches!(use_.purpose, Purpose::Health | Purpose::Disease) {
                    fit.problems.push(
                        "This dataset may be used only for health, medical or biomedical research (HMB); the project declares another purpose.".to_owned(),
                    );
                }
            }
            "DS" => {
                if use_.purpose != Purpose::Disease {
                    fit.problems.push(format!(
                        "This dataset may be used only for research on {} (DS); declare a disease-specific purpose naming the disease.",
                        if conditions.is_empty() { "specific diseases".to_owned() } else { conditions.join(", ") }
                    ));
                } else if !conditions.is_empty() && !same_disease(&use_.diseases, conditions) {
                    fit.problems.push(format!(
                        "This dataset may be used only for research on {}; the project names {}.",
                        conditions.join(", "),
                        use_.diseases.join(", ")
                    ));
                }
            }
            "POA" => {
                if use_.purpose != Purpose::Ancestry {
                    fit.problems.push(
                        "This dataset may be used only for population origins or ancestry research (POA).".to_owned(),
                    );
                }
            }
            "NPOA" => {
                if use_.purpose == Purpose::Ancestry {
                    fit.problems
                        .push("Population origins or ancestry research is not allowed with this dataset (NPOA).".to_owned());
                }
            }
            "NCU" => {
                if use_.commercial {
                    fit.problems.push("Commercial use is not allowed (NCU).".to_owned());
                }
            }
            "NPU" => {
                if use_.for_profit {
                    fit.problems
                        .push("Only not-for-profit organisations may use this dataset (NPU).".to_owned());
                }
            }
            "NPUNCU" => {
                if use_.commercial || use_.for_profit {
                    fit.problems.push(
                        "Only non-commercial use by not-for-profit organisations is allowed (NPUNCU).".to_owned(),
                    );
                }
            }
            "NMDS" => {
                if use_.methods_development {
                    fit.problems.push(
                        "Methods development beyond the permitted research is not allowed (NMDS); training a general-purpose model counts as methods development.".to_owned(),
                    );
                }
            }
            "GSO" => {
                if !use_.genetic {
                    fit.problems
                        .push("This dataset may be used only for genetic studies (GSO).".to_owned());
                }
            }
            "IRB" => match use_.irb_expires_on {
                None => fit.problems.push(
                    "Ethics (IRB) approval is required (IRB); add the approval and its expiry to the project.".to_owned(),
                ),
                Some(expires) if expires < period_end => fit.problems.push(format!(
                    "Ethics (IRB) approval is required for the whole access period; the project's approval expires on {expires}, before access would end on {period_end}."
                )),
                Some(_) => {}
            },
            "PUB" => fit.obligations.push("Publish the results (PUB).".to_owned()),
            "COL" => fit.obligations.push("Collaborate with the data's primary investigators (COL).".to_owned()),
            "RTN" => fit.obligations.push("Return derived or enriched data to the provider (RTN).".to_owned()),
            "MOR" => fit.obligations.push("Do not publish before the publication moratorium ends (MOR); the committee states the date.".to_owned()),
            "TS" => fit.obligations.push("Use is limited in time (TS): access ends with the grant's expiry.".to_owned()),
            "GS" => fit.obligations.push("Use is limited to certain places (GS).".to_owned()),
            "US" => fit.obligations.push("Use is limited to approved users (US).".to_owned()),
            "PS" => fit.obligations.push("Use is limited to the approved project (PS).".to_owned()),
            "IS" => fit.obligations.push("Use is limited to approved institutions (IS).".to_owned()),
            "RS" => fit.obligations.push("Research-specific restrictions apply (RS); read the agreement.".to_owned()),
            "CC" => {}
            other => fit
                .obligations
                .push(format!("A data-use condition ({other}) applies; read the agreement.")),
        }
    }
    fit
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn health() -> ResearchUse {
        ResearchUse {
            purpose: Purpose::Health,
            diseases: vec![],
            methods_development: false,
            commercial: false,
            for_profit: false,
            genetic: false,
            irb_expires_on: Some(date!(2028 - 01 - 01)),
        }
    }

    fn codes(list: &[&str]) -> Vec<String> {
        list.iter().map(|c| (*c).to_owned()).collect()
    }

    const END: Date = date!(2027 - 06 - 30);

    #[test]
    fn permissions() {
        assert!(check(&codes(&["GRU"]), &[], &health(), END).fits());
        assert!(check(&codes(&["NRES"]), &[], &health(), END).fits());
        assert!(check(&codes(&["HMB"]), &[], &health(), END).fits());
        let general = ResearchUse {
            purpose: Purpose::General,
            ..health()
        };
        assert!(!check(&codes(&["HMB"]), &[], &general, END).fits());
        let ancestry = ResearchUse {
            purpose: Purpose::Ancestry,
            ..health()
        };
        assert!(!check(&codes(&["HMB"]), &[], &ancestry, END).fits());
        assert!(check(&codes(&["POA"]), &[], &ancestry, END).fits());
        assert!(!check(&codes(&["POA"]), &[], &health(), END).fits());
        assert!(!check(&codes(&["GRU", "NPOA"]), &[], &ancestry, END).fits());
    }

    #[test]
    fn disease_specific_needs_the_same_disease() {
        let lung = ResearchUse {
            purpose: Purpose::Disease,
            diseases: vec!["lung cancer".to_owned()],
            ..health()
        };
        let conditions = codes(&["Lung cancer", "pulmonary nodules"]);
        assert!(check(&codes(&["DS"]), &conditions, &lung, END).fits());
        let breast = ResearchUse {
            diseases: vec!["breast cancer".to_owned()],
            ..lung.clone()
        };
        let fit = check(&codes(&["DS"]), &conditions, &breast, END);
        assert!(fit.problems[0].contains("Lung cancer"), "{fit:?}");
        assert!(!check(&codes(&["DS"]), &conditions, &health(), END).fits());
        // A DUO identifier is understood like its shorthand.
        assert!(check(&codes(&["DUO:0000007"]), &conditions, &lung, END).fits());
    }

    #[test]
    fn modifiers_that_rule_a_use_out() {
        let commercial = ResearchUse {
            commercial: true,
            ..health()
        };
        assert!(!check(&codes(&["HMB", "NCU"]), &[], &commercial, END).fits());
        assert!(!check(&codes(&["HMB", "NPUNCU"]), &[], &commercial, END).fits());
        let company = ResearchUse {
            for_profit: true,
            ..health()
        };
        assert!(!check(&codes(&["GRU", "NPU"]), &[], &company, END).fits());
        assert!(check(&codes(&["GRU", "NCU"]), &[], &company, END).fits());
        let model = ResearchUse {
            methods_development: true,
            ..health()
        };
        let fit = check(&codes(&["HMB", "NMDS"]), &[], &model, END);
        assert!(fit.problems[0].contains("general-purpose model"));
        assert!(!check(&codes(&["GRU", "GSO"]), &[], &health(), END).fits());
    }

    #[test]
    fn irb_approval_must_cover_the_whole_period() {
        assert!(check(&codes(&["HMB", "IRB"]), &[], &health(), END).fits());
        let short = ResearchUse {
            irb_expires_on: Some(date!(2027 - 01 - 01)),
            ..health()
        };
        let fit = check(&codes(&["HMB", "IRB"]), &[], &short, END);
        assert!(fit.problems[0].contains("expires on 2027-01-01"), "{fit:?}");
        let none = ResearchUse {
            irb_expires_on: None,
            ..health()
        };
        assert!(!check(&codes(&["IRB"]), &[], &none, END).fits());
    }

    #[test]
    fn purposes_round_trip_through_their_codes() {
        for purpose in Purpose::ALL {
            assert_eq!(Purpose::parse(purpose.code()), Some(purpose));
        }
        assert_eq!(Purpose::parse("hmb"), None);
    }

    #[test]
    fn obligations_are_listed_not_blocking() {
        let fit = check(&codes(&["HMB", "PUB", "COL", "MOR"]), &[], &health(), END);
        assert!(fit.fits());
        assert_eq!(fit.obligations.len(), 3);
        assert_eq!(fit.verdict(), "fits with obligations");
        assert_eq!(
            check(&codes(&["GRU"]), &[], &health(), END).verdict(),
            "fits"
        );
    }
}
