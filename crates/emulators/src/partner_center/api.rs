//! The Partner Center routes (spec §0): customers C1–C6, relationships R1–R3, subscriptions
//! S1–S7, users U1–U2.

use std::borrow::Cow;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Shared;
use super::auth::{AppUser, Caller, Kind};
use super::wire::{Collection, Fault, Render, fault};
use super::world::{Customer, World};

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/customers", get(customers))
        .route("/v1/customers/{customer}", get(customer))
        .route(
            "/v1/customers/{customer}/profiles/company",
            get(company_profile),
        )
        .route(
            "/v1/customers/{customer}/profiles/billing",
            get(billing_profile),
        )
        .route(
            "/v1/customers/{customer}/customDomains",
            get(custom_domains),
        )
        .route("/v1/customers/{customer}/organization", get(organization))
        .route(
            "/v1/customers/{customer}/relationships",
            get(customer_relationships),
        )
        .route("/v1/customers/{customer}/subscriptions", get(subscriptions))
        .route(
            "/v1/customers/{customer}/subscriptions/{subscription}",
            get(subscription),
        )
        .route(
            "/v1/customers/{customer}/subscriptions/{subscription}/addons",
            get(addons),
        )
        .route(
            "/v1/customers/{customer}/subscriptions/{subscription}/azureEntitlements",
            get(entitlements),
        )
        .route(
            "/v1/customers/{customer}/subscriptions/{subscription}/azureEntitlements/{entitlement}",
            get(entitlement),
        )
        .route("/v1/customers/{customer}/users", get(users))
        .route("/v1/customers/{customer}/users/{user}", get(user))
        .route("/v1/relationships", get(relationships))
}

const CUSTOMER_PAGE: usize = 500;
const USER_PAGE: usize = 100;

fn render(shared: &Shared) -> Render {
    Render::new(&shared.faults())
}

fn world(shared: &Shared) -> std::sync::RwLockReadGuard<'_, World> {
    shared
        .world
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn invalid(description: &str) -> Fault {
    Fault::new(StatusCode::BAD_REQUEST, 800_002, description)
}

fn is_guid(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Finds the customer of a path: 400 for an id that is not a GUID, 404 for an unknown one.
fn find<'w>(world: &'w World, id: &str) -> Result<Cow<'w, Customer>, Fault> {
    if !is_guid(id) {
        return Err(Fault::new(
            StatusCode::BAD_REQUEST,
            900_118,
            "Invalid customer id.",
        ));
    }
    world
        .customer(id)
        .ok_or_else(|| Fault::new(StatusCode::NOT_FOUND, 60003, "Tenant not found."))
}

/// Where a paged list stands; carried in the continuation token, opaque to clients.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    /// Which list: "customers" or "users:{customer}".
    l: String,
    o: usize,
    s: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    f: Option<Filter>,
}

impl Cursor {
    fn token(&self) -> String {
        serde_json::to_vec(self)
            .unwrap_or_default()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn parse(token: &str) -> Option<Cursor> {
        let bytes = (0..token.len())
            .step_by(2)
            .map(|i| {
                token
                    .get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()?;
        serde_json::from_slice(&bytes).ok()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Filter {
    #[serde(rename = "Field")]
    field: String,
    #[serde(rename = "Value")]
    value: String,
    #[serde(rename = "Operator")]
    operator: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    size: Option<usize>,
    seek_operation: Option<String>,
    filter: Option<String>,
}

/// The cursor of a list request: from the continuation token when seeking on, else a first
/// page from the query.
fn cursor(
    list: &str,
    query: &ListQuery,
    headers: &HeaderMap,
    default_size: usize,
) -> Result<Cursor, Fault> {
    if let Some(seek) = &query.seek_operation {
        if !seek.eq_ignore_ascii_case("next") {
            return Err(invalid(&format!(
                "The seek operation '{seek}' is not supported."
            )));
        }
        let token = headers
            .get("ms-continuationtoken")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| invalid("The MS-ContinuationToken header is missing."))?;
        return Cursor::parse(token)
            .filter(|c| c.l == list)
            .ok_or_else(|| invalid("The continuation token is not valid."));
    }
    let filter =
        match &query.filter {
            Some(text) => Some(serde_json::from_str::<Filter>(text).map_err(|_| {
                invalid("The filter is not valid JSON of Field, Value and Operator.")
            })?),
            None => None,
        };
    let size = match query.size {
        None | Some(0) => default_size,
        Some(n) => n.clamp(1, 500),
    };
    Ok(Cursor {
        l: list.to_owned(),
        o: 0,
        s: size,
        f: filter,
    })
}

/// The page at the cursor, out of `total` items, as a collection with a `next` link while
/// more remain.
fn page<T: Serialize>(
    render: &Render,
    window: Vec<T>,
    total: usize,
    cursor: Cursor,
    path: &str,
) -> Collection<T> {
    let end = (cursor.o + cursor.s).min(total);
    let self_uri = format!("{path}?size={}", cursor.s);
    let next = (end < total).then(|| {
        let next = Cursor { o: end, ..cursor };
        (
            format!("{path}?size={}&seekOperation=Next", next.s),
            next.token(),
        )
    });
    render.collection(window, &self_uri, next)
}

async fn customers(
    State(shared): State<Arc<Shared>>,
    Caller(kind): Caller,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let cursor = match cursor("customers", &query, &headers, CUSTOMER_PAGE) {
        Ok(cursor) => cursor,
        Err(fault) => return fault.into_response(),
    };
    let world = world(&shared);
    let render = render(&shared);
    let matches: Box<dyn Fn(&Customer) -> bool> = match &cursor.f {
        None => Box::new(|_| true),
        Some(f) if !f.operator.eq_ignore_ascii_case("starts_with") => {
            return invalid(&format!("The operator '{}' is not supported.", f.operator))
                .into_response();
        }
        Some(f) => {
            let value = f.value.to_lowercase();
            match f.field.as_str() {
                "CompanyName" => {
                    Box::new(move |c| c.company_name.to_lowercase().starts_with(&value))
                }
                "Domain" => Box::new(move |c| c.domain.to_lowercase().starts_with(&value)),
                "IndirectReseller" if kind == Kind::AppOnly => {
                    return fault(
                        StatusCode::UNAUTHORIZED,
                        400,
                        "Access denied: customers of an indirect reseller need an App+User token.",
                    );
                }
                "IndirectReseller" => Box::new(move |c| {
                    c.associated_partner_id
                        .as_deref()
                        .is_some_and(|r| r.to_lowercase().starts_with(&value))
                }),
                other => {
                    return invalid(&format!("The filter field '{other}' is not supported."))
                        .into_response();
                }
            }
        }
    };
    // Only the page is rendered; the rest is only counted.
    let (window, total) = if cursor.f.is_none() {
        let window = world.customers.iter().skip(cursor.o).take(cursor.s);
        (
            window.map(|c| render.customer_item(c)).collect(),
            world.customers.len(),
        )
    } else {
        let mut total = 0;
        let mut window = Vec::new();
        for c in world.customers.iter().filter(|c| matches(c)) {
            if total >= cursor.o && window.len() < cursor.s {
                window.push(render.customer_item(c));
            }
            total += 1;
        }
        (window, total)
    };
    Json(page(&render, window, total, cursor, "/customers")).into_response()
}

async fn customer(
    State(shared): State<Arc<Shared>>,
    _: Caller,
    Path(id): Path<String>,
) -> Response {
    let world = world(&shared);
    match find(&world, &id) {
        Ok(ref c) => Json(render(&shared).customer(c)).into_response(),
        Err(fault) => fault.into_response(),
    }
}

async fn company_profile(
    State(shared): State<Arc<Shared>>,
    _: AppUser,
    Path(id): Path<String>,
) -> Response {
    let world = world(&shared);
    match find(&world, &id) {
        Ok(ref c) => Json(render(&shared).company_profile(c)).into_response(),
        Err(fault) => fault.into_response(),
    }
}

async fn billing_profile(
    State(shared): State<Arc<Shared>>,
    _: Caller,
    Path(id): Path<String>,
) -> Response {
    let world = world(&shared);
    match find(&world, &id) {
        Ok(ref c) => Json(render(&shared).billing_profile(c)).into_response(),
        Err(fault) => fault.into_response(),
    }
}

fn needs_delegated_access(c: &Customer) -> Option<Response> {
    (!c.allow_delegated_access).then(|| fault(StatusCode::FORBIDDEN, 2032, "Access denied."))
}

async fn custom_domains(
    State(shared): State<Arc<Shared>>,
    _: Caller,
    Path(id): Path<String>,
) -> Response {
    let world = world(&shared);
    match find(&world, &id) {
        Ok(ref c) => needs_delegated_access(c)
            .unwrap_or_else(|| Json(json!(c.custom_domains)).into_response()),
        Err(fault) => fault.into_response(),
    }
}

async fn organization(
    State(shared): State<Arc<Shared>>,
    _: Caller,
    Path(id): Path<String>,
) -> Response {
    let world = world(&shared);
    match find(&world, &id) {
        Ok(ref c) => needs_delegated_access(c).unwrap_or_else(|| {
            Json(json!([{
                "street": c.address.address_line1,
                "countryLetterCode": c.address.country,
                "postalCode": c.address.postal_code,
                "city": c.address.city,
                "state": c.address.state,
                "displayName": c.company_name,
                "technicalNotificationMails": [c.email],
            }]))
            .into_response()
        }),
        Err(fault) => fault.into_response(),
    }
}

async fn customer_relationships(
    State(shared): State<Arc<Shared>>,
    _: AppUser,
    Path(id): Path<String>,
) -> Response {
    let world = world(&shared);
    let render = render(&shared);
    match find(&world, &id) {
        Ok(ref c) => {
            let items = c
                .associated_partner_id
                .as_deref()
                .and_then(|r| world.reseller(r))
                .map(|r| render.relationship(r, false))
                .into_iter()
                .collect();
            Json(render.collection(items, &format!("/customers/{}/relationships", c.id), None))
                .into_response()
        }
        Err(fault) => fault.into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct SubscriptionQuery {
    mpn_id: Option<String>,
    order_id: Option<String>,
}

async fn subscriptions(
    State(shared): State<Arc<Shared>>,
    _: Caller,
    Path(id): Path<String>,
    Query(query): Query<SubscriptionQuery>,
) -> Response {
    let world = world(&shared);
    let render = render(&shared);
    match find(&world, &id) {
        Ok(ref c) => {
            let items = c
                .subscriptions
                .iter()
                .filter(|s| query.mpn_id.as_ref().is_none_or(|m| &s.partner_id == m))
                .filter(|s| {
                    query
                        .order_id
                        .as_ref()
                        .is_none_or(|o| s.order_id.eq_ignore_ascii_case(o))
                })
                .map(|s| render.subscription(c, s))
                .collect();
            Json(render.collection(items, &format!("/customers/{}/subscriptions", c.id), None))
                .into_response()
        }
        Err(fault) => fault.into_response(),
    }
}

fn find_subscription<'w>(
    c: &'w Customer,
    id: &str,
) -> Result<&'w super::world::Subscription, Fault> {
    c.subscriptions
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| {
            Fault::new(
                StatusCode::NOT_FOUND,
                20003,
                &format!("Subscription {id} not found."),
            )
        })
}

/// Runs `answer` on a customer's subscription, or answers the fault of the first one missing.
fn with_subscription(
    shared: &Shared,
    id: &str,
    sid: &str,
    answer: impl FnOnce(&Render, &Customer, &super::world::Subscription) -> Response,
) -> Response {
    let world = world(shared);
    let c = match find(&world, id) {
        Ok(c) => c,
        Err(fault) => return fault.into_response(),
    };
    match find_subscription(&c, sid) {
        Ok(s) => answer(&render(shared), &c, s),
        Err(fault) => fault.into_response(),
    }
}

async fn subscription(
    State(shared): State<Arc<Shared>>,
    _: Caller,
    Path((id, sid)): Path<(String, String)>,
) -> Response {
    with_subscription(&shared, &id, &sid, |render, c, s| {
        Json(render.subscription(c, s)).into_response()
    })
}

async fn addons(
    State(shared): State<Arc<Shared>>,
    _: Caller,
    Path((id, sid)): Path<(String, String)>,
) -> Response {
    with_subscription(&shared, &id, &sid, |render, c, s| {
        let items = c
            .subscriptions
            .iter()
            .filter(|a| {
                a.parent_subscription_id
                    .as_deref()
                    .is_some_and(|p| p.eq_ignore_ascii_case(&s.id))
            })
            .map(|a| render.subscription(c, a))
            .collect();
        let path = format!("/customers/{}/subscriptions/{}/addons", c.id, s.id);
        Json(render.collection(items, &path, None)).into_response()
    })
}

async fn entitlements(
    State(shared): State<Arc<Shared>>,
    _: Caller,
    Path((id, sid)): Path<(String, String)>,
) -> Response {
    with_subscription(&shared, &id, &sid, |render, c, s| {
        let items = s
            .azure_entitlements
            .iter()
            .map(|e| render.entitlement(c, s, e))
            .collect();
        let path = format!(
            "/customers/{}/subscriptions/{}/azureEntitlements",
            c.id, s.id
        );
        Json(render.collection(items, &path, None)).into_response()
    })
}

async fn entitlement(
    State(shared): State<Arc<Shared>>,
    _: Caller,
    Path((id, sid, eid)): Path<(String, String, String)>,
) -> Response {
    with_subscription(&shared, &id, &sid, |render, c, s| {
        match s
            .azure_entitlements
            .iter()
            .find(|e| e.id.eq_ignore_ascii_case(&eid))
        {
            Some(e) => Json(render.entitlement(c, s, e)).into_response(),
            None => fault(
                StatusCode::NOT_FOUND,
                800_111,
                &format!("Azure entitlement with ID {eid} isn't found."),
            ),
        }
    })
}

async fn users(
    State(shared): State<Arc<Shared>>,
    _: AppUser,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let list = format!("users:{}", id.to_ascii_lowercase());
    let cursor = match cursor(&list, &query, &headers, USER_PAGE) {
        Ok(cursor) => cursor,
        Err(fault) => return fault.into_response(),
    };
    let inactive = match &cursor.f {
        None => false,
        Some(f) if f.field == "UserState" && f.value.eq_ignore_ascii_case("inactive") => true,
        Some(f) => {
            return invalid(&format!("The filter field '{}' is not supported.", f.field))
                .into_response();
        }
    };
    let world = world(&shared);
    let render = render(&shared);
    match find(&world, &id) {
        Ok(ref c) => {
            let wanted = if inactive { "inactive" } else { "active" };
            let matching: Vec<_> = c.users.iter().filter(|u| u.state == wanted).collect();
            let window = matching
                .iter()
                .skip(cursor.o)
                .take(cursor.s)
                .map(|u| render.user(c, u))
                .collect();
            let path = format!("/customers/{}/users", c.id);
            Json(page(&render, window, matching.len(), cursor, &path)).into_response()
        }
        Err(fault) => fault.into_response(),
    }
}

async fn user(
    State(shared): State<Arc<Shared>>,
    _: AppUser,
    Path((id, uid)): Path<(String, String)>,
) -> Response {
    let world = world(&shared);
    match find(&world, &id) {
        Ok(ref c) => match c.users.iter().find(|u| u.id.eq_ignore_ascii_case(&uid)) {
            Some(u) => Json(render(&shared).user(c, u)).into_response(),
            None => fault(StatusCode::NOT_FOUND, 60002, "User object Id is not found."),
        },
        Err(fault) => fault.into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct RelationshipQuery {
    relationship_type: Option<String>,
}

async fn relationships(
    State(shared): State<Arc<Shared>>,
    _: AppUser,
    Query(query): Query<RelationshipQuery>,
) -> Response {
    match query.relationship_type.as_deref() {
        Some(t) if t.eq_ignore_ascii_case("IsIndirectCloudSolutionProviderOf") => {}
        Some(t) => {
            return invalid(&format!(
                "The relationship type '{t}' is not supported here."
            ))
            .into_response();
        }
        None => return invalid("The relationship_type parameter is required.").into_response(),
    }
    let world = world(&shared);
    let render = render(&shared);
    let items = world
        .resellers
        .iter()
        .map(|r| render.relationship(r, true))
        .collect();
    let path = "/relationships?relationship_type=IsIndirectCloudSolutionProviderOf";
    Json(render.collection(items, path, None)).into_response()
}
