//! The catalog: products with their editions and offer ids, and each product's provisioning
//! webhook.

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
use crate::shared::webhooks::{self, WebhookError};
use crate::web::{Chrome, Scope, or_dash};

struct EditionView {
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
                        name: e.name,
                        code: e.code,
                        pricing_plan_id: e.pricing_plan_id,
                        channel_sku: or_dash(e.channel_sku.as_deref()),
                        unit: e.pricing_unit,
                        included: e.included_units,
                        connector: e.connector,
                        offers: or_dash(e.offer_ids.as_deref()),
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
