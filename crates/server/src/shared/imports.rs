//! An import run's results as a CSV download, for the API and the Import Results page: one
//! line per subscription (and one for a tenant without any), tab by tab, cells neutralised.

use axum::http::header;
use axum::response::IntoResponse;
use ferry_datasets::report::write_record;
use ferry_storage::{ImportRun, ImportTab, StoreError};

use crate::AppState;

/// Tenants read at once.
const PAGE: i64 = 500;

/// The results of `tabs` as a CSV download.
pub async fn results_csv(
    state: &AppState,
    run: &ImportRun,
    tabs: &[ImportTab],
) -> Result<impl IntoResponse + use<>, StoreError> {
    let mut out = Vec::new();
    write_record(
        &mut out,
        [
            "tab",
            "tenant_id",
            "tenant_name",
            "tenant_status",
            "company_id",
            "company_created",
            "subscription_id",
            "offer_id",
            "offer_name",
            "outcome",
            "code",
            "reason",
            "start_date",
            "billing_start_date",
            "notes",
        ],
    );
    for &tab in tabs {
        let mut after = None;
        loop {
            let tenants = state
                .store
                .import_results(run.id, tab, after.take(), PAGE)
                .await?;
            let Some(last) = tenants.last() else { break };
            after = Some((last.name.to_lowercase(), last.tenant_id.clone()));
            let ids: Vec<String> = tenants.iter().map(|t| t.tenant_id.clone()).collect();
            let subscriptions = state.store.import_subscriptions(run.id, &ids).await?;
            for t in &tenants {
                let tenant = [
                    tab.as_str().to_owned(),
                    t.tenant_id.clone(),
                    t.name.clone(),
                    t.status.as_str().to_owned(),
                    t.company_id.map(|c| c.to_string()).unwrap_or_default(),
                    t.company_created.map(|c| c.to_string()).unwrap_or_default(),
                ];
                let notes = t.notes.join(" ");
                let own: Vec<_> = subscriptions
                    .iter()
                    .filter(|s| s.tenant_id == t.tenant_id)
                    .collect();
                if own.is_empty() {
                    let empty = [""; 8];
                    let row = tenant
                        .iter()
                        .map(String::as_str)
                        .chain(empty)
                        .chain([notes.as_str()]);
                    write_record(&mut out, row);
                }
                for s in own {
                    let cells = [
                        s.subscription_id.clone(),
                        s.offer_id.clone().unwrap_or_default(),
                        s.offer_name.clone().unwrap_or_default(),
                        s.outcome.clone(),
                        s.code.clone().unwrap_or_default(),
                        s.reason.clone().unwrap_or_default(),
                        s.start_date.map(|d| d.to_string()).unwrap_or_default(),
                        s.billing_start_date
                            .map(|d| d.to_string())
                            .unwrap_or_default(),
                        notes.clone(),
                    ];
                    write_record(
                        &mut out,
                        tenant.iter().chain(cells.iter()).map(String::as_str),
                    );
                }
            }
            if i64::try_from(tenants.len()).unwrap_or(0) < PAGE {
                break;
            }
        }
    }
    let disposition = format!("attachment; filename=\"import-{}-results.csv\"", run.id);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        out,
    ))
}
