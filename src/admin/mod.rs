//! The administrators' pages. Every route here sits behind the admin guard (a route layer), so no
//! handler can forget the check.

pub mod audit;
pub mod datasets;
pub mod governance;
pub mod grants;
pub mod health;
pub mod import;
pub mod organizations;
pub mod overview;
pub mod searches;
pub mod users;

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::post;

use crate::web::routes::Routes;
use crate::web::upload::MAX_UPLOAD_REQUEST_BYTES;

/// The administrators' routes; [`Routes::admin`] puts them behind the guard.
pub fn routes() -> Routes {
    Routes::new()
        .get("/admin", overview::page)
        .get("/admin/users", users::list)
        .get("/admin/users/{id}", users::show)
        .post("/admin/users/{id}/disable", users::disable)
        .post("/admin/users/{id}/enable", users::enable)
        .post("/admin/users/{id}/admin", users::set_admin)
        .get("/admin/committees", governance::committees)
        .post("/admin/committees", governance::create_committee)
        .get("/admin/committees/{id}", governance::committee)
        .post("/admin/committees/{id}", governance::update_committee)
        .post("/admin/committees/{id}/members", governance::add_member)
        .post(
            "/admin/committees/{id}/members/{user}/remove",
            governance::remove_member,
        )
        .post("/admin/committees/{id}/datasets", governance::govern)
        .get("/admin/datasets", datasets::list)
        .get("/admin/datasets/new", datasets::new_form)
        .post("/admin/datasets", datasets::create)
        .get("/admin/datasets/{slug}/edit", datasets::edit_form)
        .post("/admin/datasets/{slug}", datasets::update)
        .post("/admin/datasets/{slug}/status", datasets::set_status)
        .get("/admin/datasets/{slug}/history", datasets::history)
        .post("/admin/datasets/{slug}/restore", datasets::restore)
        .get("/admin/grants", grants::list)
        .get("/admin/organizations", organizations::list)
        .post("/admin/organizations", organizations::create)
        .get("/admin/organizations/{slug}", organizations::edit)
        .post("/admin/organizations/{slug}", organizations::update)
        .get("/admin/health", health::page)
        .get("/admin/searches", searches::page)
        .get("/admin/searches.csv", searches::csv)
        .get("/admin/import", import::form)
        .get("/admin/import/template.csv", import::template)
        .custom(
            Method::POST,
            "/admin/import",
            post(import::dry_run).layer(DefaultBodyLimit::max(MAX_UPLOAD_REQUEST_BYTES)),
        )
        .post("/admin/import/{id}/commit", import::commit)
        .get("/admin/audit", audit::page)
        .get("/admin/audit.csv", audit::csv)
        .get("/admin/agreements", governance::agreements)
        .post("/admin/agreements", governance::create_agreement)
        .get("/admin/agreements/{id}", governance::agreement)
        .post(
            "/admin/agreements/{id}/versions",
            governance::publish_version,
        )
}
