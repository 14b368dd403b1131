//! The Import Customers tool over the API: ask for a retrieval of an instance's tenants (Get
//! Hierarchy), read the instance's retrievals and what the newest one found changed, and list
//! its tenants as the marketplace's audit sees them.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use ferry_domain::{Permission, TenantStatus};
use ferry_storage::{
    HierarchyChange, HierarchyRun, SnapshotReseller, TenantAudit, TenantAuditQuery, Total,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::instances::visible_one;
use super::{
    ApiResult, ApiScope, ErrorEnvelope, PageParams, name_cursor, next_name_cursor, rfc3339,
};
use crate::AppState;
use crate::error::ApiError;
use crate::shared::hierarchy::{Asked, HierarchyIn, ask};

/// How many changes the answer carries.
const CHANGES_SHOWN: i64 = 500;

#[derive(Serialize, ToSchema)]
pub struct RetrievalStarted {
    /// Follow it at `GET /api/v1/jobs/{job_id}`.
    job_id: Option<i64>,
    run_id: i64,
}

/// Retrieves the instance's resellers, tenants and subscriptions from Partner Center (all of
/// them, or one tenant by `tenant_id` or `domain`) into its snapshot, as a background job.
#[utoipa::path(post, path = "/api/v1/instances/{id}/hierarchy", tag = "import-customers", params(("id" = i64, Path)), request_body = HierarchyIn,
    responses((status = 202, description = "Accepted: follow the job", body = RetrievalStarted),
              (status = 404, description = "Not found in this marketplace", body = ErrorEnvelope),
              (status = 409, description = "A retrieval of this instance is already running; the message names it", body = ErrorEnvelope),
              (status = 422, description = "The tenant id or domain is not one", body = ErrorEnvelope)))]
pub async fn start_hierarchy(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
    Json(input): Json<HierarchyIn>,
) -> Result<(StatusCode, Json<RetrievalStarted>), ApiError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let instance = visible_one(&state, &scope, id).await?;
    let asked = input.scope().map_err(ApiError::Invalid)?;
    match ask(&state, scope.id(), &instance, &asked, &scope.actor()).await? {
        Asked::Started(run) => Ok((
            StatusCode::ACCEPTED,
            Json(RetrievalStarted {
                job_id: run.job_id,
                run_id: run.id,
            }),
        )),
        Asked::Running(sentence) => Err(ApiError::Conflict(sentence)),
    }
}

#[derive(Serialize, ToSchema)]
pub struct HierarchyOut {
    instance_id: i64,
    /// When the last retrieval of every tenant completed; none if never.
    last_update: Option<String>,
    /// The newest retrievals first (ten at most).
    runs: Vec<RunOut>,
    /// What the newest completed retrieval of every tenant found changed since the one before
    /// (the first 500, in tenant order).
    changes: Vec<ChangeOut>,
}

#[derive(Serialize, ToSchema)]
pub struct RunOut {
    id: i64,
    /// mass (every tenant) or tenant (one).
    scope: String,
    /// The tenant id or domain a single-tenant retrieval asked for.
    tenant: Option<String>,
    /// running, completed, failed or cancelled.
    state: String,
    job_id: Option<i64>,
    started_by: String,
    started_at: String,
    finished_at: Option<String>,
    /// Why it failed.
    error: Option<String>,
    /// What it could not read (an App-only instance reads no resellers).
    lacks: Option<String>,
    summary: Option<SummaryOut>,
}

#[derive(Serialize, ToSchema)]
pub struct SummaryOut {
    resellers: i64,
    tenants: i64,
    subscriptions: i64,
    /// Whether there was an earlier snapshot to compare with.
    compared: bool,
    /// Changes per kind: tenant_new, tenant_gone, tenant_renamed, subscription_new,
    /// subscription_gone, quantity_changed, status_changed, offer_changed, term_changed.
    changes: BTreeMap<String, i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ChangeOut {
    kind: String,
    tenant_id: String,
    subscription_id: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

impl From<HierarchyRun> for RunOut {
    fn from(run: HierarchyRun) -> Self {
        RunOut {
            id: run.id,
            scope: run.scope.as_str().to_owned(),
            tenant: run.tenant,
            state: run.state.as_str().to_owned(),
            job_id: run.job_id,
            started_by: run.started_by,
            started_at: rfc3339(run.started_at),
            finished_at: run.finished_at.map(rfc3339),
            error: run.error,
            lacks: run.lacks,
            summary: run.summary.map(|s| SummaryOut {
                resellers: s.resellers,
                tenants: s.tenants,
                subscriptions: s.subscriptions,
                compared: s.compared,
                changes: s.changes,
            }),
        }
    }
}

impl From<HierarchyChange> for ChangeOut {
    fn from(c: HierarchyChange) -> Self {
        ChangeOut {
            kind: c.kind,
            tenant_id: c.tenant_id,
            subscription_id: c.subscription_id,
            before: c.before_value,
            after: c.after_value,
        }
    }
}

/// The instance's Last Update, its recent retrievals, and what the newest complete one changed.
#[utoipa::path(get, path = "/api/v1/instances/{id}/hierarchy", tag = "import-customers", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = HierarchyOut), (status = 404, description = "Not found in this marketplace", body = ErrorEnvelope)))]
pub async fn get_hierarchy(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> ApiResult<HierarchyOut> {
    scope.require(Permission::ManagePartnerCenter)?;
    visible_one(&state, &scope, id).await?;
    let hierarchy = state.store.hierarchy_state(id).await?;
    let runs = state.store.hierarchy_runs(id, 10).await?;
    let latest_mass = runs.iter().find(|r| {
        r.scope == ferry_storage::RunScope::Mass && r.state == ferry_storage::RunState::Completed
    });
    let changes = match latest_mass {
        Some(run) => state.store.hierarchy_changes(run.id, CHANGES_SHOWN).await?,
        None => Vec::new(),
    };
    Ok(Json(HierarchyOut {
        instance_id: id,
        last_update: hierarchy.last_update.map(rfc3339),
        runs: runs.into_iter().map(RunOut::from).collect(),
        changes: changes.into_iter().map(ChangeOut::from).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantFilters {
    /// Any part of the name or domain, or the start of the tenant id.
    q: Option<String>,
    /// synced, out-of-sync or not-imported.
    status: Option<String>,
    /// customer (tenants, direct or of a reseller), tenant-reseller (end customers of a
    /// tenant reseller of this marketplace) or reseller (the indirect resellers, with their
    /// number of end customers). Without it: every tenant, customers and tenant resellers'.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Only the end customers of this reseller (its tenant id), or `direct`.
    reseller: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TenantPage {
    /// Tenants (`type` customer or tenant-reseller) in name order, or resellers (`type`
    /// reseller).
    items: Vec<TenantOut>,
    /// Pass as `after` for the next page; none on the last.
    next: Option<String>,
    /// How many match the filters, counted up to 1,000.
    total: i64,
    /// Whether more than `total` match.
    more: bool,
    /// When the marketplace's audit of this instance was made; none before any retrieval.
    audited_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TenantOut {
    /// customer, tenant-reseller (an end customer of a tenant reseller's MPN id) or reseller.
    #[serde(rename = "type")]
    kind: &'static str,
    tenant_id: String,
    name: String,
    domain: Option<String>,
    /// A customer's indirect reseller (its tenant id and MPN id); none for direct customers.
    reseller_tenant_id: Option<String>,
    reseller_mpn_id: Option<String>,
    /// The tenant reseller that holds the tenant (type tenant-reseller): it is imported into
    /// that marketplace, whose companies this list does not show.
    tenant_reseller: Option<TenantResellerOut>,
    /// A reseller's MPN id.
    mpn_id: Option<String>,
    /// A reseller's number of end customers.
    end_customers: Option<i64>,
    /// synced, out-of-sync or not-imported (customers).
    status: Option<String>,
    related_companies: Vec<CompanyRefOut>,
    subscriptions: Option<SubscriptionCounts>,
    /// Importable Partner Center subscriptions the marketplace lacks, and marketplace
    /// subscriptions Partner Center lacks.
    missing: Vec<String>,
    extra: Vec<String>,
    /// Partner Center subscriptions the import does not bring in: `azure-plan`, or `ended`.
    not_importable: Vec<NotImportableOut>,
    possible_matches: Vec<PossibleMatchOut>,
}

#[derive(Serialize, ToSchema)]
pub struct TenantResellerOut {
    slug: String,
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct CompanyRefOut {
    id: i64,
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionCounts {
    /// Importable subscriptions in Partner Center.
    partner_center: i64,
    /// Microsoft subscriptions of the related companies in the marketplace.
    marketplace: i64,
}

#[derive(Serialize, ToSchema)]
pub struct NotImportableOut {
    subscription_id: String,
    offer_name: Option<String>,
    why: String,
}

#[derive(Serialize, ToSchema)]
pub struct PossibleMatchOut {
    id: i64,
    name: String,
    /// 0 to 100; suggested from 50.
    score: u8,
    reasons: Vec<String>,
}

/// The instance's tenants as this marketplace's audit sees them, filtered and paged; or its
/// indirect resellers.
#[utoipa::path(get, path = "/api/v1/instances/{id}/tenants", tag = "import-customers", params(("id" = i64, Path), TenantFilters, PageParams),
    responses((status = 200, description = "OK", body = TenantPage), (status = 404, description = "Not found in this marketplace", body = ErrorEnvelope),
              (status = 422, description = "A filter or cursor is not one", body = ErrorEnvelope)))]
pub async fn list_tenants(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
    Query(filters): Query<TenantFilters>,
    Query(page): Query<PageParams>,
) -> ApiResult<TenantPage> {
    scope.require(Permission::ManagePartnerCenter)?;
    visible_one(&state, &scope, id).await?;
    let list = TenantList::read(&state, scope.id(), id).await?;
    if filters.kind.as_deref() == Some("reseller") {
        let items: Vec<TenantOut> = list.resellers();
        let total = i64::try_from(items.len()).unwrap_or(0);
        return Ok(Json(TenantPage {
            items,
            next: None,
            total,
            more: false,
            audited_at: list.audited_at.map(rfc3339),
        }));
    }
    let tenant_reseller = match filters.kind.as_deref() {
        None => None,
        Some("customer") => Some(false),
        Some("tenant-reseller") => Some(true),
        Some(kind) => {
            return Err(ApiError::Invalid(format!(
                "type '{kind}' is not one of customer, tenant-reseller, reseller"
            )));
        }
    };
    let status = filters
        .status
        .as_deref()
        .map(str::parse::<TenantStatus>)
        .transpose()
        .map_err(|_| {
            ApiError::Invalid("status must be synced, out-of-sync or not-imported".into())
        })?;
    let after = name_cursor(page.after.as_deref())?;
    let query = TenantAuditQuery {
        search: super::search_term(filters.q)?,
        status,
        reseller: filters.reseller.map(|r| (r != "direct").then_some(r)),
        tenant_reseller,
        after,
        limit: page.limit(),
    };
    let audits = state.store.tenant_audits(scope.id(), id, &query).await?;
    let total = state
        .store
        .count_tenant_audits(scope.id(), id, &query, COUNT_CAP)
        .await?;
    let next = next_name_cursor(
        i64::try_from(audits.len()).unwrap_or(0) == query.limit,
        audits
            .last()
            .map(|a| (a.tenant_id.as_str(), a.name.as_str())),
    );
    let (total, more) = match total {
        Total::Exactly(n) => (n, false),
        Total::MoreThan(n) => (n, true),
    };
    Ok(Json(TenantPage {
        items: audits.into_iter().map(|a| list.customer(a)).collect(),
        next,
        total,
        more,
        audited_at: list.audited_at.map(rfc3339),
    }))
}

/// How many tenants a list counts before it says "more than".
const COUNT_CAP: i64 = 1_000;

/// What a tenant list needs beside the audit rows: the snapshot's resellers and the
/// marketplace's tenant resellers.
struct TenantList {
    resellers: Vec<SnapshotReseller>,
    tenant_resellers: BTreeMap<i64, TenantResellerOut>,
    end_customers: BTreeMap<String, i64>,
    audited_at: Option<i64>,
}

impl TenantList {
    async fn read(
        state: &AppState,
        marketplace_id: i64,
        instance_id: i64,
    ) -> Result<Self, ApiError> {
        let snapshot = state.store.hierarchy_state(instance_id).await?.snapshot;
        let resellers = match snapshot {
            Some(snapshot) => state.store.snapshot_resellers(snapshot).await?,
            None => Vec::new(),
        };
        let end_customers = state
            .store
            .reseller_customer_counts(marketplace_id, instance_id)
            .await?
            .into_iter()
            .collect();
        let first = TenantAuditQuery {
            limit: 1,
            ..TenantAuditQuery::default()
        };
        let audited_at = state
            .store
            .tenant_audits(marketplace_id, instance_id, &first)
            .await?
            .first()
            .map(|a| a.audited_at);
        let tenant_resellers = state
            .store
            .marketplaces()
            .await?
            .into_iter()
            .filter(|m| m.parent_id == Some(marketplace_id))
            .map(|m| {
                let out = TenantResellerOut {
                    slug: m.slug,
                    name: m.name,
                };
                (m.id, out)
            })
            .collect();
        Ok(TenantList {
            resellers,
            tenant_resellers,
            end_customers,
            audited_at,
        })
    }

    fn resellers(&self) -> Vec<TenantOut> {
        self.resellers
            .iter()
            .map(|r| TenantOut {
                kind: "reseller",
                tenant_id: r.tenant_id.clone(),
                name: r.name.clone().unwrap_or_else(|| r.tenant_id.clone()),
                domain: None,
                reseller_tenant_id: None,
                reseller_mpn_id: None,
                tenant_reseller: None,
                mpn_id: r.mpn_id.clone(),
                end_customers: Some(self.end_customers.get(&r.tenant_id).copied().unwrap_or(0)),
                status: None,
                related_companies: Vec::new(),
                subscriptions: None,
                missing: Vec::new(),
                extra: Vec::new(),
                not_importable: Vec::new(),
                possible_matches: Vec::new(),
            })
            .collect()
    }

    fn customer(&self, a: TenantAudit) -> TenantOut {
        let mpn = a.reseller_tenant_id.as_ref().and_then(|id| {
            self.resellers
                .iter()
                .find(|r| &r.tenant_id == id)
                .and_then(|r| r.mpn_id.clone())
        });
        let tenant_reseller = a.tenant_reseller_id.and_then(|id| {
            self.tenant_resellers.get(&id).map(|t| TenantResellerOut {
                slug: t.slug.clone(),
                name: t.name.clone(),
            })
        });
        TenantOut {
            kind: if tenant_reseller.is_some() {
                "tenant-reseller"
            } else {
                "customer"
            },
            tenant_id: a.tenant_id,
            name: a.name,
            domain: a.domain,
            reseller_tenant_id: a.reseller_tenant_id,
            reseller_mpn_id: mpn,
            tenant_reseller,
            mpn_id: None,
            end_customers: None,
            status: Some(a.status.as_str().to_owned()),
            related_companies: a
                .related
                .into_iter()
                .map(|c| CompanyRefOut {
                    id: c.id,
                    name: c.name,
                })
                .collect(),
            subscriptions: Some(SubscriptionCounts {
                partner_center: a.partner_center_subscriptions,
                marketplace: a.marketplace_subscriptions,
            }),
            missing: a.missing,
            extra: a.extra,
            not_importable: a
                .not_importable
                .into_iter()
                .map(|n| NotImportableOut {
                    subscription_id: n.subscription_id,
                    offer_name: n.offer_name,
                    why: n.why,
                })
                .collect(),
            possible_matches: a
                .possible
                .into_iter()
                .map(|p| PossibleMatchOut {
                    id: p.id,
                    name: p.name,
                    score: p.score,
                    reasons: p.reasons,
                })
                .collect(),
        }
    }
}
