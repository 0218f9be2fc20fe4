//! Attachments of requests and projects (ethics letters, supporting documents): stored with the type
//! read from their bytes, and downloadable only by the applicant's team, the reviewing committee and
//! administrators.

use sqlx::{PgConnection, PgExecutor};

use crate::error::AppError;

/// Stores a checked file for a request or a project.
pub async fn store(
    tx: &mut PgConnection,
    request_id: Option<i64>,
    project_id: Option<i64>,
    uploaded_by: i64,
    purpose: &str,
    name: &str,
    bytes: &[u8],
) -> Result<i64, AppError> {
    let content_type = crate::files::sniff(bytes)
        .ok_or_else(|| AppError::BadRequest("Upload a PDF, PNG or JPEG file.".to_owned()))?;
    let id = sqlx::query_scalar(
        "insert into attachments (request_id, project_id, uploaded_by, purpose, file_name, content_type, bytes)
         values ($1, $2, $3, $4, $5, $6, $7) returning id",
    )
    .bind(request_id)
    .bind(project_id)
    .bind(uploaded_by)
    .bind(purpose)
    .bind(crate::files::safe_file_name(name, content_type))
    .bind(content_type)
    .bind(bytes)
    .fetch_one(&mut *tx)
    .await?;
    Ok(id)
}

/// The newest ethics approval letter of a project: (attachment id, file name).
pub async fn project_letter(
    db: impl PgExecutor<'_>,
    project_id: i64,
) -> sqlx::Result<Option<(i64, String)>> {
    sqlx::query_as(
        "select id, file_name from attachments where project_id = $1 and purpose = 'irb_letter'
         order by id desc limit 1",
    )
    .bind(project_id)
    .fetch_optional(db)
    .await
}

/// A request's attachments and its project's letter: (id, file name, uploader's name).
pub async fn for_request(
    db: impl PgExecutor<'_>,
    request_id: i64,
) -> sqlx::Result<Vec<(i64, String, String)>> {
    sqlx::query_as(
        "select a.id, a.file_name, u.name from attachments a join users u on u.id = a.uploaded_by
         where a.request_id = $1
            or a.project_id = (select project_id from access_requests where id = $1)
         order by a.id",
    )
    .bind(request_id)
    .fetch_all(db)
    .await
}

/// Whether `user_id` may download attachment `id`: on the project's team, on a committee that has a
/// request of that project, or an administrator (checked by the caller).
pub async fn may_download(db: impl PgExecutor<'_>, id: i64, user_id: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "with a as (
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
                             and (r.id = a.request_id or (a.request_id is null and r.project_id = a.project_id))))",
    )
    .bind(id)
    .bind(user_id)
    .fetch_one(db)
    .await
}

/// A stored attachment: (file name, content type, bytes).
pub async fn read(
    db: impl PgExecutor<'_>,
    id: i64,
) -> sqlx::Result<Option<(String, String, Vec<u8>)>> {
    sqlx::query_as("select file_name, content_type, bytes from attachments where id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}
