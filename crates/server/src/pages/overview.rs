//! A marketplace's Overview: what Ferry can do here and where to start, its records at a
//! glance, the recent datasets and jobs, and the state of each Partner Center instance.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use ferry_domain::{InstanceAuth, Permission, Role};
use ferry_tenants::instances;

use super::{NoticeQuery, page};
use crate::AppState;
use crate::error::PageError;
use crate::web::{Chrome, Scope, when};

struct Stat {
    label: &'static str,
    value: String,
    href: String,
}

/// A first step, done or still to do.
struct Step {
    label: &'static str,
    hint: &'static str,
    href: String,
    done: bool,
}

struct Recent {
    label: String,
    state: String,
    when: String,
    href: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    name: String,
    stats: Vec<Stat>,
    steps: Vec<Step>,
    datasets: Vec<Recent>,
    jobs: Vec<Recent>,
    instances: Vec<Recent>,
}

pub async fn overview(
    State(state): State<AppState>,
    scope: Scope,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let base = scope.base();
    let allows = |p| scope.principal.allows(p);
    let (m, store) = (scope.id(), &state.store);
    let mut stats = Vec::new();
    let mut steps = Vec::new();
    let (mut datasets, mut jobs, mut instances_view) = (Vec::new(), Vec::new(), Vec::new());

    if allows(Permission::ManagePartnerCenter) {
        let visible = instances::visible(store.as_ref(), &scope.marketplace).await?;
        steps.push(Step {
            label: "Connect Partner Center",
            hint: "an instance per Partner Center account, checked as you save it",
            href: format!("{base}/settings/partner-center"),
            done: !visible.is_empty(),
        });
        let mut retrieved = false;
        for v in &visible {
            retrieved |= store
                .hierarchy_state(v.record.summary.id)
                .await?
                .snapshot
                .is_some();
        }
        steps.push(Step {
            label: "Get Hierarchy",
            hint: "read every tenant of an instance, and see which are already in the marketplace",
            href: format!("{base}/import-customers"),
            done: retrieved,
        });
        instances_view = visible
            .into_iter()
            .map(|v| Recent {
                label: v.record.summary.name,
                state: match v.record.summary.auth_state {
                    InstanceAuth::Authenticated => "authenticated",
                    InstanceAuth::Expired => "expired: a partner user must consent again",
                    InstanceAuth::Failing => "failing: see why on the Partner Center page",
                    InstanceAuth::Unchecked => "not checked yet",
                }
                .to_owned(),
                when: v
                    .record
                    .summary
                    .checked_at
                    .map_or(String::new(), |at| when(ferry_domain::Timestamp(at))),
                href: format!("{base}/settings/partner-center"),
            })
            .collect();
    }
    let reseller = scope.principal.account.roles == [Role::Reseller];
    if allows(Permission::ManageDatasets) && !reseller {
        let all = store.datasets(m, None).await?;
        steps.push(Step {
            label: "Bring existing customers in",
            hint: "upload a dataset: companies, users, subscriptions, checked before anything is written",
            href: format!("{base}/datasets"),
            done: !all.is_empty(),
        });
        datasets = all
            .into_iter()
            .take(5)
            .map(|d| Recent {
                label: d.name,
                state: d.state.label().to_owned(),
                when: when(d.created_at),
                href: format!("{base}/datasets/{}", d.id),
            })
            .collect();
    }
    if allows(Permission::WriteUsers) {
        steps.push(Step {
            label: "Invite people",
            hint: "users get no e-mail until invited",
            href: format!("{base}/users"),
            done: store.count_users(m).await? > 1,
        });
    }
    if allows(Permission::ReadJobs) {
        jobs = store
            .jobs(Some(m), 5)
            .await?
            .into_iter()
            .map(|j| Recent {
                label: format!("{} #{}", j.kind, j.id),
                state: j.state.as_str().to_owned(),
                when: when(j.created_at),
                href: format!("{base}/jobs"),
            })
            .collect();
    }
    if allows(Permission::ReadCompanies) {
        stats.push(Stat {
            label: "Companies",
            value: store.count_companies(m).await?.to_string(),
            href: format!("{base}/companies"),
        });
    }
    if scope.may_manage_pending() {
        stats.push(Stat {
            label: "Tenants waiting in Pending Companies",
            value: store.count_pending(m).await?.to_string(),
            href: format!("{base}/pending-companies"),
        });
    }
    if allows(Permission::ReadUsers) {
        stats.push(Stat {
            label: "Users",
            value: store.count_users(m).await?.to_string(),
            href: format!("{base}/users"),
        });
    }
    if allows(Permission::ReadCatalog) {
        let products = store.products(m).await?;
        let editions: usize = products.iter().map(|p| p.editions.len()).sum();
        stats.push(Stat {
            label: "Catalog editions",
            value: editions.to_string(),
            href: format!("{base}/catalog"),
        });
    }
    page(&DashboardPage {
        chrome: scope.chrome("Overview").notice(query.notice.as_deref()),
        name: scope.marketplace.name.clone(),
        stats,
        steps,
        datasets,
        jobs,
        instances: instances_view,
    })
}
