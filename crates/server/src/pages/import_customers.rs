//! The Import Customers tool (docs/import-customers.md): choose an instance, Get Hierarchy of
//! every tenant (with Last Update) or of one, follow the retrieval, and read what it found and
//! what changed since the one before.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use ferry_domain::{InstanceAuth, Permission, Timestamp};
use ferry_storage::{HierarchyChange, HierarchyRun, RunScope, RunState};
use serde::Deserialize;

use super::history::actor_name;
use super::{NoticeQuery, page};
use crate::AppState;
use crate::error::PageError;
use crate::shared::hierarchy::{Asked, HierarchyIn, ask};
use crate::web::{Chrome, Scope, when};
use ferry_tenants::Visible;
use ferry_tenants::hierarchy::APP_ONLY_LACKS;
use ferry_tenants::instances;

/// How many changes the page lists.
const CHANGES_SHOWN: i64 = 200;

struct InstanceChoice {
    id: i64,
    name: String,
    current: bool,
}

struct RunView {
    id: i64,
    what: String,
    state: &'static str,
    started: String,
    by: String,
    finished: String,
    outcome: String,
}

struct ChangeView {
    what: &'static str,
    tenant: String,
    subscription: String,
    from: String,
    to: String,
}

#[derive(Template)]
#[template(path = "import_customers.html")]
struct ImportPage {
    chrome: Chrome,
    base: String,
    instances: Vec<InstanceChoice>,
    instance_id: i64,
    instance_name: String,
    /// Why no tenants can be retrieved now, and what to do.
    blocked: Option<String>,
    last_update: String,
    /// What the shown snapshot holds: "From the Last Update, …: 4 resellers, …".
    snapshot: Option<String>,
    lacks: Option<&'static str>,
    running: bool,
    /// The running retrieval's progress, rendered as its fragment is.
    progress: String,
    error: Option<String>,
    typed_tenant: String,
    scope_one: bool,
    changes: Vec<ChangeView>,
    changes_more: bool,
    changes_title: String,
    runs: Vec<RunView>,
}

#[derive(Template)]
#[template(path = "hierarchy_progress.html")]
struct ProgressFragment {
    running: bool,
    message: String,
    percent: i64,
}

/// The tool opens on the first instance the marketplace may use.
pub async fn start(
    State(state): State<AppState>,
    scope: Scope,
    Query(notice): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let all = instances::visible(state.store.as_ref(), &scope.marketplace).await?;
    let first = all.first().map(|v| v.record.summary.id);
    let input = PageInput {
        notice: notice.notice,
        ..PageInput::default()
    };
    render(&state, &scope, first, input).await
}

pub async fn tool(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Query(notice): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let input = PageInput {
        notice: notice.notice,
        ..PageInput::default()
    };
    render(&state, &scope, Some(id), input).await
}

#[derive(Debug, Default, Deserialize)]
pub struct HierarchyForm {
    #[serde(default)]
    scope: String,
    #[serde(default)]
    tenant: String,
}

pub async fn get_hierarchy(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<HierarchyForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let instance = find(&state, &scope, id).await?;
    let typed = form.tenant.trim().to_owned();
    let one = form.scope == "one";
    // One field takes a tenant id or a primary domain, as the tools operators know.
    let input = match (one, typed.contains('.')) {
        (false, _) => HierarchyIn::default(),
        (true, true) => HierarchyIn {
            domain: Some(typed.clone()),
            ..HierarchyIn::default()
        },
        (true, false) if typed.is_empty() => {
            return refused(
                &state,
                &scope,
                id,
                typed,
                "Type a tenant id or a primary domain.",
            )
            .await;
        }
        (true, false) => HierarchyIn {
            tenant_id: Some(typed.clone()),
            ..HierarchyIn::default()
        },
    };
    let asked = match input.scope() {
        Ok(asked) => asked,
        Err(message) => return refused(&state, &scope, id, typed, &message).await,
    };
    match ask(&state, scope.id(), &instance, &asked, &scope.actor()).await? {
        Asked::Started(_) => Ok(scope.see_other(&format!("import-customers/{id}"), "retrieving")),
        // The page follows the one running.
        Asked::Running(_) => {
            Ok(scope.see_other(&format!("import-customers/{id}"), "already-retrieving"))
        }
    }
}

/// The running retrieval's progress, which the page fetches again until it ends.
pub async fn progress(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    find(&state, &scope, id).await?;
    page(&progress_of(&state, id).await?)
}

async fn progress_of(state: &AppState, id: i64) -> Result<ProgressFragment, PageError> {
    let runs = state.store.hierarchy_runs(id, 1).await?;
    let run = runs.first().filter(|r| r.state == RunState::Running);
    let job = match run.and_then(|r| r.job_id) {
        Some(job) => state.store.job(job).await?,
        None => None,
    };
    let (message, percent) = match &job {
        Some(job) => {
            let p = job.progress();
            let percent = match p.total {
                Some(total) if total > 0 => (p.done * 100 / total).clamp(0, 100),
                _ => 0,
            };
            (p.to_string(), percent)
        }
        None => ("waiting for a worker".to_owned(), 0),
    };
    Ok(ProgressFragment {
        running: run.is_some(),
        message,
        percent,
    })
}

#[derive(Default)]
struct PageInput {
    notice: Option<String>,
    error: Option<String>,
    typed_tenant: String,
}

async fn refused(
    state: &AppState,
    scope: &Scope,
    id: i64,
    typed: String,
    message: &str,
) -> Result<Response, PageError> {
    let input = PageInput {
        error: Some(message.to_owned()),
        typed_tenant: typed,
        ..PageInput::default()
    };
    let mut response = render(state, scope, Some(id), input).await?;
    *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    Ok(response)
}

async fn find(state: &AppState, scope: &Scope, id: i64) -> Result<Visible, PageError> {
    instances::find(state.store.as_ref(), &scope.marketplace, id)
        .await?
        .ok_or(PageError::NotFound)
}

async fn render(
    state: &AppState,
    scope: &Scope,
    id: Option<i64>,
    input: PageInput,
) -> Result<Response, PageError> {
    let all = instances::visible(state.store.as_ref(), &scope.marketplace).await?;
    let chrome = scope
        .chrome("Import Customers")
        .notice(input.notice.as_deref());
    let base = scope.base();
    let Some(id) = id else {
        return page(&empty_page(chrome, base, input));
    };
    let instance = all
        .iter()
        .find(|v| v.record.summary.id == id)
        .ok_or(PageError::NotFound)?;
    let summary = &instance.record.summary;
    let blocked = match summary.auth_state {
        InstanceAuth::Expired => Some(format!(
            "The instance's authentication has expired: a partner user must consent again, then \
             save the new refresh token on the Partner Center page.{}",
            reason(summary.auth_reason.as_deref())
        )),
        InstanceAuth::Failing => Some(format!(
            "The instance does not connect: check its settings on the Partner Center page.{}",
            reason(summary.auth_reason.as_deref())
        )),
        InstanceAuth::Unchecked | InstanceAuth::Authenticated => None,
    };
    let hierarchy = state.store.hierarchy_state(id).await?;
    let runs = state.store.hierarchy_runs(id, 10).await?;
    let running = runs.first().is_some_and(|r| r.state == RunState::Running);
    let completed_mass = runs
        .iter()
        .find(|r| r.scope == RunScope::Mass && r.state == RunState::Completed);
    let changes = match completed_mass {
        Some(run) => {
            state
                .store
                .hierarchy_changes(run.id, CHANGES_SHOWN + 1)
                .await?
        }
        None => Vec::new(),
    };
    let snapshot = match hierarchy.snapshot {
        Some(snapshot) => {
            let counts = state.store.snapshot_counts(snapshot).await?;
            let from = hierarchy.last_update.map_or_else(
                || "From single-tenant retrievals".to_owned(),
                |at| format!("From the Last Update, {}", when(Timestamp(at))),
            );
            Some(format!(
                "{from}: {} resellers, {} tenants, {} subscriptions.",
                counts.resellers, counts.tenants, counts.subscriptions
            ))
        }
        None => None,
    };
    let changes_title = match completed_mass.and_then(|r| r.summary.as_ref()) {
        Some(s) if s.compared => format!(
            "What changed at the Last Update ({} in all)",
            s.changes.values().sum::<i64>()
        ),
        Some(_) => "What changed at the Last Update: it was the first retrieval".to_owned(),
        None => String::new(),
    };
    let changes_more = changes.len() > usize::try_from(CHANGES_SHOWN).unwrap_or(0);
    let tokens = state.store.api_tokens(scope.id()).await?;
    let mut run_views = Vec::new();
    for run in runs {
        let by = actor_name(state, scope, &run.started_by, &tokens).await?;
        run_views.push(run_view(run, by));
    }
    page(&ImportPage {
        chrome,
        base,
        instances: all
            .iter()
            .map(|v| InstanceChoice {
                id: v.record.summary.id,
                name: v.record.summary.name.clone(),
                current: v.record.summary.id == id,
            })
            .collect(),
        instance_id: id,
        instance_name: summary.name.clone(),
        blocked,
        last_update: hierarchy
            .last_update
            .map_or_else(|| "never".to_owned(), |at| when(Timestamp(at))),
        snapshot,
        lacks: (!summary.has_refresh_token).then_some(APP_ONLY_LACKS),
        running,
        progress: progress_of(state, id).await?.render()?,
        scope_one: !input.typed_tenant.is_empty(),
        error: input.error,
        typed_tenant: input.typed_tenant,
        changes: changes
            .into_iter()
            .take(usize::try_from(CHANGES_SHOWN).unwrap_or(0))
            .map(change_view)
            .collect(),
        changes_more,
        changes_title,
        runs: run_views,
    })
}

fn reason(reason: Option<&str>) -> String {
    reason.map(|r| format!(" ({r})")).unwrap_or_default()
}

fn empty_page(chrome: Chrome, base: String, input: PageInput) -> ImportPage {
    ImportPage {
        chrome,
        base,
        instances: Vec::new(),
        instance_id: 0,
        instance_name: String::new(),
        blocked: None,
        last_update: String::new(),
        snapshot: None,
        lacks: None,
        running: false,
        progress: String::new(),
        error: input.error,
        typed_tenant: input.typed_tenant,
        scope_one: false,
        changes: Vec::new(),
        changes_more: false,
        changes_title: String::new(),
        runs: Vec::new(),
    }
}

fn run_view(run: HierarchyRun, by: String) -> RunView {
    let what = match (run.scope, &run.tenant) {
        (RunScope::Tenant, Some(tenant)) => format!("Tenant {tenant}"),
        _ => "Every tenant".to_owned(),
    };
    let outcome = match (&run.error, &run.summary) {
        (Some(error), _) => error.clone(),
        (None, Some(s)) => format!(
            "{} resellers, {} tenants, {} subscriptions",
            s.resellers, s.tenants, s.subscriptions
        ),
        (None, None) => String::new(),
    };
    RunView {
        id: run.id,
        what,
        state: run.state.as_str(),
        started: when(Timestamp(run.started_at)),
        by,
        finished: run
            .finished_at
            .map_or_else(|| "—".to_owned(), |at| when(Timestamp(at))),
        outcome,
    }
}

fn change_view(c: HierarchyChange) -> ChangeView {
    let what = match c.kind.as_str() {
        "tenant_new" => "New tenant",
        "tenant_gone" => "Tenant gone",
        "tenant_renamed" => "Tenant renamed",
        "subscription_new" => "New subscription",
        "subscription_gone" => "Subscription gone",
        "quantity_changed" => "Quantity changed",
        "status_changed" => "Status changed",
        "offer_changed" => "Offer changed",
        "term_changed" => "Term changed",
        _ => "Changed",
    };
    let dash = |v: Option<String>| v.unwrap_or_else(|| "—".to_owned());
    ChangeView {
        what,
        tenant: c.tenant_id,
        subscription: dash(c.subscription_id),
        from: dash(c.before_value),
        to: dash(c.after_value),
    }
}
