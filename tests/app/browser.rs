//! Journeys in real headless Chromium (Playwright with Debian's chromium) and axe-core accessibility
//! checks of every page type: `tests/browser/journeys.mjs`, run against this suite's server. The script
//! asks on its standard output and this test answers on its standard input: for a mailed link
//! (`MAIL_LINK_REQUEST`, answered with the link read from the SMTP server) and for the pages to check
//! (`PAGES_REQUEST`, answered with one JSON line: every page route of the route table with a URL that
//! opens it, after adding a project, a request, a grant and a notification to open).
//! `tests/browser/sign_in.mjs` signs in through a real OpenID Connect provider and with a second
//! factor.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{PASSWORD, Template, TestApp};

#[tokio::test]
async fn journeys_in_a_real_browser_pass_with_no_accessibility_violations() {
    // The search analytics journey reads searches of the earlier journeys, written meanwhile.
    let app = TestApp::with_mail_from(Template::Catalog, |config| {
        config.search_log_flush = std::time::Duration::from_secs(1);
    })
    .await;
    assert!(
        radportal::access::example::seed_if_empty(&app.db)
            .await
            .unwrap()
    );
    app.add_admin("ada@example.org").await;
    let root = env!("CARGO_MANIFEST_DIR");

    let mut node = tokio::process::Command::new("node")
        .arg(format!("{root}/tests/browser/journeys.mjs"))
        .current_dir(format!("{root}/tests/browser"))
        .env("BASE_URL", &app.address)
        .env("ADMIN_EMAIL", "ada@example.org")
        .env("ADMIN_PASSWORD", PASSWORD)
        .env(
            "EXAMPLE_PASSWORD",
            radportal::access::example::EXAMPLE_PASSWORD,
        )
        .env("ARTIFACTS", format!("{root}/target/browser-artifacts"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (scripts/test installs the browser test packages and chromium)");
    let mut stdin = node.stdin.take().unwrap();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut output = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(email) = line.strip_prefix("MAIL_LINK_REQUEST ") {
            let message = app.mail_to(email.trim(), "Confirm your e-mail").await;
            let link = message.link("/verify-email");
            stdin
                .write_all(format!("{link}\n").as_bytes())
                .await
                .unwrap();
            stdin.flush().await.unwrap();
            continue;
        }
        if line == "PAGES_REQUEST" {
            let pages = serde_json::to_string(&pages_to_check(&app).await).unwrap();
            stdin
                .write_all(format!("{pages}\n").as_bytes())
                .await
                .unwrap();
            stdin.flush().await.unwrap();
            continue;
        }
        println!("{line}");
        output.push_str(&line);
        output.push('\n');
    }
    drop(stdin);
    let status = node.wait().await.unwrap();
    assert!(status.success(), "{output}");
    assert!(output.contains("axe violations per page type"), "{output}");
    assert!(output.contains("page types checked:"), "{output}");
}

/// What a route's placeholders are filled with, so that every page of the route table can be opened.
struct Samples {
    datasets: Vec<String>,
    organization: String,
    project: i64,
    request: i64,
    attachment: i64,
    credential: i64,
    notification: i64,
    researcher: i64,
    committee: i64,
    agreement: i64,
}

/// Things of the example researcher's for the pages to show: a project, a request to the thoracic
/// committee (which the example reviewer sits on) with an attachment, a grant, a credential with
/// evidence, an unread notification and a dataset in the cart.
async fn samples(app: &TestApp) -> Samples {
    let (researcher, committee, agreement): (i64, i64, i64) = sqlx::query_as(
        "select u.id, d.id, a.id from users u, dacs d, duas a
         where u.email = 'researcher@example.org' and d.slug = 'thoracic-imaging-dac'
           and a.slug = 'institutional-imaging-dua'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let (project, request, attachment): (i64, i64, i64) = sqlx::query_as(
        "with p as (insert into projects (owner_id, title, research_use, purpose, irb_number)
                    values ($1, 'Nodule growth on screening CT',
                            'We measure how lung nodules grow between screening rounds.', 'HMB', 'IRB-2026-12')
                    returning id),
              r as (insert into access_requests (project_id, applicant_id, dac_id, state, requested_days, submitted_at)
                    select p.id, $1, $2, 'submitted', 365, now() from p returning id),
              rd as (insert into request_datasets (request_id, dataset_id, dua_version_id, accepted_name, dua_hash, grant_days)
                     select r.id, d.id, v.id, 'Riley Researcher', v.content_hash, 365
                     from r, datasets d, dua_versions v
                     where d.slug = 'example-chest-ct-research-extract' and v.dua_id = $3
                     returning request_id),
              a as (insert into attachments (request_id, uploaded_by, purpose, file_name, content_type, bytes)
                    select r.id, $1, 'supporting', 'irb-letter.pdf', 'application/pdf', '%PDF-1.4 sample'::bytea
                    from r returning id)
         select p.id, r.id, a.id from p, r, a",
    )
    .bind(researcher)
    .bind(committee)
    .bind(agreement)
    .fetch_one(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "insert into grants (user_id, dataset_id, request_id, dua_version_id, expires_at)
         select $1, d.id, $2, v.id, now() + interval '300 days'
         from datasets d, dua_versions v where d.slug = 'example-chest-ct-research-extract' and v.dua_id = $3",
    )
    .bind(researcher)
    .bind(request)
    .bind(agreement)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "insert into cart_items (user_id, dataset_id)
         select $1, id from datasets where slug = 'example-brain-mri-registry'",
    )
    .bind(researcher)
    .execute(&app.db)
    .await
    .unwrap();
    let credential: i64 = sqlx::query_scalar(
        "insert into credentials (user_id, kind, issuer, evidence_name, evidence_type, evidence)
         values ($1, 'PhysioNet credentialed user', 'PhysioNet', 'certificate.pdf', 'application/pdf',
                 '%PDF-1.4 sample'::bytea)
         returning id",
    )
    .bind(researcher)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let notification: i64 = sqlx::query_scalar(
        "insert into notifications (user_id, text, link) values ($1, $2, $3) returning id",
    )
    .bind(researcher)
    .bind(format!("Request #{request} was submitted."))
    .bind(format!("/requests/{request}"))
    .fetch_one(&app.db)
    .await
    .unwrap();
    // The controlled example, the record with the most sources and the one with the longest address:
    // the dataset pages most likely to be long or wide.
    let datasets: Vec<String> = sqlx::query_scalar(
        "(select slug from datasets where slug = 'example-chest-ct-research-extract')
         union all
         (select slug from datasets order by cardinality(sources) desc, slug limit 1)
         union all
         (select slug from datasets order by length(coalesce(landing_url, '')) desc, slug limit 1)",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let organization: String = sqlx::query_scalar(
        "select o.slug from organizations o join datasets d on d.organization_id = o.id
         group by o.slug order by count(*) desc, o.slug limit 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    Samples {
        datasets,
        organization,
        project,
        request,
        attachment,
        credential,
        notification,
        researcher,
        committee,
        agreement,
    }
}

/// Whether a GET route answers people with a page (not data for machines, files or probes).
fn is_page(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or("");
    !(path.starts_with("/api/")
        || path == "/api/v1"
        || path.starts_with("/static/")
        || matches!(path, "/healthz" | "/readyz" | "/metrics")
        || last.contains('.'))
}

/// Every page route of the route table with the URLs that open it. A new page route is checked
/// without anyone listing it here; one whose placeholders have no sample fails the test.
async fn pages_to_check(app: &TestApp) -> Vec<serde_json::Value> {
    let s = samples(app).await;
    let mut pages = Vec::new();
    for entry in radportal::routes().table() {
        if entry.method != reqwest::Method::GET || !is_page(entry.path) {
            continue;
        }
        let path = entry.path;
        let urls: Vec<String> = match path {
            "/datasets/{slug}" => s
                .datasets
                .iter()
                .map(|slug| format!("/datasets/{slug}"))
                .collect(),
            "/datasets" => vec!["/datasets?q=lung+CT".to_owned()],
            "/verify-email" | "/reset-password" => vec![format!("{path}?token=not-a-token")],
            "/duas/{slug}/diff" => {
                vec!["/duas/institutional-imaging-dua/diff?from=1&to=1".to_owned()]
            }
            _ => {
                let id = if path.starts_with("/projects/") {
                    s.project
                } else if path.starts_with("/requests/") {
                    s.request
                } else if path.starts_with("/attachments/") {
                    s.attachment
                } else if path.starts_with("/credentials/") {
                    s.credential
                } else if path.starts_with("/notifications/") {
                    s.notification
                } else if path.starts_with("/admin/users/") {
                    s.researcher
                } else if path.starts_with("/admin/committees/") {
                    s.committee
                } else if path.starts_with("/admin/agreements/") {
                    s.agreement
                } else {
                    0
                };
                let slug = if path.starts_with("/organizations/")
                    || path.starts_with("/admin/organizations/")
                {
                    s.organization.clone()
                } else if path.starts_with("/duas/") {
                    "institutional-imaging-dua".to_owned()
                } else {
                    s.datasets[1].clone()
                };
                // This server has no institution to sign in through: that page answers not found.
                let url = path
                    .replace("{id}", &id.to_string())
                    .replace("{slug}", &slug)
                    .replace("{provider}", "uni");
                assert!(
                    !url.contains('{') && (id != 0 || !path.contains("{id}")),
                    "no sample for the placeholders of {path}: add one to pages_to_check"
                );
                vec![url]
            }
        };
        for url in urls {
            pages.push(serde_json::json!({ "route": path, "url": url }));
        }
    }
    pages
}

#[tokio::test]
async fn signing_in_through_an_institution_and_with_a_second_factor_in_a_real_browser() {
    let (listener, address) = TestApp::reserve().await;
    let accounts = serde_json::json!({"rosa": {
        "email": "rosa@uni.example", "email_verified": true, "name": "Rosa Radiologist",
        "organization": "University Hospital, Radiology",
    }});
    let provider = crate::oidc::RealProvider::start(&address, accounts).await;
    let issuer = provider.issuer.clone();
    let app = TestApp::spawn_listening(listener, move |config| {
        config.oidc_providers = vec![crate::oidc::provider("uni", "University Hospital", &issuer)];
        config.secret_key = Some(crate::helpers::secret_key());
    })
    .await;
    app.add_user("tess@example.org", "Tess Totp").await;
    let root = env!("CARGO_MANIFEST_DIR");
    let output = tokio::process::Command::new("node")
        .arg(format!("{root}/tests/browser/sign_in.mjs"))
        .current_dir(format!("{root}/tests/browser"))
        .env("BASE_URL", &app.address)
        .env("PROVIDER_LOGIN", "rosa")
        .env("EMAIL", "tess@example.org")
        .env("PASSWORD", PASSWORD)
        .env("ARTIFACTS", format!("{root}/target/browser-artifacts"))
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs (scripts/test installs the browser test packages and chromium)");
    let printed = String::from_utf8_lossy(&output.stdout);
    println!("{printed}");
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains("axe violations per page type"),
        "{printed}"
    );
}
