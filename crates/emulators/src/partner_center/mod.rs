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
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::faults::{self, Faults, Injector, Service};
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
    /// The fewest and most users a customer has.
    pub users_per_customer: (usize, usize),
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
            users_per_customer: world::USERS_PER_CUSTOMER,
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
    injector: Injector,
}

impl Shared {
    fn faults(&self) -> Faults {
        self.injector.faults()
    }
}

/// A built emulator; serve [`Emulator::router`] on any listener.
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
}

impl Emulator {
    pub fn new(options: Options) -> Emulator {
        let mut world = World::generate_with_users(
            options.seed,
            options.customers,
            options.resellers,
            options.users_per_customer,
        );
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
                tokens: Mutex::new(tokens),
                token_lifetime_s: options.token_lifetime_s,
                injector: Injector::new(
                    options.faults,
                    options.seed,
                    credentials.partner_tenant_id.clone(),
                ),
                credentials,
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

    /// Serves the emulator on a free port of this machine for as long as the process runs, and
    /// answers its base URL: for tests, benchmarks and the demo.
    pub async fn serve_locally(&self) -> std::io::Result<String> {
        crate::serve_locally(self.router()).await
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
    shared.injector.wait(&mut shared.injector.dice.roll()).await;
    next.run(request).await
}

/// Around every API call: the faults, then the correlation headers the service echoes.
async fn inject_faults(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let mut rng = shared.injector.dice.roll();
    let request_id = header_or(&request, "ms-requestid", &mut rng);
    let correlation_id = header_or(&request, "ms-correlationid", &mut rng);
    let mut response = shared.injector.around::<PartnerCenter>(request, next).await;
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
    response
}

struct PartnerCenter;

impl Service for PartnerCenter {
    /// The gateway's 429: not the ApiFault shape.
    fn throttled(retry_after: u64) -> Response {
        let body = json!({
            "statusCode": 429,
            "message": format!("Rate limit is exceeded. Try again in {retry_after} seconds."),
        });
        faults::retry_after(
            (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response(),
            retry_after,
        )
    }

    fn server_error(rng: &mut Rng) -> Response {
        if rng.chance(0.5) {
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        } else {
            wire::fault(
                StatusCode::INTERNAL_SERVER_ERROR,
                800_003,
                "Unexpected service error.",
            )
        }
    }

    fn customer_key(request: &Request) -> Option<String> {
        wire::customer_in_path(request.uri().path())
    }

    fn route_name(request: &Request) -> String {
        wire::route_name(request.uri().path())
    }
}

fn header_or(request: &Request, name: &str, rng: &mut Rng) -> String {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| rng.guid(), str::to_owned)
}
