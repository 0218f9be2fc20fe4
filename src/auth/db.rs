//! The SQL of accounts, one statement per function: users, e-mailed links, credentials, API tokens,
//! disabling and closing. Operations that change several rows compose these inside their own
//! transaction (`auth::account`, `auth::registration`, `auth::admin`).
//!
//! Every statement is checked against the schema when the crate compiles. A [`User`] is selected with
//! the same column list everywhere (`citext` e-mail read as text, the reviewer flag and the unread
//! count computed); [`user_from!`] builds it from a record that has those columns.

use sqlx::PgExecutor;
use time::OffsetDateTime;

use super::model::{Credential, Email, TokenScope, User};
use super::session::{IDLE_DAYS, new_token, token_hash};

/// Builds a [`User`] from a query record that selected the user columns, leaving its other fields.
macro_rules! user_from {
    ($row:ident) => {
        User {
            id: $row.id,
            email: $row.email,
            name: $row.name,
            institution: $row.institution,
            orcid: $row.orcid,
            is_admin: $row.is_admin,
            is_reviewer: $row.is_reviewer,
            email_verified_at: $row.email_verified_at,
            disabled_at: $row.disabled_at,
            closed_at: $row.closed_at,
            created_at: $row.created_at,
            unread_notifications: $row.unread_notifications,
            cart_items: $row.cart_items,
        }
    };
}

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
    let row = sqlx::query!(
        r#"insert into users (email, name, password_hash, is_admin, email_verified_at)
           values ($1::text, $2, $3, true, now())
           on conflict (email) do update
               set is_admin = true, password_hash = excluded.password_hash, disabled_at = null,
                   email_verified_at = coalesce(users.email_verified_at, now())
           returning id, email::text as "email!", name, institution, orcid, is_admin,
               exists (select 1 from dac_members m where m.user_id = users.id) as "is_reviewer!",
               email_verified_at, disabled_at, closed_at, created_at,
               (select count(*) from notifications n
                where n.user_id = users.id and n.read_at is null) as "unread_notifications!",
               (select count(*) from cart_items c where c.user_id = users.id) as "cart_items!",
               (xmax = 0) as "inserted!""#,
        email.as_str(),
        name,
        password_hash,
    )
    .fetch_one(db)
    .await?;
    let outcome = if row.inserted {
        AdminOutcome::Created
    } else {
        AdminOutcome::Promoted
    };
    Ok((user_from!(row), outcome))
}

/// Whether any account is an active administrator.
pub async fn any_admin(db: impl PgExecutor<'_>) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (
               select 1 from users where is_admin and disabled_at is null and closed_at is null
           ) as "exists!""#
    )
    .fetch_one(db)
    .await
}

/// The open account with this e-mail address (any case) and its password hash, if it has a password.
pub async fn find_for_sign_in(
    db: impl PgExecutor<'_>,
    email: &str,
) -> sqlx::Result<Option<(User, Option<String>)>> {
    let row = sqlx::query!(
        r#"select u.id, u.email::text as "email!", u.name, u.institution, u.orcid, u.is_admin,
               exists (select 1 from dac_members m where m.user_id = u.id) as "is_reviewer!",
               u.email_verified_at, u.disabled_at, u.closed_at, u.created_at,
               (select count(*) from notifications n
                where n.user_id = u.id and n.read_at is null) as "unread_notifications!",
               (select count(*) from cart_items c where c.user_id = u.id) as "cart_items!",
               u.password_hash
           from users u
           where u.email = $1::text::citext and u.closed_at is null"#,
        email,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| {
        let password_hash = row.password_hash;
        (user_from!(row), password_hash)
    }))
}

/// The account with this id.
pub async fn find_user(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        r#"select u.id, u.email::text as "email!", u.name, u.institution, u.orcid, u.is_admin,
               exists (select 1 from dac_members m where m.user_id = u.id) as "is_reviewer!",
               u.email_verified_at, u.disabled_at, u.closed_at, u.created_at,
               (select count(*) from notifications n
                where n.user_id = u.id and n.read_at is null) as "unread_notifications!",
               (select count(*) from cart_items c where c.user_id = u.id) as "cart_items!"
           from users u
           where u.id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await
}

/// The open account with this e-mail address (any case).
pub async fn find_by_email(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        r#"select u.id, u.email::text as "email!", u.name, u.institution, u.orcid, u.is_admin,
               exists (select 1 from dac_members m where m.user_id = u.id) as "is_reviewer!",
               u.email_verified_at, u.disabled_at, u.closed_at, u.created_at,
               (select count(*) from notifications n
                where n.user_id = u.id and n.read_at is null) as "unread_notifications!",
               (select count(*) from cart_items c where c.user_id = u.id) as "cart_items!"
           from users u
           where u.email = $1::text::citext and u.closed_at is null"#,
        email,
    )
    .fetch_optional(db)
    .await
}

/// What registration stores.
pub struct NewAccount<'a> {
    pub email: &'a Email,
    pub name: &'a str,
    pub institution: &'a str,
    pub orcid: Option<&'a str>,
    pub password_hash: &'a str,
}

/// Creates an unverified account; `None` when the address already has one. A new account has no
/// committee seat and no notifications yet.
pub async fn create_user(
    db: impl PgExecutor<'_>,
    account: &NewAccount<'_>,
) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        r#"insert into users (email, name, institution, orcid, password_hash)
           values ($1::text, $2, $3, $4, $5)
           on conflict (email) do nothing
           returning id, email::text as "email!", name, institution, orcid, is_admin,
               false as "is_reviewer!", email_verified_at, disabled_at, closed_at, created_at,
               0::bigint as "unread_notifications!", 0::bigint as "cart_items!""#,
        account.email.as_str(),
        account.name,
        account.institution,
        account.orcid,
        account.password_hash,
    )
    .fetch_optional(db)
    .await
}

/// How long a link to confirm an e-mail address works.
pub const VERIFY_EMAIL_LINK_HOURS: i32 = 48;
/// How long a password-reset link works.
pub const RESET_PASSWORD_LINK_MINUTES: i32 = 60;

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
            Self::VerifyEmail => VERIFY_EMAIL_LINK_HOURS * 60,
            Self::ResetPassword => RESET_PASSWORD_LINK_MINUTES,
        }
    }
}

/// Voids the account's unused links for `purpose`.
pub async fn void_email_tokens(
    db: impl PgExecutor<'_>,
    user_id: i64,
    purpose: TokenPurpose,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update email_tokens set used_at = now()
         where user_id = $1 and purpose = $2 and used_at is null",
        user_id,
        purpose as TokenPurpose,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Stores a new single-use link for `user_id` and returns its token (only its hash is kept).
pub async fn insert_email_token(
    db: impl PgExecutor<'_>,
    user_id: i64,
    purpose: TokenPurpose,
) -> sqlx::Result<String> {
    let token = new_token();
    sqlx::query!(
        "insert into email_tokens (token_hash, user_id, purpose, expires_at)
         values ($1, $2, $3, now() + make_interval(mins => $4))",
        token_hash(&token),
        user_id,
        purpose as TokenPurpose,
        purpose.lifetime_minutes(),
    )
    .execute(db)
    .await?;
    Ok(token)
}

/// The account a live (unused, unexpired) token belongs to, without using it up.
pub async fn email_token_user(
    db: impl PgExecutor<'_>,
    token: &str,
    purpose: TokenPurpose,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "select t.user_id from email_tokens t join users u on u.id = t.user_id
         where t.token_hash = $1 and t.purpose = $2 and t.used_at is null and t.expires_at > now()
           and u.closed_at is null and u.disabled_at is null",
        token_hash(token),
        purpose as TokenPurpose,
    )
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
    sqlx::query_scalar!(
        "update email_tokens t set used_at = now()
         from users u
         where t.token_hash = $1 and t.purpose = $2 and t.used_at is null and t.expires_at > now()
           and u.id = t.user_id and u.closed_at is null and u.disabled_at is null
         returning t.user_id",
        token_hash(token),
        purpose as TokenPurpose,
    )
    .fetch_optional(db)
    .await
}

/// Voids every unused link of an account.
pub async fn void_all_email_tokens(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "update email_tokens set used_at = now() where user_id = $1 and used_at is null",
        user_id,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Records that the account's address is confirmed (the first time only).
pub async fn mark_email_verified(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "update users set email_verified_at = coalesce(email_verified_at, now()) where id = $1",
        user_id,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The password hash of an open account; `None` also for an account without a password (one that
/// signs in through an institution).
pub async fn password_hash(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Option<String>> {
    Ok(sqlx::query_scalar!(
        "select password_hash from users where id = $1 and closed_at is null",
        user_id,
    )
    .fetch_optional(db)
    .await?
    .flatten())
}

/// Replaces the account's password hash.
pub async fn set_password(
    db: impl PgExecutor<'_>,
    user_id: i64,
    password_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update users set password_hash = $2 where id = $1",
        user_id,
        password_hash,
    )
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

/// Saves the profile fields.
pub async fn update_profile(
    db: impl PgExecutor<'_>,
    user_id: i64,
    profile: &ProfileUpdate<'_>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update users set name = $2, institution = $3, orcid = $4 where id = $1",
        user_id,
        profile.name,
        profile.institution,
        profile.orcid,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The account's credentials, those without an expiry date first, then the latest to expire.
pub async fn list_credentials(
    db: impl PgExecutor<'_>,
    user_id: i64,
) -> sqlx::Result<Vec<Credential>> {
    sqlx::query_as!(
        Credential,
        "select id, user_id, kind, issuer, identifier, issued_on, expires_on, evidence_name,
                evidence_type, created_at
         from credentials where user_id = $1
         order by expires_on desc nulls first, id",
        user_id,
    )
    .fetch_all(db)
    .await
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

/// Stores a credential and returns its id.
pub async fn add_credential(
    db: impl PgExecutor<'_>,
    user_id: i64,
    credential: &NewCredential<'_>,
) -> sqlx::Result<i64> {
    let (name, content_type, bytes) = match credential.evidence {
        Some((name, content_type, bytes)) => (Some(name), Some(content_type), Some(bytes)),
        None => (None, None, None),
    };
    sqlx::query_scalar!(
        "insert into credentials
             (user_id, kind, issuer, identifier, issued_on, expires_on, evidence_name, evidence_type, evidence)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         returning id",
        user_id,
        credential.kind,
        credential.issuer,
        credential.identifier,
        credential.issued_on,
        credential.expires_on,
        name,
        content_type,
        bytes,
    )
    .fetch_one(db)
    .await
}

/// Removes one of the account's own credentials; false when it has no such credential.
pub async fn delete_credential(
    db: impl PgExecutor<'_>,
    user_id: i64,
    id: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "delete from credentials where id = $1 and user_id = $2",
        id,
        user_id,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes every credential of an account, with its evidence.
pub async fn delete_all_credentials(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<()> {
    sqlx::query!("delete from credentials where user_id = $1", user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// An evidence file: its owner, file name, content type and bytes.
pub struct Evidence {
    pub owner_id: i64,
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The evidence file of a credential that has one.
pub async fn credential_evidence(
    db: impl PgExecutor<'_>,
    id: i64,
) -> sqlx::Result<Option<Evidence>> {
    // The table's check keeps the three evidence columns null or set together.
    sqlx::query_as!(
        Evidence,
        r#"select user_id as owner_id, evidence_name as "name!", evidence_type as "content_type!",
               evidence as "bytes!"
           from credentials
           where id = $1 and evidence is not null"#,
        id,
    )
    .fetch_optional(db)
    .await
}

/// A personal API token as listed (never the token itself).
#[derive(Clone, Debug, serde::Serialize)]
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
    /// Whether the token still works at `now`.
    pub fn is_live(&self, now: &OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > *now
    }
}

/// The text before a personal API token's secret part.
pub const API_TOKEN_PREFIX: &str = "rp_";

/// How many characters of a token are kept in the clear to recognise it in lists.
const SHOWN_PREFIX_CHARS: usize = API_TOKEN_PREFIX.len() + 8;

/// The account's API tokens, newest first.
pub async fn list_api_tokens(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Vec<ApiToken>> {
    sqlx::query_as!(
        ApiToken,
        r#"select id, name, prefix, scope as "scope: TokenScope", created_at, expires_at,
               last_used_at, revoked_at
           from api_tokens where user_id = $1
           order by created_at desc, id desc"#,
        user_id,
    )
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
    let id = sqlx::query_scalar!(
        "insert into api_tokens (user_id, name, token_hash, prefix, scope, expires_at)
         values ($1, $2, $3, $4, $5, now() + make_interval(days => $6))
         returning id",
        user_id,
        name,
        token_hash(&token),
        &token[..SHOWN_PREFIX_CHARS],
        scope as TokenScope,
        days,
    )
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
    let done = sqlx::query!(
        "update api_tokens set revoked_at = now()
         where id = $1 and user_id = $2 and revoked_at is null",
        id,
        user_id,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every live token of an account.
pub async fn revoke_all_api_tokens(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "update api_tokens set revoked_at = now() where user_id = $1 and revoked_at is null",
        user_id,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Removes every token of an account, revoked or not.
pub async fn delete_all_api_tokens(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<()> {
    sqlx::query!("delete from api_tokens where user_id = $1", user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// The active account and scope of a live token, marking it used (at most once a minute).
pub async fn user_for_api_token(
    db: impl PgExecutor<'_>,
    token: &str,
) -> sqlx::Result<Option<(User, TokenScope)>> {
    let row = sqlx::query!(
        r#"with live as (
               select id, user_id, scope, last_used_at from api_tokens
               where token_hash = $1 and revoked_at is null and expires_at > now()),
           touched as (
               update api_tokens set last_used_at = now()
               where id in (select id from live
                            where last_used_at is null or last_used_at < now() - interval '1 minute'))
           select u.id, u.email::text as "email!", u.name, u.institution, u.orcid, u.is_admin,
               exists (select 1 from dac_members m where m.user_id = u.id) as "is_reviewer!",
               u.email_verified_at, u.disabled_at, u.closed_at, u.created_at,
               (select count(*) from notifications n
                where n.user_id = u.id and n.read_at is null) as "unread_notifications!",
               (select count(*) from cart_items c where c.user_id = u.id) as "cart_items!",
               live.scope as "scope!: TokenScope"
           from users u join live on live.user_id = u.id
           where u.disabled_at is null and u.closed_at is null
             -- A data-host token speaks for an administrator: it works only while its owner is one.
             and (live.scope <> 'data_host' or u.is_admin)"#,
        token_hash(token),
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| {
        let scope = row.scope;
        (user_from!(row), scope)
    }))
}

/// Sets or clears the account's `disabled_at` (keeping the first time it was disabled). False when the
/// account does not exist or is closed.
pub async fn set_disabled_at(
    db: impl PgExecutor<'_>,
    user_id: i64,
    disabled: bool,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update users set disabled_at = case when $2 then coalesce(disabled_at, now()) end
         where id = $1 and closed_at is null",
        user_id,
        disabled,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Grants or removes the admin flag. False when the account does not exist or is closed.
pub async fn set_admin(db: impl PgExecutor<'_>, user_id: i64, admin: bool) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update users set is_admin = $2 where id = $1 and closed_at is null",
        user_id,
        admin,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many active administrators there are besides `user_id`.
pub async fn other_admins(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from users
           where is_admin and id <> $1 and disabled_at is null and closed_at is null"#,
        user_id,
    )
    .fetch_one(db)
    .await
}

/// Takes the account off every Data Access Committee.
pub async fn leave_committees(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<()> {
    sqlx::query!("delete from dac_members where user_id = $1", user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Replaces what identifies the person and marks the account closed, keeping the row (and so the
/// audit log's references) as "closed account".
pub async fn anonymise_closed_user(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "update users set
             email = 'closed-' || id || '@closed.invalid',
             name = 'Closed account #' || id,
             institution = '', orcid = null, password_hash = '!', is_admin = false,
             closed_at = now()
         where id = $1",
        user_id,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// When a session was started, last used, and ends.
pub struct SessionTimes {
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// The account's sessions, oldest first (for the researcher's own download).
pub async fn session_times(
    db: impl PgExecutor<'_>,
    user_id: i64,
) -> sqlx::Result<Vec<SessionTimes>> {
    sqlx::query_as!(
        SessionTimes,
        "select created_at, last_seen_at, expires_at from sessions
         where user_id = $1 order by created_at",
        user_id,
    )
    .fetch_all(db)
    .await
}

/// One audit record by or about an account.
pub struct AccountEvent {
    pub occurred_at: OffsetDateTime,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: serde_json::Value,
}

/// The audit records the account made or that are about it, oldest first.
pub async fn account_events(
    db: impl PgExecutor<'_>,
    user_id: i64,
) -> sqlx::Result<Vec<AccountEvent>> {
    sqlx::query_as!(
        AccountEvent,
        "select occurred_at, action, target_type, target_id, details from audit_log
         where actor_id = $1 or (target_type = 'user' and target_id = $1::text)
         order by occurred_at, id",
        user_id,
    )
    .fetch_all(db)
    .await
}

/// One row of the administrators' user list.
#[derive(Clone, Debug)]
pub struct UserRow {
    pub user: User,
    /// Live sessions.
    pub sessions: i64,
}

/// The `ilike` pattern that finds `text` anywhere, with its wildcards taken literally; `%%` for none.
pub fn contains_pattern(text: &str) -> String {
    format!(
        "%{}%",
        text.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

/// Accounts matching `text` (name, e-mail or institution), newest first, with the total count.
pub async fn list_users(
    db: impl PgExecutor<'_> + Copy,
    text: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<UserRow>, i64)> {
    let pattern = contains_pattern(text);
    let rows = sqlx::query!(
        r#"select u.id, u.email::text as "email!", u.name, u.institution, u.orcid, u.is_admin,
               exists (select 1 from dac_members m where m.user_id = u.id) as "is_reviewer!",
               u.email_verified_at, u.disabled_at, u.closed_at, u.created_at,
               (select count(*) from notifications n
                where n.user_id = u.id and n.read_at is null) as "unread_notifications!",
               (select count(*) from cart_items c where c.user_id = u.id) as "cart_items!",
               (select count(*) from sessions s
                where s.user_id = u.id and s.expires_at > now()) as "sessions!"
           from users u
           where ($1 = '%%' or u.email::text ilike $1 or u.name ilike $1 or u.institution ilike $1)
           order by u.created_at desc, u.id desc
           limit $2 offset $3"#,
        pattern,
        limit,
        offset,
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|row| UserRow {
        sessions: row.sessions,
        user: user_from!(row),
    })
    .collect();
    let total = sqlx::query_scalar!(
        r#"select count(*) as "count!" from users u
           where ($1 = '%%' or u.email::text ilike $1 or u.name ilike $1 or u.institution ilike $1)"#,
        pattern,
    )
    .fetch_one(db)
    .await?;
    Ok((rows, total))
}

/// Deletes expired sessions, e-mail tokens and throttling records, and abandoned import uploads. Each
/// statement stands alone: a prune interrupted half-way is finished by the next one.
pub async fn prune_expired(db: impl PgExecutor<'_> + Copy) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from sessions where expires_at < now()
            or last_seen_at < now() - make_interval(days => $1)",
        IDLE_DAYS,
    )
    .execute(db)
    .await?;
    sqlx::query!("delete from email_tokens where expires_at < now() - interval '7 days'")
        .execute(db)
        .await?;
    sqlx::query!("delete from oidc_sign_ins where expires_at < now()")
        .execute(db)
        .await?;
    sqlx::query!("delete from sign_in_challenges where expires_at < now()")
        .execute(db)
        .await?;
    sqlx::query!("delete from auth_attempts where attempted_at < now() - interval '1 day'")
        .execute(db)
        .await?;
    sqlx::query!("delete from import_uploads where created_at < now() - interval '1 day'")
        .execute(db)
        .await?;
    Ok(())
}
