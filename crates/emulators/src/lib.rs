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
