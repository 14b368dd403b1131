//! Partner Center instances over the API. Secrets go in, never come out.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ferry_domain::Permission;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiResult, ApiScope};
use crate::AppState;
use crate::error::ApiError;
use crate::shared::instances::InstanceIn;
use ferry_tenants::instances::{self, Visible};

#[derive(Serialize, ToSchema)]
pub struct InstanceOut {
    id: i64,
    name: String,
    /// direct, indirect or both.
    model: String,
    partner_tenant_id: String,
    application_id: String,
    mpn_id: Option<String>,
    api_base_url: String,
    login_base_url: String,
    /// Whether a refresh token (App+User) is stored.
    has_refresh_token: bool,
    /// unchecked, authenticated, expired (a partner user must consent again) or failing.
    auth_state: String,
    auth_reason: Option<String>,
    checked_at: Option<String>,
    /// The parent marketplace's slug, for an instance inherited by a country tenant.
    inherited_from: Option<String>,
}

impl From<&Visible> for InstanceOut {
    fn from(v: &Visible) -> Self {
        let s = &v.record.summary;
        InstanceOut {
            id: s.id,
            name: s.name.clone(),
            model: s.model.clone(),
            partner_tenant_id: s.partner_tenant_id.clone(),
            application_id: s.application_id.clone(),
            mpn_id: s.mpn_id.clone(),
            api_base_url: s.api_base_url.clone(),
            login_base_url: s.login_base_url.clone(),
            has_refresh_token: s.has_refresh_token,
            auth_state: s.auth_state.as_str().to_owned(),
            auth_reason: s.auth_reason.clone(),
            checked_at: s.checked_at.map(super::rfc3339),
            inherited_from: v.inherited_from.as_ref().map(|m| m.slug.clone()),
        }
    }
}

pub(super) async fn visible_one(
    state: &AppState,
    scope: &ApiScope,
    id: i64,
) -> Result<Visible, ApiError> {
    instances::find(state.store.as_ref(), &scope.marketplace, id)
        .await?
        .ok_or(ApiError::NotFound("Partner Center instance"))
}

/// The marketplace's instances, and its parent's for a country tenant.
#[utoipa::path(get, path = "/api/v1/instances", tag = "partner-center",
    responses((status = 200, description = "OK", body = Vec<InstanceOut>), (status = 403, description = "The token's role does not allow this", body = super::ErrorEnvelope)))]
pub async fn list_instances(
    State(state): State<AppState>,
    scope: ApiScope,
) -> ApiResult<Vec<InstanceOut>> {
    scope.require(Permission::ManagePartnerCenter)?;
    let all = instances::visible(state.store.as_ref(), &scope.marketplace).await?;
    Ok(Json(all.iter().map(InstanceOut::from).collect()))
}

/// Connects the marketplace to a Partner Center account, and checks the connection. Secrets are
/// stored sealed.
#[utoipa::path(post, path = "/api/v1/instances", tag = "partner-center", request_body = InstanceIn,
    responses((status = 201, description = "Created", body = InstanceOut), (status = 409, description = "A unique key is taken", body = super::ErrorEnvelope),
              (status = 422, description = "The input is invalid", body = super::ErrorEnvelope)))]
pub async fn create_instance(
    State(state): State<AppState>,
    scope: ApiScope,
    Json(input): Json<InstanceIn>,
) -> Result<(StatusCode, Json<InstanceOut>), ApiError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let instance = input
        .build(&state.sealer, None, state.partner_center_local)
        .map_err(|refused| ApiError::Invalid(refused.message))?;
    let id = state.store.create_instance(scope.id(), &instance).await?;
    // Checked at once: the answer says whether it connects.
    let created = visible_one(&state, &scope, id).await?;
    instances::check(&state.store, &state.sealer, &state.clients, &created.record).await?;
    Ok((
        StatusCode::CREATED,
        Json(InstanceOut::from(&visible_one(&state, &scope, id).await?)),
    ))
}

/// One instance.
#[utoipa::path(get, path = "/api/v1/instances/{id}", tag = "partner-center", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = InstanceOut), (status = 404, description = "Not found in this marketplace", body = super::ErrorEnvelope)))]
pub async fn get_instance(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> ApiResult<InstanceOut> {
    scope.require(Permission::ManagePartnerCenter)?;
    Ok(Json(InstanceOut::from(
        &visible_one(&state, &scope, id).await?,
    )))
}

/// Changes an instance of this marketplace (an inherited one belongs to the parent).
#[utoipa::path(patch, path = "/api/v1/instances/{id}", tag = "partner-center", params(("id" = i64, Path)), request_body = InstanceIn,
    responses((status = 200, description = "OK", body = InstanceOut), (status = 403, description = "The token's role does not allow this", body = super::ErrorEnvelope),
              (status = 404, description = "Not found in this marketplace", body = super::ErrorEnvelope), (status = 422, description = "The input is invalid", body = super::ErrorEnvelope)))]
pub async fn update_instance(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
    Json(input): Json<InstanceIn>,
) -> ApiResult<InstanceOut> {
    scope.require(Permission::ManagePartnerCenter)?;
    let current = visible_one(&state, &scope, id).await?;
    if current.inherited_from.is_some() {
        return Err(ApiError::Forbidden);
    }
    let instance = input
        .build(
            &state.sealer,
            Some(&current.record),
            state.partner_center_local,
        )
        .map_err(|refused| ApiError::Invalid(refused.message))?;
    state
        .store
        .update_instance(scope.id(), id, &instance)
        .await?;
    state.clients.forget(id);
    Ok(Json(InstanceOut::from(
        &visible_one(&state, &scope, id).await?,
    )))
}

/// Removes an instance of this marketplace that no company is linked through.
#[utoipa::path(delete, path = "/api/v1/instances/{id}", tag = "partner-center", params(("id" = i64, Path)),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not found in this marketplace", body = super::ErrorEnvelope),
              (status = 409, description = "Companies are linked through it", body = super::ErrorEnvelope)))]
pub async fn delete_instance(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let current = visible_one(&state, &scope, id).await?;
    if current.inherited_from.is_some() {
        return Err(ApiError::Forbidden);
    }
    state.store.delete_instance(scope.id(), id).await?;
    state.clients.forget(id);
    Ok(StatusCode::NO_CONTENT)
}

/// Checks the connection: a token, then one small call. The answer carries the state found.
#[utoipa::path(post, path = "/api/v1/instances/{id}/check", tag = "partner-center", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = InstanceOut), (status = 404, description = "Not found in this marketplace", body = super::ErrorEnvelope)))]
pub async fn check_instance(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> ApiResult<InstanceOut> {
    scope.require(Permission::ManagePartnerCenter)?;
    let current = visible_one(&state, &scope, id).await?;
    instances::check(&state.store, &state.sealer, &state.clients, &current.record).await?;
    Ok(Json(InstanceOut::from(
        &visible_one(&state, &scope, id).await?,
    )))
}

/// How the marketplace uses Partner Center beyond its instances.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PartnerCenterSettings {
    /// Check the Microsoft customers and subscriptions of datasets against Partner Center, through
    /// the marketplace's instances, while they are validated.
    microsoft_validation: bool,
}

#[utoipa::path(get, path = "/api/v1/partner-center/settings", tag = "partner-center",
    responses((status = 200, description = "OK", body = PartnerCenterSettings)))]
pub async fn get_partner_center_settings(
    State(state): State<AppState>,
    scope: ApiScope,
) -> ApiResult<PartnerCenterSettings> {
    scope.require(Permission::ManagePartnerCenter)?;
    let settings = state.store.marketplace_settings(scope.id()).await?;
    Ok(Json(PartnerCenterSettings {
        microsoft_validation: settings.microsoft_validation,
    }))
}

#[utoipa::path(put, path = "/api/v1/partner-center/settings", tag = "partner-center",
    request_body = PartnerCenterSettings,
    responses((status = 204, description = "Saved")))]
pub async fn put_partner_center_settings(
    State(state): State<AppState>,
    scope: ApiScope,
    Json(input): Json<PartnerCenterSettings>,
) -> Result<StatusCode, ApiError> {
    scope.require(Permission::ManagePartnerCenter)?;
    instances::set_microsoft_validation(&*state.store, scope.id(), input.microsoft_validation)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
