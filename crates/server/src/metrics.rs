//! Operator signals (docs/operations.md): `/metrics` in the Prometheus text format. Every crate
//! records through the `metrics` facade (jobs, Partner Center calls, dataset rows and findings,
//! e-mail); this module installs the process's exporter, counts HTTP requests by route template,
//! and at each scrape reads the job queue's gauges from the store.
//!
//! Reachable only with the metrics token (`Authorization: Bearer …`), or on the separate
//! metrics address, which serves nothing else. No label carries marketplace data: routes are
//! templates (`/m/:slug/companies/:id`), and the rest are job kinds, outcomes and codes.

use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ferry_storage::Store;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sha2::{Digest, Sha256};

use crate::AppState;

/// Seconds, from a fast page to a long Get Hierarchy.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
];

static EXPORTER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's exporter, once; what was recorded before is not kept.
pub fn install() -> PrometheusHandle {
    EXPORTER
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .and_then(PrometheusBuilder::install_recorder)
                .unwrap_or_else(|error| {
                    tracing::warn!(%error, "metrics are not recorded");
                    PrometheusBuilder::new().build_recorder().handle()
                })
        })
        .clone()
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape_with_token))
}

/// `/metrics` beside the pages: the metrics token, or nothing (not found while none is set).
async fn scrape_with_token(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = &state.metrics_token else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Compared as digests, so the time taken says nothing of how much of it matched.
    if Sha256::digest(given.as_bytes()) != Sha256::digest(expected.as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "the metrics token is missing or wrong\n",
        )
            .into_response();
    }
    scrape(&*state.store).await
}

/// The metrics address's router: `/metrics` and nothing else, without a token.
pub fn router(store: std::sync::Arc<dyn Store>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let store = store.clone();
            async move { scrape(&*store).await }
        }),
    )
}

async fn scrape(store: &dyn Store) -> Response {
    let exporter = install();
    if let Err(error) = queue_gauges(store).await {
        tracing::warn!(%error, "the job queue's gauges were not read");
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        exporter.render(),
    )
        .into_response()
}

/// Jobs queued and running by kind, the oldest queued job's wait, and the scheduler's lag.
async fn queue_gauges(store: &dyn Store) -> Result<(), ferry_storage::StoreError> {
    static SEEN: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());
    let gauges = store.queue_gauges(ferry_storage::now()).await?;
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // A kind that stopped waiting goes back to zero rather than keep its last count.
    for (kind, state) in seen.iter() {
        let labels = [("kind", kind.clone()), ("state", state.clone())];
        metrics::gauge!("ferry_jobs", &labels).set(0.0);
    }
    for (kind, state, count) in gauges.jobs {
        let labels = [("kind", kind.clone()), ("state", state.clone())];
        metrics::gauge!("ferry_jobs", &labels).set(count as f64);
        seen.insert((kind, state));
    }
    let seconds = |ms: Option<i64>| ms.unwrap_or(0).max(0) as f64 / 1000.0;
    metrics::gauge!("ferry_jobs_oldest_queued_seconds").set(seconds(gauges.oldest_queued_ms));
    metrics::gauge!("ferry_scheduler_lag_seconds").set(seconds(gauges.most_overdue_schedule_ms));
    Ok(())
}

/// Counts every request by method, route template and status, with its latency.
pub async fn track_requests(request: Request, next: Next) -> Response {
    // Written `:name` rather than `{name}`, which some Prometheus tools misread in a label.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_owned(), |p| {
            p.as_str().replace('{', ":").replace('}', "")
        });
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("ferry_http_requests_total", &labels).increment(1);
    metrics::histogram!("ferry_http_request_duration_seconds", &labels[..2])
        .record(started.elapsed().as_secs_f64());
    response
}
