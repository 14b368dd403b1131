//! The JSON API under `/api/v1`, described by the OpenAPI document it serves at
//! `/api/v1/openapi.json`. Every route takes a bearer API token, which fixes the marketplace and
//! the role.

mod companies;
mod datasets;
mod google;
mod hierarchy;
mod imports;
mod instances;
mod jobs;
mod marketplace;
mod sync;
mod users;

use std::sync::LazyLock;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use ferry_domain::{Permission, Role};
use ferry_storage::Marketplace;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry API",
        description = "Companies, users, catalog, datasets and background jobs of one marketplace. \
                       Authenticate with `Authorization: Bearer <token>`; the token decides the \
                       marketplace and the role. Errors are `{\"error\": {\"code\", \"message\", \"details\"}}`.",
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(ErrorEnvelope, ErrorBody)),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The error envelope every failed request answers with.
#[derive(Serialize, ToSchema)]
pub struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code: unauthenticated, forbidden, not_found, invalid, conflict, internal.
    code: String,
    /// What went wrong, for a person.
    message: String,
    details: Option<serde_json::Value>,
    /// The request's id, also in the `X-Request-Id` header and on the request's log lines.
    request_id: Option<String>,
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(openapi_json))
        .routes(routes!(marketplace::get_marketplace))
        .routes(routes!(marketplace::get_catalog))
        .routes(routes!(marketplace::set_webhook))
        .routes(routes!(marketplace::create_product))
        .routes(routes!(marketplace::create_edition))
        .routes(routes!(marketplace::set_edition_offers))
        .routes(routes!(marketplace::list_outbox))
        .routes(routes!(
            companies::list_companies,
            companies::create_company
        ))
        .routes(routes!(companies::get_company, companies::update_company))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_user, users::update_user))
        .routes(routes!(users::suspend_user))
        .routes(routes!(users::reactivate_user))
        .routes(routes!(users::send_invitation))
        .routes(routes!(users::send_invitations))
        .routes(routes!(
            instances::list_instances,
            instances::create_instance
        ))
        .routes(routes!(
            instances::get_instance,
            instances::update_instance,
            instances::delete_instance
        ))
        .routes(routes!(instances::check_instance))
        .routes(routes!(
            hierarchy::start_hierarchy,
            hierarchy::get_hierarchy
        ))
        .routes(routes!(hierarchy::list_tenants))
        .routes(routes!(imports::list_imports, imports::start_import))
        .routes(routes!(imports::get_import))
        .routes(routes!(imports::get_results_csv))
        .routes(routes!(imports::retry_import))
        .routes(routes!(sync::get_settings, sync::put_settings))
        .routes(routes!(sync::list_runs, sync::start_sync))
        .routes(routes!(sync::list_pending))
        .routes(routes!(sync::get_pending))
        .routes(routes!(sync::create_one))
        .routes(routes!(sync::create_many))
        .routes(routes!(sync::link))
        .routes(routes!(sync::dismiss))
        .routes(routes!(sync::restore))
        .routes(routes!(sync::list_user_syncs, sync::start_user_sync))
        .routes(routes!(google::get_connection, google::put_connection))
        .routes(routes!(
            google::get_company_google,
            google::put_company_google
        ))
        .routes(routes!(
            instances::get_partner_center_settings,
            instances::put_partner_center_settings
        ))
        .routes(uploads(routes!(
            datasets::list_datasets,
            datasets::create_dataset
        )))
        .routes(routes!(datasets::get_dataset, datasets::delete_dataset))
        .routes(routes!(datasets::activate_dataset))
        .routes(routes!(datasets::deny_dataset))
        .routes(routes!(datasets::replace_dataset_files))
        .routes(routes!(datasets::get_report))
        .routes(routes!(datasets::get_template))
        .routes(routes!(jobs::list_jobs))
        .routes(routes!(jobs::get_job))
}

/// Lifts the request size limit for routes that receive dataset files, which stream to the
/// store and are limited per file (2 GiB).
fn uploads(
    (schemas, paths, router): utoipa_axum::router::UtoipaMethodRouter<AppState>,
) -> utoipa_axum::router::UtoipaMethodRouter<AppState> {
    (
        schemas,
        paths,
        router.layer(axum::extract::DefaultBodyLimit::disable()),
    )
}

static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> =
    LazyLock::new(|| api_router().split_for_parts().1);

/// The OpenAPI document of the API, as served at `/api/v1/openapi.json`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    DOCUMENT.clone()
}

pub fn routes() -> axum::Router<AppState> {
    api_router()
        .split_for_parts()
        .0
        .layer(axum::middleware::from_fn(in_the_envelope))
}

/// Puts the framework's own refusals (a body that is not JSON, a malformed upload, a path
/// parameter that is not a number) in the API's error envelope, like every other error.
async fn in_the_envelope(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound("no such API route"),
        StatusCode::UNAUTHORIZED => ApiError::Unauthenticated,
        StatusCode::FORBIDDEN => ApiError::Forbidden,
        s if s.is_server_error() => ApiError::Internal(text),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::Invalid("the request body is too large".into()),
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::Invalid("this route does not take that method".into())
        }
        _ if text.is_empty() => ApiError::Invalid("the request is not valid".into()),
        _ => ApiError::Invalid(text),
    };
    error.into_response()
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_document())
}

/// The marketplace and role an API token acts in.
pub struct ApiScope {
    pub marketplace: Marketplace,
    pub role: Role,
    pub token_id: i64,
}

impl FromRequestParts<AppState> for ApiScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthenticated)?;
        let stored = state
            .store
            .api_token(&ferry_accounts::credentials::secret_hash(token))
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        let marketplace = state
            .store
            .marketplace(stored.marketplace_id)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        Ok(ApiScope {
            marketplace,
            role: stored.role,
            token_id: stored.id,
        })
    }
}

impl ApiScope {
    pub fn id(&self) -> i64 {
        self.marketplace.id
    }

    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.role.allows(permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// Refused unless the token's role may work the marketplace's pending companies now (the
    /// sync settings open them to Sales Support and Customer Support).
    pub async fn require_pending(&self, state: &AppState) -> Result<(), ApiError> {
        let open = state
            .store
            .sync_settings(self.id())
            .await?
            .pending_open_to();
        if ferry_domain::may_manage_pending(&[self.role], open) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// How the audit log names the token.
    pub fn actor(&self) -> String {
        format!("api-token:{}", self.token_id)
    }
}

/// Paging parameters shared by every list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// At most this many items (1 to 500, default 50).
    pub limit: Option<i64>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(50).clamp(1, 500)
    }
}

/// A list's `q` parameter: refused when longer than [`crate::web::MAX_SEARCH_CHARS`] or
/// holding a NUL character.
pub fn search_term(q: Option<String>) -> Result<Option<String>, ApiError> {
    match q.as_deref().and_then(ferry_domain::text_problem) {
        Some(problem) => Err(ApiError::Invalid(format!("q {problem}"))),
        None => Ok(q),
    }
}

/// The `after` cursor of a list in name order (`tenant id|lower-case name`), as the store's
/// key `(name, tenant id)`.
pub fn name_cursor(after: Option<&str>) -> Result<Option<(String, String)>, ApiError> {
    after
        .map(|cursor| {
            cursor
                .split_once('|')
                .map(|(tenant, name)| (name.to_owned(), tenant.to_owned()))
                .ok_or_else(|| {
                    ApiError::Invalid(format!("'{cursor}' is not a cursor from this list"))
                })
        })
        .transpose()
}

/// The `next` cursor after the row of `tenant_id` named `name`, when the page was full.
pub fn next_name_cursor(full: bool, last: Option<(&str, &str)>) -> Option<String> {
    full.then_some(last)
        .flatten()
        .map(|(tenant, name)| format!("{tenant}|{}", name.to_lowercase()))
}

/// RFC 3339 text of a stored time.
pub fn rfc3339(millis: i64) -> String {
    ferry_domain::Timestamp(millis).to_rfc3339()
}

/// An accepted piece of long work: follow it at `GET /api/v1/jobs/{job_id}`.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub job_id: i64,
}

pub type ApiResult<T> = Result<Json<T>, ApiError>;
