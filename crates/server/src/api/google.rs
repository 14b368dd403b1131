//! Google Workspace over the API: the marketplace's Google connection (a service account's key
//! and the admin it acts as, checked when saved) and each company's Workspace customer, for
//! User Sync from Google Workspace.

use axum::Json;
use axum::extract::{Path, State};
use ferry_domain::{GoogleCustomer, Permission};
use ferry_storage::GoogleConnection;
use ferry_tenants::google::{ConnectGoogle, GoogleRefused, connect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiResult, ApiScope, ErrorEnvelope, rfc3339};
use crate::AppState;
use crate::error::ApiError;
use crate::shared::google::customer_as_typed;

#[derive(Serialize, ToSchema)]
pub struct ConnectionOut {
    /// The service account.
    client_email: String,
    /// The Workspace admin it acts as.
    admin: String,
    api_url: String,
    token_url: String,
    /// Whether the last check got a token.
    works: bool,
    checked_at: Option<String>,
    /// Why the last check failed, in Google's words.
    check_error: Option<String>,
}

impl From<GoogleConnection> for ConnectionOut {
    fn from(c: GoogleConnection) -> Self {
        ConnectionOut {
            works: c.checked_at.is_some() && c.check_error.is_none(),
            client_email: c.client_email,
            admin: c.admin_email,
            api_url: c.api_url,
            token_url: c.token_url,
            checked_at: c.checked_at.map(rfc3339),
            check_error: c.check_error,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionIn {
    /// The service account's JSON key file, as an object or as its text.
    #[schema(value_type = Object)]
    key_file: serde_json::Value,
    /// The Workspace admin to act as (domain-wide delegation).
    admin: String,
    /// The Directory API; Google's when left out.
    api_url: Option<String>,
    /// The token endpoint; the key file's `token_uri` when left out.
    token_url: Option<String>,
}

/// The marketplace's Google connection; null until one is saved.
#[utoipa::path(get, path = "/api/v1/google/connection", tag = "user-sync",
    responses((status = 200, description = "The connection, or null", body = Option<ConnectionOut>)))]
pub async fn get_connection(
    State(state): State<AppState>,
    scope: ApiScope,
) -> ApiResult<Option<ConnectionOut>> {
    scope.require(Permission::ManagePartnerCenter)?;
    let connection = state.store.google_connection(scope.id()).await?;
    Ok(Json(connection.map(ConnectionOut::from)))
}

/// Saves the Google connection in place of the one before (the key sealed, never shown
/// again) and checks it at once: the answer says whether Google gave a token, or why not.
#[utoipa::path(put, path = "/api/v1/google/connection", tag = "user-sync", request_body = ConnectionIn,
    responses((status = 200, description = "Saved and checked", body = ConnectionOut),
              (status = 422, description = "Not a service account's key, not an e-mail, or not Google's address", body = ErrorEnvelope)))]
pub async fn put_connection(
    State(state): State<AppState>,
    scope: ApiScope,
    Json(input): Json<ConnectionIn>,
) -> ApiResult<ConnectionOut> {
    scope.require(Permission::ManagePartnerCenter)?;
    let key_file = match input.key_file {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    };
    let request = ConnectGoogle {
        key_file: &key_file,
        admin: &input.admin,
        api_url: input.api_url.as_deref(),
        token_url: input.token_url.as_deref(),
    };
    let saved = connect(
        &*state.store,
        &state.sealer,
        scope.id(),
        &request,
        state.partner_center_local,
        &scope.actor(),
    )
    .await
    .map_err(|refused| match refused {
        GoogleRefused::Store(error) => error.into(),
        invalid => ApiError::Invalid(invalid.to_string()),
    })?;
    Ok(Json(saved.into()))
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyGoogle {
    /// The Workspace customer id (`C0…`).
    customer_id: Option<String>,
    /// Or its primary domain. Neither: no link.
    domain: Option<String>,
}

impl From<Option<GoogleCustomer>> for CompanyGoogle {
    fn from(customer: Option<GoogleCustomer>) -> Self {
        match customer {
            Some(GoogleCustomer::Id(id)) => CompanyGoogle {
                customer_id: Some(id),
                domain: None,
            },
            Some(GoogleCustomer::Domain(domain)) => CompanyGoogle {
                customer_id: None,
                domain: Some(domain),
            },
            None => CompanyGoogle::default(),
        }
    }
}

/// The company's Google Workspace customer.
#[utoipa::path(get, path = "/api/v1/companies/{id}/google", tag = "companies",
    params(("id" = i64, Path, description = "The company")),
    responses((status = 200, description = "The link; both fields null when there is none", body = CompanyGoogle),
              (status = 404, description = "Not found in this marketplace", body = ErrorEnvelope)))]
pub async fn get_company_google(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> ApiResult<CompanyGoogle> {
    scope.require(Permission::ReadCompanies)?;
    if state.store.company(scope.id(), id).await?.is_none() {
        return Err(ApiError::NotFound("company"));
    }
    Ok(Json(
        state.store.company_google(scope.id(), id).await?.into(),
    ))
}

/// Links the company to its Google Workspace customer, by customer id or primary domain
/// (neither unlinks); in the company's History.
#[utoipa::path(put, path = "/api/v1/companies/{id}/google", tag = "companies",
    params(("id" = i64, Path, description = "The company")), request_body = CompanyGoogle,
    responses((status = 200, description = "Linked", body = CompanyGoogle),
              (status = 404, description = "Not found in this marketplace", body = ErrorEnvelope),
              (status = 422, description = "Both given, or not a customer id or domain", body = ErrorEnvelope)))]
pub async fn put_company_google(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
    Json(input): Json<CompanyGoogle>,
) -> ApiResult<CompanyGoogle> {
    scope.require(Permission::WriteCompanies)?;
    let customer = customer_as_typed(input.customer_id.as_deref(), input.domain.as_deref())
        .map_err(ApiError::Invalid)?;
    let found = state
        .store
        .set_company_google(scope.id(), id, customer.as_ref(), &scope.actor())
        .await?;
    if !found {
        return Err(ApiError::NotFound("company"));
    }
    Ok(Json(customer.into()))
}
