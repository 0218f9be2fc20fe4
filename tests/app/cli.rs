//! The command line, run as the real binary against a test database.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::helpers::{TestApp, bundled_record};

/// The real binary, with `DATABASE_URL` set and quiet logs.
pub(crate) fn radportal(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_radportal"));
    command
        .env("DATABASE_URL", database_url)
        .env("RADPORTAL_LOG", "warn");
    command
}

#[tokio::test]
async fn import_command_reports_and_exits_2_on_rejections() {
    let app = TestApp::spawn().await;
    let mut bad = bundled_record("lidc-idri");
    bad["year"] = json!(1066);
    let file = std::env::temp_dir().join(format!("{}.json", app.database_name));
    std::fs::write(
        &file,
        serde_json::to_vec(&[bundled_record("chexpert"), bad]).unwrap(),
    )
    .unwrap();

    let output = radportal(&app.database_url)
        .arg("import")
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("2 records: 1 created, 0 updated, 0 unchanged, 1 rejected"),
        "{stdout}"
    );
    assert!(
        stdout.contains("rejected record 2 (lidc-idri): year: 1066 is not a plausible year"),
        "{stdout}"
    );
}

#[tokio::test]
async fn import_command_reads_the_bundled_file_twice_without_duplicates() {
    let app = TestApp::spawn().await;
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/seed/datasets.json");

    let first = radportal(&app.database_url)
        .args(["import", seed])
        .output()
        .unwrap();
    let second = radportal(&app.database_url)
        .args(["import", seed])
        .output()
        .unwrap();

    assert!(first.status.success());
    assert!(String::from_utf8_lossy(&first.stdout).contains("320 created"));
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("0 created, 0 updated, 320 unchanged")
    );
}

#[tokio::test]
async fn create_admin_makes_an_administrator_with_a_working_password() {
    let app = TestApp::spawn().await;

    let mut child = radportal(&app.database_url)
        .args([
            "create-admin",
            "--email",
            "Curator@Example.org",
            "--name",
            "Cora Curator",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough passphrase\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();

    assert!(output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("created administrator Curator@Example.org")
    );
    let (is_admin, hash): (bool, String) = sqlx::query_as(
        "select is_admin, password_hash from users where email = 'curator@example.org'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(is_admin);
    assert!(
        radportal::auth::password::verify("a long enough passphrase".to_owned(), hash)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn create_admin_generates_and_prints_a_password() {
    let app = TestApp::spawn().await;

    let output = radportal(&app.database_url)
        .args(["create-admin", "--email", "admin@example.org"])
        .output()
        .unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    let password = stdout
        .lines()
        .find_map(|line| line.strip_prefix("password: "))
        .expect("the password is printed");
    let hash: String =
        sqlx::query_scalar("select password_hash from users where email = 'admin@example.org'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(
        radportal::auth::password::verify(password.to_owned(), hash)
            .await
            .unwrap()
    );
}

#[test]
fn an_unreachable_database_gives_one_clear_line() {
    let output = radportal("postgres://postgres:secret@127.0.0.1:9/radportal")
        .arg("migrate")
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "error: cannot reach PostgreSQL at postgres://postgres:***@127.0.0.1:9/radportal"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"));
}

#[test]
fn a_malformed_database_url_gives_one_clear_line() {
    let output = radportal("mysql://nope").arg("migrate").output().unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

#[tokio::test]
async fn serve_on_a_fresh_database_loads_the_catalog_creates_an_admin_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};

    let name = format!("radportal_test_{}", uuid::Uuid::new_v4().simple());
    let url = crate::helpers::database_url(&name);
    let password_file = std::env::temp_dir().join(format!("{name}-admin-password"));
    let mut child = radportal(&url)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RADPORTAL_ADMIN_PASSWORD_OUTPUT", &password_file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    // Whatever happens below, the server does not outlive the test.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = KillOnDrop(child);
    let mut lines = BufReader::new(stderr).lines();
    let mut announced = None;
    let mut example = false;
    let mut shown = Vec::new();
    let address = loop {
        let line = lines.next().expect("serve prints its address").unwrap();
        shown.push(line.clone());
        if let Some(rest) = line.strip_prefix(
            "created the first administrator: admin@radportal.local; its password is in ",
        ) {
            announced = rest.split(" (").next().map(str::to_owned);
        }
        example |= line.starts_with(
            "created example data for a walk-through: accounts researcher@example.org",
        );
        if let Some(address) = line.strip_prefix("radportal is serving on ") {
            break address.trim().to_owned();
        }
    };

    let body = reqwest::get(format!("{address}/datasets"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The 320 datasets of the bundled catalog and the 3 example ones.
    assert!(body.contains("1–20 of 323 datasets"), "{body}");
    assert!(example, "the example accounts are announced");
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    let hash: String = sqlx::query_scalar("select password_hash from users where is_admin")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(
        announced.as_deref(),
        Some(password_file.to_str().unwrap()),
        "the log names the password's file"
    );
    let password = std::fs::read_to_string(&password_file).unwrap();
    let _ = std::fs::remove_file(&password_file);
    let password = password.trim().to_owned();
    assert!(
        !shown.iter().any(|line| line.contains(&password)),
        "the password is in no log line"
    );
    assert!(
        radportal::auth::password::verify(password, hash)
            .await
            .unwrap()
    );
    db.close().await;

    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status}");
    let admin = sqlx::PgPool::connect(&crate::helpers::admin_url())
        .await
        .unwrap();
    sqlx::query(&format!("drop database if exists \"{name}\" with (force)"))
        .execute(&admin)
        .await
        .unwrap();
}
