//! Liveness and readiness, for load balancers and orchestrators.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// 200 whenever the process can answer at all.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// How long readiness waits for the database's write lock: a request that waits longer is
/// as good as not answered.
const WRITE_WAIT: Duration = Duration::from_secs(2);

/// 200 when the database answers, has every migration this build knows and takes a write
/// within [`WRITE_WAIT`]; 503 otherwise, with the reason.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let not_ready = |reason: &str| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "reason": reason })),
        )
    };
    match tokio::time::timeout(WRITE_WAIT, state.store.take_write_lock()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check failed");
            return not_ready("the database cannot be reached");
        }
        Err(_) => {
            return not_ready(
                "the database did not take a write within 2 s: another writer holds it",
            );
        }
    }
    match state.store.pending_migrations().await {
        Ok(0) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Ok(pending) => not_ready(&format!(
            "{pending} database migration(s) not applied; run `ferry migrate`"
        )),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            not_ready("the database cannot be reached")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::Request;
    use ferry_storage::Store;
    use tower::ServiceExt;

    use crate::{AppState, router};

    async fn status(store: Arc<dyn Store>, path: &str) -> u16 {
        let request = Request::get(path).body(Body::empty()).expect("request");
        let response = router(AppState::new(
            store,
            "http://127.0.0.1".into(),
            false,
            ferry_storage::seal::Sealer::from_hex(&"0".repeat(64)).expect("key"),
        ))
        .oneshot(request)
        .await
        .expect("response");
        response.status().as_u16()
    }

    #[tokio::test]
    async fn ready_only_once_migrated() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = ferry_storage::testing::sqlite_url(dir.path());
        let store = ferry_storage::connect(&url).await.expect("connect");
        assert_eq!(status(store.clone(), "/healthz").await, 200);
        assert_eq!(status(store.clone(), "/readyz").await, 503);
        store.migrate().await.expect("migrate");
        assert_eq!(status(store, "/readyz").await, 200);
    }

    #[tokio::test]
    async fn not_ready_while_another_process_holds_the_write_lock() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = ferry_storage::testing::sqlite_url(dir.path());
        let store = ferry_storage::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let other = sqlx::SqlitePool::connect(&url).await.expect("connect");
        let writing = other.begin_with("BEGIN IMMEDIATE").await.expect("lock");
        assert_eq!(status(store.clone(), "/readyz").await, 503);
        writing.rollback().await.expect("release");
        assert_eq!(status(store, "/readyz").await, 200);
    }
}
