//! Liveness and readiness, for load balancers and orchestrators.

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

/// 200 when the database answers and has every migration this build knows; 503 otherwise,
/// with the reason.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.store.pending_migrations().await {
        Ok(0) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Ok(pending) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "not ready",
                "reason": format!("{pending} database migration(s) not applied; run `ferry migrate`"),
            })),
        ),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not ready", "reason": "the database cannot be reached" })),
            )
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
}
