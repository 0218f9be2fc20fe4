//! Organizations: the publishers datasets belong to.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::auth::model::User;
use crate::catalog::curation::{self, SavedOrganization};
use crate::catalog::db::organizations;
use crate::catalog::model::{Organization, OrganizationInput};
use crate::catalog::validate::check_organization;
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
    /// The organization as entered, trimmed; an empty homepage is none.
    fn input(&self) -> OrganizationInput {
        let homepage = self.homepage.trim();
        OrganizationInput {
            slug: self.slug.trim().to_owned(),
            name: self.name.trim().to_owned(),
            homepage: (!homepage.is_empty()).then(|| homepage.to_owned()),
            description: self.description.trim().to_owned(),
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
        organizations: organizations::list(&state.db).await?,
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
    let org = organizations::find(&state.db, &slug)
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
    let input = form.input();
    check_organization(&input, &mut errors);
    let editing = existing.as_ref().map(|o| o.slug.clone());
    if errors.is_empty() {
        let slug_taken = match &existing {
            None => {
                curation::create_organization(&state.db, admin.id, &input).await?
                    == SavedOrganization::SlugTaken
            }
            Some(existing) => {
                curation::update_organization(&state.db, admin.id, existing, &input).await?;
                false
            }
        };
        if !slug_taken {
            return Ok(Redirect::to("/admin/organizations").into_response());
        }
        errors.add("slug", "Another organization has this catalog id.");
    }
    let page = page_for(state, admin, editing, form, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
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
    let existing = organizations::find(&state.db, &slug)
        .await?
        .ok_or(AppError::NotFound)?;
    // The catalog id is the organization's identity and stays.
    let form = OrgForm {
        slug: existing.slug.clone(),
        ..form
    };
    save(&state, &admin, Some(existing), form).await
}
