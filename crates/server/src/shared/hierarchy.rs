//! Asking for Get Hierarchy, from a page or the API: the scope as typed, checked before
//! anything is asked of Partner Center, and the answer when a retrieval already runs.

use ferry_storage::{HierarchyRun, RunStart, StoreError};
use ferry_tenants::{Scope, Visible, get_hierarchy};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;

/// What to retrieve: everything (no field), one tenant by id, or one by primary domain.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct HierarchyIn {
    /// One tenant by its tenant id (a GUID).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// One tenant by its primary domain (`contoso.onmicrosoft.com`).
    #[serde(default)]
    pub domain: Option<String>,
}

impl HierarchyIn {
    /// The scope, or why it cannot be one.
    pub fn scope(&self) -> Result<Scope, String> {
        match (given(&self.tenant_id), given(&self.domain)) {
            (None, None) => Ok(Scope::Mass),
            (Some(_), Some(_)) => Err("Give a tenant id or a primary domain, not both.".into()),
            (Some(id), None) if ferry_domain::is_guid(id) => Ok(Scope::TenantId(id.to_owned())),
            (Some(id), None) => Err(format!(
                "'{id}' is not a tenant id: a tenant id is a GUID, such as \
                 0f4c2b7e-1d2a-4f7e-9a51-7b4e1c0d2e3f."
            )),
            (None, Some(domain)) if is_domain(domain) => Ok(Scope::Domain(domain.to_owned())),
            (None, Some(domain)) => Err(format!(
                "'{domain}' is not a domain: a primary domain looks like contoso.onmicrosoft.com."
            )),
        }
    }
}

/// A field typed with something in it, trimmed.
fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn is_domain(text: &str) -> bool {
    text.len() <= 253
        && text.contains('.')
        && text.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// What asking did.
pub enum Asked {
    Started(HierarchyRun),
    /// Another retrieval of the instance runs; the sentence names it.
    Running(String),
}

/// Starts a retrieval of `instance` for the marketplace `marketplace_id`, by `actor`.
pub async fn ask(
    state: &AppState,
    marketplace_id: i64,
    instance: &Visible,
    scope: &Scope,
    actor: &str,
) -> Result<Asked, StoreError> {
    Ok(
        match get_hierarchy(&*state.store, marketplace_id, instance, scope, actor).await? {
            RunStart::Started(run) => Asked::Started(run),
            RunStart::AlreadyRunning(run) => Asked::Running(format!(
                "A retrieval of this instance is already running (retrieval {}, started {} by \
                 {}{}); follow it, or ask again when it has ended.",
                run.id,
                crate::web::when(ferry_domain::Timestamp(run.started_at)),
                run.started_by,
                run.job_id.map(|j| format!(", job {j}")).unwrap_or_default()
            )),
        },
    )
}
