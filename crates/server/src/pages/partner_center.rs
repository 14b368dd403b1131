//! The Partner Center settings page: the instances the marketplace may use (its own and, for
//! a country tenant, its parent's), adding, editing, checking and removing its own, and the
//! Microsoft checks of datasets.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::response::Response;
use ferry_domain::{InstanceAuth, MarketplaceKind, Permission};
use ferry_integrations::partner_center::{DEFAULT_API_URL, DEFAULT_LOGIN_URL};
use serde::Deserialize;

use super::{NoticeQuery, page};
use crate::AppState;
use crate::error::PageError;
use crate::shared::instances::{InstanceIn, Refused};
use crate::web::{Chrome, Scope, when};
use ferry_tenants::instances;

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
    /// The field of the new-instance form the error is about ("" when none): the error shows
    /// next to it, and the form keeps what was typed (`typed`; never the secrets).
    error_field: &'static str,
    typed: InstanceForm,
    default_api: &'static str,
    default_login: &'static str,
    models: [&'static str; 3],
    /// Whether datasets' Microsoft records are checked against Partner Center.
    microsoft_validation: bool,
    /// The marketplace's simple tenants: id, name and reseller MPN id (empty when none).
    tenant_resellers: Vec<(i64, String, String)>,
}

async fn partner_center_page(
    state: &AppState,
    scope: &Scope,
    notice: Option<&str>,
    refusal: Option<(Refused, InstanceForm)>,
) -> Result<PartnerCenterPage, PageError> {
    let (error, error_field, typed) = match refusal {
        Some((refused, typed)) => (
            Some(refused.message),
            refused.field.unwrap_or(""),
            InstanceForm {
                secret: String::new(),
                refresh_token: String::new(),
                ..typed
            },
        ),
        None => (None, "", InstanceForm::default()),
    };
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
        error_field,
        typed,
        default_api: DEFAULT_API_URL,
        default_login: DEFAULT_LOGIN_URL,
        models: ["direct", "indirect", "both"],
        microsoft_validation: state
            .store
            .marketplace_settings(scope.id())
            .await?
            .microsoft_validation,
        tenant_resellers: state
            .store
            .marketplaces()
            .await?
            .into_iter()
            .filter(|m| m.parent_id == Some(scope.id()) && m.kind == MarketplaceKind::SimpleTenant)
            .map(|m| (m.id, m.name, m.reseller_mpn_id.unwrap_or_default()))
            .collect(),
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
    Ok(scope.see_other("settings/partner-center", "saved"))
}

pub async fn partner_center(
    State(state): State<AppState>,
    scope: Scope,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    page(&partner_center_page(&state, &scope, query.notice.as_deref(), None).await?)
}

#[derive(Default, Clone, Deserialize)]
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
    let visible = managed_instance(&state, &scope, id).await?;
    if visible.inherited_from.is_some() {
        return Err(PageError::Forbidden);
    }
    let saved = match form.into_input().build(
        &state.sealer,
        Some(&visible.record),
        state.partner_center_local,
    ) {
        Ok(instance) => state
            .store
            .update_instance(scope.id(), id, &instance)
            .await
            .map(|()| state.clients.forget(id)),
        // The instance's own form is not kept: the message names what was wrong.
        Err(refused) => {
            let general = Refused {
                field: None,
                ..refused
            };
            return instance_rejected(&state, &scope, general, InstanceForm::default()).await;
        }
    };
    instance_saved(&state, &scope, saved, "saved").await
}

pub async fn create_instance(
    State(state): State<AppState>,
    scope: Scope,
    Form(form): Form<InstanceForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let typed = form.clone();
    let instance = match form
        .into_input()
        .build(&state.sealer, None, state.partner_center_local)
    {
        Ok(instance) => instance,
        Err(refused) => return instance_rejected(&state, &scope, refused, typed).await,
    };
    let saved = match state.store.create_instance(scope.id(), &instance).await {
        // A new instance is checked at once: the page shows whether it connects.
        Ok(id) => check_new(&state, &scope, id).await,
        Err(e) => Err(e),
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
        Ok(()) => Ok(scope.see_other("settings/partner-center", notice)),
        Err(ferry_storage::StoreError::Conflict { .. }) => {
            let refused = Refused {
                field: Some("name"),
                message: "Another instance of this marketplace has that name.".to_owned(),
            };
            instance_rejected(state, scope, refused, InstanceForm::default()).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn instance_rejected(
    state: &AppState,
    scope: &Scope,
    refused: Refused,
    typed: InstanceForm,
) -> Result<Response, PageError> {
    let html = partner_center_page(state, scope, None, Some((refused, typed)))
        .await?
        .render()?;
    Ok((
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        axum::response::Html(html),
    )
        .into_response())
}

/// Checks an instance just created, as **Check connection** would.
async fn check_new(
    state: &AppState,
    scope: &Scope,
    id: i64,
) -> Result<(), ferry_storage::StoreError> {
    let Ok(visible) = managed_instance(state, scope, id).await else {
        return Ok(());
    };
    instances::check(&state.store, &state.sealer, &state.clients, &visible.record).await?;
    Ok(())
}

pub async fn check_instance(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let visible = managed_instance(&state, &scope, id).await?;
    instances::check(&state.store, &state.sealer, &state.clients, &visible.record).await?;
    Ok(scope.see_other("settings/partner-center", "checked"))
}

pub async fn delete_instance(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let visible = managed_instance(&state, &scope, id).await?;
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
                Some((
                    Refused {
                        field: None,
                        message: "Companies are linked through this instance; it cannot be \
                                  removed."
                            .into(),
                    },
                    InstanceForm::default(),
                )),
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
    Ok(scope.see_other("settings/partner-center", "deleted"))
}

#[derive(Deserialize)]
pub struct TenantResellerForm {
    #[serde(default)]
    mpn_id: String,
}

/// Sets or clears the reseller MPN id of a simple tenant of this marketplace: with one, it is a
/// tenant reseller, and the end customers of that reseller are its own.
pub async fn set_tenant_reseller(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, child)): Path<(String, i64)>,
    Form(form): Form<TenantResellerForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let mpn_id = form.mpn_id.trim();
    let refused = |message: String| Refused {
        field: None,
        message,
    };
    let outcome = if mpn_id.is_empty() || ferry_domain::is_mpn_id(mpn_id) {
        let mpn_id = (!mpn_id.is_empty()).then_some(mpn_id);
        match state
            .store
            .set_reseller_mpn_id(scope.id(), child, mpn_id)
            .await
        {
            Err(ferry_storage::StoreError::Conflict { .. }) => Err(refused(format!(
                "Another tenant of this marketplace already has the MPN id {}.",
                mpn_id.unwrap_or_default()
            ))),
            other => Ok(other?),
        }
    } else {
        Err(refused(format!(
            "'{mpn_id}' is not an MPN id: an MPN id is 4 to 10 digits, such as 4829113."
        )))
    };
    match outcome {
        Ok(()) => Ok(scope.see_other("settings/partner-center", "saved")),
        Err(refused) => {
            let html = partner_center_page(
                &state,
                &scope,
                None,
                Some((refused, InstanceForm::default())),
            )
            .await?
            .render()?;
            Ok((
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                axum::response::Html(html),
            )
                .into_response())
        }
    }
}

/// The instance `id` as this marketplace sees it, for a Partner Center manager; Not Found when
/// the marketplace cannot see it.
async fn managed_instance(
    state: &AppState,
    scope: &Scope,
    id: i64,
) -> Result<instances::Visible, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    instances::find(state.store.as_ref(), &scope.marketplace, id)
        .await?
        .ok_or(PageError::NotFound)
}
