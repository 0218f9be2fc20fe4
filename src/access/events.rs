//! The event log of requests and grants: append-only and hash-chained. Each event's hash covers the
//! previous event's hash and its own content, so editing, inserting or deleting an event breaks the
//! chain, and `radportal audit verify` says where.

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use time::OffsetDateTime;

/// The "previous hash" of the first event.
pub const GENESIS: [u8; 32] = [0; 32];

/// An event to record.
pub struct NewEvent<'a> {
    pub request_id: Option<i64>,
    pub grant_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub kind: &'a str,
    /// Seen by reviewers and administrators only.
    pub internal: bool,
    pub body: Value,
}

/// The hashed content of an event: every column but the id and the hashes, in a fixed form.
#[allow(clippy::too_many_arguments)]
fn content_hash(
    prev_hash: &[u8],
    request_id: Option<i64>,
    grant_id: Option<i64>,
    actor_id: Option<i64>,
    kind: &str,
    internal: bool,
    body: &Value,
    created_at: OffsetDateTime,
) -> Vec<u8> {
    let number = |value: Option<i64>| value.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let canonical = format!(
        "{}|{}|{}|{}|{}|{}|{}",
        number(request_id),
        number(grant_id),
        number(actor_id),
        kind,
        internal,
        // serde_json orders object keys, so the same JSON always gives the same text.
        body,
        created_at.unix_timestamp_nanos() / 1000,
    );
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(canonical.as_bytes());
    hasher.finalize().to_vec()
}

/// Appends an event inside the caller's transaction. Appends are serialised by a transaction-level
/// advisory lock, so the chain has no forks.
pub async fn append(tx: &mut PgConnection, event: NewEvent<'_>) -> sqlx::Result<i64> {
    sqlx::query("select pg_advisory_xact_lock(hashtext('radportal.events'))")
        .execute(&mut *tx)
        .await?;
    let prev: Option<Vec<u8>> =
        sqlx::query_scalar("select hash from events order by id desc limit 1")
            .fetch_optional(&mut *tx)
            .await?;
    let prev = prev.unwrap_or_else(|| GENESIS.to_vec());
    // PostgreSQL keeps microseconds: hash exactly what is stored.
    let now = OffsetDateTime::now_utc();
    let created_at = now
        .replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now);
    let hash = content_hash(
        &prev,
        event.request_id,
        event.grant_id,
        event.actor_id,
        event.kind,
        event.internal,
        &event.body,
        created_at,
    );
    let id: i64 = sqlx::query_scalar(
        "insert into events (request_id, grant_id, actor_id, kind, internal, body, created_at, prev_hash, hash)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         returning id",
    )
    .bind(event.request_id)
    .bind(event.grant_id)
    .bind(event.actor_id)
    .bind(event.kind)
    .bind(event.internal)
    .bind(&event.body)
    .bind(created_at)
    .bind(&prev)
    .bind(&hash)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "insert into events_head (last_id, last_hash, event_count) values ($1, $2, 1)
         on conflict (singleton) do update
             set last_id = excluded.last_id, last_hash = excluded.last_hash,
                 event_count = events_head.event_count + 1",
    )
    .bind(id)
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// What a check of the chain found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verification {
    pub checked: u64,
    /// One line per problem, naming the event.
    pub problems: Vec<String>,
}

impl Verification {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Walks the whole chain in order and reports every event whose content or link does not match.
pub async fn verify(db: &sqlx::PgPool) -> sqlx::Result<Verification> {
    use futures_util::TryStreamExt;
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        request_id: Option<i64>,
        grant_id: Option<i64>,
        actor_id: Option<i64>,
        kind: String,
        internal: bool,
        body: Value,
        created_at: OffsetDateTime,
        prev_hash: Vec<u8>,
        hash: Vec<u8>,
    }
    let mut conn = db.acquire().await?;
    let head: Option<(i64, Vec<u8>, i64)> =
        sqlx::query_as("select last_id, last_hash, event_count from events_head")
            .fetch_optional(&mut *conn)
            .await?;
    let mut last = None;
    let mut rows = sqlx::query_as::<_, Row>(
        "select id, request_id, grant_id, actor_id, kind, internal, body, created_at, prev_hash, hash
         from events order by id",
    )
    .fetch(&mut *conn);
    let mut result = Verification::default();
    let mut expected_prev = GENESIS.to_vec();
    while let Some(row) = rows.try_next().await? {
        result.checked += 1;
        if row.prev_hash != expected_prev {
            result.problems.push(format!(
                "event {}: does not follow the event before it (an event was inserted or deleted here)",
                row.id
            ));
        }
        let recomputed = content_hash(
            &row.prev_hash,
            row.request_id,
            row.grant_id,
            row.actor_id,
            &row.kind,
            row.internal,
            &row.body,
            row.created_at,
        );
        if recomputed != row.hash {
            result.problems.push(format!(
                "event {} ({}): its content was changed after it was recorded",
                row.id, row.kind
            ));
        }
        last = Some((row.id, row.hash.clone()));
        expected_prev = row.hash;
    }
    drop(rows);
    check_head(&mut result, last, head);
    Ok(result)
}

/// Compares the chain's end with the recorded head: the newest events cannot vanish unnoticed.
fn check_head(
    result: &mut Verification,
    last: Option<(i64, Vec<u8>)>,
    head: Option<(i64, Vec<u8>, i64)>,
) {
    match (last, head) {
        (None, None) => {}
        (_, None) => result
            .problems
            .push("the record of the newest event is missing".to_owned()),
        (None, Some((head_id, _, count))) => result.problems.push(format!(
            "all {count} events up to event {head_id} were deleted"
        )),
        (Some((last_id, last_hash)), Some((head_id, head_hash, count))) => {
            if last_id != head_id || last_hash != head_hash {
                result.problems.push(format!(
                    "the newest event should be event {head_id}, but the chain ends at event {last_id}: events were deleted from the end"
                ));
            }
            if u64::try_from(count).unwrap_or(0) != result.checked {
                result.problems.push(format!(
                    "{count} events were recorded but {} are present",
                    result.checked
                ));
            }
        }
    }
}
