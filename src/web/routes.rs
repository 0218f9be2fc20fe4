//! A router that also keeps a table of its routes (method and path), so that tests can check every
//! route against the authorization table and none is forgotten.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, patch, post};

use crate::web::AppState;

/// One route: a method, a path template such as `/datasets/{slug}`, and whether the admin guard
/// stands in front of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteEntry {
    pub method: Method,
    pub path: &'static str,
    pub admin_only: bool,
}

/// The application's routes and their table.
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    /// Routes behind the administrators' guard.
    admin: Router<AppState>,
    table: Vec<RouteEntry>,
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    fn add(mut self, method: Method, path: &'static str, route: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, route);
        self.table.push(RouteEntry {
            method,
            path,
            admin_only: false,
        });
        self
    }

    pub fn get<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::GET, path, get(handler))
    }

    pub fn post<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::POST, path, post(handler))
    }

    pub fn patch<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::PATCH, path, patch(handler))
    }

    pub fn delete<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::DELETE, path, delete(handler))
    }

    /// A route whose method router is built by hand (for example with its own body limit).
    pub fn custom(self, method: Method, path: &'static str, route: MethodRouter<AppState>) -> Self {
        self.add(method, path, route)
    }

    /// Adds another set of routes.
    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.admin = self.admin.merge(other.admin);
        self.table.extend(other.table);
        self
    }

    /// Adds routes that only administrators may use: the guard is applied to all of them as one route
    /// layer when the router is built.
    pub fn admin(mut self, other: Routes) -> Self {
        self.admin = self.admin.merge(other.router).merge(other.admin);
        self.table
            .extend(other.table.into_iter().map(|entry| RouteEntry {
                admin_only: true,
                ..entry
            }));
        self
    }

    /// Every route, sorted.
    pub fn table(&self) -> Vec<RouteEntry> {
        let mut table = self.table.clone();
        table.sort();
        table
    }

    /// The router, with the admin guard in front of the administrators' routes.
    pub fn into_router(self, state: &AppState) -> Router<AppState> {
        let guard = axum::middleware::from_extractor_with_state::<
            crate::web::extract::AdminUser,
            AppState,
        >(state.clone());
        if self.table.iter().any(|entry| entry.admin_only) {
            self.router.merge(self.admin.route_layer(guard))
        } else {
            self.router
        }
    }
}
