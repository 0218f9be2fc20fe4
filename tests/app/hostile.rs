//! Hostile input to every route, derived rather than listed. For each role, every GET route of the
//! route table is requested with its placeholders filled, and every form, field and query-string link
//! the pages show is sent a compact set of hostile values, one field at a time with the others at the
//! values the page rendered; so are every path parameter, the body of every unsafe route (wrong content
//! types), the parameters and bodies of the OpenAPI document and the CKAN actions. No answer may be a
//! 5xx or a timeout, and no HTML answer may carry the probes' markup unescaped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use radportal::access::example::{EXAMPLE_PASSWORD, seed_if_empty};
use radportal::auth::session;
use radportal::web::routes::RouteEntry;
use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap};
use reqwest::{Client, Method, StatusCode};
use scraper::{ElementRef, Html, Selector};
use serde_json::Value as Json;

use crate::helpers::{Page, TestApp};

/// Who is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Role {
    Visitor,
    Researcher,
    Reviewer,
    Admin,
    /// A researcher whose account an administrator disabled after they signed in.
    Disabled,
}

const ROLES: [Role; 5] = [
    Role::Visitor,
    Role::Researcher,
    Role::Reviewer,
    Role::Admin,
    Role::Disabled,
];

/// Requests in flight at once: enough to keep two cores busy, few enough for a shared machine.
const IN_FLIGHT: usize = 8;

/// Routes that end the session they are sent with (sign-out whatever the body; the others if they
/// succeed). Their probes run last, each with a session of its own, so that none signs a role out of
/// the probes after it; the hostile values still reach them all.
const SESSION_ENDING: &[&str] = &[
    "/sign-out",
    "/account/sign-out-everywhere",
    "/account/close",
    "/account/password",
];

/// The markup every probe carries, for attributes and text alike (and a Markdown link).
const MARKUP: &str =
    "\"'><img src=x onerror=probe><script>x-probe</script>[probe](javascript:probe)";

/// What must never appear in an HTML answer: the probe's markup as markup.
const MARKERS: &[&str] = &[
    "<script>x-probe</script>",
    "<img src=x onerror=probe>",
    "href=\"javascript:probe",
];

const SQL: &str = "' OR '1'='1' -- ; \\ % _ \"; drop table users; --";

const CHEST: &str = "example-chest-ct-research-extract";
const BRAIN: &str = "example-brain-mri-registry";
const MAMMO: &str = "example-mammography-screening-cohort";
const RESEARCHER: &str = "researcher@example.org";
const REVIEWER: &str = "reviewer@example.org";
const ADMIN: &str = "probe-admin@example.org";
const OTTO: &str = "otto@example.org";
const DORA: &str = "dora@example.org";

/// A value sent in place of a field's own; `None` leaves the field out.
struct Hostile {
    label: &'static str,
    value: Option<Vec<u8>>,
}

/// The hostile values for text: few enough to send to every field, each of a different kind.
fn hostile_text() -> Vec<Hostile> {
    hostile_values(51_200, "100 kB")
}

/// The hostile values for a query string, where 100 kB cannot go (a URI is at most 64 kB): the long
/// one is 10 kB once encoded.
fn hostile_query() -> Vec<Hostile> {
    hostile_values(1_700, "10 kB")
}

fn hostile_values(repeat: usize, long_label: &'static str) -> Vec<Hostile> {
    let value = |label, bytes: &[u8]| Hostile {
        label,
        value: Some(bytes.to_vec()),
    };
    let mut long = "ö".repeat(repeat);
    long.push_str(MARKUP);
    vec![
        Hostile {
            label: "absent",
            value: None,
        },
        value("NUL", b"probe\0nul"),
        value(
            "control characters",
            "probe\u{1b}[2J\u{85}\u{7f}".as_bytes(),
        ),
        value("invalid UTF-8", b"probe\xff\xfe\xc0"),
        value(long_label, long.as_bytes()),
        value("markup", MARKUP.as_bytes()),
        value("SQL", SQL.as_bytes()),
        value("-1", b"-1"),
        value("2^64+", b"99999999999999999999"),
        value("i64::MIN", b"-9223372036854775808"),
        value("1e309", b"1e309"),
        value("2026-02-30", b"2026-02-30"),
        value("9999-12-31", b"9999-12-31"),
        value("99999-01-01", b"99999-01-01"),
        value("unknown id", b"no-such-probe-0"),
    ]
}

/// The hostile values of a JSON field, as JSON text.
fn hostile_json() -> Vec<(&'static str, Vec<u8>)> {
    let long = serde_json::to_vec(&format!("{}{MARKUP}", "ö".repeat(51_200))).unwrap();
    vec![
        ("NUL", br#""probe\u0000nul""#.to_vec()),
        ("control characters", br#""probe\u001b[2J\u0085""#.to_vec()),
        ("invalid UTF-8", b"\"probe\xff\xfe\"".to_vec()),
        ("100 kB", long),
        ("markup", serde_json::to_vec(MARKUP).unwrap()),
        ("SQL", serde_json::to_vec(SQL).unwrap()),
        ("null", b"null".to_vec()),
        ("true", b"true".to_vec()),
        ("-1", b"-1".to_vec()),
        ("2^64+", b"99999999999999999999".to_vec()),
        ("i64::MIN", b"-9223372036854775808".to_vec()),
        ("1e309", b"1e309".to_vec()),
        ("0.5", b"0.5".to_vec()),
        ("array", br#"["probe"]"#.to_vec()),
        ("object", br#"{"probe": 1}"#.to_vec()),
        ("2026-02-30", br#""2026-02-30""#.to_vec()),
    ]
}

/// Path segments put in place of each path parameter (already percent-encoded).
fn hostile_segments() -> Vec<(&'static str, String)> {
    vec![
        ("NUL", "%00".to_owned()),
        ("invalid UTF-8", "%FF".to_owned()),
        ("quote", "'".to_owned()),
        ("-1", "-1".to_owned()),
        ("0", "0".to_owned()),
        ("2^64+", "99999999999999999999".to_owned()),
        ("10 kB", "a".repeat(10_240)),
        ("dot-dot-slash", "..%2F".to_owned()),
        ("markup", encode(MARKUP.as_bytes())),
    ]
}

/// Bodies that are not what a route reads: a JSON route sent a form and the other way round, plain
/// text, multipart that is broken or has no boundary, JSON that is truncated or nested too deep.
fn wrong_bodies(json_defaults: Vec<u8>) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    vec![
        ("JSON body", "application/json", json_defaults),
        (
            "form body",
            "application/x-www-form-urlencoded",
            format!("probe={}", encode(MARKUP.as_bytes())).into_bytes(),
        ),
        (
            "text/plain",
            "text/plain",
            format!("probe {MARKUP}").into_bytes(),
        ),
        (
            "broken multipart",
            "multipart/form-data; boundary=probe",
            b"--probe\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nno end".to_vec(),
        ),
        (
            "multipart without boundary",
            "multipart/form-data",
            b"x".to_vec(),
        ),
        (
            "truncated JSON",
            "application/json",
            b"{\"probe\": \"\xff".to_vec(),
        ),
        (
            "deep JSON",
            "application/json",
            "[".repeat(5_000).into_bytes(),
        ),
    ]
}

/// The CKAN actions the portal answers and the parameters CKAN documents for them: CKAN's API has no
/// document to derive them from.
const CKAN_ACTIONS: &[(&str, &[&str])] = &[
    (
        "package_search",
        &[
            "q",
            "fq",
            "rows",
            "start",
            "sort",
            "facet.field",
            "facet.limit",
            "include_private",
        ],
    ),
    ("package_show", &["id"]),
    ("package_list", &["limit", "offset"]),
    (
        "organization_list",
        &["limit", "offset", "all_fields", "sort", "organizations"],
    ),
    ("organization_show", &["id", "include_datasets"]),
];

// ----------------------------------------------------------------------------------------------------
// Encoding

/// Percent-encodes every byte but the unreserved ones, so that the bytes arrive exactly as given.
fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// A field's value: text, or a file as a browser sends it.
#[derive(Clone, Debug)]
enum Value {
    Text(Vec<u8>),
    File {
        name: Vec<u8>,
        content_type: String,
        bytes: Vec<u8>,
    },
}

fn text(value: impl AsRef<[u8]>) -> Value {
    Value::Text(value.as_ref().to_vec())
}

fn pdf(name: &str) -> Value {
    Value::File {
        name: name.as_bytes().to_vec(),
        content_type: "application/pdf".to_owned(),
        bytes: b"%PDF-1.4\n% probe\n%%EOF\n".to_vec(),
    }
}

/// The file a person would choose for a file input that accepts `accept`.
fn default_file(accept: &str) -> Value {
    if accept.contains("json") {
        Value::File {
            name: b"probe.json".to_vec(),
            content_type: "application/json".to_owned(),
            bytes: b"[]".to_vec(),
        }
    } else {
        pdf("probe.pdf")
    }
}

/// `application/x-www-form-urlencoded` (a file is sent as its name, as browsers do).
fn urlencoded(fields: &[(String, Value)]) -> String {
    fields
        .iter()
        .map(|(name, value)| {
            let bytes = match value {
                Value::Text(bytes) => bytes,
                Value::File { name, .. } => name,
            };
            format!("{}={}", encode(name.as_bytes()), encode(bytes))
        })
        .collect::<Vec<_>>()
        .join("&")
}

const BOUNDARY: &str = "radportal-probe-5b2f0c9e";

/// `multipart/form-data`, written byte by byte so that any name or value goes through unchanged.
fn multipart(fields: &[(String, Value)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match value {
            Value::Text(bytes) => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                );
                body.extend_from_slice(bytes);
            }
            Value::File {
                name: file_name,
                content_type,
                bytes,
            } => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"")
                        .as_bytes(),
                );
                body.extend_from_slice(file_name);
                body.extend_from_slice(
                    format!("\"\r\nContent-Type: {content_type}\r\n\r\n").as_bytes(),
                );
                body.extend_from_slice(bytes);
            }
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// The text fields as a JSON object (for sending a form's values to it as JSON).
fn as_json(fields: &[(String, Value)]) -> Vec<u8> {
    let object: serde_json::Map<String, Json> = fields
        .iter()
        .filter_map(|(name, value)| match value {
            Value::Text(bytes) => Some((
                name.clone(),
                Json::String(String::from_utf8_lossy(bytes).into_owned()),
            )),
            Value::File { .. } => None,
        })
        .collect();
    serde_json::to_vec(&object).unwrap()
}

/// `fields` with `name` replaced by `replacement` (at its first place), or left out.
fn with_field(
    fields: &[(String, Value)],
    name: &str,
    replacement: Option<Value>,
) -> Vec<(String, Value)> {
    let mut out = Vec::with_capacity(fields.len() + 1);
    let mut replacement = replacement;
    for (field, value) in fields {
        if field == name {
            if let Some(value) = replacement.take() {
                out.push((field.clone(), value));
            }
        } else {
            out.push((field.clone(), value.clone()));
        }
    }
    if let Some(value) = replacement {
        out.push((name.to_owned(), value));
    }
    out
}

// ----------------------------------------------------------------------------------------------------
// The portal and the people in it

/// How one role's requests say who they are.
struct Actor {
    user_id: Option<i64>,
    cookie: Option<String>,
    token: Option<String>,
}

/// The records the placeholders of the route table are filled with.
struct Ids {
    org: String,
    dua_slug: String,
    dua: i64,
    committee: i64,
    otto: i64,
    project: i64,
    /// The researcher's request waiting for the committee, and the approved one with its grant.
    submitted: i64,
    approved: i64,
    attachment: i64,
    grant: i64,
    credential: i64,
    /// A second credential and token of the researcher, for the routes that delete them.
    spare_credential: i64,
    spare_token: i64,
    import: i64,
}

impl Ids {
    /// The values for the placeholder `param` after the segment `preceding` of `template`; the first is
    /// the one probes use, the derivation visits them all.
    fn candidates(&self, template: &str, preceding: &str, param: &str) -> Option<Vec<String>> {
        let one = |id: i64| Some(vec![id.to_string()]);
        if param.starts_with('*') {
            return Some(vec!["nothing-here".to_owned()]);
        }
        match (template, preceding) {
            ("/account/credentials/{id}/delete", _) => one(self.spare_credential),
            ("/account/tokens/{id}/revoke", _) => one(self.spare_token),
            (_, "datasets") => Some(vec!["lidc-idri".to_owned(), CHEST.to_owned()]),
            (_, "organizations") => Some(vec![self.org.clone()]),
            (_, "duas") => Some(vec![self.dua_slug.clone()]),
            (_, "static") => Some(vec!["site.css".to_owned()]),
            (_, "action") => Some(vec!["package_search".to_owned()]),
            (_, "users" | "members") => one(self.otto),
            (_, "committees") => one(self.committee),
            (_, "agreements") => one(self.dua),
            (_, "import") => one(self.import),
            (_, "credentials") => one(self.credential),
            (_, "projects") => one(self.project),
            (_, "requests") => Some(vec![self.submitted.to_string(), self.approved.to_string()]),
            (_, "attachments") => one(self.attachment),
            (_, "grants") => one(self.grant),
            _ => None,
        }
    }
}

struct World {
    app: TestApp,
    routes: Vec<RouteEntry>,
    actors: BTreeMap<Role, Actor>,
    ids: Ids,
}

async fn post(
    app: &TestApp,
    client: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client.post(app.url(path)).form(form).send().await.unwrap()
}

async fn post_parts(
    app: &TestApp,
    client: &Client,
    path: &str,
    parts: &[(&str, Value)],
) -> reqwest::Response {
    let parts: Vec<(String, Value)> = parts
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect();
    client
        .post(app.url(path))
        .header(CONTENT_TYPE, multipart_type())
        .body(multipart(&parts))
        .send()
        .await
        .unwrap()
}

/// Asserts the status of a setup step; returns its headers and body.
async fn expect(
    response: reqwest::Response,
    status: StatusCode,
    what: &str,
) -> (HeaderMap, String) {
    let got = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(
        got,
        status,
        "{what}: {}",
        body.chars().take(2_000).collect::<String>()
    );
    (headers, body)
}

fn location(headers: &HeaderMap) -> String {
    headers["location"].to_str().unwrap().to_owned()
}

async fn user_id(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("select id from users where email = $1")
        .bind(email)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn dataset_id(app: &TestApp, slug: &str) -> i64 {
    sqlx::query_scalar("select id from datasets where slug = $1")
        .bind(slug)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn new_token(app: &TestApp, client: &Client, name: &str, scope: &str) -> String {
    let response = post(
        app,
        client,
        "/account/tokens",
        &[("name", name), ("scope", scope), ("days", "90")],
    )
    .await;
    let (_, body) = expect(response, StatusCode::CREATED, "a token is created").await;
    Page::new(&body).text("#new-token")
}

/// Puts `slug` in the cart and submits it for `project`; returns the new request.
async fn submit(app: &TestApp, client: &Client, project: i64, slug: &str) -> i64 {
    let added = post(app, client, "/cart", &[("dataset", slug)]).await;
    expect(added, StatusCode::SEE_OTHER, "added to the cart").await;
    let sign = format!("sign_{}", dataset_id(app, slug).await);
    let project = project.to_string();
    let form = [
        ("project", project.as_str()),
        ("days", "180"),
        ("acknowledge", "on"),
        (sign.as_str(), "Riley Researcher"),
    ];
    let submitted = post(app, client, "/cart/submit", &form).await;
    let (headers, _) = expect(submitted, StatusCode::SEE_OTHER, "the cart is submitted").await;
    location(&headers)
        .trim_start_matches("/requests?submitted=")
        .parse()
        .unwrap()
}

async fn review(app: &TestApp, client: &Client, request: i64, form: &[(&str, &str)]) {
    let version: i32 = sqlx::query_scalar("select version from access_requests where id = $1")
        .bind(request)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let version = version.to_string();
    let mut form = form.to_vec();
    form.push(("version", &version));
    let path = format!("/requests/{request}/review");
    let response = post(app, client, &path, &form).await;
    expect(response, StatusCode::SEE_OTHER, "the reviewer acts").await;
}

impl World {
    /// The portal with the bundled catalog and the example data, and in it, made the way people make
    /// them: a researcher with a project, a request waiting for review, an approved one with an
    /// attachment and a grant, a dataset in the cart, credentials and tokens; a reviewer on both
    /// committees; an administrator, who published a second agreement version, checked an import file,
    /// added Otto to a committee and disabled Dora.
    async fn build() -> Self {
        let app = TestApp::with_catalog().await;
        assert!(seed_if_empty(&app.db).await.unwrap(), "example data");
        let researcher = app.signed_in_with(RESEARCHER, EXAMPLE_PASSWORD).await;
        let reviewer = app.signed_in_with(REVIEWER, EXAMPLE_PASSWORD).await;
        app.add_admin(ADMIN).await;
        let admin = app.signed_in(ADMIN).await;
        let otto = app.add_user(OTTO, "Otto Other").await;
        let dora_id = app.add_user(DORA, "Dora Disabled").await;
        let dora = app.signed_in(DORA).await;

        let project_form = [
            ("title", "Lung nodule detection"),
            (
                "research_use",
                "We will train and validate a nodule detection model on chest CT and brain MRI.",
            ),
            ("purpose", "HMB"),
            ("country", "Netherlands"),
            ("pi_name", "Riley Researcher"),
            ("institution", "Example University Hospital"),
            ("irb_number", "IRB-2026-114"),
            ("irb_body", "Example University Hospital IRB"),
            ("irb_expires_on", "2031-12-31"),
            (
                "security_plan",
                "Processed only on the hospital research cluster.",
            ),
        ];
        let created = post(&app, &researcher, "/projects", &project_form).await;
        let (headers, _) = expect(created, StatusCode::SEE_OTHER, "a project").await;
        let project: i64 = location(&headers)
            .trim_start_matches("/projects/")
            .parse()
            .unwrap();
        let approved = submit(&app, &researcher, project, CHEST).await;
        let submitted = submit(&app, &researcher, project, BRAIN).await;
        let added = post(&app, &researcher, "/cart", &[("dataset", MAMMO)]).await;
        expect(added, StatusCode::SEE_OTHER, "a dataset in the cart").await;
        let attached = post_parts(
            &app,
            &researcher,
            &format!("/requests/{approved}/attachments"),
            &[("file", pdf("letter.pdf"))],
        )
        .await;
        expect(attached, StatusCode::SEE_OTHER, "an attachment").await;
        let letter = post_parts(
            &app,
            &researcher,
            &format!("/projects/{project}/irb-letter"),
            &[("letter", pdf("irb.pdf"))],
        )
        .await;
        expect(letter, StatusCode::SEE_OTHER, "an IRB letter").await;
        for kind in [
            "PhysioNet credentialed user",
            "CITI human subjects training",
        ] {
            let added = post_parts(
                &app,
                &researcher,
                "/account/credentials",
                &[
                    ("kind", text(kind)),
                    ("issuer", text("PhysioNet")),
                    ("identifier", text("")),
                    ("issued_on", text("2025-01-01")),
                    ("expires_on", text("")),
                    ("evidence", pdf("cert.pdf")),
                ],
            )
            .await;
            expect(added, StatusCode::SEE_OTHER, "a credential").await;
        }
        let researcher_token = new_token(&app, &researcher, "probe", "read_write").await;
        new_token(&app, &researcher, "spare", "read").await;
        let reviewer_token = new_token(&app, &reviewer, "probe", "read_write").await;
        // The administrator's token is a data host's, for the entitlements API.
        let admin_token = new_token(&app, &admin, "probe", "data_host").await;
        let dora_token = new_token(&app, &dora, "probe", "read_write").await;

        let days = format!("days_{}", dataset_id(&app, CHEST).await);
        review(
            &app,
            &reviewer,
            approved,
            &[("action", "comment"), ("message", "Looks complete.")],
        )
        .await;
        review(
            &app,
            &reviewer,
            approved,
            &[
                ("action", "decide"),
                ("decision", "approve"),
                ("message", "Fits the agreement."),
                (days.as_str(), "90"),
            ],
        )
        .await;

        let committee: i64 =
            sqlx::query_scalar("select id from dacs where slug = 'thoracic-imaging-dac'")
                .fetch_one(&app.db)
                .await
                .unwrap();
        let member = post(
            &app,
            &admin,
            &format!("/admin/committees/{committee}/members"),
            &[("email", OTTO)],
        )
        .await;
        expect(member, StatusCode::SEE_OTHER, "Otto joins the committee").await;
        let (dua, dua_slug): (i64, String) = sqlx::query_as("select id, slug from duas")
            .fetch_one(&app.db)
            .await
            .unwrap();
        let today = time::OffsetDateTime::now_utc().date().to_string();
        let version = post(
            &app,
            &admin,
            &format!("/admin/agreements/{dua}/versions"),
            &[
                ("body", "# Version 2\n\nUse the data only as approved."),
                ("effective_on", &today),
                ("grace_days", "30"),
            ],
        )
        .await;
        expect(version, StatusCode::SEE_OTHER, "a second agreement version").await;
        let record = serde_json::json!([{
            "id": "probe-import-record",
            "name": "Probe import record",
            "record_type": "institutional",
            "url": "https://example.org/radportal/probe-import",
            "publisher_host": "Example University Hospital",
            "modalities": ["CT"],
            "access": "open",
            "species": "Human"
        }]);
        let checked = post_parts(
            &app,
            &admin,
            "/admin/import",
            &[(
                "file",
                Value::File {
                    name: b"probe.json".to_vec(),
                    content_type: "application/json".to_owned(),
                    bytes: serde_json::to_vec(&record).unwrap(),
                },
            )],
        )
        .await;
        let (_, body) = expect(checked, StatusCode::OK, "an import file is checked").await;
        let commit = Page::new(&body).attrs("form[action$='/commit']", "action");
        let import: i64 = commit
            .first()
            .expect("the check offers to import")
            .trim_start_matches("/admin/import/")
            .trim_end_matches("/commit")
            .parse()
            .unwrap();
        let disabled = post(
            &app,
            &admin,
            &format!("/admin/users/{dora_id}/disable"),
            &[("reason", "Probe account.")],
        )
        .await;
        expect(disabled, StatusCode::SEE_OTHER, "Dora is disabled").await;

        let researcher_id = user_id(&app, RESEARCHER).await;
        let credentials: Vec<i64> =
            sqlx::query_scalar("select id from credentials where user_id = $1 order by id")
                .bind(researcher_id)
                .fetch_all(&app.db)
                .await
                .unwrap();
        let spare_token: i64 =
            sqlx::query_scalar("select id from api_tokens where user_id = $1 and name = 'spare'")
                .bind(researcher_id)
                .fetch_one(&app.db)
                .await
                .unwrap();
        let attachment: i64 =
            sqlx::query_scalar("select id from attachments where request_id = $1")
                .bind(approved)
                .fetch_one(&app.db)
                .await
                .unwrap();
        let grant: i64 = sqlx::query_scalar("select id from grants where request_id = $1")
            .bind(approved)
            .fetch_one(&app.db)
            .await
            .unwrap();
        let org: String =
            sqlx::query_scalar("select slug from organizations order by slug limit 1")
                .fetch_one(&app.db)
                .await
                .unwrap();

        let mut actors = BTreeMap::new();
        actors.insert(
            Role::Visitor,
            Actor {
                user_id: None,
                cookie: None,
                token: None,
            },
        );
        for (role, email, token) in [
            (Role::Researcher, RESEARCHER, researcher_token),
            (Role::Reviewer, REVIEWER, reviewer_token),
            (Role::Admin, ADMIN, admin_token),
            (Role::Disabled, DORA, dora_token),
        ] {
            let id = user_id(&app, email).await;
            let cookie = session::create(&app.db, id).await.unwrap();
            actors.insert(
                role,
                Actor {
                    user_id: Some(id),
                    cookie: Some(cookie),
                    token: Some(token),
                },
            );
        }
        let ids = Ids {
            org,
            dua_slug,
            dua,
            committee,
            otto,
            project,
            submitted,
            approved,
            attachment,
            grant,
            credential: credentials[0],
            spare_credential: credentials[1],
            spare_token,
            import,
        };
        World {
            app,
            routes: radportal::routes().table(),
            actors,
            ids,
        }
    }

    /// Every URL of `template` with its placeholders filled (all candidates), noting unfilled ones.
    fn urls(&self, template: &'static str, unfilled: &mut BTreeSet<String>) -> Vec<String> {
        let segments: Vec<&str> = template.split('/').collect();
        let mut urls = vec![String::new()];
        for index in 1..segments.len() {
            let segment = segments[index];
            let options = match placeholder(segment) {
                Some(param) => self
                    .ids
                    .candidates(template, segments[index - 1], param)
                    .unwrap_or_else(|| {
                        unfilled.insert(format!("{template} {segment}"));
                        vec!["1".to_owned()]
                    }),
                None => vec![segment.to_owned()],
            };
            urls = urls
                .iter()
                .flat_map(|url| options.iter().map(move |option| format!("{url}/{option}")))
                .collect();
        }
        urls
    }

    /// The URL of `template` with its first candidates, and `segment` at `index` when given.
    fn url_with(&self, template: &'static str, replaced: Option<(usize, &str)>) -> String {
        let segments: Vec<&str> = template.split('/').collect();
        let mut url = String::new();
        for index in 1..segments.len() {
            url.push('/');
            match replaced {
                Some((at, segment)) if at == index => url.push_str(segment),
                _ => match placeholder(segments[index]) {
                    Some(param) => url.push_str(
                        &self
                            .ids
                            .candidates(template, segments[index - 1], param)
                            .and_then(|values| values.into_iter().next())
                            .unwrap_or_else(|| "1".to_owned()),
                    ),
                    None => url.push_str(segments[index]),
                },
            }
        }
        url
    }

    /// The route that answers `method` on `path`: static segments beat placeholders, placeholders
    /// beat a trailing wildcard.
    fn route_of(&self, method: &Method, path: &str) -> Option<&'static str> {
        let parts: Vec<&str> = path.split('/').collect();
        self.routes
            .iter()
            .filter(|entry| entry.method.as_str() == method.as_str())
            .filter_map(|entry| {
                let segments: Vec<&str> = entry.path.split('/').collect();
                let mut score = 0;
                for (index, segment) in segments.iter().enumerate() {
                    if segment.starts_with("{*") {
                        return (parts.len() > index).then_some((score, entry.path));
                    }
                    let part = parts.get(index)?;
                    if placeholder(segment).is_some() {
                        if part.is_empty() {
                            return None;
                        }
                    } else if segment != part {
                        return None;
                    } else {
                        score += 2;
                    }
                }
                (segments.len() == parts.len()).then_some((score + 1, entry.path))
            })
            .max_by_key(|(score, _)| *score)
            .map(|(_, path)| path)
    }
}

/// The name of a placeholder segment such as `{id}` or `{*rest}`.
fn placeholder(segment: &str) -> Option<&str> {
    segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
}

// ----------------------------------------------------------------------------------------------------
// Requests

/// What a probe sends.
#[derive(Clone)]
enum Body {
    Empty,
    Typed {
        content_type: String,
        bytes: Vec<u8>,
    },
}

impl Body {
    fn typed(content_type: &str, bytes: Vec<u8>) -> Self {
        Self::Typed {
            content_type: content_type.to_owned(),
            bytes,
        }
    }
}

/// One request.
#[derive(Clone)]
struct Probe {
    role: Role,
    method: Method,
    /// Path and query, percent-encoded.
    url: String,
    body: Body,
    /// The route template it reaches.
    route: &'static str,
    /// What is hostile in it: `field `title``, `query `q``, `segment 2`, `content type` …
    target: String,
    /// Which hostile value.
    value: String,
    /// Sent with a session made for it alone.
    fresh_session: bool,
    /// For a form with a `version`: how to send it again with the current one after a conflict.
    refresh: Option<Box<Refresh>>,
}

/// A form probe's page, form and fields, to send it again with a fresh `version`.
#[derive(Clone)]
struct Refresh {
    page: String,
    form: Form,
    fields: Vec<(String, Value)>,
}

impl Probe {
    fn page(role: Role, route: &'static str, url: String) -> Self {
        Self {
            role,
            method: Method::GET,
            url,
            body: Body::Empty,
            route,
            target: "page".to_owned(),
            value: "as rendered".to_owned(),
            fresh_session: false,
            refresh: None,
        }
    }
}

/// What came back.
struct Outcome {
    status: Option<StatusCode>,
    error: Option<String>,
    /// A marker of the probe's markup found in an HTML answer.
    marker: Option<&'static str>,
    request_id: String,
    elapsed: Duration,
}

fn probe_client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Sends `probe`; with `keep`, returns an HTML body too.
async fn send(
    world: &World,
    client: &Client,
    probe: &Probe,
    keep: bool,
) -> (Outcome, Option<String>) {
    let actor = &world.actors[&probe.role];
    let cookie = match (actor.user_id, probe.fresh_session) {
        (Some(user), true) => Some(session::create(&world.app.db, user).await.unwrap()),
        _ => actor.cookie.clone(),
    };
    let answer = send_once(world, client, probe, cookie.as_deref(), keep).await;
    let Some(refresh) = &probe.refresh else {
        return answer;
    };
    if answer.0.status != Some(StatusCode::CONFLICT) {
        return answer;
    }
    // An earlier probe saved, and the form's version is stale: read it again and send once more.
    let page = Probe::page(probe.role, probe.route, refresh.page.clone());
    let (_, body) = send_once(world, client, &page, cookie.as_deref(), true).await;
    let base = url::Url::parse(&world.app.url(&refresh.page)).unwrap();
    let version = body.and_then(|body| {
        forms_on(&Html::parse_document(&body), &base)
            .into_iter()
            .filter(|form| path_and_query(&form.action) == refresh.form.action)
            .find_map(|form| {
                form.defaults
                    .into_iter()
                    .find(|(name, _)| name == "version")
                    .map(|(_, value)| value)
            })
    });
    let sent = refresh
        .fields
        .iter()
        .find(|(name, _)| name == "version")
        .map(|(_, value)| format!("{value:?}"));
    let Some(version) = version.filter(|version| Some(format!("{version:?}")) != sent) else {
        // The version was current: the conflict is the answer to the hostile value.
        return answer;
    };
    let fields = with_field(&refresh.fields, "version", Some(version));
    let again = Probe {
        refresh: None,
        ..refresh
            .form
            .probe(&fields, probe.target.clone(), probe.value.clone())
    };
    send_once(world, client, &again, cookie.as_deref(), keep).await
}

async fn send_once(
    world: &World,
    client: &Client,
    probe: &Probe,
    cookie: Option<&str>,
    keep: bool,
) -> (Outcome, Option<String>) {
    let actor = &world.actors[&probe.role];
    let mut request = client
        .request(probe.method.clone(), world.app.url(&probe.url))
        .header("sec-fetch-site", "same-origin");
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, format!("{}={cookie}", session::COOKIE));
    }
    if let Some(token) = &actor.token {
        request = request.bearer_auth(token);
    }
    if let Body::Typed {
        content_type,
        bytes,
    } = &probe.body
    {
        request = request
            .header(CONTENT_TYPE, content_type)
            .body(bytes.clone());
    }
    let started = Instant::now();
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => {
            return (
                Outcome {
                    status: None,
                    error: Some(error.to_string()),
                    marker: None,
                    request_id: String::new(),
                    elapsed: started.elapsed(),
                },
                None,
            );
        }
    };
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let request_id = header("x-request-id");
    let html = header("content-type").starts_with("text/html");
    let body = response.bytes().await;
    let elapsed = started.elapsed();
    match body {
        Ok(bytes) => {
            let body = html.then(|| String::from_utf8_lossy(&bytes).into_owned());
            let marker = body
                .as_deref()
                .and_then(|body| MARKERS.iter().copied().find(|marker| body.contains(marker)));
            (
                Outcome {
                    status: Some(status),
                    error: None,
                    marker,
                    request_id,
                    elapsed,
                },
                body.filter(|_| keep),
            )
        }
        Err(error) => (
            Outcome {
                status: Some(status),
                error: Some(format!("the body broke off: {error}")),
                marker: None,
                request_id,
                elapsed,
            },
            None,
        ),
    }
}

/// Sends every probe, `IN_FLIGHT` at a time; the outcomes are in the probes' order.
async fn run(world: &World, probes: &[Probe], keep: bool) -> Vec<(Outcome, Option<String>)> {
    let client = probe_client();
    let mut outcomes: Vec<(usize, (Outcome, Option<String>))> =
        stream::iter(probes.iter().enumerate())
            .map(|(index, probe)| {
                let client = &client;
                async move { (index, send(world, client, probe, keep).await) }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
    outcomes.sort_by_key(|(index, _)| *index);
    outcomes.into_iter().map(|(_, outcome)| outcome).collect()
}

// ----------------------------------------------------------------------------------------------------
// Derivation: the forms and links the pages show

/// A form as a page rendered it.
#[derive(Clone, Debug)]
struct Form {
    role: Role,
    page: String,
    method: Method,
    /// Path (and query) the form is sent to.
    action: String,
    route: Option<&'static str>,
    multipart: bool,
    /// What the browser would send: the rendered values, checked boxes, the chosen options and the
    /// button a person would press.
    defaults: Vec<(String, Value)>,
    /// Every field name, unchecked boxes included.
    names: Vec<String>,
}

impl Form {
    /// Forms that differ only in their ids are one form; the request page's forms that differ in
    /// their hidden `action` are not.
    fn key(&self) -> (Role, String, String, Vec<String>, String) {
        let mut names = self.names.clone();
        names.sort();
        let action = self
            .defaults
            .iter()
            .find(|(name, _)| name == "action")
            .map(|(_, value)| format!("{value:?}"))
            .unwrap_or_default();
        (
            self.role,
            self.method.to_string(),
            self.route
                .map_or_else(|| self.action.clone(), str::to_owned),
            names,
            action,
        )
    }

    fn is_file(&self, name: &str) -> bool {
        self.defaults
            .iter()
            .any(|(field, value)| field == name && matches!(value, Value::File { .. }))
    }

    /// The form sent with `fields`.
    fn probe(&self, fields: &[(String, Value)], target: String, value: String) -> Probe {
        let path = self.action.split('?').next().unwrap_or("").to_owned();
        let (url, body) = if self.method == Method::GET {
            (format!("{path}?{}", urlencoded(fields)), Body::Empty)
        } else if self.multipart {
            (
                self.action.clone(),
                Body::typed(&multipart_type(), multipart(fields)),
            )
        } else {
            (
                self.action.clone(),
                Body::typed(
                    "application/x-www-form-urlencoded",
                    urlencoded(fields).into_bytes(),
                ),
            )
        };
        Probe {
            role: self.role,
            method: self.method.clone(),
            url,
            body,
            route: self.route.unwrap_or("(no route)"),
            target,
            value,
            fresh_session: false,
            refresh: None,
        }
    }
}

/// A link with a query string.
#[derive(Clone, Debug)]
struct Link {
    role: Role,
    path: String,
    route: &'static str,
    query: Vec<(String, Value)>,
}

#[derive(Default)]
struct Derived {
    forms: Vec<Form>,
    links: Vec<Link>,
    /// Every page requested, with its answer.
    pages: Vec<(Probe, Outcome)>,
    /// Placeholders no value is known for (filled with `1`).
    unfilled: BTreeSet<String>,
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("valid selector")
}

/// A form of a page: method, action, multipart, defaults and names.
struct RawForm {
    method: Method,
    action: url::Url,
    multipart: bool,
    defaults: Vec<(String, Value)>,
    names: Vec<String>,
}

/// What a person would type into an empty field of a given input type.
fn plausible(kind: &str) -> &'static str {
    match kind {
        "email" => "probe@example.org",
        "date" => "2030-06-01",
        "number" => "1",
        "url" => "https://example.org/probe",
        "password" => "probe-password-2030",
        "textarea" => {
            "A probe text long enough for a minimum length: a plausible research use of imaging data."
        }
        _ => "probe-value",
    }
}

fn kind_is_radio(kind: Option<&str>) -> bool {
    kind.is_some_and(|kind| kind.eq_ignore_ascii_case("radio"))
}

fn forms_on(html: &Html, page: &url::Url) -> Vec<RawForm> {
    let controls = selector("input, textarea, select, button");
    let options = selector("option");
    let mut forms = Vec::new();
    for form in html.select(&selector("form")) {
        let attr = |name: &str| form.value().attr(name);
        let Ok(action) = page.join(attr("action").unwrap_or("")) else {
            continue;
        };
        let method = if attr("method").is_some_and(|m| m.eq_ignore_ascii_case("post")) {
            Method::POST
        } else {
            Method::GET
        };
        let multipart =
            attr("enctype").is_some_and(|e| e.eq_ignore_ascii_case("multipart/form-data"));
        let mut defaults: Vec<(String, Value)> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut buttons: Vec<(String, String, String)> = Vec::new();
        // The fields a person types into: where in `defaults`, what they would type, whether empty.
        let mut typed: Vec<(usize, &str, bool)> = Vec::new();
        // Radio groups with their first choice, and the groups and boxes checked as rendered.
        let mut choices: Vec<(String, String)> = Vec::new();
        let mut chosen: Vec<String> = Vec::new();
        let note = |names: &mut Vec<String>, name: &str| {
            if !names.iter().any(|known| known == name) {
                names.push(name.to_owned());
            }
        };
        for control in form.select(&controls) {
            let element = control.value();
            let Some(name) = element.attr("name") else {
                continue;
            };
            if element.attr("disabled").is_some() {
                continue;
            }
            let value = element.attr("value").unwrap_or("");
            let class = element.attr("class").unwrap_or("").to_owned();
            match element.name() {
                "input" => match element
                    .attr("type")
                    .unwrap_or("text")
                    .to_ascii_lowercase()
                    .as_str()
                {
                    "checkbox" | "radio" => {
                        note(&mut names, name);
                        if kind_is_radio(element.attr("type"))
                            && !choices.iter().any(|(n, _)| n == name)
                        {
                            choices.push((
                                name.to_owned(),
                                element.attr("value").unwrap_or("on").to_owned(),
                            ));
                        }
                        if element.attr("checked").is_some() {
                            chosen.push(name.to_owned());
                            let value = element.attr("value").unwrap_or("on");
                            defaults.push((name.to_owned(), text(value)));
                        }
                    }
                    "submit" | "image" => buttons.push((name.to_owned(), value.to_owned(), class)),
                    "button" | "reset" => {}
                    "file" => {
                        note(&mut names, name);
                        defaults.push((
                            name.to_owned(),
                            default_file(element.attr("accept").unwrap_or("")),
                        ));
                    }
                    kind => {
                        note(&mut names, name);
                        if !matches!(kind, "hidden" | "search") {
                            typed.push((defaults.len(), plausible(kind), value.is_empty()));
                        }
                        defaults.push((name.to_owned(), text(value)));
                    }
                },
                "textarea" => {
                    note(&mut names, name);
                    let value: String = control.text().collect();
                    typed.push((defaults.len(), plausible("textarea"), value.is_empty()));
                    defaults.push((name.to_owned(), text(value)));
                }
                "select" => {
                    note(&mut names, name);
                    let all: Vec<ElementRef> = control.select(&options).collect();
                    let selected: Vec<&ElementRef> = all
                        .iter()
                        .filter(|option| option.value().attr("selected").is_some())
                        .collect();
                    let chosen: Vec<&ElementRef> =
                        if selected.is_empty() && element.attr("multiple").is_none() {
                            all.first().into_iter().collect()
                        } else {
                            selected
                        };
                    for option in chosen {
                        let value = option
                            .value()
                            .attr("value")
                            .map(str::to_owned)
                            .unwrap_or_else(|| option.text().collect::<String>().trim().to_owned());
                        defaults.push((name.to_owned(), text(value)));
                    }
                }
                "button"
                    if element
                        .attr("type")
                        .is_none_or(|t| t.eq_ignore_ascii_case("submit")) =>
                {
                    buttons.push((name.to_owned(), value.to_owned(), class));
                }
                _ => {}
            }
        }
        // A form that changes something and shows only empty fields (registration, a new committee,
        // a credential …) is filled in as a person would, so that one hostile field among valid ones
        // gets as far as it can. Forms showing values (editors, the profile) are sent as shown.
        if method == Method::POST && typed.iter().all(|(_, _, empty)| *empty) {
            for (index, value, _) in &typed {
                defaults[*index].1 = text(value);
            }
            for (name, value) in choices {
                if !chosen.contains(&name) {
                    defaults.push((name, text(value)));
                }
            }
        }
        // The button a person would press: the first that is not a secondary one.
        if let Some((name, value, _)) = buttons
            .iter()
            .find(|(_, _, class)| !class.contains("secondary"))
            .or(buttons.first())
        {
            note(&mut names, name);
            defaults.push((name.clone(), text(value)));
        }
        forms.push(RawForm {
            method,
            action,
            multipart,
            defaults,
            names,
        });
    }
    forms
}

fn links_on(html: &Html, page: &url::Url) -> Vec<url::Url> {
    html.select(&selector("a[href]"))
        .filter_map(|link| page.join(link.value().attr("href")?).ok())
        .filter(|url| url.origin() == page.origin() && url.query().is_some_and(|q| !q.is_empty()))
        .collect()
}

fn path_and_query(url: &url::Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// For each role: every GET route with its placeholders filled, the forms and query-string links on
/// the pages, and the pages that the GET forms lead to when sent as rendered (one step further, for
/// forms such as the cart's, which appear once a project is chosen).
async fn derive(world: &World) -> Derived {
    let mut derived = Derived::default();
    for role in ROLES {
        let mut visited = BTreeSet::new();
        let mut queue = Vec::new();
        for entry in world
            .routes
            .iter()
            .filter(|entry| entry.method == Method::GET)
        {
            for url in world.urls(entry.path, &mut derived.unfilled) {
                if visited.insert(url.clone()) {
                    queue.push(Probe::page(role, entry.path, url));
                }
            }
        }
        for step in 0..2 {
            let answers = run(world, &queue, true).await;
            let mut next = Vec::new();
            for (probe, (outcome, body)) in queue.into_iter().zip(answers) {
                if let Some(body) = body {
                    let html = Html::parse_document(&body);
                    let page = url::Url::parse(&world.app.url(&probe.url)).unwrap();
                    for raw in forms_on(&html, &page) {
                        let route = world.route_of(&raw.method, raw.action.path());
                        if step == 0 && raw.method == Method::GET {
                            let url =
                                format!("{}?{}", raw.action.path(), urlencoded(&raw.defaults));
                            if visited.insert(url.clone()) {
                                next.push(Probe::page(role, route.unwrap_or("(no route)"), url));
                            }
                        }
                        derived.forms.push(Form {
                            role,
                            page: probe.url.clone(),
                            method: raw.method,
                            action: path_and_query(&raw.action),
                            route,
                            multipart: raw.multipart,
                            defaults: raw.defaults,
                            names: raw.names,
                        });
                    }
                    for link in links_on(&html, &page) {
                        if let Some(route) = world.route_of(&Method::GET, link.path()) {
                            let query = link
                                .query_pairs()
                                .map(|(name, value)| (name.into_owned(), text(value.as_bytes())))
                                .collect();
                            derived.links.push(Link {
                                role,
                                path: link.path().to_owned(),
                                route,
                                query,
                            });
                        }
                    }
                }
                derived.pages.push((probe, outcome));
            }
            queue = next;
        }
    }
    let mut seen = BTreeSet::new();
    derived.forms.retain(|form| seen.insert(form.key()));
    // A form with the same fields for several roles (the header's search, the profile, the sign-in
    // form of a visitor and of a disabled account …) reads its fields with the same code whoever
    // sends it: its fields are probed as the first role that sees it. Path and body probes still go
    // out as every role, and the authorization table checks who may send what.
    let mut fields = BTreeSet::new();
    derived.forms.retain(|form| {
        let (_, method, route, names, action) = form.key();
        fields.insert((method, route, names, action))
    });
    // Links likewise: the same parameters of the same route once, as the first role that saw them.
    let mut seen = BTreeSet::new();
    derived.links.retain(|link| {
        let mut names: Vec<&str> = link.query.iter().map(|(name, _)| name.as_str()).collect();
        names.sort();
        names.dedup();
        seen.insert((link.route, names.join("&")))
    });
    derived
}

// ----------------------------------------------------------------------------------------------------
// The probes

/// The hostile values of a file field: its name hostile, HTML inside, an empty file, no file.
fn file_values(default: &Value) -> Vec<(String, Option<Value>)> {
    let Value::File {
        content_type,
        bytes,
        ..
    } = default
    else {
        unreachable!("a file field");
    };
    let named = |label: &str, name: &[u8]| {
        (
            format!("file name {label}"),
            Some(Value::File {
                name: name.to_vec(),
                content_type: content_type.clone(),
                bytes: bytes.clone(),
            }),
        )
    };
    let mut values = vec![("absent".to_owned(), None)];
    for hostile in hostile_text() {
        if let (Some(value), true) = (
            &hostile.value,
            matches!(
                hostile.label,
                "NUL" | "control characters" | "invalid UTF-8" | "100 kB" | "markup" | "SQL"
            ),
        ) {
            values.push(named(hostile.label, value));
        }
    }
    values.push(named("path traversal", b"../../../etc/passwd"));
    values.push((
        "HTML content".to_owned(),
        Some(Value::File {
            name: b"probe.pdf".to_vec(),
            content_type: "application/pdf".to_owned(),
            bytes: format!("<html>{MARKUP}</html>").into_bytes(),
        }),
    ));
    values.push((
        "empty file".to_owned(),
        Some(Value::File {
            name: Vec::new(),
            content_type: "application/octet-stream".to_owned(),
            bytes: Vec::new(),
        }),
    ));
    values
}

/// The derived probes: form fields, link parameters, path segments and wrong content types.
fn probes(world: &World, derived: &Derived) -> Vec<Probe> {
    let mut probes = Vec::new();
    for form in &derived.forms {
        for name in &form.names {
            let values: Vec<(String, Option<Value>)> = if form.is_file(name) {
                let default = &form
                    .defaults
                    .iter()
                    .find(|(field, _)| field == name)
                    .unwrap()
                    .1;
                file_values(default)
            } else {
                let values = if form.method == Method::GET {
                    hostile_query()
                } else {
                    hostile_text()
                };
                values
                    .into_iter()
                    .map(|hostile| (hostile.label.to_owned(), hostile.value.map(Value::Text)))
                    .collect()
            };
            let versioned =
                name != "version" && form.defaults.iter().any(|(field, _)| field == "version");
            for (label, replacement) in values {
                let fields = with_field(&form.defaults, name, replacement);
                let mut probe = form.probe(&fields, format!("field `{name}`"), label);
                if versioned {
                    probe.refresh = Some(Box::new(Refresh {
                        page: form.page.clone(),
                        form: form.clone(),
                        fields,
                    }));
                }
                probes.push(probe);
            }
        }
    }
    for link in &derived.links {
        let mut names: Vec<&str> = link.query.iter().map(|(name, _)| name.as_str()).collect();
        names.dedup();
        for name in names {
            for hostile in hostile_query() {
                let query = with_field(&link.query, name, hostile.value.map(Value::Text));
                probes.push(Probe {
                    role: link.role,
                    method: Method::GET,
                    url: format!("{}?{}", link.path, urlencoded(&query)),
                    body: Body::Empty,
                    route: link.route,
                    target: format!("query `{name}`"),
                    value: hostile.label.to_owned(),
                    fresh_session: false,
                    refresh: None,
                });
            }
        }
    }
    for role in ROLES {
        // The administrators' guard answers everyone else before any parameter or body is read (the
        // authorization table checks that answer).
        for entry in world
            .routes
            .iter()
            .filter(|entry| role == Role::Admin || !entry.admin_only)
        {
            let method = Method::from_bytes(entry.method.as_str().as_bytes()).unwrap();
            let form = derived.forms.iter().find(|form| {
                form.role == role && form.method == method && form.route == Some(entry.path)
            });
            let api = entry.path.starts_with("/api/");
            // The body a path probe carries: the page's form as rendered, if there is one.
            let body = match (form, &method) {
                (_, &Method::GET) => Body::Empty,
                (Some(form), _) if form.multipart => {
                    Body::typed(&multipart_type(), multipart(&form.defaults))
                }
                (Some(form), _) => Body::typed(
                    "application/x-www-form-urlencoded",
                    urlencoded(&form.defaults).into_bytes(),
                ),
                (None, _) if api => Body::typed("application/json", b"{}".to_vec()),
                (None, _) => Body::typed("application/x-www-form-urlencoded", Vec::new()),
            };
            let segments: Vec<&str> = entry.path.split('/').collect();
            for (index, segment) in segments.iter().enumerate() {
                if placeholder(segment).is_none() {
                    continue;
                }
                for (label, hostile) in hostile_segments() {
                    probes.push(Probe {
                        role,
                        method: method.clone(),
                        url: world.url_with(entry.path, Some((index, &hostile))),
                        body: body.clone(),
                        route: entry.path,
                        target: format!("path {segment}"),
                        value: label.to_owned(),
                        fresh_session: false,
                        refresh: None,
                    });
                }
            }
            if method != Method::GET {
                let json = form.map_or_else(
                    || serde_json::to_vec(&serde_json::json!({ "probe": MARKUP })).unwrap(),
                    |form| as_json(&form.defaults),
                );
                for (label, content_type, bytes) in wrong_bodies(json) {
                    probes.push(Probe {
                        role,
                        method: method.clone(),
                        url: world.url_with(entry.path, None),
                        body: Body::typed(content_type, bytes),
                        route: entry.path,
                        target: "content type".to_owned(),
                        value: label.to_owned(),
                        fresh_session: false,
                        refresh: None,
                    });
                }
            }
        }
    }
    probes
}

/// The machine interfaces: every query parameter and JSON body field of the OpenAPI document
/// (operations that need a token as every role, the others as a visitor), and the CKAN actions' usual
/// parameters by GET and as a JSON body.
fn api_probes(world: &World, document: &Json) -> (Vec<Probe>, usize) {
    let mut probes = Vec::new();
    let mut parameters = 0;
    for (path, operations) in document["paths"]
        .as_object()
        .expect("the document has paths")
    {
        let Some(route) = world.route_of(&Method::GET, path) else {
            panic!("the OpenAPI document names {path}, which no route answers");
        };
        let url = world.url_with(route, None);
        for (method, operation) in operations.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let roles: Vec<Role> = if operation.get("security").is_some() {
                ROLES.to_vec()
            } else {
                vec![Role::Visitor]
            };
            let query = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|parameter| parameter["in"] == "query")
                .filter_map(|parameter| parameter["name"].as_str());
            for name in query {
                parameters += 1;
                for &role in &roles {
                    for hostile in hostile_query() {
                        let Some(value) = hostile.value else { continue };
                        probes.push(Probe {
                            role,
                            method: method.clone(),
                            url: format!("{url}?{}={}", encode(name.as_bytes()), encode(&value)),
                            body: Body::Empty,
                            route,
                            target: format!("query `{name}`"),
                            value: hostile.label.to_owned(),
                            fresh_session: false,
                            refresh: None,
                        });
                    }
                }
            }
            let Some(schema) = operation.pointer("/requestBody/content/application~1json/schema")
            else {
                continue;
            };
            let schema = match schema["$ref"].as_str() {
                Some(reference) => document
                    .pointer(reference.trim_start_matches('#'))
                    .expect("the reference resolves"),
                None => schema,
            };
            for name in schema["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, _)| name)
            {
                parameters += 1;
                for &role in &roles {
                    for (label, raw) in hostile_json() {
                        let mut body =
                            format!("{{{}: ", serde_json::to_string(name).unwrap()).into_bytes();
                        body.extend_from_slice(&raw);
                        body.push(b'}');
                        probes.push(Probe {
                            role,
                            method: method.clone(),
                            url: url.clone(),
                            body: Body::typed("application/json", body),
                            route,
                            target: format!("JSON `{name}`"),
                            value: label.to_owned(),
                            fresh_session: false,
                            refresh: None,
                        });
                    }
                }
            }
        }
    }
    for (action, names) in CKAN_ACTIONS {
        let url = format!("/api/3/action/{action}");
        let route = "/api/3/action/{action}";
        for name in *names {
            parameters += 1;
            for hostile in hostile_query() {
                let Some(value) = hostile.value else { continue };
                probes.push(Probe {
                    role: Role::Visitor,
                    method: Method::GET,
                    url: format!("{url}?{}={}", encode(name.as_bytes()), encode(&value)),
                    body: Body::Empty,
                    route,
                    target: format!("CKAN {action} `{name}`"),
                    value: hostile.label.to_owned(),
                    fresh_session: false,
                    refresh: None,
                });
            }
            for (label, raw) in hostile_json() {
                let mut body = format!("{{\"{name}\": ").into_bytes();
                body.extend_from_slice(&raw);
                body.push(b'}');
                probes.push(Probe {
                    role: Role::Visitor,
                    method: Method::POST,
                    url: url.clone(),
                    body: Body::typed("application/json", body),
                    route,
                    target: format!("CKAN {action} JSON `{name}`"),
                    value: label.to_owned(),
                    fresh_session: false,
                    refresh: None,
                });
            }
        }
    }
    (probes, parameters)
}

// ----------------------------------------------------------------------------------------------------
// The server's log, to show why a request failed

/// Everything the server logs at warning level and above, with the request's span (and so its id).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// A subscriber writing here.
    fn dispatch(&self) -> tracing::Dispatch {
        use tracing_subscriber::Layer;
        use tracing_subscriber::layer::SubscriberExt;
        let sink = self.0.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
                metadata.is_span() || *metadata.level() <= tracing::Level::WARN
            }));
        tracing::Dispatch::new(tracing_subscriber::registry().with(layer))
    }

    /// A runtime of two workers (the server's and the client's tasks) whose every thread logs here.
    fn runtime(&self) -> tokio::runtime::Runtime {
        let dispatch = self.dispatch();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || {
                // For the thread's whole life.
                std::mem::forget(tracing::dispatcher::set_default(&dispatch));
            })
            .build()
            .unwrap()
    }

    /// The first lines that mention `request_id`.
    fn lines_of(&self, request_id: &str) -> Vec<String> {
        if request_id.is_empty() {
            return Vec::new();
        }
        let log = self.0.lock().unwrap();
        String::from_utf8_lossy(&log)
            .lines()
            .filter(|line| line.contains(request_id))
            .take(3)
            .map(|line| line.chars().take(600).collect())
            .collect()
    }
}

// ----------------------------------------------------------------------------------------------------
// Judging and reporting

/// Why an answer is wrong, if it is.
fn problem(outcome: &Outcome) -> Option<String> {
    match (outcome.status, &outcome.error) {
        (_, Some(error)) => Some(format!("no answer: {error}")),
        (Some(status), None) if status.is_server_error() => {
            Some(format!("status {}", status.as_u16()))
        }
        (Some(StatusCode::REQUEST_TIMEOUT), None) => Some("timed out (408)".to_owned()),
        _ => outcome
            .marker
            .map(|marker| format!("markup unescaped in HTML: {marker}")),
    }
}

fn short(url: &str) -> String {
    if url.len() > 140 {
        let mut end = 120;
        while !url.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &url[..end], url.len())
    } else {
        url.to_owned()
    }
}

/// The CPU time this process has used (user and system), from /proc; 0 where there is none.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&index| fields.get(index)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

#[derive(Default)]
struct Tally {
    requests: usize,
    failures: usize,
}

/// The failures of `results`, one line each (with the server's log lines for a 5xx), and a tally per
/// role.
fn judge<'a>(
    results: impl Iterator<Item = (&'a Probe, &'a Outcome)>,
    logs: &Logs,
    tally: &mut BTreeMap<Role, Tally>,
    classes: &mut BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut failures = Vec::new();
    for (probe, outcome) in results {
        let counts = tally.entry(probe.role).or_default();
        counts.requests += 1;
        let Some(problem) = problem(outcome) else {
            continue;
        };
        counts.failures += 1;
        let kind = problem.split(':').next().unwrap_or(&problem).to_owned();
        classes
            .entry(format!(
                "{} {} {}: {kind}",
                probe.method, probe.route, probe.target
            ))
            .or_default()
            .insert(format!("{} ({:?})", probe.value, probe.role));
        let mut line = format!(
            "{:?} {} {} [{} = {}]: {problem}",
            probe.role,
            probe.method,
            short(&probe.url),
            probe.target,
            probe.value
        );
        if outcome
            .status
            .is_some_and(|status| status.is_server_error())
        {
            for log in logs.lines_of(&outcome.request_id) {
                line.push_str("\n      log: ");
                line.push_str(&log);
            }
        }
        failures.push(line);
    }
    failures
}

// ----------------------------------------------------------------------------------------------------
// The tests

#[test]
fn hostile_values_in_every_field_parameter_and_segment_get_no_5xx_and_no_unescaped_markup() {
    let logs = Logs::default();
    let _capture = tracing::dispatcher::set_default(&logs.dispatch());
    logs.runtime().block_on(probe_everything(&logs));
}

async fn probe_everything(logs: &Logs) {
    let started = Instant::now();
    let world = World::build().await;
    let built = started.elapsed();
    let derived = derive(&world).await;
    let document: Json = world
        .app
        .get("/api/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let (api, api_parameters) = api_probes(&world, &document);
    let mut probes = probes(&world, &derived);
    let derived_count = probes.len();
    probes.extend(api);
    // The session-ending routes go last, each probe with a session of its own.
    let (mut last, first): (Vec<Probe>, Vec<Probe>) = probes
        .into_iter()
        .partition(|probe| SESSION_ENDING.contains(&probe.route));
    for probe in &mut last {
        probe.fresh_session = true;
    }

    let probing = Instant::now();
    let first_outcomes = run(&world, &first, false).await;
    // No probe before these may have signed a role out: that would make every later probe a visitor's.
    let mut lost = Vec::new();
    for role in [Role::Researcher, Role::Reviewer, Role::Admin] {
        let check = Probe::page(role, "/account", "/account".to_owned());
        let (outcome, _) = send(&world, &probe_client(), &check, false).await;
        if outcome.status != Some(StatusCode::OK) {
            lost.push(format!(
                "{role:?} was signed out by an earlier probe (GET /account answered {:?})",
                outcome.status
            ));
        }
    }
    let last_outcomes = run(&world, &last, false).await;
    // Afterwards every page again, with new sessions: stored probe markup must be escaped everywhere.
    let sweep: Vec<Probe> = derived
        .pages
        .iter()
        .map(|(page, _)| Probe {
            target: "page after probing".to_owned(),
            fresh_session: true,
            ..page.clone()
        })
        .collect();
    let sweep_outcomes = run(&world, &sweep, false).await;
    let probing = probing.elapsed();

    let mut tally = BTreeMap::new();
    let mut classes = BTreeMap::new();
    let mut failures = lost;
    let pages = derived
        .pages
        .iter()
        .map(|(probe, outcome)| (probe, outcome));
    failures.extend(judge(pages, logs, &mut tally, &mut classes));
    let sent = first
        .iter()
        .zip(first_outcomes.iter().map(|(outcome, _)| outcome))
        .chain(
            last.iter()
                .zip(last_outcomes.iter().map(|(outcome, _)| outcome)),
        )
        .chain(
            sweep
                .iter()
                .zip(sweep_outcomes.iter().map(|(outcome, _)| outcome)),
        );
    failures.extend(judge(sent, logs, &mut tally, &mut classes));
    let slowest = first
        .iter()
        .zip(first_outcomes.iter().map(|(outcome, _)| outcome))
        .max_by_key(|(_, outcome)| outcome.elapsed)
        .map(|(probe, outcome)| {
            format!(
                "{:.1} s for {} {} [{} = {}]",
                outcome.elapsed.as_secs_f64(),
                probe.method,
                short(&probe.url),
                probe.target,
                probe.value
            )
        })
        .unwrap_or_default();

    let fields: usize = derived.forms.iter().map(|form| form.names.len()).sum();
    let with_parameters = world
        .routes
        .iter()
        .filter(|entry| entry.path.contains('{'))
        .count();
    let mut summary = format!(
        "hostile input: {} routes ({with_parameters} with path parameters); derived {} forms with {fields} \
         fields and {} links with query strings from {} pages; {api_parameters} API parameters; \
         {derived_count} derived probes; setup {:.1} s, probing {:.1} s; slowest: {slowest}\n",
        world.routes.len(),
        derived.forms.len(),
        derived.links.len(),
        derived.pages.len(),
        built.as_secs_f64(),
        probing.as_secs_f64(),
    );
    if !derived.unfilled.is_empty() {
        let _ = writeln!(
            summary,
            "placeholders without a known value (sent as 1): {:?}",
            derived.unfilled
        );
    }
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for probe in first.iter().chain(&last) {
        *kinds
            .entry(probe.target.split(' ').next().unwrap_or(""))
            .or_default() += 1;
    }
    let _ = writeln!(
        summary,
        "probes by kind: {kinds:?}, pages {} and again {} after probing; CPU {:.1} s",
        derived.pages.len(),
        sweep.len(),
        cpu_seconds()
    );
    for (role, counts) in &tally {
        let _ = writeln!(
            summary,
            "  {:<11} {:>6} requests {:>5} failures",
            format!("{role:?}"),
            counts.requests,
            counts.failures
        );
    }
    println!("{summary}");
    // `HOSTILE_LOG=file` writes every request and its answer, one line each, for a closer look.
    if let Ok(path) = std::env::var("HOSTILE_LOG") {
        let mut lines = String::new();
        let all = first
            .iter()
            .zip(first_outcomes.iter().map(|(outcome, _)| outcome))
            .chain(
                last.iter()
                    .zip(last_outcomes.iter().map(|(outcome, _)| outcome)),
            );
        for (probe, outcome) in all {
            let _ = writeln!(
                lines,
                "{:?}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                probe.role,
                probe.method,
                probe.route,
                probe.target,
                probe.value,
                outcome.status.map_or(0, |status| status.as_u16()),
                outcome.elapsed.as_millis(),
                short(&probe.url)
            );
        }
        std::fs::write(path, lines).unwrap();
    }
    let mut report = String::new();
    for (class, values) in &classes {
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let _ = writeln!(report, "  {class} — {}", values.join(", "));
    }
    assert!(
        failures.is_empty(),
        "{summary}\n{} failure classes:\n{report}\n{} failures:\n{}",
        classes.len(),
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn hostile_derivation_finds_the_forms_fields_and_links_of_every_role() {
    let world = World::build().await;
    let derived = derive(&world).await;

    let find = |role: Role, method: Method, route: &str, names: &[&str]| {
        derived.forms.iter().find(|form| {
            form.role == role
                && form.method == method
                && form.route == Some(route)
                && names
                    .iter()
                    .all(|name| form.names.iter().any(|known| known == name))
        })
    };
    let expected: &[(Role, Method, &str, &[&str])] = &[
        (Role::Visitor, Method::GET, "/datasets", &["q"]),
        (
            Role::Visitor,
            Method::POST,
            "/sign-in",
            &["email", "password", "next"],
        ),
        (
            Role::Visitor,
            Method::POST,
            "/register",
            &["name", "email", "institution"],
        ),
        (Role::Visitor, Method::POST, "/forgot-password", &["email"]),
        (
            Role::Researcher,
            Method::POST,
            "/projects",
            &["title", "research_use", "purpose", "security_plan"],
        ),
        (
            Role::Researcher,
            Method::POST,
            "/projects/{id}",
            &["title", "research_use"],
        ),
        (
            Role::Researcher,
            Method::POST,
            "/projects/{id}/irb-letter",
            &["letter"],
        ),
        (
            Role::Researcher,
            Method::POST,
            "/account/credentials",
            &["kind", "issuer", "issued_on", "evidence"],
        ),
        (
            Role::Researcher,
            Method::POST,
            "/account/profile",
            &["name", "institution", "orcid"],
        ),
        (
            Role::Researcher,
            Method::POST,
            "/account/tokens",
            &["name", "scope", "days"],
        ),
        (
            Role::Researcher,
            Method::POST,
            "/account/close",
            &["password", "confirm"],
        ),
        (
            Role::Researcher,
            Method::POST,
            "/cart/submit",
            &["project", "days"],
        ),
        (
            Role::Researcher,
            Method::POST,
            "/requests/{id}/applicant",
            &["version", "action", "message"],
        ),
        (
            Role::Researcher,
            Method::POST,
            "/requests/{id}/attachments",
            &["file"],
        ),
        (
            Role::Researcher,
            Method::POST,
            "/grants/{id}/reaccept",
            &["signature"],
        ),
        (
            Role::Reviewer,
            Method::POST,
            "/requests/{id}/review",
            &["version", "action", "decision", "message"],
        ),
        (Role::Reviewer, Method::GET, "/review", &["state"]),
        (
            Role::Admin,
            Method::POST,
            "/admin/datasets/{slug}",
            &[
                "version",
                "title",
                "description",
                "subject_count",
                "last_updated_upstream",
                "intent",
            ],
        ),
        (
            Role::Admin,
            Method::POST,
            "/admin/datasets",
            &["slug", "title"],
        ),
        (
            Role::Admin,
            Method::POST,
            "/admin/organizations",
            &["slug", "name", "homepage"],
        ),
        (
            Role::Admin,
            Method::POST,
            "/admin/committees/{id}",
            &["name", "description"],
        ),
        (
            Role::Admin,
            Method::POST,
            "/admin/agreements/{id}/versions",
            &["body", "effective_on", "grace_days"],
        ),
        (
            Role::Admin,
            Method::POST,
            "/admin/users/{id}/disable",
            &["reason"],
        ),
        (Role::Admin, Method::POST, "/admin/import", &["file"]),
        (
            Role::Admin,
            Method::GET,
            "/admin/audit",
            &["actor", "action"],
        ),
    ];
    let missing: Vec<String> = expected
        .iter()
        .filter(|(role, method, route, names)| find(*role, method.clone(), route, names).is_none())
        .map(|(role, method, route, names)| format!("{role:?} {method} {route} {names:?}"))
        .collect();
    assert!(missing.is_empty(), "forms not derived: {missing:#?}");

    let editor = find(
        Role::Admin,
        Method::POST,
        "/admin/datasets/{slug}",
        &["title"],
    )
    .unwrap();
    assert!(
        editor.names.len() >= 30,
        "the dataset editor's fields: {:?}",
        editor.names
    );
    assert!(
        editor.defaults.iter().any(
            |(name, value)| name == "intent" && matches!(value, Value::Text(v) if v == b"save")
        ),
        "the editor is sent with Save, not Preview"
    );
    let credentials = find(
        Role::Researcher,
        Method::POST,
        "/account/credentials",
        &["evidence"],
    )
    .unwrap();
    assert!(credentials.multipart && credentials.is_file("evidence"));
    let cart = find(Role::Researcher, Method::POST, "/cart/submit", &["project"]).unwrap();
    assert!(
        cart.names.iter().any(|name| name.starts_with("sign_")),
        "the cart's signature fields: {:?}",
        cart.names
    );
    assert!(
        derived
            .links
            .iter()
            .any(|link| link.role == Role::Visitor && link.route == "/datasets"),
        "the search page's facet links"
    );
    assert!(
        derived
            .links
            .iter()
            .any(|link| link.route == "/duas/{slug}/diff"),
        "the agreement's diff link"
    );

    for role in ROLES {
        let pages = derived
            .pages
            .iter()
            .filter(|(page, _)| page.role == role)
            .count();
        let gets = world
            .routes
            .iter()
            .filter(|entry| entry.method == Method::GET)
            .count();
        assert!(
            pages >= gets,
            "{role:?} requested {pages} pages of {gets} GET routes"
        );
    }
    let fields: usize = derived.forms.iter().map(|form| form.names.len()).sum();
    assert!(derived.forms.len() >= 45, "{} forms", derived.forms.len());
    assert!(fields >= 200, "{fields} fields");
    assert!(
        derived.forms.iter().all(|form| form.route.is_some()),
        "forms sent where no route answers: {:?}",
        derived
            .forms
            .iter()
            .filter(|form| form.route.is_none())
            .map(|form| (&form.page, &form.action))
            .collect::<Vec<_>>()
    );
    let probes = probes(&world, &derived);
    assert!(probes.len() > 3_000, "{} probes", probes.len());
}

#[tokio::test]
async fn a_request_the_extractors_refuse_is_answered_in_the_interfaces_own_form() {
    let app = TestApp::spawn().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;
    let researcher = app.signed_in("rhea@example.org").await;

    // A JSON body to a form: the error page, not axum's plain text.
    let page = researcher
        .post(app.url("/account/profile"))
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"name": "Rhea"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        Page::new(&page.text().await.unwrap())
            .text("main")
            .contains("Content-Type")
    );

    // A query the API's extractor cannot read (a parameter twice): the API's JSON error.
    let token = new_token(&app, &researcher, "script", "read").await;
    let api = app
        .client
        .get(app.url("/api/v1/entitlements?dataset=a&dataset=b"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::BAD_REQUEST);
    assert_eq!(api.headers()["content-type"], "application/json");
    let body: Json = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("dataset")
    );
}

#[tokio::test]
async fn text_fields_of_an_upload_form_are_checked_at_the_edge_and_its_files_are_not() {
    let app = TestApp::spawn().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;
    let researcher = app.signed_in("rhea@example.org").await;
    let mut binary = b"%PDF-1.4\n".to_vec();
    binary.extend([0, 0x1b, 0xff, 0xfe]);
    let evidence = Value::File {
        name: b"cert.pdf".to_vec(),
        content_type: "application/pdf".to_owned(),
        bytes: binary,
    };

    for (kind, why) in [
        (b"Physio\0Net".to_vec(), "control character"),
        (b"Physio\xffNet".to_vec(), "UTF-8"),
    ] {
        let refused = post_parts(
            &app,
            &researcher,
            "/account/credentials",
            &[("kind", Value::Text(kind)), ("evidence", evidence.clone())],
        )
        .await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let text = Page::new(&refused.text().await.unwrap()).text("main");
        assert!(text.contains("“kind”") && text.contains(why), "{text}");
    }
    let stored: i64 = sqlx::query_scalar("select count(*) from credentials")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing was stored");

    // A file's bytes are its own: NUL and all.
    let accepted = post_parts(
        &app,
        &researcher,
        "/account/credentials",
        &[
            ("kind", text("PhysioNet credentialed user")),
            ("notes", text("two\nlines\tand a tab")),
            ("evidence", evidence),
        ],
    )
    .await;
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
}
