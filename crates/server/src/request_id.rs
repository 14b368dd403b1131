//! Every request carries an id (docs/operations.md): taken from a proxy's `X-Request-Id` when it
//! is a plain token, else made here. It is on every log line of the request (its span), on the
//! answer's `X-Request-Id` header and in error answers — the API's `request_id`, an error page's
//! reference — so an operator can follow one failure from the person to the log.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

const HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being answered, when there is one.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

pub async fn assign(request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (8..=64).contains(&v.len())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_owned);
    let id = given.unwrap_or_else(|| {
        let bytes: [u8; 8] = rand::random();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    });
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = std::time::Instant::now();
    let answered = async {
        let response = next.run(request).await;
        // The access log, at debug: one line a request, in its span.
        tracing::debug!(
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "answered"
        );
        response
    };
    let mut response = REQUEST_ID
        .scope(id.clone(), answered.instrument(span))
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
