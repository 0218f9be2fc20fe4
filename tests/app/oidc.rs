//! Signing in through an institution's OpenID Connect provider. The happy path goes through a real
//! provider (the `oidc-provider` package, `tests/oidc/provider.mjs`, started on loopback): an account
//! made on the first sign-in with the institution and the groups' roles copied, roles taken away when
//! the groups go, linking by e-mail only when the provider asserts it verified, a replayed or
//! foreign `state` refused, and signing out at the provider too. The ID tokens a real provider never
//! sends (wrong audience, expired, unsigned, badly signed, another nonce) come from a small provider
//! in this file that signs with a key the test controls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use base64::Engine;
use radportal::config::OidcProvider;
use reqwest::{Client, Response, StatusCode};
use ring::signature::KeyPair;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::helpers::{PASSWORD, Page, TestApp, new_client};

const CLIENT_ID: &str = "radportal-test-client";
const CLIENT_SECRET: &str = "secret of the test client: 0123456789";

/// The portal's settings for a provider at `issuer`.
pub fn provider(id: &str, name: &str, issuer: &str) -> OidcProvider {
    OidcProvider {
        id: id.to_owned(),
        name: name.to_owned(),
        issuer: issuer.to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: CLIENT_SECRET.to_owned().into(),
        scopes: "openid email profile organization groups".to_owned(),
        institution_claim: "organization".to_owned(),
        groups_claim: Some("groups".to_owned()),
        admin_groups: vec!["portal-admins".to_owned()],
        committee_groups: vec![("imaging-reviewers".to_owned(), "imaging-dac".to_owned())],
    }
}

/// The real provider: a node process, ended with the test.
pub struct RealProvider {
    pub issuer: String,
    accounts_file: std::path::PathBuf,
    _process: tokio::process::Child,
}

impl RealProvider {
    /// Starts the provider for a portal at `portal` (which knows it as `uni`), with `accounts`.
    pub async fn start(portal: &str, accounts: Value) -> Self {
        let accounts_file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("oidc-accounts-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&accounts_file, accounts.to_string()).unwrap();
        let settings = json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uri": format!("{portal}/sign-in/oidc/uni/callback"),
            "post_logout_redirect_uri": format!("{portal}/"),
            "accounts_file": accounts_file,
        });
        let mut process = tokio::process::Command::new("node")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/oidc/provider.mjs"
            ))
            .arg(settings.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (scripts/test installs tests/oidc with npm ci)");
        let mut lines = tokio::io::BufReader::new(process.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the provider starts")
            .unwrap()
            .expect("the provider says it is ready");
        let issuer = ready
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("unexpected first line: {ready}"))
            .to_owned();
        // The provider writes notices as it goes; a closed pipe would end it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            issuer,
            accounts_file,
            _process: process,
        }
    }

    /// Changes what the provider says about its people, from the next sign-in on.
    fn set_accounts(&self, accounts: &Value) {
        std::fs::write(&self.accounts_file, accounts.to_string()).unwrap();
    }

    /// `location` made absolute against the provider.
    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http") {
            location.to_owned()
        } else {
            format!("{}{location}", self.issuer)
        }
    }
}

impl Drop for RealProvider {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.accounts_file);
    }
}

fn location(response: &Response) -> String {
    assert!(
        response.status().is_redirection(),
        "a redirect, not {}",
        response.status()
    );
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Follows "Sign in with …" for provider `id` on the sign-in page; returns where the browser goes.
async fn start(app: &TestApp, client: &Client, id: &str) -> String {
    let page = Page::new(
        &client
            .get(app.url("/sign-in"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let link = page
        .attrs("#institution-sign-in a", "href")
        .into_iter()
        .find(|href| href.starts_with(&format!("/sign-in/oidc/{id}?")))
        .expect("a link to sign in with the provider");
    // Opened with nowhere to return to: the landing depends on who signs in.
    assert_eq!(link, format!("/sign-in/oidc/{id}?next="));
    let response = client.get(app.url(&link)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    location(&response)
}

/// Signs in at the real provider as `login` in `client`; returns the address the provider sends the
/// browser back to (the portal's callback), not yet visited.
async fn through_real_provider(
    app: &TestApp,
    provider: &RealProvider,
    client: &Client,
    login: &str,
) -> String {
    let authorize = start(app, client, "uni").await;
    assert!(
        authorize.starts_with(&format!("{}/auth?", provider.issuer)),
        "{authorize}"
    );
    for parameter in [
        "state=",
        "nonce=",
        "code_challenge=",
        "code_challenge_method=S256",
    ] {
        assert!(authorize.contains(parameter), "{parameter} in {authorize}");
    }
    let mut next = authorize;
    // The provider's own redirects, its login form, and back.
    for _ in 0..6 {
        if next.starts_with(&app.address) {
            return next;
        }
        let response = if next.contains("/interaction/") {
            client
                .post(&next)
                .form(&[("login", login)])
                .send()
                .await
                .unwrap()
        } else {
            client.get(&next).send().await.unwrap()
        };
        next = provider.absolute(&location(&response));
    }
    panic!("the provider never sent the browser back: {next}");
}

/// A portal (knowing the real provider as `uni`) and the real provider with `accounts`.
async fn portal_with_real_provider(accounts: Value) -> (TestApp, RealProvider) {
    let (listener, address) = TestApp::reserve().await;
    let real = RealProvider::start(&address, accounts).await;
    let issuer = real.issuer.clone();
    let app = TestApp::spawn_listening(listener, move |config| {
        config.oidc_providers = vec![provider("uni", "University Hospital", &issuer)];
    })
    .await;
    (app, real)
}

fn sets_session(response: &Response) -> bool {
    response.headers().get_all("set-cookie").iter().any(|c| {
        c.to_str().unwrap().starts_with("radportal_session=")
            && !c.to_str().unwrap().starts_with("radportal_session=;")
    })
}

async fn add_committee(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "insert into dacs (slug, name) values ('imaging-dac', 'Imaging Data Access Committee')
         returning id",
    )
    .fetch_one(&app.db)
    .await
    .unwrap()
}

fn ada(groups: &[&str]) -> Value {
    json!({"ada": {
        "email": "ada@uni.example", "email_verified": true, "name": "Ada Lovelace",
        "organization": "University Hospital, Department of Radiology", "groups": groups,
    }})
}

#[tokio::test]
async fn a_first_sign_in_through_the_provider_makes_an_account_with_institution_and_roles() {
    let (app, real) =
        portal_with_real_provider(ada(&["portal-admins", "imaging-reviewers", "staff"])).await;
    let dac = add_committee(&app).await;
    let browser = new_client();
    let page = Page::new(
        &browser
            .get(app.url("/sign-in"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(
        page.text("#institution-sign-in a"),
        "Sign in with University Hospital"
    );

    let callback = through_real_provider(&app, &real, &browser, "ada").await;
    let response = browser.get(&callback).send().await.unwrap();
    // An administrator by her groups, with nowhere to return to: the overview.
    assert_eq!(location(&response), "/admin");
    assert!(sets_session(&response));
    let page = Page::new(
        &browser
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(page.text("#account-name"), "Ada Lovelace");
    assert_eq!(page.text("#account-email"), "ada@uni.example");
    assert_eq!(
        page.text("#account-institution"),
        "University Hospital, Department of Radiology"
    );
    assert_eq!(page.text("#account-role"), "Administrator");
    assert!(
        page.text("#no-password")
            .contains("through your institution")
    );
    let (id, password, verified, admin): (i64, Option<String>, bool, bool) = sqlx::query_as(
        "select id, password_hash, email_verified_at is not null, is_admin from users
         where email = 'ada@uni.example'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(password.is_none() && verified && admin);
    let seats: i64 = sqlx::query_scalar(
        "select count(*) from dac_members where user_id = $1 and dac_id = $2 and via_provider = 'uni'",
    )
    .bind(id)
    .bind(dac)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(seats, 1);
    // With no password here, the password form cannot open the account.
    let response = app.sign_in_with(&new_client(), "ada@uni.example", "").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Signing out ends the portal's session and offers to end the provider's.
    let response = browser.post(app.url("/sign-out")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = Page::new(&response.text().await.unwrap());
    let end_session = page
        .attrs("main a", "href")
        .into_iter()
        .find(|href| href.contains("/session/end"))
        .expect("a link to sign out at the provider");
    assert!(
        end_session.starts_with(&format!(
            "{}/session/end?client_id={CLIENT_ID}",
            real.issuer
        )),
        "{end_session}"
    );
    assert!(end_session.contains("post_logout_redirect_uri="));
    let account = browser.get(app.url("/account")).send().await.unwrap();
    assert!(location(&account).starts_with("/sign-in?next="));
    let provider_page = browser.get(&end_session).send().await.unwrap();
    assert_eq!(
        provider_page.status(),
        StatusCode::OK,
        "the provider asks to sign out there too"
    );

    // Out of the groups: the roles they gave are gone at the next sign-in; the account stays.
    real.set_accounts(&ada(&["staff"]));
    let browser = new_client();
    let callback = through_real_provider(&app, &real, &browser, "ada").await;
    assert_eq!(
        location(&browser.get(&callback).send().await.unwrap()),
        "/account"
    );
    let page = Page::new(
        &browser
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(page.text("#account-role"), "Researcher");
    let accounts: i64 = sqlx::query_scalar("select count(*) from users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(accounts, 1);
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from audit_log where target_type = 'user' and target_id = $1::bigint::text
         order by id",
    )
    .bind(id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "account.registered",
            "account.identity_linked",
            "user.admin_flag_changed",
            "user.admin_flag_changed"
        ]
    );
}

#[tokio::test]
async fn an_account_is_linked_by_email_only_when_the_provider_asserts_it_verified() {
    let unverified = json!({
        "eve": {"email": "existing@example.org", "email_verified": false, "name": "Eve Existing"},
        "newcomer": {"email": "new@uni.example", "email_verified": false, "name": "Nia New"},
    });
    let (app, real) = portal_with_real_provider(unverified).await;
    let existing = app.add_user("existing@example.org", "Eve Existing").await;

    let browser = new_client();
    let callback = through_real_provider(&app, &real, &browser, "eve").await;
    let response = browser.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(!sets_session(&response));
    let page = Page::new(&response.text().await.unwrap());
    assert!(
        page.source
            .contains("does not confirm that the address is verified")
    );
    let links: i64 = sqlx::query_scalar("select count(*) from oidc_identities")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(links, 0);

    // Without an account at the address, the first sign-in makes one (its address not confirmed).
    let browser = new_client();
    let callback = through_real_provider(&app, &real, &browser, "newcomer").await;
    assert_eq!(
        location(&browser.get(&callback).send().await.unwrap()),
        "/account"
    );
    let confirmed: bool = sqlx::query_scalar(
        "select email_verified_at is not null from users where email = 'new@uni.example'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(!confirmed);

    // Once the provider asserts the address verified, the sign-in joins the existing account.
    real.set_accounts(&json!({
        "eve": {"email": "existing@example.org", "email_verified": true, "name": "Eve Existing"},
    }));
    let browser = new_client();
    let callback = through_real_provider(&app, &real, &browser, "eve").await;
    assert_eq!(
        location(&browser.get(&callback).send().await.unwrap()),
        "/account"
    );
    let linked: i64 = sqlx::query_scalar(
        "select user_id from oidc_identities where provider = 'uni' and subject = 'eve'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(linked, existing);
    // The password still works beside it.
    let response = app
        .sign_in_with(&new_client(), "existing@example.org", PASSWORD)
        .await;
    assert_eq!(location(&response), "/account");
}

#[tokio::test]
async fn a_replayed_or_foreign_state_is_refused() {
    let (app, real) = portal_with_real_provider(ada(&[])).await;
    let browser = new_client();
    let callback = through_real_provider(&app, &real, &browser, "ada").await;
    assert_eq!(
        location(&browser.get(&callback).send().await.unwrap()),
        "/account"
    );
    // The same answer again, in the same browser or another: the state was used.
    for client in [&browser, &new_client()] {
        let response = client.get(&callback).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(!sets_session(&response));
        let page = Page::new(&response.text().await.unwrap());
        assert!(page.source.contains("already completed"));
    }
    // A sign-in started in one browser and completed in another (a forged link): refused.
    let started_here = new_client();
    let callback = through_real_provider(&app, &real, &started_here, "ada").await;
    let response = new_client().get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(!sets_session(&response));
    // A made-up state, and an error from the provider.
    let response = new_client()
        .get(app.url("/sign-in/oidc/uni/callback?code=x&state=made-up"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = new_client()
        .get(app.url("/sign-in/oidc/uni/callback?error=access_denied&state=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.text().await.unwrap().contains("access_denied"));
    let sessions: i64 = sqlx::query_scalar("select count(*) from sessions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(sessions, 1, "only the first sign-in made a session");
}

/// What the test's own provider does wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Forgery {
    Nothing,
    WrongAudience,
    Expired,
    Unsigned,
    BadSignature,
    OtherNonce,
    OtherIssuer,
}

/// A provider that signs ID tokens with a P-256 key the test controls, and forges them on request.
struct ForgingProvider {
    issuer: String,
    forgery: Mutex<Forgery>,
    /// The nonce and PKCE challenge of each authorization request, by the code it was answered with.
    asked: Mutex<HashMap<String, (String, String)>>,
    key: jsonwebtoken::EncodingKey,
    rogue: jsonwebtoken::EncodingKey,
    jwk: Value,
}

const FORGED_KID: &str = "forging-provider-key";

fn p256_key() -> (jsonwebtoken::EncodingKey, Value) {
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": FORGED_KID, "alg": "ES256", "use": "sig",
                     "x": b64(&point[1..33]), "y": b64(&point[33..65])});
    (jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl ForgingProvider {
    /// Starts it on a free port of loopback.
    async fn start() -> Arc<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (key, jwk) = p256_key();
        let (rogue, _) = p256_key();
        let provider = Arc::new(Self {
            issuer: format!("http://{}", listener.local_addr().unwrap()),
            forgery: Mutex::new(Forgery::Nothing),
            asked: Mutex::new(HashMap::new()),
            key,
            rogue,
            jwk,
        });
        let router = axum::Router::new()
            .route("/.well-known/openid-configuration", get(Self::discovery))
            .route("/jwks", get(Self::jwks))
            .route("/authorize", get(Self::authorize))
            .route("/token", post(Self::token))
            .with_state(provider.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        provider
    }

    async fn discovery(State(this): State<Arc<Self>>) -> axum::Json<Value> {
        let issuer = &this.issuer;
        axum::Json(json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
        }))
    }

    async fn jwks(State(this): State<Arc<Self>>) -> axum::Json<Value> {
        axum::Json(json!({"keys": [this.jwk]}))
    }

    /// Signs the person in at once and sends them back with a code.
    async fn authorize(
        State(this): State<Arc<Self>>,
        Query(params): Query<HashMap<String, String>>,
    ) -> Redirect {
        let code = {
            let mut asked = this.asked.lock().unwrap();
            let code = format!("forged-code-{}", asked.len());
            asked.insert(
                code.clone(),
                (params["nonce"].clone(), params["code_challenge"].clone()),
            );
            code
        };
        let mut back = url::Url::parse(&params["redirect_uri"]).unwrap();
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &params["state"]);
        Redirect::to(back.as_str())
    }

    /// Checks the client and the PKCE verifier, then answers with the ID token as forged.
    async fn token(
        State(this): State<Arc<Self>>,
        headers: axum::http::HeaderMap,
        axum::Form(form): axum::Form<HashMap<String, String>>,
    ) -> axum::response::Response {
        let code = form.get("code").cloned().unwrap_or_default();
        let Some((nonce, challenge)) = this.asked.lock().unwrap().get(&code).cloned() else {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "invalid_grant"})),
            )
                .into_response();
        };
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        let client = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            CLIENT_ID,
            url::form_urlencoded::byte_serialize(CLIENT_SECRET.as_bytes()).collect::<String>()
        ));
        let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
            == Some(&format!("Basic {client}"));
        use sha2::Digest;
        if !authorized || b64(&sha2::Sha256::digest(verifier.as_bytes())) != challenge {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "invalid_grant"})),
            )
                .into_response();
        }
        let forgery = *this.forgery.lock().unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut claims = json!({
            "iss": this.issuer, "aud": CLIENT_ID, "sub": "forged-subject", "iat": now,
            "exp": now + 300, "nonce": nonce, "email": "fiona@forged.example",
            "email_verified": true, "name": "Fiona Forged",
        });
        match forgery {
            Forgery::WrongAudience => claims["aud"] = json!("another-client"),
            Forgery::Expired => claims["exp"] = json!(now - 600),
            Forgery::OtherNonce => claims["nonce"] = json!("a-nonce-from-another-sign-in"),
            Forgery::OtherIssuer => claims["iss"] = json!("https://issuer.elsewhere.example"),
            Forgery::Nothing | Forgery::Unsigned | Forgery::BadSignature => {}
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(FORGED_KID.to_owned());
        let id_token = match forgery {
            Forgery::Unsigned => format!(
                "{}.{}.",
                b64(br#"{"alg":"none","typ":"JWT"}"#),
                b64(claims.to_string().as_bytes())
            ),
            Forgery::BadSignature => jsonwebtoken::encode(&header, &claims, &this.rogue).unwrap(),
            _ => jsonwebtoken::encode(&header, &claims, &this.key).unwrap(),
        };
        axum::Json(json!({"id_token": id_token, "access_token": "opaque", "token_type": "Bearer"}))
            .into_response()
    }
}

#[tokio::test]
async fn id_tokens_that_cannot_be_trusted_are_refused() {
    let forging = ForgingProvider::start().await;
    let (listener, _) = TestApp::reserve().await;
    let issuer = forging.issuer.clone();
    let app = TestApp::spawn_listening(listener, move |config| {
        config.oidc_providers = vec![provider("forged", "Forging Provider", &issuer)];
    })
    .await;
    let sign_in = |forgery: Forgery| {
        let (app, forging) = (&app, &forging);
        async move {
            *forging.forgery.lock().unwrap() = forgery;
            let browser = new_client();
            let authorize = start(app, &browser, "forged").await;
            let back = browser.get(&authorize).send().await.unwrap();
            browser.get(location(&back)).send().await.unwrap()
        }
    };
    // The provider itself works: an honest token signs in.
    let honest = sign_in(Forgery::Nothing).await;
    assert_eq!(location(&honest), "/account");
    assert!(sets_session(&honest));

    for (forgery, says) in [
        (Forgery::WrongAudience, "meant for another client"),
        (Forgery::Expired, "has expired"),
        (Forgery::Unsigned, "is not signed"),
        (Forgery::BadSignature, "signature does not verify"),
        (
            Forgery::OtherNonce,
            "nonce is not the one this sign-in sent",
        ),
        (Forgery::OtherIssuer, "issued by another issuer"),
    ] {
        let response = sign_in(forgery).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{forgery:?}");
        assert!(!sets_session(&response), "{forgery:?}");
        let page = Page::new(&response.text().await.unwrap());
        assert!(
            page.source.contains(says),
            "{forgery:?}: {}",
            page.texts("main p").join(" | ")
        );
    }
    let sessions: i64 = sqlx::query_scalar("select count(*) from sessions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(sessions, 1, "only the honest token made a session");
}

#[tokio::test]
async fn without_local_accounts_only_the_provider_signs_in() {
    let forging = ForgingProvider::start().await;
    let (listener, _) = TestApp::reserve().await;
    let issuer = forging.issuer.clone();
    let app = TestApp::spawn_listening(listener, move |config| {
        config.oidc_providers = vec![provider("forged", "Forging Provider", &issuer)];
        config.local_accounts = false;
    })
    .await;
    app.add_user("local@example.org", "Lou Local").await;
    let page = app.page("/sign-in").await;
    assert!(page.texts("#password").is_empty(), "no password form");
    assert_eq!(
        page.text("#institution-sign-in a"),
        "Sign in with Forging Provider"
    );
    let response = app
        .sign_in_with(&new_client(), "local@example.org", PASSWORD)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    for path in ["/register", "/forgot-password"] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let browser = new_client();
    let authorize = start(&app, &browser, "forged").await;
    let back = browser.get(&authorize).send().await.unwrap();
    let response = browser.get(location(&back)).send().await.unwrap();
    assert_eq!(location(&response), "/account");
}

#[tokio::test]
async fn a_first_sign_in_finished_many_times_at_once_makes_one_account() {
    let forging = ForgingProvider::start().await;
    let (listener, _) = TestApp::reserve().await;
    let issuer = forging.issuer.clone();
    let app = TestApp::spawn_listening(listener, move |config| {
        config.oidc_providers = vec![provider("forged", "Forging Provider", &issuer)];
        config.db_max_connections = 14;
    })
    .await;
    // The same new person in twelve browsers, each back from the provider; then all at once.
    let mut returns = Vec::new();
    for _ in 0..12 {
        let browser = new_client();
        let authorize = start(&app, &browser, "forged").await;
        let back = browser.get(&authorize).send().await.unwrap();
        returns.push((browser, location(&back)));
    }
    let finished = futures_util::future::join_all(
        returns
            .iter()
            .map(|(browser, url)| async move { browser.get(url).send().await.unwrap() }),
    )
    .await;
    for response in &finished {
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert!(sets_session(response));
    }
    let accounts: i64 =
        sqlx::query_scalar("select count(*) from users where email = 'fiona@forged.example'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let identities: i64 = sqlx::query_scalar("select count(*) from oidc_identities")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!((accounts, identities), (1, 1));
}
