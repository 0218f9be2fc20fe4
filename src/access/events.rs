//! The event log of requests and grants: append-only and hash-chained. Each event's hash covers the
//! previous event's hash and its own content, so editing, inserting or deleting an event breaks the
//! chain, and `radportal audit verify` says where; `events_head` records the newest event, and
//! triggers (migrations 0009 and 0012) refuse to change, delete or truncate either, or to rewind the
//! head.

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use time::OffsetDateTime;

pub use crate::audit::chain::Verification;
use crate::audit::chain::{ChainEnd, Nouns, Walk};

/// What events are called in reports.
pub const NOUNS: Nouns = Nouns {
    one: "event",
    many: "events",
};

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

/// Appends an event inside the caller's transaction. The head row's lock serialises appends (it is
/// held until the transaction ends), so the chain has no forks; it is taken before the event gets its
/// id, so ids grow in the order of the chain.
pub async fn append(tx: &mut PgConnection, event: NewEvent<'_>) -> sqlx::Result<i64> {
    let prev = sqlx::query_scalar!("select last_hash from events_head for update")
        .fetch_one(&mut *tx)
        .await?;
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
    let id = sqlx::query_scalar!(
        "insert into events (request_id, grant_id, actor_id, kind, internal, body, created_at, prev_hash, hash)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         returning id",
        event.request_id,
        event.grant_id,
        event.actor_id,
        event.kind,
        event.internal,
        &event.body,
        created_at,
        &prev,
        &hash,
    )
    .fetch_one(&mut *tx)
    .await?;
    // A trigger lets the head move only to the event just appended after it.
    sqlx::query!(
        "update events_head set last_id = $1, last_hash = $2, event_count = event_count + 1",
        id,
        &hash,
    )
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// Walks the whole chain as of one moment and reports every event whose content or link does not
/// match, and a head that does not match the chain's end.
pub async fn verify(db: &sqlx::PgPool) -> sqlx::Result<Verification> {
    let mut tx = db.begin().await?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    let result = verify_on(&mut tx, None).await?;
    tx.commit().await?;
    Ok(result)
}

/// Walks the chain on `conn` (ideally inside one repeatable-read transaction) and, given a
/// `checkpoint`, checks that the chain still extends it.
pub async fn verify_on(
    conn: &mut PgConnection,
    checkpoint: Option<&ChainEnd>,
) -> sqlx::Result<Verification> {
    use futures_util::TryStreamExt;
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
    let head = sqlx::query!("select last_id, last_hash, event_count from events_head")
        .fetch_optional(&mut *conn)
        .await?;
    let mut walk = Walk::new(NOUNS, checkpoint);
    let mut rows = sqlx::query_as!(
        Row,
        "select id, request_id, grant_id, actor_id, kind, internal, body, created_at, prev_hash, hash
         from events order by id",
    )
    .fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
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
        walk.step(row.id, &row.kind, &row.prev_hash, row.hash, &recomputed);
    }
    Ok(walk.finish(head.map(|head| ChainEnd {
        count: u64::try_from(head.event_count).unwrap_or(0),
        last_id: head.last_id,
        last_hash: head.last_hash,
    })))
}
