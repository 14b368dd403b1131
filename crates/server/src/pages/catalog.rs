//! The catalog: products with their editions and offer ids — added and mapped here by those
//! who may write it — and each product's provisioning webhook.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::response::Response;
use ferry_domain::Permission;
use serde::Deserialize;

use super::{NoticeQuery, page};
use crate::AppState;
use crate::error::PageError;
use crate::shared::catalog::{self, EditionIn, ProductIn};
use crate::shared::webhooks::{self, WebhookError};
use crate::web::{Chrome, Scope, or_dash};
use ferry_storage::StoreError;

struct EditionView {
    id: i64,
    name: String,
    code: String,
    pricing_plan_id: String,
    channel_sku: String,
    unit: String,
    included: i64,
    connector: String,
    offers: String,
    status: &'static str,
}

struct ProductView {
    id: i64,
    name: String,
    vendor: String,
    editions: Vec<EditionView>,
    webhook_url: String,
    webhook_signed: bool,
}

#[derive(Template)]
#[template(path = "catalog.html")]
struct CatalogPage {
    chrome: Chrome,
    base: String,
    products: Vec<ProductView>,
    /// Whether the viewer may set webhooks.
    can_write: bool,
    error: Option<String>,
}

async fn catalog_page(
    state: &AppState,
    scope: &Scope,
    notice: Option<&str>,
    error: Option<String>,
) -> Result<CatalogPage, PageError> {
    scope.require(Permission::ReadCatalog)?;
    let products = state.store.products(scope.id()).await?;
    Ok(CatalogPage {
        chrome: scope.chrome("Catalog").notice(notice),
        base: scope.base(),
        can_write: scope.principal.allows(Permission::WriteCatalog),
        error,
        products: products
            .into_iter()
            .map(|p| ProductView {
                id: p.id,
                name: p.name,
                vendor: p.vendor,
                webhook_url: p.webhook_url.unwrap_or_default(),
                webhook_signed: p.webhook_signed,
                editions: p
                    .editions
                    .into_iter()
                    .map(|e| EditionView {
                        id: e.id,
                        name: e.name,
                        code: e.code,
                        pricing_plan_id: e.pricing_plan_id,
                        channel_sku: or_dash(e.channel_sku.as_deref()),
                        unit: e.pricing_unit,
                        included: e.included_units,
                        connector: e.connector,
                        offers: e.offer_ids.unwrap_or_default(),
                        status: if e.active { "active" } else { "retired" },
                    })
                    .collect(),
            })
            .collect(),
    })
}

pub async fn catalog(
    State(state): State<AppState>,
    scope: Scope,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    page(&catalog_page(&state, &scope, query.notice.as_deref(), None).await?)
}

#[derive(Deserialize)]
pub struct WebhookForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    secret: String,
}

/// Sets a product's provisioning webhook; an empty address removes it, an empty secret keeps
/// the current one.
pub async fn set_webhook(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<WebhookForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::WriteCatalog)?;
    let url = Some(form.url.trim()).filter(|u| !u.is_empty());
    let secret = Some(form.secret.as_str()).filter(|s| !s.is_empty());
    match webhooks::save(&state, scope.id(), id, url, secret).await {
        Ok(()) => Ok(scope.see_other("catalog", "saved")),
        Err(WebhookError::Store(e)) => Err(e.into()),
        Err(error) => {
            let page = catalog_page(&state, &scope, None, Some(error.to_string())).await?;
            Ok((
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                axum::response::Html(page.render()?),
            )
                .into_response())
        }
    }
}

/// The catalog page again with `error`, when a form was refused.
async fn catalog_refused(
    state: &AppState,
    scope: &Scope,
    error: String,
) -> Result<Response, PageError> {
    let page = catalog_page(state, scope, None, Some(error)).await?;
    Ok((
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        axum::response::Html(page.render()?),
    )
        .into_response())
}

/// What a catalog write the store refused says, or the error to pass on.
fn refusal(error: StoreError) -> Result<String, PageError> {
    match error {
        StoreError::Conflict { key } => Ok(catalog::conflict(key)),
        StoreError::NotFound { .. } => Err(PageError::NotFound),
        other => Err(other.into()),
    }
}

pub async fn create_product(
    State(state): State<AppState>,
    scope: Scope,
    Form(form): Form<ProductIn>,
) -> Result<Response, PageError> {
    scope.require(Permission::WriteCatalog)?;
    let outcome = match form.product() {
        Ok(product) => match state.store.create_product(scope.id(), &product).await {
            Ok(_) => return Ok(scope.see_other("catalog", "created")),
            Err(error) => refusal(error)?,
        },
        Err(why) => why,
    };
    catalog_refused(&state, &scope, outcome).await
}

#[derive(Deserialize)]
pub struct EditionForm {
    code: String,
    name: String,
    #[serde(default)]
    offer_ids: String,
    #[serde(default)]
    pricing_unit: String,
    #[serde(default)]
    included_units: String,
}

pub async fn create_edition(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, product)): Path<(String, i64)>,
    Form(form): Form<EditionForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::WriteCatalog)?;
    let included_units = match form.included_units.trim() {
        "" => Ok(None),
        typed => typed
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("'{typed}' is not a number of included units.")),
    };
    let edition = included_units.and_then(|included_units| {
        EditionIn {
            code: form.code,
            name: form.name,
            offer_ids: vec![form.offer_ids],
            pricing_unit: Some(form.pricing_unit),
            included_units,
            pricing_plan_id: None,
        }
        .edition(product)
    });
    let outcome = match edition {
        Ok(edition) => match state.store.create_edition(scope.id(), &edition).await {
            Ok(_) => return Ok(scope.see_other("catalog", "created")),
            Err(error) => refusal(error)?,
        },
        Err(why) => why,
    };
    catalog_refused(&state, &scope, outcome).await
}

#[derive(Deserialize)]
pub struct OffersForm {
    #[serde(default)]
    offer_ids: String,
}

/// Replaces the offer ids an edition stands for.
pub async fn set_offers(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, edition)): Path<(String, i64)>,
    Form(form): Form<OffersForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::WriteCatalog)?;
    let outcome = match catalog::offers(&[form.offer_ids]) {
        Ok(offers) => match state
            .store
            .set_edition_offers(scope.id(), edition, &offers)
            .await
        {
            Ok(()) => return Ok(scope.see_other("catalog", "saved")),
            Err(error) => refusal(error)?,
        },
        Err(why) => why,
    };
    catalog_refused(&state, &scope, outcome).await
}
