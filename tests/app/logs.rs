//! What an operator's log collector reads from the real binary: in JSON mode nothing but JSON lines,
//! no colour codes unless the log goes to a terminal, and the first administrator's password in no
//! line at all — only in a file that only the portal's user can read.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Served, Stream, Template, new_client};

/// Every line parsed as a JSON object; fails on the first that is not one.
fn json_events(lines: &[(Stream, String)]) -> Vec<Value> {
    lines
        .iter()
        .map(|(stream, line)| {
            let event: Value = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("a {stream:?} line is not JSON ({error}): {line}"));
            assert!(event.is_object(), "{line}");
            event
        })
        .collect()
}

async fn signs_in(portal: &Served, email: &str, password: &str) -> bool {
    let response = new_client()
        .post(portal.url("/sign-in"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    response.status() == StatusCode::SEE_OTHER
}

#[tokio::test]
async fn json_logs_are_only_json_and_the_first_password_is_only_in_its_private_file() {
    let mut portal = Served::start(Template::Catalog, "json", &[]).await;
    let client = new_client();
    for path in ["/datasets?q=lung", "/datasets/lidc-idri", "/nowhere"] {
        client.get(portal.url(path)).send().await.unwrap();
    }

    let file = portal.password_file();
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} has mode {mode:o}", file.display());
    let password = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert_eq!(password.chars().count(), 20);
    assert!(signs_in(&portal, "admin@radportal.local", &password).await);
    let status = portal.stop();

    assert!(status.success(), "{status}");
    let lines = portal.lines();
    let events = json_events(&lines);
    assert!(events.len() >= 5, "{lines:#?}");
    for (_, line) in &lines {
        assert!(
            !line.contains(&password),
            "the password is in a log line: {line}"
        );
        assert!(!line.contains("\x1b["), "a colour code: {line}");
    }
    let created = events
        .iter()
        .find(|event| {
            event["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("created the first administrator"))
        })
        .expect("the log says the administrator was created");
    assert_eq!(created["fields"]["email"], "admin@radportal.local");
    assert_eq!(
        created["fields"]["password_file"],
        file.display().to_string()
    );
    assert!(
        events
            .iter()
            .any(|event| event["fields"]["message"] == "radportal is serving")
    );
}

#[tokio::test]
async fn the_first_password_can_come_from_a_file_and_a_weak_one_stops_the_start() {
    let dir = std::env::temp_dir().join(format!("radportal-secret-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("admin-password");
    let chosen = "an operator's own passphrase 42";
    std::fs::write(&secret, format!("{chosen}\n")).unwrap();
    let weak = dir.join("weak");
    std::fs::write(&weak, "short\n").unwrap();

    let mut portal = Served::start(
        Template::Migrated,
        "json",
        &[("RADPORTAL_ADMIN_PASSWORD_FILE", secret.to_str().unwrap())],
    )
    .await;
    assert!(signs_in(&portal, "admin@radportal.local", chosen).await);
    assert!(portal.stop().success());
    assert!(!portal.password_file().exists(), "nothing was generated");
    let events = json_events(&portal.lines());
    assert!(events.iter().any(|event| {
        event["fields"]["message"]
            == "created the first administrator with the password from RADPORTAL_ADMIN_PASSWORD_FILE"
    }));
    assert!(!portal.lines().iter().any(|(_, line)| line.contains(chosen)));

    let mut refused = Served::spawn(
        Template::Migrated,
        "json",
        &[("RADPORTAL_ADMIN_PASSWORD_FILE", weak.to_str().unwrap())],
    )
    .await;
    let status = refused
        .wait_exit(Duration::from_secs(30))
        .expect("the start fails");
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(status.code(), Some(1));
    let events = json_events(&refused.lines());
    let error = events
        .iter()
        .find(|event| event["level"] == "ERROR")
        .expect("the error is logged");
    let text = error["fields"]["error"].as_str().unwrap();
    assert!(text.contains("RADPORTAL_ADMIN_PASSWORD_FILE"), "{text}");
    assert!(text.contains("at least 12 characters"), "{text}");
    let admins: i64 = sqlx::query_scalar("select count(*) from users where is_admin")
        .fetch_one(&refused.db)
        .await
        .unwrap();
    assert_eq!(admins, 0, "no administrator without a usable password");
}

#[tokio::test]
async fn a_password_file_that_cannot_be_written_stops_the_start_before_the_account_exists() {
    let mut refused = Served::spawn(
        Template::Migrated,
        "json",
        &[(
            "RADPORTAL_ADMIN_PASSWORD_OUTPUT",
            "/nonexistent-directory/admin-password",
        )],
    )
    .await;
    let status = refused
        .wait_exit(Duration::from_secs(30))
        .expect("the start fails");

    assert_eq!(status.code(), Some(1));
    let events = json_events(&refused.lines());
    let error = events
        .iter()
        .find(|event| event["level"] == "ERROR")
        .expect("the error is logged");
    let text = error["fields"]["error"].as_str().unwrap();
    assert!(
        text.contains("cannot write the first administrator's password to /nonexistent-directory/admin-password"),
        "{text}"
    );
    let admins: i64 = sqlx::query_scalar("select count(*) from users where is_admin")
        .fetch_one(&refused.db)
        .await
        .unwrap();
    assert_eq!(admins, 0);
}

#[tokio::test]
async fn text_logs_to_a_file_carry_no_colour_codes() {
    let mut portal = Served::start(Template::Migrated, "text", &[]).await;
    new_client()
        .get(portal.url("/nowhere"))
        .send()
        .await
        .unwrap();
    let status = portal.stop();

    assert!(status.success());
    let lines = portal.lines();
    assert!(
        lines.iter().any(|(_, line)| line.contains(" INFO ")),
        "{lines:#?}"
    );
    for (_, line) in &lines {
        assert!(!line.contains("\x1b["), "a colour code: {line:?}");
    }
    let password = std::fs::read_to_string(portal.password_file()).unwrap();
    assert!(!lines.iter().any(|(_, line)| line.contains(password.trim())));
    assert!(lines.iter().any(|(_, line)| {
        line.starts_with(
            "created the first administrator: admin@radportal.local; its password is in ",
        )
    }));
}

#[tokio::test]
async fn on_a_terminal_text_logs_are_coloured_unless_no_color_is_set() {
    let on_a_terminal = async |no_color: Option<&str>| {
        // The database does not exist: `migrate` creates it and logs that at INFO.
        let name = format!("radportal_test_{}", uuid::Uuid::new_v4().simple());
        // `script` (util-linux) runs the command on a pseudo-terminal and copies what it shows.
        let mut command = Command::new("script");
        command
            .args(["--quiet", "--return", "--command"])
            .arg(format!("{} migrate", env!("CARGO_BIN_EXE_radportal")))
            .arg("/dev/null")
            .env("DATABASE_URL", crate::helpers::database_url(&name))
            .env("RADPORTAL_LOG", "info")
            .env_remove("RADPORTAL_LOG_FORMAT")
            .env_remove("NO_COLOR");
        if let Some(value) = no_color {
            command.env("NO_COLOR", value);
        }
        let output = command.output().expect("script runs");
        let admin = sqlx::PgPool::connect(&crate::helpers::admin_url())
            .await
            .unwrap();
        sqlx::query(&format!(r#"drop database if exists "{name}" with (force)"#))
            .execute(&admin)
            .await
            .unwrap();
        let shown = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{shown}");
        shown
    };

    let coloured = on_a_terminal(None).await;
    let plain = on_a_terminal(Some("1")).await;

    assert!(coloured.contains("created database"), "{coloured}");
    assert!(coloured.contains("\x1b["), "{coloured:?}");
    assert!(plain.contains("created database"), "{plain}");
    assert!(!plain.contains("\x1b["), "{plain:?}");
}

#[test]
fn in_json_mode_a_mistake_in_the_settings_is_a_json_event_too() {
    let output = Command::new(env!("CARGO_BIN_EXE_radportal"))
        .arg("serve")
        .env("RADPORTAL_LOG_FORMAT", "json")
        .env("RADPORTAL_DB_MAX_CONNECTIONS", "0")
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<(Stream, String)> = stderr
        .lines()
        .map(|line| (Stream::Stderr, line.to_owned()))
        .collect();
    let events = json_events(&lines);
    assert_eq!(events.len(), 1, "{stderr}");
    let error = events[0]["fields"]["error"].as_str().unwrap();
    assert!(error.contains("--db-max-connections"), "{error}");
    assert!(error.contains("0 is not in 1..=1000"), "{error}");
}
