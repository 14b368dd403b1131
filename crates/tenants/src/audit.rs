//! The audit of an instance's snapshot against one marketplace (docs/import-customers.md): for
//! each tenant, the marketplace's companies linked to it — through any instance, created by
//! anyone — are its Related Accounts; it is Synced when its importable subscriptions are
//! exactly the Microsoft subscriptions those companies hold, Out of sync otherwise (saying
//! which differ), Not imported when no company is linked, then with the companies that look
//! like it (`ferry_domain::matching`). An end customer of a reseller whose MPN id a tenant
//! reseller of the marketplace carries is compared with the tenant reseller's companies
//! instead, and shows only which tenant reseller holds it.
//!
//! Tenants are read a page at a time; the marketplace's unlinked companies are read once, by
//! id, and compared only with the tenants they share a key with (`CandidateIndex`).

use std::collections::{BTreeSet, HashMap};

use ferry_domain::matching::{CandidateIndex, Prepared, compare};

use crate::parties::{company_party, tenant_party};
use ferry_domain::{Importability, MarketplaceKind, TenantStatus, importability};
use ferry_storage::{
    AuditGeneration, CandidateCompany, CompanyRef, NotImportable, PossibleMatch, Store, StoreError,
    StoredSubscription, StoredTenant, TenantAudit,
};

/// Tenants read at once.
const TENANT_PAGE: i64 = 1_000;
/// Companies read at once.
const COMPANY_PAGE: i64 = 5_000;
/// Possible matches kept per tenant, best first.
const MATCHES_KEPT: usize = 3;

/// What an audit found, in counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditCounts {
    pub synced: i64,
    pub out_of_sync: i64,
    pub not_imported: i64,
}

/// Audits the instance's current snapshot for every marketplace that uses the instance: its
/// owner, and the owner's country tenants.
pub async fn audit_everywhere(
    store: &dyn Store,
    owner_id: i64,
    instance_id: i64,
) -> Result<(), StoreError> {
    let Some(snapshot) = store.hierarchy_state(instance_id).await?.snapshot else {
        return Ok(());
    };
    let users = store.marketplaces().await?.into_iter().filter(|m| {
        m.id == owner_id
            || (m.parent_id == Some(owner_id) && m.kind == MarketplaceKind::CountryTenant)
    });
    for marketplace in users {
        audit(store, marketplace.id, instance_id, snapshot).await?;
    }
    Ok(())
}

/// Audits the snapshot `snapshot` of instance `instance_id` for the marketplace, and publishes
/// the audit in place of the one before.
///
/// Memory stays flat whatever the number of tenants: the tenants are read a page at a time,
/// twice — first the unlinked ones, to find the companies that might be them, then all of
/// them, each page audited and staged — and of the unlinked ones only hashes are kept.
pub async fn audit(
    store: &dyn Store,
    marketplace_id: i64,
    instance_id: i64,
    snapshot: i64,
) -> Result<AuditCounts, StoreError> {
    let now = ferry_storage::now().millis();
    let holders = TenantResellers::read(store, marketplace_id, snapshot).await?;
    let mut linked: HashMap<i64, Linked> = HashMap::new();
    for marketplace in std::iter::once(marketplace_id).chain(holders.marketplaces()) {
        linked.insert(marketplace, Linked::read(store, marketplace).await?);
    }
    let own = &linked[&marketplace_id];

    // Possible matches, for the tenants of this marketplace no company is linked to: only
    // worth reading the tenants for when some company is linked to no tenant.
    let mut unlinked = Unlinked::default();
    if !store
        .unlinked_companies(marketplace_id, 0, 1)
        .await?
        .is_empty()
    {
        let mut after: Option<String> = None;
        while let Some(tenants) = next_page(store, snapshot, &mut after).await? {
            for tenant in &tenants {
                if holders.of(tenant).is_none() && !own.related.contains_key(&tenant.tenant_id) {
                    unlinked.add(tenant);
                }
            }
        }
    }
    let mut candidates = candidates(store, marketplace_id, unlinked).await?;

    let generation = AuditGeneration::new(marketplace_id, instance_id);
    let mut counts = AuditCounts::default();
    let mut after: Option<String> = None;
    while let Some(tenants) = next_page(store, snapshot, &mut after).await? {
        let ids: Vec<String> = tenants.iter().map(|t| t.tenant_id.clone()).collect();
        let mut subscriptions: HashMap<String, Vec<StoredSubscription>> = HashMap::new();
        for s in store.snapshot_subscriptions(snapshot, &ids).await? {
            subscriptions
                .entry(s.tenant_id.clone())
                .or_default()
                .push(s);
        }
        let audits: Vec<TenantAudit> = tenants
            .into_iter()
            .map(|tenant| {
                let holder = holders.of(&tenant);
                let compared = &linked[&holder.unwrap_or(marketplace_id)];
                let own = subscriptions.remove(&tenant.tenant_id).unwrap_or_default();
                let possible = candidates
                    .remove(tenant.tenant_id.as_str())
                    .map(|c| possible_matches(&tenant, &c))
                    .unwrap_or_default();
                let mut audit = audit_tenant(tenant, &own, compared, now);
                audit.possible = possible;
                if holder.is_some() {
                    // The parent sees which tenant reseller holds the tenant, nothing else of it.
                    audit.tenant_reseller_id = holder;
                    audit.related.clear();
                    audit.extra.clear();
                }
                counts.add(audit.status);
                audit
            })
            .collect();
        store.stage_tenant_audits(&generation, &audits).await?;
    }
    store.publish_tenant_audits(&generation).await?;
    Ok(counts)
}

/// The next page of the snapshot's tenants after `after`, which it moves on; none at the end.
async fn next_page(
    store: &dyn Store,
    snapshot: i64,
    after: &mut Option<String>,
) -> Result<Option<Vec<StoredTenant>>, StoreError> {
    let tenants = store
        .snapshot_tenants(snapshot, after.as_deref(), TENANT_PAGE)
        .await?;
    let Some(last) = tenants.last() else {
        return Ok(None);
    };
    *after = Some(last.tenant_id.clone());
    Ok(Some(tenants))
}

impl AuditCounts {
    fn add(&mut self, status: TenantStatus) {
        match status {
            TenantStatus::Synced => self.synced += 1,
            TenantStatus::OutOfSync => self.out_of_sync += 1,
            TenantStatus::NotImported => self.not_imported += 1,
        }
    }
}

/// The companies of one marketplace linked to tenants, by tenant id, and the Microsoft
/// subscriptions they hold.
#[derive(Default)]
struct Linked {
    related: HashMap<String, Vec<CompanyRef>>,
    held: HashMap<String, Vec<Option<String>>>,
}

impl Linked {
    async fn read(store: &dyn Store, marketplace_id: i64) -> Result<Self, StoreError> {
        let mut linked = Linked::default();
        for company in store.linked_companies(marketplace_id).await? {
            linked
                .related
                .entry(company.tenant_id.clone())
                .or_default()
                .push(CompanyRef {
                    id: company.company_id,
                    name: company.name,
                });
            linked
                .held
                .entry(company.tenant_id)
                .or_default()
                .extend(company.subscriptions);
        }
        Ok(linked)
    }
}

/// The marketplace's tenant resellers, by the tenant id of the snapshot's reseller whose MPN
/// id they carry.
struct TenantResellers(HashMap<String, i64>);

impl TenantResellers {
    async fn read(
        store: &dyn Store,
        marketplace_id: i64,
        snapshot: i64,
    ) -> Result<Self, StoreError> {
        let by_mpn: HashMap<String, i64> = store
            .marketplaces()
            .await?
            .into_iter()
            .filter(|m| {
                m.parent_id == Some(marketplace_id) && m.kind == MarketplaceKind::SimpleTenant
            })
            .filter_map(|m| Some((m.reseller_mpn_id?, m.id)))
            .collect();
        let mut holders = HashMap::new();
        if !by_mpn.is_empty() {
            for reseller in store.snapshot_resellers(snapshot).await? {
                if let Some(&holder) = reseller.mpn_id.as_ref().and_then(|m| by_mpn.get(m)) {
                    holders.insert(reseller.tenant_id, holder);
                }
            }
        }
        Ok(TenantResellers(holders))
    }

    /// The tenant reseller holding the tenant: the one with its indirect reseller's MPN id.
    fn of(&self, tenant: &StoredTenant) -> Option<i64> {
        self.0.get(tenant.reseller_tenant_id.as_deref()?).copied()
    }

    fn marketplaces(&self) -> BTreeSet<i64> {
        self.0.values().copied().collect()
    }
}

/// One tenant's audit against the companies `linked` of the marketplace it belongs to, without
/// possible matches.
fn audit_tenant(
    tenant: StoredTenant,
    own: &[StoredSubscription],
    linked: &Linked,
    now: i64,
) -> TenantAudit {
    let mut importable = BTreeSet::new();
    let mut not_importable = Vec::new();
    for s in own {
        let sub = &s.subscription;
        match importability(sub.status.as_deref(), sub.product_type.as_deref()) {
            Importability::Importable => {
                importable.insert(sub.subscription_id.clone());
            }
            Importability::AzurePlan => not_importable.push(NotImportable {
                subscription_id: sub.subscription_id.clone(),
                offer_name: sub.offer_name.clone(),
                why: "azure-plan".into(),
            }),
            Importability::Ended => not_importable.push(NotImportable {
                subscription_id: sub.subscription_id.clone(),
                offer_name: sub.offer_name.clone(),
                why: format!("ended ({})", sub.status.as_deref().unwrap_or("no status")),
            }),
        }
    }
    let companies = linked
        .related
        .get(&tenant.tenant_id)
        .cloned()
        .unwrap_or_default();
    let in_marketplace: &[Option<String>] = linked
        .held
        .get(&tenant.tenant_id)
        .map_or(&[], Vec::as_slice);
    let known: BTreeSet<&str> = in_marketplace
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let missing: Vec<String> = importable
        .iter()
        .filter(|id| !known.contains(id.as_str()))
        .cloned()
        .collect();
    let extra: Vec<String> = in_marketplace
        .iter()
        .filter_map(|id| match id {
            Some(id) if importable.contains(id) => None,
            Some(id) => Some(id.clone()),
            None => Some("a subscription with no Microsoft id".to_owned()),
        })
        .collect();
    let status = TenantStatus::of(companies.len(), missing.len(), extra.len());
    // Without a Related Account everything is missing: nothing worth keeping says so.
    let missing = if status == TenantStatus::NotImported {
        Vec::new()
    } else {
        missing
    };
    TenantAudit {
        tenant_id: tenant.tenant_id,
        name: tenant.name,
        domain: tenant.domain,
        reseller_tenant_id: tenant.reseller_tenant_id,
        tenant_reseller_id: None,
        status,
        partner_center_subscriptions: i64::try_from(importable.len()).unwrap_or(0),
        marketplace_subscriptions: i64::try_from(in_marketplace.len()).unwrap_or(0),
        related: companies,
        missing,
        extra,
        not_importable,
        possible: Vec::new(),
        audited_at: now,
    }
}

/// The tenants no company is linked to, as matching looks them up (hashes only, a few bytes
/// a tenant, however many there are).
#[derive(Default)]
struct Unlinked {
    ids: Vec<Box<str>>,
    index: CandidateIndex,
}

impl Unlinked {
    fn add(&mut self, tenant: &StoredTenant) {
        self.index.add(&Prepared::new(tenant_party(tenant)));
        self.ids.push(tenant.tenant_id.as_str().into());
    }
}

/// Reads the unlinked companies once and answers, by tenant id, the companies that share a
/// key with an unlinked tenant: the candidates scoring then weighs.
async fn candidates(
    store: &dyn Store,
    marketplace_id: i64,
    unlinked: Unlinked,
) -> Result<HashMap<Box<str>, Vec<CandidateCompany>>, StoreError> {
    let mut found: HashMap<u32, Vec<CandidateCompany>> = HashMap::new();
    if unlinked.ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut after = 0;
    loop {
        let companies = store
            .unlinked_companies(marketplace_id, after, COMPANY_PAGE)
            .await?;
        let Some(last) = companies.last() else { break };
        after = last.id;
        for company in companies {
            let hits = unlinked
                .index
                .candidates(&Prepared::new(company_party(&company)));
            for n in hits {
                found.entry(n).or_default().push(company.clone());
            }
        }
    }
    Ok(found
        .into_iter()
        .map(|(n, companies)| (unlinked.ids[n as usize].clone(), companies))
        .collect())
}

/// The candidates that look like the tenant enough to suggest, best first.
fn possible_matches(tenant: &StoredTenant, candidates: &[CandidateCompany]) -> Vec<PossibleMatch> {
    let party = Prepared::new(tenant_party(tenant));
    let mut possible: Vec<PossibleMatch> = candidates
        .iter()
        .filter_map(|company| {
            let like = compare(&party, &Prepared::new(company_party(company)));
            like.suggested().then(|| PossibleMatch {
                id: company.id,
                name: company.name.clone(),
                score: like.score,
                reasons: like.reasons.iter().map(ToString::to_string).collect(),
            })
        })
        .collect();
    possible.sort_by(|a, b| b.score.cmp(&a.score).then(a.id.cmp(&b.id)));
    possible.truncate(MATCHES_KEPT);
    possible
}
