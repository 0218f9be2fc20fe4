//! The audit trail: both logs refuse changes, `radportal audit verify` names every kind of tampering
//! with either chain, and signed checkpoints catch what the chains alone cannot (a trimmed tail with
//! its head rewound, everything deleted, everything re-hashed).

use std::path::PathBuf;
use std::process::{Command, Output};

use radportal::access::events::{self, NewEvent};
use radportal::audit::{self, AuditAction, Target};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use sqlx::pool::PoolConnection;

use crate::helpers::{Page, TestApp};

/// The key the tests sign checkpoints with.
const KEY: &str = "a test key of at least thirty-two characters";

/// A portal whose event chain and audit log have `n` entries each.
async fn trail(n: usize) -> TestApp {
    let app = TestApp::spawn().await;
    append(&app.db, n).await;
    app
}

/// Appends `n` events and `n` audit entries through the portal's own functions.
async fn append(db: &PgPool, n: usize) {
    for i in 0..n {
        let mut tx = db.begin().await.unwrap();
        events::append(
            &mut tx,
            NewEvent {
                request_id: None,
                grant_id: None,
                actor_id: None,
                kind: "request.comment",
                internal: false,
                body: json!({"text": format!("comment {i}"), "signature": "Riley Researcher"}),
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        audit::record(
            db,
            None,
            AuditAction::OrganizationCreated,
            Target::Organization(i as i64 + 1),
            json!({"after": {"name": format!("Organization {i}"), "homepage": null}}),
        )
        .await
        .unwrap();
    }
}

/// The radportal binary over the test database, with the checkpoint key set.
fn radportal(app: &TestApp) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_radportal"));
    command
        .env("DATABASE_URL", &app.database_url)
        .env("RADPORTAL_LOG", "warn")
        .env("RADPORTAL_AUDIT_KEY", KEY);
    command
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `radportal audit verify`, with a checkpoint file when given.
fn verify(app: &TestApp, checkpoint: Option<&CheckpointFile>) -> Output {
    let mut command = radportal(app);
    command.args(["audit", "verify"]);
    if let Some(file) = checkpoint {
        command.arg("--checkpoint").arg(&file.0);
    }
    command.output().unwrap()
}

/// A checkpoint written to a file outside the database, removed when dropped.
struct CheckpointFile(PathBuf);

impl Drop for CheckpointFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl CheckpointFile {
    fn json(&self) -> Value {
        serde_json::from_slice(&std::fs::read(&self.0).unwrap()).unwrap()
    }

    fn write(&self, value: &Value) {
        std::fs::write(&self.0, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    }
}

/// `radportal audit checkpoint`, its output kept in a file.
fn checkpoint(app: &TestApp) -> CheckpointFile {
    let output = radportal(app)
        .args(["audit", "checkpoint"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let file = CheckpointFile(std::env::temp_dir().join(format!(
        "{}-checkpoint-{}.json",
        app.database_name,
        uuid::Uuid::new_v4()
    )));
    std::fs::write(&file.0, &output.stdout).unwrap();
    file
}

/// A connection that bypasses triggers, as a superuser can: how an attacker with full database
/// access would tamper.
async fn tamperer(db: &PgPool) -> PoolConnection<sqlx::Postgres> {
    let mut conn = db.acquire().await.unwrap();
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    conn
}

async fn exec(conn: &mut PoolConnection<sqlx::Postgres>, sql: &str) {
    sqlx::query(sql)
        .execute(&mut **conn)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

/// Sets each head to what the rows now end with, as an attacker would after deleting the newest
/// entries ("the head rewound").
async fn rewind_heads(conn: &mut PoolConnection<sqlx::Postgres>) {
    exec(
        conn,
        "update events_head set
             last_id = coalesce((select max(id) from events), 0),
             last_hash = coalesce((select hash from events order by id desc limit 1), decode(repeat('00', 32), 'hex')),
             event_count = (select count(*) from events)",
    )
    .await;
    exec(
        conn,
        "update audit_log_head set
             last_id = coalesce((select max(id) from audit_log), 0),
             last_hash = coalesce((select hash from audit_log order by id desc limit 1), decode(repeat('00', 32), 'hex')),
             entry_count = (select count(*) from audit_log)",
    )
    .await;
}

/// The event hash as `radportal::access::events` defines it, written out independently here.
fn event_hash(prev: &[u8], row: &sqlx::postgres::PgRow) -> Vec<u8> {
    use sqlx::Row;
    let number = |value: Option<i64>| value.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let created_at: time::OffsetDateTime = row.get("created_at");
    let body: Value = row.get("body");
    let canonical = format!(
        "{}|{}|{}|{}|{}|{}|{}",
        number(row.get("request_id")),
        number(row.get("grant_id")),
        number(row.get("actor_id")),
        row.get::<String, _>("kind"),
        row.get::<bool, _>("internal"),
        body,
        created_at.unix_timestamp_nanos() / 1000,
    );
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(canonical.as_bytes());
    hasher.finalize().to_vec()
}

/// Recomputes every hash of both chains and both heads from the rows as they now are: what an
/// attacker with full access does after an edit so that the chains look intact.
async fn rehash_everything(conn: &mut PoolConnection<sqlx::Postgres>) {
    use sqlx::Row;
    let rows = sqlx::query("select * from events order by id")
        .fetch_all(&mut **conn)
        .await
        .unwrap();
    let mut prev = vec![0u8; 32];
    for row in rows {
        let hash = event_hash(&prev, &row);
        sqlx::query("update events set prev_hash = $1, hash = $2 where id = $3")
            .bind(&prev)
            .bind(&hash)
            .bind(row.get::<i64, _>("id"))
            .execute(&mut **conn)
            .await
            .unwrap();
        prev = hash;
    }
    exec(
        conn,
        "do $$
         declare
             entry audit_log%rowtype;
             previous bytea := decode(repeat('00', 32), 'hex');
         begin
             for entry in select * from audit_log order by id loop
                 update audit_log set prev_hash = previous,
                     hash = sha256(previous || audit_log_content(entry.actor_id, entry.action,
                         entry.target_type, entry.target_id, entry.details, entry.occurred_at))
                 where id = entry.id returning hash into previous;
             end loop;
         end $$",
    )
    .await;
    rewind_heads(conn).await;
}

fn assert_intact(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(output),
        stderr(output)
    );
    let report = stdout(output);
    assert!(
        report.contains("events: ") && report.contains("audit log: "),
        "{report}"
    );
    assert_eq!(report.matches("the chain is intact").count(), 2, "{report}");
}

/// Asserts exit status 3 and that the report contains every one of `expected`.
fn assert_reported(output: &Output, expected: &[&str]) {
    let report = stdout(output);
    assert_eq!(output.status.code(), Some(3), "{report}{}", stderr(output));
    for line in expected {
        assert!(report.contains(line), "{line:?} in:\n{report}");
    }
}

#[tokio::test]
async fn ordinary_sql_cannot_change_delete_truncate_or_rewind_the_trail() {
    let app = trail(3).await;

    for sql in [
        "update audit_log set details = '{}' where id = 2",
        "delete from audit_log where id = 3",
        "truncate audit_log",
        "update audit_log_head set entry_count = 2, last_id = 2",
        "delete from audit_log_head",
        "truncate audit_log_head cascade",
        "update events set body = '{}' where id = 2",
        "delete from events where id = 3",
        "truncate events cascade",
        "update events_head set event_count = 2, last_id = 2, last_hash = (select hash from events where id = 2)",
        "update events_head set event_count = event_count + 1, last_id = 9",
        "delete from events_head",
        "truncate events_head",
        "insert into events_head (last_id, last_hash, event_count) values (0, '\\x00', 0)",
    ] {
        let refused = sqlx::query(sql).execute(&app.db).await;
        assert!(refused.is_err(), "{sql} was allowed");
    }

    assert_intact(&verify(&app, None));
    let heads: (i64, i64) = sqlx::query_as(
        "select (select event_count from events_head), (select entry_count from audit_log_head)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(heads, (3, 3));
}

#[tokio::test]
async fn many_transactions_appending_at_once_make_one_chain_each() {
    let app = TestApp::spawn().await;
    let writers: Vec<_> = (0..12)
        .map(|_| {
            let db = app.db.clone();
            tokio::spawn(async move { append(&db, 8).await })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }

    let output = verify(&app, None);
    assert_intact(&output);
    assert!(
        stdout(&output).contains("96 events checked"),
        "{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains("96 audit entries checked"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test]
async fn an_edited_entry_is_reported() {
    let app = trail(4).await;
    let mut conn = tamperer(&app.db).await;

    exec(
        &mut conn,
        "update events set body = jsonb_set(body, '{signature}', '\"Mallory\"') where id = 2",
    )
    .await;
    exec(
        &mut conn,
        "update audit_log set details = '{\"after\": {\"name\": \"Mallory Ltd\"}}' where id = 2",
    )
    .await;

    assert_reported(
        &verify(&app, None),
        &[
            "event 2 (request.comment): its content was changed after it was recorded",
            "audit entry 2 (organization.created): its content was changed after it was recorded",
        ],
    );
}

#[tokio::test]
async fn an_entry_inserted_in_the_middle_is_reported() {
    let app = trail(2).await;
    // An append that is rolled back leaves a gap in the ids, where an attacker can insert.
    let mut tx = app.db.begin().await.unwrap();
    events::append(
        &mut tx,
        NewEvent {
            request_id: None,
            grant_id: None,
            actor_id: None,
            kind: "request.comment",
            internal: false,
            body: json!({}),
        },
    )
    .await
    .unwrap();
    audit::record(
        &mut *tx,
        None,
        AuditAction::AccountClosed,
        Target::User(1),
        json!({}),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    append(&app.db, 2).await;
    let mut conn = tamperer(&app.db).await;

    // The inserted rows carry correct hashes of their own content after entry 2.
    let inserted = r#"{"text": "approved by the chair"}"#;
    let prev: Vec<u8> = sqlx::query_scalar("select hash from events where id = 2")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let row = sqlx::query(
        "select null::bigint as request_id, null::bigint as grant_id, null::bigint as actor_id,
                'request.comment' as kind, false as internal, $1::jsonb as body, now() as created_at",
    )
    .bind(inserted)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    let hash = event_hash(&prev, &row);
    sqlx::query(
        "insert into events (id, kind, internal, body, created_at, prev_hash, hash)
         overriding system value values (3, 'request.comment', false, $1::jsonb, $2, $3, $4)",
    )
    .bind(inserted)
    .bind(sqlx::Row::get::<time::OffsetDateTime, _>(
        &row,
        "created_at",
    ))
    .bind(&prev)
    .bind(&hash)
    .execute(&mut *conn)
    .await
    .unwrap();
    exec(
        &mut conn,
        "insert into audit_log (id, occurred_at, action, target_type, target_id, details, prev_hash, hash)
         overriding system value
         select 3, now(), 'user.admin_granted', 'user', '7', '{}', p.hash,
                sha256(p.hash || audit_log_content(null, 'user.admin_granted', 'user', '7', '{}', now()))
         from audit_log p where p.id = 2",
    )
    .await;

    assert_reported(
        &verify(&app, None),
        &[
            "event 4: does not follow the event before it",
            "4 events were recorded but 5 are present",
            "audit entry 4: does not follow the audit entry before it",
            "4 audit entries were recorded but 5 are present",
        ],
    );
}

#[tokio::test]
async fn an_entry_deleted_in_the_middle_is_reported() {
    let app = trail(4).await;
    let mut conn = tamperer(&app.db).await;

    exec(&mut conn, "delete from events where id = 2").await;
    exec(&mut conn, "delete from audit_log where id = 2").await;

    assert_reported(
        &verify(&app, None),
        &[
            "event 3: does not follow the event before it",
            "4 events were recorded but 3 are present",
            "audit entry 3: does not follow the audit entry before it",
            "4 audit entries were recorded but 3 are present",
        ],
    );
}

#[tokio::test]
async fn deleting_the_newest_entries_is_reported_and_with_the_head_rewound_only_a_checkpoint_shows_it()
 {
    let app = trail(5).await;
    let saved = checkpoint(&app);
    let mut conn = tamperer(&app.db).await;

    exec(&mut conn, "delete from events where id >= 4").await;
    exec(&mut conn, "delete from audit_log where id >= 4").await;
    assert_reported(
        &verify(&app, None),
        &[
            "the newest event should be event 5, but the chain ends at event 3: events were deleted from the end",
            "the newest audit entry should be audit entry 5, but the chain ends at audit entry 3",
        ],
    );

    rewind_heads(&mut conn).await;
    // The chains and heads agree again: the database alone cannot tell ...
    assert_intact(&verify(&app, None));
    // ... the checkpoint taken before can.
    assert_reported(
        &verify(&app, Some(&saved)),
        &[
            "the checkpoint covers 5 events up to event 5, but only 3 are left: events it covers were deleted",
            "the checkpoint covers 5 audit entries up to audit entry 5, but only 3 are left",
            "the chains no longer extend it",
        ],
    );
}

#[tokio::test]
async fn deleting_everything_is_reported() {
    let app = trail(3).await;
    let saved = checkpoint(&app);
    let mut conn = tamperer(&app.db).await;

    exec(&mut conn, "delete from events").await;
    exec(&mut conn, "delete from audit_log").await;
    assert_reported(
        &verify(&app, None),
        &[
            "all 3 events up to event 3 were deleted",
            "all 3 audit entries up to audit entry 3 were deleted",
        ],
    );

    exec(&mut conn, "delete from events_head").await;
    exec(&mut conn, "delete from audit_log_head").await;
    assert_reported(
        &verify(&app, None),
        &[
            "the record of the newest event is missing",
            "the record of the newest audit entry is missing",
        ],
    );

    // Heads put back to those of empty chains: only the checkpoint shows what was there.
    exec(&mut conn, "insert into events_head (last_id, last_hash, event_count) values (0, decode(repeat('00', 32), 'hex'), 0)").await;
    exec(&mut conn, "insert into audit_log_head (last_id, last_hash, entry_count) values (0, decode(repeat('00', 32), 'hex'), 0)").await;
    assert_intact(&verify(&app, None));
    assert_reported(
        &verify(&app, Some(&saved)),
        &[
            "the checkpoint covers 3 events up to event 3, but only 0 are left: events it covers were deleted, all of them",
            "the checkpoint covers 3 audit entries up to audit entry 3, but only 0 are left: audit entries it covers were deleted, all of them",
        ],
    );
}

#[tokio::test]
async fn re_hashing_everything_after_an_edit_is_caught_by_the_checkpoint() {
    let app = trail(4).await;
    let saved = checkpoint(&app);
    append(&app.db, 1).await;
    let mut conn = tamperer(&app.db).await;

    exec(
        &mut conn,
        "update events set body = jsonb_set(body, '{signature}', '\"Mallory\"') where id = 2",
    )
    .await;
    exec(
        &mut conn,
        "update audit_log set details = '{\"after\": {\"name\": \"Mallory Ltd\"}}' where id = 2",
    )
    .await;
    rehash_everything(&mut conn).await;

    assert_intact(&verify(&app, None));
    assert_reported(
        &verify(&app, Some(&saved)),
        &[
            "event 4, the newest when the checkpoint was taken, no longer has the hash the checkpoint recorded: events up to it were changed and the chain recomputed",
            "audit entry 4, the newest when the checkpoint was taken, no longer has the hash the checkpoint recorded",
            "the chains no longer extend it",
        ],
    );
}

#[tokio::test]
async fn a_grown_chain_extends_its_checkpoint() {
    let app = trail(3).await;
    let saved = checkpoint(&app);
    let written = saved.json();
    assert_eq!(written["format"], "radportal-audit-checkpoint/1");
    assert_eq!(written["events"]["count"], 3);
    assert_eq!(written["audit_log"]["last_id"], 3);
    let head: Vec<u8> = sqlx::query_scalar("select last_hash from events_head")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(written["events"]["last_hash"], hex::encode(head));

    append(&app.db, 2).await;
    let output = verify(&app, Some(&saved));
    assert_intact(&output);
    assert!(
        stdout(&output)
            .contains("both chains extend it (events 3 then, 5 now; audit entries 3 then, 5 now)"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test]
async fn verify_refuses_an_altered_checkpoint_or_one_signed_with_another_key() {
    let app = trail(3).await;
    let saved = checkpoint(&app);
    let original = saved.json();

    // An attacker lowering the checkpoint to match a trimmed chain breaks its signature.
    let mut lowered = original.clone();
    lowered["events"]["count"] = json!(2);
    saved.write(&lowered);
    let output = verify(&app, Some(&saved));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("the checkpoint's signature does not match its content"),
        "{}",
        stderr(&output)
    );
    assert!(
        stdout(&output).is_empty(),
        "nothing is claimed about the chains"
    );

    saved.write(&original);
    let other = radportal(&app)
        .env(
            "RADPORTAL_AUDIT_KEY",
            "another key of at least thirty-two characters",
        )
        .args(["audit", "verify", "--checkpoint"])
        .arg(&saved.0)
        .output()
        .unwrap();
    assert_eq!(other.status.code(), Some(1));
    assert!(
        stderr(&other).contains("signed with another key"),
        "{}",
        stderr(&other)
    );

    let keyless = radportal(&app)
        .env_remove("RADPORTAL_AUDIT_KEY")
        .args(["audit", "checkpoint"])
        .output()
        .unwrap();
    assert_eq!(keyless.status.code(), Some(1));
    assert!(
        stderr(&keyless).contains("RADPORTAL_AUDIT_KEY is not set"),
        "{}",
        stderr(&keyless)
    );
    let short = radportal(&app)
        .env("RADPORTAL_AUDIT_KEY", "short")
        .args(["audit", "checkpoint"])
        .output()
        .unwrap();
    assert!(stderr(&short).contains("too short"), "{}", stderr(&short));
}

#[tokio::test]
async fn no_checkpoint_is_signed_for_a_broken_chain() {
    let app = trail(3).await;
    let mut conn = tamperer(&app.db).await;
    exec(
        &mut conn,
        "update audit_log set action = 'nothing.happened' where id = 1",
    )
    .await;

    let output = radportal(&app)
        .args(["audit", "checkpoint"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(stdout(&output).is_empty());
    assert!(stderr(&output).contains("audit entry 1 (nothing.happened): its content was changed"));
}

#[tokio::test]
async fn audit_entries_written_before_the_chain_existed_join_it() {
    let app = TestApp::spawn().await;
    // A second database migrated up to 0011 only, with entries, then migrated to the end.
    let name = format!("{}_upgrade", app.database_name);
    let url = crate::helpers::database_url(&name);
    let admin = PgPool::connect(&crate::helpers::admin_url()).await.unwrap();
    sqlx::query(&format!("create database \"{name}\""))
        .execute(&admin)
        .await
        .unwrap();
    let old = std::env::temp_dir().join(format!("{name}-migrations"));
    std::fs::create_dir_all(&old).unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if file.as_str() < "0012" {
            std::fs::copy(&path, old.join(&file)).unwrap();
        }
    }
    let db = PgPool::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&db)
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&old);
    sqlx::query(
        "insert into audit_log (actor_id, action, target_type, target_id, details, occurred_at)
         values (null, 'account.registered', 'user', '1', '{\"ünïcode\": [1, 2.5, \"x\"]}', now() - interval '1 day'),
                (null, 'user.disabled', 'user', '1', '{\"reason\": \"left\"}', now())",
    )
    .execute(&db)
    .await
    .unwrap();
    radportal::db::MIGRATOR.run(&db).await.unwrap();
    audit::record(
        &db,
        None,
        AuditAction::UserEnabled,
        Target::User(1),
        json!({}),
    )
    .await
    .unwrap();

    let result = audit::verify(&db).await.unwrap();
    db.close().await;
    sqlx::query(&format!("drop database \"{name}\" with (force)"))
        .execute(&admin)
        .await
        .unwrap();
    assert!(result.is_intact(), "{result:?}");
    assert_eq!(result.checked, 3);
}

#[tokio::test]
async fn the_audit_log_page_shows_the_status_of_both_chains() {
    let app = TestApp::spawn().await;
    let ada = app.add_admin("ada@example.org").await;
    audit::record(
        &app.db,
        Some(ada),
        AuditAction::UserAdminFlagChanged,
        Target::User(ada),
        json!({}),
    )
    .await
    .unwrap();
    let admin = app.signed_in("ada@example.org").await;
    let status = async || {
        let response = admin.get(app.url("/admin/audit")).send().await.unwrap();
        Page::new(&response.text().await.unwrap())
    };

    let intact = status().await;
    assert!(intact.text("#chain-status").contains("Event chain intact"));
    assert!(
        intact
            .text("#log-chain-status")
            .contains("Audit log chain intact")
    );

    let mut conn = tamperer(&app.db).await;
    exec(
        &mut conn,
        "update audit_log set action = 'nothing.happened' where id = 1",
    )
    .await;
    let broken = status().await;
    let shown = broken.text("#log-chain-status");
    assert!(shown.contains("The audit log chain is broken"), "{shown}");
    assert!(
        shown.contains("audit entry 1 (nothing.happened): its content was changed"),
        "{shown}"
    );
}
