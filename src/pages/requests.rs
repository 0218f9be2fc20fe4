//! Requesting access: the cart and its pre-submission check, the researcher's requests, the request
//! page with its timeline and actions, and the reviewers' queue.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::access::attachments;
use crate::access::db::{self, QueueFilter, StateCount};
use crate::access::fit::{self, Fit};
use crate::access::model::{
    Dac, DacPolicy, Governed, Grant, GrantStatus, Member, Project, RequestDataset, RequestSummary,
    Vote, VoteChoice,
};
use crate::access::state::RequestState;
use crate::access::timeline::Event;
use crate::access::workflow::{
    self, ACCESS_PERIOD_DAYS, ActError, ApplicantAction, DEFAULT_ACCESS_DAYS, DatasetCheck,
    MAX_MESSAGE_CHARS, ReviewAction,
};
use crate::auth::model::{Credential, User};
use crate::error::AppError;
use crate::format::datetime;
use crate::web::AppState;
use crate::web::extract::{CurrentUser, MaybeUser};
use crate::web::{ErrorPage, Layout, Nav, Notice, render};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AddForm {
    dataset: String,
}

/// "Request access" on a dataset page: into the cart (visitors sign in first).
pub async fn add(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Form(form): Form<AddForm>,
) -> Result<Response, AppError> {
    let governed = db::governed(&state.db, &form.dataset)
        .await?
        .ok_or_else(|| {
            AppError::BadRequest("That dataset cannot be requested through this portal.".to_owned())
        })?;
    let Some(user) = user else {
        let next = format!("/datasets/{}", governed.slug);
        let target = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &next)
            .finish();
        return Ok(Redirect::to(&format!("/sign-in?{target}")).into_response());
    };
    db::add_to_cart(&state.db, user.id, governed.dataset_id).await?;
    Ok(Redirect::to("/cart").into_response())
}

/// Takes a dataset out of the cart.
pub async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<AddForm>,
) -> Result<Response, AppError> {
    if let Some(governed) = db::governed(&state.db, &form.dataset).await? {
        db::remove_from_cart(&state.db, user.id, &[governed.dataset_id]).await?;
    }
    Ok(Redirect::to("/cart").into_response())
}

#[derive(Template)]
#[template(path = "access/cart.html")]
pub struct CartPage {
    pub layout: Layout,
    pub user: User,
    pub projects: Vec<Project>,
    pub project: Option<Project>,
    pub days: i32,
    pub checks: Vec<DatasetCheck>,
    pub datasets: Vec<Governed>,
    pub signatures: Vec<(i64, String)>,
    pub errors: Vec<String>,
    pub renewal_of: Option<i64>,
    pub committees: usize,
}

impl CartPage {
    fn signature(&self, dataset_id: &i64) -> String {
        self.signatures
            .iter()
            .find(|(id, _)| id == dataset_id)
            .map(|(_, name)| name.clone())
            .unwrap_or_default()
    }

    fn any_obligations(&self) -> bool {
        self.checks.iter().any(|c| !c.fit.obligations.is_empty())
    }

    fn blocked(&self) -> bool {
        self.checks.iter().any(DatasetCheck::blocks)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CartParams {
    project: Option<String>,
    days: Option<String>,
    renewal_of: Option<String>,
}

/// Days asked for: within the allowed access periods, a year by default.
fn parse_days(raw: Option<&str>) -> Result<i32, String> {
    match raw.map(str::trim).filter(|d| !d.is_empty()) {
        None => Ok(DEFAULT_ACCESS_DAYS),
        Some(raw) => raw
            .parse::<i32>()
            .ok()
            .filter(|d| ACCESS_PERIOD_DAYS.contains(d))
            .ok_or_else(|| {
                format!(
                    "The access period must be a number of days from {} to {}.",
                    ACCESS_PERIOD_DAYS.start(),
                    ACCESS_PERIOD_DAYS.end()
                )
            }),
    }
}

#[allow(clippy::too_many_arguments)]
async fn cart_page(
    state: &AppState,
    user: User,
    project_id: Option<i64>,
    days: i32,
    signatures: Vec<(i64, String)>,
    errors: Vec<String>,
    renewal_of: Option<i64>,
) -> Result<CartPage, AppError> {
    let datasets = db::cart(&state.db, user.id).await?;
    let projects = db::projects_of(&state.db, user.id).await?;
    let project = project_id
        .and_then(|id| projects.iter().find(|p| p.id == id).cloned())
        .or_else(|| (projects.len() == 1).then(|| projects[0].clone()));
    let checks = match &project {
        Some(project) => {
            let credentials = crate::auth::db::list_credentials(&state.db, user.id).await?;
            workflow::check_cart(&state.db, &user, project, &credentials, &datasets, days).await?
        }
        None => Vec::new(),
    };
    let mut committees: Vec<i64> = datasets.iter().map(|d| d.dac_id).collect();
    committees.sort_unstable();
    committees.dedup();
    Ok(CartPage {
        layout: Layout::new("Request access", Nav::None).with_user(Some(&user)),
        projects,
        project,
        days,
        committees: committees.len(),
        checks,
        datasets,
        signatures,
        errors,
        renewal_of,
        user,
    })
}

/// The cart with its pre-submission check against the chosen project.
pub async fn cart(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(params): Query<CartParams>,
) -> Result<Response, AppError> {
    let mut errors = Vec::new();
    let days = parse_days(params.days.as_deref()).unwrap_or_else(|message| {
        errors.push(message);
        DEFAULT_ACCESS_DAYS
    });
    let project = params.project.as_deref().and_then(|p| p.parse().ok());
    let renewal_of = params.renewal_of.as_deref().and_then(|p| p.parse().ok());
    render(&cart_page(&state, user, project, days, Vec::new(), errors, renewal_of).await?)
}

/// Submits the cart after checking everything again on the server.
pub async fn submit(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut errors = Vec::new();
    let days = parse_days(field("days")).unwrap_or_else(|message| {
        errors.push(message);
        DEFAULT_ACCESS_DAYS
    });
    let project_id: Option<i64> = field("project").and_then(|p| p.parse().ok());
    let renewal_of: Option<i64> = field("renewal_of").and_then(|p| p.parse().ok());
    let signatures: Vec<(i64, String)> = fields
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("sign_")
                .and_then(|id| id.parse().ok())
                .map(|id| (id, v.clone()))
        })
        .collect();
    let acknowledged = field("acknowledge").is_some();
    let page = cart_page(
        &state,
        user.clone(),
        project_id,
        days,
        signatures.clone(),
        Vec::new(),
        renewal_of,
    )
    .await?;
    let Some(project) = page.project.clone().filter(|p| Some(p.id) == project_id) else {
        errors.push("Choose the project the data is for.".to_owned());
        return refuse(page, errors);
    };
    if page.checks.is_empty() {
        errors
            .push("Your cart is empty: add controlled datasets from their pages first.".to_owned());
    }
    if page.blocked() {
        errors.push("Some datasets do not fit the project; see the reasons below, change the project or remove them.".to_owned());
    }
    for check in &page.checks {
        let typed = page.signature(&check.dataset.dataset_id);
        if !workflow::is_signature(&typed, &user) {
            errors.push(format!(
                "To accept the agreement for {}, type your full name exactly as in your profile ({}).",
                check.dataset.title, user.name
            ));
        }
    }
    if page.any_obligations() && !acknowledged {
        errors
            .push("Confirm that you will meet the conditions listed for the datasets.".to_owned());
    }
    if let Some(old) = renewal_of
        && db::find_request(&state.db, old)
            .await?
            .is_none_or(|r| r.applicant_id != user.id)
    {
        errors.push("The request being renewed is not yours.".to_owned());
    }
    if !errors.is_empty() {
        return refuse(page, errors);
    }
    let signature = page.signature(&page.checks[0].dataset.dataset_id);
    let created = workflow::submit_cart(
        &state.db,
        &state.config.base_url,
        &user,
        workflow::CartSubmission {
            project: &project,
            checks: &page.checks,
            days,
            signature: &signature,
            renewal_of,
        },
    )
    .await?;
    Ok(match created {
        workflow::CartOutcome::Submitted(created) => {
            let ids: Vec<String> = created.iter().map(|id| id.to_string()).collect();
            Redirect::to(&format!("/requests?submitted={}", ids.join(","))).into_response()
        }
        // A second click (or another tab) on a cart that was just submitted: show the requests.
        workflow::CartOutcome::AlreadySubmitted => Redirect::to("/requests").into_response(),
    })
}

fn refuse(mut page: CartPage, errors: Vec<String>) -> Result<Response, AppError> {
    page.errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

#[derive(Template)]
#[template(path = "access/requests.html")]
pub struct RequestsPage {
    pub layout: Layout,
    pub requests: Vec<RequestSummary>,
    pub submitted: Vec<i64>,
}

impl RequestsPage {
    fn when(&self, at: &time::OffsetDateTime) -> String {
        datetime(*at)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RequestsParams {
    submitted: String,
}

/// The researcher's requests and those of their projects' teams.
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(params): Query<RequestsParams>,
) -> Result<Response, AppError> {
    render(&RequestsPage {
        layout: Layout::new("Your requests", Nav::None).with_user(Some(&user)),
        requests: db::requests_of(&state.db, user.id).await?,
        submitted: params
            .submitted
            .split(',')
            .filter_map(|id| id.parse().ok())
            .collect(),
    })
}

/// How the viewer stands to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// The applicant (or someone on the project's team).
    Team,
    /// A committee member or administrator who may act on it.
    Reviewer,
    /// A committee member or administrator with a conflict of interest: may read, not act.
    Conflicted,
}

#[derive(Template)]
#[template(path = "access/request.html")]
pub struct RequestPage {
    pub layout: Layout,
    pub request: RequestSummary,
    pub viewer: Viewer,
    pub is_applicant: bool,
    pub conflict: Option<String>,
    pub project: Project,
    pub members: Vec<Member>,
    pub datasets: Vec<RequestDataset>,
    pub fits: Vec<Fit>,
    pub applicant: User,
    pub credentials: Vec<Credential>,
    pub earlier: Vec<RequestSummary>,
    pub votes: Vec<Vote>,
    pub timeline: Vec<Event>,
    pub attachments: Vec<attachments::Listed>,
    pub grants: Vec<Grant>,
    pub dac: Dac,
    pub today: time::Date,
    pub now: time::OffsetDateTime,
}

impl RequestPage {
    fn when(&self, at: &time::OffsetDateTime) -> String {
        datetime(*at)
    }

    fn fit_of(&self, index: &usize) -> Option<&Fit> {
        self.fits.get(*index)
    }

    fn grant_status(&self, grant: &Grant) -> GrantStatus {
        grant.status(self.now)
    }

    fn votes_policy(&self) -> bool {
        self.dac.policy == DacPolicy::Votes
    }

    fn can_review(&self) -> bool {
        self.viewer == Viewer::Reviewer && self.request.state.is_reviewable()
    }
}

/// Who may see a request: its team, its committee and administrators. Others are told it does not exist.
async fn viewer(
    state: &AppState,
    user: &User,
    request: &RequestSummary,
) -> Result<(Viewer, Option<String>), AppError> {
    let on_team = request.applicant_id == user.id
        || db::is_on_team(&state.db, request.project_id, user.id).await?;
    let on_dac = user.is_admin || db::is_dac_member(&state.db, user.id, request.dac_id).await?;
    match (on_dac, on_team) {
        (true, false) => Ok((Viewer::Reviewer, None)),
        (true, true) => Ok((
            Viewer::Conflicted,
            Some("You are the applicant or on the project's team, so you cannot act on this request as a reviewer.".to_owned()),
        )),
        (false, true) => Ok((Viewer::Team, None)),
        (false, false) => Err(AppError::NotFound),
    }
}

/// A request with its timeline and the actions the viewer may take.
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    notice: Option<Notice>,
) -> Result<Response, AppError> {
    let request = db::find_request(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let (viewer, conflict) = viewer(&state, &user, &request).await?;
    let project = db::find_project(&state.db, request.project_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let datasets = db::request_datasets(&state.db, id).await?;
    let period_end = request.submitted_at.unwrap_or(request.created_at).date()
        + time::Duration::days(i64::from(request.requested_days));
    let fits = datasets
        .iter()
        .map(|d| {
            fit::check(
                &d.data_use_limitations,
                &d.conditions,
                &project.research_use(),
                period_end,
            )
        })
        .collect();
    let applicant = crate::auth::db::find_user(&state.db, request.applicant_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let internal = viewer != Viewer::Team;
    let now = time::OffsetDateTime::now_utc();
    render(&RequestPage {
        layout: Layout::new(format!("Request #{id}"), Nav::None)
            .with_user(Some(&user))
            .with_notice(notice),
        is_applicant: request.applicant_id == user.id,
        conflict,
        members: db::members(&state.db, project.id).await?,
        fits,
        credentials: crate::auth::db::list_credentials(&state.db, applicant.id).await?,
        earlier: if internal {
            db::earlier_requests(&state.db, applicant.id, id).await?
        } else {
            Vec::new()
        },
        votes: if internal {
            db::votes(&state.db, id).await?
        } else {
            Vec::new()
        },
        timeline: db::timeline(&state.db, id, internal).await?,
        attachments: attachments::for_request(&state.db, id).await?,
        grants: db::grants_of_request(&state.db, id).await?,
        dac: db::find_dac(&state.db, request.dac_id)
            .await?
            .ok_or(AppError::NotFound)?,
        today: now.date(),
        now,
        viewer,
        applicant,
        project,
        datasets,
        request,
    })
}

/// Back to the request, with the notice for what the workflow answered.
fn done(id: i64, message: &str) -> Response {
    let path = format!("/requests/{id}");
    match Notice::from_text(message) {
        Some(notice) => Redirect::to(&notice.on(&path)),
        None => Redirect::to(&path),
    }
    .into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ActForm {
    version: String,
    action: String,
    message: String,
    internal: Option<String>,
    decision: String,
}

fn text(raw: &str, what: &str, max: usize) -> Result<String, ActError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(ActError::Refused(format!("Write {what}.")));
    }
    if text.chars().count() > max {
        return Err(ActError::Refused(format!(
            "Keep {what} under {max} characters."
        )));
    }
    Ok(text.to_owned())
}

fn version(form: &ActForm) -> Result<i32, ActError> {
    form.version
        .parse()
        .map_err(|_| ActError::Refused("The form is out of date; reload the page.".to_owned()))
}

/// A reviewer's action: comment, request changes, vote, decide.
pub async fn review(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let form = ActForm {
        version: get("version"),
        action: get("action"),
        message: get("message"),
        internal: fields
            .iter()
            .any(|(k, _)| k == "internal")
            .then(String::new),
        decision: get("decision"),
    };
    let grant_days: Result<Vec<(i64, i32)>, ActError> = fields
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("days_").map(|id| (id, v)))
        .map(|(id, v)| {
            let id = id
                .parse()
                .map_err(|_| ActError::Refused("Unknown dataset.".to_owned()))?;
            let days = v
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|d| ACCESS_PERIOD_DAYS.contains(d))
                .ok_or_else(|| {
                    ActError::Refused(format!(
                        "Access periods must be a number of days from {} to {}.",
                        ACCESS_PERIOD_DAYS.start(),
                        ACCESS_PERIOD_DAYS.end()
                    ))
                })?;
            Ok((id, days))
        })
        .collect();
    // Outsiders learn nothing, not even that the form is wrong.
    let request = db::find_request(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    viewer(&state, &user, &request).await?;
    let result = async {
        let version = version(&form)?;
        let action = match form.action.as_str() {
            "comment" => ReviewAction::Comment {
                text: text(&form.message, "a comment", MAX_MESSAGE_CHARS)?,
                internal: form.internal.is_some(),
            },
            "changes" => ReviewAction::RequestChanges {
                message: text(&form.message, "what should change", MAX_MESSAGE_CHARS)?,
            },
            "vote" => ReviewAction::Vote {
                choice: match form.decision.as_str() {
                    "approve" => VoteChoice::Approve,
                    "reject" => VoteChoice::Reject,
                    _ => return Err(ActError::Refused("Choose approve or reject.".to_owned())),
                },
                rationale: text(&form.message, "the reason for your vote", MAX_MESSAGE_CHARS)?,
            },
            "decide" => ReviewAction::Decide {
                approve: match form.decision.as_str() {
                    "approve" => true,
                    "reject" => false,
                    _ => return Err(ActError::Refused("Choose approve or reject.".to_owned())),
                },
                rationale: text(
                    &form.message,
                    "the rationale for the decision",
                    MAX_MESSAGE_CHARS,
                )?,
                grant_days: grant_days?,
            },
            _ => return Err(ActError::Refused("Choose an action.".to_owned())),
        };
        workflow::review(
            &state.db,
            &state.config.base_url,
            &user,
            id,
            version,
            action,
        )
        .await
    }
    .await;
    Ok(match result {
        Ok(message) => done(id, message),
        Err(error) => error.into_response(),
    })
}

/// The applicant's actions: withdraw, resubmit after changes, comment.
pub async fn applicant(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    Form(form): Form<ActForm>,
) -> Result<Response, AppError> {
    let request = db::find_request(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    viewer(&state, &user, &request).await?;
    let result = async {
        let version = version(&form)?;
        let action = match form.action.as_str() {
            "withdraw" => ApplicantAction::Withdraw,
            "resubmit" => ApplicantAction::Resubmit {
                message: text(&form.message, "what you changed", MAX_MESSAGE_CHARS)?,
            },
            "comment" => ApplicantAction::Comment {
                text: text(&form.message, "a comment", MAX_MESSAGE_CHARS)?,
            },
            _ => return Err(ActError::Refused("Choose an action.".to_owned())),
        };
        // The request was read and its viewer checked above; only the applicant may act here.
        if request.applicant_id != user.id {
            return Err(ActError::Forbidden(
                "Only the applicant can do this.".to_owned(),
            ));
        }
        workflow::applicant_act(
            &state.db,
            &state.config.base_url,
            &user,
            id,
            version,
            action,
        )
        .await
    }
    .await;
    Ok(match result {
        Ok(message) => done(id, message),
        Err(error) => error.into_response(),
    })
}

/// Adds a supporting document to a request (its team or its committee).
pub async fn attach(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let request = db::find_request(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    viewer(&state, &user, &request).await?;
    let (name, bytes) = match super::attachments::read_file(multipart, "file").await {
        Ok(file) => file,
        Err(message) => {
            return Ok(ErrorPage::new(StatusCode::UNPROCESSABLE_ENTITY, message).into_response());
        }
    };
    attachments::attach_to_request(&state.db, user.id, id, &name, &bytes).await?;
    Ok(done(id, Notice::FileAttached.text()))
}

#[derive(Template)]
#[template(path = "access/queue.html")]
pub struct QueuePage {
    pub layout: Layout,
    pub requests: Vec<RequestSummary>,
    pub counts: Vec<StateCount>,
    pub dacs: Vec<Dac>,
    pub state_filter: String,
    pub dataset: String,
    pub older_than: String,
    pub now: time::OffsetDateTime,
}

impl QueuePage {
    fn age_days(&self, request: &RequestSummary) -> i64 {
        request
            .submitted_at
            .map_or(0, |at| (self.now - at).whole_days())
    }

    fn count(&self, state: RequestState) -> i64 {
        self.counts
            .iter()
            .find(|count| count.state == state)
            .map_or(0, |count| count.count)
    }
}

/// The largest "older than" filter of the queue, in days.
const MAX_QUEUE_AGE_DAYS: i32 = 3650;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct QueueParams {
    state: String,
    dataset: String,
    older_than: String,
}

/// The reviewers' queue: requests for the committees they sit on, oldest first.
pub async fn queue(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(params): Query<QueueParams>,
) -> Result<Response, AppError> {
    let dacs = db::dacs_of(&state.db, user.id).await?;
    if dacs.is_empty() && !user.is_admin {
        return Err(AppError::Forbidden(
            "The review queue is for members of a Data Access Committee.".to_owned(),
        ));
    }
    let states = match params.state.as_str() {
        "" | "open" => vec![
            RequestState::Submitted,
            RequestState::InReview,
            RequestState::ChangesRequested,
        ],
        "all" => RequestState::ALL
            .into_iter()
            .filter(|s| *s != RequestState::Draft)
            .collect(),
        other => vec![
            RequestState::parse(other)
                .ok_or_else(|| AppError::BadRequest(format!("Unknown state “{other}”.")))?,
        ],
    };
    let older_than = match params.older_than.trim() {
        "" => None,
        raw => Some(
            raw.parse::<i32>()
                .ok()
                .filter(|d| (0..=MAX_QUEUE_AGE_DAYS).contains(d))
                .ok_or_else(|| {
                    AppError::BadRequest("“Older than” must be a number of days.".to_owned())
                })?,
        ),
    };
    let dataset = Some(params.dataset.trim().to_owned()).filter(|d| !d.is_empty());
    let (requests, counts) = db::queue(
        &state.db,
        user.id,
        user.is_admin,
        &QueueFilter {
            states,
            dataset,
            older_than_days: older_than,
        },
    )
    .await?;
    render(&QueuePage {
        layout: Layout::new("Review queue", Nav::None).with_user(Some(&user)),
        requests,
        counts,
        dacs,
        state_filter: params.state,
        dataset: params.dataset,
        older_than: params.older_than,
        now: time::OffsetDateTime::now_utc(),
    })
}
