//! SQL of files uploaded for a bulk import, kept between the dry run and the commit.

use sqlx::PgExecutor;

use crate::catalog::model::UploadFormat;

/// A stored upload.
pub struct Upload {
    pub file_name: String,
    pub format: UploadFormat,
    pub bytes: Vec<u8>,
}

/// Keeps an uploaded file for its commit; returns its id.
pub async fn insert(
    db: impl PgExecutor<'_>,
    admin_id: i64,
    file_name: &str,
    format: UploadFormat,
    bytes: &[u8],
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into import_uploads (admin_id, file_name, format, bytes) values ($1, $2, $3, $4)
         returning id",
        admin_id,
        file_name,
        format as _,
        bytes,
    )
    .fetch_one(db)
    .await
}

pub async fn find(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<Upload>> {
    sqlx::query_as!(
        Upload,
        r#"select file_name, format as "format: UploadFormat", bytes from import_uploads
           where id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await
}

pub async fn delete(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<()> {
    sqlx::query!("delete from import_uploads where id = $1", id)
        .execute(db)
        .await?;
    Ok(())
}
