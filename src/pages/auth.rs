//! Signing in (the password, then the code of a second factor when the account has one) and out,
//! registering, confirming an e-mail address and resetting a forgotten password.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::auth::account::{check_new_password, check_profile};
use crate::auth::db::{self, TokenPurpose, VERIFY_EMAIL_LINK_HOURS};
use crate::auth::model::{Email, Role};
use crate::auth::registration::{self, Outcome, Registration};
use crate::auth::sign_in::{self, Attempt, SignIn};
use crate::auth::throttle::Action;
use crate::auth::two_factor::{self, CodeAttempt, Proven, SecondStep};
use crate::auth::{password, session};
use crate::error::AppError;
use crate::validation::FieldErrors;
use crate::web::extract::{ClientAddr, MaybeUser, session_token};
use crate::web::{AppState, Layout, Nav, Notice, render};

#[derive(Template)]
#[template(path = "auth/sign_in.html")]
pub struct SignInPage {
    pub layout: Layout,
    pub email: String,
    pub next: String,
    pub error: Option<String>,
    /// After a correct password on an unconfirmed address: offer to send the link again.
    pub unverified: bool,
    /// Whether accounts with a password here may sign in.
    pub local_accounts: bool,
    /// The institutions' providers: (id, name).
    pub providers: Vec<(String, String)>,
}

impl SignInPage {
    fn new(state: &AppState, email: &str, next: String) -> Self {
        Self {
            layout: Layout::new("Sign in", Nav::None),
            email: email.to_owned(),
            next,
            error: None,
            unverified: false,
            local_accounts: state.config.local_accounts,
            providers: state
                .config
                .oidc_providers
                .iter()
                .map(|provider| (provider.id.clone(), provider.name.clone()))
                .collect(),
        }
    }

    /// `next=…` for the providers' links, encoded.
    fn next_query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &self.next)
            .finish()
    }
}

/// Refuses what only accounts with a password here do, when the operator turned those off.
fn local_accounts_on(state: &AppState) -> Result<(), AppError> {
    if state.config.local_accounts {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "This portal signs people in through their institution only; it keeps no passwords. \
             Please use your institution's sign-in on the sign-in page."
                .to_owned(),
        ))
    }
}

#[derive(Deserialize)]
pub struct SignInParams {
    next: Option<String>,
}

/// Where someone lands after signing in with nowhere to return to: reviewers on their queue,
/// administrators on the overview, everyone else on their account page.
fn landing(role: Role) -> &'static str {
    match role {
        Role::Admin => "/admin",
        Role::Reviewer => "/review",
        Role::Researcher => "/account",
    }
}

/// Where a sign-in finished in a later step (a second factor, an institution) goes: the page to
/// return to, or else the landing page of the role of whoever the new session belongs to.
pub async fn after_second_step(
    state: &AppState,
    session: &str,
    next: &str,
) -> Result<String, AppError> {
    let role = session::user(&state.db, session)
        .await?
        .map_or(Role::Researcher, |user| user.role());
    Ok(safe_next(Some(next), role))
}

/// Only a path on this site may be returned to after signing in; without one, the role's landing
/// page.
fn safe_next(next: Option<&str>, role: Role) -> String {
    crate::web::redirect::safe_next(next.filter(|next| !next.is_empty()), landing(role))
}

/// `GET /sign-in`: the form, or straight on for someone already signed in. Without a `next`, the page
/// of this site that linked here is returned to.
pub async fn sign_in_form(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Query(params): Query<SignInParams>,
    headers: HeaderMap,
    notice: Option<Notice>,
) -> Result<Response, AppError> {
    let next = params
        .next
        .filter(|next| !next.is_empty())
        .or_else(|| crate::web::redirect::came_from(&headers));
    if let Some(user) = user {
        return Ok(Redirect::to(&safe_next(next.as_deref(), user.role())).into_response());
    }
    // Kept as asked (or empty): the landing depends on who signs in.
    let next = next
        .map(|next| crate::web::redirect::safe_next(Some(&next), ""))
        .unwrap_or_default();
    let mut page = SignInPage::new(&state, "", next);
    page.layout = page.layout.with_notice(notice);
    render(&page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SignInForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// `POST /sign-in`: signs in and returns to `next`, or shows why not.
pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, AppError> {
    local_accounts_on(&state)?;
    let next = crate::web::redirect::safe_next(form.next.as_deref(), "");
    let mut page = SignInPage::new(&state, form.email.trim(), next.clone());
    let attempt = Attempt {
        email: &form.email,
        password: form.password,
        client: &client,
        old_session: session_token(&headers),
        next: &next,
    };
    let status = match sign_in::sign_in(&state.db, attempt).await? {
        SignIn::SignedIn { session, role } => {
            return Ok((
                [(
                    header::SET_COOKIE,
                    session::cookie(&session, state.is_https()),
                )],
                Redirect::to(&safe_next(Some(&next), role)),
            )
                .into_response());
        }
        SignIn::SecondFactor { challenge } => {
            return Ok((
                [(
                    header::SET_COOKIE,
                    two_factor::challenge_cookie(&challenge, state.is_https()),
                )],
                Redirect::to("/sign-in/code"),
            )
                .into_response());
        }
        SignIn::Throttled => {
            page.error = Some(Action::SignIn.message());
            StatusCode::TOO_MANY_REQUESTS
        }
        SignIn::WrongCredentials => {
            page.error = Some("The e-mail address or the password is not right.".to_owned());
            StatusCode::UNAUTHORIZED
        }
        SignIn::Disabled => {
            page.error = Some(
                "This account has been disabled by the portal's administrators. Please contact them."
                    .to_owned(),
            );
            StatusCode::FORBIDDEN
        }
        SignIn::Unverified => {
            page.error = Some(
                "Please confirm your e-mail address first: follow the link we sent you.".to_owned(),
            );
            page.unverified = true;
            StatusCode::FORBIDDEN
        }
    };
    Ok((status, render(&page)?).into_response())
}

#[derive(Template)]
#[template(path = "auth/sign_in_code.html")]
pub struct SignInCodePage {
    pub layout: Layout,
    pub error: Option<String>,
}

impl SignInCodePage {
    fn new(error: Option<String>) -> Self {
        Self {
            layout: Layout::new("Enter your code", Nav::None),
            error,
        }
    }
}

/// The token of the sign-in waiting for its code, from the request's cookies.
fn challenge_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(two_factor::challenge_from_cookies)
}

/// Back to the password, saying why; the stale cookie goes.
fn sign_in_expired(state: &AppState) -> Response {
    (
        [(
            header::SET_COOKIE,
            two_factor::clearing_challenge_cookie(state.is_https()),
        )],
        Redirect::to(&Notice::SignInExpired.on("/sign-in")),
    )
        .into_response()
}

/// `GET /sign-in/code`: the second step of a sign-in whose password was right.
pub async fn sign_in_code_form(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if user.is_some() {
        return Ok(Redirect::to("/account").into_response());
    }
    let waiting = match challenge_token(&headers) {
        Some(token) => two_factor::challenge(&state.db, token).await?.is_some(),
        None => false,
    };
    if !waiting {
        return Ok(sign_in_expired(&state));
    }
    render(&SignInCodePage::new(None))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

/// What a page says about a refused code.
pub fn code_refusal(refusal: &Proven<()>) -> (StatusCode, String) {
    match refusal {
        Proven::Throttled => (
            StatusCode::TOO_MANY_REQUESTS,
            Action::SecondFactor.message(),
        ),
        Proven::ReusedCode => (
            StatusCode::UNAUTHORIZED,
            "That code was already used. Wait for your app to show the next one, or use another \
             recovery code."
                .to_owned(),
        ),
        _ => (
            StatusCode::UNAUTHORIZED,
            "That code is not right. Enter the six digits your app shows now, or one of your \
             recovery codes."
                .to_owned(),
        ),
    }
}

/// `POST /sign-in/code`: completes the sign-in with a code from the app or a recovery code.
pub async fn sign_in_code(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    let Some(challenge) = challenge_token(&headers) else {
        return Ok(sign_in_expired(&state));
    };
    let attempt = CodeAttempt {
        challenge,
        code: &form.code,
        client: &client,
        old_session: session_token(&headers),
    };
    match two_factor::complete_sign_in(&state.db, state.config.secret_key.as_ref(), attempt).await?
    {
        SecondStep::Expired => Ok(sign_in_expired(&state)),
        SecondStep::SignedIn { session, next } => Ok((
            AppendHeaders([
                (
                    header::SET_COOKIE,
                    session::cookie(&session, state.is_https()),
                ),
                (
                    header::SET_COOKIE,
                    two_factor::clearing_challenge_cookie(state.is_https()),
                ),
            ]),
            Redirect::to(&after_second_step(&state, &session, &next).await?),
        )
            .into_response()),
        SecondStep::Refused(refusal) => {
            let (status, message) = code_refusal(&refusal);
            Ok((status, render(&SignInCodePage::new(Some(message)))?).into_response())
        }
    }
}

/// `POST /sign-out`: ends this browser's session; one signed in through a provider is offered the
/// provider's sign-out too.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let mut signed_in_through = None;
    if let Some(token) = session_token(&headers) {
        signed_in_through = session::end(&state.db, token).await?;
    }
    let clearing = [(
        header::SET_COOKIE,
        session::clearing_cookie(state.is_https()),
    )];
    // A session from an institution's provider can end there too, when the provider offers that. A
    // link, not a redirect: browsers do not follow a form's redirect to another origin under the
    // portal's `form-action 'self'` policy.
    if let Some(provider) = signed_in_through
        .as_deref()
        .and_then(|id| state.config.oidc_provider(id))
        && let Some(url) =
            crate::auth::oidc::sign_out_url(&state.oidc, provider, &state.config.base_url).await
    {
        let name = &provider.name;
        let page = MessagePage::new(
            "You are signed out",
            vec![format!(
                "You are signed out of the portal, but still signed in at {name}, which other sites may use too. On a shared computer, sign out there as well."
            )],
            Some((&url, &format!("Sign out at {name} too"))),
        );
        return Ok((clearing, render(&page)?).into_response());
    }
    Ok((clearing, Redirect::to("/")).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RegisterForm {
    pub name: String,
    pub email: String,
    pub institution: String,
    pub orcid: String,
    pub password: String,
    pub password_confirm: String,
}

#[derive(Template)]
#[template(path = "auth/register.html")]
pub struct RegisterPage {
    pub layout: Layout,
    pub form: RegisterForm,
    pub errors: FieldErrors,
    pub error: Option<String>,
    pub min_length: usize,
}

impl RegisterPage {
    fn new(form: RegisterForm, errors: FieldErrors) -> Self {
        Self {
            layout: Layout::new("Create an account", Nav::None),
            form: RegisterForm {
                password: String::new(),
                password_confirm: String::new(),
                ..form
            },
            errors,
            error: None,
            min_length: password::MIN_LENGTH,
        }
    }
}

#[derive(Template)]
#[template(path = "auth/message.html")]
pub struct MessagePage {
    pub layout: Layout,
    pub heading: String,
    pub paragraphs: Vec<String>,
    /// A link to go on with: (href, text).
    pub link: Option<(String, String)>,
}

impl MessagePage {
    /// A page with a heading, paragraphs and an optional link to go on with.
    pub fn new(heading: &str, paragraphs: Vec<String>, link: Option<(&str, &str)>) -> Self {
        Self {
            layout: Layout::new(heading, Nav::None),
            heading: heading.to_owned(),
            paragraphs,
            link: link.map(|(href, text)| (href.to_owned(), text.to_owned())),
        }
    }
}

/// `GET /register`: the registration form.
pub async fn register_form(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
) -> Result<Response, AppError> {
    local_accounts_on(&state)?;
    if user.is_some() {
        return Ok(Redirect::to("/account").into_response());
    }
    render(&RegisterPage::new(
        RegisterForm::default(),
        FieldErrors::default(),
    ))
}

/// `POST /register`: creates the account (or mails its owner) and says to check the inbox.
pub async fn register(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Form(mut form): Form<RegisterForm>,
) -> Result<Response, AppError> {
    local_accounts_on(&state)?;
    let mut errors = FieldErrors::default();
    let email = match Email::parse(&form.email) {
        Ok(email) => Some(email),
        Err(_) => {
            errors.add("email", "Enter an e-mail address like name@example.org.");
            None
        }
    };
    let orcid = check_profile(&form.name, &form.institution, &form.orcid, &mut errors);
    check_new_password(
        &form.password,
        &form.password_confirm,
        &form.email,
        &form.name,
        &mut errors,
    );
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        let page = RegisterPage::new(form, errors);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    let registration = Registration {
        email: &email,
        name: form.name.trim(),
        institution: form.institution.trim(),
        orcid: orcid.as_deref(),
        password: std::mem::take(&mut form.password),
    };
    let outcome =
        registration::register(&state.db, &state.config.base_url, &client, registration).await?;
    if outcome == Outcome::Throttled {
        let mut page = RegisterPage::new(form, errors);
        page.error = Some(Action::Register.message());
        return Ok((StatusCode::TOO_MANY_REQUESTS, render(&page)?).into_response());
    }
    // Whether or not the address already had an account, the page says the same; only the mail differs.
    render(&MessagePage::new(
        "Check your inbox",
        vec![
            format!(
                "We sent a message to {email}. Follow the link in it to confirm your address; then you can sign in."
            ),
            format!(
                "The link works for {VERIFY_EMAIL_LINK_HOURS} hours. If nothing arrives within a few minutes, check your spam folder or ask for a new link from the sign-in page."
            ),
        ],
        Some(("/sign-in", "Go to sign in")),
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenParam {
    token: String,
}

fn link_not_valid(what: &str, again: (&str, &str)) -> Result<Response, AppError> {
    let page = MessagePage::new(
        "This link does not work any more",
        vec![format!(
            "The {what} link is unknown, was already used, or has expired. Links work once, for a limited time."
        )],
        Some(again),
    );
    Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response())
}

#[derive(Template)]
#[template(path = "auth/confirm_email.html")]
pub struct ConfirmEmailPage {
    pub layout: Layout,
    pub token: String,
}

/// The link in the mail opens a page with a button, so that mail scanners that fetch links do not use
/// the token up.
pub async fn verify_email_form(
    State(state): State<AppState>,
    Query(params): Query<TokenParam>,
) -> Result<Response, AppError> {
    if db::email_token_user(&state.db, &params.token, TokenPurpose::VerifyEmail)
        .await?
        .is_none()
    {
        return link_not_valid("confirmation", ("/verify-email/resend", "Send a new link"));
    }
    render(&ConfirmEmailPage {
        layout: Layout::new("Confirm your e-mail address", Nav::None),
        token: params.token,
    })
}

/// `POST /verify-email`: confirms the address and sends the person to sign in.
pub async fn verify_email(
    State(state): State<AppState>,
    Form(form): Form<TokenParam>,
) -> Result<Response, AppError> {
    if !registration::verify_email(&state.db, &form.token).await? {
        return link_not_valid("confirmation", ("/verify-email/resend", "Send a new link"));
    }
    Ok(Redirect::to(&Notice::EmailVerified.on("/sign-in")).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailForm {
    email: String,
}

#[derive(Template)]
#[template(path = "auth/email_request.html")]
pub struct EmailRequestPage {
    pub layout: Layout,
    pub heading: &'static str,
    pub intro: &'static str,
    pub action: &'static str,
    pub email: String,
    pub errors: FieldErrors,
    pub error: Option<String>,
}

impl EmailRequestPage {
    fn forgot(email: String) -> Self {
        Self {
            layout: Layout::new("Reset your password", Nav::None),
            heading: "Reset your password",
            intro: "Enter the address you registered with. We will send a link to choose a new password; it works once, for one hour.",
            action: "/forgot-password",
            email,
            errors: FieldErrors::default(),
            error: None,
        }
    }

    fn resend(email: String) -> Self {
        Self {
            layout: Layout::new("Send a new confirmation link", Nav::None),
            heading: "Send a new confirmation link",
            intro: "Enter the address you registered with. If it still needs confirming, we will send a new link.",
            action: "/verify-email/resend",
            email,
            errors: FieldErrors::default(),
            error: None,
        }
    }
}

/// `GET /forgot-password`: asks for the address to send a reset link to.
pub async fn forgot_password_form(State(state): State<AppState>) -> Result<Response, AppError> {
    local_accounts_on(&state)?;
    render(&EmailRequestPage::forgot(String::new()))
}

/// `GET /verify-email/resend`: asks for the address to send a new confirmation link to.
pub async fn resend_verification_form(State(state): State<AppState>) -> Result<Response, AppError> {
    local_accounts_on(&state)?;
    render(&EmailRequestPage::resend(String::new()))
}

/// Shared by "forgot password" and "send the confirmation link again": check the address, throttle,
/// and answer the same whether or not it has an account.
async fn email_link_request(
    state: &AppState,
    client: &str,
    mut page: EmailRequestPage,
    purpose: TokenPurpose,
) -> Result<Response, AppError> {
    local_accounts_on(state)?;
    let email = match Email::parse(&page.email) {
        Ok(email) => email,
        Err(_) => {
            page.errors
                .add("email", "Enter an e-mail address like name@example.org.");
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let outcome =
        registration::send_link(&state.db, &state.config.base_url, client, &email, purpose).await?;
    if outcome == Outcome::Throttled {
        page.error = Some(Action::EmailLink.message());
        return Ok((StatusCode::TOO_MANY_REQUESTS, render(&page)?).into_response());
    }
    render(&MessagePage::new(
        "Check your inbox",
        vec![format!(
            "If {email} has an account here that needs it, we have sent it a link. It works once and expires; check your spam folder if nothing arrives within a few minutes."
        )],
        Some(("/sign-in", "Back to sign in")),
    ))
}

/// `POST /forgot-password`: mails a reset link if the address has an account.
pub async fn forgot_password(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Form(form): Form<EmailForm>,
) -> Result<Response, AppError> {
    let page = EmailRequestPage::forgot(form.email.trim().to_owned());
    email_link_request(&state, &client, page, TokenPurpose::ResetPassword).await
}

/// `POST /verify-email/resend`: mails a new confirmation link if the address needs one.
pub async fn resend_verification(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Form(form): Form<EmailForm>,
) -> Result<Response, AppError> {
    let page = EmailRequestPage::resend(form.email.trim().to_owned());
    email_link_request(&state, &client, page, TokenPurpose::VerifyEmail).await
}

#[derive(Template)]
#[template(path = "auth/reset_password.html")]
pub struct ResetPasswordPage {
    pub layout: Layout,
    pub token: String,
    pub errors: FieldErrors,
    pub min_length: usize,
}

impl ResetPasswordPage {
    fn new(token: String, errors: FieldErrors) -> Self {
        Self {
            layout: Layout::new("Choose a new password", Nav::None),
            token,
            errors,
            min_length: password::MIN_LENGTH,
        }
    }
}

/// `GET /reset-password`: the new-password form of a live reset link.
pub async fn reset_password_form(
    State(state): State<AppState>,
    Query(params): Query<TokenParam>,
) -> Result<Response, AppError> {
    local_accounts_on(&state)?;
    if db::email_token_user(&state.db, &params.token, TokenPurpose::ResetPassword)
        .await?
        .is_none()
    {
        return link_not_valid("password reset", ("/forgot-password", "Ask for a new link"));
    }
    render(&ResetPasswordPage::new(
        params.token,
        FieldErrors::default(),
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ResetPasswordForm {
    token: String,
    password: String,
    password_confirm: String,
}

/// `POST /reset-password`: sets the new password and sends the person to sign in again.
pub async fn reset_password(
    State(state): State<AppState>,
    Form(form): Form<ResetPasswordForm>,
) -> Result<Response, AppError> {
    local_accounts_on(&state)?;
    let not_valid = || link_not_valid("password reset", ("/forgot-password", "Ask for a new link"));
    let Some(user) = registration::reset_link_user(&state.db, &form.token).await? else {
        return not_valid();
    };
    let mut errors = FieldErrors::default();
    check_new_password(
        &form.password,
        &form.password_confirm,
        &user.email,
        &user.name,
        &mut errors,
    );
    if !errors.is_empty() {
        let page = ResetPasswordPage::new(form.token, errors);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let reset = registration::reset_password(
        &state.db,
        &state.config.base_url,
        &user,
        &form.token,
        form.password,
    )
    .await?;
    if !reset {
        return not_valid();
    }
    Ok((
        [(
            header::SET_COOKIE,
            session::clearing_cookie(state.is_https()),
        )],
        Redirect::to(&Notice::PasswordReset.on("/sign-in")),
    )
        .into_response())
}
