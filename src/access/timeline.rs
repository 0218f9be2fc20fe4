//! The vocabulary of the event log: each kind of event with what it records, how it is stored, and how
//! a request's timeline shows it. The hash chain covers the stored `kind` and `body`, so their form
//! never changes: the tests below pin it.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::events::NewEvent;
use super::model::{DuaVersion, VoteChoice};
use super::state::{RequestState, Transition};

/// The stored names of the kinds.
mod kind {
    pub const TRANSITION: &str = "request.transition";
    pub const COMMENT: &str = "request.comment";
    pub const VOTE: &str = "request.vote";
    pub const ATTACHMENT: &str = "request.attachment";
    pub const DUA_ACCEPTED: &str = "request.dua_accepted";
    pub const GRANT_CREATED: &str = "grant.created";
    pub const GRANT_EXPIRED: &str = "grant.expired";
    pub const GRANT_REVOKED: &str = "grant.revoked";
    pub const GRANT_SUSPENDED: &str = "grant.suspended";
    pub const GRANT_REACCEPTED: &str = "grant.reaccepted";
}

/// An acceptance of one agreement version, typed as the person's full name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    /// The agreement's title.
    pub dua: String,
    pub version: i32,
    /// The SHA-256 of the accepted text, in hex.
    pub hash: String,
    /// The typed name.
    pub signature: String,
}

impl Acceptance {
    /// The acceptance of `dua` signed with `signature` (trimmed).
    pub fn of(dua: &DuaVersion, signature: &str) -> Self {
        Self {
            dua: dua.dua_title.clone(),
            version: dua.version,
            hash: dua.hash_hex(),
            signature: signature.trim().to_owned(),
        }
    }
}

/// What happened to a request or a grant, with what the event records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The request moved along the state machine; `message` is what the person wrote with it (empty
    /// for none).
    Transition {
        from: RequestState,
        to: RequestState,
        message: String,
    },
    /// A comment; an internal one is seen by reviewers and administrators only.
    Comment { internal: bool, text: String },
    /// A committee member's vote, seen by reviewers and administrators only.
    Vote {
        choice: VoteChoice,
        rationale: String,
    },
    /// A supporting document attached to the request.
    Attachment {
        attachment_id: i64,
        file_name: String,
    },
    /// The applicant accepted the agreement of one dataset on submitting.
    DuaAccepted {
        dataset: String,
        acceptance: Acceptance,
        /// The conditions the applicant acknowledged.
        obligations: Vec<String>,
        /// The data-use check's verdict ("fits", "fits with obligations").
        fit: String,
    },
    /// Access to a dataset was granted on approval.
    GrantCreated {
        dataset: String,
        expires_at: OffsetDateTime,
    },
    /// The grant reached its end.
    GrantExpired { dataset: String },
    /// The granting committee or an administrator revoked the grant.
    GrantRevoked { dataset: String, reason: String },
    /// The holder did not accept a new agreement version within the grace period.
    GrantSuspended { dataset: String },
    /// The holder accepted the agreement version in force, lifting the re-acceptance requirement.
    GrantReaccepted {
        dataset: String,
        acceptance: Acceptance,
    },
}

impl EventKind {
    /// The record of `step`, with what the person wrote (`None`: nothing).
    pub fn transition(step: Transition, message: Option<&str>) -> Self {
        Self::Transition {
            from: step.from(),
            to: step.to(),
            message: message.unwrap_or("").to_owned(),
        }
    }

    /// The stored `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Transition { .. } => kind::TRANSITION,
            Self::Comment { .. } => kind::COMMENT,
            Self::Vote { .. } => kind::VOTE,
            Self::Attachment { .. } => kind::ATTACHMENT,
            Self::DuaAccepted { .. } => kind::DUA_ACCEPTED,
            Self::GrantCreated { .. } => kind::GRANT_CREATED,
            Self::GrantExpired { .. } => kind::GRANT_EXPIRED,
            Self::GrantRevoked { .. } => kind::GRANT_REVOKED,
            Self::GrantSuspended { .. } => kind::GRANT_SUSPENDED,
            Self::GrantReaccepted { .. } => kind::GRANT_REACCEPTED,
        }
    }

    /// Whether only reviewers and administrators see the event.
    pub fn internal(&self) -> bool {
        match self {
            Self::Comment { internal, .. } => *internal,
            Self::Vote { .. } => true,
            _ => false,
        }
    }

    /// The stored `body`.
    pub fn body(&self) -> Value {
        match self {
            Self::Transition { from, to, message } => {
                json!({"from": from.as_str(), "to": to.as_str(), "message": message})
            }
            Self::Comment { text, .. } => json!({"message": text}),
            Self::Vote { choice, rationale } => {
                json!({"choice": choice.as_str(), "rationale": rationale})
            }
            Self::Attachment {
                attachment_id,
                file_name,
            } => json!({"attachment": attachment_id, "file_name": file_name}),
            Self::DuaAccepted {
                dataset,
                acceptance,
                obligations,
                fit,
            } => json!({
                "dataset": dataset, "dua": acceptance.dua, "version": acceptance.version,
                "hash": acceptance.hash, "signature": acceptance.signature,
                "obligations": obligations, "fit": fit,
            }),
            Self::GrantCreated {
                dataset,
                expires_at,
            } => json!({"dataset": dataset, "expires_at": crate::format::datetime(*expires_at)}),
            Self::GrantExpired { dataset } | Self::GrantSuspended { dataset } => {
                json!({"dataset": dataset})
            }
            Self::GrantRevoked { dataset, reason } => {
                json!({"dataset": dataset, "reason": reason})
            }
            Self::GrantReaccepted {
                dataset,
                acceptance,
            } => json!({
                "dataset": dataset, "dua": acceptance.dua, "version": acceptance.version,
                "hash": acceptance.hash, "signature": acceptance.signature,
            }),
        }
    }

    /// The event to append, about nothing yet: set the request, grant and actor with struct update
    /// syntax, `NewEvent { request_id: Some(id), ..kind.into_event() }`.
    pub fn into_event(self) -> NewEvent<'static> {
        NewEvent {
            request_id: None,
            grant_id: None,
            actor_id: None,
            kind: self.kind(),
            internal: self.internal(),
            body: self.body(),
        }
    }
}

/// An event as the timeline shows it.
#[derive(Clone, Debug)]
pub struct Event {
    pub id: i64,
    pub kind: String,
    pub internal: bool,
    pub body: Value,
    pub actor_name: Option<String>,
    pub created_at: OffsetDateTime,
}

impl Event {
    /// One line saying what happened.
    pub fn text(&self) -> String {
        let field = |name: &str| self.body[name].as_str().unwrap_or("").to_owned();
        let state = |name: &str| RequestState::parse(&field(name)).map_or("?", RequestState::label);
        match self.kind.as_str() {
            kind::TRANSITION => format!("{} → {}", state("from"), state("to")),
            kind::COMMENT => "Comment".to_owned(),
            kind::VOTE => format!("Vote: {}", field("choice")),
            kind::DUA_ACCEPTED => format!(
                "Accepted {} version {} for {}",
                field("dua"),
                self.body["version"],
                field("dataset")
            ),
            kind::ATTACHMENT => format!("Attached {}", field("file_name")),
            kind::GRANT_CREATED => format!(
                "Access granted to {} until {}",
                field("dataset"),
                field("expires_at")
            ),
            kind::GRANT_REVOKED => format!("Access to {} revoked", field("dataset")),
            kind::GRANT_EXPIRED => format!("Access to {} expired", field("dataset")),
            kind::GRANT_SUSPENDED => format!(
                "Access to {} suspended until the new agreement is accepted",
                field("dataset")
            ),
            kind::GRANT_REACCEPTED => {
                format!("Accepted the new agreement for {}", field("dataset"))
            }
            other => other.to_owned(),
        }
    }

    /// The message or rationale that came with the event, if any.
    pub fn message(&self) -> Option<String> {
        ["message", "rationale", "reason"]
            .iter()
            .find_map(|key| self.body[*key].as_str())
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::state::Action;
    use time::macros::datetime;

    fn acceptance() -> Acceptance {
        Acceptance {
            dua: "Institutional Imaging Data Use Agreement".to_owned(),
            version: 2,
            hash: "ab01".to_owned(),
            signature: "Riley Researcher".to_owned(),
        }
    }

    /// Each kind's stored form, against the `json!` the workflow wrote before the kinds were typed
    /// and the exact text the hash chain hashes.
    #[test]
    fn every_kind_is_stored_exactly_as_before() {
        let approved = RequestState::InReview.apply(Action::Approve).unwrap();
        let cases: Vec<(EventKind, &str, bool, Value, &str)> = vec![
            (
                EventKind::transition(Transition::submission(), None),
                "request.transition",
                false,
                json!({"from": "draft", "to": "submitted", "message": ""}),
                r#"{"from":"draft","message":"","to":"submitted"}"#,
            ),
            (
                EventKind::transition(approved, Some("Fits the protocol.")),
                "request.transition",
                false,
                json!({"from": "in_review", "to": "approved", "message": "Fits the protocol."}),
                r#"{"from":"in_review","message":"Fits the protocol.","to":"approved"}"#,
            ),
            (
                EventKind::Comment {
                    internal: true,
                    text: "Check the IRB.".to_owned(),
                },
                "request.comment",
                true,
                json!({"message": "Check the IRB."}),
                r#"{"message":"Check the IRB."}"#,
            ),
            (
                EventKind::Comment {
                    internal: false,
                    text: "Thanks".to_owned(),
                },
                "request.comment",
                false,
                json!({"message": "Thanks"}),
                r#"{"message":"Thanks"}"#,
            ),
            (
                EventKind::Vote {
                    choice: VoteChoice::Reject,
                    rationale: "No ethics approval.".to_owned(),
                },
                "request.vote",
                true,
                json!({"choice": "reject", "rationale": "No ethics approval."}),
                r#"{"choice":"reject","rationale":"No ethics approval."}"#,
            ),
            (
                EventKind::Attachment {
                    attachment_id: 7,
                    file_name: "letter.pdf".to_owned(),
                },
                "request.attachment",
                false,
                json!({"attachment": 7_i64, "file_name": "letter.pdf"}),
                r#"{"attachment":7,"file_name":"letter.pdf"}"#,
            ),
            (
                EventKind::DuaAccepted {
                    dataset: "Example: Chest CT".to_owned(),
                    acceptance: acceptance(),
                    obligations: vec!["Publish the results (PUB).".to_owned()],
                    fit: "fits with obligations".to_owned(),
                },
                "request.dua_accepted",
                false,
                json!({
                    "dataset": "Example: Chest CT", "dua": "Institutional Imaging Data Use Agreement",
                    "version": 2_i32, "hash": "ab01", "signature": "Riley Researcher",
                    "obligations": ["Publish the results (PUB)."], "fit": "fits with obligations",
                }),
                r#"{"dataset":"Example: Chest CT","dua":"Institutional Imaging Data Use Agreement","fit":"fits with obligations","hash":"ab01","obligations":["Publish the results (PUB)."],"signature":"Riley Researcher","version":2}"#,
            ),
            (
                EventKind::GrantCreated {
                    dataset: "Example: Chest CT".to_owned(),
                    expires_at: datetime!(2027-03-01 09:30:15 UTC),
                },
                "grant.created",
                false,
                json!({"dataset": "Example: Chest CT", "expires_at": "2027-03-01 09:30 UTC"}),
                r#"{"dataset":"Example: Chest CT","expires_at":"2027-03-01 09:30 UTC"}"#,
            ),
            (
                EventKind::GrantExpired {
                    dataset: "Example: Chest CT".to_owned(),
                },
                "grant.expired",
                false,
                json!({"dataset": "Example: Chest CT"}),
                r#"{"dataset":"Example: Chest CT"}"#,
            ),
            (
                EventKind::GrantRevoked {
                    dataset: "Example: Chest CT".to_owned(),
                    reason: "Data shared outside the team.".to_owned(),
                },
                "grant.revoked",
                false,
                json!({"dataset": "Example: Chest CT", "reason": "Data shared outside the team."}),
                r#"{"dataset":"Example: Chest CT","reason":"Data shared outside the team."}"#,
            ),
            (
                EventKind::GrantSuspended {
                    dataset: "Example: Chest CT".to_owned(),
                },
                "grant.suspended",
                false,
                json!({"dataset": "Example: Chest CT"}),
                r#"{"dataset":"Example: Chest CT"}"#,
            ),
            (
                EventKind::GrantReaccepted {
                    dataset: "Example: Chest CT".to_owned(),
                    acceptance: acceptance(),
                },
                "grant.reaccepted",
                false,
                json!({
                    "dataset": "Example: Chest CT", "dua": "Institutional Imaging Data Use Agreement",
                    "version": 2_i32, "hash": "ab01", "signature": "Riley Researcher",
                }),
                r#"{"dataset":"Example: Chest CT","dua":"Institutional Imaging Data Use Agreement","hash":"ab01","signature":"Riley Researcher","version":2}"#,
            ),
        ];
        for (event_kind, stored_kind, internal, before, hashed) in cases {
            let event = event_kind.clone().into_event();
            assert_eq!(event.kind, stored_kind, "{event_kind:?}");
            assert_eq!(event.internal, internal, "{event_kind:?}");
            assert_eq!(event.body, before, "{event_kind:?}");
            assert_eq!(event.body.to_string(), hashed, "{event_kind:?}");
            assert_eq!(
                (event.request_id, event.grant_id, event.actor_id),
                (None, None, None)
            );
        }
    }

    #[test]
    fn the_timeline_reads_what_the_kinds_store() {
        let shown = |event_kind: EventKind| {
            let stored = event_kind.into_event();
            let event = Event {
                id: 1,
                kind: stored.kind.to_owned(),
                internal: stored.internal,
                body: stored.body,
                actor_name: None,
                created_at: datetime!(2026-01-01 0:00 UTC),
            };
            (event.text(), event.message())
        };
        let approved = RequestState::InReview.apply(Action::Approve).unwrap();
        assert_eq!(
            shown(EventKind::transition(approved, Some("Fits."))),
            ("In review → Approved".to_owned(), Some("Fits.".to_owned()))
        );
        assert_eq!(
            shown(EventKind::transition(Transition::submission(), None)),
            ("Draft → Submitted".to_owned(), None)
        );
        assert_eq!(
            shown(EventKind::Vote {
                choice: VoteChoice::Approve,
                rationale: "Sound.".to_owned()
            }),
            ("Vote: approve".to_owned(), Some("Sound.".to_owned()))
        );
        assert_eq!(
            shown(EventKind::GrantReaccepted {
                dataset: "Example: Chest CT".to_owned(),
                acceptance: acceptance(),
            })
            .0,
            "Accepted the new agreement for Example: Chest CT"
        );
        assert_eq!(
            shown(EventKind::DuaAccepted {
                dataset: "Example: Chest CT".to_owned(),
                acceptance: acceptance(),
                obligations: Vec::new(),
                fit: "fits".to_owned(),
            })
            .0,
            "Accepted Institutional Imaging Data Use Agreement version 2 for Example: Chest CT"
        );
    }
}
