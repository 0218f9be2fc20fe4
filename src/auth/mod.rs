//! Accounts: registration, e-mail confirmation and password reset, sessions, throttling, roles, the
//! researcher's profile and credentials, personal API tokens, and who is asking.

pub mod account;
pub mod db;
pub mod extract;
pub mod handlers;
pub mod mails;
pub mod model;
pub mod password;
pub mod session;
pub mod throttle;

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::post;

use crate::web::routes::Routes;
use crate::web::upload::MAX_UPLOAD_REQUEST_BYTES;

pub fn routes() -> Routes {
    Routes::new()
        .get("/sign-in", handlers::sign_in_form)
        .post("/sign-in", handlers::sign_in)
        .post("/sign-out", handlers::sign_out)
        .get("/register", handlers::register_form)
        .post("/register", handlers::register)
        .get("/verify-email", handlers::verify_email_form)
        .post("/verify-email", handlers::verify_email)
        .get("/verify-email/resend", handlers::resend_verification_form)
        .post("/verify-email/resend", handlers::resend_verification)
        .get("/forgot-password", handlers::forgot_password_form)
        .post("/forgot-password", handlers::forgot_password)
        .get("/reset-password", handlers::reset_password_form)
        .post("/reset-password", handlers::reset_password)
        .get("/privacy", account::privacy)
        .get("/account", account::account)
        .get("/account/profile", account::profile_form)
        .post("/account/profile", account::update_profile)
        .get("/account/password", account::password_form)
        .post("/account/password", account::change_password)
        .post("/account/sign-out-everywhere", account::sign_out_everywhere)
        .get("/account/export.json", account::export)
        .get("/account/close", account::close_form)
        .post("/account/close", account::close)
        .get("/account/credentials", account::credentials)
        .custom(
            Method::POST,
            "/account/credentials",
            post(account::add_credential).layer(DefaultBodyLimit::max(MAX_UPLOAD_REQUEST_BYTES)),
        )
        .post(
            "/account/credentials/{id}/delete",
            account::delete_credential,
        )
        .get("/credentials/{id}/evidence", account::evidence)
        .get("/account/tokens", account::tokens)
        .post("/account/tokens", account::create_token)
        .post("/account/tokens/{id}/revoke", account::revoke_token)
}
