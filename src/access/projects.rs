//! Project operations: saving a project with its team (telling newly added members by e-mail), in one
//! transaction with its audit record.

use serde_json::json;
use sqlx::PgPool;
use url::Url;

use super::db::{self, ProjectInput};
use crate::audit::{self, AuditAction, Target};
use crate::auth::model::User;
use crate::error::AppError;
use crate::mail::{self, Mail};

/// Creates (`id` = None) or updates a project of `owner`, with its team. Returns the project's id; not
/// found when the project is not the owner's.
pub async fn save(
    db: &PgPool,
    site: &Url,
    owner: &User,
    id: Option<i64>,
    input: &ProjectInput,
) -> Result<i64, AppError> {
    let mut tx = db.begin().await?;
    let (saved, before) = match id {
        Some(id) => {
            let before: Vec<String> = db::members(&mut *tx, id)
                .await?
                .into_iter()
                .map(|m| m.email.to_lowercase())
                .collect();
            if !db::update_project(&mut *tx, owner.id, id, input).await? {
                return Err(AppError::NotFound);
            }
            (id, before)
        }
        None => (
            db::insert_project(&mut *tx, owner.id, input).await?,
            Vec::new(),
        ),
    };
    db::replace_members(&mut tx, saved, &input.members).await?;
    // Newly added team members hear of it; those without an account are invited to register.
    for member in db::members(&mut *tx, saved).await? {
        if before.contains(&member.email.to_lowercase()) || member.user_id == Some(owner.id) {
            continue;
        }
        let body = match member.user_id {
            Some(_) => format!(
                "{} ({}) added you to the team of the project “{}”. You can follow its access requests here: {}\n",
                owner.name,
                owner.email,
                input.title,
                crate::format::link(site, "/requests")
            ),
            None => format!(
                "{} ({}) added you to the team of the project “{}” on radportal, a portal for AI-radiology data.\n\n\
                 Create an account with this address to follow the project's access requests: {}\n",
                owner.name,
                owner.email,
                input.title,
                crate::format::link(site, "/register")
            ),
        };
        mail::enqueue(
            &mut *tx,
            &Mail {
                to: member.email.clone(),
                subject: format!("You were added to the project “{}”", input.title),
                body,
            },
        )
        .await?;
    }
    audit::record(
        &mut *tx,
        Some(owner.id),
        if id.is_some() {
            AuditAction::ProjectUpdated
        } else {
            AuditAction::ProjectCreated
        },
        Target::Project(saved),
        json!({"title": input.title, "purpose": input.purpose.code(), "members": input.members}),
    )
    .await?;
    tx.commit().await?;
    Ok(saved)
}
