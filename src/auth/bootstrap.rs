//! The first administrator of a fresh install. Several instances may start together on an empty
//! database: an advisory lock lets exactly one of them create the account (and print its password).

use sqlx::PgPool;

use super::db;
use super::model::Email;

/// The advisory lock key that serialises creating the first administrator ("rp-admin").
const FIRST_ADMIN_LOCK: i64 = 0x7270_2d61_646d_696e;

/// Creates the administrator `email` with `password_hash` when the database has no active
/// administrator. Returns whether this call created it; of many calls at once, exactly one does.
pub async fn create_first_admin(
    pool: &PgPool,
    email: &Email,
    name: &str,
    password_hash: &str,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    // The lock function returns `void`, so it is called in `from` and the row has no columns.
    sqlx::query!("select from pg_advisory_xact_lock($1)", FIRST_ADMIN_LOCK)
        .execute(&mut *tx)
        .await?;
    if db::any_admin(&mut *tx).await? {
        return Ok(false);
    }
    db::upsert_admin(&mut *tx, email, name, password_hash).await?;
    tx.commit().await?;
    Ok(true)
}
