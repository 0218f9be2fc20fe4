//! Uploads over HTTP: the request size limit of upload routes, and download responses that a browser
//! will not run.

use axum::http::header;
use axum::response::{IntoResponse, Response};

pub use crate::files::{MAX_UPLOAD_BYTES, safe_file_name, sniff};

/// The largest request that carries an upload (the file plus the form around it).
pub const MAX_UPLOAD_REQUEST_BYTES: usize = MAX_UPLOAD_BYTES + 256 * 1024;

/// A stored file as a download: its checked type, `attachment`, no caching, and a policy that lets
/// nothing in it run.
pub fn download(name: &str, content_type: &str, bytes: Vec<u8>) -> Response {
    let disposition = format!(
        "attachment; filename=\"{}\"",
        safe_file_name(name, content_type)
    );
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_owned(),
            ),
        ],
        bytes,
    )
        .into_response()
}
