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

impl DacPolicy {
    /// The stored name, which the committee form also uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Votes => "votes",
        }
    }

    /// The policy with this stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Single, Self::Votes]
            .into_iter()
            .find(|policy| policy.as_str() == raw)
    }
}

/// A Data Access Committee.
#[derive(Clone, Debug)]
pub struct Dac {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub policy: DacPolicy,
    pub required_votes: i32,
}

impl Dac {
    /// How the committee decides, in words.
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

/// One published version of a data-use agreement.
#[derive(Clone, Debug)]
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
    /// The SHA-256 of the text, as accepted and recorded.
    pub fn hash_hex(&self) -> String {
        hex::encode(&self.content_hash)
    }
}

/// A controlled dataset with who governs it and under which agreement.
#[derive(Clone, Debug)]
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

/// A research project: what a researcher wants to do with the data.
#[derive(Clone, Debug)]
pub struct Project {
    pub id: i64,
    pub owner_id: i64,
    pub title: String,
    pub research_use: String,
    pub purpose: Purpose,
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
    /// What the project declares, as the data-use check reads it.
    pub fn research_use(&self) -> ResearchUse {
        ResearchUse {
            purpose: self.purpose,
            diseases: self.diseases.clone(),
            methods_development: self.methods_development,
            commercial: self.commercial,
            for_profit: self.for_profit,
            genetic: self.genetic,
            irb_expires_on: self.irb_expires_on,
        }
    }
}

/// Someone to notify: in the app, and by e-mail at this address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: i64,
    pub email: String,
}

/// A team member of a project: an account, or an address not registered (yet).
#[derive(Clone, Debug)]
pub struct Member {
    pub email: String,
    pub user_id: Option<i64>,
    pub name: Option<String>,
}

/// A request as lists and pages show it.
#[derive(Clone, Debug)]
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
#[derive(Clone, Debug)]
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

/// A committee member's vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "vote_choice", rename_all = "snake_case")]
pub enum VoteChoice {
    Approve,
    Reject,
}

impl VoteChoice {
    /// The stored name, which the review form also uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
        }
    }
}

/// A vote as the request page shows it to reviewers.
#[derive(Clone, Debug)]
pub struct Vote {
    pub reviewer_id: i64,
    pub reviewer_name: String,
    pub choice: VoteChoice,
    pub rationale: String,
    pub cast_at: OffsetDateTime,
}

/// A grant: a person's access to a dataset until a time.
#[derive(Clone, Debug)]
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
    /// Where the grant stands at `now`. The `active_grants` view (migration 0016) is the same rule in
    /// SQL: the statuses that [`GrantStatus::allows_access`].
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
    /// The status in words, for pages and the API.
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

/// One committee's requests waiting for its decision, for the administrators' overview.
#[derive(Clone, Debug)]
pub struct CommitteeQueue {
    pub id: i64,
    pub name: String,
    /// Requests submitted or in review.
    pub waiting: i64,
    /// Of those, the ones waiting longer than the review period.
    pub overdue: i64,
}

/// A request waiting longer than this for a committee's decision is overdue.
pub const REVIEW_DUE_DAYS: i32 = 14;

/// An in-app notification.
#[derive(Clone, Debug)]
pub struct Notification {
    pub id: i64,
    pub text: String,
    pub link: String,
    pub created_at: OffsetDateTime,
    pub read_at: Option<OffsetDateTime>,
}
