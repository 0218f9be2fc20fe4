//! Attachments of requests and projects (ethics letters, supporting documents): stored with the type
//! read from their bytes, and downloadable only by the applicant's team, the reviewing committee and
//! administrators.

use serde_json::json;
use sqlx::{PgExecutor, PgPool};

use super::events::{self, NewEvent};
use super::timeline::EventKind;
use crate::audit::{self, AuditAction, Target};
use crate::error::AppError;

/// What an attachment belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Request(i64),
    Project(i64),
}

/// An attachment as it was stored.
struct Stored {
    id: i64,
    file_name: String,
}

/// Stores a checked file; refused when it is not a PDF, PNG or JPEG.
async fn store(
    db: impl PgExecutor<'_>,
    owner: Owner,
    uploaded_by: i64,
    purpose: &str,
    name: &str,
    bytes: &[u8],
) -> Result<Stored, AppError> {
    let content_type = crate::files::sniff(bytes)
        .ok_or_else(|| AppError::BadRequest("Upload a PDF, PNG or JPEG file.".to_owned()))?;
    let file_name = crate::files::safe_file_name(name, content_type);
    let (request_id, project_id) = match owner {
        Owner::Request(id) => (Some(id), None),
        Owner::Project(id) => (None, Some(id)),
    };
    let id = sqlx::query_scalar!(
        "insert into attachments (request_id, project_id, uploaded_by, purpose, file_name,
             content_type, bytes)
         values ($1, $2, $3, $4, $5, $6, $7) returning id",
        request_id,
        project_id,
        uploaded_by,
        purpose,
        file_name,
        content_type,
        bytes
    )
    .fetch_one(db)
    .await?;
    Ok(Stored { id, file_name })
}

/// Stores the ethics approval letter of a project, with its audit record. Returns the attachment's id.
pub async fn attach_letter(
    db: &PgPool,
    uploaded_by: i64,
    project_id: i64,
    name: &str,
    bytes: &[u8],
) -> Result<i64, AppError> {
    let mut tx = db.begin().await?;
    let stored = store(
        &mut *tx,
        Owner::Project(project_id),
        uploaded_by,
        "irb_letter",
        name,
        bytes,
    )
    .await?;
    audit::record(
        &mut *tx,
        Some(uploaded_by),
        AuditAction::ProjectIrbLetterUploaded,
        Target::Project(project_id),
        json!({"attachment": stored.id}),
    )
    .await?;
    tx.commit().await?;
    Ok(stored.id)
}

/// Stores a supporting document of a request, with its event on the request's timeline. Returns the
/// attachment's id.
pub async fn attach_to_request(
    db: &PgPool,
    uploaded_by: i64,
    request_id: i64,
    name: &str,
    bytes: &[u8],
) -> Result<i64, AppError> {
    let mut tx = db.begin().await?;
    let stored = store(
        &mut *tx,
        Owner::Request(request_id),
        uploaded_by,
        "supporting",
        name,
        bytes,
    )
    .await?;
    events::append(
        &mut tx,
        NewEvent {
            request_id: Some(request_id),
            actor_id: Some(uploaded_by),
            ..EventKind::Attachment {
                attachment_id: stored.id,
                file_name: stored.file_name,
            }
            .into_event()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(stored.id)
}

/// A link to an attachment.
#[derive(Clone, Debug)]
pub struct AttachmentLink {
    pub id: i64,
    pub file_name: String,
}

/// The newest ethics approval letter of a project.
pub async fn project_letter(
    db: impl PgExecutor<'_>,
    project_id: i64,
) -> sqlx::Result<Option<AttachmentLink>> {
    sqlx::query_as!(
        AttachmentLink,
        "select id, file_name from attachments where project_id = $1 and purpose = 'irb_letter'
         order by id desc limit 1",
        project_id
    )
    .fetch_optional(db)
    .await
}

/// An attachment in a request's list.
#[derive(Clone, Debug)]
pub struct Listed {
    pub id: i64,
    pub file_name: String,
    /// The uploader's name.
    pub uploaded_by: String,
}

/// A request's attachments and its project's letter.
pub async fn for_request(db: impl PgExecutor<'_>, request_id: i64) -> sqlx::Result<Vec<Listed>> {
    sqlx::query_as!(
        Listed,
        "select a.id, a.file_name, u.name as uploaded_by
         from attachments a join users u on u.id = a.uploaded_by
         where a.request_id = $1
            or a.project_id = (select project_id from access_requests where id = $1)
         order by a.id",
        request_id
    )
    .fetch_all(db)
    .await
}

/// Whether `user_id` may download attachment `id`: on the project's team, on a committee that has a
/// request of that project, or an administrator (checked by the caller).
pub async fn may_download(db: impl PgExecutor<'_>, id: i64, user_id: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"with a as (
               select coalesce(a.project_id, r.project_id) as project_id, a.request_id
               from attachments a left join access_requests r on r.id = a.request_id where a.id = $1),
           me as (select id, email from users where id = $2)
           select exists (
               select 1 from a join projects p on p.id = a.project_id
               where p.owner_id = $2
                  or exists (select 1 from project_members m, me
                             where m.project_id = p.id and (m.user_id = me.id or m.email = me.email))
                  or exists (select 1 from access_requests r join dac_members dm on dm.dac_id = r.dac_id
                             where dm.user_id = $2
                               and (r.id = a.request_id
                                    or (a.request_id is null and r.project_id = a.project_id))))
           as "allowed!""#,
        id,
        user_id
    )
    .fetch_one(db)
    .await
}

/// A stored attachment with its content.
#[derive(Clone, Debug)]
pub struct AttachmentFile {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A stored attachment, by id.
pub async fn read(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<AttachmentFile>> {
    sqlx::query_as!(
        AttachmentFile,
        "select file_name, content_type, bytes from attachments where id = $1",
        id
    )
    .fetch_optional(db)
    .await
}
