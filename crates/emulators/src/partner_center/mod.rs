//! The Partner Center emulator: the token endpoints of Microsoft Entra ID and the Partner Center
//! REST routes Ferry uses (spec: `shared/docs/reference/partner-center-api.md`), served from one
//! address, with faults to inject and an admin API under `/_admin/`.

mod admin;
mod api;
mod auth;
mod wire;
pub mod world;

use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::faults::{self, Counters, Dice, Faults, Throttle};
use crate::rng::Rng;
pub use world::World;

/// How to build and run the emulator.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub customers: usize,
    pub resellers: usize,
    pub faults: Faults,
    /// Lifetime of the access tokens it issues.
    pub token_lifetime_s: u64,
    pub partner_tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 1,
            customers: 200,
            resellers: 4,
            faults: Faults::default(),
            token_lifetime_s: 3599,
            partner_tenant_id: None,
            client_id: None,
            client_secret: None,
            refresh_token: None,
        }
    }
}

/// What a client needs to connect: printed at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub partner_tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// A refresh token for App+User calls, as if a partner user had consented once.
    pub refresh_token: String,
}

pub(crate) struct Shared {
    world: RwLock<World>,
    credentials: Credentials,
    tokens: Mutex<auth::Tokens>,
    token_lifetime_s: u64,
    faults: RwLock<Faults>,
    throttle: Throttle,
    counters: Counters,
    dice: Dice,
}

impl Shared {
    fn faults(&self) -> Faults {
        self.faults
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// A built emulator; serve [`Emulator::router`] on any listener.
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
}

impl Emulator {
    pub fn new(options: Options) -> Emulator {
        let mut world = World::generate(options.seed, options.customers, options.resellers);
        if let Some(id) = &options.partner_tenant_id {
            world.partner_tenant_id = id.to_ascii_lowercase();
        }
        let mut rng = Rng::new(options.seed ^ 0xC1E7);
        let credentials = Credentials {
            partner_tenant_id: world.partner_tenant_id.clone(),
            client_id: options.client_id.clone().unwrap_or_else(|| rng.guid()),
            client_secret: options
                .client_secret
                .clone()
                .unwrap_or_else(|| format!("secret~{}", rng.guid().replace('-', ""))),
            refresh_token: options
                .refresh_token
                .clone()
                .unwrap_or_else(|| format!("0.refresh.{}", rng.guid().replace('-', ""))),
        };
        let tokens = auth::Tokens::new(&credentials.refresh_token);
        Emulator {
            shared: Arc::new(Shared {
                world: RwLock::new(world),
                credentials,
                tokens: Mutex::new(tokens),
                token_lifetime_s: options.token_lifetime_s,
                faults: RwLock::new(options.faults),
                throttle: Throttle::default(),
                counters: Counters::default(),
                dice: Dice::new(options.seed),
            }),
        }
    }

    pub fn credentials(&self) -> Credentials {
        self.shared.credentials.clone()
    }

    /// The whole world as JSON, as `--dump` writes it and `GET /_admin/world` answers.
    pub fn world_json(&self) -> String {
        let world = self
            .shared
            .world
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        serde_json::to_string_pretty(&*world).unwrap_or_default()
    }

    pub fn router(&self) -> Router {
        let api = api::routes().layer(from_fn_with_state(self.shared.clone(), inject_faults));
        Router::new()
            .merge(api)
            .merge(auth::routes().layer(from_fn_with_state(self.shared.clone(), add_latency)))
            .nest("/_admin", admin::routes())
            .fallback(gateway_not_found)
            .with_state(self.shared.clone())
    }
}

/// The gateway's answer for a path the service does not know.
async fn gateway_not_found() -> Response {
    let body = json!({ "statusCode": 404, "message": "Resource not found" });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

async fn add_latency(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    if let Some(delay) = faults::delay(&shared.faults(), &mut shared.dice.roll()) {
        tokio::time::sleep(delay).await;
    }
    next.run(request).await
}

/// Around every API call: count it, wait, throttle, fail on purpose, echo the correlation
/// headers, and prepend a byte-order mark when asked.
async fn inject_faults(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let faults = shared.faults();
    let mut rng = shared.dice.roll();
    let route = wire::route_name(request.uri().path());
    shared.counters.request(&route);
    let request_id = header_or(&request, "ms-requestid", &mut rng);
    let correlation_id = header_or(&request, "ms-correlationid", &mut rng);
    let mut response = answer(&shared, &faults, &mut rng, request, next).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("ms-requestid", request_id),
        ("ms-correlationid", correlation_id),
        ("ms-cv", format!("{:016x}.0", rng.next_u64())),
        ("ms-serverid", "101112616".to_owned()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    if faults.bom && is_json(&response) {
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        response = Response::from_parts(parts, Body::from(faults::with_bom(&bytes)));
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
    response
}

async fn answer(
    shared: &Shared,
    faults: &Faults,
    rng: &mut Rng,
    request: Request,
    next: Next,
) -> Response {
    if let Some(delay) = faults::delay(faults, rng) {
        tokio::time::sleep(delay).await;
    }
    let mut keys = Vec::new();
    if let Some(limit) = faults.throttle_per_minute {
        keys.push((shared.credentials.partner_tenant_id.clone(), limit));
    }
    if let (Some(limit), Some(customer)) = (
        faults.customer_throttle_per_minute,
        wire::customer_in_path(request.uri().path()),
    ) {
        keys.push((
            format!("{}/{customer}", shared.credentials.partner_tenant_id),
            limit,
        ));
    }
    for (key, limit) in &keys {
        if let Err(retry_after) = shared.throttle.take(key, *limit) {
            shared.counters.throttled(key);
            return throttled(retry_after);
        }
    }
    for (key, _) in &keys {
        shared.counters.passed(key);
    }
    if faults.fault_5xx_rate > 0.0 && rng.chance(faults.fault_5xx_rate) {
        shared.counters.server_error();
        return if rng.chance(0.5) {
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        } else {
            wire::fault(
                StatusCode::INTERNAL_SERVER_ERROR,
                800_003,
                "Unexpected service error.",
            )
        };
    }
    next.run(request).await
}

/// The gateway's 429: not the ApiFault shape, with `Retry-After` in seconds.
fn throttled(retry_after: u64) -> Response {
    let body = json!({
        "statusCode": 429,
        "message": format!("Rate limit is exceeded. Try again in {retry_after} seconds."),
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn header_or(request: &Request, name: &str, rng: &mut Rng) -> String {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| rng.guid(), str::to_owned)
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}
