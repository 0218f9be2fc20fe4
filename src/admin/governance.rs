//! Governance screens: Data Access Committees (members, decision policy, governed datasets) and
//! data-use agreements (new versions with an effective date and a grace period for re-acceptance).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::access::db::{self as access, admin as db};
use crate::access::governance::{
    self, Creation, DEFAULT_GRACE_DAYS, GRACE_DAYS, Governance, GovernanceSet, MAX_DUA_CHARS,
    MemberAdded, NewVersion, REQUIRED_VOTES,
};
use crate::access::model::{Dac, DacPolicy, DuaVersion};
use crate::access::workflow::ACCESS_PERIOD_DAYS;
use crate::auth::model::User;
use crate::catalog::validate::is_valid_slug;
use crate::error::AppError;
use crate::validation::{FieldErrors, parse_date};
use crate::web::AppState;
use crate::web::extract::AdminUser;
use crate::web::{Layout, Nav, render};

/// The longest committee or agreement name, in characters (the database checks the same).
const MAX_NAME_CHARS: usize = 200;

/// The longest committee description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 5000;

/// The committee form as typed.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct DacForm {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub policy: String,
    pub required_votes: String,
}

impl DacForm {
    /// Checks the form; the saved fields, or the errors by field.
    fn check(&self, errors: &mut FieldErrors, new: bool) -> Option<db::DacFields<'_>> {
        if new && !is_valid_slug(self.slug.trim()) {
            errors.add(
                "slug",
                "Use lower-case letters, digits and single hyphens, e.g. thoracic-dac.",
            );
        }
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            errors.add(
                "name",
                format!("Give the committee a name of at most {MAX_NAME_CHARS} characters."),
            );
        }
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            errors.add(
                "description",
                format!("Use at most {MAX_DESCRIPTION_CHARS} characters."),
            );
        }
        let policy = DacPolicy::parse(&self.policy);
        if policy.is_none() {
            errors.add("policy", "Choose how the committee decides.");
        }
        let votes = if policy == Some(DacPolicy::Votes) {
            match self.required_votes.trim().parse::<i32>() {
                Ok(n) if REQUIRED_VOTES.contains(&n) => n,
                _ => {
                    errors.add(
                        "required_votes",
                        format!(
                            "Give the number of approving votes needed, {} to {}.",
                            REQUIRED_VOTES.start(),
                            REQUIRED_VOTES.end()
                        ),
                    );
                    1
                }
            }
        } else {
            1
        };
        policy
            .filter(|_| errors.is_empty())
            .map(|policy| db::DacFields {
                name,
                description: self.description.trim(),
                policy,
                required_votes: votes,
            })
    }

    fn from_dac(dac: &Dac) -> Self {
        Self {
            slug: dac.slug.clone(),
            name: dac.name.clone(),
            description: dac.description.clone(),
            policy: dac.policy.as_str().to_owned(),
            required_votes: dac.required_votes.to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/committees.html")]
pub struct CommitteesPage {
    pub layout: Layout,
    pub dacs: Vec<db::DacRow>,
    pub form: DacForm,
    pub errors: FieldErrors,
}

async fn committees_page(
    state: &AppState,
    admin: &User,
    form: DacForm,
    errors: FieldErrors,
) -> Result<CommitteesPage, AppError> {
    Ok(CommitteesPage {
        layout: Layout::new("Committees", Nav::None).with_user(Some(admin)),
        dacs: db::dacs(&state.db).await?,
        form,
        errors,
    })
}

/// The committees, with the form for a new one.
pub async fn committees(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Response, AppError> {
    let form = DacForm {
        policy: "single".to_owned(),
        required_votes: "2".to_owned(),
        ..DacForm::default()
    };
    render(&committees_page(&state, &admin, form, FieldErrors::default()).await?)
}

/// Creates a committee.
pub async fn create_committee(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Form(form): Form<DacForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    if let Some(fields) = form.check(&mut errors, true) {
        match governance::create_committee(&state.db, admin.id, form.slug.trim(), &fields).await? {
            Creation::Created(id) => {
                return Ok(Redirect::to(&format!("/admin/committees/{id}")).into_response());
            }
            Creation::SlugTaken => errors.add("slug", "Another committee has this identifier."),
        }
    }
    let page = committees_page(&state, &admin, form, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

#[derive(Template)]
#[template(path = "admin/committee.html")]
pub struct CommitteePage {
    pub layout: Layout,
    pub dac: Dac,
    pub form: DacForm,
    pub errors: FieldErrors,
    pub members: Vec<db::DacMember>,
    pub governed: Vec<db::GovernedDataset>,
    pub duas: Vec<db::DuaSummary>,
    pub message: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MessageParams {
    message: Option<String>,
}

async fn committee_page(
    state: &AppState,
    admin: &User,
    id: i64,
    form: Option<DacForm>,
    errors: FieldErrors,
    message: Option<String>,
) -> Result<CommitteePage, AppError> {
    let dac = access::find_dac(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let form = form.unwrap_or_else(|| DacForm::from_dac(&dac));
    Ok(CommitteePage {
        layout: Layout::new(dac.name.clone(), Nav::None).with_user(Some(admin)),
        members: db::members(&state.db, id).await?,
        governed: db::governed_by(&state.db, id).await?,
        duas: db::duas(&state.db).await?,
        dac,
        form,
        errors,
        message: message
            .as_deref()
            .and_then(CommitteeMessage::from_code)
            .map(CommitteeMessage::text),
    })
}

/// A committee: its members, governed datasets and decision policy.
pub async fn committee(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Query(params): Query<MessageParams>,
) -> Result<Response, AppError> {
    render(
        &committee_page(
            &state,
            &admin,
            id,
            None,
            FieldErrors::default(),
            params.message,
        )
        .await?,
    )
}

/// What the committee page says after an action. The link carries its code, never its text, so no
/// one can send an administrator a link that makes the page say something else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CommitteeMessage {
    Saved,
    MemberAdded,
    NoAccount,
    MemberRemoved,
    ChooseAgreement,
    PeriodOutOfRange,
    Governed,
    NoSuchDataset,
}

impl CommitteeMessage {
    const ALL: [Self; 8] = [
        Self::Saved,
        Self::MemberAdded,
        Self::NoAccount,
        Self::MemberRemoved,
        Self::ChooseAgreement,
        Self::PeriodOutOfRange,
        Self::Governed,
        Self::NoSuchDataset,
    ];

    fn code(self) -> &'static str {
        match self {
            Self::Saved => "saved",
            Self::MemberAdded => "member_added",
            Self::NoAccount => "no_account",
            Self::MemberRemoved => "member_removed",
            Self::ChooseAgreement => "choose_agreement",
            Self::PeriodOutOfRange => "period_out_of_range",
            Self::Governed => "governed",
            Self::NoSuchDataset => "no_such_dataset",
        }
    }

    fn text(self) -> String {
        match self {
            Self::Saved => "The committee was saved.".to_owned(),
            Self::MemberAdded => "The member was added.".to_owned(),
            Self::NoAccount => {
                "No active account has that e-mail address; the person must register first."
                    .to_owned()
            }
            Self::MemberRemoved => "The member was removed.".to_owned(),
            Self::ChooseAgreement => "Choose the agreement.".to_owned(),
            Self::PeriodOutOfRange => format!(
                "The default access period must be {} to {} days.",
                ACCESS_PERIOD_DAYS.start(),
                ACCESS_PERIOD_DAYS.end()
            ),
            Self::Governed => "The dataset is now governed by this committee.".to_owned(),
            Self::NoSuchDataset => {
                "No controlled dataset has that catalog id (set its access level to controlled first)."
                    .to_owned()
            }
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|message| message.code() == code)
    }
}

fn back(id: i64, message: CommitteeMessage) -> Response {
    Redirect::to(&format!(
        "/admin/committees/{id}?message={}",
        message.code()
    ))
    .into_response()
}

/// Saves a committee's name, description and decision policy.
pub async fn update_committee(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Form(form): Form<DacForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    match form.check(&mut errors, false) {
        Some(fields) => governance::update_committee(&state.db, admin.id, id, &fields).await?,
        None => {
            let page = committee_page(&state, &admin, id, Some(form), errors, None).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    }
    Ok(back(id, CommitteeMessage::Saved))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MemberForm {
    email: String,
}

/// Adds a member to a committee, by the address of their account.
pub async fn add_member(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Form(form): Form<MemberForm>,
) -> Result<Response, AppError> {
    Ok(
        match governance::add_member(&state.db, admin.id, id, form.email.trim()).await? {
            MemberAdded::Added(_) => back(id, CommitteeMessage::MemberAdded),
            MemberAdded::NoAccount => back(id, CommitteeMessage::NoAccount),
        },
    )
}

/// Takes a member off a committee.
pub async fn remove_member(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path((id, user_id)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    governance::remove_member(&state.db, admin.id, id, user_id).await?;
    Ok(back(id, CommitteeMessage::MemberRemoved))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct GovernanceForm {
    dataset: String,
    dua: String,
    days: String,
    credentials: String,
}

/// Puts a controlled dataset under this committee and an agreement.
pub async fn govern(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Form(form): Form<GovernanceForm>,
) -> Result<Response, AppError> {
    access::find_dac(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let Some(dua) = form.dua.parse::<i64>().ok() else {
        return Ok(back(id, CommitteeMessage::ChooseAgreement));
    };
    let Some(days) = form
        .days
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|d| ACCESS_PERIOD_DAYS.contains(d))
    else {
        return Ok(back(id, CommitteeMessage::PeriodOutOfRange));
    };
    let credentials: Vec<String> = form
        .credentials
        .split(',')
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    let governance = Governance {
        dataset: form.dataset.trim(),
        dua_id: dua,
        default_days: days,
        required_credentials: &credentials,
    };
    Ok(
        match governance::set_governance(&state.db, admin.id, id, &governance).await? {
            GovernanceSet::Set => back(id, CommitteeMessage::Governed),
            GovernanceSet::NoSuchDataset => back(id, CommitteeMessage::NoSuchDataset),
        },
    )
}

/// The agreement form as typed (a new agreement, or a new version).
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct DuaForm {
    pub slug: String,
    pub title: String,
    pub body: String,
    pub effective_on: String,
    pub grace_days: String,
}

#[derive(Template)]
#[template(path = "admin/agreements.html")]
pub struct AgreementsPage {
    pub layout: Layout,
    pub duas: Vec<db::DuaSummary>,
    pub form: DuaForm,
    pub errors: FieldErrors,
}

/// The agreements, with the form for a new one.
pub async fn agreements(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Response, AppError> {
    render(&AgreementsPage {
        layout: Layout::new("Agreements", Nav::None).with_user(Some(&admin)),
        duas: db::duas(&state.db).await?,
        form: DuaForm::default(),
        errors: FieldErrors::default(),
    })
}

/// Checks the version part of the form: the text, its effective date and the grace period.
fn check_version<'a>(form: &'a DuaForm, errors: &mut FieldErrors) -> Option<(NewVersion<'a>, i32)> {
    let body = form.body.trim();
    if body.is_empty() || body.chars().count() > MAX_DUA_CHARS {
        errors.add(
            "body",
            format!(
                "Write the agreement (Markdown, at most {} characters).",
                crate::format::thousands(MAX_DUA_CHARS as i64)
            ),
        );
    }
    let today = time::OffsetDateTime::now_utc().date();
    let effective = match parse_date(&form.effective_on) {
        Ok(date) if governance::effective_date_ok(date, today) => Some(date),
        Ok(_) => {
            errors.add("effective_on", "A new version takes effect today or later.");
            None
        }
        Err(message) => {
            errors.add("effective_on", message);
            None
        }
    };
    let grace = match form.grace_days.trim() {
        "" => Some(DEFAULT_GRACE_DAYS),
        raw => raw.parse::<i32>().ok().filter(|d| GRACE_DAYS.contains(d)),
    };
    if grace.is_none() {
        errors.add(
            "grace_days",
            format!(
                "Give the days holders have to accept the new version, {} to {}.",
                GRACE_DAYS.start(),
                GRACE_DAYS.end()
            ),
        );
    }
    match (effective, grace) {
        (Some(effective_on), Some(grace)) if errors.is_empty() => {
            Some((NewVersion { body, effective_on }, grace))
        }
        _ => None,
    }
}

/// Creates an agreement with its first version.
pub async fn create_agreement(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Form(form): Form<DuaForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    if !is_valid_slug(form.slug.trim()) {
        errors.add(
            "slug",
            "Use lower-case letters, digits and single hyphens, e.g. imaging-dua.",
        );
    }
    if form.title.trim().is_empty() || form.title.trim().chars().count() > MAX_NAME_CHARS {
        errors.add(
            "title",
            format!("Give the agreement a title of at most {MAX_NAME_CHARS} characters."),
        );
    }
    if let Some((first, _)) = check_version(&form, &mut errors) {
        let (slug, title) = (form.slug.trim(), form.title.trim());
        match governance::create_agreement(&state.db, admin.id, slug, title, &first).await? {
            Creation::Created(id) => {
                return Ok(Redirect::to(&format!("/admin/agreements/{id}")).into_response());
            }
            Creation::SlugTaken => errors.add("slug", "Another agreement has this identifier."),
        }
    }
    let page = AgreementsPage {
        layout: Layout::new("Agreements", Nav::None).with_user(Some(&admin)),
        duas: db::duas(&state.db).await?,
        form,
        errors,
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

#[derive(Template)]
#[template(path = "admin/agreement.html")]
pub struct AgreementPage {
    pub layout: Layout,
    pub id: i64,
    pub versions: Vec<DuaVersion>,
    pub form: DuaForm,
    pub errors: FieldErrors,
}

async fn agreement_page(
    state: &AppState,
    admin: &User,
    id: i64,
    form: Option<DuaForm>,
    errors: FieldErrors,
) -> Result<AgreementPage, AppError> {
    let slug = access::dua_slug(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let versions = access::dua_versions(&state.db, &slug).await?;
    let form = form.unwrap_or_else(|| DuaForm {
        body: versions.first().map(|v| v.body.clone()).unwrap_or_default(),
        effective_on: time::OffsetDateTime::now_utc().date().to_string(),
        grace_days: DEFAULT_GRACE_DAYS.to_string(),
        ..DuaForm::default()
    });
    let title = versions
        .first()
        .map_or_else(|| slug.clone(), |v| v.dua_title.clone());
    Ok(AgreementPage {
        layout: Layout::new(title, Nav::None).with_user(Some(admin)),
        id,
        versions,
        form,
        errors,
    })
}

/// An agreement: its versions, with the form for a new one.
pub async fn agreement(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    render(&agreement_page(&state, &admin, id, None, FieldErrors::default()).await?)
}

/// Publishes a new version; grants under the agreement then need re-acceptance within the grace period.
pub async fn publish_version(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Form(form): Form<DuaForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    let page = agreement_page(
        &state,
        &admin,
        id,
        Some(form.clone()),
        FieldErrors::default(),
    )
    .await?;
    let Some((version, grace)) = check_version(&form, &mut errors) else {
        let page = AgreementPage { errors, ..page };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    if page
        .versions
        .first()
        .is_some_and(|v| v.body.trim() == version.body)
    {
        errors.add(
            "body",
            "The text is the same as the newest version; change it before publishing.",
        );
        let page = AgreementPage { errors, ..page };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    governance::publish_version(&state.db, admin.id, id, &version, grace).await?;
    Ok(Redirect::to(&format!("/admin/agreements/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committee_messages_travel_as_codes_and_only_known_codes_show() {
        for message in CommitteeMessage::ALL {
            assert_eq!(CommitteeMessage::from_code(message.code()), Some(message));
        }
        assert_eq!(
            CommitteeMessage::from_code("The committee was saved."),
            None
        );
        assert_eq!(CommitteeMessage::from_code("<script>x</script>"), None);
    }
}
