//! Ferry over HTTP.
//!
//! For now: the health endpoints every deployment needs (`/healthz`, `/readyz`) and the
//! credentials code (password hashing, API tokens). The JSON API and the web pages are added
//! here, as thin handlers over the domain and the store.
//!
//! Invariant: this is the only crate that knows HTTP.

pub mod auth;
mod health;
mod home;

use std::sync::Arc;

use axum::Router;
use ferry_storage::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
}

/// All of Ferry's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(home::routes())
        .merge(health::routes())
        .with_state(state)
}

/// Serves Ferry on a bound listener until `shutdown` completes, then lets requests in flight
/// finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
