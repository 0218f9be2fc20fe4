//! The SQL of exports and restores: what PostgreSQL's catalog says about the tables (columns,
//! primary keys, identity sequences, triggers), the chains' heads, and the statements that dump,
//! load, lock and count a table named at run time.

use sqlx::PgConnection;

use super::{quoted, quoted_list};

/// A column as the database defines it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    /// As `format_type` names it: `bigint`, `text[]`, `timestamp with time zone`.
    pub sql_type: String,
}

/// The tables of the current schema (without sqlx's migration table).
pub async fn schema_tables(conn: &mut PgConnection) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"select c.relname::text as "name!"
           from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = current_schema() and c.relkind in ('r', 'p')
             and c.relname <> '_sqlx_migrations'
           order by 1"#
    )
    .fetch_all(conn)
    .await
}

/// Whether the current schema has the table `name`.
pub async fn table_exists(conn: &mut PgConnection, name: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select to_regclass(quote_ident(current_schema()) || '.' || quote_ident($1)) is not null
               as "exists!""#,
        name
    )
    .fetch_one(conn)
    .await
}

/// The columns of `table` that hold stored values (not generated ones), in the table's order.
pub async fn columns(conn: &mut PgConnection, table: &str) -> sqlx::Result<Vec<ColumnInfo>> {
    sqlx::query_as!(
        ColumnInfo,
        r#"select a.attname::text as "name!", format_type(a.atttypid, a.atttypmod) as "sql_type!"
           from pg_attribute a
           where a.attrelid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident($1))
             and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
           order by a.attnum"#,
        table
    )
    .fetch_all(conn)
    .await
}

/// The columns of `table`'s primary key, in the key's order.
pub async fn primary_key(conn: &mut PgConnection, table: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"select a.attname::text as "name!"
           from pg_index i
           cross join lateral unnest(i.indkey::int2[]) with ordinality as k (attnum, position)
           join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
           where i.indrelid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident($1))
             and i.indisprimary
           order by k.position"#,
        table
    )
    .fetch_all(conn)
    .await
}

/// An identity column and the last value its sequence handed out.
pub struct IdentityColumn {
    pub table: String,
    pub column: String,
    pub last_value: Option<i64>,
}

/// Every identity column of the current schema with its sequence's last value.
pub async fn identity_columns(conn: &mut PgConnection) -> sqlx::Result<Vec<IdentityColumn>> {
    sqlx::query_as!(
        IdentityColumn,
        r#"select c.relname::text as "table!", a.attname::text as "column!",
               pg_sequence_last_value(
                   pg_get_serial_sequence(quote_ident(c.relname), a.attname)::regclass) as last_value
           from pg_attribute a
           join pg_class c on c.oid = a.attrelid
           join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = current_schema() and c.relkind = 'r'
             and a.attnum > 0 and not a.attisdropped and a.attidentity <> ''
           order by 1, 2"#
    )
    .fetch_all(conn)
    .await
}

/// Sets the last value drawn from the sequence of `table.column`: the next one is `last + 1`.
pub async fn set_last_value(
    conn: &mut PgConnection,
    table: &str,
    column: &str,
    last: i64,
) -> sqlx::Result<()> {
    sqlx::query_scalar!(
        r#"select setval(pg_get_serial_sequence(quote_ident($1), $2), $3, true) as "value!""#,
        table,
        column,
        last
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// A trigger, named with its table.
pub struct Trigger {
    pub table: String,
    pub name: String,
}

/// The triggers of the current schema that call one of `functions`.
pub async fn triggers_calling(
    conn: &mut PgConnection,
    functions: &[&str],
) -> sqlx::Result<Vec<Trigger>> {
    let functions: Vec<String> = functions.iter().map(|name| (*name).to_owned()).collect();
    sqlx::query_as!(
        Trigger,
        r#"select c.relname::text as "table!", t.tgname::text as "name!"
           from pg_trigger t
           join pg_class c on c.oid = t.tgrelid
           join pg_namespace n on n.oid = c.relnamespace
           join pg_proc p on p.oid = t.tgfoid
           where n.nspname = current_schema() and not t.tgisinternal
             and p.proname::text = any($1::text[])
           order by 1, 2"#,
        &functions
    )
    .fetch_all(conn)
    .await
}

/// Turns a trigger off (`enabled = false`) or on again, inside the caller's transaction.
pub async fn set_trigger_enabled(
    conn: &mut PgConnection,
    trigger: &Trigger,
    enabled: bool,
) -> sqlx::Result<()> {
    let statement = format!(
        "alter table {} {} trigger {}",
        quoted(&trigger.table),
        if enabled { "enable" } else { "disable" },
        quoted(&trigger.name)
    );
    sqlx::query(&statement).execute(conn).await?;
    Ok(())
}

/// A chain's head row.
pub struct Head {
    pub last_id: i64,
    pub last_hash: Vec<u8>,
    pub count: i64,
}

/// The events' head.
pub async fn events_head(conn: &mut PgConnection) -> sqlx::Result<Option<Head>> {
    sqlx::query_as!(
        Head,
        r#"select last_id, last_hash, event_count as count from events_head"#
    )
    .fetch_optional(conn)
    .await
}

/// The audit log's head.
pub async fn audit_log_head(conn: &mut PgConnection) -> sqlx::Result<Option<Head>> {
    sqlx::query_as!(
        Head,
        r#"select last_id, last_hash, entry_count as count from audit_log_head"#
    )
    .fetch_optional(conn)
    .await
}

/// Sets the events' head (its guard trigger must be off).
pub async fn set_events_head(conn: &mut PgConnection, head: &Head) -> sqlx::Result<()> {
    sqlx::query!(
        "update events_head set last_id = $1, last_hash = $2, event_count = $3",
        head.last_id,
        &head.last_hash,
        head.count
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets the audit log's head (its guard trigger must be off).
pub async fn set_audit_log_head(conn: &mut PgConnection, head: &Head) -> sqlx::Result<()> {
    sqlx::query!(
        "update audit_log_head set last_id = $1, last_hash = $2, entry_count = $3",
        head.last_id,
        &head.last_hash,
        head.count
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves the catalog's version once and tells the instances listening on `channel`, as the
/// version trigger does for each change.
pub async fn bump_catalog_version(conn: &mut PgConnection, channel: &str) -> sqlx::Result<()> {
    sqlx::query_scalar!(
        r#"with bumped as (update catalog_state set version = version + 1 where id returning version)
           select bumped.version as "version!"
           from bumped, lateral (select pg_notify($1, bumped.version::text)) as notified"#,
        channel
    )
    .fetch_optional(conn)
    .await?;
    Ok(())
}

/// The transaction's start, which is its snapshot's moment, in UTC (RFC 3339).
pub async fn snapshot_time(conn: &mut PgConnection) -> sqlx::Result<String> {
    sqlx::query_scalar!(
        r#"select to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "at!""#
    )
    .fetch_one(conn)
    .await
}

/// Writes timestamps in UTC for the rest of the transaction.
pub async fn use_utc(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query_scalar!(r#"select set_config('TimeZone', 'UTC', true) as "zone!""#)
        .fetch_one(conn)
        .await?;
    Ok(())
}

/// Hands each row of `table` to `on_row` as a JSON object of `columns` (one line, in PostgreSQL's
/// JSON forms: timestamps in ISO 8601, `bytea` as the text `\x` and hex digits, arrays as arrays), in the order
/// of `key`.
pub async fn dump(
    conn: &mut PgConnection,
    table: &str,
    columns: &[String],
    key: &[String],
    mut on_row: impl FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use futures_util::TryStreamExt;
    let statement = format!(
        "select row_to_json(row)::text from (select {} from {} order by {}) as row",
        quoted_list(columns.iter().map(String::as_str)),
        quoted(table),
        quoted_list(key.iter().map(String::as_str)),
    );
    let mut rows = sqlx::query_scalar::<_, String>(&statement).fetch(conn);
    while let Some(row) = rows.try_next().await? {
        on_row(&row)?;
    }
    Ok(())
}

/// Inserts the rows of `rows`, a JSON array of objects, into `columns` of `table`, with their ids
/// (`overriding system value`). With `fill`, the column `fill.0` of every row is set to the text
/// `fill.1`. Returns how many rows were inserted.
pub async fn load(
    conn: &mut PgConnection,
    table: &str,
    columns: &[String],
    fill: Option<(&str, &str)>,
    rows: &str,
) -> sqlx::Result<u64> {
    let names = quoted_list(columns.iter().map(String::as_str));
    let (target, values) = match fill {
        Some((column, _)) => (
            format!("{names}, {}", quoted(column)),
            format!("{names}, $2"),
        ),
        None => (names.clone(), names),
    };
    let statement = format!(
        "insert into {table} ({target}) overriding system value \
         select {values} from json_populate_recordset(null::{table}, $1::json)",
        table = quoted(table),
    );
    let mut query = sqlx::query(&statement).bind(rows);
    if let Some((_, value)) = fill {
        query = query.bind(value);
    }
    Ok(query.execute(conn).await?.rows_affected())
}

/// Whether `table` has any row.
pub async fn has_rows(conn: &mut PgConnection, table: &str) -> sqlx::Result<bool> {
    let statement = format!("select exists (select from {})", quoted(table));
    sqlx::query_scalar(&statement).fetch_one(conn).await
}

/// The largest value of `table.column` (an integer column), `None` when the table is empty.
pub async fn max_value(
    conn: &mut PgConnection,
    table: &str,
    column: &str,
) -> sqlx::Result<Option<i64>> {
    let statement = format!(
        "select max({})::bigint from {}",
        quoted(column),
        quoted(table)
    );
    sqlx::query_scalar(&statement).fetch_one(conn).await
}

/// Locks `tables` until the transaction ends, against reads too: an instance starting meanwhile
/// waits, then sees the restored data instead of an empty database it would seed.
pub async fn lock_exclusively(conn: &mut PgConnection, tables: &[&str]) -> sqlx::Result<()> {
    let statement = format!(
        "lock table {} in access exclusive mode",
        quoted_list(tables.iter().copied())
    );
    sqlx::query(&statement).execute(conn).await?;
    Ok(())
}
