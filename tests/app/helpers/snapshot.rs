//! Snapshot tests (insta) of what the portal hands out — JSON documents and e-mail texts — with what
//! changes from run to run replaced by placeholders: database ids, timestamps, tokens in links and port
//! numbers. Snapshots live in `tests/app/snapshots/`; a mismatch fails the test (and under `CI`, or with
//! `INSTA_UPDATE=no` as `scripts/test` sets it, no new snapshot is written).

use super::ReceivedMail;

/// Placeholder for a database id.
const ID: &str = "[id]";
/// Placeholder for a timestamp the portal made.
const DATETIME: &str = "[datetime]";
/// Placeholder for a date the portal made.
const DATE: &str = "[date]";

/// Compares a received e-mail (sender, recipients, subject and body) with the snapshot `name`.
macro_rules! assert_mail {
    ($name:expr, $mail:expr) => {
        $crate::helpers::snapshot::settings().bind(|| {
            insta::assert_snapshot!(
                $name,
                $crate::helpers::snapshot::mail_text(&$mail),
                concat!("the e-mail ", stringify!($mail))
            );
        })
    };
}

/// Compares a JSON document with the snapshot `name`.
macro_rules! assert_json {
    ($name:expr, $value:expr) => {
        $crate::helpers::snapshot::settings().bind(|| {
            insta::assert_json_snapshot!($name, $value);
        })
    };
}

pub(crate) use {assert_json, assert_mail};

/// The settings every snapshot is taken with.
pub fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_sort_maps(true);
    // JSON: numeric ids (string ids are slugs, which stay), and the timestamps the portal sets.
    for key in ["id", "user_id", "request_id", "grant_id", "project_id"] {
        settings.add_dynamic_redaction(&format!(".**.{key}"), |value, _| {
            if value.as_i64().is_some() {
                ID.into()
            } else {
                value
            }
        });
    }
    for key in [
        "created_at",
        "updated_at",
        "metadata_created",
        "metadata_modified",
        "expires_at",
        "starts_at",
        "email_verified_at",
        "last_used_at",
    ] {
        settings.add_dynamic_redaction(&format!(".**.{key}"), |value, _| {
            if value.as_str().is_some() {
                DATETIME.into()
            } else {
                value
            }
        });
    }
    settings.add_redaction(r#".**["dct:modified"]["@value"]"#, DATE);
    // Text: tokens in links, timestamps as e-mails write them, request numbers and ids in paths, ports.
    settings.add_filter(r"token=[A-Za-z0-9_\-]+", "token=[token]");
    settings.add_filter(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", DATETIME);
    settings.add_filter(r"#\d+\b", "#[id]");
    settings.add_filter(r"/(requests|projects|grants)/\d+", "/$1/[id]");
    settings.add_filter(r"(localhost|127\.0\.0\.1):\d+", "$1:[port]");
    settings
}

/// An e-mail as one text: its envelope, subject and body.
pub fn mail_text(mail: &ReceivedMail) -> String {
    format!(
        "From: {}\nTo: {}\nSubject: {}\n\n{}",
        mail.from,
        mail.to.join(", "),
        mail.subject,
        mail.body
    )
}
