//! `radportal export` and `radportal restore`, run as the real binary: a populated portal exported,
//! restored into a new database and served again answers the same; changed, misplaced and broken
//! exports are refused without leaving anything behind.

use std::path::{Path, PathBuf};
use std::process::Output;

use radportal::access::example::{EXAMPLE_PASSWORD, seed_if_empty};
use radportal::backup::{LEFT_OUT, TABLES};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::access::{
    BRAIN, CHEST, RESEARCHER, REVIEWER, add_to_cart, create_project, create_token, dataset_id,
    post, review, sign_in, submit,
};
use crate::cli::radportal;
use crate::helpers::{PASSWORD, Page, Template, TestApp, TestDatabase, new_client};

/// An export directory under the system's temporary directory, removed when the test ends.
struct ExportDir(PathBuf);

impl ExportDir {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!(
            "radportal-export-{}",
            uuid::Uuid::new_v4().simple()
        )))
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn manifest(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.file("manifest.json")).unwrap()).unwrap()
    }

    /// Replaces a table's file and records its new size and SHA-256 in the manifest, as someone
    /// who edits an export with care would.
    fn rewrite(&self, table: &str, content: &str) {
        std::fs::write(self.file(&format!("{table}.jsonl")), content).unwrap();
        let mut manifest = self.manifest();
        let entry = manifest["tables"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|entry| entry["table"] == table)
            .unwrap();
        entry["bytes"] = content.len().into();
        entry["sha256"] = hex::encode(Sha256::digest(content.as_bytes())).into();
        self.write_manifest(&manifest);
    }

    fn write_manifest(&self, manifest: &Value) {
        std::fs::write(
            self.file("manifest.json"),
            serde_json::to_vec_pretty(manifest).unwrap(),
        )
        .unwrap();
    }

    /// Leaves out of the export the tables and columns that migrations after `version` added, as
    /// an export made at that schema would: they are read from a database migrated that far.
    async fn as_of_schema(&self, version: i64) {
        let scratch = TestDatabase::named();
        let admin = sqlx::PgPool::connect(&crate::helpers::admin_url())
            .await
            .unwrap();
        sqlx::query(&format!("create database \"{}\"", scratch.name))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let db = scratch.pool().await;
        for migration in radportal::db::MIGRATOR
            .iter()
            .filter(|m| m.version <= version)
        {
            sqlx::raw_sql(&migration.sql).execute(&db).await.unwrap();
        }
        let columns: Vec<(String, String)> = sqlx::query_as(
            "select table_name::text, column_name::text from information_schema.columns
             where table_schema = 'public'",
        )
        .fetch_all(&db)
        .await
        .unwrap();
        db.close().await;
        let has = |table: &str, column: Option<&str>| {
            columns
                .iter()
                .any(|(t, c)| t == table && column.is_none_or(|column| column == c))
        };
        let mut manifest = self.manifest();
        let tables = manifest["tables"].as_array_mut().unwrap();
        tables.retain(|entry| {
            let table = entry["table"].as_str().unwrap();
            let keep = has(table, None);
            if !keep {
                std::fs::remove_file(self.file(entry["file"].as_str().unwrap())).unwrap();
            }
            keep
        });
        let exported: Vec<String> = tables
            .iter()
            .map(|entry| entry["table"].as_str().unwrap().to_owned())
            .collect();
        let mut trimmed = Vec::new();
        for entry in tables.iter_mut() {
            let table = entry["table"].as_str().unwrap().to_owned();
            let newer: Vec<String> = entry["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_owned())
                .filter(|column| !has(&table, Some(column)))
                .collect();
            if !newer.is_empty() {
                entry["columns"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|c| !newer.iter().any(|n| c["name"] == n.as_str()));
                trimmed.push((table, newer));
            }
        }
        manifest["sequences"]
            .as_array_mut()
            .unwrap()
            .retain(|sequence| exported.iter().any(|t| sequence["table"] == t.as_str()));
        self.write_manifest(&manifest);
        for (table, newer) in trimmed {
            let rows: String = self
                .read(&table)
                .lines()
                .map(|line| {
                    let mut row: serde_json::Map<String, Value> =
                        serde_json::from_str(line).unwrap();
                    for column in &newer {
                        row.remove(column);
                    }
                    format!("{}\n", Value::Object(row))
                })
                .collect();
            self.rewrite(&table, &rows);
        }
    }

    fn read(&self, table: &str) -> String {
        std::fs::read_to_string(self.file(&format!("{table}.jsonl"))).unwrap()
    }
}

impl Drop for ExportDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(database_url: &str, args: &[&str]) -> Output {
    radportal(database_url).args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn export(database_url: &str, dir: &ExportDir, extra: &[&str]) -> Output {
    let mut args = vec!["export", dir.path().to_str().unwrap()];
    args.extend(extra);
    let output = run(database_url, &args);
    assert!(output.status.success(), "{}", stderr(&output));
    output
}

fn restore(database: &TestDatabase, dir: &ExportDir) -> Output {
    run(&database.url, &["restore", dir.path().to_str().unwrap()])
}

/// What the populated portal holds, for the checks afterwards.
struct Populated {
    app: TestApp,
    chest: i64,
    brain: i64,
    project: i64,
    token: String,
}

/// The example portal with requests in every state that matters: one approved with a grant, one
/// sent back for changes with an attachment, internal and public comments, notifications, a
/// researcher's API token, an administrator's change to the catalog; over the bundled catalog when
/// `template` has it.
async fn populated(template: Template) -> Populated {
    let app = TestApp::with_mail_from(template, |_| {}).await;
    assert!(seed_if_empty(&app.db).await.unwrap());
    let researcher = sign_in(&app, RESEARCHER).await;
    let token = create_token(&app, &researcher).await;
    let project = create_project(&app, &researcher, &[]).await;
    add_to_cart(&app, &researcher, CHEST).await;
    add_to_cart(&app, &researcher, BRAIN).await;
    let requests = submit(&app, &researcher, project, &[CHEST, BRAIN]).await;
    let chest: i64 = sqlx::query_scalar(
        "select request_id from request_datasets rd join datasets d on d.id = rd.dataset_id
         where d.slug = $1",
    )
    .bind(CHEST)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let brain = *requests.iter().find(|id| **id != chest).unwrap();

    let reviewer = sign_in(&app, REVIEWER).await;
    let noted = review(
        &app,
        &reviewer,
        chest,
        &[
            ("action", "comment"),
            ("message", "Check the IRB letter."),
            ("internal", "on"),
        ],
    )
    .await;
    assert_eq!(noted.status(), StatusCode::SEE_OTHER);
    let days_field = format!("days_{}", dataset_id(&app, CHEST).await);
    let approved = review(
        &app,
        &reviewer,
        chest,
        &[
            ("action", "decide"),
            ("decision", "approve"),
            ("message", "Fits the agreement."),
            (days_field.as_str(), "90"),
        ],
    )
    .await;
    assert_eq!(approved.status(), StatusCode::SEE_OTHER);
    let changes = review(
        &app,
        &reviewer,
        brain,
        &[
            ("action", "changes"),
            ("message", "Please upload the IRB approval letter."),
        ],
    )
    .await;
    assert_eq!(changes.status(), StatusCode::SEE_OTHER);
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"%PDF-1.4 IRB approval".to_vec())
            .file_name("IRB approval.pdf"),
    );
    let attached = researcher
        .post(app.url(&format!("/requests/{brain}/attachments")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(attached.status(), StatusCode::SEE_OTHER);

    app.add_admin("curator@example.org").await;
    let admin = app.signed_in("curator@example.org").await;
    let slug = if matches!(template, Template::Catalog) {
        "chexpert"
    } else {
        "example-mammography-screening-cohort"
    };
    let retired = admin
        .post(app.url(&format!("/admin/datasets/{slug}/status")))
        .form(&[("status", "retired")])
        .send()
        .await
        .unwrap();
    assert_eq!(retired.status(), StatusCode::SEE_OTHER);
    app.send_due_mail().await;
    Populated {
        app,
        chest,
        brain,
        project,
        token,
    }
}

/// GETs `path` with `client` and returns the status and the body with what differs between two
/// servers by nature (their own address) replaced.
async fn fetch(app: &TestApp, client: &Client, path: &str) -> (StatusCode, String) {
    let response = client.get(app.url(path)).send().await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    (status, body.replace(&app.address, "http://portal"))
}

/// The same page from both portals, each with its own client.
async fn assert_same_page(
    (source, source_client): (&TestApp, &Client),
    (restored, restored_client): (&TestApp, &Client),
    path: &str,
) {
    let (status, body) = fetch(source, source_client, path).await;
    let (restored_status, restored_body) = fetch(restored, restored_client, path).await;
    assert_eq!(status, StatusCode::OK, "GET {path} on the source");
    assert_eq!(restored_status, status, "GET {path}");
    if body != restored_body {
        let (ours, theirs) = body
            .lines()
            .zip(restored_body.lines())
            .find(|(a, b)| a != b)
            .unwrap_or_default();
        panic!("GET {path} differs after the restore:\n  before: {ours}\n  after:  {theirs}");
    }
}

fn table_names() -> Vec<&'static str> {
    TABLES.iter().map(|table| table.name).collect()
}

/// Every row of every exported table, as text, for comparing two databases.
async fn row_counts(db: &sqlx::PgPool) -> Vec<(String, i64)> {
    let mut counts = Vec::new();
    for table in table_names() {
        let count: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(db)
            .await
            .unwrap();
        counts.push((table.to_owned(), count));
    }
    counts
}

#[tokio::test]
async fn every_table_is_exported_or_left_out_and_the_order_follows_foreign_keys() {
    let app = TestApp::spawn().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = current_schema() and c.relkind in ('r', 'p')
           and c.relname <> '_sqlx_migrations'
         order by 1",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let exported = table_names();
    let left_out: Vec<&str> = LEFT_OUT.iter().map(|(name, _)| *name).collect();
    for table in &tables {
        assert!(
            exported.contains(&table.as_str()) || left_out.contains(&table.as_str()),
            "{table} is neither exported nor left out with a reason (src/backup/mod.rs)"
        );
    }
    for name in exported.iter().chain(&left_out) {
        assert!(tables.iter().any(|table| table == name), "{name} exists");
    }
    for (_, reason) in LEFT_OUT {
        assert!(reason.len() > 20, "{reason}");
    }

    let references: Vec<(String, String)> = sqlx::query_as(
        "select conrelid::regclass::text, confrelid::regclass::text from pg_constraint
         where contype = 'f'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let position = |name: &str| exported.iter().position(|table| *table == name);
    for (table, referenced) in references {
        let Some(at) = position(&table) else { continue };
        let before = position(&referenced).unwrap_or_else(|| {
            panic!("exported {table} refers to {referenced}, which is not exported")
        });
        assert!(
            before <= at,
            "{table} refers to {referenced}, so {referenced} must be loaded first"
        );
    }
}

#[tokio::test]
async fn a_restored_portal_answers_the_same_pages_api_requests_and_audit_trail() {
    let Populated {
        app: source,
        chest,
        brain,
        project,
        token,
    } = populated(Template::Catalog).await;
    let dir = ExportDir::new();

    let exported = export(&source.database_url, &dir, &["--with-password-hashes"]);
    eprintln!("{}", stdout(&exported).trim());
    assert!(stdout(&exported).contains(&format!("exported {} tables", TABLES.len())));
    let manifest = dir.manifest();
    assert_eq!(manifest["format"], "radportal-export");
    assert_eq!(manifest["password_hashes"], true);
    for (table, count) in row_counts(&source.db).await {
        let entry = manifest["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["table"] == table.as_str())
            .unwrap();
        assert_eq!(entry["rows"], count, "{table}");
        assert_eq!(
            dir.read(&table).lines().count() as i64,
            count,
            "{table}: a line per row"
        );
    }
    assert!(dir.read("users").contains("\"password_hash\":\"$argon2id$"));
    assert!(!dir.path().join("sessions.jsonl").exists());
    assert!(manifest["chains"]["events"]["count"].as_u64().unwrap() >= 8);
    assert!(manifest["chains"]["audit_log"]["count"].as_u64().unwrap() >= 3);

    let target = TestDatabase::named();
    let restored_output = restore(&target, &dir);
    assert!(
        restored_output.status.success(),
        "{}",
        stderr(&restored_output)
    );
    eprintln!("{}", stdout(&restored_output).trim());
    assert!(stdout(&restored_output).contains("the chains verify"));

    // Exported again, the restored database gives the same files: every row came back as it was.
    let again = ExportDir::new();
    export(&target.url, &again, &["--with-password-hashes"]);
    let second = again.manifest();
    for (entry, again) in manifest["tables"]
        .as_array()
        .unwrap()
        .iter()
        .zip(second["tables"].as_array().unwrap())
    {
        assert_eq!(entry, again, "{}", entry["table"]);
    }
    assert_eq!(second["sequences"], manifest["sequences"]);
    assert_eq!(second["chains"], manifest["chains"]);

    let restored = TestApp::spawn_on(target, |_| {}).await;
    assert_eq!(row_counts(&restored.db).await, row_counts(&source.db).await);

    // Public pages and the machine interfaces.
    let visitor = (new_client(), new_client());
    for path in [
        "/",
        "/datasets",
        "/datasets?q=lung+nodule&modality=CT",
        "/datasets?access=controlled",
        "/datasets?page=3",
        "/datasets/lidc-idri",
        "/datasets/chexpert",
        &format!("/datasets/{CHEST}"),
        "/organizations",
        "/duas/institutional-imaging-dua",
        "/datasets.csv?q=chest",
        "/catalog.jsonld",
        "/api/v1/datasets?q=brain",
        "/api/v1/datasets/lidc-idri",
        "/api/v1/organizations",
        "/api/3/action/package_search?q=chest&rows=5",
    ] {
        assert_same_page((&source, &visitor.0), (&restored, &visitor.1), path).await;
    }
    let status: String =
        sqlx::query_scalar("select status::text from datasets where slug = 'chexpert'")
            .fetch_one(&restored.db)
            .await
            .unwrap();
    assert_eq!(status, "retired", "the retired dataset stays retired");

    // The researcher signs in with their own password and finds requests, timeline and access.
    let researcher = (
        sign_in(&source, RESEARCHER).await,
        sign_in(&restored, RESEARCHER).await,
    );
    for path in [
        "/requests".to_owned(),
        format!("/requests/{chest}"),
        format!("/requests/{brain}"),
        "/access".to_owned(),
        "/projects".to_owned(),
        format!("/projects/{project}"),
        "/notifications".to_owned(),
    ] {
        assert_same_page((&source, &researcher.0), (&restored, &researcher.1), &path).await;
    }
    let timeline = Page::new(
        &fetch(&restored, &researcher.1, &format!("/requests/{chest}"))
            .await
            .1,
    )
    .text("#timeline");
    assert!(timeline.contains("Access granted"), "{timeline}");
    let reviewer = (
        sign_in(&source, REVIEWER).await,
        sign_in(&restored, REVIEWER).await,
    );
    for path in ["/review".to_owned(), format!("/requests/{chest}")] {
        assert_same_page((&source, &reviewer.0), (&restored, &reviewer.1), &path).await;
    }
    let admin = (
        source.signed_in("curator@example.org").await,
        restored.signed_in("curator@example.org").await,
    );
    for path in ["/admin/audit", "/admin/grants", "/admin/users"] {
        assert_same_page((&source, &admin.0), (&restored, &admin.1), path).await;
    }

    // The researcher's API token works on the restored portal and sees the same.
    for path in ["/api/v1/me/requests", "/api/v1/me/grants"] {
        let mut answers = Vec::new();
        for app in [&source, &restored] {
            let response = new_client()
                .get(app.url(path))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            answers.push(response.json::<Value>().await.unwrap());
        }
        assert_eq!(answers[0], answers[1], "{path}");
    }

    // `radportal audit verify` passes on both and says the same.
    let verified = [&source, &restored].map(|app| run(&app.database_url, &["audit", "verify"]));
    for output in &verified {
        assert!(output.status.success(), "{}", stdout(output));
    }
    assert_eq!(stdout(&verified[0]), stdout(&verified[1]));

    // New rows take new ids, after the restored ones.
    let project_again = create_project(&restored, &researcher.1, &[("title", "Follow-up")]).await;
    assert!(project_again > project);
    let events_then = radportal::access::events::verify(&restored.db)
        .await
        .unwrap();
    assert!(events_then.is_intact(), "{:?}", events_then.problems);
}

#[tokio::test]
async fn without_password_hashes_people_set_a_new_password_through_the_mailed_link() {
    let Populated { app: source, .. } = populated(Template::Migrated).await;
    let dir = ExportDir::new();
    let exported = export(&source.database_url, &dir, &[]);
    assert!(stdout(&exported).contains("password hashes left out"));
    assert_eq!(dir.manifest()["password_hashes"], false);
    assert!(!dir.read("users").contains("password_hash"));
    assert!(!dir.read("users").contains("$argon2"));

    // Into a database already migrated, as `radportal migrate` leaves a new one.
    let target = TestDatabase::create(Template::Migrated).await;
    let output = restore(&target, &dir);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("Forgot your password?"));
    let restored = TestApp::with_mail_on(target, |_| {}).await;

    let refused = restored
        .sign_in_with(&new_client(), RESEARCHER, EXAMPLE_PASSWORD)
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(
        Page::new(&refused.text().await.unwrap())
            .text("main")
            .contains("the password is not right")
    );

    let asked = post(
        &restored,
        &new_client(),
        "/forgot-password",
        &[("email", RESEARCHER)],
    )
    .await;
    assert_eq!(asked.status(), StatusCode::OK);
    let link = restored
        .mail_to(RESEARCHER, "Reset your radportal password")
        .await
        .link("/reset-password");
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let reset = post(
        &restored,
        &new_client(),
        "/reset-password",
        &[
            ("token", &token),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    assert_eq!(reset.status(), StatusCode::SEE_OTHER);
    let client = restored.signed_in_with(RESEARCHER, PASSWORD).await;
    let requests = client.get(restored.url("/requests")).send().await.unwrap();
    assert_eq!(requests.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_changed_file_is_refused_before_any_database_is_touched() {
    let Populated { app: source, .. } = populated(Template::Migrated).await;
    let dir = ExportDir::new();
    export(&source.database_url, &dir, &[]);
    let datasets = dir.read("datasets");
    std::fs::write(
        dir.file("datasets.jsonl"),
        datasets.replacen("Example: Chest CT", "Example: Chest MR", 1),
    )
    .unwrap();

    let target = TestDatabase::named();
    let output = restore(&target, &dir);

    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("restore refused, nothing was written")
            && message.contains("datasets.jsonl does not match the manifest"),
        "{message}"
    );
    assert!(!target.exists().await, "not even created");
}

#[tokio::test]
async fn a_database_that_is_not_empty_is_refused_and_left_as_it_was() {
    let Populated { app: source, .. } = populated(Template::Migrated).await;
    let dir = ExportDir::new();
    export(&source.database_url, &dir, &[]);
    let before = row_counts(&source.db).await;

    let output = run(
        &source.database_url,
        &["restore", dir.path().to_str().unwrap()],
    );

    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("restore refused: the database is not empty"),
        "{}",
        stderr(&output)
    );
    assert_eq!(row_counts(&source.db).await, before);
}

#[tokio::test]
async fn a_restore_that_fails_midway_leaves_the_database_empty() {
    let Populated { app: source, .. } = populated(Template::Migrated).await;
    let dir = ExportDir::new();
    export(&source.database_url, &dir, &[]);
    let target = TestDatabase::create(Template::Migrated).await;
    let db = target.pool().await;
    let empty = row_counts(&db).await;
    assert!(empty.iter().all(|(_, count)| *count == 0));

    // A notification for an account that is not in the export: every table before it is loaded,
    // then the foreign key stops the restore.
    let notifications = dir.read("notifications");
    let mut lines: Vec<Value> = notifications
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    lines[0]["user_id"] = 999_999.into();
    let broken: String = lines.iter().map(|line| format!("{line}\n")).collect();
    dir.rewrite("notifications", &broken);
    let output = restore(&target, &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("notifications.jsonl lines 1–")
            && stderr(&output).contains("foreign key"),
        "{}",
        stderr(&output)
    );
    assert_eq!(row_counts(&db).await, empty);
    dir.rewrite("notifications", &notifications);

    // An audit entry changed after the fact: everything is loaded, then the chain does not verify.
    let audit_log = dir.read("audit_log");
    dir.rewrite(
        "audit_log",
        &audit_log.replacen(
            "\"action\":\"project.created\"",
            "\"action\":\"project.updated\"",
            1,
        ),
    );
    let output = restore(&target, &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("the audit log's hash chain in the export does not verify")
            && stderr(&output).contains("its content was changed"),
        "{}",
        stderr(&output)
    );
    assert_eq!(row_counts(&db).await, empty);
    let heads: (i64, i64) = sqlx::query_as(
        "select (select event_count from events_head), (select entry_count from audit_log_head)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(heads, (0, 0));
    dir.rewrite("audit_log", &audit_log);

    // The database is still empty enough for the export as it was.
    let output = restore(&target, &dir);
    assert!(output.status.success(), "{}", stderr(&output));
    db.close().await;
}

#[tokio::test]
async fn an_export_of_an_older_schema_is_migrated_after_loading_and_a_newer_one_is_refused() {
    let Populated { app: source, .. } = populated(Template::Migrated).await;
    let dir = ExportDir::new();
    export(&source.database_url, &dir, &[]);
    let mut manifest = dir.manifest();
    let migrations: Vec<_> = radportal::db::MIGRATOR.iter().collect();
    let (older, newest) = (
        migrations[migrations.len() - 2],
        migrations[migrations.len() - 1],
    );

    manifest["schema"]["version"] = 99_999.into();
    dir.write_manifest(&manifest);
    let target = TestDatabase::named();
    let output = restore(&target, &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("which this radportal does not have"),
        "{}",
        stderr(&output)
    );
    assert!(!target.exists().await);

    // What an export made before the newest migration holds: no table or column that it adds.
    dir.as_of_schema(older.version).await;
    let mut manifest = dir.manifest();
    manifest["schema"]["version"] = older.version.into();
    manifest["schema"]["checksum"] = hex::encode(&older.checksum).into();
    dir.write_manifest(&manifest);
    let output = restore(&target, &dir);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(&format!(
            "applied the migrations newer than the export's: {}",
            newest.version
        )),
        "{}",
        stdout(&output)
    );
    let db = target.pool().await;
    let applied: Vec<i64> =
        sqlx::query_scalar("select version from _sqlx_migrations where success order by version")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(
        applied,
        migrations.iter().map(|m| m.version).collect::<Vec<_>>()
    );
    assert_eq!(row_counts(&db).await, row_counts(&source.db).await);
    db.close().await;
}

#[tokio::test]
async fn pg_dump_and_pg_restore_into_an_empty_database_keep_the_audit_trail_verifiable() {
    let bin = crate::database_outage::pg_bin();
    if !bin.join("pg_dump").exists() || !bin.join("pg_restore").exists() {
        eprintln!(
            "skipped: no pg_dump and pg_restore in {} (set RADPORTAL_TEST_PG_BIN)",
            bin.display()
        );
        return;
    }
    let Populated { app: source, .. } = populated(Template::Migrated).await;
    let dir = ExportDir::new();
    std::fs::create_dir_all(dir.path()).unwrap();
    let dump = dir.file("radportal.dump");
    let dumped = std::process::Command::new(bin.join("pg_dump"))
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(&source.database_url)
        .output()
        .unwrap();
    assert!(dumped.status.success(), "{}", stderr(&dumped));
    let target = TestDatabase::named();
    let admin = sqlx::PgPool::connect(&crate::helpers::admin_url())
        .await
        .unwrap();
    sqlx::query(&format!(r#"create database "{}""#, target.name))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;

    let restored = std::process::Command::new(bin.join("pg_restore"))
        .args([
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            &target.url,
        ])
        .arg(&dump)
        .output()
        .unwrap();

    assert!(restored.status.success(), "{}", stderr(&restored));
    let db = target.pool().await;
    assert_eq!(row_counts(&db).await, row_counts(&source.db).await);
    db.close().await;
    let verified = [&source.database_url, &target.url].map(|url| run(url, &["audit", "verify"]));
    for output in &verified {
        assert!(output.status.success(), "{}", stdout(output));
    }
    assert_eq!(stdout(&verified[0]), stdout(&verified[1]));
}

#[tokio::test]
async fn a_portal_whose_audit_trail_does_not_verify_exports_with_a_warning_that_restore_refuses() {
    let Populated { app: source, .. } = populated(Template::Migrated).await;
    // Someone with the powers to bypass the append-only triggers edited an event.
    let mut conn = source.db.acquire().await.unwrap();
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("update events set internal = not internal where id = 2")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("set session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let dir = ExportDir::new();

    let exported = export(&source.database_url, &dir, &[]);
    assert!(
        stderr(&exported).contains("warning: the audit trail does not verify: event 2"),
        "{}",
        stderr(&exported)
    );
    let target = TestDatabase::named();
    let output = restore(&target, &dir);

    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("the events' hash chain in the export does not verify"),
        "{}",
        stderr(&output)
    );
    let db = target.pool().await;
    assert!(row_counts(&db).await.iter().all(|(_, count)| *count == 0));
    db.close().await;
}
