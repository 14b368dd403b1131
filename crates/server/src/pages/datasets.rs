//! The Data Migration pages (docs/datasets.md): the datasets with their state and a gear menu,
//! the upload form with the templates, and one dataset with its files, plan, outcome, findings
//! and report. Pages of work in progress refresh themselves.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferry_datasets::{DataType, template, template_guide};
use ferry_domain::{DatasetKind, DatasetState, Permission, Role};
use ferry_storage::{Dataset, DatasetEdit, PlanLine, Subject};
use serde::Deserialize;

use super::{NoticeQuery, page};
use crate::AppState;
use crate::error::PageError;
use crate::shared::datasets::{self, Creator, DatasetError};
use crate::web::{Chrome, Scope, or_dash, when};

struct DatasetRow {
    id: i64,
    name: String,
    state: &'static str,
    badge: &'static str,
    creator: String,
    rows: String,
    errors: String,
    /// The work's progress while it runs ("planning · 4 / 5").
    progress: Option<String>,
    created: String,
    has_report: bool,
    validated: bool,
    /// An order dataset (one Bulk Data file).
    orders: bool,
}

#[derive(Template)]
#[template(path = "dataset_rows.html")]
struct DatasetRows {
    base: String,
    csrf: String,
    datasets: Vec<DatasetRow>,
    all_settled: bool,
}

struct TypeChoice {
    part: &'static str,
    label: String,
}

#[derive(Template)]
#[template(path = "datasets.html")]
struct DatasetsPage {
    chrome: Chrome,
    base: String,
    rows: String,
    types: Vec<TypeChoice>,
    /// Whether the migration form is shown: resellers upload order datasets only.
    can_migrate: bool,
    error: Option<String>,
}

struct CountsRow {
    label: String,
    created: i64,
    updated: i64,
    unchanged: i64,
    skipped: i64,
}

struct FileRow {
    label: String,
    name: String,
    size: String,
    rows: String,
}

struct FindingRow {
    file: String,
    line: i64,
    external_id: String,
    severity: String,
    code: String,
    column: String,
    message: String,
    value: String,
}

#[derive(Template)]
#[template(path = "dataset_summary.html")]
struct DatasetSummary {
    base: String,
    id: i64,
    state: &'static str,
    badge: &'static str,
    settled: bool,
    denied: bool,
    failure: Option<String>,
    progress: Option<String>,
    files: Vec<FileRow>,
    plan: Vec<CountsRow>,
    outcome: Vec<CountsRow>,
    findings: Vec<FindingRow>,
    more_findings: bool,
    has_report: bool,
}

#[derive(Template)]
#[template(path = "dataset.html")]
struct DatasetPage {
    chrome: Chrome,
    base: String,
    id: i64,
    name: String,
    creator: String,
    created: String,
    provision: bool,
    review: bool,
    validated: bool,
    /// What the Activate button asks, with the plan's totals.
    activate_confirm: String,
    editable: bool,
    takes_files: bool,
    types: Vec<TypeChoice>,
    busy: bool,
    summary: String,
    error: Option<String>,
}

/// The data types a dataset of `kind` is made of, for the forms' file inputs.
fn type_choices(kind: DatasetKind) -> Vec<TypeChoice> {
    let types = match kind {
        DatasetKind::Migration => DataType::ALL.to_vec(),
        DatasetKind::Orders => vec![DataType::Orders],
    };
    types
        .iter()
        .map(|t| TypeChoice {
            part: t.part(),
            label: t.label(),
        })
        .collect()
}

/// Whether nothing more will happen to a dataset without someone acting.
fn settled(state: DatasetState) -> bool {
    !matches!(
        state,
        DatasetState::Created | DatasetState::Validating | DatasetState::Activating
    )
}

fn badge(state: DatasetState) -> &'static str {
    match state {
        DatasetState::Activated => "active",
        DatasetState::Validated => "succeeded",
        DatasetState::Created | DatasetState::Validating | DatasetState::Activating => "running",
        DatasetState::ActivatedWithErrors => "pending",
        DatasetState::UploadFailed | DatasetState::Denied | DatasetState::Cancelled => "failed",
    }
}

/// The reseller company a signed-in reseller belongs to.
async fn reseller_company(state: &AppState, scope: &Scope) -> Result<Option<i64>, PageError> {
    let Subject::User { id, .. } = scope.principal.account.subject else {
        return Ok(None);
    };
    let memberships = state.store.memberships_of_user(scope.id(), id).await?;
    Ok(memberships.first().map(|m| m.company_id))
}

/// Whether this person may replace a dataset's files: staff any, a reseller those of its
/// company's order datasets (the only kind it uploads).
fn may_replace_files(scope: &Scope, dataset: &Dataset) -> bool {
    !is_reseller(scope) || dataset.kind == DatasetKind::Orders
}

fn is_reseller(scope: &Scope) -> bool {
    !scope.principal.is_platform_admin() && scope.principal.account.roles == [Role::Reseller]
}

/// The datasets this person sees: staff the marketplace's, a reseller their company's.
async fn visible(state: &AppState, scope: &Scope) -> Result<Vec<Dataset>, PageError> {
    scope.require(Permission::ManageDatasets)?;
    if is_reseller(scope) {
        return Ok(match reseller_company(state, scope).await? {
            Some(company) => state.store.datasets(scope.id(), Some(company)).await?,
            None => Vec::new(),
        });
    }
    Ok(state.store.datasets(scope.id(), None).await?)
}

async fn find(state: &AppState, scope: &Scope, id: i64) -> Result<Dataset, PageError> {
    visible(state, scope)
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or(PageError::NotFound)
}

async fn rows(state: &AppState, scope: &Scope) -> Result<DatasetRows, PageError> {
    let mut out = Vec::new();
    let datasets = visible(state, scope).await?;
    let all_settled = datasets.iter().all(|d| settled(d.state));
    for d in datasets {
        let figures = datasets::figures(state, &d).await?;
        let count = |n: Option<i64>| n.map_or_else(|| "—".to_owned(), |n| n.to_string());
        out.push(DatasetRow {
            id: d.id,
            name: d.name,
            state: d.state.label(),
            badge: badge(d.state),
            creator: d.creator,
            rows: count(figures.rows),
            errors: count(figures.errors),
            progress: figures.progress.map(|p| p.to_string()),
            created: when(d.created_at),
            has_report: d.state.has_report(),
            validated: d.state == DatasetState::Validated,
            orders: d.kind == DatasetKind::Orders,
        });
    }
    Ok(DatasetRows {
        base: scope.base(),
        csrf: scope.csrf.clone(),
        datasets: out,
        all_settled,
    })
}

async fn list_page(
    state: &AppState,
    scope: &Scope,
    notice: Option<&str>,
    error: Option<String>,
) -> Result<DatasetsPage, PageError> {
    let rows = rows(state, scope).await?.render()?;
    Ok(DatasetsPage {
        chrome: scope.chrome("Data Migration").notice(notice),
        base: scope.base(),
        rows,
        types: type_choices(DatasetKind::Migration),
        can_migrate: !is_reseller(scope),
        error,
    })
}

pub async fn list(
    State(state): State<AppState>,
    scope: Scope,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    page(&list_page(&state, &scope, query.notice.as_deref(), None).await?)
}

/// The table alone, fetched again while datasets are in progress.
pub async fn list_rows(State(state): State<AppState>, scope: Scope) -> Result<Response, PageError> {
    page(&rows(&state, &scope).await?)
}

/// Receives the upload form (multipart, its CSRF token in the address).
pub async fn upload(
    State(state): State<AppState>,
    scope: Scope,
    multipart: Multipart,
) -> Result<Response, PageError> {
    scope.require(Permission::ManageDatasets)?;
    // A reseller's datasets are its company's: without one it has nothing to upload for.
    let company_id = if is_reseller(&scope) {
        Some(
            reseller_company(&state, &scope)
                .await?
                .ok_or(PageError::Forbidden)?,
        )
    } else {
        None
    };
    let user_id = scope.principal.user_id();
    let creator = Creator {
        user_id,
        company_id,
        label: scope.principal.account.email.clone(),
    };
    match datasets::receive(&state, scope.id(), creator, multipart).await {
        Ok((dataset, _)) => Ok(scope.see_other(&format!("datasets/{}", dataset.id), "uploaded")),
        Err(error) => refused(&state, &scope, error).await,
    }
}

/// The list page again, with what was wrong, and the status that says it.
async fn refused(
    state: &AppState,
    scope: &Scope,
    error: DatasetError,
) -> Result<Response, PageError> {
    let status = match &error {
        DatasetError::Busy(_) | DatasetError::State { .. } => StatusCode::CONFLICT,
        DatasetError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        DatasetError::Store(e) => return Err(PageError::Internal(e.to_string())),
    };
    let page = list_page(state, scope, None, Some(error.to_string())).await?;
    Ok((status, axum::response::Html(page.render()?)).into_response())
}

fn counts(lines: Vec<PlanLine>) -> Vec<CountsRow> {
    lines
        .into_iter()
        .map(|p| CountsRow {
            label: p.data_type.to_ascii_uppercase(),
            created: p.created,
            updated: p.updated,
            unchanged: p.unchanged,
            skipped: p.skipped,
        })
        .collect()
}

async fn summary(
    state: &AppState,
    scope: &Scope,
    dataset: &Dataset,
) -> Result<DatasetSummary, PageError> {
    let files = state.store.dataset_files(dataset.id).await?;
    // An order dataset's findings are of the types its orders split into, all from its one file.
    let file_name = |data_type: &str| {
        files
            .iter()
            .find(|f| f.data_type == data_type)
            .or_else(|| files.iter().find(|f| f.data_type == "orders"))
            .map_or_else(|| data_type.to_owned(), |f| f.file_name.clone())
    };
    let plan: Vec<PlanLine> = dataset
        .plan
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    let outcome = if matches!(
        dataset.state,
        DatasetState::Activated | DatasetState::ActivatedWithErrors
    ) {
        state.store.staged_outcomes(dataset.id).await?
    } else {
        Vec::new()
    };
    const SHOWN: i64 = 50;
    let findings = state
        .store
        .dataset_findings(dataset.id, 0, SHOWN + 1)
        .await?;
    let progress = match dataset.job_id {
        Some(job) if !settled(dataset.state) => {
            state.store.job(job).await?.and_then(|j| j.progress_message)
        }
        _ => None,
    };
    Ok(DatasetSummary {
        base: scope.base(),
        id: dataset.id,
        state: dataset.state.label(),
        badge: badge(dataset.state),
        settled: settled(dataset.state),
        denied: dataset.state == DatasetState::Denied,
        failure: dataset.failure.clone(),
        progress,
        files: files
            .iter()
            .map(|f| FileRow {
                label: f.data_type.to_ascii_uppercase(),
                name: f.file_name.clone(),
                size: size(f.bytes),
                rows: f
                    .rows_read
                    .map_or_else(|| "—".to_owned(), |n| n.to_string()),
            })
            .collect(),
        plan: counts(plan),
        outcome: counts(outcome),
        more_findings: findings.len() as i64 > SHOWN,
        findings: findings
            .into_iter()
            .take(SHOWN as usize)
            .map(|f| FindingRow {
                file: file_name(&f.data_type),
                line: f.line,
                external_id: or_dash(f.external_id.as_deref()),
                severity: f.severity,
                code: f.code,
                column: or_dash(f.column_name.as_deref()),
                message: f.message,
                value: or_dash(f.value.as_deref()),
            })
            .collect(),
        has_report: dataset.state.has_report(),
    })
}

fn size(bytes: i64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / f64::from(1 << 10)),
        b => format!("{b} bytes"),
    }
}

async fn detail_page(
    state: &AppState,
    scope: &Scope,
    dataset: Dataset,
    notice: Option<&str>,
    error: Option<String>,
) -> Result<DatasetPage, PageError> {
    let summary = summary(state, scope, &dataset).await?.render()?;
    let plan: Vec<PlanLine> = dataset
        .plan
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    let total = |count: fn(&PlanLine) -> i64| plan.iter().map(count).sum::<i64>();
    let (created, updated, skipped) = (
        total(|p| p.created),
        total(|p| p.updated),
        total(|p| p.skipped),
    );
    let records = if created == 1 { "record" } else { "records" };
    let rows = if skipped == 1 { "row" } else { "rows" };
    let activate_confirm = format!(
        "Activate this dataset? It will create {created} {records}, update {updated} and skip \
         {skipped} {rows} with errors."
    );
    Ok(DatasetPage {
        chrome: scope.chrome("Data Migration").notice(notice),
        base: scope.base(),
        id: dataset.id,
        creator: dataset.creator.clone(),
        created: when(dataset.created_at),
        provision: dataset.provision,
        review: dataset.review,
        validated: dataset.state == DatasetState::Validated,
        activate_confirm,
        editable: dataset.state.editable(),
        takes_files: dataset.state.takes_files() && may_replace_files(scope, &dataset),
        types: type_choices(dataset.kind),
        busy: !settled(dataset.state),
        name: dataset.name,
        summary,
        error,
    })
}

pub async fn show(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let dataset = find(&state, &scope, id).await?;
    page(&detail_page(&state, &scope, dataset, query.notice.as_deref(), None).await?)
}

/// The state, files, plan and findings alone, fetched again while the dataset is in progress.
pub async fn show_summary(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let dataset = find(&state, &scope, id).await?;
    page(&summary(&state, &scope, &dataset).await?)
}

#[derive(Deserialize)]
pub struct EditForm {
    name: String,
    #[serde(default)]
    provision: Option<String>,
    #[serde(default)]
    review: Option<String>,
}

/// Renames a dataset; before activation, also sets provisioning and review.
pub async fn edit(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<EditForm>,
) -> Result<Response, PageError> {
    let dataset = find(&state, &scope, id).await?;
    let name = form.name.trim();
    let problem = if name.is_empty() {
        Some("The name cannot be empty.".to_owned())
    } else {
        ferry_domain::text_problem(name).map(|problem| format!("The name {problem}."))
    };
    if let Some(problem) = problem {
        let page = detail_page(&state, &scope, dataset, None, Some(problem)).await?;
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::response::Html(page.render()?),
        )
            .into_response());
    }
    let (provision, review) = if dataset.state.editable() {
        (form.provision.is_some(), form.review.is_some())
    } else {
        (dataset.provision, dataset.review)
    };
    state
        .store
        .edit_dataset(
            dataset.key(),
            &DatasetEdit {
                name,
                provision,
                review,
            },
        )
        .await?;
    Ok(scope.see_other(&format!("datasets/{id}"), "saved"))
}

/// Runs an action on a dataset and comes back to it, or shows why it could not.
async fn act(
    state: &AppState,
    scope: &Scope,
    dataset: Dataset,
    outcome: Result<(), DatasetError>,
    notice: &str,
) -> Result<Response, PageError> {
    match outcome {
        Ok(()) => Ok(scope.see_other(&format!("datasets/{}", dataset.id), notice)),
        Err(DatasetError::Store(e)) => Err(e.into()),
        Err(error) => {
            let page = detail_page(state, scope, dataset, None, Some(error.to_string())).await?;
            Ok((StatusCode::CONFLICT, axum::response::Html(page.render()?)).into_response())
        }
    }
}

pub async fn activate(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let dataset = find(&state, &scope, id).await?;
    let outcome = datasets::activate(&state, &dataset).await.map(|_| ());
    act(&state, &scope, dataset, outcome, "activating").await
}

/// Receives the Edit form's files (multipart, its CSRF token in the address).
pub async fn replace_files(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    multipart: Multipart,
) -> Result<Response, PageError> {
    scope.require(Permission::ManageDatasets)?;
    let dataset = find(&state, &scope, id).await?;
    if !may_replace_files(&scope, &dataset) {
        return Err(PageError::Forbidden);
    }
    let outcome = datasets::replace_files(&state, &dataset, multipart)
        .await
        .map(|_| ());
    act(&state, &scope, dataset, outcome, "replaced").await
}

pub async fn deny(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let dataset = find(&state, &scope, id).await?;
    let outcome = datasets::deny(&state, &dataset).await;
    act(&state, &scope, dataset, outcome, "denied").await
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    undo: Option<String>,
}

pub async fn delete(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<DeleteForm>,
) -> Result<Response, PageError> {
    let dataset = find(&state, &scope, id).await?;
    if form.undo.is_some() {
        return match datasets::undo(&state, &dataset, &scope.actor()).await {
            Ok(_) => Ok(scope.see_other("jobs", "undoing")),
            Err(error) => act(&state, &scope, dataset, Err(error), "").await,
        };
    }
    match datasets::delete(&state, &dataset).await {
        Ok(()) => Ok(scope.see_other("datasets", "deleted")),
        Err(error) => act(&state, &scope, dataset, Err(error), "").await,
    }
}

pub async fn report(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let dataset = find(&state, &scope, id).await?;
    if !dataset.state.has_report() {
        return Err(PageError::NotFound);
    }
    Ok(datasets::report_response(&state, &dataset).await?)
}

#[derive(Deserialize)]
pub struct TemplateQuery {
    /// Present: the column guide to read, instead of the CSV to download.
    guide: Option<String>,
}

pub async fn download_template(
    scope: Scope,
    Path((_, data_type)): Path<(String, String)>,
    Query(query): Query<TemplateQuery>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManageDatasets)?;
    let data_type = DataType::from_part(&data_type).ok_or(PageError::NotFound)?;
    if query.guide.is_some() {
        let text = template_guide(data_type);
        return Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response());
    }
    Ok(datasets::csv_download(
        &format!("{}.csv", data_type.part()),
        template(data_type),
    ))
}
