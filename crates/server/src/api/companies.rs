//! Companies over the API.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use ferry_domain::{CompanyStatus, NewCompany, Origin, Permission};
use ferry_storage::{Company, CompanyKey, CompanyQuery, NewAuditEntry};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, ApiScope, PageParams};
use crate::AppState;
use crate::error::ApiError;
use crate::shared::companies::{CompanyForm, leaves_pending, stored_as_new};

#[derive(Serialize, ToSchema)]
pub struct CompanyOut {
    id: i64,
    external_id: Option<String>,
    name: String,
    street1: Option<String>,
    street2: Option<String>,
    city: Option<String>,
    state: Option<String>,
    zip: Option<String>,
    /// ISO 3166-1 alpha-2.
    country: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    website: Option<String>,
    allow_login: bool,
    /// pending, active or suspended.
    status: String,
    custom_attributes: BTreeMap<String, String>,
    /// manual, dataset, import, sync or demo.
    origin: String,
    created_at: String,
    updated_at: String,
}

impl From<Company> for CompanyOut {
    fn from(c: Company) -> Self {
        CompanyOut {
            id: c.id,
            external_id: c.external_id,
            name: c.name,
            street1: c.street1,
            street2: c.street2,
            city: c.city,
            state: c.state,
            zip: c.zip,
            country: c.country,
            phone: c.phone,
            email: c.email,
            website: c.website,
            allow_login: c.allow_login,
            status: c.status.as_str().into(),
            custom_attributes: c.custom_attributes,
            origin: c.origin_kind,
            created_at: c.created_at.to_rfc3339(),
            updated_at: c.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CompanyPage {
    items: Vec<CompanyOut>,
    /// Pass as `after` for the next page; absent on the last page.
    next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompanyFilters {
    /// Any part of the name, external id, email or website (from three characters; shorter,
    /// the start of the name or the whole external id or email).
    q: Option<String>,
    /// pending, active or suspended.
    status: Option<String>,
    /// manual, dataset, import, sync or demo.
    origin: Option<String>,
}

/// Companies in name order, a page at a time.
#[utoipa::path(get, path = "/api/v1/companies", tag = "companies", params(CompanyFilters, PageParams),
    responses((status = 200, description = "OK", body = CompanyPage), (status = 403, description = "The token's role does not allow this", body = super::ErrorEnvelope),
              (status = 422, description = "A filter is invalid, or the search longer than 200 characters", body = super::ErrorEnvelope)))]
pub async fn list_companies(
    State(state): State<AppState>,
    scope: ApiScope,
    Query(filters): Query<CompanyFilters>,
    Query(page): Query<PageParams>,
) -> ApiResult<CompanyPage> {
    scope.require(Permission::ReadCompanies)?;
    let status = filters
        .status
        .as_deref()
        .map(str::parse::<CompanyStatus>)
        .transpose()?;
    let after = page
        .after
        .as_deref()
        .map(|cursor| {
            cursor
                .split_once(':')
                .and_then(|(id, name)| {
                    Some(CompanyKey {
                        id: id.parse().ok()?,
                        name: name.to_owned(),
                    })
                })
                .ok_or_else(|| {
                    ApiError::Invalid(format!("'{cursor}' is not a cursor from this list"))
                })
        })
        .transpose()?;
    let limit = page.limit();
    let companies = state
        .store
        .companies(
            scope.id(),
            &CompanyQuery {
                search: super::search_term(filters.q)?,
                status,
                origin_kind: filters.origin,
                after,
                before: None,
                limit,
            },
        )
        .await?;
    let next = (i64::try_from(companies.len()).unwrap_or(0) == limit)
        .then(|| {
            companies
                .last()
                .map(|c| format!("{}:{}", c.id, c.key().name))
        })
        .flatten();
    Ok(Json(CompanyPage {
        items: companies.into_iter().map(CompanyOut::from).collect(),
        next,
    }))
}

/// The fields of a company to create or change; on update, absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CompanyIn {
    name: Option<String>,
    external_id: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    website: Option<String>,
    status: Option<String>,
    street1: Option<String>,
    street2: Option<String>,
    city: Option<String>,
    state: Option<String>,
    zip: Option<String>,
    country: Option<String>,
    allow_login: Option<bool>,
    custom_attributes: Option<BTreeMap<String, String>>,
}

impl CompanyIn {
    fn over(self, mut f: CompanyForm) -> (CompanyForm, Option<BTreeMap<String, String>>) {
        let set = |field: &mut String, value: Option<String>| {
            if let Some(value) = value {
                *field = value;
            }
        };
        set(&mut f.name, self.name);
        set(&mut f.external_id, self.external_id);
        set(&mut f.email, self.email);
        set(&mut f.phone, self.phone);
        set(&mut f.website, self.website);
        set(&mut f.status, self.status);
        set(&mut f.street1, self.street1);
        set(&mut f.street2, self.street2);
        set(&mut f.city, self.city);
        set(&mut f.state, self.state);
        set(&mut f.zip, self.zip);
        set(&mut f.country, self.country);
        if let Some(allow) = self.allow_login {
            f.allow_login = allow;
        }
        (f, self.custom_attributes)
    }
}

fn audit(scope: &ApiScope, action: &str, id: i64, changes: serde_json::Value) -> NewAuditEntry {
    NewAuditEntry {
        marketplace_id: Some(scope.id()),
        actor: scope.actor(),
        action: action.into(),
        entity_type: "company".into(),
        entity_id: Some(id),
        changes,
    }
}

/// Creates a company.
#[utoipa::path(post, path = "/api/v1/companies", tag = "companies", request_body = CompanyIn,
    responses((status = 201, description = "Created", body = CompanyOut), (status = 409, description = "A unique key is taken", body = super::ErrorEnvelope),
              (status = 422, description = "The input is invalid", body = super::ErrorEnvelope)))]
pub async fn create_company(
    State(state): State<AppState>,
    scope: ApiScope,
    Json(input): Json<CompanyIn>,
) -> Result<(StatusCode, Json<CompanyOut>), ApiError> {
    scope.require(Permission::WriteCompanies)?;
    let start = CompanyForm {
        status: "pending".into(),
        allow_login: true,
        ..CompanyForm::default()
    };
    let (form, attributes) = input.over(start);
    let company = form
        .apply(NewCompany::named("", Origin::Manual), attributes)
        .map_err(ApiError::Invalid)?;
    let id = state.store.create_company(scope.id(), &company).await?;
    state
        .store
        .record_audit(&audit(&scope, "company.created", id, json!(form)))
        .await?;
    let created = load(&state, &scope, id).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// One company.
#[utoipa::path(get, path = "/api/v1/companies/{id}", tag = "companies", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = CompanyOut), (status = 404, description = "Not found in this marketplace", body = super::ErrorEnvelope)))]
pub async fn get_company(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> ApiResult<CompanyOut> {
    scope.require(Permission::ReadCompanies)?;
    let company = load(&state, &scope, id).await?;
    Ok(Json(company.into()))
}

/// Changes the fields given; the others stay.
#[utoipa::path(patch, path = "/api/v1/companies/{id}", tag = "companies", params(("id" = i64, Path)),
    request_body = CompanyIn,
    responses((status = 200, description = "OK", body = CompanyOut), (status = 404, description = "Not found in this marketplace", body = super::ErrorEnvelope),
              (status = 409, description = "A unique key is taken", body = super::ErrorEnvelope), (status = 422, description = "The input is invalid", body = super::ErrorEnvelope)))]
pub async fn update_company(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
    Json(input): Json<CompanyIn>,
) -> ApiResult<CompanyOut> {
    scope.require(Permission::WriteCompanies)?;
    let existing = load(&state, &scope, id).await?;
    let before = CompanyForm::from_company(&existing);
    let (form, attributes) = input.over(before.clone());
    let company = form
        .apply(stored_as_new(&existing), attributes)
        .map_err(ApiError::Invalid)?;
    if leaves_pending(&existing, &company) {
        scope.require_pending(&state).await?;
    }
    let entry = audit(&scope, "company.updated", id, before.changes(&form));
    state
        .store
        .update_company(scope.id(), id, &company, &entry)
        .await?;
    let updated = load(&state, &scope, id).await?;
    Ok(Json(updated.into()))
}

async fn load(state: &AppState, scope: &ApiScope, id: i64) -> Result<Company, ApiError> {
    state
        .store
        .company(scope.id(), id)
        .await?
        .ok_or(ApiError::NotFound("company"))
}
