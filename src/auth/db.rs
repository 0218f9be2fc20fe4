//! All SQL of accounts.

use sqlx::PgExecutor;

use super::model::{Email, User};

/// Whether an admin account was created or an existing account was promoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminOutcome {
    Created,
    Promoted,
}

/// Creates an administrator, or makes an existing account (matched by e-mail, case-insensitively) an
/// administrator with the new password.
pub async fn upsert_admin(
    db: impl PgExecutor<'_>,
    email: &Email,
    name: &str,
    password_hash: &str,
) -> sqlx::Result<(User, AdminOutcome)> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        inserted: bool,
    }
    let row: Row = sqlx::query_as(
        "insert into users (email, name, password_hash, is_admin, email_verified_at)
         values ($1, $2, $3, true, now())
         on conflict (email) do update
             set is_admin = true, password_hash = excluded.password_hash, disabled_at = null
         returning id, email::text as email, name, institution, is_admin, disabled_at, created_at,
                   (xmax = 0) as inserted",
    )
    .bind(email.as_str())
    .bind(name)
    .bind(password_hash)
    .fetch_one(db)
    .await?;
    let outcome = if row.inserted {
        AdminOutcome::Created
    } else {
        AdminOutcome::Promoted
    };
    Ok((row.user, outcome))
}

/// Whether any account is an administrator.
pub async fn any_admin(db: impl PgExecutor<'_>) -> sqlx::Result<bool> {
    sqlx::query_scalar("select exists (select 1 from users where is_admin and disabled_at is null)")
        .fetch_one(db)
        .await
}

/// The account with this e-mail address (any case) and its password hash.
pub async fn find_for_sign_in(
    db: impl PgExecutor<'_>,
    email: &str,
) -> sqlx::Result<Option<(User, String)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        password_hash: String,
    }
    let row: Option<Row> = sqlx::query_as(
        "select id, email::text as email, name, institution, is_admin, disabled_at, created_at, password_hash
         from users where email = $1::citext",
    )
    .bind(email)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| (row.user, row.password_hash)))
}
