//! The one error type of the portal's operations and handlers. What the user sees for each kind, and
//! with which HTTP status, is decided in `web::error`.

/// Everything an operation or a handler can fail with. No variant's text is shown to the user except
/// the messages of `BadRequest` and `Forbidden`, which are written for them.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// Whether this is the database being away (rather than a query being wrong).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Database(error) if is_unavailable(error))
    }
}

/// Whether a database error means "the database is away" rather than "the query is wrong".
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
    ) || matches!(error, sqlx::Error::Database(db) if db.code().is_some_and(|code| code.starts_with("57P") || code.starts_with("08")))
}
