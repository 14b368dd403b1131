//! Import Customers against the Partner Center emulator's world, on both backends: every
//! tenant becomes one company in the right marketplace with its subscriptions, or says why
//! not; importing again writes nothing; two runs never take one tenant; a run whose worker dies
//! is finished by another with nothing lost or doubled; a company linked before only gains
//! the subscriptions it lacks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_domain::{
    Connector, Email, Importability, MarketplaceKind, NewEdition, NewProduct, NewUser, OfferId,
    Origin, PricingUnit, Slug, TenantStatus, importability,
};
use ferry_emulators::partner_center::Options;
use ferry_storage::{
    ImportState, ImportTab, NewMarketplace, RunState, Selection, Store, TenantAuditQuery,
    TenantOutcome,
};
use ferry_tenants::{Scope, Started, start_import};

mod support;

use support::{Setup, open, setup};

ferry_storage::on_both_backends!(open =>
    an_import_brings_each_tenant_in_once,
    two_runs_never_take_one_tenant,
    a_stopped_run_is_finished_by_another_worker,
    an_existing_company_only_gains_what_it_lacks,
);

/// The offer left unmapped on purpose: its subscriptions fail with `OFFER_NOT_MAPPED`.
const UNMAPPED: &str = "CFQ7TTC0LH16:0001:CFQ7TTC0K8W3";

/// The emulator's offers mapped to editions — Business Basic by its `PRODUCT:SKU` — except
/// `UNMAPPED`.
async fn catalog(store: &Arc<dyn Store>, marketplace_id: i64) {
    let product = store
        .create_product(
            marketplace_id,
            &NewProduct {
                name: "Microsoft".into(),
                vendor: "Microsoft".into(),
            },
        )
        .await
        .expect("product");
    let offers = [
        "CFQ7TTC0LH18:0001",
        "CFQ7TTC0LDPB:0001:CFQ7TTC0K8P5",
        "CFQ7TTC0LCHC:0002:CFQ7TTC0KDN3",
        "CFQ7TTC0LF8Q:0001:CFQ7TTC0K5BZ",
        "91FD106F-4B2C-4938-95AC-F54F74E9A239",
        "031C9E47-4802-4248-838E-778FB1D2CC05",
        "195416C1-3447-423A-B37B-EE59A99A19C4",
        "3A5D4E1C-0B7F-4D2E-9C8A-6F1E2D3C4B5A",
        "MS-AZR-0145P",
    ];
    for (n, offer) in offers.into_iter().enumerate() {
        store
            .create_edition(
                marketplace_id,
                &NewEdition {
                    product_id: product,
                    code: format!("E{n}"),
                    name: format!("Edition {n}"),
                    pricing_plan_id: format!("plan-{n}"),
                    channel_sku: None,
                    pricing_unit: PricingUnit::User,
                    included_units: 0,
                    billing_cycles: Vec::new(),
                    terms: Vec::new(),
                    connector: Connector::Microsoft,
                    offer_ids: vec![OfferId::parse(offer).expect("offer id")],
                    active: true,
                },
            )
            .await
            .expect("edition");
    }
}

/// A retrieved world: the distributor and its tenant reseller (the first reseller's MPN id),
/// each with the catalog.
async fn retrieved(store: Arc<dyn Store>, customers: usize) -> (Setup, i64) {
    let setup = setup(
        store,
        Options {
            seed: 12,
            customers,
            resellers: 3,
            ..Options::default()
        },
    )
    .await;
    let store = &setup.store;
    let storefront = store
        .create_marketplace(&NewMarketplace {
            slug: Slug::parse("storefront").expect("slug"),
            name: "Storefront".into(),
            kind: MarketplaceKind::SimpleTenant,
            parent_id: Some(setup.marketplace_id),
        })
        .await
        .expect("simple tenant");
    catalog(store, setup.marketplace_id).await;
    catalog(store, storefront.id).await;
    let first = setup.start(Scope::Mass).await;
    assert_eq!(setup.finish(&first).await.state, RunState::Completed);
    // The reseller of the first end customer.
    let tenants = store
        .snapshot_tenants(first.snapshot, None, 10_000)
        .await
        .expect("tenants");
    let serving = tenants
        .iter()
        .find_map(|t| t.reseller_tenant_id.clone())
        .expect("an end customer");
    let mpn = store
        .snapshot_resellers(first.snapshot)
        .await
        .expect("resellers")
        .into_iter()
        .find(|r| r.tenant_id == serving)
        .and_then(|r| r.mpn_id)
        .expect("its MPN id");
    store
        .set_reseller_mpn_id(setup.marketplace_id, storefront.id, Some(&mpn))
        .await
        .expect("tenant reseller");
    // Audited again now that the storefront holds the reseller's customers.
    let again = setup.start(Scope::Mass).await;
    assert_eq!(setup.finish(&again).await.state, RunState::Completed);
    (setup, storefront.id)
}

async fn import(setup: &Setup, selection: &Selection) -> Started {
    start_import(
        &*setup.store,
        setup.marketplace_id,
        &setup.instance,
        selection,
        "user:1",
        None,
        false,
    )
    .await
    .expect("start")
}

/// Runs queued jobs until none is left.
async fn drain(setup: &Setup) {
    let worker = setup.worker(Duration::from_secs(30));
    while worker.run_next().await.expect("run") {}
}

/// Every tenant of the audit, by id: its tab and the marketplace it goes into.
async fn audited(setup: &Setup) -> BTreeMap<String, (ImportTab, i64)> {
    let all = TenantAuditQuery {
        limit: 10_000,
        ..TenantAuditQuery::default()
    };
    setup
        .store
        .tenant_audits(setup.marketplace_id, setup.instance.record.summary.id, &all)
        .await
        .expect("audit")
        .into_iter()
        .map(|a| {
            let tab = match (a.tenant_reseller_id, &a.reseller_tenant_id) {
                (Some(_), _) => ImportTab::TenantReseller,
                (None, Some(_)) => ImportTab::Indirect,
                (None, None) => ImportTab::Direct,
            };
            let target = a.tenant_reseller_id.unwrap_or(setup.marketplace_id);
            (a.tenant_id, (tab, target))
        })
        .collect()
}

/// What the marketplaces hold of the import: each linked tenant's companies, and the
/// Microsoft subscriptions each company holds.
async fn held(setup: &Setup, marketplaces: &[i64]) -> BTreeMap<String, Vec<(i64, String, usize)>> {
    let mut held: BTreeMap<String, Vec<(i64, String, usize)>> = BTreeMap::new();
    for &m in marketplaces {
        for linked in setup.store.linked_companies(m).await.expect("linked") {
            held.entry(linked.tenant_id).or_default().push((
                m,
                linked.name,
                linked.subscriptions.len(),
            ));
        }
    }
    held
}

async fn an_import_brings_each_tenant_in_once(store: Arc<dyn Store>) {
    let (setup, storefront) = retrieved(store, 40).await;
    let store = setup.store.clone();
    let tenants = audited(&setup).await;
    // The operator who starts it looks after the companies of this marketplace it creates.
    let operator = store
        .create_user(
            setup.marketplace_id,
            &NewUser::with_email(
                Email::parse("operator@distributor.example").expect("email"),
                Origin::Manual,
            ),
        )
        .await
        .expect("operator");
    let start = start_import(
        &*setup.store,
        setup.marketplace_id,
        &setup.instance,
        &Selection::NotImported,
        "user:1",
        Some(operator),
        false,
    )
    .await
    .expect("start");
    assert_eq!(start.taken, 40);
    drain(&setup).await;
    let run = store
        .import_run(setup.marketplace_id, start.run.id)
        .await
        .expect("read")
        .expect("run");
    let job = store
        .job(run.job_id.expect("job"))
        .await
        .expect("job")
        .expect("job");
    assert_eq!(
        run.state,
        ImportState::Completed,
        "{:?} {:?}",
        run.error,
        job.last_error
    );

    // Each tenant is in its tab, with one company in the marketplace it belongs to.
    let counts = store.import_counts(run.id).await.expect("counts");
    for tab in ImportTab::ALL {
        let expected = tenants.values().filter(|(t, _)| *t == tab).count();
        let counted: i64 = counts
            .iter()
            .filter(|c| c.tab == tab)
            .map(|c| c.tenants)
            .sum();
        assert_eq!(counted, i64::try_from(expected).unwrap_or(0), "{tab:?}");
        assert!(expected > 0, "the world has {tab:?} tenants");
    }
    let companies = held(&setup, &[setup.marketplace_id, storefront]).await;
    assert_eq!(companies.len(), tenants.len());
    for (tenant, (_, target)) in &tenants {
        let theirs = &companies[tenant];
        assert_eq!(theirs.len(), 1, "{tenant}: one company");
        assert_eq!(theirs[0].0, *target, "{tenant}: in its marketplace");
    }

    // Each subscription imported, or skipped or failed for the reason the rules give.
    let snapshot = store
        .hierarchy_state(setup.instance.record.summary.id)
        .await
        .expect("state")
        .snapshot
        .expect("snapshot");
    let ids: Vec<String> = tenants.keys().cloned().collect();
    let outcomes: BTreeMap<(String, String), (String, Option<String>)> = store
        .import_subscriptions(run.id, &ids)
        .await
        .expect("outcomes")
        .into_iter()
        .map(|o| ((o.tenant_id, o.subscription_id), (o.outcome, o.code)))
        .collect();
    let mut failing = BTreeSet::new();
    let mut seen = BTreeSet::new();
    // An end customer of an indirect reseller that also buys directly is in the Indirect tab;
    // its direct subscription is weighed like any other below.
    let everything = store
        .snapshot_subscriptions(snapshot, &ids)
        .await
        .expect("subscriptions");
    assert!(
        everything
            .iter()
            .any(|s| tenants[&s.tenant_id].0 == ImportTab::Indirect
                && s.subscription.reseller_mpn_id.is_none()),
        "an indirect end customer with a direct subscription"
    );
    for s in everything {
        let sub = &s.subscription;
        let expected = match importability(sub.status.as_deref(), sub.product_type.as_deref()) {
            Importability::AzurePlan => ("skipped", Some("AZURE_PLAN_REQUIRES_AZURE_MIGRATION")),
            Importability::Ended => ("skipped", Some("NOT_ACTIVE")),
            Importability::Importable if sub.offer_id.as_deref() == Some(UNMAPPED) => {
                failing.insert(s.tenant_id.clone());
                ("failed", Some("OFFER_NOT_MAPPED"))
            }
            Importability::Importable => ("imported", None),
        };
        let key = (s.tenant_id.clone(), sub.subscription_id.clone());
        let (outcome, code) = &outcomes[&key];
        assert_eq!(
            (outcome.as_str(), code.as_deref()),
            expected,
            "{key:?} {sub:?}"
        );
        seen.insert(expected.0);
    }
    assert_eq!(seen.len(), 3, "imported, skipped and failed subscriptions");
    // Each result names its own subscription, and each company's admin is its bill-to person.
    let results = store
        .import_subscriptions(run.id, &ids)
        .await
        .expect("outcomes");
    let stored = store
        .snapshot_tenants_of(snapshot, &ids)
        .await
        .expect("tenants");
    for (tenant, (_, target)) in &tenants {
        let company = store
            .linked_companies(*target)
            .await
            .expect("linked")
            .into_iter()
            .find(|l| &l.tenant_id == tenant)
            .expect("company")
            .company_id;
        let written: BTreeMap<i64, Option<String>> = store
            .subscriptions_of_company(*target, company)
            .await
            .expect("subscriptions")
            .into_iter()
            .map(|s| (s.id, s.vendor_subscription_id))
            .collect();
        for r in results
            .iter()
            .filter(|r| &r.tenant_id == tenant && r.outcome == "imported")
        {
            let id = r
                .marketplace_subscription_id
                .expect("an imported subscription's id");
            assert_eq!(written[&id].as_deref(), Some(r.subscription_id.as_str()));
        }
        let responsible = store
            .company(*target, company)
            .await
            .expect("company")
            .expect("company")
            .responsible_user_id;
        let own = *target == setup.marketplace_id;
        assert_eq!(responsible, own.then_some(operator), "{tenant}");
        let billing = &stored
            .iter()
            .find(|t| &t.tenant_id == tenant)
            .expect("stored")
            .billing;
        let admins: Vec<String> = store
            .memberships_of_company(*target, company)
            .await
            .expect("members")
            .into_iter()
            .filter(|m| m.company_admin)
            .map(|m| m.email)
            .collect();
        let bill_to = billing.as_ref().and_then(|b| b["email"].as_str());
        assert_eq!(admins.first().map(String::as_str), bill_to, "{tenant}");
    }
    for tab in ImportTab::ALL {
        for t in store
            .import_results(run.id, tab, None, 100)
            .await
            .expect("results")
        {
            let expected = if failing.contains(&t.tenant_id) {
                TenantOutcome::CompletedWithErrors
            } else {
                TenantOutcome::Completed
            };
            assert_eq!(t.status, expected, "{}", t.tenant_id);
            assert_eq!(t.company_created, Some(true));
        }
    }
    // One reseller company per indirect reseller, created once and said so.
    let indirect = store
        .import_results(run.id, ImportTab::Indirect, None, 100)
        .await
        .expect("results");
    let created: Vec<&String> = indirect
        .iter()
        .flat_map(|t| &t.notes)
        .filter(|n| n.starts_with("Created the reseller company"))
        .collect();
    let created_once: BTreeSet<&String> = created.iter().copied().collect();
    assert_eq!(created.len(), created_once.len(), "{created:?}");
    assert!(!created.is_empty());

    // Importing everything again writes nothing: every subscription is already present.
    let before = held(&setup, &[setup.marketplace_id, storefront]).await;
    let again = import(&setup, &Selection::Tenants(ids.clone())).await;
    assert_eq!(again.taken, 40);
    drain(&setup).await;
    assert_eq!(
        held(&setup, &[setup.marketplace_id, storefront]).await,
        before
    );
    let rerun = again.run.id;
    for o in store
        .import_subscriptions(rerun, &ids)
        .await
        .expect("outcomes")
    {
        let first = &outcomes[&(o.tenant_id.clone(), o.subscription_id.clone())];
        if first.0 == "imported" {
            assert_eq!(o.code.as_deref(), Some("ALREADY_PRESENT"));
        }
    }

    // Retrieved again, the imported tenants are Synced but where a subscription failed.
    let check = setup.start(Scope::Mass).await;
    assert_eq!(setup.finish(&check).await.state, RunState::Completed);
    let all = TenantAuditQuery {
        limit: 100,
        ..TenantAuditQuery::default()
    };
    for a in store
        .tenant_audits(setup.marketplace_id, setup.instance.record.summary.id, &all)
        .await
        .expect("audit")
    {
        let expected = if failing.contains(&a.tenant_id) {
            TenantStatus::OutOfSync
        } else {
            TenantStatus::Synced
        };
        assert_eq!(a.status, expected, "{} {:?}", a.tenant_id, a.missing);
    }
}

async fn two_runs_never_take_one_tenant(store: Arc<dyn Store>) {
    let (setup, storefront) = retrieved(store, 40).await;
    let ids: Vec<String> = audited(&setup).await.into_keys().collect();
    let first = Selection::Tenants(ids[..30].to_vec());
    let second = Selection::Tenants(ids[10..].to_vec());
    let (a, b) = tokio::join!(import(&setup, &first), import(&setup, &second));
    assert_eq!(a.taken + b.taken, 40, "each tenant taken once");
    assert_eq!(a.held + b.held, 20, "the overlap is held by the other run");
    drain(&setup).await;
    let companies = held(&setup, &[setup.marketplace_id, storefront]).await;
    assert_eq!(companies.len(), 40);
    assert!(companies.values().all(|c| c.len() == 1));
    // A tenant no run holds any more can be imported again; an unknown one is said so.
    let unknown = "00000000-0000-4000-8000-0000000000aa".to_owned();
    let refused = start_import(
        &*setup.store,
        setup.marketplace_id,
        &setup.instance,
        &Selection::Tenants(vec![unknown.clone()]),
        "user:1",
        None,
        false,
    )
    .await
    .expect_err("nothing to import");
    assert!(refused.to_string().contains(&unknown), "{refused}");
}

async fn a_stopped_run_is_finished_by_another_worker(store: Arc<dyn Store>) {
    let (setup, storefront) = retrieved(store, 450).await;
    let start = import(&setup, &Selection::NotImported).await;
    let run = start.run.id;
    let first = setup.worker(Duration::from_secs(1));
    let dying = tokio::spawn(async move { first.run_next().await });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending: i64 = setup
            .store
            .import_counts(run)
            .await
            .expect("counts")
            .iter()
            .filter(|c| c.status == TenantOutcome::Pending)
            .map(|c| c.tenants)
            .sum();
        if pending < start.taken {
            assert!(
                pending > 0,
                "the first worker finished before it was stopped"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first worker never got going"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    dying.abort();
    let _ = dying.await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    drain(&setup).await;
    let done = setup
        .store
        .import_run(setup.marketplace_id, run)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(done.state, ImportState::Completed, "{:?}", done.error);
    let companies = held(&setup, &[setup.marketplace_id, storefront]).await;
    assert_eq!(companies.len(), 450, "nothing lost");
    assert!(companies.values().all(|c| c.len() == 1), "nothing doubled");
    let ids: Vec<String> = companies.keys().cloned().collect();
    let outcomes = setup
        .store
        .import_subscriptions(run, &ids)
        .await
        .expect("outcomes");
    let imported = outcomes.iter().filter(|o| o.outcome == "imported").count();
    let held_subscriptions: usize = companies.values().map(|c| c[0].2).sum();
    assert_eq!(
        imported, held_subscriptions,
        "each subscription written once"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| o.code.as_deref() != Some("ALREADY_PRESENT")),
        "no subscription was written before its result"
    );
}

/// A company linked to a tenant before (by hand here) only gains the subscriptions it lacks:
/// the one it holds — its Partner Center id written in capitals — stays exactly as it was.
async fn an_existing_company_only_gains_what_it_lacks(store: Arc<dyn Store>) {
    let (setup, _) = retrieved(store, 40).await;
    let store = setup.store.clone();
    let m = setup.marketplace_id;
    let instance = setup.instance.record.summary.id;
    let snapshot = store
        .hierarchy_state(instance)
        .await
        .expect("state")
        .snapshot
        .expect("snapshot");
    let tenants = audited(&setup).await;
    let ids: Vec<String> = tenants
        .iter()
        .filter(|(_, (tab, _))| *tab == ImportTab::Direct)
        .map(|(id, _)| id.clone())
        .collect();
    let subscriptions = store
        .snapshot_subscriptions(snapshot, &ids)
        .await
        .expect("subscriptions");
    // A direct tenant with two importable subscriptions of mapped offers.
    let mappings = store.offer_mappings(m).await.expect("mappings");
    let importable = |s: &&ferry_storage::StoredSubscription| {
        importability(
            s.subscription.status.as_deref(),
            s.subscription.product_type.as_deref(),
        ) == Importability::Importable
            && s.subscription.offer_id.as_deref().is_some_and(|o| {
                OfferId::parse(o).is_ok_and(|o| {
                    matches!(
                        ferry_domain::match_offer(&o, &mappings),
                        ferry_domain::OfferMatch::Edition(_)
                    )
                })
            })
    };
    let tenant = ids
        .iter()
        .find(|t| {
            subscriptions
                .iter()
                .filter(|s| &s.tenant_id == *t)
                .filter(importable)
                .count()
                >= 2
        })
        .expect("a tenant with two subscriptions to import");
    let own: Vec<&ferry_storage::StoredSubscription> = subscriptions
        .iter()
        .filter(|s| &s.tenant_id == tenant)
        .filter(importable)
        .collect();
    let edition = mappings[0].1;
    let company = store
        .create_company(
            m,
            &ferry_domain::NewCompany::named("Made by hand", ferry_domain::Origin::Manual),
        )
        .await
        .expect("company");
    store
        .link_tenant(
            m,
            company,
            &ferry_domain::TenantLink {
                instance_id: instance,
                tenant_id: tenant.to_uppercase(),
                domain_prefix: None,
                reseller_mpn_id: None,
            },
        )
        .await
        .expect("link");
    let held = own[0].subscription.subscription_id.to_uppercase();
    store
        .create_subscription(
            m,
            &ferry_domain::NewSubscription {
                external_id: Some("BY-HAND-1".into()),
                company_id: company,
                edition_id: edition,
                purchased_by: None,
                units: 99,
                start_date: None,
                billing_start_date: None,
                end_date: None,
                billing_cycle: Some("ANNUAL".into()),
                term: Some("P3Y".into()),
                auto_renew: false,
                status: ferry_domain::SubscriptionStatus::Suspended,
                vendor_subscription_id: Some(held.clone()),
                custom_attributes: Default::default(),
                origin: ferry_domain::Origin::Manual,
            },
        )
        .await
        .expect("subscription");
    let before = store
        .subscriptions_of_company(m, company)
        .await
        .expect("subscriptions");

    let start = import(&setup, &Selection::Tenants(vec![tenant.clone()])).await;
    drain(&setup).await;
    let after = store
        .subscriptions_of_company(m, company)
        .await
        .expect("subscriptions");
    assert_eq!(after.len(), own.len(), "it gained what it lacked");
    let kept = after
        .iter()
        .find(|s| s.vendor_subscription_id.as_deref() == Some(held.as_str()))
        .expect("kept");
    assert_eq!(kept, &before[0], "unchanged, to the byte");
    let results = store
        .import_results(start.run.id, ImportTab::Direct, None, 10)
        .await
        .expect("results");
    assert_eq!(results[0].company_id, Some(company));
    assert_eq!(results[0].company_created, Some(false));
    let outcomes = store
        .import_subscriptions(start.run.id, std::slice::from_ref(tenant))
        .await
        .expect("outcomes");
    let present = outcomes
        .iter()
        .find(|o| o.subscription_id == held.to_lowercase())
        .expect("the held one");
    assert_eq!(present.code.as_deref(), Some("ALREADY_PRESENT"));
    assert_eq!(
        held_companies(&setup).await,
        1,
        "no company was created for a linked tenant"
    );
}

/// How many companies of the marketplace are linked to a tenant.
async fn held_companies(setup: &Setup) -> usize {
    setup
        .store
        .linked_companies(setup.marketplace_id)
        .await
        .expect("linked")
        .len()
}
