//! Import Customers (docs/import-customers.md): the tenants an operator selects — or every
//! tenant not imported — brought into the marketplace from the instance's snapshot by a
//! background job, without asking Partner Center again.
//!
//! Each tenant's plan is decided here from the snapshot: the company and contact of the
//! mapping the docs give, the bill-to person as admin user, the tenant link, the reseller, and for each
//! subscription its edition (`ferry_domain::match_offer`) and billing start
//! (`ferry_domain::billing_start`) — or why it is not imported. The store writes a batch of
//! plans in one transaction; tenants still pending are where a stopped run carries on.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use ferry_accounts::{InviteError, invite_user};
use ferry_domain::{
    Address, BillingCycle, Contact, ContactKind, CountryCode, Email, Importability, NewCompany,
    NewUser, OfferId, OfferMatch, Origin, Progress, SubscriptionStatus, TenantLink, billing_start,
    importability, match_offer,
};
use ferry_jobs::{BackgroundJob, JobContext, JobError};
use ferry_storage::{
    Decision, ImportRun, ImportState, ImportTab, ImportTenant, ImportedSubscription, NewImport,
    ResellerPlan, Selection, SnapshotReseller, Store, StoreError, StoredSubscription, StoredTenant,
    SubscriptionPlan, TenantOutcome, TenantPlan,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::Date;

use crate::Visible;

/// Tenants planned and written together, in one transaction.
const BATCH: i64 = 200;

/// Why a run cannot start, or start again.
#[derive(Debug, thiserror::Error)]
pub enum ImportRefused {
    #[error("Nothing was retrieved from this instance yet: run Get Hierarchy first.")]
    NoSnapshot,
    #[error("The tenant list has no tenant {}: run Get Hierarchy again, or check the ids.", .0.join(", "))]
    Unknown(Vec<String>),
    #[error("Every selected tenant is already in an import that has not finished.")]
    AllHeld,
    #[error("No tenant is waiting to be imported.")]
    NothingToImport,
    #[error("The import is still running; retry it when it has ended.")]
    Running,
    #[error("Nothing failed in this import: there is nothing to retry.")]
    NothingFailed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A run as it started: the tenants it takes, and those another run holds, left out.
#[derive(Debug, Clone)]
pub struct Started {
    pub run: ImportRun,
    pub taken: i64,
    pub held: i64,
}

/// Starts a run of `selection` from the instance's current snapshot, for `marketplace_id`,
/// and queues its job.
pub async fn start_import(
    store: &dyn Store,
    marketplace_id: i64,
    instance: &Visible,
    selection: &Selection,
    actor: &str,
    responsible_user_id: Option<i64>,
    invite_admins: bool,
) -> Result<Started, ImportRefused> {
    let instance_id = instance.record.summary.id;
    let snapshot = store
        .hierarchy_state(instance_id)
        .await?
        .snapshot
        .ok_or(ImportRefused::NoSnapshot)?;
    let start = store
        .start_import(&NewImport {
            marketplace_id,
            instance_id,
            snapshot,
            selection,
            started_by: actor,
            responsible_user_id,
            invite_admins,
        })
        .await?;
    let Some(mut run) = start.run else {
        return Err(if !start.unknown.is_empty() {
            ImportRefused::Unknown(start.unknown)
        } else if start.held > 0 {
            ImportRefused::AllHeld
        } else {
            ImportRefused::NothingToImport
        });
    };
    run.job_id = Some(queue(store, &run).await?);
    Ok(Started {
        run,
        taken: start.taken,
        held: start.held,
    })
}

/// Imports again the subscriptions of an ended run that failed; answers the run as it starts
/// again and how many tenants it takes up.
pub async fn retry(store: &dyn Store, run: &ImportRun) -> Result<(ImportRun, i64), ImportRefused> {
    if run.state == ImportState::Running {
        return Err(ImportRefused::Running);
    }
    let tenants = store.retry_import(run.id).await?;
    if tenants == 0 {
        return Err(ImportRefused::NothingFailed);
    }
    let mut run = run.clone();
    run.state = ImportState::Running;
    run.job_id = Some(queue(store, &run).await?);
    Ok((run, tenants))
}

/// Queues the run's job and records it on the run.
async fn queue(store: &dyn Store, run: &ImportRun) -> Result<i64, StoreError> {
    let job = ImportTenants {
        run_id: run.id,
        marketplace_id: run.marketplace_id,
    };
    let job_id = store.enqueue_job(&job.new_job()).await?;
    store.set_import_job(run.id, job_id).await?;
    Ok(job_id)
}

/// The job of one import run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportTenants {
    pub run_id: i64,
    pub marketplace_id: i64,
}

#[async_trait]
impl BackgroundJob for ImportTenants {
    const KIND: &'static str = "import.tenants";
    type Checkpoint = ();
    /// The public URL invitation links start with.
    type Env = String;

    fn marketplace_id(&self) -> Option<i64> {
        Some(self.marketplace_id)
    }

    async fn run(&self, public_url: &String, ctx: &JobContext<()>) -> Result<(), JobError> {
        let store = ctx.store();
        let Some(run) = store.import_run(self.marketplace_id, self.run_id).await? else {
            return Ok(());
        };
        if run.state != ImportState::Running {
            return Ok(());
        }
        // The instance's current snapshot: a newer retrieval may have replaced the run's.
        let Some(snapshot) = store.hierarchy_state(run.instance_id).await?.snapshot else {
            let why = "the instance's tenant list is gone";
            return Ok(store
                .finish_import(run.id, ImportState::Failed, Some(why))
                .await?);
        };
        let resellers: HashMap<String, SnapshotReseller> = store
            .snapshot_resellers(snapshot)
            .await?
            .into_iter()
            .map(|r| (r.tenant_id.clone(), r))
            .collect();
        let counts = store.import_counts(run.id).await?;
        let total: i64 = counts.iter().map(|c| c.tenants).sum();
        // Where a run that stopped carries on from.
        let mut done: i64 = counts
            .iter()
            .filter(|c| c.status != TenantOutcome::Pending)
            .map(|c| c.tenants)
            .sum();
        let mut planner = Planner {
            store: &**store,
            run: &run,
            snapshot,
            resellers,
            mappings: HashMap::new(),
            today: ferry_storage::now().date(),
        };
        store.analyze_import_tables().await?;
        let mut batches: u32 = 0;
        let mut next = planner.next_batch("").await?;
        while let Some(batch) = next {
            // The next batch is read and planned while this one is written.
            let (applied, following) = futures_util::future::join(
                store.apply_import(&run, &batch.plans),
                planner.next_batch(&batch.last_tenant_id),
            )
            .await;
            applied?;
            next = following?;
            if run.invite_admins {
                let tenants: Vec<String> =
                    batch.plans.iter().map(|p| p.tenant_id.clone()).collect();
                invite_admins(&**store, public_url, &run, &tenants).await?;
            }
            // The tables grow fast in a first import: their figures are refreshed as they
            // grow fourfold.
            batches += 1;
            if batches.is_power_of_two() && batches.trailing_zeros().is_multiple_of(2) {
                store.analyze_import_tables().await?;
            }
            if !batch.gone.is_empty() {
                let why = "Not imported: the tenant is no longer in Partner Center's list.";
                store.fail_import_tenants(run.id, &batch.gone, why).await?;
            }
            done += batch.tenants;
            let progress = Progress {
                done,
                total: Some(total),
                message: Some(format!("{done} of {total} tenants imported")),
            };
            ctx.checkpoint(&(), progress, None).await?;
        }
        Ok(store
            .finish_import(run.id, ImportState::Completed, None)
            .await?)
    }
}

/// Invites the admin users of the companies the run created for these tenants, once each
/// whatever the attempts (the e-mail is keyed by run and user).
async fn invite_admins(
    store: &dyn Store,
    public_url: &str,
    run: &ImportRun,
    tenant_ids: &[String],
) -> Result<(), JobError> {
    let admins = store.created_admins(run.id, tenant_ids).await?;
    if admins.is_empty() {
        return Ok(());
    }
    let Some(marketplace) = store.marketplace(run.marketplace_id).await? else {
        return Ok(());
    };
    for user_id in admins {
        let Some(user) = store.user(run.marketplace_id, user_id).await? else {
            continue;
        };
        let key = format!("import-admin:{}:{user_id}", run.id);
        match invite_user(store, public_url, &marketplace, &user, Some(key)).await {
            Ok(()) => {}
            Err(InviteError::Store(error)) => return Err(error.into()),
            // A user who may not sign in, or was suspended meanwhile, is not invited.
            Err(other) => tracing::info!(user = user_id, %other, "admin not invited"),
        }
    }
    Ok(())
}

/// Reads a run's pending tenants a batch at a time and plans them from the snapshot.
struct Planner<'a> {
    store: &'a dyn Store,
    run: &'a ImportRun,
    snapshot: i64,
    resellers: HashMap<String, SnapshotReseller>,
    /// Each target marketplace's offer mappings, read once.
    mappings: HashMap<i64, Vec<(OfferId, i64)>>,
    today: Date,
}

/// A batch of a run's tenants, planned.
struct Batch {
    plans: Vec<TenantPlan>,
    /// Tenants the snapshot no longer has.
    gone: Vec<String>,
    tenants: i64,
    last_tenant_id: String,
}

impl Planner<'_> {
    /// The run's next pending tenants after `after`, planned; none when no tenant is left.
    async fn next_batch(&mut self, after: &str) -> Result<Option<Batch>, StoreError> {
        let store = self.store;
        let batch = store
            .pending_import_tenants(self.run.id, after, BATCH)
            .await?;
        let Some(last) = batch.last() else {
            return Ok(None);
        };
        let ids: Vec<String> = batch.iter().map(|t| t.tenant_id.clone()).collect();
        let mut stored: HashMap<String, StoredTenant> = store
            .snapshot_tenants_of(self.snapshot, &ids)
            .await?
            .into_iter()
            .map(|t| (t.tenant_id.clone(), t))
            .collect();
        let mut subscriptions: HashMap<String, Vec<StoredSubscription>> = HashMap::new();
        for s in store.snapshot_subscriptions(self.snapshot, &ids).await? {
            subscriptions
                .entry(s.tenant_id.clone())
                .or_default()
                .push(s);
        }
        let mut plans = Vec::new();
        let mut gone = Vec::new();
        for tenant in &batch {
            let Some(found) = stored.remove(&tenant.tenant_id) else {
                gone.push(tenant.tenant_id.clone());
                continue;
            };
            let target = tenant.target_marketplace_id;
            if let std::collections::hash_map::Entry::Vacant(entry) = self.mappings.entry(target) {
                entry.insert(store.offer_mappings(target).await?);
            }
            let own = subscriptions.remove(&tenant.tenant_id).unwrap_or_default();
            plans.push(plan(&Context {
                run: self.run,
                tenant,
                stored: &found,
                subscriptions: &own,
                resellers: &self.resellers,
                mappings: &self.mappings[&target],
                today: self.today,
            }));
        }
        Ok(Some(Batch {
            plans,
            gone,
            tenants: i64::try_from(batch.len()).unwrap_or(0),
            last_tenant_id: last.tenant_id.clone(),
        }))
    }
}

/// What one tenant's plan is decided from.
struct Context<'a> {
    run: &'a ImportRun,
    tenant: &'a ImportTenant,
    stored: &'a StoredTenant,
    subscriptions: &'a [StoredSubscription],
    resellers: &'a HashMap<String, SnapshotReseller>,
    mappings: &'a [(OfferId, i64)],
    today: Date,
}

/// A text field of the stored billing profile, trimmed, when there is one.
fn field(billing: &Value, key: &str) -> Option<String> {
    billing[key]
        .as_str()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The tenant's plan: the company, contact and admin user of the mapping, its link and
/// reseller, and what becomes of each subscription.
fn plan(cx: &Context<'_>) -> TenantPlan {
    let origin = Origin::Import(cx.run.id);
    let stored = cx.stored;
    let mut notes = Vec::new();
    let billing = stored.billing.clone().unwrap_or(Value::Null);
    if stored.billing.is_none() {
        notes.push(
            "No billing profile (Partner Center gives none without delegated access): the \
             company has no e-mail, phone or address, no contact and no admin user."
                .to_owned(),
        );
    }
    let email = field(&billing, "email").and_then(|e| match Email::parse(&e) {
        Ok(email) => Some(email),
        Err(_) => {
            notes.push(format!(
                "The bill-to e-mail '{e}' is not an e-mail address: left out."
            ));
            None
        }
    });
    let country = field(&billing, "country").and_then(|c| CountryCode::parse(&c).ok());
    let phone = field(&billing, "phone");
    let billing_address = Address {
        street1: field(&billing, "address_line1"),
        street2: field(&billing, "address_line2"),
        city: field(&billing, "city"),
        state: field(&billing, "state"),
        zip: field(&billing, "postal_code"),
        country,
    };
    let company = NewCompany {
        email: email.clone(),
        phone: phone.clone(),
        address: Address {
            country,
            ..Address::default()
        },
        billing_address: stored.billing.is_some().then_some(billing_address),
        ..NewCompany::named(stored.name.clone(), origin.clone())
    };
    let (first_name, last_name) = (field(&billing, "first_name"), field(&billing, "last_name"));
    let contact = stored.billing.is_some().then(|| Contact {
        kind: ContactKind::Primary,
        first_name: first_name.clone(),
        last_name: last_name.clone(),
        email: email.clone(),
        phone: phone.clone(),
    });
    let admin = email.map(|email| NewUser {
        first_name,
        last_name,
        phone,
        locale: field(&billing, "culture"),
        ..NewUser::with_email(email, origin)
    });
    let reseller = stored
        .reseller_tenant_id
        .as_ref()
        .and_then(|id| cx.resellers.get(id));
    let reseller_mpn_id = reseller.and_then(|r| r.mpn_id.clone());
    TenantPlan {
        tenant_id: stored.tenant_id.clone(),
        target_marketplace_id: cx.tenant.target_marketplace_id,
        company,
        contact,
        admin,
        link: TenantLink {
            instance_id: cx.run.instance_id,
            tenant_id: stored.tenant_id.clone(),
            domain_prefix: stored.domain.clone(),
            reseller_mpn_id: reseller_mpn_id.clone(),
        },
        // A tenant reseller's end customers go into its own marketplace: it is the reseller.
        reseller: match (cx.tenant.tab, reseller, reseller_mpn_id) {
            (ImportTab::Indirect, Some(r), Some(mpn_id)) => Some(ResellerPlan {
                name: r
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("Reseller {mpn_id}")),
                mpn_id,
            }),
            _ => None,
        },
        notes,
        subscriptions: cx
            .subscriptions
            .iter()
            .map(|s| subscription_plan(s, cx.mappings, cx.today))
            .collect(),
    }
}

/// What becomes of one Partner Center subscription.
fn subscription_plan(
    stored: &StoredSubscription,
    mappings: &[(OfferId, i64)],
    today: Date,
) -> SubscriptionPlan {
    let s = &stored.subscription;
    let offer = s.offer_id.as_deref().unwrap_or_default();
    let named = || match &s.offer_name {
        Some(name) => format!("{offer} ({name})"),
        None => offer.to_owned(),
    };
    let decision = match importability(s.status.as_deref(), s.product_type.as_deref()) {
        Importability::AzurePlan => Decision::Skip {
            code: "AZURE_PLAN_REQUIRES_AZURE_MIGRATION",
            reason: "An Azure plan is brought in by the Azure migration, not here.".into(),
        },
        Importability::Ended => Decision::Skip {
            code: "NOT_ACTIVE",
            reason: format!(
                "Not active in Partner Center ({}).",
                s.status.as_deref().unwrap_or("no status")
            ),
        },
        Importability::Importable => match OfferId::parse(offer).map(|o| match_offer(&o, mappings))
        {
            Ok(OfferMatch::Edition(edition_id)) => Decision::Import(imported(s, edition_id, today)),
            Ok(OfferMatch::Ambiguous(editions)) => Decision::Fail {
                code: "OFFER_AMBIGUOUS",
                reason: format!(
                    "Editions {} could each be the offer {}: map it to one.",
                    editions
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    named()
                ),
            },
            Ok(OfferMatch::NotMapped) | Err(_) => Decision::Fail {
                code: "OFFER_NOT_MAPPED",
                reason: format!("No active edition is mapped to the offer {}.", named()),
            },
        },
    };
    SubscriptionPlan {
        subscription_id: s.subscription_id.clone(),
        offer_id: s.offer_id.clone(),
        offer_name: s.offer_name.clone(),
        decision,
    }
}

/// An importable subscription as the marketplace keeps it.
fn imported(
    s: &ferry_storage::SnapshotSubscription,
    edition_id: i64,
    today: Date,
) -> ImportedSubscription {
    let start = s.start_date.as_deref().and_then(date_of);
    let period_end = s.billing_cycle_end_date.as_deref().and_then(date_of);
    let cycle = BillingCycle::parse(s.billing_cycle.as_deref().unwrap_or_default());
    let mut custom_attributes = BTreeMap::new();
    if let Some(parent) = &s.parent_subscription_id {
        custom_attributes.insert("parent_subscription_id".to_owned(), parent.to_lowercase());
    }
    if let Some(until) = s.cancellation_allowed_until.as_deref().and_then(date_of) {
        custom_attributes.insert("cancellation_allowed_until".to_owned(), until.to_string());
    }
    ImportedSubscription {
        edition_id,
        units: s.quantity.unwrap_or(1).max(0),
        start_date: start,
        billing_start_date: start.map(|start| billing_start(start, cycle, period_end, today)),
        // Usage-based and non-renewing subscriptions end "in 9999": no end.
        end_date: s
            .end_date
            .as_deref()
            .and_then(date_of)
            .filter(|d| d.year() < 9000),
        billing_cycle: s.billing_cycle.clone(),
        term: s.term.clone(),
        auto_renew: s.auto_renew.unwrap_or(false),
        status: match s.status.as_deref() {
            Some("suspended") => SubscriptionStatus::Suspended,
            Some("pending") => SubscriptionStatus::Pending,
            _ => SubscriptionStatus::Active,
        },
        custom_attributes,
    }
}

/// The day of a Partner Center date-time (`2024-03-10T00:00:00Z`).
fn date_of(text: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text.get(..10)?, format).ok()
}
