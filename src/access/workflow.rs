//! The access workflow's operations. Each runs in one transaction: the state change, its events, the
//! in-app notifications and the e-mails (through the outbox) are stored together or not at all.

use std::ops::RangeInclusive;

use sqlx::{PgConnection, PgPool};
use time::{Date, Duration, OffsetDateTime};
use url::Url;

use super::db::{self, NewRequest};
use super::events::{self, NewEvent};
use super::fit::{self, Fit};
use super::model::{
    DacPolicy, DuaVersion, Governed, Project, Recipient, RequestSummary, VoteChoice,
};
use super::state::{Action, RequestState, Transition};
use super::timeline::{Acceptance, EventKind};
use crate::auth::model::{Credential, User};
use crate::error::AppError;
use crate::mail::{self, Mail};

/// The access periods a request may ask for and a committee may grant, in days (the database checks
/// the same).
pub const ACCESS_PERIOD_DAYS: RangeInclusive<i32> = 1..=3650;

/// The access period a request asks for unless the applicant says otherwise, in days.
pub const DEFAULT_ACCESS_DAYS: i32 = 365;

/// The longest comment, rationale or message to the applicant, in characters.
pub const MAX_MESSAGE_CHARS: usize = 10_000;

/// The longest reason for revoking a grant, in characters.
pub const MAX_REVOKE_REASON_CHARS: usize = 2000;

/// The pre-submission check of one dataset in the cart.
#[derive(Clone, Debug)]
pub struct DatasetCheck {
    pub dataset: Governed,
    pub fit: Fit,
    /// Agreement version in force (none: the dataset cannot be requested now).
    pub dua: Option<DuaVersion>,
    /// Warnings that do not block submission.
    pub notes: Vec<String>,
}

impl DatasetCheck {
    /// Whether this dataset keeps the cart from being submitted.
    pub fn blocks(&self) -> bool {
        !self.fit.fits() || self.dua.is_none()
    }
}

/// Checks each governed dataset against a project, the applicant's credentials and open requests.
pub async fn check_cart(
    db: &PgPool,
    user: &User,
    project: &Project,
    credentials: &[Credential],
    datasets: &[Governed],
    days: i32,
) -> Result<Vec<DatasetCheck>, AppError> {
    let mut conn = db.acquire().await?;
    let today = OffsetDateTime::now_utc().date();
    let period_end = today + Duration::days(i64::from(days));
    let research_use = project.research_use();
    let mut checks = Vec::new();
    for dataset in datasets {
        let mut fit = fit::check(
            &dataset.data_use_limitations,
            &dataset.conditions,
            &research_use,
            period_end,
        );
        let mut notes = Vec::new();
        for required in &dataset.required_credentials {
            let held = credentials
                .iter()
                .find(|c| c.kind.eq_ignore_ascii_case(required));
            match held {
                None => fit.problems.push(format!(
                    "This dataset requires the upstream credential “{required}”; add it to your profile (Account → Upstream credentials)."
                )),
                Some(c) if c.is_expired(&today) => fit.problems.push(format!(
                    "Your credential “{required}” has expired; record the renewed one on your profile."
                )),
                Some(c) => {
                    if let Some(expires) = c.expires_on
                        && expires < period_end
                    {
                        notes.push(format!(
                            "Your credential “{required}” expires on {expires}, before the access period would end."
                        ));
                    }
                }
            }
        }
        if let Some(open) = db::open_request_for(&mut *conn, user.id, dataset.dataset_id).await? {
            fit.problems.push(format!(
                "You already have an open request (#{open}) for this dataset; follow that one or withdraw it first."
            ));
        }
        if let Some(expires) = project.irb_expires_on
            && expires < period_end
            && fit.problems.iter().all(|p| !p.contains("(IRB)"))
        {
            notes.push(format!(
                "The project's ethics approval expires on {expires}, before the requested period ends on {period_end}."
            ));
        }
        if days > dataset.default_grant_days {
            notes.push(format!(
                "The committee usually grants {} days; it may shorten the period.",
                dataset.default_grant_days
            ));
        }
        let dua = db::dua_in_force(&mut *conn, dataset.dua_id).await?;
        if dua.is_none() {
            fit.problems.push(
                "The dataset has no data-use agreement in force yet; it cannot be requested now."
                    .to_owned(),
            );
        }
        checks.push(DatasetCheck {
            dataset: dataset.clone(),
            fit,
            dua,
            notes,
        });
    }
    Ok(checks)
}

/// Whether a typed name is a signature of `user`: their profile name, ignoring case and spacing.
pub fn is_signature(typed: &str, user: &User) -> bool {
    let normal = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    !typed.trim().is_empty() && normal(typed) == normal(&user.name)
}

/// Sends a notification to each of `people`: in the app and by e-mail.
pub async fn notify(
    tx: &mut PgConnection,
    site: &Url,
    people: &[Recipient],
    subject: &str,
    text: &str,
    link: &str,
) -> Result<(), AppError> {
    for person in people {
        db::notify(&mut *tx, person.user_id, subject, link).await?;
        mail::enqueue(
            &mut *tx,
            &Mail {
                to: person.email.clone(),
                subject: format!("{subject} — radportal"),
                body: format!("{text}\n\nOpen it: {}\n", crate::format::link(site, link)),
            },
        )
        .await?;
    }
    Ok(())
}

/// Appends an event about a request by `actor`.
async fn record(
    tx: &mut PgConnection,
    request_id: i64,
    actor: i64,
    kind: EventKind,
) -> Result<(), AppError> {
    events::append(
        tx,
        NewEvent {
            request_id: Some(request_id),
            actor_id: Some(actor),
            ..kind.into_event()
        },
    )
    .await?;
    Ok(())
}

/// The applicant of a request, as someone to notify.
fn applicant_of(request: &RequestSummary) -> [Recipient; 1] {
    [Recipient {
        user_id: request.applicant_id,
        email: request.applicant_email.clone(),
    }]
}

/// A checked cart, ready to submit.
pub struct CartSubmission<'a> {
    pub project: &'a Project,
    pub checks: &'a [DatasetCheck],
    /// The requested period, in days.
    pub days: i32,
    /// The applicant's typed full name, accepting each agreement.
    pub signature: &'a str,
    /// The request this one renews.
    pub renewal_of: Option<i64>,
}

/// What submitting a cart did.
#[derive(Debug, PartialEq, Eq)]
pub enum CartOutcome {
    /// The new requests, one per committee.
    Submitted(Vec<i64>),
    /// Another submission of the same cart got there first (a second click, another tab): nothing
    /// new was created.
    AlreadySubmitted,
}

/// Submits the cart: one request per committee, each dataset with its accepted agreement version.
/// The caller has checked the cart. However many submissions of one cart arrive at once, one creates
/// the requests: each locks the cart rows first, and the later ones find them gone.
#[tracing::instrument(skip_all, fields(user = user.id, datasets = submission.checks.len()))]
pub async fn submit_cart(
    db: &PgPool,
    site: &Url,
    user: &User,
    submission: CartSubmission<'_>,
) -> Result<CartOutcome, AppError> {
    let CartSubmission {
        project,
        checks,
        days,
        signature,
        renewal_of,
    } = submission;
    let mut tx = db.begin().await?;
    let mut wanted: Vec<i64> = checks.iter().map(|c| c.dataset.dataset_id).collect();
    wanted.sort_unstable();
    wanted.dedup();
    if db::lock_cart(&mut tx, user.id, &wanted).await? != wanted {
        return Ok(CartOutcome::AlreadySubmitted);
    }
    let mut by_dac: Vec<(i64, Vec<&DatasetCheck>)> = Vec::new();
    for check in checks {
        match by_dac
            .iter_mut()
            .find(|(dac, _)| *dac == check.dataset.dac_id)
        {
            Some((_, list)) => list.push(check),
            None => by_dac.push((check.dataset.dac_id, vec![check])),
        }
    }
    let mut created = Vec::new();
    for (dac_id, list) in by_dac {
        let request = NewRequest {
            project_id: project.id,
            applicant_id: user.id,
            dac_id,
            requested_days: days,
            renewal_of,
        };
        let id = db::create_request(&mut *tx, &request, Transition::submission()).await?;
        for check in &list {
            let dua = check.dua.as_ref().ok_or_else(|| {
                AppError::BadRequest("A dataset has no agreement in force.".to_owned())
            })?;
            let grant_days = days.min(check.dataset.default_grant_days.max(1));
            db::accept_dua(
                &mut *tx,
                id,
                check.dataset.dataset_id,
                dua,
                signature.trim(),
                grant_days,
            )
            .await?;
            record(
                &mut tx,
                id,
                user.id,
                EventKind::DuaAccepted {
                    dataset: check.dataset.title.clone(),
                    acceptance: Acceptance::of(dua, signature),
                    obligations: check.fit.obligations.clone(),
                    fit: check.fit.verdict().to_owned(),
                },
            )
            .await?;
        }
        record(
            &mut tx,
            id,
            user.id,
            EventKind::transition(Transition::submission(), None),
        )
        .await?;
        let members = db::dac_members(&mut *tx, dac_id).await?;
        let titles: Vec<&str> = list.iter().map(|c| c.dataset.title.as_str()).collect();
        notify(
            &mut tx,
            site,
            &members,
            &format!("New access request #{id}"),
            &format!(
                "{} ({}) asks for access to {} for the project “{}”.",
                user.name,
                user.email,
                titles.join(", "),
                project.title
            ),
            &format!("/requests/{id}"),
        )
        .await?;
        created.push(id);
    }
    db::remove_from_cart(&mut *tx, user.id, &wanted).await?;
    tx.commit().await?;
    Ok(CartOutcome::Submitted(created))
}

/// A refusal that tells the person what happened instead.
#[derive(Debug)]
pub enum ActError {
    /// Someone else changed the request first; the message says who did what.
    Conflict(String),
    /// Not possible in the request's state, or the input does not allow it.
    Refused(String),
    /// This person may not do this.
    Forbidden(String),
    App(AppError),
}

impl<E: Into<AppError>> From<E> for ActError {
    fn from(error: E) -> Self {
        Self::App(error.into())
    }
}

/// What happened to a request that changed under someone's feet, in words.
async fn conflict_message(conn: &mut PgConnection, id: i64) -> Result<ActError, AppError> {
    let request = db::find_request(&mut *conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let message = match (request.state, &request.decided_by_name, request.decided_at) {
        (RequestState::Approved | RequestState::Rejected, Some(who), Some(when)) => format!(
            "{who} already {} this request at {}{}. Nothing was changed by your action.",
            request.state.label().to_lowercase(),
            crate::format::datetime(when),
            request
                .decision_rationale
                .as_deref()
                .map(|r| format!(" (“{r}”)"))
                .unwrap_or_default()
        ),
        (state, _, _) => format!(
            "The request changed while you were looking at it; it is now “{}”. Please look again before acting.",
            state.label()
        ),
    };
    Ok(ActError::Conflict(message))
}

/// Makes the steps of `path` on a request seen at `version`, recording each; `message` goes with the
/// step into the final state. Returns the new version.
async fn walk(
    tx: &mut PgConnection,
    request: &RequestSummary,
    version: i32,
    path: &[Transition],
    actor: i64,
    message: Option<&str>,
) -> Result<i32, ActError> {
    let mut version = version;
    let last = path.last().map(|step| step.to());
    for step in path {
        if !db::transition(&mut *tx, request.id, version, *step).await? {
            return Err(conflict_message(tx, request.id).await?);
        }
        version += 1;
        let note = if Some(step.to()) == last {
            message
        } else {
            None
        };
        record(tx, request.id, actor, EventKind::transition(*step, note)).await?;
    }
    Ok(version)
}

/// What a reviewer does.
pub enum ReviewAction {
    Comment {
        text: String,
        internal: bool,
    },
    RequestChanges {
        message: String,
    },
    Vote {
        choice: VoteChoice,
        rationale: String,
    },
    Decide {
        approve: bool,
        rationale: String,
        grant_days: Vec<(i64, i32)>,
    },
}

/// Whether `reviewer` may act on `request`: a member of its committee (or an administrator), and not
/// the applicant or on the project's team.
pub async fn may_review(
    conn: &mut PgConnection,
    reviewer: &User,
    request: &RequestSummary,
) -> Result<Result<(), String>, AppError> {
    if !reviewer.is_admin && !db::is_dac_member(&mut *conn, reviewer.id, request.dac_id).await? {
        return Ok(Err(
            "Only members of the request's committee may review it.".to_owned(),
        ));
    }
    if request.applicant_id == reviewer.id
        || db::is_on_team(&mut *conn, request.project_id, reviewer.id).await?
    {
        return Ok(Err(
            "You are the applicant or on the project's team, so you cannot act on this request (conflict of interest).".to_owned(),
        ));
    }
    Ok(Ok(()))
}

/// A reviewer acts on a request they saw at `version`.
#[tracing::instrument(skip_all, fields(reviewer = reviewer.id, request = request_id))]
pub async fn review(
    db: &PgPool,
    site: &Url,
    reviewer: &User,
    request_id: i64,
    version: i32,
    action: ReviewAction,
) -> Result<&'static str, ActError> {
    let mut tx = db.begin().await?;
    let request = db::find_request(&mut *tx, request_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Err(reason) = may_review(&mut tx, reviewer, &request).await? {
        return Err(ActError::Forbidden(reason));
    }
    if request.version != version {
        return Err(conflict_message(&mut tx, request_id).await?);
    }
    if !request.state.is_reviewable() {
        return Err(ActError::Refused(format!(
            "The request is “{}”; reviewers can act only on submitted requests or requests in review.",
            request.state.label()
        )));
    }
    let applicant = applicant_of(&request);
    let link = format!("/requests/{request_id}");
    let outcome = match action {
        ReviewAction::Comment { text, internal } => {
            let path = request
                .state
                .reviewer_path(Action::StartReview)
                .map_err(|e| ActError::Refused(e.to_string()))?;
            walk(&mut tx, &request, version, &path, reviewer.id, None).await?;
            record(
                &mut tx,
                request_id,
                reviewer.id,
                EventKind::Comment {
                    internal,
                    text: text.clone(),
                },
            )
            .await?;
            if !internal {
                notify(
                    &mut tx,
                    site,
                    &applicant,
                    &format!("New comment on your request #{request_id}"),
                    &format!("{} commented:\n\n{text}", reviewer.name),
                    &link,
                )
                .await?;
            }
            "Your comment was added."
        }
        ReviewAction::RequestChanges { message } => {
            let path = request
                .state
                .reviewer_path(Action::RequestChanges)
                .map_err(|e| ActError::Refused(e.to_string()))?;
            walk(
                &mut tx,
                &request,
                version,
                &path,
                reviewer.id,
                Some(&message),
            )
            .await?;
            notify(
                &mut tx,
                site,
                &applicant,
                &format!("Changes requested on your request #{request_id}"),
                &format!("{} asks for changes:\n\n{message}", reviewer.name),
                &link,
            )
            .await?;
            "The applicant was asked for changes."
        }
        ReviewAction::Vote { choice, rationale } => {
            let dac = db::find_dac(&mut *tx, request.dac_id)
                .await?
                .ok_or(AppError::NotFound)?;
            if dac.policy != DacPolicy::Votes {
                return Err(ActError::Refused(
                    "This committee decides by a single member; use Decide.".to_owned(),
                ));
            }
            let path = request
                .state
                .reviewer_path(Action::StartReview)
                .map_err(|e| ActError::Refused(e.to_string()))?;
            let version = walk(&mut tx, &request, version, &path, reviewer.id, None).await?;
            if !db::cast_vote(&mut *tx, request_id, reviewer.id, choice, &rationale).await? {
                return Err(ActError::Refused(
                    "You have already voted on this request.".to_owned(),
                ));
            }
            record(
                &mut tx,
                request_id,
                reviewer.id,
                EventKind::Vote { choice, rationale },
            )
            .await?;
            let votes = db::votes(&mut *tx, request_id).await?;
            let approvals = votes
                .iter()
                .filter(|v| v.choice == VoteChoice::Approve)
                .count();
            let rejected = votes.iter().any(|v| v.choice == VoteChoice::Reject);
            let request = RequestSummary {
                state: RequestState::InReview,
                ..request
            };
            if rejected {
                decide(
                    &mut tx,
                    site,
                    reviewer,
                    &request,
                    version,
                    false,
                    "A committee member voted to reject.",
                    &[],
                )
                .await?;
                "Your vote was recorded; the request is rejected."
            } else if approvals >= usize::try_from(dac.required_votes).unwrap_or(1) {
                decide(
                    &mut tx,
                    site,
                    reviewer,
                    &request,
                    version,
                    true,
                    &format!("{approvals} approving votes."),
                    &[],
                )
                .await?;
                "Your vote was recorded; with it the request is approved."
            } else {
                "Your vote was recorded."
            }
        }
        ReviewAction::Decide {
            approve,
            rationale,
            grant_days,
        } => {
            let dac = db::find_dac(&mut *tx, request.dac_id)
                .await?
                .ok_or(AppError::NotFound)?;
            if dac.policy == DacPolicy::Votes && !reviewer.is_admin {
                return Err(ActError::Refused(format!(
                    "This committee decides by votes ({}); cast a vote instead.",
                    dac.policy_text()
                )));
            }
            let path = request
                .state
                .reviewer_path(Action::StartReview)
                .map_err(|e| ActError::Refused(e.to_string()))?;
            let version = walk(&mut tx, &request, version, &path, reviewer.id, None).await?;
            let request = RequestSummary {
                state: RequestState::InReview,
                ..request
            };
            decide(
                &mut tx,
                site,
                reviewer,
                &request,
                version,
                approve,
                &rationale,
                &grant_days,
            )
            .await?;
            if approve {
                "The request is approved and access was granted."
            } else {
                "The request is rejected."
            }
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Moves a request in review to approved (creating the grants) or rejected.
#[allow(clippy::too_many_arguments)]
async fn decide(
    tx: &mut PgConnection,
    site: &Url,
    decider: &User,
    request: &RequestSummary,
    version: i32,
    approve: bool,
    rationale: &str,
    grant_days: &[(i64, i32)],
) -> Result<(), ActError> {
    let action = if approve {
        Action::Approve
    } else {
        Action::Reject
    };
    let step = request
        .state
        .apply(action)
        .map_err(|e| ActError::Refused(e.to_string()))?;
    walk(tx, request, version, &[step], decider.id, Some(rationale)).await?;
    db::record_decision(&mut *tx, request.id, decider.id, rationale).await?;
    let link = format!("/requests/{}", request.id);
    let applicant = applicant_of(request);
    if approve {
        for (dataset_id, days) in grant_days {
            db::set_grant_days(&mut *tx, request.id, *dataset_id, *days).await?;
        }
        let datasets = db::request_datasets(&mut *tx, request.id).await?;
        let mut lines = Vec::new();
        for dataset in &datasets {
            let grant =
                db::create_grant(&mut *tx, request.id, request.applicant_id, dataset).await?;
            events::append(
                tx,
                NewEvent {
                    request_id: Some(request.id),
                    grant_id: Some(grant.id),
                    actor_id: Some(decider.id),
                    ..EventKind::GrantCreated {
                        dataset: dataset.title.clone(),
                        expires_at: grant.expires_at,
                    }
                    .into_event()
                },
            )
            .await?;
            lines.push(format!(
                "- {} until {}",
                dataset.title,
                crate::format::datetime(grant.expires_at)
            ));
        }
        notify(tx, site, &applicant, &format!("Request #{} approved", request.id), &format!("Your request was approved by {}:\n\n{}\n\n{rationale}\n\nSee “My access” for how to reach the data.", decider.name, lines.join("\n")), &link).await?;
    } else {
        notify(
            tx,
            site,
            &applicant,
            &format!("Request #{} rejected", request.id),
            &format!(
                "Your request was rejected by {}:\n\n{rationale}",
                decider.name
            ),
            &link,
        )
        .await?;
    }
    Ok(())
}

/// What an applicant does to their own request.
pub enum ApplicantAction {
    Withdraw,
    Resubmit { message: String },
    Comment { text: String },
}

/// The applicant acts on their request, seen at `version`.
#[tracing::instrument(skip_all, fields(user = user.id, request = request_id))]
pub async fn applicant_act(
    db: &PgPool,
    site: &Url,
    user: &User,
    request_id: i64,
    version: i32,
    action: ApplicantAction,
) -> Result<&'static str, ActError> {
    let mut tx = db.begin().await?;
    let request = db::find_request(&mut *tx, request_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if request.applicant_id != user.id {
        return Err(ActError::Forbidden(
            "Only the applicant can do this.".to_owned(),
        ));
    }
    if request.version != version {
        return Err(conflict_message(&mut tx, request_id).await?);
    }
    let members = db::dac_members(&mut *tx, request.dac_id).await?;
    let link = format!("/requests/{request_id}");
    let outcome = match action {
        ApplicantAction::Withdraw => {
            let step = request.state.apply(Action::Withdraw).map_err(|e| {
                ActError::Refused(format!("This request cannot be withdrawn: {e}."))
            })?;
            walk(&mut tx, &request, version, &[step], user.id, None).await?;
            "Your request was withdrawn."
        }
        ApplicantAction::Resubmit { message } => {
            let step = request.state.apply(Action::Resubmit).map_err(|e| {
                ActError::Refused(format!("This request cannot be resubmitted: {e}."))
            })?;
            walk(&mut tx, &request, version, &[step], user.id, Some(&message)).await?;
            notify(
                &mut tx,
                site,
                &members,
                &format!("Request #{request_id} resubmitted"),
                &format!("{} resubmitted the request:\n\n{message}", user.name),
                &link,
            )
            .await?;
            "Your request was resubmitted to the committee."
        }
        ApplicantAction::Comment { text } => {
            if !request.state.is_open() {
                return Err(ActError::Refused(
                    "The request is finished; comments are closed.".to_owned(),
                ));
            }
            record(
                &mut tx,
                request_id,
                user.id,
                EventKind::Comment {
                    internal: false,
                    text: text.clone(),
                },
            )
            .await?;
            notify(
                &mut tx,
                site,
                &members,
                &format!("New comment on request #{request_id}"),
                &format!("{} commented:\n\n{text}", user.name),
                &link,
            )
            .await?;
            "Your comment was added."
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Revokes a grant (a member of the granting committee or an administrator), with a reason.
#[tracing::instrument(skip_all, fields(actor = actor.id, grant = grant_id))]
pub async fn revoke(
    db: &PgPool,
    site: &Url,
    actor: &User,
    grant_id: i64,
    reason: &str,
) -> Result<(), ActError> {
    let mut tx = db.begin().await?;
    let grant = db::find_grant(&mut *tx, grant_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !actor.is_admin && !db::is_dac_member(&mut *tx, actor.id, grant.dac_id).await? {
        return Err(ActError::Forbidden(
            "Only a member of the granting committee or an administrator can revoke access."
                .to_owned(),
        ));
    }
    // Conflict of interest holds for every committee action: the holder's own team may not revoke
    // (nor keep) their access.
    let request = db::find_request(&mut *tx, grant.request_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Err(reason) = may_review(&mut tx, actor, &request).await? {
        return Err(ActError::Forbidden(reason));
    }
    if !db::revoke_grant(&mut *tx, grant_id, actor.id, reason).await? {
        return Err(ActError::Conflict(
            "This access was already revoked.".to_owned(),
        ));
    }
    // The revocation is recorded on the grant alone, as it always was: the chain hashes these ids.
    events::append(
        &mut tx,
        NewEvent {
            grant_id: Some(grant_id),
            actor_id: Some(actor.id),
            ..EventKind::GrantRevoked {
                dataset: grant.title.clone(),
                reason: reason.to_owned(),
            }
            .into_event()
        },
    )
    .await?;
    notify(
        &mut tx,
        site,
        &[Recipient {
            user_id: grant.user_id,
            email: grant.holder_email.clone(),
        }],
        &format!("Access to {} revoked", grant.title),
        &format!(
            "{} revoked your access to {}:\n\n{reason}",
            actor.name, grant.title
        ),
        "/access",
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The applicant accepts the agreement version now in force for a grant that requires it.
#[tracing::instrument(skip_all, fields(user = user.id, grant = grant_id))]
pub async fn reaccept(
    db: &PgPool,
    user: &User,
    grant_id: i64,
    signature: &str,
) -> Result<(), ActError> {
    let mut tx = db.begin().await?;
    let grant = db::find_grant(&mut *tx, grant_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if grant.user_id != user.id {
        return Err(ActError::App(AppError::NotFound));
    }
    if !is_signature(signature, user) {
        return Err(ActError::Refused(format!(
            "Type your full name exactly as in your profile ({}) to accept.",
            user.name
        )));
    }
    let no_agreement = || ActError::Refused("No agreement is in force.".to_owned());
    let dua_id = db::governing_dua(&mut *tx, grant.dataset_id)
        .await?
        .ok_or_else(no_agreement)?;
    let dua = db::dua_in_force(&mut *tx, dua_id)
        .await?
        .ok_or_else(no_agreement)?;
    if !db::reaccept_grant(&mut *tx, grant_id, dua.id).await? {
        return Err(ActError::Conflict(
            "This access does not need a new acceptance.".to_owned(),
        ));
    }
    events::append(
        &mut tx,
        NewEvent {
            request_id: Some(grant.request_id),
            grant_id: Some(grant_id),
            actor_id: Some(user.id),
            ..EventKind::GrantReaccepted {
                dataset: grant.title.clone(),
                acceptance: Acceptance::of(&dua, signature),
            }
            .into_event()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Starts the renewal of a grant of `user_id`: the datasets of the request that granted it go back
/// into the cart. Returns that request, whose project and period the new one starts from.
pub async fn start_renewal(
    db: &PgPool,
    user_id: i64,
    grant_id: i64,
) -> Result<RequestSummary, AppError> {
    let grant = db::find_grant(db, grant_id)
        .await?
        .filter(|grant| grant.user_id == user_id)
        .ok_or(AppError::NotFound)?;
    let request = db::find_request(db, grant.request_id)
        .await?
        .ok_or(AppError::NotFound)?;
    db::add_request_to_cart(db, user_id, request.id).await?;
    Ok(request)
}

/// Today's date in UTC.
pub fn today() -> Date {
    OffsetDateTime::now_utc().date()
}
