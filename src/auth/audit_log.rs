//! Reading the audit trail for administrators: account and administrative actions from `audit_log`
//! and the access workflow's events, in one list, searched by who acted (name or e-mail), action,
//! target and date.

use sqlx::PgExecutor;
use time::{Date, OffsetDateTime};

use super::db::contains_pattern;

/// One line of the log.
#[derive(Clone, Debug)]
pub struct Entry {
    pub occurred_at: OffsetDateTime,
    /// The name of the account that acted; `None` for the portal itself.
    pub actor: Option<String>,
    pub actor_closed: bool,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: serde_json::Value,
}

impl Entry {
    /// Who acted, as the log shows it.
    pub fn actor_label(&self) -> String {
        match (&self.actor, self.actor_closed) {
            (Some(name), false) => name.clone(),
            (Some(name), true) => format!("{name} (closed account)"),
            (None, _) => "the portal".to_owned(),
        }
    }
}

/// What to search for; empty text and `None` match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Part of the actor's name or e-mail address.
    pub actor: String,
    /// The start of the action, e.g. `account.` or `request.vote`.
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// The first day included.
    pub from: Option<Date>,
    /// The last day included.
    pub to: Option<Date>,
}

/// Entries matching `filter`, newest first.
pub async fn entries(
    db: impl PgExecutor<'_>,
    filter: &LogFilter,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Entry>> {
    sqlx::query_as!(
        Entry,
        r#"with log as (
               select a.occurred_at, a.actor_id, a.action, a.target_type, a.target_id, a.details
               from audit_log a
               union all
               select e.created_at, e.actor_id, e.kind,
                      case when e.request_id is not null then 'request' else 'grant' end,
                      coalesce(e.request_id, e.grant_id)::text,
                      e.body || jsonb_build_object('event', e.id)
               from events e)
           select log.occurred_at as "occurred_at!", u.name as "actor?",
                  (u.closed_at is not null) as "actor_closed!", log.action as "action!",
                  log.target_type as "target_type!", log.target_id as "target_id!",
                  log.details as "details!"
           from log left join users u on u.id = log.actor_id
           where ($1 = '%%' or u.name ilike $1 or u.email::text ilike $1)
             and ($2 = '' or log.action like $2 || '%')
             and ($3 = '' or log.target_type = $3)
             and ($4 = '' or log.target_id = $4)
             and ($5::date is null or log.occurred_at >= $5::date)
             and ($6::date is null or log.occurred_at < $6::date + 1)
           order by log.occurred_at desc
           limit $7 offset $8"#,
        contains_pattern(filter.actor.trim()),
        filter.action.trim(),
        filter.target_type.trim(),
        filter.target_id.trim(),
        filter.from,
        filter.to,
        limit,
        offset,
    )
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portal_and_closed_accounts_are_named_as_such() {
        let entry = |actor: Option<&str>, actor_closed| Entry {
            occurred_at: OffsetDateTime::UNIX_EPOCH,
            actor: actor.map(str::to_owned),
            actor_closed,
            action: "account.closed".to_owned(),
            target_type: "user".to_owned(),
            target_id: "1".to_owned(),
            details: serde_json::json!({}),
        };
        assert_eq!(entry(Some("Ada"), false).actor_label(), "Ada");
        assert_eq!(
            entry(Some("Closed account #1"), true).actor_label(),
            "Closed account #1 (closed account)"
        );
        assert_eq!(entry(None, false).actor_label(), "the portal");
    }
}
