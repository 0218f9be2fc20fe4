//! Organizations: the publishers datasets belong to.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use crate::audit::{self, Target};
use crate::auth::model::User;
use crate::catalog::db::{self as catalog, curation};
use crate::catalog::model::Organization;
use crate::catalog::validate::{is_valid_slug, is_web_url};
use crate::error::AppError;
use crate::validation::FieldErrors;
use crate::web::AppState;
use crate::web::extract::AdminUser;
use crate::web::{Layout, Nav, render};

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct OrgForm {
    pub slug: String,
    pub name: String,
    pub homepage: String,
    pub description: String,
}

impl OrgForm {
    fn check(&self, errors: &mut FieldErrors) {
        if !is_valid_slug(self.slug.trim()) {
            errors.add(
                "slug",
                "Use lower-case letters, digits and single hyphens, e.g. example-hospital.",
            );
        }
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            errors.add("name", "Give a name of at most 200 characters.");
        }
        let homepage = self.homepage.trim();
        if !homepage.is_empty() && !is_web_url(homepage) {
            errors.add(
                "homepage",
                "Enter a web address starting with https:// or http://.",
            );
        }
        if self.description.chars().count() > 5000 {
            errors.add("description", "Use at most 5000 characters.");
        }
    }
}

#[derive(Template)]
#[template(path = "admin/organizations.html")]
pub struct OrganizationsPage {
    pub layout: Layout,
    pub organizations: Vec<Organization>,
    /// The organization being edited, if any.
    pub editing: Option<String>,
    pub form: OrgForm,
    pub errors: FieldErrors,
}

async fn page_for(
    state: &AppState,
    admin: &User,
    editing: Option<String>,
    form: OrgForm,
    errors: FieldErrors,
) -> Result<OrganizationsPage, AppError> {
    Ok(OrganizationsPage {
        layout: Layout::new("Organizations", Nav::None).with_user(Some(admin)),
        organizations: catalog::list_organizations(&state.db).await?,
        editing,
        form,
        errors,
    })
}

pub async fn list(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Response, AppError> {
    render(
        &page_for(
            &state,
            &admin,
            None,
            OrgForm::default(),
            FieldErrors::default(),
        )
        .await?,
    )
}

pub async fn edit(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let org = catalog::find_organization(&state.db, &slug)
        .await?
        .ok_or(AppError::NotFound)?;
    let form = OrgForm {
        slug: org.slug.clone(),
        name: org.name,
        homepage: org.homepage.unwrap_or_default(),
        description: org.description,
    };
    render(&page_for(&state, &admin, Some(org.slug), form, FieldErrors::default()).await?)
}

async fn save(
    state: &AppState,
    admin: &User,
    existing: Option<Organization>,
    form: OrgForm,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    form.check(&mut errors);
    let editing = existing.as_ref().map(|o| o.slug.clone());
    if !errors.is_empty() {
        let page = page_for(state, admin, editing, form, errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let homepage = Some(form.homepage.trim()).filter(|h| !h.is_empty());
    let mut tx = state.db.begin().await?;
    let saved = curation::save_organization(
        &mut *tx,
        existing.as_ref().map(|o| o.id),
        form.slug.trim(),
        form.name.trim(),
        homepage,
        form.description.trim(),
    )
    .await?;
    let Some(id) = saved else {
        errors.add("slug", "Another organization has this catalog id.");
        let page = page_for(state, admin, editing, form, errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    audit::record(
        &mut *tx,
        Some(admin.id),
        if existing.is_some() { "organization.updated" } else { "organization.created" },
        Target::Organization(id),
        json!({"before": existing.map(|o| json!({"name": o.name, "homepage": o.homepage})), "after": {"slug": form.slug.trim(), "name": form.name.trim(), "homepage": homepage}}),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/organizations").into_response())
}

pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Form(form): Form<OrgForm>,
) -> Result<Response, AppError> {
    save(&state, &admin, None, form).await
}

pub async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(slug): Path<String>,
    Form(form): Form<OrgForm>,
) -> Result<Response, AppError> {
    let existing = catalog::find_organization(&state.db, &slug)
        .await?
        .ok_or(AppError::NotFound)?;
    // The catalog id is the organization's identity and stays.
    let form = OrgForm {
        slug: existing.slug.clone(),
        ..form
    };
    save(&state, &admin, Some(existing), form).await
}
