//! Requesting access to controlled datasets, end to end over HTTP: projects, the cart and its checks,
//! DUA acceptance, committee review, decisions, grants, notifications by real e-mail, the event chain.

use radportal::access::example::{EXAMPLE_PASSWORD, seed_if_empty};
use reqwest::{Client, StatusCode};

use crate::api::{assert_matches_schema, reference};
use crate::helpers::{Page, TestApp, snapshot};

/// A personal read-only token of the signed-in `client`.
pub(crate) async fn create_token(app: &TestApp, client: &Client) -> String {
    let response = post(
        app,
        client,
        "/account/tokens",
        &[("name", "script"), ("scope", "read"), ("days", "7")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    Page::new(&response.text().await.unwrap()).text("#new-token")
}

pub(crate) const CHEST: &str = "example-chest-ct-research-extract";
pub(crate) const BRAIN: &str = "example-brain-mri-registry";
pub(crate) const RESEARCHER: &str = "researcher@example.org";
pub(crate) const REVIEWER: &str = "reviewer@example.org";
pub(crate) const REVIEWER2: &str = "reviewer2@example.org";

pub(crate) async fn example_app() -> TestApp {
    let app = TestApp::with_mail().await;
    assert!(
        seed_if_empty(&app.db).await.unwrap(),
        "example data is created"
    );
    assert!(!seed_if_empty(&app.db).await.unwrap(), "and only once");
    app
}

pub(crate) async fn sign_in(app: &TestApp, email: &str) -> Client {
    app.signed_in_with(email, EXAMPLE_PASSWORD).await
}

pub(crate) async fn page(app: &TestApp, client: &Client, path: &str) -> Page {
    let response = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    Page::new(&response.text().await.unwrap())
}

pub(crate) async fn post(
    app: &TestApp,
    client: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client.post(app.url(path)).form(form).send().await.unwrap()
}

/// Creates a project and returns its id.
pub(crate) async fn create_project(app: &TestApp, client: &Client, extra: &[(&str, &str)]) -> i64 {
    let mut form = vec![
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
    for (key, value) in extra {
        form.retain(|(k, _)| k != key);
        form.push((key, value));
    }
    let response = post(app, client, "/projects", &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    response.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/projects/")
        .parse()
        .unwrap()
}

pub(crate) async fn add_to_cart(app: &TestApp, client: &Client, slug: &str) {
    let response = post(app, client, "/cart", &[("dataset", slug)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/cart");
}

pub(crate) async fn dataset_id(app: &TestApp, slug: &str) -> String {
    let id: i64 = sqlx::query_scalar("select id from datasets where slug = $1")
        .bind(slug)
        .fetch_one(&app.db)
        .await
        .unwrap();
    id.to_string()
}

/// Submits the cart with correct signatures; returns the new request ids.
pub(crate) async fn submit(
    app: &TestApp,
    client: &Client,
    project: i64,
    slugs: &[&str],
) -> Vec<i64> {
    let project = project.to_string();
    let mut form = vec![
        ("project".to_owned(), project),
        ("days".to_owned(), "180".to_owned()),
        ("acknowledge".to_owned(), "on".to_owned()),
    ];
    for slug in slugs {
        form.push((
            format!("sign_{}", dataset_id(app, slug).await),
            "Riley Researcher".to_owned(),
        ));
    }
    let response = client
        .post(app.url("/cart/submit"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{}",
        response.text().await.unwrap()
    );
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    location
        .trim_start_matches("/requests?submitted=")
        .split(',')
        .map(|id| id.parse().unwrap())
        .collect()
}

pub(crate) async fn version(app: &TestApp, request: i64) -> String {
    let version: i32 = sqlx::query_scalar("select version from access_requests where id = $1")
        .bind(request)
        .fetch_one(&app.db)
        .await
        .unwrap();
    version.to_string()
}

pub(crate) async fn review(
    app: &TestApp,
    client: &Client,
    request: i64,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let version = version(app, request).await;
    let mut form = form.to_vec();
    form.push(("version", &version));
    post(app, client, &format!("/requests/{request}/review"), &form).await
}

pub(crate) async fn state_of(app: &TestApp, request: i64) -> String {
    sqlx::query_scalar("select state::text from access_requests where id = $1")
        .bind(request)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_request_spanning_two_committees_is_reviewed_changed_approved_and_revoked() {
    let app = example_app().await;
    let researcher = sign_in(&app, RESEARCHER).await;
    let project = create_project(&app, &researcher, &[]).await;
    add_to_cart(&app, &researcher, CHEST).await;
    add_to_cart(&app, &researcher, BRAIN).await;

    // The check: both fit (HMB), with the chest dataset's publication obligation to acknowledge.
    let cart = page(
        &app,
        &researcher,
        &format!("/cart?project={project}&days=180"),
    )
    .await;
    assert!(cart.text("#split-note").contains("2 committees"));
    assert_eq!(
        cart.text(&format!("#check-{CHEST} .verdict")),
        "fits with obligations"
    );
    assert!(
        cart.text(&format!("#check-{CHEST} .obligations"))
            .contains("Publish the results (PUB)")
    );
    assert_eq!(cart.text(&format!("#check-{BRAIN} .verdict")), "fits");

    let requests = submit(&app, &researcher, project, &[CHEST, BRAIN]).await;
    assert_eq!(requests.len(), 2, "one request per committee");
    let chest: i64 = sqlx::query_scalar(
        "select request_id from request_datasets rd join datasets d on d.id = rd.dataset_id where d.slug = $1",
    )
    .bind(CHEST)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(requests.contains(&chest));
    assert!(
        page(&app, &researcher, "/cart")
            .await
            .text("#empty-cart")
            .contains("empty")
    );

    // The committees hear of it by e-mail; the reviewer on both gets two, the other one.
    assert_eq!(app.mails_to(REVIEWER, "New access request").await.len(), 2);
    let asked = app.mail_to(REVIEWER2, "New access request").await;
    snapshot::assert_mail!("new_request_mail", asked);
    let reviewer = sign_in(&app, REVIEWER).await;
    let queue = page(&app, &reviewer, "/review").await;
    assert_eq!(queue.texts("#queue-table tbody tr").len(), 2);
    assert!(queue.text("#queue-counts").contains("Submitted 2"));

    // The reviewer sees the accepted agreement version with its fingerprint and the signature.
    let request_page = page(&app, &reviewer, &format!("/requests/{chest}")).await;
    assert!(
        request_page
            .text(&format!("#dataset-{CHEST}"))
            .contains("version 1 by typing “Riley Researcher”")
    );
    let hash: Vec<u8> = sqlx::query_scalar("select content_hash from dua_versions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        request_page
            .text(&format!("#dataset-{CHEST}"))
            .contains(&hex::encode(hash))
    );

    // An internal note is for the committee only.
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
    assert_eq!(
        state_of(&app, chest).await,
        "in_review",
        "the first reviewer action takes it into review"
    );
    assert!(
        page(&app, &reviewer, &format!("/requests/{chest}"))
            .await
            .text("#timeline")
            .contains("Check the IRB letter.")
    );
    assert!(
        !page(&app, &researcher, &format!("/requests/{chest}"))
            .await
            .text("#timeline")
            .contains("Check the IRB letter.")
    );

    // Changes requested: the applicant is told by mail, resubmits, and it goes back to the committee.
    let changes = review(
        &app,
        &reviewer,
        chest,
        &[
            ("action", "changes"),
            ("message", "Please upload the IRB approval letter."),
        ],
    )
    .await;
    assert_eq!(changes.status(), StatusCode::SEE_OTHER);
    assert_eq!(state_of(&app, chest).await, "changes_requested");
    let told = app.mail_to(RESEARCHER, "Changes requested").await;
    assert!(told.body.contains("Please upload the IRB approval letter."));
    snapshot::assert_mail!("changes_requested_mail", told);
    let version = version(&app, chest).await;
    let resubmitted = post(
        &app,
        &researcher,
        &format!("/requests/{chest}/applicant"),
        &[
            ("action", "resubmit"),
            ("message", "Letter uploaded."),
            ("version", &version),
        ],
    )
    .await;
    assert_eq!(resubmitted.status(), StatusCode::SEE_OTHER);
    assert_eq!(state_of(&app, chest).await, "submitted");
    let back = app.mail_to(REVIEWER, "resubmitted").await;
    snapshot::assert_mail!("resubmitted_mail", back);

    // Approved for 90 days: a grant, a mail, and "My access" with the access instructions.
    let chest_id = dataset_id(&app, CHEST).await;
    let days_field = format!("days_{chest_id}");
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
    assert_eq!(state_of(&app, chest).await, "approved");
    let approval = app.mail_to(RESEARCHER, "approved").await;
    snapshot::assert_mail!("approved_mail", approval);
    let access = page(&app, &researcher, "/access").await;
    assert_eq!(access.text(".grant-status"), "Active");
    assert!(
        access
            .text(".access-instructions")
            .contains("research PACS")
    );
    let days: f64 = sqlx::query_scalar(
        "select (extract(epoch from expires_at - starts_at) / 86400)::float8 from grants",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!((days - 90.0).abs() < 0.01, "{days}");
    let timeline = page(&app, &researcher, &format!("/requests/{chest}"))
        .await
        .text("#timeline");
    for step in [
        "Draft → Submitted",
        "Submitted → In review",
        "In review → Changes requested",
        "Changes requested → Submitted",
        "In review → Approved",
        "Access granted",
    ] {
        assert!(timeline.contains(step), "{step} in {timeline}");
    }
    // The header counts unread notifications.
    assert!(
        page(&app, &researcher, "/requests")
            .await
            .text("#unread-count")
            .parse::<i64>()
            .unwrap()
            >= 2
    );

    // A committee member revokes with a reason; the holder sees it and is told.
    let grant: i64 = sqlx::query_scalar("select id from grants")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let revoked = post(
        &app,
        &reviewer,
        &format!("/grants/{grant}/revoke"),
        &[("reason", "Project ended early.")],
    )
    .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        page(&app, &researcher, "/access")
            .await
            .text(".grant-status"),
        "Revoked"
    );
    let revocation = app.mail_to(RESEARCHER, "revoked").await;
    snapshot::assert_mail!("revoked_mail", revocation);
    let again = post(
        &app,
        &reviewer,
        &format!("/grants/{grant}/revoke"),
        &[("reason", "twice")],
    )
    .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    // Every step is in the hash chain, and the chain is intact.
    let verification = radportal::access::events::verify(&app.db).await.unwrap();
    assert!(verification.is_intact(), "{:?}", verification.problems);
    assert!(verification.checked >= 10);
}

#[tokio::test]
async fn the_check_explains_what_does_not_fit_and_nothing_is_submitted() {
    let app = example_app().await;
    let researcher = sign_in(&app, RESEARCHER).await;
    let commercial = create_project(&app, &researcher, &[("commercial", "on")]).await;
    add_to_cart(&app, &researcher, CHEST).await;
    let chest_id = dataset_id(&app, CHEST).await;
    let sign = format!("sign_{chest_id}");

    let cart = page(&app, &researcher, &format!("/cart?project={commercial}")).await;
    assert_eq!(
        cart.text(&format!("#check-{CHEST} .verdict")),
        "does not fit"
    );
    assert!(
        cart.text(&format!("#check-{CHEST} .problems"))
            .contains("Commercial use is not allowed (NCU)")
    );

    let chosen = commercial.to_string();
    let refused = post(
        &app,
        &researcher,
        "/cart/submit",
        &[
            ("project", &chosen),
            ("days", "180"),
            (sign.as_str(), "Someone Else"),
        ],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let errors = Page::new(&refused.text().await.unwrap()).text("#cart-errors");
    assert!(errors.contains("do not fit the project"), "{errors}");
    assert!(
        errors.contains("type your full name exactly as in your profile (Riley Researcher)"),
        "{errors}"
    );
    assert!(
        errors.contains("Confirm that you will meet the conditions"),
        "{errors}"
    );
    let requests: i64 = sqlx::query_scalar("select count(*) from access_requests")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(requests, 0);

    // An IRB-coded dataset needs an approval covering the whole period.
    let short = create_project(&app, &researcher, &[("irb_expires_on", "2026-12-31")]).await;
    post(&app, &researcher, "/cart/remove", &[("dataset", CHEST)]).await;
    add_to_cart(&app, &researcher, BRAIN).await;
    let cart = page(
        &app,
        &researcher,
        &format!("/cart?project={short}&days=365"),
    )
    .await;
    assert!(
        cart.text(&format!("#check-{BRAIN} .problems"))
            .contains("expires on 2026-12-31")
    );

    // An open request for the same dataset blocks a second one.
    let fine = create_project(&app, &researcher, &[]).await;
    submit(&app, &researcher, fine, &[BRAIN]).await;
    add_to_cart(&app, &researcher, BRAIN).await;
    let cart = page(&app, &researcher, &format!("/cart?project={fine}")).await;
    assert!(
        cart.text(&format!("#check-{BRAIN} .problems"))
            .contains("already have an open request")
    );
}

#[tokio::test]
async fn concurrent_decisions_one_wins_and_the_others_are_told_who_decided() {
    let app = example_app().await;
    let researcher = sign_in(&app, RESEARCHER).await;
    let project = create_project(&app, &researcher, &[]).await;
    add_to_cart(&app, &researcher, CHEST).await;
    let request = submit(&app, &researcher, project, &[CHEST]).await[0];
    let dac: i64 = sqlx::query_scalar("select id from dacs where slug = 'thoracic-imaging-dac'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let mut reviewers = vec![sign_in(&app, REVIEWER).await];
    for n in 0..5 {
        let email = format!("member{n}@example.org");
        let id = app.add_user(&email, &format!("Member {n}")).await;
        sqlx::query("insert into dac_members (dac_id, user_id) values ($1, $2)")
            .bind(dac)
            .bind(id)
            .execute(&app.db)
            .await
            .unwrap();
        reviewers.push(app.signed_in(&email).await);
    }
    let version = version(&app, request).await;

    let attempts = reviewers.iter().enumerate().map(|(n, client)| {
        let url = app.url(&format!("/requests/{request}/review"));
        let decision = if n % 2 == 0 { "approve" } else { "reject" };
        let version = version.clone();
        async move {
            let response = client
                .post(url)
                .form(&[
                    ("action", "decide"),
                    ("decision", decision),
                    ("message", "Decided in parallel."),
                    ("version", version.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (response.status(), response.text().await.unwrap())
        }
    });
    let results = futures_util::future::join_all(attempts).await;

    let winners = results
        .iter()
        .filter(|(status, _)| *status == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(winners, 1, "{results:?}");
    let decided: (String, String) = sqlx::query_as(
        "select r.state::text, u.name from access_requests r join users u on u.id = r.decided_by where r.id = $1",
    )
    .bind(request)
    .fetch_one(&app.db)
    .await
    .unwrap();
    for (status, body) in results
        .iter()
        .filter(|(status, _)| *status != StatusCode::SEE_OTHER)
    {
        assert_eq!(*status, StatusCode::CONFLICT);
        let message = Page::new(body).text("main");
        assert!(
            message.contains(&format!("{} already {}", decided.1, decided.0)),
            "{message}"
        );
    }
    let grants: i64 = sqlx::query_scalar("select count(*) from grants")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(grants, i64::from(decided.0 == "approved"));
    let transitions: i64 = sqlx::query_scalar("select count(*) from events where kind = 'request.transition' and body->>'to' in ('approved', 'rejected')")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(transitions, 1);
}

#[tokio::test]
async fn a_committee_member_on_the_team_cannot_revoke_the_teams_access() {
    let app = example_app().await;
    let researcher = sign_in(&app, RESEARCHER).await;
    // Rowan reviews for both committees and is on the project's team; Casey approves.
    let project = create_project(&app, &researcher, &[("members", REVIEWER)]).await;
    add_to_cart(&app, &researcher, BRAIN).await;
    let request = submit(&app, &researcher, project, &[BRAIN]).await[0];
    let casey = sign_in(&app, REVIEWER2).await;
    let approved = review(
        &app,
        &casey,
        request,
        &[
            ("action", "decide"),
            ("decision", "approve"),
            ("message", "Fits the registry's terms."),
            ("grant_days", "180"),
        ],
    )
    .await;
    assert_eq!(approved.status(), StatusCode::SEE_OTHER);
    let grant: i64 = sqlx::query_scalar("select id from grants")
        .fetch_one(&app.db)
        .await
        .unwrap();

    let rowan = sign_in(&app, REVIEWER).await;
    let refused = post(
        &app,
        &rowan,
        &format!("/grants/{grant}/revoke"),
        &[("reason", "Revoking my own team's access.")],
    )
    .await;

    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        Page::new(&refused.text().await.unwrap())
            .text("main")
            .contains("conflict of interest")
    );
    let revoked: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select revoked_at from grants where id = $1")
            .bind(grant)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(revoked.is_none(), "the grant stands");
}

#[tokio::test]
async fn a_reviewer_on_the_team_cannot_act_and_outsiders_cannot_see() {
    let app = example_app().await;
    let researcher = sign_in(&app, RESEARCHER).await;
    // The reviewer is on the project's team.
    let project = create_project(&app, &researcher, &[("members", REVIEWER)]).await;
    add_to_cart(&app, &researcher, CHEST).await;
    let request = submit(&app, &researcher, project, &[CHEST]).await[0];

    let reviewer = sign_in(&app, REVIEWER).await;
    let seen = page(&app, &reviewer, &format!("/requests/{request}")).await;
    assert!(
        seen.text("#conflict-note").contains("conflict")
            || seen.text("#conflict-note").contains("cannot act")
    );
    assert!(seen.texts("#decide-form").is_empty(), "no review form");
    let refused = review(
        &app,
        &reviewer,
        request,
        &[
            ("action", "decide"),
            ("decision", "approve"),
            ("message", "Looks fine."),
        ],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        Page::new(&refused.text().await.unwrap())
            .text("main")
            .contains("conflict of interest")
    );
    assert_eq!(state_of(&app, request).await, "submitted");

    // A reviewer of another committee, and another researcher, are told it does not exist.
    let other_committee = sign_in(&app, REVIEWER2).await;
    assert_eq!(
        other_committee
            .get(app.url(&format!("/requests/{request}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    app.add_user("nosy@example.org", "Nosy Parker").await;
    let nosy = app.signed_in("nosy@example.org").await;
    assert_eq!(
        nosy.get(app.url(&format!("/requests/{request}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let comment = review(
        &app,
        &nosy,
        request,
        &[("action", "comment"), ("message", "hi")],
    )
    .await;
    assert_eq!(comment.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_voting_committee_approves_after_enough_votes_and_rejects_on_one() {
    let app = example_app().await;
    sqlx::query("update dacs set policy = 'votes', required_votes = 2 where slug = 'neuro-breast-imaging-dac'")
        .execute(&app.db)
        .await
        .unwrap();
    let researcher = sign_in(&app, RESEARCHER).await;
    let project = create_project(&app, &researcher, &[]).await;
    add_to_cart(&app, &researcher, BRAIN).await;
    let request = submit(&app, &researcher, project, &[BRAIN]).await[0];
    let (first, second) = (
        sign_in(&app, REVIEWER).await,
        sign_in(&app, REVIEWER2).await,
    );

    let decide = review(
        &app,
        &first,
        request,
        &[
            ("action", "decide"),
            ("decision", "approve"),
            ("message", "ok"),
        ],
    )
    .await;
    assert_eq!(
        decide.status(),
        StatusCode::CONFLICT,
        "a voting committee does not decide alone"
    );
    let vote = review(
        &app,
        &first,
        request,
        &[
            ("action", "vote"),
            ("decision", "approve"),
            ("message", "Sound plan."),
        ],
    )
    .await;
    assert_eq!(vote.status(), StatusCode::SEE_OTHER);
    assert_eq!(state_of(&app, request).await, "in_review");
    let twice = review(
        &app,
        &first,
        request,
        &[
            ("action", "vote"),
            ("decision", "approve"),
            ("message", "Again."),
        ],
    )
    .await;
    assert_eq!(twice.status(), StatusCode::CONFLICT);
    let vote = review(
        &app,
        &second,
        request,
        &[
            ("action", "vote"),
            ("decision", "approve"),
            ("message", "Agreed."),
        ],
    )
    .await;
    assert_eq!(vote.status(), StatusCode::SEE_OTHER);
    assert_eq!(state_of(&app, request).await, "approved");
    app.mail_to(RESEARCHER, "approved").await;

    // One rejecting vote rejects.
    let again = project;
    add_to_cart(&app, &researcher, "example-mammography-screening-cohort").await;
    let second_request = submit(
        &app,
        &researcher,
        again,
        &["example-mammography-screening-cohort"],
    )
    .await[0];
    let reject = review(
        &app,
        &second,
        second_request,
        &[
            ("action", "vote"),
            ("decision", "reject"),
            ("message", "No consent for this use."),
        ],
    )
    .await;
    assert_eq!(reject.status(), StatusCode::SEE_OTHER);
    assert_eq!(state_of(&app, second_request).await, "rejected");
    let rejection = app.mail_to(RESEARCHER, "rejected").await;
    snapshot::assert_mail!("rejected_mail", rejection);
}

#[tokio::test]
async fn applicants_withdraw_and_finished_requests_accept_nothing() {
    let app = example_app().await;
    let researcher = sign_in(&app, RESEARCHER).await;
    let project = create_project(&app, &researcher, &[]).await;
    add_to_cart(&app, &researcher, CHEST).await;
    let request = submit(&app, &researcher, project, &[CHEST]).await[0];
    let path = format!("/requests/{request}/applicant");

    let stale = post(
        &app,
        &researcher,
        &path,
        &[("action", "withdraw"), ("version", "99")],
    )
    .await;
    assert_eq!(
        stale.status(),
        StatusCode::CONFLICT,
        "an out-of-date form is refused"
    );
    let resubmit = post(
        &app,
        &researcher,
        &path,
        &[
            ("action", "resubmit"),
            ("message", "x"),
            ("version", &version(&app, request).await),
        ],
    )
    .await;
    assert_eq!(
        resubmit.status(),
        StatusCode::CONFLICT,
        "only after changes were requested"
    );
    let withdrawn = post(
        &app,
        &researcher,
        &path,
        &[
            ("action", "withdraw"),
            ("version", &version(&app, request).await),
        ],
    )
    .await;
    assert_eq!(withdrawn.status(), StatusCode::SEE_OTHER);
    assert_eq!(state_of(&app, request).await, "withdrawn");

    let again = post(
        &app,
        &researcher,
        &path,
        &[
            ("action", "withdraw"),
            ("version", &version(&app, request).await),
        ],
    )
    .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let reviewer = sign_in(&app, REVIEWER).await;
    let decide = review(
        &app,
        &reviewer,
        request,
        &[
            ("action", "decide"),
            ("decision", "approve"),
            ("message", "late"),
        ],
    )
    .await;
    assert_eq!(decide.status(), StatusCode::CONFLICT);
    assert!(
        Page::new(&decide.text().await.unwrap())
            .text("main")
            .contains("Withdrawn")
    );
}

#[tokio::test]
async fn expiry_reminders_renewal_and_a_new_agreement_version() {
    let app = example_app().await;
    let researcher = sign_in(&app, RESEARCHER).await;
    let project = create_project(&app, &researcher, &[]).await;
    add_to_cart(&app, &researcher, BRAIN).await;
    let request = submit(&app, &researcher, project, &[BRAIN]).await[0];
    let reviewer = sign_in(&app, REVIEWER).await;
    review(
        &app,
        &reviewer,
        request,
        &[
            ("action", "decide"),
            ("decision", "approve"),
            ("message", "Approved."),
        ],
    )
    .await;
    let grant: i64 = sqlx::query_scalar("select id from grants")
        .fetch_one(&app.db)
        .await
        .unwrap();

    // A data host sees the entitlement with a data-host token, which only administrators can create.
    app.add_admin("host-admin@example.org").await;
    let admin = app.signed_in("host-admin@example.org").await;
    let created = post(
        &app,
        &admin,
        "/account/tokens",
        &[
            ("name", "PACS gateway"),
            ("scope", "data_host"),
            ("days", "30"),
        ],
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let host_token = Page::new(&created.text().await.unwrap()).text("#new-token");
    let refused = post(
        &app,
        &researcher,
        "/account/tokens",
        &[("name", "x"), ("scope", "data_host"), ("days", "30")],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let entitlements = |token: String| {
        let url = app.url(&format!("/api/v1/entitlements?dataset={BRAIN}"));
        async move {
            let response = Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    let listed = entitlements(host_token.clone()).await;
    assert_matches_schema(&app, reference("Entitlements"), &listed).await;
    assert_eq!(listed["count"], 1);
    // The holder reads their own grants and requests with a personal token.
    let own = create_token(&app, &researcher).await;
    for (path, schema) in [
        ("/api/v1/me/grants", "MyGrant"),
        ("/api/v1/me/requests", "MyRequest"),
    ] {
        let body: serde_json::Value = Client::new()
            .get(app.url(path))
            .bearer_auth(&own)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body.as_array().unwrap().len(), 1, "{path}");
        assert_matches_schema(&app, reference(schema), &body[0]).await;
    }
    assert_eq!(listed["entitlements"][0]["user_email"], RESEARCHER);

    // Seven days before expiry: one reminder (not also the 30-day one), sent once.
    sqlx::query("update grants set expires_at = now() + interval '5 days'")
        .execute(&app.db)
        .await
        .unwrap();
    run_grant_jobs(&app).await;
    run_grant_jobs(&app).await;
    let reminder = app.mail_to(RESEARCHER, "ends within 7 days").await;
    snapshot::assert_mail!("ends_within_7_days_mail", reminder);
    let reminders: i64 =
        sqlx::query_scalar("select count(*) from notifications where text like '%ends within%'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let texts: Vec<String> = sqlx::query_scalar("select text from notifications")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(reminders, 1, "{texts:?}");

    // A new agreement version: re-acceptance required; after the grace period, suspended.
    let mut tx = app.db.begin().await.unwrap();
    let dua: i64 = sqlx::query_scalar("select id from duas")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let body = "# Institutional Imaging Data Use Agreement\n\nVersion two: report every publication within 30 days.\n";
    let version = radportal::access::db::publish_dua_version(
        &mut tx,
        dua,
        body,
        time::macros::date!(2026 - 02 - 01),
        None,
        14,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(version, 2);
    assert_eq!(
        page(&app, &researcher, "/access")
            .await
            .text(".grant-status"),
        "Re-acceptance required"
    );
    let diff = page(
        &app,
        &researcher,
        "/duas/institutional-imaging-dua/diff?from=1&to=2",
    )
    .await;
    assert!(diff.text(".diff-added").contains("Version two"));
    assert!(
        diff.texts(".diff-removed")
            .iter()
            .any(|l| l.contains("This is an example agreement"))
    );
    sqlx::query("update grants set reaccept_by = now() - interval '1 minute'")
        .execute(&app.db)
        .await
        .unwrap();
    run_grant_jobs(&app).await;
    assert_eq!(
        page(&app, &researcher, "/access")
            .await
            .text(".grant-status"),
        "Suspended"
    );
    let suspension = app.mail_to(RESEARCHER, "suspended").await;
    snapshot::assert_mail!("suspended_mail", suspension);
    assert_eq!(entitlements(host_token.clone()).await["count"], 0);
    let wrong = post(
        &app,
        &researcher,
        &format!("/grants/{grant}/reaccept"),
        &[("signature", "R. Researcher")],
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::CONFLICT);
    let accepted = post(
        &app,
        &researcher,
        &format!("/grants/{grant}/reaccept"),
        &[("signature", "riley  researcher")],
    )
    .await;
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        page(&app, &researcher, "/access")
            .await
            .text(".grant-status"),
        "Active"
    );
    assert_eq!(entitlements(host_token.clone()).await["count"], 1);

    // Expired: recorded once, the holder told, the data host no longer sees it.
    sqlx::query("update grants set starts_at = now() - interval '10 days', expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    run_grant_jobs(&app).await;
    run_grant_jobs(&app).await;
    let expiry = app.mail_to(RESEARCHER, "has expired").await;
    snapshot::assert_mail!("expired_mail", expiry);
    let expired: i64 =
        sqlx::query_scalar("select count(*) from events where kind = 'grant.expired'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(expired, 1);
    assert_eq!(entitlements(host_token).await["count"], 0);

    // Renewal: the cart is prefilled and the new request links the old one.
    let renew = post(&app, &researcher, &format!("/grants/{grant}/renew"), &[]).await;
    assert_eq!(renew.status(), StatusCode::SEE_OTHER);
    let location = renew.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains(&format!("renewal_of={request}")),
        "{location}"
    );
    let cart = page(&app, &researcher, &location).await;
    assert!(
        cart.text("main")
            .contains(&format!("This renews request #{request}"))
    );
    let sign = format!("sign_{}", dataset_id(&app, BRAIN).await);
    let project = project.to_string();
    let renewed = researcher
        .post(app.url("/cart/submit"))
        .form(&[
            ("project", project.as_str()),
            ("days", "180"),
            ("renewal_of", &request.to_string()),
            (sign.as_str(), "Riley Researcher"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), StatusCode::SEE_OTHER);
    let link: Option<i64> =
        sqlx::query_scalar("select renewal_of from access_requests order by id desc limit 1")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(link, Some(request));
}

#[tokio::test]
async fn attachments_are_checked_and_seen_only_by_the_team_and_the_committee() {
    let app = example_app().await;
    let researcher = sign_in(&app, RESEARCHER).await;
    let project = create_project(&app, &researcher, &[]).await;
    add_to_cart(&app, &researcher, CHEST).await;
    let request = submit(&app, &researcher, project, &[CHEST]).await[0];
    let upload = |bytes: Vec<u8>, name: &'static str| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name),
        );
        researcher
            .post(app.url(&format!("/requests/{request}/attachments")))
            .multipart(form)
            .send()
    };

    let refused = upload(b"#!/bin/sh\nrm -rf /".to_vec(), "letter.pdf")
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        Page::new(&refused.text().await.unwrap())
            .text("main")
            .contains("PDF, PNG or JPEG")
    );
    let stored = upload(b"%PDF-1.4 IRB approval".to_vec(), "IRB approval.pdf")
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::SEE_OTHER);

    let reviewer = sign_in(&app, REVIEWER).await;
    let seen = page(&app, &reviewer, &format!("/requests/{request}")).await;
    let href = seen.attrs("#attachments a", "href").remove(0);
    let download = reviewer.get(app.url(&href)).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(
        download.headers()["content-disposition"],
        "attachment; filename=\"IRB_approval.pdf\""
    );
    assert!(seen.text("#timeline").contains("Attached IRB_approval.pdf"));
    let other = sign_in(&app, REVIEWER2).await;
    assert_eq!(
        other.get(app.url(&href)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn audit_verify_finds_edited_inserted_and_deleted_events() {
    let app = example_app().await;
    let researcher = sign_in(&app, RESEARCHER).await;
    let project = create_project(&app, &researcher, &[]).await;
    add_to_cart(&app, &researcher, CHEST).await;
    add_to_cart(&app, &researcher, BRAIN).await;
    submit(&app, &researcher, project, &[CHEST, BRAIN]).await;
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_radportal"))
            .args(["audit", "verify"])
            .env("DATABASE_URL", &app.database_url)
            .env("RADPORTAL_LOG", "warn")
            .output()
            .unwrap()
    };
    let intact = run();
    assert_eq!(intact.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&intact.stdout).contains("the chain is intact"));

    // Events cannot be changed through ordinary SQL at all ...
    let blocked = sqlx::query("update events set body = '{}' where id = 1")
        .execute(&app.db)
        .await;
    assert!(blocked.unwrap_err().to_string().contains("append-only"));
    // ... but someone with the powers to bypass triggers can; the chain shows it.
    let mut conn = app.db.acquire().await.unwrap();
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(
        "update events set body = jsonb_set(body, '{signature}', '\"Mallory\"') where id = 2",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    let edited = run();
    assert_eq!(edited.status.code(), Some(3));
    let report = String::from_utf8_lossy(&edited.stdout).to_string();
    assert!(
        report.contains("event 2") && report.contains("changed"),
        "{report}"
    );

    sqlx::query("delete from events where id = 3")
        .execute(&mut *conn)
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&run().stdout).to_string();
    assert!(report.contains("event 4: does not follow"), "{report}");
    sqlx::query("delete from events where id = 4")
        .execute(&mut *conn)
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&run().stdout).to_string();
    assert!(
        report.contains("events were deleted from the end"),
        "{report}"
    );
    sqlx::query("set session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn two_instances_send_each_message_exactly_once() {
    let app = TestApp::with_mail_configured(|config| {
        config.outbox_poll = std::time::Duration::from_millis(20);
    })
    .await;
    // A second instance over the same database, with its own pool and mail worker.
    let mut config = radportal::Config::for_database(&app.database_url);
    config.seed_catalog = false;
    config.db_max_connections = 5;
    config.smtp_url = app.state.config.smtp_url.clone();
    config.outbox_poll = std::time::Duration::from_millis(20);
    let pool = radportal::db::connect_and_migrate(&config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(radportal::serve(
        listener,
        radportal::AppState::new(pool, config),
        async {
            let _ = stopped.await;
        },
    ));

    for n in 0..60 {
        radportal::mail::enqueue(
            &app.db,
            &radportal::mail::Mail {
                to: format!("person{n}@example.org"),
                subject: format!("Message {n}"),
                body: "Hello".to_owned(),
            },
        )
        .await
        .unwrap();
    }
    // The two workers are what is tested here, so the test waits for them to empty the outbox.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let unsent: i64 = sqlx::query_scalar("select count(*) from outbox where sent_at is null")
            .fetch_one(&app.db)
            .await
            .unwrap();
        if unsent == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{unsent} messages still unsent"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Nothing is left to send; this waits for any send still in progress and collects every message.
    let received = app.deliver_mail().await;
    for n in 0..60 {
        assert_eq!(
            crate::helpers::matching(
                &received,
                &format!("person{n}@example.org"),
                &format!("Message {n}")
            )
            .len(),
            1,
            "message {n} was sent once"
        );
    }
    assert_eq!(received.len(), 60, "no message was sent twice");
    let _ = stop.send(());
}

#[tokio::test]
async fn team_members_are_told_and_those_without_an_account_are_invited() {
    let app = example_app().await;
    let researcher = sign_in(&app, RESEARCHER).await;
    let project = create_project(
        &app,
        &researcher,
        &[("members", "newcomer@example.org\nreviewer2@example.org")],
    )
    .await;

    let invite = app
        .mail_to("newcomer@example.org", "You were added to the project")
        .await;
    assert!(invite.body.contains("/register"), "{}", invite.body);
    snapshot::assert_mail!("invited_to_the_team_mail", invite);
    let told = app
        .mail_to(REVIEWER2, "You were added to the project")
        .await;
    assert!(told.body.contains("/requests"));
    snapshot::assert_mail!("added_to_the_team_mail", told);
    let team = page(&app, &researcher, &format!("/projects/{project}"))
        .await
        .text("#team");
    assert!(
        team.contains("newcomer@example.org (no account yet)") && team.contains("Casey Committee"),
        "{team}"
    );

    // Saving again does not invite them again.
    let edit = page(&app, &researcher, &format!("/projects/{project}/edit")).await;
    let title = edit.attrs("#title", "value").remove(0);
    let saved = post(
        &app,
        &researcher,
        &format!("/projects/{project}"),
        &[
            ("title", title.as_str()),
            (
                "research_use",
                "We will train and validate a nodule detection model on chest CT and brain MRI.",
            ),
            ("purpose", "HMB"),
            ("members", "newcomer@example.org\nreviewer2@example.org"),
        ],
    )
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let invites = app
        .deliver_mail()
        .await
        .iter()
        .filter(|m| m.subject.contains("You were added"))
        .count();
    assert_eq!(invites, 2);
}

/// Runs the time-driven grant jobs (expiry and reminders, then suspension) once, now.
async fn run_grant_jobs(app: &TestApp) {
    let context = radportal::jobs::JobContext::new(
        app.db.clone(),
        app.state.config.clone(),
        std::sync::Arc::new(radportal::mail::Mailer::from_config(&app.state.config).unwrap()),
    );
    for job in [
        radportal::jobs::grant_expiry::job(),
        radportal::jobs::suspension::job(),
    ] {
        radportal::jobs::run_now(&context, &job).await.unwrap();
    }
}

#[tokio::test]
async fn a_data_host_token_stops_working_when_its_owner_is_no_longer_an_administrator() {
    let app = example_app().await;
    let owner = app.add_admin("host-admin@example.org").await;
    app.add_admin("second-admin@example.org").await;
    let admin = app.signed_in("host-admin@example.org").await;
    let created = post(
        &app,
        &admin,
        "/account/tokens",
        &[
            ("name", "PACS gateway"),
            ("scope", "data_host"),
            ("days", "30"),
        ],
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let token = Page::new(&created.text().await.unwrap()).text("#new-token");
    let read = || {
        Client::new()
            .get(app.url("/api/v1/entitlements"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(read().await.unwrap().status(), StatusCode::OK);

    // Another administrator takes the flag away: the token answers 401 from the next request on.
    let other = app.signed_in("second-admin@example.org").await;
    let demoted = post(
        &app,
        &other,
        &format!("/admin/users/{owner}/admin"),
        &[("admin", "false")],
    )
    .await;
    assert!(demoted.status().is_redirection(), "{}", demoted.status());
    let is_admin: bool = sqlx::query_scalar("select is_admin from users where id = $1")
        .bind(owner)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!is_admin);
    let refused = read().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(
        !refused
            .text()
            .await
            .unwrap()
            .contains("host-admin@example.org")
    );
}

#[tokio::test]
async fn comments_are_mailed_to_the_other_side_but_internal_notes_are_not() {
    let app = example_app().await;
    let researcher = sign_in(&app, RESEARCHER).await;
    let project = create_project(&app, &researcher, &[]).await;
    add_to_cart(&app, &researcher, CHEST).await;
    let request = submit(&app, &researcher, project, &[CHEST]).await[0];
    let reviewer = sign_in(&app, REVIEWER).await;

    let noted = review(
        &app,
        &reviewer,
        request,
        &[
            ("action", "comment"),
            ("message", "Only for the committee."),
            ("internal", "on"),
        ],
    )
    .await;
    let commented = review(
        &app,
        &reviewer,
        request,
        &[
            ("action", "comment"),
            ("message", "Which scanners were used?"),
        ],
    )
    .await;
    let answered = post(
        &app,
        &researcher,
        &format!("/requests/{request}/applicant"),
        &[
            ("action", "comment"),
            ("message", "Two Siemens CT scanners."),
            ("version", &version(&app, request).await),
        ],
    )
    .await;

    for response in [noted, commented, answered] {
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    let to_applicant = app.mail_to(RESEARCHER, "New comment on your request").await;
    assert!(to_applicant.body.contains("Which scanners were used?"));
    assert!(
        app.deliver_mail()
            .await
            .iter()
            .all(|mail| !mail.body.contains("Only for the committee.")),
        "the internal note is not mailed"
    );
    snapshot::assert_mail!("reviewer_comment_mail", to_applicant);
    let to_committee = app.mail_to(REVIEWER, "New comment on request").await;
    assert!(to_committee.body.contains("Two Siemens CT scanners."));
    snapshot::assert_mail!("applicant_comment_mail", to_committee);
}

#[tokio::test]
async fn a_grant_ending_within_30_days_is_reminded_once() {
    let app = example_app().await;
    let researcher = sign_in(&app, RESEARCHER).await;
    let project = create_project(&app, &researcher, &[]).await;
    add_to_cart(&app, &researcher, BRAIN).await;
    let request = submit(&app, &researcher, project, &[BRAIN]).await[0];
    let reviewer = sign_in(&app, REVIEWER).await;
    let approved = review(
        &app,
        &reviewer,
        request,
        &[
            ("action", "decide"),
            ("decision", "approve"),
            ("message", "Approved."),
        ],
    )
    .await;
    assert_eq!(approved.status(), StatusCode::SEE_OTHER);

    sqlx::query("update grants set expires_at = now() + interval '20 days'")
        .execute(&app.db)
        .await
        .unwrap();
    run_grant_jobs(&app).await;
    run_grant_jobs(&app).await;

    let reminder = app.mail_to(RESEARCHER, "ends within 30 days").await;
    assert!(reminder.body.contains("Renew it from “My access”"));
    assert!(
        app.mails_to(RESEARCHER, "ends within 7 days")
            .await
            .is_empty()
    );
    snapshot::assert_mail!("ends_within_30_days_mail", reminder);
}

#[tokio::test]
async fn the_header_links_to_the_cart_with_its_count() {
    let app = example_app().await;
    let researcher = sign_in(&app, RESEARCHER).await;
    assert_eq!(page(&app, &researcher, "/").await.text("#cart-count"), "0");

    add_to_cart(&app, &researcher, CHEST).await;
    add_to_cart(&app, &researcher, BRAIN).await;

    let home = page(&app, &researcher, "/datasets").await;
    assert_eq!(home.text("#cart-count"), "2");
    assert_eq!(home.attrs("#nav-cart", "href"), ["/cart"]);
    post(&app, &researcher, "/cart/remove", &[("dataset", BRAIN)]).await;
    assert_eq!(
        page(&app, &researcher, "/cart").await.text("#cart-count"),
        "1"
    );
    // Visitors have no cart link.
    assert!(app.page("/").await.texts("#cart-count").is_empty());
}

#[tokio::test]
async fn a_project_written_from_the_cart_returns_to_the_cart_with_it_chosen() {
    let app = example_app().await;
    let researcher = sign_in(&app, RESEARCHER).await;
    add_to_cart(&app, &researcher, CHEST).await;
    let cart = page(&app, &researcher, "/cart").await;
    assert_eq!(
        cart.attrs("#no-project a", "href"),
        ["/projects/new?from=cart"]
    );
    let form = page(&app, &researcher, "/projects/new?from=cart").await;
    assert_eq!(form.attrs("input[name=from]", "value"), ["cart"]);

    let saved = post(
        &app,
        &researcher,
        "/projects",
        &[
            ("title", "Nodule growth"),
            (
                "research_use",
                "We measure nodule growth between screening rounds.",
            ),
            ("purpose", "HMB"),
            ("from", "cart"),
        ],
    )
    .await;

    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let project: i64 = sqlx::query_scalar("select id from projects where title = 'Nodule growth'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        saved.headers()["location"].to_str().unwrap(),
        format!("/cart?project={project}")
    );
    let cart = page(&app, &researcher, &format!("/cart?project={project}")).await;
    assert_eq!(
        cart.attrs("#project option[selected]", "value"),
        [project.to_string()]
    );
    // Written from the projects page, saving shows the project.
    let other = create_project(&app, &researcher, &[]).await;
    assert_ne!(other, project);
    // A `from` other than the cart is ignored.
    let form = page(
        &app,
        &researcher,
        "/projects/new?from=https://elsewhere.example",
    )
    .await;
    assert!(form.attrs("input[name=from]", "value").is_empty());
}

#[tokio::test]
async fn opening_a_notification_marks_it_read_and_goes_where_it_points() {
    let app = example_app().await;
    let researcher = sign_in(&app, RESEARCHER).await;
    let owner: i64 = sqlx::query_scalar("select id from users where email = $1")
        .bind(RESEARCHER)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let ids: Vec<i64> = sqlx::query_scalar(
        "insert into notifications (user_id, text, link)
         values ($1, 'Request #1 was approved.', '/requests'), ($1, 'A comment on request #1.', '/access')
         returning id",
    )
    .bind(owner)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let list = page(&app, &researcher, "/notifications").await;
    assert_eq!(list.text("#unread-count"), "2");
    assert_eq!(
        list.attrs("#notifications a", "href"),
        [
            format!("/notifications/{}", ids[1]),
            format!("/notifications/{}", ids[0])
        ]
    );

    let opened = researcher
        .get(app.url(&format!("/notifications/{}", ids[0])))
        .send()
        .await
        .unwrap();

    assert_eq!(opened.status(), StatusCode::SEE_OTHER);
    assert_eq!(opened.headers()["location"], "/requests");
    let list = page(&app, &researcher, "/notifications").await;
    assert_eq!(list.text("#unread-count"), "1");
    assert_eq!(
        list.texts("#notifications .unread a"),
        ["A comment on request #1."]
    );
    // Opening it again changes nothing; someone else's is not found.
    let again = researcher
        .get(app.url(&format!("/notifications/{}", ids[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let reviewer = sign_in(&app, REVIEWER).await;
    let foreign = reviewer
        .get(app.url(&format!("/notifications/{}", ids[1])))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    let unread: i64 =
        sqlx::query_scalar("select count(*) from notifications where read_at is null")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(unread, 1);
}
