//! All SQL of accounts: users, e-mail tokens, credentials, API tokens and closing an account.

use serde_json::json;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;

use super::model::{Credential, Email, TokenScope, USER_COLUMNS, User};
use super::session::{new_token, token_hash};

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
    let sql = format!(
        "with u as (
             insert into users (email, name, password_hash, is_admin, email_verified_at)
             values ($1, $2, $3, true, now())
             on conflict (email) do update
                 set is_admin = true, password_hash = excluded.password_hash, disabled_at = null,
                     email_verified_at = coalesce(users.email_verified_at, now())
             returning *, (xmax = 0) as inserted)
         select {USER_COLUMNS}, u.inserted from u"
    );
    let row: Row = sqlx::query_as(&sql)
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

/// Whether any account is an active administrator.
pub async fn any_admin(db: impl PgExecutor<'_>) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists (select 1 from users where is_admin and disabled_at is null and closed_at is null)",
    )
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
    let sql = format!(
        "select {USER_COLUMNS}, u.password_hash from users u
         where u.email = $1::citext and u.closed_at is null"
    );
    let row: Option<Row> = sqlx::query_as(&sql).bind(email).fetch_optional(db).await?;
    Ok(row.map(|row| (row.user, row.password_hash)))
}

/// The account with this id.
pub async fn find_user(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<User>> {
    let sql = format!("select {USER_COLUMNS} from users u where u.id = $1");
    sqlx::query_as(&sql).bind(id).fetch_optional(db).await
}

/// The open account with this e-mail address (any case).
pub async fn find_by_email(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<Option<User>> {
    let sql = format!(
        "select {USER_COLUMNS} from users u where u.email = $1::citext and u.closed_at is null"
    );
    sqlx::query_as(&sql).bind(email).fetch_optional(db).await
}

/// What registration stores.
pub struct NewAccount<'a> {
    pub email: &'a Email,
    pub name: &'a str,
    pub institution: &'a str,
    pub orcid: Option<&'a str>,
    pub password_hash: &'a str,
}

/// Creates an unverified account; `None` when the address already has one.
pub async fn create_user(
    db: impl PgExecutor<'_>,
    account: &NewAccount<'_>,
) -> sqlx::Result<Option<User>> {
    let sql = format!(
        "with u as (
             insert into users (email, name, institution, orcid, password_hash)
             values ($1, $2, $3, $4, $5)
             on conflict (email) do nothing
             returning *)
         select {USER_COLUMNS} from u"
    );
    sqlx::query_as(&sql)
        .bind(account.email.as_str())
        .bind(account.name)
        .bind(account.institution)
        .bind(account.orcid)
        .bind(account.password_hash)
        .fetch_optional(db)
        .await
}

/// What an e-mailed link is for, and how long it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "email_token_purpose", rename_all = "snake_case")]
pub enum TokenPurpose {
    VerifyEmail,
    ResetPassword,
}

impl TokenPurpose {
    /// How long a link stays valid, in minutes.
    pub fn lifetime_minutes(self) -> i32 {
        match self {
            Self::VerifyEmail => 48 * 60,
            Self::ResetPassword => 60,
        }
    }
}

/// A new single-use token for `user_id`; earlier unused tokens for the same purpose stop working.
pub async fn create_email_token(
    db: &mut PgConnection,
    user_id: i64,
    purpose: TokenPurpose,
) -> sqlx::Result<String> {
    sqlx::query(
        "update email_tokens set used_at = now()
         where user_id = $1 and purpose = $2 and used_at is null",
    )
    .bind(user_id)
    .bind(purpose)
    .execute(&mut *db)
    .await?;
    let token = new_token();
    sqlx::query(
        "insert into email_tokens (token_hash, user_id, purpose, expires_at)
         values ($1, $2, $3, now() + make_interval(mins => $4))",
    )
    .bind(token_hash(&token))
    .bind(user_id)
    .bind(purpose)
    .bind(purpose.lifetime_minutes())
    .execute(&mut *db)
    .await?;
    Ok(token)
}

/// The account a live (unused, unexpired) token belongs to, without using it up.
pub async fn email_token_user(
    db: impl PgExecutor<'_>,
    token: &str,
    purpose: TokenPurpose,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "select t.user_id from email_tokens t join users u on u.id = t.user_id
         where t.token_hash = $1 and t.purpose = $2 and t.used_at is null and t.expires_at > now()
           and u.closed_at is null and u.disabled_at is null",
    )
    .bind(token_hash(token))
    .bind(purpose)
    .fetch_optional(db)
    .await
}

/// Uses up a live token and returns its account; `None` when it is unknown, used or expired. Two
/// requests with the same token cannot both succeed.
pub async fn consume_email_token(
    db: impl PgExecutor<'_>,
    token: &str,
    purpose: TokenPurpose,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "update email_tokens t set used_at = now()
         from users u
         where t.token_hash = $1 and t.purpose = $2 and t.used_at is null and t.expires_at > now()
           and u.id = t.user_id and u.closed_at is null and u.disabled_at is null
         returning t.user_id",
    )
    .bind(token_hash(token))
    .bind(purpose)
    .fetch_optional(db)
    .await
}

pub async fn mark_email_verified(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<()> {
    sqlx::query(
        "update users set email_verified_at = coalesce(email_verified_at, now()) where id = $1",
    )
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn password_hash(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("select password_hash from users where id = $1 and closed_at is null")
        .bind(user_id)
        .fetch_optional(db)
        .await
}

pub async fn set_password(
    db: impl PgExecutor<'_>,
    user_id: i64,
    password_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query("update users set password_hash = $2 where id = $1")
        .bind(user_id)
        .bind(password_hash)
        .execute(db)
        .await?;
    Ok(())
}

/// The profile fields a researcher edits.
pub struct ProfileUpdate<'a> {
    pub name: &'a str,
    pub institution: &'a str,
    pub orcid: Option<&'a str>,
}

pub async fn update_profile(
    db: impl PgExecutor<'_>,
    user_id: i64,
    profile: &ProfileUpdate<'_>,
) -> sqlx::Result<()> {
    sqlx::query("update users set name = $2, institution = $3, orcid = $4 where id = $1")
        .bind(user_id)
        .bind(profile.name)
        .bind(profile.institution)
        .bind(profile.orcid)
        .execute(db)
        .await?;
    Ok(())
}

const CREDENTIAL_COLUMNS: &str = "id, user_id, kind, issuer, identifier, issued_on, expires_on, \
     evidence_name, evidence_type, created_at";

pub async fn list_credentials(
    db: impl PgExecutor<'_>,
    user_id: i64,
) -> sqlx::Result<Vec<Credential>> {
    let sql = format!(
        "select {CREDENTIAL_COLUMNS} from credentials where user_id = $1
         order by expires_on desc nulls first, id"
    );
    sqlx::query_as(&sql).bind(user_id).fetch_all(db).await
}

/// A new credential and its optional evidence file.
pub struct NewCredential<'a> {
    pub kind: &'a str,
    pub issuer: &'a str,
    pub identifier: &'a str,
    pub issued_on: Option<time::Date>,
    pub expires_on: Option<time::Date>,
    /// File name, content type and bytes.
    pub evidence: Option<(&'a str, &'a str, &'a [u8])>,
}

pub async fn add_credential(
    db: impl PgExecutor<'_>,
    user_id: i64,
    credential: &NewCredential<'_>,
) -> sqlx::Result<i64> {
    let (name, kind, bytes) = match credential.evidence {
        Some((name, kind, bytes)) => (Some(name), Some(kind), Some(bytes)),
        None => (None, None, None),
    };
    sqlx::query_scalar(
        "insert into credentials
             (user_id, kind, issuer, identifier, issued_on, expires_on, evidence_name, evidence_type, evidence)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         returning id",
    )
    .bind(user_id)
    .bind(credential.kind)
    .bind(credential.issuer)
    .bind(credential.identifier)
    .bind(credential.issued_on)
    .bind(credential.expires_on)
    .bind(name)
    .bind(kind)
    .bind(bytes)
    .fetch_one(db)
    .await
}

/// Removes one of the account's own credentials; false when it has no such credential.
pub async fn delete_credential(
    db: impl PgExecutor<'_>,
    user_id: i64,
    id: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query("delete from credentials where id = $1 and user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// An evidence file: its owner, file name, content type and bytes.
pub struct Evidence {
    pub owner_id: i64,
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

pub async fn credential_evidence(
    db: impl PgExecutor<'_>,
    id: i64,
) -> sqlx::Result<Option<Evidence>> {
    let row: Option<(i64, String, String, Vec<u8>)> = sqlx::query_as(
        "select user_id, evidence_name, evidence_type, evidence from credentials
         where id = $1 and evidence is not null",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(owner_id, name, content_type, bytes)| Evidence {
        owner_id,
        name,
        content_type,
        bytes,
    }))
}

/// A personal API token as listed (never the token itself).
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub scope: TokenScope,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl ApiToken {
    pub fn is_live(&self, now: &OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > *now
    }
}

/// The text before a personal API token's secret part.
pub const API_TOKEN_PREFIX: &str = "rp_";

pub async fn list_api_tokens(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Vec<ApiToken>> {
    sqlx::query_as(
        "select id, name, prefix, scope, created_at, expires_at, last_used_at, revoked_at
         from api_tokens where user_id = $1 order by created_at desc, id desc",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// Creates a token and returns it with its id; the token is shown once and only its hash is kept.
pub async fn create_api_token(
    db: impl PgExecutor<'_>,
    user_id: i64,
    name: &str,
    scope: TokenScope,
    days: i32,
) -> sqlx::Result<(i64, String)> {
    let token = format!("{API_TOKEN_PREFIX}{}", new_token());
    let id = sqlx::query_scalar(
        "insert into api_tokens (user_id, name, token_hash, prefix, scope, expires_at)
         values ($1, $2, $3, $4, $5, now() + make_interval(days => $6))
         returning id",
    )
    .bind(user_id)
    .bind(name)
    .bind(token_hash(&token))
    .bind(&token[..API_TOKEN_PREFIX.len() + 8])
    .bind(scope)
    .bind(days)
    .fetch_one(db)
    .await?;
    Ok((id, token))
}

/// Revokes one of the account's own tokens; false when it has no such live token.
pub async fn revoke_api_token(
    db: impl PgExecutor<'_>,
    user_id: i64,
    id: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update api_tokens set revoked_at = now()
         where id = $1 and user_id = $2 and revoked_at is null",
    )
    .bind(id)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The active account and scope of a live token, marking it used (at most once a minute).
pub async fn user_for_api_token(
    db: impl PgExecutor<'_>,
    token: &str,
) -> sqlx::Result<Option<(User, TokenScope)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        scope: TokenScope,
    }
    let sql = format!(
        "with live as (
             select id, user_id, scope, last_used_at from api_tokens
             where token_hash = $1 and revoked_at is null and expires_at > now()),
         touched as (
             update api_tokens set last_used_at = now()
             where id in (select id from live
                          where last_used_at is null or last_used_at < now() - interval '1 minute'))
         select {USER_COLUMNS}, live.scope
         from users u join live on live.user_id = u.id
         where u.disabled_at is null and u.closed_at is null"
    );
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(token_hash(token))
        .fetch_optional(db)
        .await?;
    Ok(row.map(|row| (row.user, row.scope)))
}

/// Disables or re-enables an account. Disabling ends its sessions, revokes its API tokens and voids
/// its e-mailed links in the same statement's transaction. False when the account does not exist.
pub async fn set_disabled(
    db: &mut PgConnection,
    user_id: i64,
    disabled: bool,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update users set disabled_at = case when $2 then coalesce(disabled_at, now()) end
         where id = $1 and closed_at is null",
    )
    .bind(user_id)
    .bind(disabled)
    .execute(&mut *db)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    if disabled {
        end_access(db, user_id).await?;
    }
    Ok(true)
}

/// Ends every session, API token and e-mailed link of an account.
async fn end_access(db: &mut PgConnection, user_id: i64) -> sqlx::Result<()> {
    super::session::delete_all_for_user(&mut *db, user_id).await?;
    sqlx::query(
        "update api_tokens set revoked_at = now() where user_id = $1 and revoked_at is null",
    )
    .bind(user_id)
    .execute(&mut *db)
    .await?;
    sqlx::query("update email_tokens set used_at = now() where user_id = $1 and used_at is null")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// Grants or removes the admin flag. False when the account does not exist or is closed.
pub async fn set_admin(db: impl PgExecutor<'_>, user_id: i64, admin: bool) -> sqlx::Result<bool> {
    let done = sqlx::query("update users set is_admin = $2 where id = $1 and closed_at is null")
        .bind(user_id)
        .bind(admin)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// How many active administrators there are besides `user_id`.
pub async fn other_admins(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from users
         where is_admin and id <> $1 and disabled_at is null and closed_at is null",
    )
    .bind(user_id)
    .fetch_one(db)
    .await
}

/// Closes an account: ends its access, deletes its credentials and evidence, and replaces what
/// identifies the person, keeping the row (and so the audit log's references) as "closed account".
pub async fn close_account(db: &mut PgConnection, user_id: i64) -> sqlx::Result<()> {
    end_access(db, user_id).await?;
    sqlx::query("delete from credentials where user_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    sqlx::query("delete from api_tokens where user_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    sqlx::query("delete from dac_members where user_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    sqlx::query(
        "update users set
             email = 'closed-' || id || '@closed.invalid',
             name = 'Closed account #' || id,
             institution = '', orcid = null, password_hash = '!', is_admin = false,
             closed_at = now()
         where id = $1",
    )
    .bind(user_id)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// Everything the portal stores about an account, for the researcher's own download.
pub async fn export_account(db: &mut PgConnection, user: &User) -> sqlx::Result<serde_json::Value> {
    let credentials = list_credentials(&mut *db, user.id).await?;
    let tokens = list_api_tokens(&mut *db, user.id).await?;
    let sessions: Vec<(OffsetDateTime, OffsetDateTime, OffsetDateTime)> = sqlx::query_as(
        "select created_at, last_seen_at, expires_at from sessions where user_id = $1 order by created_at",
    )
    .bind(user.id)
    .fetch_all(&mut *db)
    .await?;
    let events: Vec<(OffsetDateTime, String, String, String, serde_json::Value)> = sqlx::query_as(
        "select occurred_at, action, target_type, target_id, details from audit_log
         where actor_id = $1 or (target_type = 'user' and target_id = $1::text)
         order by occurred_at, id",
    )
    .bind(user.id)
    .fetch_all(&mut *db)
    .await?;
    let stamp = |at: OffsetDateTime| crate::format::rfc3339(at);
    Ok(json!({
        "account": {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "institution": user.institution,
            "orcid": user.orcid,
            "role": user.role().label(),
            "email_verified_at": user.email_verified_at.map(stamp),
            "created_at": stamp(user.created_at),
        },
        "credentials": credentials,
        "api_tokens": tokens,
        "sessions": sessions.into_iter().map(|(created, seen, expires)| json!({
            "created_at": stamp(created), "last_seen_at": stamp(seen), "expires_at": stamp(expires),
        })).collect::<Vec<_>>(),
        "events": events.into_iter().map(|(at, action, target_type, target_id, details)| json!({
            "occurred_at": stamp(at), "action": action, "target_type": target_type,
            "target_id": target_id, "details": details,
        })).collect::<Vec<_>>(),
    }))
}

/// One row of the administrators' user list.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UserRow {
    #[sqlx(flatten)]
    pub user: User,
    pub sessions: i64,
}

/// Accounts matching `text` (name, e-mail or institution), newest first, with the total count.
pub async fn list_users(
    db: impl PgExecutor<'_> + Copy,
    text: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<UserRow>, i64)> {
    let pattern = format!(
        "%{}%",
        text.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let filter =
        "($1 = '%%' or u.email::text ilike $1 or u.name ilike $1 or u.institution ilike $1)";
    let sql = format!(
        "select {USER_COLUMNS},
                (select count(*) from sessions s where s.user_id = u.id and s.expires_at > now()) as sessions
         from users u where {filter}
         order by u.created_at desc, u.id desc limit $2 offset $3"
    );
    let rows = sqlx::query_as(&sql)
        .bind(&pattern)
        .bind(limit)
        .bind(offset)
        .fetch_all(db)
        .await?;
    let total = sqlx::query_scalar(&format!("select count(*) from users u where {filter}"))
        .bind(&pattern)
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}

/// Deletes expired sessions, e-mail tokens and throttling records.
pub async fn prune_expired(db: impl PgExecutor<'_> + Copy) -> sqlx::Result<()> {
    sqlx::query(
        "delete from sessions where expires_at < now()
            or last_seen_at < now() - make_interval(days => $1)",
    )
    .bind(super::session::IDLE_DAYS)
    .execute(db)
    .await?;
    sqlx::query("delete from email_tokens where expires_at < now() - interval '7 days'")
        .execute(db)
        .await?;
    sqlx::query("delete from auth_attempts where attempted_at < now() - interval '1 day'")
        .execute(db)
        .await?;
    sqlx::query("delete from import_uploads where created_at < now() - interval '1 day'")
        .execute(db)
        .await?;
    Ok(())
}
