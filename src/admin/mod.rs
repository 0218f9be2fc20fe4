//! The administrators' pages. Every route here sits behind the admin guard (a route layer), so no
//! handler can forget the check.

pub mod users;

use crate::web::routes::Routes;

/// The administrators' routes; [`Routes::admin`] puts them behind the guard.
pub fn routes() -> Routes {
    Routes::new()
        .get("/admin", users::dashboard)
        .get("/admin/users", users::list)
        .get("/admin/users/{id}", users::show)
        .post("/admin/users/{id}/disable", users::disable)
        .post("/admin/users/{id}/enable", users::enable)
        .post("/admin/users/{id}/admin", users::set_admin)
}
