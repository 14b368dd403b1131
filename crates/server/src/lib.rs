//! Ferry over HTTP: the web pages, the JSON API under `/api/v1`, and the health endpoints.
//!
//! Invariants:
//! - The only crate that knows HTTP. Handlers are thin: parse, authorise, call the domain and
//!   the store, render.
//! - Every page under `/m/{slug}` and every API route goes through [`web::Scope`] or
//!   [`api::ApiScope`], which check the marketplace; each handler then checks its permission.
//!   A record of another marketplace answers 404, as if it did not exist.
//! - Every state-changing form carries a CSRF token, checked by one middleware for all pages.
//! - The API accepts bearer tokens only, never the session cookie.

mod api;
mod assets;
mod csrf;
mod error;
mod headers;
mod health;
pub mod limits;
pub mod metrics;
mod pages;
mod request_id;
mod shared;
mod web;

use std::sync::Arc;

use axum::Router;
use ferry_storage::Store;
use ferry_storage::seal::Sealer;
use ferry_tenants::Clients;

pub use api::openapi_document;
pub use csrf::session_token as csrf_token_of_session;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// The address people reach Ferry at, for links in e-mail (`http://127.0.0.1:8080`).
    pub public_url: String,
    /// Whether cookies are marked `Secure` (when Ferry is served over HTTPS).
    pub secure_cookies: bool,
    /// Seals and opens secrets kept in the store.
    pub sealer: Sealer,
    /// One Partner Center client per instance.
    pub clients: Clients,
    /// What requests without an account may cost.
    pub limits: Arc<limits::Limits>,
    /// Whether Partner Center instances may point at this machine (emulators); otherwise only
    /// at Microsoft's services.
    pub partner_center_local: bool,
    /// Whether e-mail leaves by SMTP; otherwise it stays in the outbox, and pages say so.
    pub sends_mail: bool,
    /// The token `/metrics` asks for; none: `/metrics` is not served beside the pages.
    pub metrics_token: Option<String>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        public_url: String,
        secure_cookies: bool,
        sealer: Sealer,
    ) -> Self {
        AppState {
            store,
            public_url,
            secure_cookies,
            sealer,
            clients: Clients::default(),
            limits: Arc::default(),
            partner_center_local: false,
            sends_mail: false,
            metrics_token: None,
        }
    }
}

/// All of Ferry's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(pages::routes(state.clone()))
        .merge(api::routes())
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(assets::routes())
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::keep_navigation,
        ))
        .layer(axum::middleware::from_fn(headers::security_headers))
        .layer(axum::middleware::from_fn(metrics::track_requests))
        .layer(axum::middleware::from_fn(request_id::assign))
        .with_state(state)
}

/// Serves Ferry on a bound listener until `shutdown` completes, then lets requests in flight
/// finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address keys the rate limits of `limits`.
    let service = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}
