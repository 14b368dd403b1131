//! The Google Directory emulator: `users.list` of the Admin SDK Directory API (spec §8.1),
//! with the same faults and an admin API. Its Workspace customers are tenants of the Partner
//! Center world built from the same seed, under those tenants' custom domains, so one customer
//! can be synced from both.
//!
//! Callers authenticate as Google requires: a service account's JSON key (the emulator makes
//! one from the seed and hands it out, [`Emulator::service_account_key`]) signs a JWT that
//! `POST /token` exchanges for an access token (the JWT bearer grant, RS256), checking the
//! signature against the key it handed out. A fixed bearer token is accepted only when one is
//! given ([`Options::static_token`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Form, Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::SeedableRng;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::faults::{self, Faults, Injector, Service};
use crate::partner_center::World;
use crate::rng::Rng;

#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// The size of the Partner Center world the Workspace customers come from.
    pub customers: usize,
    pub resellers: usize,
    pub faults: Faults,
    /// A fixed bearer token accepted besides the issued ones; none unless given.
    pub static_token: Option<String>,
}

impl Default for Options {
    /// The world of `ferry emulator google-directory` without flags.
    fn default() -> Self {
        Options {
            seed: 1,
            customers: 200,
            resellers: 4,
            faults: Faults::default(),
            static_token: None,
        }
    }
}

/// The scope User Sync asks for.
pub const DIRECTORY_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly";
/// How long an issued access token lasts, as Google's do.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3599);

/// The emulator's service account: its key pair, made from the seed so one seed always hands
/// out the same key file.
struct ServiceAccount {
    client_email: String,
    key_id: String,
    private_key_pem: String,
    verifying_key: DecodingKey,
}

impl ServiceAccount {
    fn generate(seed: u64) -> ServiceAccount {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5E41_CE00);
        let key = rsa::PrivateKey::new(&mut rng, 2048).expect("an RSA key from a seeded rng");
        let private_key_pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("a generated key encodes")
            .to_string();
        let public = key.to_public_key();
        ServiceAccount {
            client_email: "ferry-sync@ferry-emulator.iam.gserviceaccount.com".into(),
            key_id: format!("{:040x}", Rng::new(seed ^ 0x4B1D).below(u64::MAX)),
            private_key_pem,
            verifying_key: DecodingKey::from_rsa_raw_components(
                &public.n_bytes(),
                &public.e_bytes(),
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    pub given_name: String,
    pub family_name: String,
    pub full_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryUser {
    pub id: String,
    pub primary_email: String,
    pub name: Name,
    pub is_admin: bool,
    pub suspended: bool,
    pub archived: bool,
    pub org_unit_path: String,
    pub creation_time: String,
    pub last_login_time: String,
    /// Set on deleted users, which only `showDeleted=true` lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceCustomer {
    /// The Workspace customer id (`C0…`).
    pub customer_id: String,
    pub domain: String,
    /// The Partner Center tenant it is, for tests that sync one customer from both.
    pub tenant_id: String,
    pub users: Vec<DirectoryUser>,
}

/// Every fourth tenant with a custom domain is also a Workspace customer.
pub fn workspace_customers(world: &World, seed: u64) -> Vec<WorkspaceCustomer> {
    world
        .customers
        .iter()
        .enumerate()
        .filter_map(|(n, c)| {
            let domain = c
                .custom_domains
                .iter()
                .find(|d| !d.ends_with(".onmicrosoft.com"))?;
            (n % 4 == 0).then_some((n, c, domain))
        })
        .map(|(n, c, domain)| {
            let mut rng = Rng::derive(seed ^ 0x6006, n as u64);
            let customer_id = format!("C0{:07x}", rng.below(0x0fff_ffff));
            let users = c
                .full()
                .users
                .iter()
                .enumerate()
                .map(|(i, u)| {
                    let local = u.user_principal_name.split('@').next().unwrap_or("user");
                    let deleted = u.state == "inactive";
                    DirectoryUser {
                        id: format!("1{:020}", rng.below(u64::MAX / 10)),
                        primary_email: format!("{local}@{domain}"),
                        name: Name {
                            given_name: u.first_name.clone(),
                            family_name: u.last_name.clone(),
                            full_name: u.display_name.clone(),
                        },
                        is_admin: i == 0,
                        suspended: !deleted && rng.chance(0.1),
                        archived: false,
                        org_unit_path: if i == 0 { "/".into() } else { "/Staff".into() },
                        creation_time: "2021-08-30T12:04:11.000Z".into(),
                        last_login_time: "2025-01-08T07:55:02.000Z".into(),
                        deletion_time: deleted.then(|| "2025-01-03T17:20:44.000Z".into()),
                    }
                })
                .collect();
            WorkspaceCustomer {
                customer_id,
                domain: domain.clone(),
                tenant_id: c.id.clone(),
                users,
            }
        })
        .collect()
}

struct Shared {
    customers: RwLock<Vec<WorkspaceCustomer>>,
    account: ServiceAccount,
    static_token: Option<String>,
    /// Access tokens issued by `/token`, with when they expire.
    issued: Mutex<HashMap<String, Instant>>,
    minted: std::sync::atomic::AtomicU64,
    injector: Injector,
}

impl Shared {
    // A panicking handler cannot leave the list half-changed, so a poisoned lock is still good.
    fn customers(&self) -> std::sync::RwLockReadGuard<'_, Vec<WorkspaceCustomer>> {
        self.customers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn customers_mut(&self) -> std::sync::RwLockWriteGuard<'_, Vec<WorkspaceCustomer>> {
        self.customers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A built emulator; serve [`Emulator::router`] on any listener.
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
}

impl Emulator {
    pub fn new(options: Options) -> Emulator {
        let world = World::generate(options.seed, options.customers, options.resellers);
        Emulator {
            shared: Arc::new(Shared {
                customers: RwLock::new(workspace_customers(&world, options.seed)),
                account: ServiceAccount::generate(options.seed),
                static_token: options.static_token,
                issued: Mutex::new(HashMap::new()),
                minted: std::sync::atomic::AtomicU64::new(0),
                injector: Injector::new(options.faults, options.seed, "google".into()),
            }),
        }
    }

    /// The service account's JSON key file, as Google Cloud's console downloads it, for an
    /// emulator served at `base_url`.
    pub fn service_account_key(&self, base_url: &str) -> String {
        let account = &self.shared.account;
        let key = json!({
            "type": "service_account",
            "project_id": "ferry-emulator",
            "private_key_id": account.key_id,
            "private_key": account.private_key_pem,
            "client_email": account.client_email,
            "client_id": "104250966281933530000",
            "auth_uri": format!("{base_url}/o/oauth2/auth"),
            "token_uri": format!("{base_url}/token"),
            "universe_domain": "googleapis.com",
        });
        serde_json::to_string_pretty(&key).unwrap_or_default()
    }

    pub fn customers(&self) -> Vec<WorkspaceCustomer> {
        self.shared.customers().clone()
    }

    /// Serves the emulator on a free port of this machine; its address.
    pub async fn serve_locally(&self) -> std::io::Result<String> {
        crate::serve_locally(self.router()).await
    }

    pub fn router(&self) -> Router {
        let api = Router::new()
            .route("/admin/directory/v1/users", get(list_users))
            .route("/token", post(token))
            .layer(from_fn_with_state(self.shared.clone(), inject_faults));
        let admin = Router::new()
            .route("/stats", get(stats))
            .route("/stats/reset", post(reset_stats))
            .route("/faults", put(set_faults))
            .route("/customers", get(customers))
            .route("/customers/{customer}/users", post(add_user))
            .route(
                "/customers/{customer}/users/{user}",
                put(replace_user).delete(remove_user),
            );
        Router::new()
            .merge(api)
            .nest("/_admin", admin)
            .fallback(|| async { google_error(StatusCode::NOT_FOUND, "notFound", "Not Found") })
            .with_state(self.shared.clone())
    }
}

/// Google's error envelope.
fn google_error(status: StatusCode, reason: &str, message: &str) -> Response {
    let status_name = match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        _ => "INTERNAL",
    };
    let body = json!({ "error": {
        "code": status.as_u16(),
        "message": message,
        "errors": [ { "domain": "global", "reason": reason, "message": message } ],
        "status": status_name,
    }});
    (status, Json(body)).into_response()
}

struct Google;

impl Service for Google {
    fn throttled(retry_after: u64) -> Response {
        let response = google_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rateLimitExceeded",
            "Quota exceeded for quota metric 'Queries'.",
        );
        faults::retry_after(response, retry_after)
    }

    fn server_error(_: &mut Rng) -> Response {
        google_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "backendError",
            "Backend Error",
        )
    }

    fn customer_key(request: &Request) -> Option<String> {
        let query = request.uri().query()?;
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "customer" || k == "domain")
            .map(|(_, v)| v)
    }

    fn route_name(request: &Request) -> String {
        request.uri().path().to_owned()
    }
}

async fn inject_faults(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    shared.injector.around::<Google>(request, next).await
}

struct Authorized;

impl FromRequestParts<Arc<Shared>> for Authorized {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, Response> {
        let token = crate::bearer_token(parts).unwrap_or_default();
        let issued = shared
            .issued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .is_some_and(|expires| *expires > Instant::now());
        if issued || shared.static_token.as_deref() == Some(token) {
            Ok(Authorized)
        } else {
            Err(google_error(
                StatusCode::UNAUTHORIZED,
                "authError",
                "Invalid Credentials",
            ))
        }
    }
}

/// The OAuth error answer of Google's token endpoint.
fn grant_error(error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

#[derive(Debug, Deserialize)]
struct TokenRequest {
    grant_type: String,
    assertion: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Assertion {
    iss: String,
    sub: Option<String>,
    scope: Option<String>,
    aud: String,
}

/// The JWT bearer grant: a JWT signed with the service account's key, for an access token.
async fn token(State(shared): State<Arc<Shared>>, Form(request): Form<TokenRequest>) -> Response {
    if request.grant_type != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return grant_error("unsupported_grant_type", "Invalid grant_type.");
    }
    let Some(assertion) = request.assertion else {
        return grant_error("invalid_request", "Missing required parameter: assertion");
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    let claims = match jsonwebtoken::decode::<Assertion>(
        &assertion,
        &shared.account.verifying_key,
        &validation,
    ) {
        Ok(data) => data.claims,
        Err(error) => {
            use jsonwebtoken::errors::ErrorKind;
            let description = match error.kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                    "Invalid JWT Signature."
                }
                ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => {
                    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a \
                     reasonable timeframe. Check your iat and exp values in the JWT claim."
                }
                _ => "Invalid JWT.",
            };
            return grant_error("invalid_grant", description);
        }
    };
    if claims.iss != shared.account.client_email {
        return grant_error("invalid_grant", "Invalid grant: account not found");
    }
    if !claims.aud.ends_with("/token") {
        return grant_error(
            "invalid_grant",
            "Invalid JWT: audience is not the token URI.",
        );
    }
    if claims.sub.as_deref().is_none_or(|s| !s.contains('@')) {
        return grant_error(
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not \
             authorized for any of the scopes requested.",
        );
    }
    let scopes = claims.scope.unwrap_or_default();
    if !scopes.split(' ').any(|s| s == DIRECTORY_SCOPE) {
        return grant_error(
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        );
    }
    let n = shared
        .minted
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let access_token = format!(
        "ya29.emulator-{:016x}",
        Rng::new(n ^ 0x70C3).below(u64::MAX)
    );
    let now = Instant::now();
    let mut issued = shared
        .issued
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    issued.retain(|_, expires| *expires > now);
    issued.insert(access_token.clone(), now + TOKEN_LIFETIME);
    Json(json!({
        "access_token": access_token,
        "expires_in": TOKEN_LIFETIME.as_secs(),
        "token_type": "Bearer",
    }))
    .into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    customer: Option<String>,
    domain: Option<String>,
    max_results: Option<usize>,
    page_token: Option<String>,
    show_deleted: Option<String>,
}

/// Where a listing stands, carried in the page token.
#[derive(Debug, Serialize, Deserialize)]
struct PageToken {
    c: String,
    o: usize,
}

fn encode(token: &PageToken) -> String {
    serde_json::to_vec(token)
        .unwrap_or_default()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode(text: &str) -> Option<PageToken> {
    let bytes = (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()?;
    serde_json::from_slice(&bytes).ok()
}

async fn list_users(
    State(shared): State<Arc<Shared>>,
    _: Authorized,
    Query(query): Query<ListQuery>,
) -> Response {
    let customers = shared.customers();
    let found = match (&query.customer, &query.domain) {
        (Some(id), _) if id != "my_customer" => customers.iter().find(|c| &c.customer_id == id),
        (_, Some(domain)) => customers
            .iter()
            .find(|c| c.domain.eq_ignore_ascii_case(domain)),
        (Some(_), None) => customers.first(),
        (None, None) => {
            return google_error(
                StatusCode::BAD_REQUEST,
                "badRequest",
                "Bad Request: customer or domain is required",
            );
        }
    };
    let Some(customer) = found else {
        return google_error(StatusCode::NOT_FOUND, "notFound", "Domain not found.");
    };
    let size = query.max_results.unwrap_or(100).clamp(1, 500);
    let offset = match &query.page_token {
        None => 0,
        Some(text) => match decode(text).filter(|t| t.c == customer.customer_id) {
            Some(token) => token.o,
            None => {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    "Invalid Input: pageToken",
                );
            }
        },
    };
    let show_deleted = query.show_deleted.as_deref() == Some("true");
    let users: Vec<&DirectoryUser> = customer
        .users
        .iter()
        .filter(|u| u.deletion_time.is_some() == show_deleted)
        .collect();
    let page: Vec<Value> = users
        .iter()
        .skip(offset)
        .take(size)
        .map(|u| {
            let mut value = json!(u);
            value["kind"] = json!("admin#directory#user");
            value["customerId"] = json!(customer.customer_id);
            value["isDelegatedAdmin"] = json!(false);
            value["isEnrolledIn2Sv"] = json!(u.is_admin);
            value["aliases"] = json!([]);
            value
        })
        .collect();
    let mut body =
        json!({ "kind": "admin#directory#users", "etag": "\"emulator\"", "users": page });
    if offset + size < users.len() {
        body["nextPageToken"] = json!(encode(&PageToken {
            c: customer.customer_id.clone(),
            o: offset + size
        }));
    }
    Json(body).into_response()
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.injector.counters.stats()).into_response()
}

async fn reset_stats(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.injector.counters.reset();
    StatusCode::NO_CONTENT
}

async fn set_faults(State(shared): State<Arc<Shared>>, Json(faults): Json<Faults>) -> StatusCode {
    shared.injector.set_faults(faults);
    StatusCode::NO_CONTENT
}

async fn customers(State(shared): State<Arc<Shared>>) -> Response {
    let customers = shared.customers();
    Json(&*customers).into_response()
}

async fn add_user(
    State(shared): State<Arc<Shared>>,
    Path(customer): Path<String>,
    Json(user): Json<DirectoryUser>,
) -> StatusCode {
    let mut customers = shared.customers_mut();
    match customers.iter_mut().find(|c| c.customer_id == customer) {
        Some(c) => {
            c.users.push(user);
            StatusCode::CREATED
        }
        None => StatusCode::NOT_FOUND,
    }
}

/// Changes a user as an admin would: renamed, suspended, deleted (`deletionTime`).
async fn replace_user(
    State(shared): State<Arc<Shared>>,
    Path((customer, user)): Path<(String, String)>,
    Json(changed): Json<DirectoryUser>,
) -> StatusCode {
    let mut customers = shared.customers_mut();
    let found = customers
        .iter_mut()
        .find(|c| c.customer_id == customer)
        .and_then(|c| c.users.iter_mut().find(|u| u.id == user));
    match found {
        Some(u) => {
            *u = changed;
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn remove_user(
    State(shared): State<Arc<Shared>>,
    Path((customer, user)): Path<(String, String)>,
) -> StatusCode {
    let mut customers = shared.customers_mut();
    match customers.iter_mut().find(|c| c.customer_id == customer) {
        Some(c) if c.users.iter().any(|u| u.id == user) => {
            c.users.retain(|u| u.id != user);
            StatusCode::NO_CONTENT
        }
        _ => StatusCode::NOT_FOUND,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_customers_are_tenants_of_the_same_world() {
        let world = World::generate(5, 80, 2);
        let customers = workspace_customers(&world, 5);
        assert!(!customers.is_empty());
        for c in &customers {
            let tenant = world
                .customer(&c.tenant_id)
                .expect("a Partner Center tenant");
            assert!(tenant.custom_domains.contains(&c.domain));
            assert!(c.users.iter().all(|u| u.primary_email.ends_with(&c.domain)));
        }
    }
}
