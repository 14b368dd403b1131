//! The admin API (`/_admin/…`): change the world while the emulator runs, change its faults,
//! play with tokens, and read the request counters.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::json;

use super::Shared;
use super::world::{Customer, Subscription, User};
use crate::faults::Faults;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/stats", get(stats))
        .route("/stats/reset", post(reset_stats))
        .route("/world", get(world))
        .route("/faults", get(faults).put(set_faults))
        .route("/customers", post(add_customer))
        .route(
            "/customers/{customer}",
            get(customer).put(replace_customer).delete(remove_customer),
        )
        .route(
            "/customers/{customer}/subscriptions",
            post(add_subscription),
        )
        .route(
            "/customers/{customer}/subscriptions/{subscription}",
            put(replace_subscription).delete(remove_subscription),
        )
        .route("/customers/{customer}/users", post(add_user))
        .route(
            "/customers/{customer}/users/{user}",
            put(replace_user).delete(remove_user),
        )
        .route("/tokens/revoke-refresh-tokens", post(revoke_refresh_tokens))
        .route("/tokens/expire-access-tokens", post(expire_access_tokens))
        .route("/tokens/refresh-token", post(new_refresh_token))
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": format!("{what} not found") })),
    )
        .into_response()
}

fn with_world<T>(shared: &Shared, f: impl FnOnce(&mut super::World) -> T) -> T {
    let mut world = shared
        .world
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&mut world)
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.injector.counters.stats()).into_response()
}

async fn reset_stats(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.injector.counters.reset();
    StatusCode::NO_CONTENT
}

async fn world(State(shared): State<Arc<Shared>>) -> Response {
    let world = shared
        .world
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Json(&*world).into_response()
}

async fn faults(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.faults()).into_response()
}

async fn set_faults(State(shared): State<Arc<Shared>>, Json(faults): Json<Faults>) -> StatusCode {
    shared.injector.set_faults(faults);
    StatusCode::NO_CONTENT
}

async fn add_customer(
    State(shared): State<Arc<Shared>>,
    Json(customer): Json<Customer>,
) -> Response {
    if with_world(&shared, |w| w.add_customer(customer)) {
        StatusCode::CREATED.into_response()
    } else {
        (
            StatusCode::CONFLICT,
            Json(json!({ "error": "a customer with this id exists" })),
        )
            .into_response()
    }
}

async fn customer(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let world = shared
        .world
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match world.customer(&id) {
        Some(c) => Json(&*c).into_response(),
        None => not_found("customer"),
    }
}

async fn replace_customer(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(mut customer): Json<Customer>,
) -> Response {
    with_world(&shared, |w| match w.customer_mut(&id) {
        Some(existing) => {
            customer.id = existing.id.clone();
            *existing = customer;
            StatusCode::NO_CONTENT.into_response()
        }
        None => not_found("customer"),
    })
}

async fn remove_customer(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match with_world(&shared, |w| w.remove_customer(&id)) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => not_found("customer"),
    }
}

async fn add_subscription(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(subscription): Json<Subscription>,
) -> Response {
    with_world(&shared, |w| match w.customer_mut(&id) {
        Some(c) => {
            c.subscriptions.push(subscription);
            StatusCode::CREATED.into_response()
        }
        None => not_found("customer"),
    })
}

async fn replace_subscription(
    State(shared): State<Arc<Shared>>,
    Path((id, sid)): Path<(String, String)>,
    Json(subscription): Json<Subscription>,
) -> Response {
    with_world(&shared, |w| {
        match w.customer_mut(&id).and_then(|c| {
            c.subscriptions
                .iter_mut()
                .find(|s| s.id.eq_ignore_ascii_case(&sid))
        }) {
            Some(existing) => {
                *existing = subscription;
                StatusCode::NO_CONTENT.into_response()
            }
            None => not_found("subscription"),
        }
    })
}

async fn remove_subscription(
    State(shared): State<Arc<Shared>>,
    Path((id, sid)): Path<(String, String)>,
) -> Response {
    with_world(&shared, |w| match w.customer_mut(&id) {
        Some(c)
            if c.subscriptions
                .iter()
                .any(|s| s.id.eq_ignore_ascii_case(&sid)) =>
        {
            c.subscriptions.retain(|s| !s.id.eq_ignore_ascii_case(&sid));
            StatusCode::NO_CONTENT.into_response()
        }
        _ => not_found("subscription"),
    })
}

async fn add_user(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(user): Json<User>,
) -> Response {
    with_world(&shared, |w| match w.customer_mut(&id) {
        Some(c) => {
            c.users.push(user);
            StatusCode::CREATED.into_response()
        }
        None => not_found("customer"),
    })
}

async fn replace_user(
    State(shared): State<Arc<Shared>>,
    Path((id, uid)): Path<(String, String)>,
    Json(user): Json<User>,
) -> Response {
    with_world(&shared, |w| {
        match w
            .customer_mut(&id)
            .and_then(|c| c.users.iter_mut().find(|u| u.id.eq_ignore_ascii_case(&uid)))
        {
            Some(existing) => {
                *existing = user;
                StatusCode::NO_CONTENT.into_response()
            }
            None => not_found("user"),
        }
    })
}

async fn remove_user(
    State(shared): State<Arc<Shared>>,
    Path((id, uid)): Path<(String, String)>,
) -> Response {
    with_world(&shared, |w| match w.customer_mut(&id) {
        Some(c) if c.users.iter().any(|u| u.id.eq_ignore_ascii_case(&uid)) => {
            c.users.retain(|u| !u.id.eq_ignore_ascii_case(&uid));
            StatusCode::NO_CONTENT.into_response()
        }
        _ => not_found("user"),
    })
}

fn tokens(shared: &Shared) -> std::sync::MutexGuard<'_, super::auth::Tokens> {
    shared
        .tokens
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn revoke_refresh_tokens(State(shared): State<Arc<Shared>>) -> StatusCode {
    tokens(&shared).revoke_refresh_tokens();
    StatusCode::NO_CONTENT
}

async fn expire_access_tokens(State(shared): State<Arc<Shared>>) -> StatusCode {
    tokens(&shared).expire_access_tokens();
    StatusCode::NO_CONTENT
}

async fn new_refresh_token(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({ "refresh_token": tokens(&shared).add_refresh_token() })).into_response()
}
