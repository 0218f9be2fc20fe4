//! The pages of the site, one module per area, and the table of their routes. A page that combines
//! domains (the dataset page shows the catalog and the visitor's requests) composes them here.
//!
//! | area | module | templates |
//! |---|---|---|
//! | home, search, dataset and organization pages, CSV and DCAT | `catalog` | `templates/catalog/`, `templates/organizations/` |
//! | sign in (password, then a second factor) and out, registration, e-mail confirmation, password reset | `auth` | `templates/auth/` |
//! | the account page, profile, credentials, tokens, export, closing | `account` | `templates/auth/` |
//! | two-factor sign-in: setup, recovery codes, turning it off | `two_factor` | `templates/auth/two_factor*.html` |
//! | signing in through an institution's OpenID Connect provider | `oidc` | `templates/auth/message.html` |
//! | projects | `projects` | `templates/access/project*.html` |
//! | cart, requests, review | `requests` | `templates/access/` |
//! | my access, grants, agreements, notifications | `grants` | `templates/access/` |
//! | attachments and their downloads | `attachments` | — |
//! | `/healthz`, `/readyz` | `health` | — |

pub mod account;
pub mod attachments;
pub mod auth;
pub mod catalog;
pub mod grants;
pub mod health;
pub mod oidc;
pub mod projects;
pub mod requests;
pub mod two_factor;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::access::workflow::ActError;
use crate::web::ErrorPage;
use crate::web::routes::Routes;
use crate::web::upload::MAX_UPLOAD_REQUEST_BYTES;

/// Every page route outside `/admin` and `/api`.
pub fn routes() -> Routes {
    Routes::new()
        .merge(catalog_routes())
        .merge(auth_routes())
        .merge(access_routes())
        .get("/healthz", health::healthz)
        .get("/readyz", health::readyz)
}

fn catalog_routes() -> Routes {
    Routes::new()
        .get("/", catalog::home)
        .get("/datasets", catalog::list_datasets)
        .get("/datasets.csv", catalog::export_csv)
        .get("/catalog.jsonld", catalog::dcat_catalog)
        .get("/datasets/{slug}", catalog::show_dataset)
        .get("/organizations", catalog::list_organizations)
        .get("/organizations/{slug}", catalog::show_organization)
}

fn auth_routes() -> Routes {
    Routes::new()
        .get("/sign-in", auth::sign_in_form)
        .post("/sign-in", auth::sign_in)
        .get("/sign-in/oidc/{provider}", oidc::start)
        .get("/sign-in/oidc/{provider}/callback", oidc::callback)
        .get("/sign-in/code", auth::sign_in_code_form)
        .post("/sign-in/code", auth::sign_in_code)
        .post("/sign-out", auth::sign_out)
        .get("/register", auth::register_form)
        .post("/register", auth::register)
        .get("/verify-email", auth::verify_email_form)
        .post("/verify-email", auth::verify_email)
        .get("/verify-email/resend", auth::resend_verification_form)
        .post("/verify-email/resend", auth::resend_verification)
        .get("/forgot-password", auth::forgot_password_form)
        .post("/forgot-password", auth::forgot_password)
        .get("/reset-password", auth::reset_password_form)
        .post("/reset-password", auth::reset_password)
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
        .get(two_factor::PATH, two_factor::show)
        .post("/account/two-factor/setup", two_factor::begin_setup)
        .post("/account/two-factor/confirm", two_factor::confirm_setup)
        .post("/account/two-factor/disable", two_factor::disable)
        .post(
            "/account/two-factor/recovery-codes",
            two_factor::regenerate_recovery_codes,
        )
}

fn access_routes() -> Routes {
    Routes::new()
        .get("/cart", requests::cart)
        .post("/cart", requests::add)
        .post("/cart/remove", requests::remove)
        .post("/cart/submit", requests::submit)
        .get("/projects", projects::list)
        .get("/projects/new", projects::new_form)
        .post("/projects", projects::create)
        .get("/projects/{id}", projects::show)
        .get("/projects/{id}/edit", projects::edit_form)
        .post("/projects/{id}", projects::update)
        .custom(
            Method::POST,
            "/projects/{id}/irb-letter",
            post(projects::upload_letter).layer(DefaultBodyLimit::max(MAX_UPLOAD_REQUEST_BYTES)),
        )
        .get("/requests", requests::list)
        .get("/requests/{id}", requests::show)
        .post("/requests/{id}/review", requests::review)
        .post("/requests/{id}/applicant", requests::applicant)
        .custom(
            Method::POST,
            "/requests/{id}/attachments",
            post(requests::attach).layer(DefaultBodyLimit::max(MAX_UPLOAD_REQUEST_BYTES)),
        )
        .get("/attachments/{id}", attachments::download)
        .get("/review", requests::queue)
        .get("/access", grants::my_access)
        .post("/grants/{id}/revoke", grants::revoke)
        .post("/grants/{id}/renew", grants::renew)
        .post("/grants/{id}/reaccept", grants::reaccept)
        .get("/duas/{slug}", grants::dua)
        .get("/duas/{slug}/diff", grants::dua_diff)
        .get("/notifications", grants::notifications)
        .get("/notifications/{id}", grants::open_notification)
        .post("/notifications/read", grants::mark_read)
}

/// Refusals are pages that say what happened: 409 for a state or a race, 403 for a person who may not.
impl IntoResponse for ActError {
    fn into_response(self) -> Response {
        match self {
            Self::Conflict(message) | Self::Refused(message) => {
                ErrorPage::new(StatusCode::CONFLICT, message).into_response()
            }
            Self::Forbidden(message) => {
                ErrorPage::new(StatusCode::FORBIDDEN, message).into_response()
            }
            Self::App(error) => error.into_response(),
        }
    }
}
