//! Bulk import in the browser: upload JSON in the catalog exchange format or CSV with documented
//! columns, read a dry-run report (per row: create, update, unchanged, or the errors), then commit the
//! whole file or nothing.

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::audit::{self, Target};
use crate::auth::model::User;
use crate::catalog::import::{self, CSV_COLUMNS, ImportReport};
use crate::error::AppError;
use crate::web::AppState;
use crate::web::extract::AdminUser;
use crate::web::upload::MAX_UPLOAD_BYTES;
use crate::web::{Layout, Nav, render};

#[derive(Template)]
#[template(path = "admin/import.html")]
pub struct ImportPage {
    pub layout: Layout,
    pub columns: &'static [(&'static str, &'static str)],
    pub error: Option<String>,
    /// After a dry run or a commit: the upload, its file name, the report, and whether it was written.
    pub report: Option<(i64, String, ImportReport, bool)>,
}

fn page(
    admin: &User,
    error: Option<String>,
    report: Option<(i64, String, ImportReport, bool)>,
) -> ImportPage {
    ImportPage {
        layout: Layout::new("Bulk import", Nav::None).with_user(Some(admin)),
        columns: CSV_COLUMNS,
        error,
        report,
    }
}

pub async fn form(AdminUser(admin): AdminUser) -> Result<Response, AppError> {
    render(&page(&admin, None, None))
}

pub async fn template() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"radportal-import-template.csv\"",
            ),
        ],
        import::csv_template(),
    )
        .into_response()
}

/// JSON when the file name ends in .json or the content starts with `[`; CSV otherwise.
fn format_of(name: &str, bytes: &[u8]) -> &'static str {
    let starts_like_json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    if name.to_lowercase().ends_with(".json") || starts_like_json {
        "json"
    } else {
        "csv"
    }
}

fn records(format: &str, bytes: &[u8]) -> Result<Vec<Value>, String> {
    match format {
        "json" => import::records_from_json(bytes).map_err(|e| e.to_string()),
        _ => import::records_from_csv(bytes),
    }
}

fn refuse(admin: &User, message: String) -> Result<Response, AppError> {
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        render(&page(admin, Some(message), None))?,
    )
        .into_response())
}

/// The dry run: reads the file, tries every record in a transaction that is rolled back, and keeps
/// the file for the commit.
pub async fn dry_run(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    mut multipart: Multipart,
) -> Result<Response, AppError> {
    let mut upload = None;
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("import").to_owned();
            match field.bytes().await {
                Ok(bytes) if !bytes.is_empty() => upload = Some((name, bytes.to_vec())),
                Ok(_) => {}
                Err(_) => {
                    return refuse(
                        &admin,
                        format!(
                            "The file could not be received (the limit is {} MB).",
                            MAX_UPLOAD_BYTES / (1024 * 1024)
                        ),
                    );
                }
            }
        }
    }
    let Some((name, bytes)) = upload else {
        return refuse(&admin, "Choose a JSON or CSV file to import.".to_owned());
    };
    let format = format_of(&name, &bytes);
    let records = match records(format, &bytes) {
        Ok(records) => records,
        Err(message) => return refuse(&admin, format!("{name}: {message}.")),
    };
    let report = import::import_all_or_nothing(&state.db, records, false).await?;
    let id: i64 = sqlx::query_scalar(
        "insert into import_uploads (admin_id, file_name, format, bytes) values ($1, $2, $3, $4) returning id",
    )
    .bind(admin.id)
    .bind(&name)
    .bind(format)
    .bind(&bytes)
    .fetch_one(&state.db)
    .await?;
    render(&page(&admin, None, Some((id, name, report, false))))
}

/// Writes the whole file, or nothing when any record is refused now.
pub async fn commit(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let upload: Option<(String, String, Vec<u8>)> =
        sqlx::query_as("select file_name, format, bytes from import_uploads where id = $1")
            .bind(id)
            .fetch_optional(&state.db)
            .await?;
    let (name, format, bytes) = upload.ok_or(AppError::NotFound)?;
    let records = records(&format, &bytes).map_err(AppError::BadRequest)?;
    let report = import::import_all_or_nothing(&state.db, records, true).await?;
    if !report.rejected.is_empty() {
        let page = page(
            &admin,
            Some("Nothing was written: some records are refused.".to_owned()),
            Some((id, name, report, false)),
        );
        return Ok((StatusCode::CONFLICT, render(&page)?).into_response());
    }
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut *tx,
        Some(admin.id),
        "catalog.imported",
        Target::Import(id),
        json!({"file": name, "created": report.created, "updated": report.updated, "unchanged": report.unchanged.len()}),
    )
    .await?;
    sqlx::query("delete from import_uploads where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    render(&page(&admin, None, Some((id, name, report, true))))
}
