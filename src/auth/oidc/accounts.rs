//! The account a provider's person signs in to: the one linked to their subject identifier; or, on a
//! first sign-in, the account with their e-mail address when the provider asserts the address
//! verified; or a new account. Each sign-in copies the institution claim to the profile and applies
//! the provider's group mapping to the administrator flag and committee seats.

use serde_json::{Value, json};
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;

use super::Person;
use crate::audit::{self, AuditAction, Target};
use crate::auth::model::{Email, MAX_INSTITUTION_CHARS, MAX_NAME_CHARS};
use crate::config::OidcProvider;

/// Which account signs in, or why none may.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    Account(i64),
    /// An account has the address, but the provider does not assert it verified: joining them
    /// could hand someone else's account to whoever controls the provider's record.
    UnverifiedEmail,
    /// The provider gave no usable e-mail address, which a new account needs.
    NoEmail,
    /// The account is disabled (or closed).
    Disabled,
}

fn truncated(text: &str, chars: usize) -> String {
    text.trim().chars().take(chars).collect()
}

/// Finds or makes the account of `person`, inside the sign-in's transaction.
pub async fn resolve(
    conn: &mut PgConnection,
    provider: &OidcProvider,
    person: &Person,
) -> sqlx::Result<Resolved> {
    // Sign-ins of one person finishing at once (several tabs, a double click) wait for each other
    // here, so that the first makes the account and the link and the others find them.
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended($1, 0))",
        format!("oidc {} {}", provider.issuer, person.subject),
    )
    .execute(&mut *conn)
    .await?;
    if let Some(email) = &person.email {
        sqlx::query!(
            "select pg_advisory_xact_lock(hashtextextended($1, 0))",
            format!("account {}", email.as_str().to_lowercase()),
        )
        .execute(&mut *conn)
        .await?;
    }
    let linked = sqlx::query!(
        r#"select i.user_id, (u.disabled_at is not null or u.closed_at is not null) as "inactive!"
           from oidc_identities i join users u on u.id = i.user_id
           where i.issuer = $1 and i.subject = $2
           for update of i"#,
        provider.issuer,
        person.subject,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let user_id = match linked {
        Some(row) if row.inactive => return Ok(Resolved::Disabled),
        Some(row) => row.user_id,
        None => {
            let Some(email) = &person.email else {
                return Ok(Resolved::NoEmail);
            };
            let existing = sqlx::query!(
                r#"select id, (disabled_at is not null) as "disabled!" from users
                   where email = $1::text::citext and closed_at is null"#,
                email.as_str(),
            )
            .fetch_optional(&mut *conn)
            .await?;
            let user_id = match existing {
                Some(_) if !person.email_verified => return Ok(Resolved::UnverifiedEmail),
                Some(row) if row.disabled => return Ok(Resolved::Disabled),
                Some(row) => row.id,
                None => create(conn, provider, person, email.as_str()).await?,
            };
            sqlx::query!(
                "insert into oidc_identities (user_id, provider, issuer, subject)
                 values ($1, $2, $3, $4)
                 on conflict (user_id, provider) do update
                     set issuer = excluded.issuer, subject = excluded.subject",
                user_id,
                provider.id,
                provider.issuer,
                person.subject,
            )
            .execute(&mut *conn)
            .await?;
            audit::record(
                &mut *conn,
                Some(user_id),
                AuditAction::AccountIdentityLinked,
                Target::User(user_id),
                json!({"provider": provider.id, "issuer": provider.issuer}),
            )
            .await?;
            user_id
        }
    };
    refresh_profile(conn, provider, person, user_id).await?;
    apply_groups(conn, provider, person, user_id).await?;
    Ok(Resolved::Account(user_id))
}

/// A new account for `person`, without a password here.
async fn create(
    conn: &mut PgConnection,
    provider: &OidcProvider,
    person: &Person,
    email: &str,
) -> sqlx::Result<i64> {
    let name = match person.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => truncated(name, MAX_NAME_CHARS),
        _ => truncated(email.split('@').next().unwrap_or(email), MAX_NAME_CHARS),
    };
    let institution = truncated(
        person.institution.as_deref().unwrap_or(""),
        MAX_INSTITUTION_CHARS,
    );
    let user_id = sqlx::query_scalar!(
        "insert into users (email, name, institution, password_hash, email_verified_at)
         values ($1::text, $2, $3, null, case when $4 then now() end)
         returning id",
        email,
        name,
        institution,
        person.email_verified,
    )
    .fetch_one(&mut *conn)
    .await?;
    audit::record(
        &mut *conn,
        Some(user_id),
        AuditAction::AccountRegistered,
        Target::User(user_id),
        json!({"provider": provider.id, "email_verified": person.email_verified}),
    )
    .await?;
    Ok(user_id)
}

/// Copies the institution claim to the profile, and notes a verified address.
async fn refresh_profile(
    conn: &mut PgConnection,
    provider: &OidcProvider,
    person: &Person,
    user_id: i64,
) -> sqlx::Result<()> {
    let institution = person
        .institution
        .as_deref()
        .map(|text| truncated(text, MAX_INSTITUTION_CHARS))
        .filter(|text| !text.is_empty());
    let before = sqlx::query_scalar!(
        "update users u set
             institution = coalesce($2, u.institution),
             email_verified_at = case
                 when $3 and u.email_verified_at is null and lower(u.email::text) = lower($4)
                 then now() else u.email_verified_at end
         from users old where old.id = u.id and u.id = $1
         returning old.institution",
        user_id,
        institution,
        person.email_verified,
        person.email.as_ref().map_or("", Email::as_str),
    )
    .fetch_one(&mut *conn)
    .await?;
    if let Some(after) = institution.filter(|after| *after != before) {
        audit::record(
            &mut *conn,
            None,
            AuditAction::AccountProfileUpdated,
            Target::User(user_id),
            json!({"before": {"institution": before}, "after": {"institution": after},
                   "provider": provider.id}),
        )
        .await?;
    }
    sqlx::query!(
        "update oidc_identities set last_sign_in_at = now()
         where issuer = $1 and subject = $2",
        provider.issuer,
        person.subject,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Applies the provider's group mapping: the administrator flag and committee seats that the groups
/// give are set, and the ones they gave before and no longer give are taken away. What was given in
/// the portal itself stays.
async fn apply_groups(
    conn: &mut PgConnection,
    provider: &OidcProvider,
    person: &Person,
    user_id: i64,
) -> sqlx::Result<()> {
    if provider.groups_claim.is_none() {
        return Ok(());
    }
    let in_group = |group: &String| person.groups.contains(group);
    if !provider.admin_groups.is_empty() {
        let admin = provider.admin_groups.iter().any(in_group);
        // The flag is the provider's to take away only if the provider gave it.
        let changed = sqlx::query_scalar!(
            "update users set is_admin = $3
             where id = $1 and is_admin <> $3
               and ($3 or exists (select 1 from oidc_identities
                                  where user_id = $1 and provider = $2 and grants_admin))
             returning id",
            user_id,
            provider.id,
            admin,
        )
        .fetch_optional(&mut *conn)
        .await?;
        sqlx::query!(
            "update oidc_identities set grants_admin = case when $3 then grants_admin or $4 else false end
             where user_id = $1 and provider = $2",
            user_id,
            provider.id,
            admin,
            changed.is_some(),
        )
        .execute(&mut *conn)
        .await?;
        if changed.is_some() {
            audit::record(
                &mut *conn,
                None,
                AuditAction::UserAdminFlagChanged,
                Target::User(user_id),
                json!({"is_admin": admin, "provider": provider.id, "groups": provider.admin_groups}),
            )
            .await?;
        }
    }
    if provider.committee_groups.is_empty() {
        return Ok(());
    }
    let slugs: Vec<String> = provider
        .committee_groups
        .iter()
        .filter(|(group, _)| in_group(group))
        .map(|(_, slug)| slug.clone())
        .collect();
    let added = sqlx::query_scalar!(
        "insert into dac_members (dac_id, user_id, via_provider)
         select id, $1, $2 from dacs where slug = any($3)
         on conflict (dac_id, user_id) do nothing
         returning dac_id",
        user_id,
        provider.id,
        &slugs,
    )
    .fetch_all(&mut *conn)
    .await?;
    let removed = sqlx::query_scalar!(
        "delete from dac_members
         where user_id = $1 and via_provider = $2
           and dac_id not in (select id from dacs where slug = any($3))
         returning dac_id",
        user_id,
        provider.id,
        &slugs,
    )
    .fetch_all(&mut *conn)
    .await?;
    for (action, dacs) in [
        (AuditAction::DacMemberAdded, added),
        (AuditAction::DacMemberRemoved, removed),
    ] {
        for dac in dacs {
            audit::record(
                &mut *conn,
                None,
                action,
                Target::Dac(dac),
                json!({"user_id": user_id, "provider": provider.id}),
            )
            .await?;
        }
    }
    Ok(())
}

/// A provider's person linked to an account.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Identity {
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_sign_in_at: OffsetDateTime,
}

/// The providers' people linked to an account, oldest first.
pub async fn identities(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Vec<Identity>> {
    sqlx::query_as!(
        Identity,
        "select provider, issuer, subject, created_at, last_sign_in_at
         from oidc_identities where user_id = $1 order by id",
        user_id,
    )
    .fetch_all(db)
    .await
}

/// Unlinks every provider's person from an account (it is being closed).
pub async fn forget_account(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<()> {
    sqlx::query!("delete from oidc_identities where user_id = $1", user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// The groups in a claim: a list of strings, or one string of names separated by spaces or commas.
pub fn groups_of(claim: Option<&Value>) -> Vec<String> {
    match claim {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(text)) => text
            .split([',', ' '])
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}
