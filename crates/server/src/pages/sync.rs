//! Sync Settings and Pending Companies (docs/company-sync.md): the Company Sync settings with
//! the history of sync runs and *Sync now*; the queue of tenants no company holds, searched,
//! filtered and paged, with the match indicator; one tenant's Partner Center data and its
//! suggestions with their reasons; create, link (suggested or found by search), dismiss and
//! restore.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{FromRequest, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use ferry_domain::PendingState;
use ferry_domain::Permission;
use ferry_storage::{CompanyQuery, PendingCompany, PendingQuery, SyncRun, SyncSettings, Total};
use ferry_tenants::google::{self, ConnectGoogle, GoogleRefused};
use ferry_tenants::instances;
use ferry_tenants::sync::{SyncRefused, create_pending, save_settings, sync_now};
use ferry_tenants::users::sync_users_now;
use serde::Deserialize;

use super::{NoticeQuery, Pager, page};
use crate::AppState;
use crate::error::PageError;
use crate::shared::sync::{SettingsChange, link_refusal};
use crate::web::{Chrome, Scope, or_dash, search_term, url_encode, when};

/// Tenants a page of the queue shows.
const PAGE_SIZE: i64 = 50;
/// Sync runs the settings page lists.
const RUNS_SHOWN: i64 = 20;

struct RunView {
    id: i64,
    state: String,
    started: String,
    finished: String,
    found: String,
}

fn run_view(run: SyncRun) -> RunView {
    let f = run.found;
    RunView {
        id: run.id,
        state: run.state,
        started: when(ferry_domain::Timestamp(run.started_at)),
        finished: run
            .finished_at
            .map_or("—".into(), |at| when(ferry_domain::Timestamp(at))),
        found: match run.error {
            Some(error) => error,
            None => format!(
                "{} tenants not imported: {} new, {} created, {} found linked, {} gone",
                f.tenants, f.new_pending, f.created, f.linked, f.gone
            ),
        },
    }
}

#[derive(Template)]
#[template(path = "sync_settings.html")]
struct SettingsPage {
    chrome: Chrome,
    base: String,
    settings: SyncSettings,
    /// (id, name, chosen) of every instance the marketplace may use.
    instances: Vec<(i64, String, bool)>,
    runs: Vec<RunView>,
    user_runs: Vec<RunView>,
    google: Option<GoogleView>,
    error: Option<String>,
}

/// The Google connection as the page shows it; its key never.
struct GoogleView {
    client_email: String,
    admin: String,
    api_url: String,
    token_url: String,
    /// When it was last checked, and why that failed.
    checked: String,
    check_error: Option<String>,
}

impl From<ferry_storage::GoogleConnection> for GoogleView {
    fn from(c: ferry_storage::GoogleConnection) -> Self {
        GoogleView {
            client_email: c.client_email,
            admin: c.admin_email,
            api_url: c.api_url,
            token_url: c.token_url,
            checked: c
                .checked_at
                .map_or("never".into(), |at| when(ferry_domain::Timestamp(at))),
            check_error: c.check_error,
        }
    }
}

fn user_run_view(run: ferry_storage::UserSyncRun) -> RunView {
    let c = run.counts;
    let mut found = format!(
        "{} companies: {} created, {} updated, {} suspended, {} reactivated, {} conflicts",
        run.companies, c.created, c.updated, c.suspended, c.reactivated, c.conflicts
    );
    for note in run.notes.iter().chain(&run.error) {
        found.push_str(&format!(". {note}"));
    }
    RunView {
        id: run.id,
        state: run.state,
        started: when(ferry_domain::Timestamp(run.started_at)),
        finished: run
            .finished_at
            .map_or("—".into(), |at| when(ferry_domain::Timestamp(at))),
        found,
    }
}

async fn settings_page(
    state: &AppState,
    scope: &Scope,
    notice: Option<&str>,
    error: Option<String>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let settings = state.store.sync_settings(scope.id()).await?;
    let instances = instances::visible(&*state.store, &scope.marketplace)
        .await?
        .into_iter()
        .map(|v| {
            let id = v.record.summary.id;
            (id, v.record.summary.name, settings.instance_id == Some(id))
        })
        .collect();
    let runs = state.store.sync_runs(scope.id(), RUNS_SHOWN).await?;
    let template = SettingsPage {
        chrome: scope.chrome("Sync Settings").notice(notice),
        base: scope.base(),
        settings,
        instances,
        runs: runs.into_iter().map(run_view).collect(),
        user_runs: state
            .store
            .user_sync_runs(scope.id(), RUNS_SHOWN)
            .await?
            .into_iter()
            .map(user_run_view)
            .collect(),
        google: state
            .store
            .google_connection(scope.id())
            .await?
            .map(GoogleView::from),
        error,
    };
    let refused = template.error.is_some();
    answer(
        &template,
        refused.then_some(StatusCode::UNPROCESSABLE_ENTITY),
    )
}

pub async fn settings(
    State(state): State<AppState>,
    scope: Scope,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    settings_page(&state, &scope, query.notice.as_deref(), None).await
}

#[derive(Deserialize)]
pub struct SettingsForm {
    company_sync: Option<String>,
    create_automatically: Option<String>,
    invite_admins: Option<String>,
    sales_support_pending: Option<String>,
    customer_support_pending: Option<String>,
    /// An instance id, or empty for every instance.
    instance: Option<String>,
    interval_minutes: Option<String>,
}

pub async fn save(
    State(state): State<AppState>,
    scope: Scope,
    Form(form): Form<SettingsForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let current = state.store.sync_settings(scope.id()).await?;
    let on = form.company_sync.is_some();
    // With Company Sync off the other fields are shown disabled and not sent: they keep
    // what they were.
    let settings = if on {
        let interval_minutes = match minutes(form.interval_minutes.as_deref()) {
            Ok(minutes) => minutes,
            Err(why) => return settings_page(&state, &scope, None, Some(why)).await,
        };
        let instance_id = match form.instance.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(id) => Some(id.parse().map_err(|_| PageError::NotFound)?),
        };
        SyncSettings {
            company_sync: true,
            create_automatically: form.create_automatically.is_some(),
            invite_admins: form.invite_admins.is_some(),
            sales_support_pending: form.sales_support_pending.is_some(),
            customer_support_pending: form.customer_support_pending.is_some(),
            instance_id,
            interval_minutes,
            ..current
        }
    } else {
        SyncSettings {
            company_sync: false,
            ..current
        }
    };
    saved(&state, &scope, &settings).await
}

/// Saves the settings and goes back to their page, or shows it again saying why not.
async fn saved(
    state: &AppState,
    scope: &Scope,
    settings: &SyncSettings,
) -> Result<Response, PageError> {
    match save_settings(&*state.store, &scope.marketplace, settings, &scope.actor()).await {
        Ok(()) => Ok(scope.see_other("settings/sync", "saved")),
        Err(SyncRefused::Store(error)) => Err(error.into()),
        Err(refused) => settings_page(state, scope, None, Some(refused.to_string())).await,
    }
}

/// An interval as typed, in minutes; its range is the settings' to check.
fn minutes(typed: Option<&str>) -> Result<i32, String> {
    let typed = typed.unwrap_or("").trim();
    typed
        .parse()
        .map_err(|_| format!("The interval '{typed}' is not a number of minutes."))
}

#[derive(Deserialize)]
pub struct UserSettingsForm {
    user_sync_partner_center: Option<String>,
    user_sync_google: Option<String>,
    user_interval_minutes: Option<String>,
    registration_reminders: Option<String>,
}

/// The User Sync panel's settings; Company Sync's stay as they are.
pub async fn save_users(
    State(state): State<AppState>,
    scope: Scope,
    Form(form): Form<UserSettingsForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let current = state.store.sync_settings(scope.id()).await?;
    let user_interval_minutes = match minutes(form.user_interval_minutes.as_deref()) {
        Ok(minutes) => minutes,
        Err(why) => return settings_page(&state, &scope, None, Some(why)).await,
    };
    let settings = SettingsChange {
        user_sync_partner_center: Some(form.user_sync_partner_center.is_some()),
        user_sync_google: Some(form.user_sync_google.is_some()),
        user_interval_minutes: Some(user_interval_minutes),
        registration_reminders: Some(form.registration_reminders.is_some()),
        ..SettingsChange::default()
    }
    .over(current);
    saved(&state, &scope, &settings).await
}

/// The Google connection form (multipart: the key file is uploaded), saved and checked at once.
/// The role is checked before the upload is read.
pub async fn save_google(
    State(state): State<AppState>,
    scope: Scope,
    request: axum::extract::Request,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let fields = match google_form(&state, request).await {
        Ok(fields) => fields,
        Err(why) => return settings_page(&state, &scope, None, Some(why)).await,
    };
    let field = |name: &str| fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let Some(key_file) = field("key_file") else {
        let why = "Choose the service account's JSON key file.";
        return settings_page(&state, &scope, None, Some(why.into())).await;
    };
    let request = ConnectGoogle {
        key_file,
        admin: field("admin").unwrap_or_default(),
        api_url: field("api_url"),
        token_url: field("token_url"),
    };
    let local = state.partner_center_local;
    let actor = scope.actor();
    match google::connect(
        &*state.store,
        &state.sealer,
        scope.id(),
        &request,
        local,
        &actor,
    )
    .await
    {
        Ok(saved) if saved.check_error.is_none() => {
            Ok(scope.see_other("settings/sync", "google-works"))
        }
        Ok(_) => Ok(scope.see_other("settings/sync", "google-refused")),
        Err(GoogleRefused::Store(error)) => Err(error.into()),
        Err(refused) => settings_page(&state, &scope, None, Some(refused.to_string())).await,
    }
}

/// The connection form's fields; a key file larger than any service account's is refused.
async fn google_form(
    state: &AppState,
    request: axum::extract::Request,
) -> Result<HashMap<String, String>, String> {
    let unreadable = |e: &dyn std::fmt::Display| format!("The form could not be read: {e}.");
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|e| unreadable(&e))?;
    let mut fields = HashMap::new();
    while let Some(field) = multipart.next_field().await.map_err(|e| unreadable(&e))? {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(|e| unreadable(&e))?;
        if bytes.len() > KEY_FILE_LIMIT {
            return Err("The key file is larger than a service account's key (64 KB).".into());
        }
        fields.insert(name, String::from_utf8_lossy(&bytes).into_owned());
    }
    Ok(fields)
}

/// *Check again*: a fresh token for the saved connection.
pub async fn check_google(
    State(state): State<AppState>,
    scope: Scope,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let Some(connection) = state.store.google_connection(scope.id()).await? else {
        return Ok(scope.see_other("settings/sync", "no-google"));
    };
    let checked = google::check(&*state.store, &state.sealer, &connection).await?;
    let notice = if checked.check_error.is_none() {
        "google-works"
    } else {
        "google-refused"
    };
    Ok(scope.see_other("settings/sync", notice))
}

/// A service account's key is about 2.4 KB.
const KEY_FILE_LIMIT: usize = 64 * 1024;

/// *Sync users now*: a User Sync already queued or running is joined.
pub async fn users_now(State(state): State<AppState>, scope: Scope) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let run = sync_users_now(&*state.store, scope.id()).await;
    ran(
        &scope,
        run,
        "settings/sync",
        ["syncing-users", "user-sync-off"],
    )
}

/// *Sync now*: a sync already queued or running is joined.
pub async fn now(State(state): State<AppState>, scope: Scope) -> Result<Response, PageError> {
    scope.require_pending()?;
    let run = sync_now(&*state.store, scope.id()).await;
    ran(&scope, run, "pending-companies", ["syncing", "sync-off"])
}

/// Back to `path` after a sync was asked for, saying whether it started (`notices[0]`), was
/// joined, or is off (`notices[1]`).
fn ran(
    scope: &Scope,
    run: Result<ferry_storage::RunNow, SyncRefused>,
    path: &str,
    notices: [&str; 2],
) -> Result<Response, PageError> {
    match run {
        Ok(run) if run.joined => Ok(scope.see_other(path, "sync-joined")),
        Ok(_) => Ok(scope.see_other(path, notices[0])),
        Err(SyncRefused::Store(error)) => Err(error.into()),
        Err(_) => Ok(scope.see_other(path, notices[1])),
    }
}

struct PendingRow {
    id: i64,
    name: String,
    tenant_id: String,
    domain: String,
    country: String,
    contact: String,
    first_seen: String,
    /// "Match 92" when some company looks like it.
    best: Option<String>,
    gone: bool,
    selectable: bool,
}

fn row(p: PendingCompany) -> PendingRow {
    PendingRow {
        selectable: p.state.open(),
        best: p.best_score.map(|s| format!("{s}")),
        gone: p.gone_at.is_some(),
        contact: match (&p.contact_name, &p.contact_email) {
            (Some(name), Some(email)) => format!("{name} <{email}>"),
            (name, email) => or_dash(name.as_deref().or(email.as_deref())),
        },
        id: p.id,
        name: p.name,
        tenant_id: p.tenant_id,
        domain: or_dash(p.domain.as_deref()),
        country: or_dash(p.country.as_deref()),
        first_seen: when(ferry_domain::Timestamp(p.first_seen_at)),
    }
}

#[derive(Template)]
#[template(path = "pending_companies.html")]
struct QueuePage {
    chrome: Chrome,
    base: String,
    sync_on: bool,
    last_run: Option<RunView>,
    waiting: i64,
    rows: Vec<PendingRow>,
    q: String,
    /// (value, label, chosen).
    states: Vec<(&'static str, &'static str, bool)>,
    matched: String,
    country: String,
    dismissed_view: bool,
    filtered: bool,
    pager: Pager,
}

#[derive(Deserialize)]
pub struct QueueQuery {
    notice: Option<String>,
    q: Option<String>,
    state: Option<String>,
    #[serde(rename = "match")]
    matched: Option<String>,
    country: Option<String>,
    after: Option<String>,
}

pub async fn queue(
    State(state): State<AppState>,
    scope: Scope,
    Query(query): Query<QueueQuery>,
) -> Result<Response, PageError> {
    scope.require_pending()?;
    let chosen = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
        .unwrap_or(PendingState::Pending);
    let matched = match query.matched.as_deref() {
        Some("yes") => Some(true),
        Some("no") => Some(false),
        _ => None,
    };
    let country = query
        .country
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_ascii_uppercase);
    let q = query.q.clone().unwrap_or_default();
    let after = query.after.as_deref().and_then(|cursor| {
        let (name, id) = cursor.rsplit_once('|')?;
        Some((name.to_owned(), id.parse().ok()?))
    });
    let filters = PendingQuery {
        search: search_term(&q),
        state: Some(chosen),
        matched,
        country: country.clone(),
        after: after.clone(),
        limit: PAGE_SIZE + 1,
    };
    let mut rows = state.store.pending_companies(scope.id(), &filters).await?;
    let more = rows.len() > PAGE_SIZE as usize;
    rows.truncate(PAGE_SIZE as usize);
    let list = format!(
        "{}/pending-companies?q={}&state={}&match={}&country={}",
        scope.base(),
        url_encode(&q),
        chosen.as_str(),
        query.matched.as_deref().unwrap_or(""),
        url_encode(country.as_deref().unwrap_or(""))
    );
    let next = more.then(|| rows.last()).flatten().map(|p| {
        format!(
            "after={}",
            url_encode(&format!("{}|{}", p.name.to_lowercase(), p.id))
        )
    });
    let shown = i64::try_from(rows.len()).unwrap_or(0);
    let total = if after.is_none() && !more {
        Total::Exactly(shown)
    } else {
        Total::MoreThan(shown)
    };
    let settings = state.store.sync_settings(scope.id()).await?;
    let last_run = state
        .store
        .sync_runs(scope.id(), 1)
        .await?
        .pop()
        .map(run_view);
    page(&QueuePage {
        chrome: scope
            .chrome("Pending Companies")
            .notice(query.notice.as_deref()),
        base: scope.base(),
        sync_on: settings.company_sync,
        last_run,
        waiting: state.store.count_pending(scope.id()).await?,
        filtered: !q.is_empty() || matched.is_some() || country.is_some(),
        dismissed_view: chosen == PendingState::Dismissed,
        rows: rows.into_iter().map(row).collect(),
        q,
        states: [
            ("pending", "Waiting"),
            ("dismissed", "Dismissed"),
            ("creating", "Being created"),
            ("created", "Created"),
            ("linked", "Linked"),
        ]
        .into_iter()
        .map(|(v, l)| (v, l, v == chosen.as_str()))
        .collect(),
        matched: query.matched.unwrap_or_default(),
        country: country.unwrap_or_default(),
        pager: Pager::new(
            total,
            ("tenant", "tenants"),
            &list,
            after.is_some().then(String::new),
            next,
        ),
    })
}

struct SuggestionView {
    company_id: i64,
    name: String,
    score: u8,
    reasons: String,
}

#[derive(Template)]
#[template(path = "pending_company.html")]
struct DetailsPage {
    chrome: Chrome,
    base: String,
    p: PendingRow,
    state: &'static str,
    open: bool,
    dismissed: bool,
    decided: Option<String>,
    company: Option<(String, String)>,
    import: Option<String>,
    suggestions: Vec<SuggestionView>,
    q: String,
    /// Companies found by the search: (id, name, detail).
    found: Vec<(i64, String, String)>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct DetailsQuery {
    notice: Option<String>,
    q: Option<String>,
}

pub async fn details(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Query(query): Query<DetailsQuery>,
) -> Result<Response, PageError> {
    details_page(&state, &scope, id, query.q, query.notice.as_deref(), None).await
}

async fn details_page(
    state: &AppState,
    scope: &Scope,
    id: i64,
    q: Option<String>,
    notice: Option<&str>,
    error: Option<String>,
) -> Result<Response, PageError> {
    scope.require_pending()?;
    let p = state
        .store
        .pending_company(scope.id(), id)
        .await?
        .ok_or(PageError::NotFound)?;
    let q = q.unwrap_or_default();
    let found = match search_term(&q) {
        Some(term) => state
            .store
            .companies(
                scope.id(),
                &CompanyQuery {
                    search: Some(term),
                    limit: 20,
                    ..CompanyQuery::default()
                },
            )
            .await?
            .into_iter()
            .map(|c| {
                let detail = [c.email.clone(), c.website.clone(), c.country.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" · ");
                (c.id, c.name, detail)
            })
            .collect(),
        None => Vec::new(),
    };
    let base = scope.base();
    let template = DetailsPage {
        chrome: scope.chrome("Pending Companies").notice(notice),
        state: p.state.as_str(),
        open: p.state.open(),
        dismissed: p.state == PendingState::Dismissed,
        decided: p.decided_at.map(|at| {
            format!(
                "{} by {}",
                when(ferry_domain::Timestamp(at)),
                p.decided_by.as_deref().unwrap_or("—")
            )
        }),
        company: p.company_id.map(|c| {
            (
                p.company_name.clone().unwrap_or_default(),
                format!("{base}/companies/{c}"),
            )
        }),
        import: p.import_run_id.map(|run| format!("{base}/imports/{run}")),
        suggestions: p
            .suggestions
            .iter()
            .map(|s| SuggestionView {
                company_id: s.id,
                name: s.name.clone(),
                score: s.score,
                reasons: s.reasons.join("; "),
            })
            .collect(),
        p: row(p),
        base,
        q,
        found,
        error,
    };
    let refused = template.error.is_some();
    answer(&template, refused.then_some(StatusCode::CONFLICT))
}

/// A page that says why a form was refused answers with `refused`'s status, else 200.
fn answer(template: &impl Template, refused: Option<StatusCode>) -> Result<Response, PageError> {
    let status = refused.unwrap_or(StatusCode::OK);
    Ok((status, Html(template.render()?)).into_response())
}

/// The ids a list or details form sends.
fn ids_of(fields: &[(String, String)]) -> Vec<i64> {
    fields
        .iter()
        .filter(|(k, _)| k == "id")
        .filter_map(|(_, v)| v.parse().ok())
        .collect()
}

/// Where a form that acted on `ids` goes back to: the one tenant's page, or the queue.
fn back(ids: &[i64]) -> String {
    match ids {
        [one] => format!("pending-companies/{one}"),
        _ => "pending-companies".to_owned(),
    }
}

/// Creates the companies of the ticked tenants (or the one on its page).
pub async fn create(
    State(state): State<AppState>,
    scope: Scope,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    scope.require_pending()?;
    let ids = ids_of(&fields);
    if ids.is_empty() {
        return Ok(scope.see_other("pending-companies", "nothing-selected"));
    }
    let responsible = scope.principal.user_id();
    match create_pending(
        &*state.store,
        &scope.marketplace,
        &ids,
        &scope.actor(),
        responsible,
    )
    .await
    {
        Ok(_) => Ok(scope.see_other(&back(&ids), "creating")),
        Err(SyncRefused::Store(error)) => Err(error.into()),
        Err(refused)
            if ids.len() == 1
                && state
                    .store
                    .pending_company(scope.id(), ids[0])
                    .await?
                    .is_some() =>
        {
            details_page(
                &state,
                &scope,
                ids[0],
                None,
                None,
                Some(refused.to_string()),
            )
            .await
        }
        Err(_) => Ok(scope.see_other("pending-companies", "nothing-created")),
    }
}

/// Dismisses the ticked tenants, or with `restore` brings dismissed ones back.
pub async fn dismiss(
    State(state): State<AppState>,
    scope: Scope,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    scope.require_pending()?;
    let ids = ids_of(&fields);
    if ids.is_empty() {
        return Ok(scope.see_other("pending-companies", "nothing-selected"));
    }
    let restore = fields.iter().any(|(k, v)| k == "restore" && v == "1");
    state
        .store
        .dismiss_pending(scope.id(), &ids, !restore, &scope.actor())
        .await?;
    Ok(scope.see_other(&back(&ids), if restore { "restored" } else { "dismissed" }))
}

#[derive(Deserialize)]
pub struct LinkForm {
    company_id: i64,
}

pub async fn link(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<LinkForm>,
) -> Result<Response, PageError> {
    scope.require_pending()?;
    state
        .store
        .pending_company(scope.id(), id)
        .await?
        .ok_or(PageError::NotFound)?;
    match state
        .store
        .link_pending(scope.id(), id, form.company_id, &scope.actor())
        .await
    {
        Ok(_) => Ok(scope.see_other(&format!("pending-companies/{id}"), "linked")),
        Err(error) => {
            let why = link_refusal(&*state.store, scope.id(), id, error).await?;
            details_page(&state, &scope, id, None, None, Some(why)).await
        }
    }
}
