//! The access workflow's records: committees, agreements and their versions, governance of a dataset,
//! projects, requests, votes, grants, events and notifications.

use time::{Date, OffsetDateTime};

use super::fit::{Purpose, ResearchUse};
use super::state::RequestState;

/// A committee's decision policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "dac_policy", rename_all = "snake_case")]
pub enum DacPolicy {
    /// One member decides.
    Single,
    /// `required_votes` approving votes and no rejection.
    Votes,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Dac {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub policy: DacPolicy,
    pub required_votes: i32,
}

impl Dac {
    pub fn policy_text(&self) -> String {
        match self.policy {
            DacPolicy::Single => "one member decides".to_owned(),
            DacPolicy::Votes => format!(
                "{} approving {} and no rejection",
                self.required_votes,
                if self.required_votes == 1 {
                    "vote"
                } else {
                    "votes"
                }
            ),
        }
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DuaVersion {
    pub id: i64,
    pub dua_id: i64,
    pub dua_slug: String,
    pub dua_title: String,
    pub version: i32,
    pub body: String,
    pub content_hash: Vec<u8>,
    pub effective_on: Date,
    pub published_at: OffsetDateTime,
}

impl DuaVersion {
    pub fn hash_hex(&self) -> String {
        hex::encode(&self.content_hash)
    }
}

/// A controlled dataset with who governs it and under which agreement.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Governed {
    pub dataset_id: i64,
    pub slug: String,
    pub title: String,
    pub data_use_limitations: Vec<String>,
    pub conditions: Vec<String>,
    pub access_instructions: String,
    pub dac_id: i64,
    pub dac_name: String,
    pub dua_id: i64,
    pub dua_slug: String,
    pub dua_title: String,
    pub default_grant_days: i32,
    pub required_credentials: Vec<String>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Project {
    pub id: i64,
    pub owner_id: i64,
    pub title: String,
    pub research_use: String,
    pub purpose: String,
    pub diseases: Vec<String>,
    pub methods_development: bool,
    pub commercial: bool,
    pub for_profit: bool,
    pub genetic: bool,
    pub clinical_care: bool,
    pub country: String,
    pub pi_name: String,
    pub institution: String,
    pub irb_number: String,
    pub irb_body: String,
    pub irb_expires_on: Option<Date>,
    pub security_plan: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Project {
    pub fn purpose(&self) -> Purpose {
        Purpose::parse(&self.purpose).unwrap_or(Purpose::General)
    }

    pub fn research_use(&self) -> ResearchUse {
        ResearchUse {
            purpose: self.purpose(),
            diseases: self.diseases.clone(),
            methods_development: self.methods_development,
            commercial: self.commercial,
            for_profit: self.for_profit,
            genetic: self.genetic,
            irb_expires_on: self.irb_expires_on,
        }
    }
}

/// A team member of a project: an account, or an address not registered (yet).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Member {
    pub email: String,
    pub user_id: Option<i64>,
    pub name: Option<String>,
}

/// A request as lists and pages show it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RequestSummary {
    pub id: i64,
    pub state: RequestState,
    pub version: i32,
    pub project_id: i64,
    pub project_title: String,
    pub applicant_id: i64,
    pub applicant_name: String,
    pub applicant_email: String,
    pub dac_id: i64,
    pub dac_name: String,
    pub requested_days: i32,
    pub renewal_of: Option<i64>,
    pub submitted_at: Option<OffsetDateTime>,
    pub decided_at: Option<OffsetDateTime>,
    pub decided_by_name: Option<String>,
    pub decision_rationale: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Titles of the datasets asked for.
    pub dataset_titles: Vec<String>,
}

/// One dataset of a request, with the agreement accepted for it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RequestDataset {
    pub dataset_id: i64,
    pub slug: String,
    pub title: String,
    pub data_use_limitations: Vec<String>,
    pub conditions: Vec<String>,
    pub dua_version_id: i64,
    pub dua_slug: String,
    pub dua_title: String,
    pub dua_version: i32,
    pub dua_hash: Vec<u8>,
    pub accepted_name: String,
    pub accepted_at: OffsetDateTime,
    pub grant_days: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "vote_choice", rename_all = "snake_case")]
pub enum VoteChoice {
    Approve,
    Reject,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Vote {
    pub reviewer_id: i64,
    pub reviewer_name: String,
    pub choice: VoteChoice,
    pub rationale: String,
    pub cast_at: OffsetDateTime,
}

/// An event as the timeline shows it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub kind: String,
    pub internal: bool,
    pub body: serde_json::Value,
    pub actor_name: Option<String>,
    pub created_at: OffsetDateTime,
}

impl Event {
    /// One line saying what happened.
    pub fn text(&self) -> String {
        let field = |name: &str| self.body[name].as_str().unwrap_or("").to_owned();
        match self.kind.as_str() {
            "request.transition" => format!(
                "{} → {}",
                RequestState::parse(&field("from")).map_or("?", RequestState::label),
                RequestState::parse(&field("to")).map_or("?", RequestState::label)
            ),
            "request.comment" => "Comment".to_owned(),
            "request.vote" => format!("Vote: {}", field("choice")),
            "request.dua_accepted" => format!(
                "Accepted {} version {} for {}",
                field("dua"),
                self.body["version"],
                field("dataset")
            ),
            "request.attachment" => format!("Attached {}", field("file_name")),
            "grant.created" => format!(
                "Access granted to {} until {}",
                field("dataset"),
                field("expires_at")
            ),
            "grant.revoked" => format!("Access to {} revoked", field("dataset")),
            "grant.expired" => format!("Access to {} expired", field("dataset")),
            "grant.suspended" => format!(
                "Access to {} suspended until the new agreement is accepted",
                field("dataset")
            ),
            "grant.reaccepted" => format!("Accepted the new agreement for {}", field("dataset")),
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

/// A grant: a person's access to a dataset until a time.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Grant {
    pub id: i64,
    pub user_id: i64,
    pub holder_name: String,
    pub holder_email: String,
    pub dataset_id: i64,
    pub slug: String,
    pub title: String,
    pub access_instructions: String,
    pub request_id: i64,
    pub dac_id: i64,
    pub dua_version_id: i64,
    pub starts_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub revoke_reason: Option<String>,
    pub reaccept_by: Option<OffsetDateTime>,
    pub suspended_at: Option<OffsetDateTime>,
}

/// What a grant allows now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantStatus {
    Active,
    /// Active, but a newer agreement must be accepted by `reaccept_by`.
    ReacceptanceRequired,
    Suspended,
    Expired,
    Revoked,
}

impl Grant {
    pub fn status(&self, now: OffsetDateTime) -> GrantStatus {
        if self.revoked_at.is_some() {
            GrantStatus::Revoked
        } else if self.expires_at <= now {
            GrantStatus::Expired
        } else if self.suspended_at.is_some() {
            GrantStatus::Suspended
        } else if self.reaccept_by.is_some() {
            GrantStatus::ReacceptanceRequired
        } else {
            GrantStatus::Active
        }
    }
}

impl GrantStatus {
    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::ReacceptanceRequired => "Re-acceptance required",
            Self::Suspended => "Suspended",
            Self::Expired => "Expired",
            Self::Revoked => "Revoked",
        }
    }

    /// Whether the holder may use the data now.
    pub fn allows_access(self) -> bool {
        matches!(self, Self::Active | Self::ReacceptanceRequired)
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Notification {
    pub id: i64,
    pub text: String,
    pub link: String,
    pub created_at: OffsetDateTime,
    pub read_at: Option<OffsetDateTime>,
}
