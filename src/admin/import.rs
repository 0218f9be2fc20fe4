//! Bulk import in the browser: upload JSON in the catalog exchange format or CSV with documented
//! columns, read a dry-run report (per row: create, update, unchanged, or the errors), then commit the
//! whole file or nothing.

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::model::User;
use crate::catalog::import::{self, CSV_COLUMNS, DryRun, ImportReport};
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

fn refuse(admin: &User, message: String) -> Result<Response, AppError> {
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        render(&page(admin, Some(message), None))?,
    )
        .into_response())
}

/// The dry run: reports what importing the file would do and keeps it for the commit.
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
    match import::dry_run_upload(&state.db, admin.id, &name, &bytes).await? {
        DryRun::Unreadable(message) => refuse(&admin, message),
        DryRun::Checked { upload_id, report } => {
            render(&page(&admin, None, Some((upload_id, name, report, false))))
        }
    }
}

/// Writes the whole file, or nothing when any record is refused now.
pub async fn commit(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let commit = import::commit_upload(&state.db, admin.id, id).await?;
    if !commit.written {
        let page = page(
            &admin,
            Some("Nothing was written: some records are refused.".to_owned()),
            Some((id, commit.file_name, commit.report, false)),
        );
        return Ok((StatusCode::CONFLICT, render(&page)?).into_response());
    }
    render(&page(
        &admin,
        None,
        Some((id, commit.file_name, commit.report, true)),
    ))
}
