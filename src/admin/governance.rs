//! Governance screens: Data Access Committees (members, decision policy, governed datasets) and
//! data-use agreements (new versions with an effective date and a grace period for re-acceptance).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use crate::access::db::{self as access, admin as db};
use crate::access::model::{DacPolicy, DuaVersion};
use crate::audit::{self, Target};
use crate::catalog::validate::is_valid_slug;
use crate::error::AppError;
use crate::validation::FieldErrors;
use crate::web::AppState;
use crate::web::extract::AdminUser;
use crate::web::{Layout, Nav, render};

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
    fn check(&self, errors: &mut FieldErrors, new: bool) -> Option<(DacPolicy, i32)> {
        if new && !is_valid_slug(self.slug.trim()) {
            errors.add(
                "slug",
                "Use lower-case letters, digits and single hyphens, e.g. thoracic-dac.",
            );
        }
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            errors.add(
                "name",
                "Give the committee a name of at most 200 characters.",
            );
        }
        if self.description.chars().count() > 5000 {
            errors.add("description", "Use at most 5000 characters.");
        }
        let policy = match self.policy.as_str() {
            "single" => Some(DacPolicy::Single),
            "votes" => Some(DacPolicy::Votes),
            _ => {
                errors.add("policy", "Choose how the committee decides.");
                None
            }
        };
        let votes = if policy == Some(DacPolicy::Votes) {
            match self.required_votes.trim().parse::<i32>() {
                Ok(n) if (1..=20).contains(&n) => n,
                _ => {
                    errors.add(
                        "required_votes",
                        "Give the number of approving votes needed, 1 to 20.",
                    );
                    1
                }
            }
        } else {
            1
        };
        policy.filter(|_| errors.is_empty()).map(|p| (p, votes))
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
    admin: &crate::auth::model::User,
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

pub async fn create_committee(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Form(form): Form<DacForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    let checked = form.check(&mut errors, true);
    let Some((policy, votes)) = checked else {
        let page = committees_page(&state, &admin, form, errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    let input = db::DacInput {
        slug: form.slug.trim(),
        name: form.name.trim(),
        description: form.description.trim(),
        policy,
        required_votes: votes,
    };
    let mut tx = state.db.begin().await?;
    let Some(id) = db::create_dac(&mut *tx, &input).await? else {
        errors.add("slug", "Another committee has this identifier.");
        let page = committees_page(&state, &admin, form, errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    audit::record(&mut *tx, Some(admin.id), "dac.created", Target::Dac(id), json!({"slug": input.slug, "name": input.name, "policy": form.policy, "required_votes": votes})).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/committees/{id}")).into_response())
}

#[derive(Template)]
#[template(path = "admin/committee.html")]
pub struct CommitteePage {
    pub layout: Layout,
    pub dac: crate::access::model::Dac,
    pub form: DacForm,
    pub errors: FieldErrors,
    pub members: Vec<(i64, String, String)>,
    pub governed: Vec<(String, String, String, i32)>,
    pub duas: Vec<(i64, String, String, Option<i32>)>,
    pub message: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MessageParams {
    message: Option<String>,
}

async fn committee_page(
    state: &AppState,
    admin: &crate::auth::model::User,
    id: i64,
    form: Option<DacForm>,
    errors: FieldErrors,
    message: Option<String>,
) -> Result<CommitteePage, AppError> {
    let dac = access::find_dac(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let form = form.unwrap_or_else(|| DacForm {
        slug: dac.slug.clone(),
        name: dac.name.clone(),
        description: dac.description.clone(),
        policy: match dac.policy {
            DacPolicy::Single => "single",
            DacPolicy::Votes => "votes",
        }
        .to_owned(),
        required_votes: dac.required_votes.to_string(),
    });
    Ok(CommitteePage {
        layout: Layout::new(dac.name.clone(), Nav::None).with_user(Some(admin)),
        members: db::members(&state.db, id).await?,
        governed: db::governed_by(&state.db, id).await?,
        duas: db::duas(&state.db).await?,
        dac,
        form,
        errors,
        message: message.filter(|m| m.chars().count() <= 300),
    })
}

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

fn back(id: i64, message: &str) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("message", message)
        .finish();
    Redirect::to(&format!("/admin/committees/{id}?{query}")).into_response()
}

pub async fn update_committee(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Form(form): Form<DacForm>,
) -> Result<Response, AppError> {
    let before = access::find_dac(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut errors = FieldErrors::default();
    let Some((policy, votes)) = form.check(&mut errors, false) else {
        let page = committee_page(&state, &admin, id, Some(form), errors, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    let input = db::DacInput {
        slug: &before.slug,
        name: form.name.trim(),
        description: form.description.trim(),
        policy,
        required_votes: votes,
    };
    let mut tx = state.db.begin().await?;
    db::update_dac(&mut *tx, id, &input).await?;
    audit::record(
        &mut *tx,
        Some(admin.id),
        "dac.updated",
        Target::Dac(id),
        json!({"before": {"name": before.name, "policy": before.policy_text()}, "after": {"name": input.name, "policy": form.policy, "required_votes": votes}}),
    )
    .await?;
    tx.commit().await?;
    Ok(back(id, "The committee was saved."))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MemberForm {
    email: String,
}

pub async fn add_member(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Form(form): Form<MemberForm>,
) -> Result<Response, AppError> {
    access::find_dac(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut tx = state.db.begin().await?;
    let Some(user_id) = db::add_member(&mut tx, id, form.email.trim()).await? else {
        return Ok(back(
            id,
            "No active account has that e-mail address; the person must register first.",
        ));
    };
    audit::record(
        &mut *tx,
        Some(admin.id),
        "dac.member_added",
        Target::Dac(id),
        json!({"user": user_id, "email": form.email.trim()}),
    )
    .await?;
    tx.commit().await?;
    Ok(back(id, "The member was added."))
}

pub async fn remove_member(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path((id, user_id)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    let mut tx = state.db.begin().await?;
    if !db::remove_member(&mut *tx, id, user_id).await? {
        return Err(AppError::NotFound);
    }
    audit::record(
        &mut *tx,
        Some(admin.id),
        "dac.member_removed",
        Target::Dac(id),
        json!({"user": user_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(back(id, "The member was removed."))
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
        return Ok(back(id, "Choose the agreement."));
    };
    let Some(days) = form
        .days
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|d| (1..=3650).contains(d))
    else {
        return Ok(back(
            id,
            "The default access period must be 1 to 3650 days.",
        ));
    };
    let credentials: Vec<String> = form
        .credentials
        .split(',')
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    let mut tx = state.db.begin().await?;
    if !db::set_governance(&mut *tx, form.dataset.trim(), id, dua, days, &credentials).await? {
        return Ok(back(
            id,
            "No controlled dataset has that catalog id (set its access level to controlled first).",
        ));
    }
    audit::record(&mut *tx, Some(admin.id), "dataset.governance_set", Target::Dac(id), json!({"dataset": form.dataset.trim(), "dua": dua, "days": days, "credentials": credentials})).await?;
    tx.commit().await?;
    Ok(back(id, "The dataset is now governed by this committee."))
}

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
    pub duas: Vec<(i64, String, String, Option<i32>)>,
    pub form: DuaForm,
    pub errors: FieldErrors,
}

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

fn check_version(form: &DuaForm, errors: &mut FieldErrors) -> Option<(time::Date, i32)> {
    let body = form.body.trim();
    if body.is_empty() || body.chars().count() > 200_000 {
        errors.add(
            "body",
            "Write the agreement (Markdown, at most 200,000 characters).",
        );
    }
    let today = time::OffsetDateTime::now_utc().date();
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let effective = match time::Date::parse(form.effective_on.trim(), &format) {
        Ok(date) if db::effective_date_ok(date, today) => Some(date),
        Ok(_) => {
            errors.add("effective_on", "A new version takes effect today or later.");
            None
        }
        Err(_) => {
            errors.add("effective_on", "Enter a date as YYYY-MM-DD.");
            None
        }
    };
    let grace = match form.grace_days.trim() {
        "" => Some(30),
        raw => raw.parse::<i32>().ok().filter(|d| (0..=365).contains(d)),
    };
    if grace.is_none() {
        errors.add(
            "grace_days",
            "Give the days holders have to accept the new version, 0 to 365.",
        );
    }
    match (effective, grace) {
        (Some(e), Some(g)) if errors.is_empty() => Some((e, g)),
        _ => None,
    }
}

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
    if form.title.trim().is_empty() || form.title.trim().chars().count() > 200 {
        errors.add(
            "title",
            "Give the agreement a title of at most 200 characters.",
        );
    }
    let checked = check_version(&form, &mut errors);
    let refuse = |errors: FieldErrors, form: DuaForm, duas| AgreementsPage {
        layout: Layout::new("Agreements", Nav::None).with_user(Some(&admin)),
        duas,
        form,
        errors,
    };
    let Some((effective, _)) = checked else {
        let page = refuse(errors, form, db::duas(&state.db).await?);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    let mut tx = state.db.begin().await?;
    let Some(id) = db::create_dua(&mut *tx, form.slug.trim(), form.title.trim()).await? else {
        errors.add("slug", "Another agreement has this identifier.");
        let page = refuse(errors, form, db::duas(&state.db).await?);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    access::publish_dua_version(&mut tx, id, form.body.trim(), effective, Some(admin.id), 30)
        .await?;
    audit::record(&mut *tx, Some(admin.id), "dua.created", Target::Dua(id), json!({"slug": form.slug.trim(), "title": form.title.trim(), "effective_on": effective.to_string()})).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/agreements/{id}")).into_response())
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
    admin: &crate::auth::model::User,
    id: i64,
    form: Option<DuaForm>,
    errors: FieldErrors,
) -> Result<AgreementPage, AppError> {
    let slug: String = sqlx::query_scalar("select slug from duas where id = $1")
        .bind(id)
        .fetch_optional(&state.db)
        .await?
        .ok_or(AppError::NotFound)?;
    let versions = access::dua_versions(&state.db, &slug).await?;
    let form = form.unwrap_or_else(|| DuaForm {
        body: versions.first().map(|v| v.body.clone()).unwrap_or_default(),
        effective_on: time::OffsetDateTime::now_utc().date().to_string(),
        grace_days: "30".to_owned(),
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
    let Some((effective, grace)) = check_version(&form, &mut errors) else {
        let page = AgreementPage { errors, ..page };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    if page
        .versions
        .first()
        .is_some_and(|v| v.body.trim() == form.body.trim())
    {
        errors.add(
            "body",
            "The text is the same as the newest version; change it before publishing.",
        );
        let page = AgreementPage { errors, ..page };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let mut tx = state.db.begin().await?;
    let version = access::publish_dua_version(
        &mut tx,
        id,
        form.body.trim(),
        effective,
        Some(admin.id),
        grace,
    )
    .await?;
    audit::record(
        &mut *tx,
        Some(admin.id),
        "dua.version_published",
        Target::Dua(id),
        json!({"version": version, "effective_on": effective.to_string(), "grace_days": grace}),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/agreements/{id}")).into_response())
}
