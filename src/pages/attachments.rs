//! Uploading and downloading attachments: the multipart field read and checked, and downloads for
//! those allowed to see them.

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::access::attachments;
use crate::error::AppError;
use crate::web::AppState;
use crate::web::extract::CurrentUser;
use crate::web::upload;

/// Reads the file in form field `field`; a message for the person when it is missing, too large or
/// not a PDF, PNG or JPEG.
pub async fn read_file(mut multipart: Multipart, field: &str) -> Result<(String, Vec<u8>), String> {
    let limit = upload::MAX_UPLOAD_BYTES / (1024 * 1024);
    loop {
        let part = match multipart.next_field().await {
            Ok(Some(part)) => part,
            Ok(None) => return Err("Choose a file to upload.".to_owned()),
            Err(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(format!("The file is too large; the limit is {limit} MB."));
            }
            Err(_) => return Err("The upload could not be read; please try again.".to_owned()),
        };
        if part.name() != Some(field) {
            continue;
        }
        let name = part.file_name().unwrap_or("").to_owned();
        let bytes = part
            .bytes()
            .await
            .map_err(|_| format!("The file could not be received (the limit is {limit} MB)."))?;
        if bytes.is_empty() {
            return Err("Choose a file to upload.".to_owned());
        }
        if bytes.len() > upload::MAX_UPLOAD_BYTES {
            return Err(format!("The file is too large; the limit is {limit} MB."));
        }
        if upload::sniff(&bytes).is_none() {
            return Err("Upload a PDF, PNG or JPEG file.".to_owned());
        }
        return Ok((name, bytes.to_vec()));
    }
}

/// Downloads an attachment for those allowed to see it; everyone else is told it does not exist.
pub async fn download(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    if !user.is_admin && !attachments::may_download(&state.db, id, user.id).await? {
        return Err(AppError::NotFound);
    }
    let file = attachments::read(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(upload::download(
        &file.file_name,
        &file.content_type,
        file.bytes,
    ))
}
