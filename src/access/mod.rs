//! Access to controlled datasets: committees, agreements, projects, requests and their review, grants,
//! the hash-chained event log, attachments, notifications, and the time-driven jobs.

pub mod attachments;
pub mod db;
pub mod events;
pub mod example;
pub mod fit;
pub mod grants;
pub mod model;
pub mod projects;
pub mod requests;
pub mod state;
pub mod workflow;

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::post;

use crate::web::routes::Routes;
use crate::web::upload::MAX_UPLOAD_REQUEST_BYTES;

pub fn routes() -> Routes {
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
        .post("/notifications/read", grants::mark_read)
}
