//! Projects: what a researcher wants to do with the data, written once and reused across requests.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::access::attachments::{self, AttachmentLink};
use crate::access::db::{self, ProjectInput};
use crate::access::fit::Purpose;
use crate::access::model::{Member, Project};
use crate::access::projects;
use crate::auth::model::{Email, User};
use crate::error::AppError;
use crate::validation::{FieldErrors, parse_date};
use crate::web::AppState;
use crate::web::extract::CurrentUser;
use crate::web::{Layout, Nav, render};

/// The longest project title, in characters (the database checks the same).
const MAX_TITLE_CHARS: usize = 200;

/// The shortest description of the research that says something, in characters.
const MIN_RESEARCH_USE_CHARS: usize = 20;

/// The longest description of the research or the security plan, in characters.
const MAX_LONG_TEXT_CHARS: usize = 20_000;

/// How many diseases a project may name, and how long each name may be.
const MAX_DISEASES: usize = 20;
const MAX_DISEASE_CHARS: usize = 100;

/// How many people a project's team may list.
const MAX_MEMBERS: usize = 50;

#[derive(Template)]
#[template(path = "access/projects.html")]
pub struct ProjectsPage {
    pub layout: Layout,
    pub projects: Vec<Project>,
}

/// The researcher's projects.
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, AppError> {
    render(&ProjectsPage {
        layout: Layout::new("Your projects", Nav::None).with_user(Some(&user)),
        projects: db::projects_of(&state.db, user.id).await?,
    })
}

/// The project form as typed.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct ProjectForm {
    pub title: String,
    pub research_use: String,
    pub purpose: String,
    pub diseases: String,
    pub methods_development: Option<String>,
    pub commercial: Option<String>,
    pub for_profit: Option<String>,
    pub genetic: Option<String>,
    pub clinical_care: Option<String>,
    pub country: String,
    pub pi_name: String,
    pub institution: String,
    pub irb_number: String,
    pub irb_body: String,
    pub irb_expires_on: String,
    pub security_plan: String,
    pub members: String,
    /// `cart` when the form was opened from the cart, which saving returns to.
    pub from: String,
}

impl ProjectForm {
    /// Whether saving goes back to the cart.
    fn returns_to_cart(&self) -> bool {
        self.from == "cart"
    }

    fn from_project(project: &Project, members: &[Member]) -> Self {
        let flag = |on: bool| on.then(|| "on".to_owned());
        Self {
            title: project.title.clone(),
            research_use: project.research_use.clone(),
            purpose: project.purpose.code().to_owned(),
            diseases: project.diseases.join(", "),
            methods_development: flag(project.methods_development),
            commercial: flag(project.commercial),
            for_profit: flag(project.for_profit),
            genetic: flag(project.genetic),
            clinical_care: flag(project.clinical_care),
            country: project.country.clone(),
            pi_name: project.pi_name.clone(),
            institution: project.institution.clone(),
            irb_number: project.irb_number.clone(),
            irb_body: project.irb_body.clone(),
            irb_expires_on: project
                .irb_expires_on
                .map(|d| d.to_string())
                .unwrap_or_default(),
            security_plan: project.security_plan.clone(),
            members: members
                .iter()
                .map(|m| m.email.clone())
                .collect::<Vec<_>>()
                .join("\n"),
            from: String::new(),
        }
    }

    /// Checks the form; the saved values, or the errors by field.
    fn check(&self, errors: &mut FieldErrors) -> Option<ProjectInput> {
        let title = self.title.trim();
        if title.is_empty() {
            errors.add("title", "Give the project a title.");
        } else if title.chars().count() > MAX_TITLE_CHARS {
            errors.add(
                "title",
                format!("Use at most {MAX_TITLE_CHARS} characters."),
            );
        }
        let research_use = self.research_use.trim();
        if research_use.chars().count() < MIN_RESEARCH_USE_CHARS {
            errors.add("research_use", format!("Describe the research in a few sentences (at least {MIN_RESEARCH_USE_CHARS} characters): what you will do with the data and why."));
        } else if research_use.chars().count() > MAX_LONG_TEXT_CHARS {
            errors.add(
                "research_use",
                format!(
                    "Use at most {} characters.",
                    crate::format::thousands(MAX_LONG_TEXT_CHARS as i64)
                ),
            );
        }
        let purpose = Purpose::parse(&self.purpose);
        if purpose.is_none() {
            errors.add("purpose", "Choose the purpose that describes the research.");
        }
        let diseases: Vec<String> = self
            .diseases
            .split([',', '\n'])
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty())
            .collect();
        if purpose == Some(Purpose::Disease) && diseases.is_empty() {
            errors.add("diseases", "Name the disease(s) the research is about.");
        }
        if diseases.len() > MAX_DISEASES
            || diseases
                .iter()
                .any(|d| d.chars().count() > MAX_DISEASE_CHARS)
        {
            errors.add(
                "diseases",
                format!(
                    "List at most {MAX_DISEASES} diseases of at most {MAX_DISEASE_CHARS} characters each."
                ),
            );
        }
        // The longest value of each short field, as the database checks it.
        for (field, value, max) in [
            ("country", &self.country, 100),
            ("pi_name", &self.pi_name, 200),
            ("institution", &self.institution, 200),
            ("irb_number", &self.irb_number, 100),
            ("irb_body", &self.irb_body, 200),
            ("security_plan", &self.security_plan, MAX_LONG_TEXT_CHARS),
        ] {
            if value.trim().chars().count() > max {
                errors.add(field, format!("Use at most {max} characters."));
            }
        }
        let irb_expires_on = if self.irb_expires_on.trim().is_empty() {
            None
        } else {
            match parse_date(&self.irb_expires_on) {
                Ok(date) => Some(date),
                Err(message) => {
                    errors.add("irb_expires_on", message);
                    None
                }
            }
        };
        if irb_expires_on.is_some() && self.irb_number.trim().is_empty() {
            errors.add(
                "irb_number",
                "Give the protocol number of the ethics approval.",
            );
        }
        let mut members = Vec::new();
        for line in self
            .members
            .split([',', '\n', ' '])
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            match Email::parse(line) {
                Ok(email) => members.push(email.as_str().to_lowercase()),
                Err(_) => errors.add("members", format!("“{line}” is not an e-mail address.")),
            }
        }
        members.sort();
        members.dedup();
        if members.len() > MAX_MEMBERS {
            errors.add(
                "members",
                format!("List at most {MAX_MEMBERS} team members."),
            );
        }
        let purpose = purpose?;
        errors.is_empty().then(|| ProjectInput {
            title: title.to_owned(),
            research_use: research_use.to_owned(),
            purpose,
            diseases,
            methods_development: self.methods_development.is_some(),
            commercial: self.commercial.is_some(),
            for_profit: self.for_profit.is_some(),
            genetic: self.genetic.is_some(),
            clinical_care: self.clinical_care.is_some(),
            country: self.country.trim().to_owned(),
            pi_name: self.pi_name.trim().to_owned(),
            institution: self.institution.trim().to_owned(),
            irb_number: self.irb_number.trim().to_owned(),
            irb_body: self.irb_body.trim().to_owned(),
            irb_expires_on,
            security_plan: self.security_plan.trim().to_owned(),
            members,
        })
    }
}

#[derive(Template)]
#[template(path = "access/project_form.html")]
pub struct ProjectFormPage {
    pub layout: Layout,
    /// `None` for a new project.
    pub id: Option<i64>,
    pub form: ProjectForm,
    pub errors: FieldErrors,
    pub purposes: [Purpose; 4],
}

fn form_page(
    user: &User,
    id: Option<i64>,
    form: ProjectForm,
    errors: FieldErrors,
) -> ProjectFormPage {
    let title = if id.is_some() {
        "Edit project"
    } else {
        "New project"
    };
    ProjectFormPage {
        layout: Layout::new(title, Nav::None).with_user(Some(user)),
        id,
        form,
        errors,
        purposes: Purpose::ALL,
    }
}

/// Where the project form was opened from.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct FormParams {
    from: String,
}

/// The form for a new project; opened from the cart, saving it returns there.
pub async fn new_form(
    CurrentUser(user): CurrentUser,
    Query(params): Query<FormParams>,
) -> Result<Response, AppError> {
    let form = ProjectForm {
        purpose: Purpose::Health.code().to_owned(),
        institution: user.institution.clone(),
        pi_name: user.name.clone(),
        from: if params.from == "cart" {
            params.from
        } else {
            String::new()
        },
        ..ProjectForm::default()
    };
    render(&form_page(&user, None, form, FieldErrors::default()))
}

async fn own_project(state: &AppState, user: &User, id: i64) -> Result<Project, AppError> {
    db::find_project(&state.db, id)
        .await?
        .filter(|project| project.owner_id == user.id)
        .ok_or(AppError::NotFound)
}

/// The form for one of the researcher's projects.
pub async fn edit_form(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let project = own_project(&state, &user, id).await?;
    let members = db::members(&state.db, id).await?;
    render(&form_page(
        &user,
        Some(id),
        ProjectForm::from_project(&project, &members),
        FieldErrors::default(),
    ))
}

async fn save(
    state: &AppState,
    user: &User,
    id: Option<i64>,
    form: ProjectForm,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    let Some(input) = form.check(&mut errors) else {
        let page = form_page(user, id, form, errors);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    let saved = projects::save(&state.db, &state.config.base_url, user, id, &input).await?;
    if form.returns_to_cart() {
        return Ok(Redirect::to(&format!("/cart?project={saved}")).into_response());
    }
    Ok(Redirect::to(&format!("/projects/{saved}")).into_response())
}

/// Creates a project.
pub async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<ProjectForm>,
) -> Result<Response, AppError> {
    save(&state, &user, None, form).await
}

/// Saves one of the researcher's projects.
pub async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    Form(form): Form<ProjectForm>,
) -> Result<Response, AppError> {
    own_project(&state, &user, id).await?;
    save(&state, &user, Some(id), form).await
}

#[derive(Template)]
#[template(path = "access/project.html")]
pub struct ProjectPage {
    pub layout: Layout,
    pub project: Project,
    pub members: Vec<Member>,
    pub letter: Option<AttachmentLink>,
    pub purpose: Purpose,
    pub letter_error: Option<String>,
}

async fn project_page(
    state: &AppState,
    user: &User,
    project: Project,
    letter_error: Option<String>,
) -> Result<ProjectPage, AppError> {
    Ok(ProjectPage {
        layout: Layout::new(project.title.clone(), Nav::None).with_user(Some(user)),
        members: db::members(&state.db, project.id).await?,
        letter: attachments::project_letter(&state.db, project.id).await?,
        purpose: project.purpose,
        letter_error,
        project,
    })
}

/// A project, for its team and administrators.
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let project = db::find_project(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if project.owner_id != user.id
        && !db::is_on_team(&state.db, id, user.id).await?
        && !user.is_admin
    {
        return Err(AppError::NotFound);
    }
    render(&project_page(&state, &user, project, None).await?)
}

/// Uploads the ethics approval letter (PDF, PNG or JPEG).
pub async fn upload_letter(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let project = own_project(&state, &user, id).await?;
    match super::attachments::read_file(multipart, "letter").await {
        Ok((name, bytes)) => {
            attachments::attach_letter(&state.db, user.id, id, &name, &bytes).await?;
            Ok(Redirect::to(&format!("/projects/{id}")).into_response())
        }
        Err(message) => {
            let page = project_page(&state, &user, project, Some(message)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}
