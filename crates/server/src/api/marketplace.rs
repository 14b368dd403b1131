//! The token's marketplace, its catalog (read, and products, editions and their offer ids
//! added), and its outbox.

use axum::Json;
use axum::extract::State;
use ferry_domain::Permission;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiResult, ApiScope};
use crate::AppState;
use crate::error::ApiError;
use crate::shared::catalog::{EditionIn, ProductIn};

#[derive(Serialize, ToSchema)]
pub struct MarketplaceOut {
    id: i64,
    slug: String,
    name: String,
    /// distributor, country_tenant or simple_tenant.
    kind: String,
    parent_id: Option<i64>,
    /// The role the calling token holds here.
    role: String,
}

/// The marketplace the token belongs to.
#[utoipa::path(get, path = "/api/v1/marketplace", tag = "marketplace",
    responses((status = 200, description = "OK", body = MarketplaceOut), (status = 401, description = "No valid API token", body = super::ErrorEnvelope)))]
pub async fn get_marketplace(scope: ApiScope) -> ApiResult<MarketplaceOut> {
    let m = &scope.marketplace;
    Ok(Json(MarketplaceOut {
        id: m.id,
        slug: m.slug.clone(),
        name: m.name.clone(),
        kind: m.kind.as_str().into(),
        parent_id: m.parent_id,
        role: scope.role.as_str().into(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ProductOut {
    id: i64,
    name: String,
    vendor: String,
    editions: Vec<EditionOut>,
}

#[derive(Serialize, ToSchema)]
pub struct EditionOut {
    id: i64,
    code: String,
    name: String,
    pricing_plan_id: String,
    channel_sku: Option<String>,
    pricing_unit: String,
    included_units: i64,
    connector: String,
    active: bool,
    /// The Microsoft offer ids this edition stands for.
    offer_ids: Vec<String>,
}

/// The catalog: products, editions and their Microsoft offer ids.
#[utoipa::path(get, path = "/api/v1/catalog", tag = "catalog",
    responses((status = 200, description = "OK", body = Vec<ProductOut>), (status = 403, description = "The token's role does not allow this", body = super::ErrorEnvelope)))]
pub async fn get_catalog(
    State(state): State<AppState>,
    scope: ApiScope,
) -> ApiResult<Vec<ProductOut>> {
    scope.require(Permission::ReadCatalog)?;
    let products = state.store.products(scope.id()).await?;
    Ok(Json(
        products
            .into_iter()
            .map(|p| ProductOut {
                id: p.id,
                name: p.name,
                vendor: p.vendor,
                editions: p
                    .editions
                    .into_iter()
                    .map(|e| EditionOut {
                        id: e.id,
                        code: e.code,
                        name: e.name,
                        pricing_plan_id: e.pricing_plan_id,
                        channel_sku: e.channel_sku,
                        pricing_unit: e.pricing_unit,
                        included_units: e.included_units,
                        connector: e.connector,
                        active: e.active,
                        offer_ids: e
                            .offer_ids
                            .map(|ids| ids.split(", ").map(str::to_owned).collect())
                            .unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct EmailOut {
    id: i64,
    to: String,
    subject: String,
    body: String,
    created_at: String,
    /// Why SMTP refused it, when it did.
    last_error: Option<String>,
}

/// E-mail not sent by SMTP, newest first.
#[utoipa::path(get, path = "/api/v1/outbox", tag = "marketplace",
    responses((status = 200, description = "OK", body = Vec<EmailOut>), (status = 403, description = "The token's role does not allow this", body = super::ErrorEnvelope)))]
pub async fn list_outbox(
    State(state): State<AppState>,
    scope: ApiScope,
) -> ApiResult<Vec<EmailOut>> {
    scope.require(Permission::ReadOutbox)?;
    let emails = state.store.outbox(Some(scope.id()), 500).await?;
    Ok(Json(
        emails
            .into_iter()
            .map(|e| EmailOut {
                id: e.id,
                to: e.to_address,
                subject: e.subject,
                body: e.body,
                created_at: e.created_at.to_rfc3339(),
                last_error: e.last_error,
            })
            .collect(),
    ))
}

/// Where a product's provisioning events go (docs/datasets.md).
#[derive(serde::Deserialize, ToSchema)]
pub struct WebhookIn {
    /// The vendor's address for signed subscription events; null removes the webhook.
    url: Option<String>,
    /// The HMAC-SHA256 key events are signed with. Stored encrypted, never shown back; when
    /// omitted, the current key stays.
    secret: Option<String>,
}

/// Sets a product's provisioning webhook.
#[utoipa::path(put, path = "/api/v1/catalog/products/{id}/webhook", tag = "catalog", params(("id" = i64, Path)),
    request_body = WebhookIn,
    responses((status = 204, description = "Saved"), (status = 404, description = "Not found in this marketplace", body = super::ErrorEnvelope), (status = 422, description = "The address is not http(s)", body = super::ErrorEnvelope)))]
pub async fn set_webhook(
    State(state): State<AppState>,
    scope: ApiScope,
    axum::extract::Path(id): axum::extract::Path<i64>,
    Json(input): Json<WebhookIn>,
) -> Result<axum::http::StatusCode, ApiError> {
    scope.require(Permission::WriteCatalog)?;
    crate::shared::webhooks::save(
        &state,
        scope.id(),
        id,
        input.url.as_deref(),
        input.secret.as_deref(),
    )
    .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

impl From<crate::shared::webhooks::WebhookError> for ApiError {
    fn from(error: crate::shared::webhooks::WebhookError) -> Self {
        match error {
            crate::shared::webhooks::WebhookError::NotHttp => {
                ApiError::Invalid("url must be an http:// or https:// address".into())
            }
            crate::shared::webhooks::WebhookError::Store(e) => e.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Created {
    id: i64,
}

/// A catalog write refused by the store, in words.
fn catalog_error(error: ferry_storage::StoreError) -> ApiError {
    match error {
        ferry_storage::StoreError::Conflict { key } => {
            ApiError::Conflict(crate::shared::catalog::conflict(key))
        }
        other => other.into(),
    }
}

/// Adds a product to the catalog.
#[utoipa::path(post, path = "/api/v1/catalog/products", tag = "catalog", request_body = ProductIn,
    responses((status = 201, description = "Created", body = Created), (status = 409, description = "A product has this name", body = super::ErrorEnvelope),
              (status = 422, description = "No name", body = super::ErrorEnvelope)))]
pub async fn create_product(
    State(state): State<AppState>,
    scope: ApiScope,
    Json(input): Json<ProductIn>,
) -> Result<(axum::http::StatusCode, Json<Created>), ApiError> {
    scope.require(Permission::WriteCatalog)?;
    let product = input.product().map_err(ApiError::Invalid)?;
    let id = state
        .store
        .create_product(scope.id(), &product)
        .await
        .map_err(catalog_error)?;
    Ok((axum::http::StatusCode::CREATED, Json(Created { id })))
}

/// Adds an edition to a product, with the Microsoft offer ids it stands for.
#[utoipa::path(post, path = "/api/v1/catalog/products/{id}/editions", tag = "catalog", params(("id" = i64, Path)),
    request_body = EditionIn,
    responses((status = 201, description = "Created", body = Created), (status = 404, description = "Not found in this marketplace", body = super::ErrorEnvelope),
              (status = 409, description = "The code, or an offer id, is another edition's", body = super::ErrorEnvelope),
              (status = 422, description = "A field that is not one", body = super::ErrorEnvelope)))]
pub async fn create_edition(
    State(state): State<AppState>,
    scope: ApiScope,
    axum::extract::Path(id): axum::extract::Path<i64>,
    Json(input): Json<EditionIn>,
) -> Result<(axum::http::StatusCode, Json<Created>), ApiError> {
    scope.require(Permission::WriteCatalog)?;
    let edition = input.edition(id).map_err(ApiError::Invalid)?;
    let id = state
        .store
        .create_edition(scope.id(), &edition)
        .await
        .map_err(catalog_error)?;
    Ok((axum::http::StatusCode::CREATED, Json(Created { id })))
}

#[derive(serde::Deserialize, ToSchema)]
pub struct OffersIn {
    /// Every offer id the edition stands for (replacing those it had).
    offer_ids: Vec<String>,
}

/// Replaces the Microsoft offer ids an edition stands for.
#[utoipa::path(put, path = "/api/v1/catalog/editions/{id}/offers", tag = "catalog", params(("id" = i64, Path)),
    request_body = OffersIn,
    responses((status = 204, description = "Saved"), (status = 404, description = "Not found in this marketplace", body = super::ErrorEnvelope),
              (status = 409, description = "An offer id is another active edition's", body = super::ErrorEnvelope),
              (status = 422, description = "Something that is not an offer id", body = super::ErrorEnvelope)))]
pub async fn set_edition_offers(
    State(state): State<AppState>,
    scope: ApiScope,
    axum::extract::Path(id): axum::extract::Path<i64>,
    Json(input): Json<OffersIn>,
) -> Result<axum::http::StatusCode, ApiError> {
    scope.require(Permission::WriteCatalog)?;
    let offers = crate::shared::catalog::offers(&input.offer_ids).map_err(ApiError::Invalid)?;
    state
        .store
        .set_edition_offers(scope.id(), id, &offers)
        .await
        .map_err(catalog_error)?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
