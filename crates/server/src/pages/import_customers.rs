//! The Import Customers tool (docs/import-customers.md): choose an instance, Get Hierarchy of
//! every tenant (with Last Update) or of one, follow the retrieval, and read what it found and
//! what changed since the one before.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use std::collections::HashMap;

use ferry_domain::{InstanceAuth, Permission, TenantStatus, Timestamp};
use ferry_storage::{
    HierarchyChange, HierarchyRun, LastImport, RunScope, RunState, TenantAudit, TenantAuditQuery,
    TenantOutcome, Total,
};
use serde::Deserialize;

use super::history::actor_name;
use super::imports::outcome_label;
use super::{COUNT_CAP, NoticeQuery, Pager, page};
use crate::AppState;
use crate::error::PageError;
use crate::shared::hierarchy::{Asked, HierarchyIn, ask};
use crate::web::{Chrome, Scope, search_term, url_encode, when};
use ferry_tenants::Visible;
use ferry_tenants::hierarchy::APP_ONLY_LACKS;
use ferry_tenants::instances;

/// How many changes the page lists.
const CHANGES_SHOWN: i64 = 200;
/// Tenants a page of the list shows.
const TENANT_PAGE: i64 = 50;
/// The Type filter's value for the end customers of the marketplace's tenant resellers.
const TENANT_RESELLERS: &str = "tenant-resellers";

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

struct TenantRow {
    tenant_id: String,
    name: String,
    domain: String,
    /// "Direct customer", or the reseller whose end customer it is.
    kind: String,
    /// The tenant reseller that holds the tenant: it is imported into that marketplace.
    holder: Option<String>,
    related: Vec<(String, String)>,
    partner_center: i64,
    marketplace: i64,
    status: &'static str,
    status_label: &'static str,
    /// What differs, in sentences.
    details: Vec<String>,
    /// Possible matches: name, page, score, why.
    possible: Vec<(String, String, u8, String)>,
    /// False while an import of the tenant is pending.
    selectable: bool,
    /// Its newest import's result, and where to read it.
    last_import: Option<(String, String)>,
}

struct ResellerRow {
    name: String,
    mpn: String,
    customers: i64,
    href: String,
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
    tenants: Vec<TenantRow>,
    resellers: Vec<ResellerRow>,
    /// The list's filters as typed, and the choices of its selects.
    q: String,
    statuses: Vec<(&'static str, &'static str, bool)>,
    reseller_choices: Vec<(String, String, bool)>,
    filtered: bool,
    pager: Pager,
    audited: String,
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

/// The tool's address: the notice of the form that led here, and the tenant list's filters and
/// page.
#[derive(Debug, Default, Deserialize)]
pub struct ToolQuery {
    notice: Option<String>,
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    /// A reseller's tenant id, `direct`, or `tenant-resellers` (their end customers).
    #[serde(default)]
    reseller: String,
    after_name: Option<String>,
    after_tenant: Option<String>,
}

pub async fn tool(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Query(query): Query<ToolQuery>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let input = PageInput {
        notice: query.notice.clone(),
        list: query,
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
    let (message, percent) = super::jobs::progress_of(state, run.and_then(|r| r.job_id)).await?;
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
    list: ToolQuery,
}

pub(super) async fn refused(
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
    // An instance that does not connect shows no tenants, only why and what to do.
    let shown = blocked.is_none();
    let changes = if shown { changes } else { Vec::new() };
    let snapshot = match hierarchy.snapshot.filter(|_| shown) {
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
    let changes_title = match completed_mass
        .filter(|_| shown)
        .and_then(|r| r.summary.as_ref())
    {
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
    let list = if shown {
        tenant_list(state, scope, id, &input.list).await?
    } else {
        TenantList::empty()
    };
    page(&ImportPage {
        chrome,
        base,
        tenants: list.tenants,
        resellers: list.resellers,
        q: input.list.q.clone(),
        statuses: list.statuses,
        reseller_choices: list.reseller_choices,
        filtered: list.filtered,
        pager: list.pager,
        audited: list.audited,
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

/// The tenant list of the page, as the marketplace's audit sees the instance.
struct TenantList {
    tenants: Vec<TenantRow>,
    resellers: Vec<ResellerRow>,
    statuses: Vec<(&'static str, &'static str, bool)>,
    reseller_choices: Vec<(String, String, bool)>,
    filtered: bool,
    pager: Pager,
    audited: String,
}

impl TenantList {
    fn empty() -> TenantList {
        TenantList {
            tenants: Vec::new(),
            resellers: Vec::new(),
            statuses: Vec::new(),
            reseller_choices: Vec::new(),
            filtered: false,
            pager: Pager::new(Total::Exactly(0), ("tenant", "tenants"), "", None, None),
            audited: String::new(),
        }
    }
}

async fn tenant_list(
    state: &AppState,
    scope: &Scope,
    id: i64,
    typed: &ToolQuery,
) -> Result<TenantList, PageError> {
    let base = scope.base();
    let status = typed.status.parse::<TenantStatus>().ok();
    let (reseller, tenant_reseller) = match typed.reseller.as_str() {
        "" => (None, None),
        "direct" => (Some(None), None),
        TENANT_RESELLERS => (None, Some(true)),
        other => (Some(Some(other.to_ascii_lowercase())), None),
    };
    let query = TenantAuditQuery {
        search: search_term(&typed.q),
        status,
        reseller: reseller.clone(),
        tenant_reseller,
        after: typed.after_name.clone().zip(typed.after_tenant.clone()),
        limit: TENANT_PAGE + 1,
    };
    let mut audits = state.store.tenant_audits(scope.id(), id, &query).await?;
    let more = audits.len() > usize::try_from(TENANT_PAGE).unwrap_or(0);
    audits.truncate(usize::try_from(TENANT_PAGE).unwrap_or(0));
    let total = state
        .store
        .count_tenant_audits(scope.id(), id, &query, COUNT_CAP)
        .await?;
    let snapshot = state.store.hierarchy_state(id).await?.snapshot;
    let resellers = match snapshot {
        Some(snapshot) => state.store.snapshot_resellers(snapshot).await?,
        None => Vec::new(),
    };
    let counts: HashMap<String, i64> = state
        .store
        .reseller_customer_counts(scope.id(), id)
        .await?
        .into_iter()
        .collect();
    let tenant_resellers: HashMap<i64, String> = state
        .store
        .marketplaces()
        .await?
        .into_iter()
        .filter(|m| m.parent_id == Some(scope.id()) && m.reseller_mpn_id.is_some())
        .map(|m| (m.id, m.name))
        .collect();
    let reseller_name = |tenant: &str| {
        resellers
            .iter()
            .find(|r| r.tenant_id == tenant)
            .and_then(|r| r.name.clone())
            .unwrap_or_else(|| format!("reseller {tenant}"))
    };
    let list = format!(
        "{base}/import-customers/{id}?q={}&status={}&reseller={}",
        url_encode(&typed.q),
        status.map_or("", TenantStatus::as_str),
        url_encode(&typed.reseller)
    );
    let next = more.then(|| audits.last()).flatten().map(|a| {
        format!(
            "after_name={}&after_tenant={}",
            url_encode(&a.name.to_lowercase()),
            url_encode(&a.tenant_id)
        )
    });
    let previous = query.after.as_ref().map(|_| String::new());
    let mut pager = Pager::new(total, ("tenant", "tenants"), &list, previous, next);
    // Paging goes forward from the first page; "First page" is the way back.
    pager.previous = None;
    let audited = audits
        .first()
        .map(|a| when(Timestamp(a.audited_at)))
        .unwrap_or_default();
    let ids: Vec<String> = audits.iter().map(|a| a.tenant_id.clone()).collect();
    let last_imports: HashMap<String, LastImport> = state
        .store
        .last_imports(scope.id(), id, &ids)
        .await?
        .into_iter()
        .map(|l| (l.tenant_id.clone(), l))
        .collect();
    Ok(TenantList {
        tenants: audits
            .into_iter()
            .map(|a| {
                let holder = a
                    .tenant_reseller_id
                    .and_then(|id| tenant_resellers.get(&id).cloned());
                let last = last_imports.get(&a.tenant_id);
                let mut row = tenant_row(&base, a, &reseller_name, holder);
                row.selectable = last.is_none_or(|l| l.status != TenantOutcome::Pending);
                row.last_import = last.map(|l| {
                    let label = format!("{} (import {})", outcome_label(l.status), l.run_id);
                    (label, format!("{base}/imports/{}", l.run_id))
                });
                row
            })
            .collect(),
        resellers: resellers
            .iter()
            .map(|r| ResellerRow {
                name: r.name.clone().unwrap_or_else(|| r.tenant_id.clone()),
                mpn: r.mpn_id.clone().unwrap_or_else(|| "—".into()),
                customers: counts.get(&r.tenant_id).copied().unwrap_or(0),
                href: format!(
                    "{base}/import-customers/{id}?reseller={}#tenants",
                    url_encode(&r.tenant_id)
                ),
            })
            .collect(),
        statuses: TenantStatus::ALL
            .iter()
            .map(|s| (s.as_str(), s.label(), Some(*s) == status))
            .collect(),
        reseller_choices: std::iter::once(("direct".to_owned(), "Direct customers".to_owned()))
            .chain((!tenant_resellers.is_empty()).then(|| {
                let label = "End customers of tenant resellers";
                (TENANT_RESELLERS.to_owned(), label.to_owned())
            }))
            .chain(resellers.iter().map(|r| {
                (
                    r.tenant_id.clone(),
                    format!(
                        "End customers of {}",
                        r.name.as_deref().unwrap_or(&r.tenant_id)
                    ),
                )
            }))
            .map(|(value, label)| {
                let current = value == typed.reseller.to_ascii_lowercase();
                (value, label, current)
            })
            .collect(),
        filtered: !typed.q.trim().is_empty()
            || status.is_some()
            || reseller.is_some()
            || tenant_reseller.is_some(),
        pager,
        audited,
    })
}

fn tenant_row(
    base: &str,
    a: TenantAudit,
    reseller_name: &dyn Fn(&str) -> String,
    holder: Option<String>,
) -> TenantRow {
    let mut details = Vec::new();
    // Against a related company: what differs. A tenant not imported lacks everything.
    if !a.related.is_empty() && !a.missing.is_empty() {
        details.push(format!("Not in the marketplace: {}", a.missing.join(", ")));
    }
    if !a.extra.is_empty() {
        details.push(format!("Not in Partner Center: {}", a.extra.join(", ")));
    }
    // Subscriptions the import leaves, counted by offer and reason.
    let mut left: Vec<(String, String, usize)> = Vec::new();
    for n in &a.not_importable {
        let offer = n
            .offer_name
            .clone()
            .unwrap_or_else(|| n.subscription_id.clone());
        let why = if n.why == "azure-plan" {
            "brought in by the Azure migration".to_owned()
        } else {
            n.why.clone()
        };
        match left.iter_mut().find(|(o, w, _)| *o == offer && *w == why) {
            Some(found) => found.2 += 1,
            None => left.push((offer, why, 1)),
        }
    }
    for (offer, why, n) in left {
        let times = if n > 1 {
            format!("{n} × ")
        } else {
            String::new()
        };
        details.push(format!("Not imported: {times}{offer} ({why})"));
    }
    TenantRow {
        kind: match &a.reseller_tenant_id {
            Some(reseller) => format!("End customer of {}", reseller_name(reseller)),
            None => "Direct customer".to_owned(),
        },
        holder,
        related: a
            .related
            .iter()
            .map(|c| (c.name.clone(), format!("{base}/companies/{}", c.id)))
            .collect(),
        partner_center: a.partner_center_subscriptions,
        marketplace: a.marketplace_subscriptions,
        status: a.status.as_str(),
        status_label: a.status.label(),
        details,
        possible: a
            .possible
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    format!("{base}/companies/{}", p.id),
                    p.score,
                    p.reasons.join(", "),
                )
            })
            .collect(),
        domain: a.domain.unwrap_or_else(|| "—".into()),
        tenant_id: a.tenant_id,
        name: a.name,
        selectable: true,
        last_import: None,
    }
}

fn reason(reason: Option<&str>) -> String {
    reason.map(|r| format!(" ({r})")).unwrap_or_default()
}

fn empty_page(chrome: Chrome, base: String, input: PageInput) -> ImportPage {
    let list = TenantList::empty();
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
        tenants: list.tenants,
        resellers: list.resellers,
        q: String::new(),
        statuses: list.statuses,
        reseller_choices: list.reseller_choices,
        filtered: list.filtered,
        pager: list.pager,
        audited: list.audited,
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
