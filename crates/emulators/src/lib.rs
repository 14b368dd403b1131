//! Local stand-ins for the services Ferry talks to, faithful to the subset Ferry uses:
//! Microsoft Partner Center ([`partner_center`]) and the Google Admin Directory API
//! ([`google`]). Tests, benchmarks and the demo run against them; Ferry's clients are written
//! against the specification (`shared/docs/reference/partner-center-api.md`), not against these.
//!
//! Invariant: nothing here depends on the rest of Ferry. Each emulator builds a deterministic
//! world from a seed, serves it over HTTP with optional faults, and lets tests change it and
//! read request counters through an admin API under `/_admin/`.

pub mod faults;
pub mod google;
pub mod partner_center;
mod rng;

pub use faults::Faults;

/// The token of an `Authorization: Bearer …` header, as both services read it.
fn bearer_token(parts: &axum::http::request::Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Serves an emulator's router on a bound listener until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves a router on a free port of this machine for as long as the process runs; its address.
pub async fn serve_locally(router: axum::Router) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(serve(listener, router, std::future::pending()));
    Ok(url)
}
