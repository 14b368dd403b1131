//! The catalog, the jobs page, the outbox, and the marketplace's settings pages.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::response::Response;
use ferry_domain::{InstanceAuth, JobState, Permission, Role};
use ferry_integrations::partner_center::{DEFAULT_API_URL, DEFAULT_LOGIN_URL};
use ferry_storage::Job;
use serde::Deserialize;

use super::{NoticeQuery, page, see_other};
use crate::AppState;
use crate::api::InstanceIn;
use crate::error::PageError;
use crate::instances;
use crate::web::{Chrome, Scope, TOKEN_ROLES, or_dash, when};
use crate::webhooks::{self, WebhookError};

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
        Ok(()) => Ok(see_other(&format!("{}/catalog", scope.base()), "saved")),
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

struct JobView {
    id: i64,
    kind: String,
    state: &'static str,
    progress: String,
    percent: i64,
    message: String,
    attempts: i32,
    created: String,
}

#[derive(Template)]
#[template(path = "job_rows.html")]
struct JobRows {
    jobs: Vec<JobView>,
    all_finished: bool,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    chrome: Chrome,
    base: String,
    rows: String,
}

fn job_view(job: Job) -> JobView {
    let percent = match (job.progress_total, job.state) {
        (_, JobState::Succeeded) => 100,
        (Some(total), _) if total > 0 => (job.progress_done * 100 / total).clamp(0, 100),
        _ => 0,
    };
    let progress = match job.progress_total {
        Some(total) => format!("{} / {total}", job.progress_done),
        None => job.progress_done.to_string(),
    };
    let message = match (&job.last_error, job.state) {
        (Some(error), JobState::Failed | JobState::Queued) => error.clone(),
        _ => or_dash(job.progress_message.as_deref()),
    };
    JobView {
        id: job.id,
        kind: job.kind,
        state: job.state.as_str(),
        progress,
        percent,
        message,
        attempts: job.attempts,
        created: when(job.created_at),
    }
}

async fn rows(state: &AppState, scope: &Scope) -> Result<JobRows, PageError> {
    scope.require(Permission::ReadJobs)?;
    let jobs = state.store.jobs(Some(scope.id()), 100).await?;
    let all_finished = jobs.iter().all(|j| j.state.is_finished());
    Ok(JobRows {
        jobs: jobs.into_iter().map(job_view).collect(),
        all_finished,
    })
}

pub async fn jobs(State(state): State<AppState>, scope: Scope) -> Result<Response, PageError> {
    let rows = rows(&state, &scope).await?.render()?;
    page(&JobsPage {
        chrome: scope.chrome("Jobs"),
        base: scope.base(),
        rows,
    })
}

/// The table of the jobs page alone, which the page fetches again while jobs run.
pub async fn job_rows(State(state): State<AppState>, scope: Scope) -> Result<Response, PageError> {
    page(&rows(&state, &scope).await?)
}

struct EmailView {
    created: String,
    to: String,
    subject: String,
    body: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "outbox.html")]
struct OutboxPage {
    chrome: Chrome,
    explanation: &'static str,
    emails: Vec<EmailView>,
}

pub async fn outbox(State(state): State<AppState>, scope: Scope) -> Result<Response, PageError> {
    scope.require(Permission::ReadOutbox)?;
    let emails = state.store.outbox(Some(scope.id()), 200).await?;
    page(&OutboxPage {
        chrome: scope.chrome("Outbox"),
        explanation: "E-mail that was not sent by SMTP: all of it while no SMTP server is \
                      configured, and messages the server refused. Newest first.",
        emails: emails
            .into_iter()
            .map(|e| EmailView {
                created: when(e.created_at),
                to: e.to_address,
                subject: e.subject,
                body: e.body,
                error: e.last_error,
            })
            .collect(),
    })
}

struct InstanceView {
    id: i64,
    name: String,
    api: String,
    login: String,
    app: String,
    mpn: String,
    model: String,
    app_user: bool,
    tenant: String,
    state: &'static str,
    badge: &'static str,
    reason: Option<String>,
    checked: String,
    owner: String,
    own: bool,
}

#[derive(Template)]
#[template(path = "partner_center.html")]
struct PartnerCenterPage {
    chrome: Chrome,
    base: String,
    instances: Vec<InstanceView>,
    error: Option<String>,
    default_api: &'static str,
    default_login: &'static str,
    models: [&'static str; 3],
    /// Whether datasets' Microsoft records are checked against Partner Center.
    microsoft_validation: bool,
}

async fn partner_center_page(
    state: &AppState,
    scope: &Scope,
    notice: Option<&str>,
    error: Option<String>,
) -> Result<PartnerCenterPage, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let visible = instances::visible(state.store.as_ref(), &scope.marketplace).await?;
    Ok(PartnerCenterPage {
        chrome: scope.chrome("Partner Center").notice(notice),
        base: scope.base(),
        instances: visible
            .into_iter()
            .map(|v| {
                let s = v.record.summary;
                let (label, badge) = match s.auth_state {
                    InstanceAuth::Authenticated => ("authenticated", "active"),
                    InstanceAuth::Expired => ("expired: consent again", "suspended"),
                    InstanceAuth::Failing => ("failing", "failed"),
                    InstanceAuth::Unchecked => ("not checked yet", "pending"),
                };
                InstanceView {
                    id: s.id,
                    name: s.name,
                    api: s.api_base_url,
                    login: s.login_base_url,
                    app: s.application_id,
                    mpn: s.mpn_id.unwrap_or_default(),
                    model: s.model,
                    app_user: s.has_refresh_token,
                    tenant: s.partner_tenant_id,
                    state: label,
                    badge,
                    reason: s.auth_reason,
                    checked: s.checked_at.map_or(String::new(), |at| {
                        format!("checked {}", when(ferry_domain::Timestamp(at)))
                    }),
                    owner: v
                        .inherited_from
                        .as_ref()
                        .map_or("This marketplace".into(), |p| {
                            format!("Inherited from {}", p.name)
                        }),
                    own: v.inherited_from.is_none(),
                }
            })
            .collect(),
        error,
        default_api: DEFAULT_API_URL,
        default_login: DEFAULT_LOGIN_URL,
        models: ["direct", "indirect", "both"],
        microsoft_validation: state
            .store
            .marketplace_settings(scope.id())
            .await?
            .microsoft_validation,
    })
}

#[derive(Deserialize)]
pub struct ValidationForm {
    microsoft_validation: Option<String>,
}

/// Turns the checks of datasets' Microsoft records against Partner Center on or off.
pub async fn set_microsoft_validation(
    State(state): State<AppState>,
    scope: Scope,
    Form(form): Form<ValidationForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    instances::set_microsoft_validation(
        &*state.store,
        scope.id(),
        form.microsoft_validation.is_some(),
    )
    .await?;
    Ok(see_other(
        &format!("{}/settings/partner-center", scope.base()),
        "saved",
    ))
}

pub async fn partner_center(
    State(state): State<AppState>,
    scope: Scope,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    page(&partner_center_page(&state, &scope, query.notice.as_deref(), None).await?)
}

#[derive(Deserialize)]
pub struct InstanceForm {
    name: String,
    model: String,
    partner_tenant_id: String,
    application_id: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    refresh_token: String,
    #[serde(default)]
    mpn_id: String,
    #[serde(default)]
    api_base_url: String,
    #[serde(default)]
    login_base_url: String,
}

impl InstanceForm {
    fn into_input(self) -> InstanceIn {
        InstanceIn {
            name: Some(self.name),
            model: Some(self.model),
            partner_tenant_id: Some(self.partner_tenant_id),
            application_id: Some(self.application_id),
            secret: Some(self.secret),
            refresh_token: Some(self.refresh_token),
            mpn_id: Some(self.mpn_id),
            api_base_url: Some(self.api_base_url),
            login_base_url: Some(self.login_base_url),
        }
    }
}

/// Saves an edit of one of the marketplace's own instances; blank secrets stay as they were.
pub async fn update_instance(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<InstanceForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let visible = instances::find(state.store.as_ref(), &scope.marketplace, id)
        .await?
        .ok_or(PageError::NotFound)?;
    if visible.inherited_from.is_some() {
        return Err(PageError::Forbidden);
    }
    let saved = match form.into_input().build(&state, Some(&visible.record)) {
        Ok(instance) => state
            .store
            .update_instance(scope.id(), id, &instance)
            .await
            .map(|()| state.clients.forget(id)),
        Err(problem) => return instance_rejected(&state, &scope, problem).await,
    };
    instance_saved(&state, &scope, saved, "saved").await
}

pub async fn create_instance(
    State(state): State<AppState>,
    scope: Scope,
    Form(form): Form<InstanceForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let saved = match form.into_input().build(&state, None) {
        Ok(instance) => state
            .store
            .create_instance(scope.id(), &instance)
            .await
            .map(|_| ()),
        Err(problem) => return instance_rejected(&state, &scope, problem).await,
    };
    instance_saved(&state, &scope, saved, "created").await
}

/// After a create or an edit: back to the page, or the page again with what went wrong.
async fn instance_saved(
    state: &AppState,
    scope: &Scope,
    saved: Result<(), ferry_storage::StoreError>,
    notice: &str,
) -> Result<Response, PageError> {
    match saved {
        Ok(()) => Ok(see_other(
            &format!("{}/settings/partner-center", scope.base()),
            notice,
        )),
        Err(ferry_storage::StoreError::Conflict { .. }) => {
            let problem = "Another instance of this marketplace has that name.".to_owned();
            instance_rejected(state, scope, problem).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn instance_rejected(
    state: &AppState,
    scope: &Scope,
    problem: String,
) -> Result<Response, PageError> {
    let html = partner_center_page(state, scope, None, Some(problem))
        .await?
        .render()?;
    Ok((
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        axum::response::Html(html),
    )
        .into_response())
}

pub async fn check_instance(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let visible = instances::find(state.store.as_ref(), &scope.marketplace, id)
        .await?
        .ok_or(PageError::NotFound)?;
    instances::check(&state.store, &state.sealer, &state.clients, &visible.record).await?;
    Ok(see_other(
        &format!("{}/settings/partner-center", scope.base()),
        "checked",
    ))
}

pub async fn delete_instance(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let visible = instances::find(state.store.as_ref(), &scope.marketplace, id)
        .await?
        .ok_or(PageError::NotFound)?;
    if visible.inherited_from.is_some() {
        return Err(PageError::Forbidden);
    }
    match state.store.delete_instance(scope.id(), id).await {
        Ok(()) => {}
        Err(ferry_storage::StoreError::Conflict { .. }) => {
            let html = partner_center_page(
                &state,
                &scope,
                None,
                Some("Companies are linked through this instance; it cannot be removed.".into()),
            )
            .await?
            .render()?;
            return Ok(
                (axum::http::StatusCode::CONFLICT, axum::response::Html(html)).into_response(),
            );
        }
        Err(e) => return Err(e.into()),
    }
    state.clients.forget(id);
    Ok(see_other(
        &format!("{}/settings/partner-center", scope.base()),
        "deleted",
    ))
}

struct TokenView {
    id: i64,
    name: String,
    role: &'static str,
    created: String,
    last_used: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "api_tokens.html")]
struct TokensPage {
    chrome: Chrome,
    base: String,
    tokens: Vec<TokenView>,
    roles: Vec<&'static str>,
    new_token: Option<String>,
}

async fn tokens_page(
    state: &AppState,
    scope: &Scope,
    notice: Option<&str>,
    new_token: Option<String>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManageApiTokens)?;
    let tokens = state.store.api_tokens(scope.id()).await?;
    page(&TokensPage {
        chrome: scope.chrome("API tokens").notice(notice),
        base: scope.base(),
        tokens: tokens
            .into_iter()
            .map(|t| TokenView {
                id: t.id,
                name: t.name,
                role: t.role.as_str(),
                created: when(t.created_at),
                last_used: t
                    .last_used_at
                    .map_or("never".into(), |at| when(ferry_domain::Timestamp(at))),
                status: if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                },
            })
            .collect(),
        roles: TOKEN_ROLES.iter().map(|r| r.as_str()).collect(),
        new_token,
    })
}

pub async fn api_tokens(
    State(state): State<AppState>,
    scope: Scope,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    tokens_page(&state, &scope, query.notice.as_deref(), None).await
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    name: String,
    role: String,
}

pub async fn create_api_token(
    State(state): State<AppState>,
    scope: Scope,
    Form(form): Form<NewTokenForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManageApiTokens)?;
    let role: Role = form.role.parse().map_err(|_| PageError::Forbidden)?;
    if !TOKEN_ROLES.contains(&role) {
        return Err(PageError::Forbidden);
    }
    let name = Some(form.name.trim())
        .filter(|n| !n.is_empty())
        .unwrap_or("API token");
    let (token, hash) = crate::auth::new_api_token();
    state
        .store
        .create_api_token(scope.id(), name, role, &hash)
        .await?;
    tokens_page(&state, &scope, Some("created"), Some(token)).await
}

pub async fn revoke_api_token(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManageApiTokens)?;
    state.store.revoke_api_token(scope.id(), id).await?;
    Ok(see_other(
        &format!("{}/settings/api-tokens", scope.base()),
        "revoked",
    ))
}
