//! The route table: every route the server answers, with who may call it.
//!
//! Routes are added only through [`Routes::add`], which takes the route's [`Access`] next
//! to its handler, so the table cannot miss a route. The tenant-isolation and permission
//! tests walk [`super::table`]: a new lender route is tested the day it is added.

use crate::app::AppState;
use axum::http::Method;
use axum::routing::MethodRouter;
use axum::Router;
use lienlock_domain::Permission;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, the public IMEI check, the API document, the console's sign-in form
    /// and static assets.
    Public,
    /// A phone, authenticated by its signed request (or, for the key fetch, by nothing).
    Device,
    /// A lender's API key whose role has this permission.
    Lender(Permission),
    /// A signed-in console user whose role has this permission. A console form that does
    /// several things (a device's actions) checks each action's own permission; the table
    /// names the one its main action needs.
    Console(Permission),
}

impl Access {
    /// The permission, for lender and console routes.
    pub fn permission(self) -> Option<Permission> {
        match self {
            Access::Lender(p) | Access::Console(p) => Some(p),
            Access::Public | Access::Device => None,
        }
    }
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The method.
    pub method: Method,
    /// The path template, as routed (`/v1/devices/{id}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

/// A router and its table, built together.
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    table: Vec<Route>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl Routes {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `handler` for `method` at `path`. `handler` should answer only that method
    /// (`get(h)`, `post(h)`, ...); several methods on one path are several calls.
    pub fn add(
        mut self,
        method: Method,
        path: &'static str,
        access: Access,
        handler: MethodRouter<AppState>,
    ) -> Self {
        self.router = self.router.route(path, handler);
        self.table.push(Route {
            method,
            path,
            access,
        });
        self
    }

    /// Wraps every route added so far (and only those) in `layer`.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: tower::Service<axum::extract::Request> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Response:
            axum::response::IntoResponse + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Error:
            Into<std::convert::Infallible> + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
    {
        self.router = self.router.layer(layer);
        self
    }

    /// Adds another set of routes.
    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    /// The two halves.
    pub fn into_parts(self) -> (Router<AppState>, Vec<Route>) {
        (self.router, self.table)
    }
}
