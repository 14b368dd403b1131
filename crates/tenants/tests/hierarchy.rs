//! Get Hierarchy against the Partner Center emulator, on both backends: the snapshot holds
//! exactly the emulator's world under faults, resellers and attribution included; revoked
//! consent keeps the previous snapshot; a worker that dies is followed by another; a tenant
//! Partner Center does not know is said so.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_domain::{
    Connector, Email, MarketplaceKind, NewCompany, NewEdition, NewProduct, NewSubscription, Origin,
    PricingUnit, Slug, SubscriptionStatus, TenantLink, TenantStatus,
};
use ferry_emulators::Faults;
use ferry_emulators::partner_center::Options;
use ferry_storage::{
    CompanyRef, NewInstance, NewMarketplace, RunState, Store, TenantAudit, TenantAuditQuery,
};
use ferry_tenants::Scope;
use ferry_tenants::hierarchy::unknown_tenant;
use serde_json::Value;

mod support;

use support::{Setup, open, sealer, setup};

ferry_storage::on_both_backends!(open =>
    a_retrieval_stores_the_emulators_world_exactly,
    revoked_consent_keeps_the_previous_snapshot,
    a_killed_worker_is_followed_by_another,
    one_tenant_is_found_by_id_or_domain_or_said_unknown,
    the_audit_says_where_each_tenant_stands,
    an_app_only_instance_says_what_it_cannot_read,
    a_country_tenant_uses_its_parents_retrieval_with_an_audit_of_its_own,
    a_tenant_reseller_holds_its_resellers_end_customers,
);

impl Setup {
    /// The emulator's world as the snapshot should hold it.
    fn expected(&self) -> World {
        let dump: Value = serde_json::from_str(&self.emulator.world_json()).expect("dump");
        let lower = |v: &Value| v.as_str().map(str::to_ascii_lowercase);
        let mut world = World::default();
        for r in dump["resellers"].as_array().expect("resellers") {
            world.resellers.insert(
                lower(&r["id"]).expect("id"),
                (
                    r["name"].as_str().map(str::to_owned),
                    r["mpnId"].as_str().map(str::to_owned),
                ),
            );
        }
        for c in dump["customers"].as_array().expect("customers") {
            let id = lower(&c["id"]).expect("id");
            world.tenants.insert(
                id.clone(),
                (
                    c["companyName"].as_str().expect("name").to_owned(),
                    c["domain"].as_str().map(str::to_owned),
                    lower(&c["associatedPartnerId"]),
                    c["billingProfile"]["email"].as_str().map(str::to_owned),
                ),
            );
            for s in c["subscriptions"].as_array().expect("subscriptions") {
                let partner = s["partnerId"].as_str().filter(|p| !p.is_empty());
                world.subscriptions.insert(
                    (id.clone(), lower(&s["id"]).expect("id")),
                    (
                        s["offerId"].as_str().map(str::to_owned),
                        s["quantity"].as_i64(),
                        s["status"].as_str().map(str::to_ascii_lowercase),
                        partner.map(str::to_owned),
                    ),
                );
            }
        }
        world
    }

    /// What the instance's current snapshot holds, in the same shape.
    async fn stored(&self) -> World {
        let instance = self.instance.record.summary.id;
        let state = self.store.hierarchy_state(instance).await.expect("state");
        let snapshot = state.snapshot.expect("a snapshot");
        let mut world = World::default();
        for r in self
            .store
            .snapshot_resellers(snapshot)
            .await
            .expect("resellers")
        {
            world.resellers.insert(r.tenant_id, (r.name, r.mpn_id));
        }
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .snapshot_tenants(snapshot, after.as_deref(), 500)
                .await
                .expect("tenants");
            let Some(last) = page.last() else { break };
            after = Some(last.tenant_id.clone());
            let ids: Vec<String> = page.iter().map(|t| t.tenant_id.clone()).collect();
            for t in page {
                assert!(t.details_fetched, "{} has its details", t.tenant_id);
                let email = t
                    .billing
                    .as_ref()
                    .and_then(|b| b["email"].as_str().map(str::to_owned));
                world
                    .tenants
                    .insert(t.tenant_id, (t.name, t.domain, t.reseller_tenant_id, email));
            }
            for s in self
                .store
                .snapshot_subscriptions(snapshot, &ids)
                .await
                .expect("subscriptions")
            {
                let sub = s.subscription;
                world.subscriptions.insert(
                    (s.tenant_id, sub.subscription_id),
                    (sub.offer_id, sub.quantity, sub.status, sub.reseller_mpn_id),
                );
            }
        }
        world
    }
}

type Tenant = (String, Option<String>, Option<String>, Option<String>);
type Sub = (Option<String>, Option<i64>, Option<String>, Option<String>);

#[derive(Debug, Default, PartialEq)]
struct World {
    resellers: BTreeMap<String, (Option<String>, Option<String>)>,
    tenants: BTreeMap<String, Tenant>,
    subscriptions: BTreeMap<(String, String), Sub>,
}

fn faulty(customers: usize) -> Options {
    Options {
        seed: 7,
        customers,
        resellers: 4,
        faults: Faults {
            latency_ms: 0,
            jitter_ms: 2,
            throttle_per_minute: Some(30_000),
            customer_throttle_per_minute: Some(600),
            fault_5xx_rate: 0.05,
            bom: true,
            next_links_without_v1: true,
            mixed_case_enums: true,
        },
        token_lifetime_s: 60,
        ..Options::default()
    }
}

async fn a_retrieval_stores_the_emulators_world_exactly(store: Arc<dyn Store>) {
    let setup = setup(store, faulty(300)).await;
    let run = setup.start(Scope::Mass).await;
    let done = setup.finish(&run).await;
    assert_eq!(done.state, RunState::Completed, "{:?}", done.error);
    let expected = setup.expected();
    let stored = setup.stored().await;
    assert_eq!(stored, expected);
    assert_eq!(
        expected.resellers.len(),
        4,
        "the reseller with no customer is listed too"
    );
    assert!(
        expected.tenants.values().any(|t| t.2.is_some())
            && expected.tenants.values().any(|t| t.2.is_none()),
        "direct and indirect tenants"
    );
    let summary = done.summary.expect("summary");
    assert_eq!(summary.tenants, 300);
    assert!(!summary.compared);
    assert_eq!(done.lacks, None, "an App+User instance reads everything");
}

async fn revoked_consent_keeps_the_previous_snapshot(store: Arc<dyn Store>) {
    let setup = setup(store, faulty(40)).await;
    let first = setup.start(Scope::Mass).await;
    assert_eq!(setup.finish(&first).await.state, RunState::Completed);
    let before = setup.stored().await;

    setup.admin("/tokens/revoke-refresh-tokens").await;
    setup.admin("/tokens/expire-access-tokens").await;
    let second = setup.start(Scope::Mass).await;
    let failed = setup.finish(&second).await;
    assert_eq!(failed.state, RunState::Failed);
    let error = failed.error.unwrap_or_default();
    assert!(error.contains("needs a new consent"), "{error}");
    let instance = setup.instance.record.summary.id;
    let state = setup.store.hierarchy_state(instance).await.expect("state");
    assert_eq!(
        state.snapshot,
        Some(first.id),
        "the previous snapshot stays"
    );
    assert_eq!(setup.stored().await, before);
}

async fn a_killed_worker_is_followed_by_another(store: Arc<dyn Store>) {
    let mut options = faulty(600);
    options.faults.latency_ms = 5;
    let setup = setup(store, options).await;
    let run = setup.start(Scope::Mass).await;
    let first = setup.worker(Duration::from_secs(1));
    let dying = tokio::spawn(async move { first.run_next().await });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counts = setup
            .store
            .snapshot_counts(run.snapshot)
            .await
            .expect("counts");
        if counts.detailed > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first worker never got going"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dying.abort();
    let _ = dying.await;
    let stopped = setup
        .store
        .hierarchy_run(run.id)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(
        stopped.state,
        RunState::Running,
        "killed midway, not finished"
    );
    // The lease lapses; the next worker carries on from the stored rows.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let second = setup.worker(Duration::from_secs(30));
    while second.run_next().await.expect("run") {}
    let done = setup
        .store
        .hierarchy_run(run.id)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(done.state, RunState::Completed, "{:?}", done.error);
    assert_eq!(setup.stored().await, setup.expected());
}

async fn one_tenant_is_found_by_id_or_domain_or_said_unknown(store: Arc<dyn Store>) {
    let setup = setup(store, faulty(20)).await;
    let world = setup.expected();
    let (id, (name, domain, ..)) = world.tenants.iter().next().expect("a tenant");
    let domain = domain.clone().expect("a domain");

    let by_domain = setup.start(Scope::Domain(domain.to_uppercase())).await;
    let done = setup.finish(&by_domain).await;
    assert_eq!(done.state, RunState::Completed, "{:?}", done.error);
    let snapshot = setup
        .store
        .hierarchy_state(setup.instance.record.summary.id)
        .await
        .expect("state");
    assert_eq!(snapshot.snapshot, Some(by_domain.id));
    assert_eq!(
        snapshot.last_update, None,
        "Last Update is a mass retrieval's"
    );
    let tenants = setup
        .store
        .snapshot_tenants(by_domain.id, None, 10)
        .await
        .expect("tenants");
    assert_eq!(
        tenants
            .iter()
            .map(|t| (&t.tenant_id, &t.name))
            .collect::<Vec<_>>(),
        [(id, name)]
    );

    let by_id = setup.start(Scope::TenantId(id.to_uppercase())).await;
    assert_eq!(
        by_id.snapshot, by_domain.id,
        "refreshes the current snapshot"
    );
    assert_eq!(setup.finish(&by_id).await.state, RunState::Completed);

    let nobody = "00000000-0000-4000-8000-000000000000";
    let unknown = setup.start(Scope::TenantId(nobody.into())).await;
    let failed = setup.finish(&unknown).await;
    assert_eq!(failed.state, RunState::Failed);
    assert_eq!(
        failed.error.as_deref(),
        Some(unknown_tenant(nobody).as_str())
    );
    let unknown = setup
        .start(Scope::Domain("nobody.onmicrosoft.com".into()))
        .await;
    let failed = setup.finish(&unknown).await;
    assert_eq!(
        failed.error.as_deref(),
        Some("The Microsoft Tenant with ID 'nobody.onmicrosoft.com' does not exist.")
    );
}

/// The audit, for the marketplace: a tenant whose importable subscriptions the linked company
/// holds exactly is Synced; one with a subscription missing and one extra is Out of sync, saying
/// which; an unlinked tenant is Not imported, with the company that looks like it.
async fn the_audit_says_where_each_tenant_stands(store: Arc<dyn Store>) {
    let setup = setup(
        store,
        Options {
            seed: 21,
            customers: 12,
            resellers: 2,
            ..Options::default()
        },
    )
    .await;
    let run = setup.start(Scope::Mass).await;
    assert_eq!(setup.finish(&run).await.state, RunState::Completed);
    let store = &setup.store;
    let m = setup.marketplace_id;
    let instance = setup.instance.record.summary.id;
    let everyone = TenantAuditQuery {
        limit: 100,
        ..TenantAuditQuery::default()
    };
    let audits = store
        .tenant_audits(m, instance, &everyone)
        .await
        .expect("audit");
    assert_eq!(audits.len(), 12, "the retrieval audited every tenant");
    assert!(audits.iter().all(|a| a.status == TenantStatus::NotImported));

    // Tenants with importable subscriptions, to link.
    let importable = |a: &TenantAudit| a.partner_center_subscriptions;
    let mut with_subscriptions = audits.iter().filter(|a| importable(a) >= 2);
    let synced = with_subscriptions
        .next()
        .expect("a tenant with subscriptions")
        .clone();
    let drifted = with_subscriptions.next().expect("another").clone();
    let alike = audits
        .iter()
        .find(|a| a.tenant_id != synced.tenant_id && a.tenant_id != drifted.tenant_id)
        .expect("a third")
        .clone();
    let subscriptions = store
        .snapshot_subscriptions(
            run.snapshot,
            &[synced.tenant_id.clone(), drifted.tenant_id.clone()],
        )
        .await
        .expect("subscriptions");
    let ids_of = |tenant: &str| -> Vec<String> {
        subscriptions
            .iter()
            .filter(|s| s.tenant_id == tenant)
            .filter(|s| {
                ferry_domain::importability(
                    s.subscription.status.as_deref(),
                    s.subscription.product_type.as_deref(),
                ) == ferry_domain::Importability::Importable
            })
            .map(|s| s.subscription.subscription_id.clone())
            .collect()
    };

    let product = store
        .create_product(
            m,
            &NewProduct {
                name: "Microsoft 365".into(),
                vendor: "Microsoft".into(),
            },
        )
        .await
        .expect("product");
    let edition = store
        .create_edition(
            m,
            &NewEdition {
                product_id: product,
                code: "M365".into(),
                name: "Microsoft 365".into(),
                pricing_plan_id: "m365".into(),
                channel_sku: None,
                pricing_unit: PricingUnit::User,
                included_units: 1,
                billing_cycles: vec!["MONTHLY".into()],
                terms: vec!["P1M".into()],
                connector: Connector::Microsoft,
                offer_ids: Vec::new(),
                active: true,
            },
        )
        .await
        .expect("edition");
    let linked = |name: &str, tenant: &str| {
        let store = store.clone();
        let (name, tenant) = (name.to_owned(), tenant.to_owned());
        async move {
            let company = store
                .create_company(m, &NewCompany::named(name, Origin::Manual))
                .await
                .expect("company");
            let link = TenantLink {
                instance_id: instance,
                tenant_id: tenant.to_uppercase(),
                domain_prefix: None,
                reseller_mpn_id: None,
            };
            store.link_tenant(m, company, &link).await.expect("link");
            company
        }
    };
    let subscribe = |company: i64, vendor: String| {
        let store = store.clone();
        async move {
            let s = NewSubscription {
                external_id: None,
                company_id: company,
                edition_id: edition,
                purchased_by: None,
                units: 1,
                start_date: None,
                billing_start_date: None,
                end_date: None,
                billing_cycle: None,
                term: None,
                auto_renew: true,
                status: SubscriptionStatus::Active,
                vendor_subscription_id: Some(vendor.to_uppercase()),
                custom_attributes: Default::default(),
                origin: Origin::Manual,
            };
            store
                .create_subscription(m, &s)
                .await
                .expect("subscription");
        }
    };
    let first = linked("Linked by hand", &synced.tenant_id).await;
    for id in ids_of(&synced.tenant_id) {
        subscribe(first, id).await;
    }
    let second = linked("Drifted", &drifted.tenant_id).await;
    let mut drifted_ids = ids_of(&drifted.tenant_id);
    let missing = drifted_ids.pop().expect("one to leave out");
    for id in drifted_ids {
        subscribe(second, id).await;
    }
    subscribe(second, "aaaaaaaa-0000-4000-8000-00000000000e".into()).await;
    let lookalike = NewCompany {
        email: Some(Email::parse("office@lookalike.example").expect("email")),
        ..NewCompany::named(format!("{} Ltd", alike.name), Origin::Manual)
    };
    let lookalike = store.create_company(m, &lookalike).await.expect("company");

    ferry_tenants::audit::audit_everywhere(&**store, m, instance)
        .await
        .expect("audit");
    let audits = store
        .tenant_audits(m, instance, &everyone)
        .await
        .expect("audit");
    let of = |tenant: &str| {
        audits
            .iter()
            .find(|a| a.tenant_id == tenant)
            .expect("audited")
    };
    let a = of(&synced.tenant_id);
    assert_eq!(a.status, TenantStatus::Synced, "{a:?}");
    assert_eq!(
        a.related,
        [CompanyRef {
            id: first,
            name: "Linked by hand".into()
        }]
    );
    let b = of(&drifted.tenant_id);
    assert_eq!(b.status, TenantStatus::OutOfSync);
    assert_eq!(b.missing, [missing]);
    assert_eq!(b.extra, ["aaaaaaaa-0000-4000-8000-00000000000e"]);
    let c = of(&alike.tenant_id);
    assert_eq!(c.status, TenantStatus::NotImported);
    assert_eq!(c.possible.first().map(|p| p.id), Some(lookalike), "{c:?}");
    assert!(
        c.possible[0]
            .reasons
            .contains(&"the same name after removing 'Ltd'".to_owned()),
        "{c:?}"
    );

    let only = |status| TenantAuditQuery {
        status: Some(status),
        ..everyone.clone()
    };
    let listed = store
        .tenant_audits(m, instance, &only(TenantStatus::OutOfSync))
        .await
        .expect("filter");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        store
            .count_tenant_audits(m, instance, &only(TenantStatus::NotImported), 100)
            .await
            .expect("count"),
        ferry_storage::Total::Exactly(10)
    );

    // Found by the start of its tenant id, through the key, and by any part of its name or
    // domain, through the trigram index.
    let search = |term: &str| TenantAuditQuery {
        search: Some(term.to_owned()),
        ..everyone.clone()
    };
    let start = &alike.tenant_id[..13];
    let found = store
        .tenant_audits(m, instance, &search(&start.to_uppercase()))
        .await
        .expect("search");
    assert_eq!(
        found
            .iter()
            .map(|a| a.tenant_id.as_str())
            .collect::<Vec<_>>(),
        [alike.tenant_id.as_str()]
    );
    let domain = alike.domain.clone().expect("a domain");
    let found = store
        .tenant_audits(m, instance, &search(&domain[2..]))
        .await
        .expect("search");
    assert!(
        found.iter().any(|a| a.tenant_id == alike.tenant_id),
        "by domain"
    );
    assert!(
        store
            .tenant_audits(m, instance, &search("zzzq"))
            .await
            .expect("search")
            .is_empty()
    );
    assert_eq!(
        store
            .count_tenant_audits(m, instance, &search(start), 100)
            .await
            .expect("count"),
        ferry_storage::Total::Exactly(1)
    );
}

/// An instance of the App-only model (no refresh token) reads every tenant and subscription,
/// skips the resellers, which Partner Center gives only to App+User, and says so.
async fn an_app_only_instance_says_what_it_cannot_read(store: Arc<dyn Store>) {
    let mut setup = setup(store, faulty(15)).await;
    let credentials = setup.emulator.credentials();
    let sealer = sealer();
    let marketplace = setup
        .store
        .marketplace(setup.marketplace_id)
        .await
        .expect("read")
        .expect("marketplace");
    let app_only = setup
        .store
        .create_instance(
            marketplace.id,
            &NewInstance {
                name: "App only".into(),
                model: "direct".into(),
                partner_tenant_id: credentials.partner_tenant_id,
                application_id: credentials.client_id,
                secret_encrypted: Some(sealer.seal(&credentials.client_secret)),
                refresh_token_encrypted: None,
                mpn_id: None,
                api_base_url: setup.base.clone(),
                login_base_url: setup.base.clone(),
            },
        )
        .await
        .expect("instance");
    setup.instance = ferry_tenants::instances::find(&*setup.store, &marketplace, app_only)
        .await
        .expect("find")
        .expect("the App-only instance");
    let run = setup.start(Scope::Mass).await;
    let done = setup.finish(&run).await;
    assert_eq!(done.state, RunState::Completed, "{:?}", done.error);
    assert_eq!(
        done.lacks.as_deref(),
        Some(ferry_tenants::hierarchy::APP_ONLY_LACKS)
    );
    let summary = done.summary.expect("summary");
    assert_eq!((summary.resellers, summary.tenants), (0, 15));
}

/// A country tenant uses its parent's instance live: the parent's retrieval is audited for it
/// too, against its own companies, and a simple tenant sees no instance at all.
async fn a_country_tenant_uses_its_parents_retrieval_with_an_audit_of_its_own(
    store: Arc<dyn Store>,
) {
    let setup = setup(store, faulty(10)).await;
    let store = &setup.store;
    let parent = store
        .marketplace(setup.marketplace_id)
        .await
        .expect("read")
        .expect("parent");
    let child = |slug: &str, kind: MarketplaceKind| {
        let store = store.clone();
        let slug = slug.to_owned();
        async move {
            store
                .create_marketplace(&NewMarketplace {
                    slug: Slug::parse(&slug).expect("slug"),
                    name: slug.clone(),
                    kind,
                    parent_id: Some(setup.marketplace_id),
                })
                .await
                .expect("child")
        }
    };
    let country = child("dist-de", MarketplaceKind::CountryTenant).await;
    let simple = child("shop", MarketplaceKind::SimpleTenant).await;
    let instance = setup.instance.record.summary.id;
    let seen = ferry_tenants::instances::visible(&**store, &country)
        .await
        .expect("instances");
    assert_eq!(
        seen.iter().map(|v| v.record.summary.id).collect::<Vec<_>>(),
        [instance],
        "the country tenant uses its parent's instance"
    );
    assert!(
        ferry_tenants::instances::visible(&**store, &simple)
            .await
            .expect("instances")
            .is_empty()
    );

    let run = setup.start(Scope::Mass).await;
    assert_eq!(setup.finish(&run).await.state, RunState::Completed);
    // A company of the country tenant linked to one tenant: Related there, not at the parent.
    let tenants = store
        .snapshot_tenants(run.snapshot, None, 1)
        .await
        .expect("tenants");
    let tenant = &tenants[0].tenant_id;
    let company = store
        .create_company(
            country.id,
            &NewCompany::named("Linked in Germany", Origin::Manual),
        )
        .await
        .expect("company");
    let link = TenantLink {
        instance_id: instance,
        tenant_id: tenant.clone(),
        domain_prefix: None,
        reseller_mpn_id: None,
    };
    store
        .link_tenant(country.id, company, &link)
        .await
        .expect("link");
    ferry_tenants::audit::audit_everywhere(&**store, parent.id, instance)
        .await
        .expect("audit");
    let everyone = TenantAuditQuery {
        limit: 100,
        ..TenantAuditQuery::default()
    };
    let of = |marketplace: i64| {
        let store = store.clone();
        let everyone = everyone.clone();
        let tenant = tenant.clone();
        async move {
            let audits = store
                .tenant_audits(marketplace, instance, &everyone)
                .await
                .expect("audit");
            assert_eq!(audits.len(), 10);
            audits
                .into_iter()
                .find(|a| a.tenant_id == tenant)
                .expect("the tenant")
        }
    };
    let here = of(country.id).await;
    assert_eq!(here.related.first().map(|c| c.id), Some(company));
    let there = of(parent.id).await;
    assert_eq!(
        there.status,
        TenantStatus::NotImported,
        "the parent's own companies decide"
    );
    assert!(
        store
            .tenant_audits(simple.id, instance, &everyone)
            .await
            .expect("audit")
            .is_empty()
    );
}

/// A simple tenant given a reseller's MPN id holds that reseller's end customers: the parent
/// sees which tenant reseller holds them and how they stand in its marketplace, none of its
/// companies, and no possible match among its own.
async fn a_tenant_reseller_holds_its_resellers_end_customers(store: Arc<dyn Store>) {
    let setup = setup(store, faulty(60)).await;
    let store = &setup.store;
    let parent = setup.marketplace_id;
    let instance = setup.instance.record.summary.id;
    let run = setup.start(Scope::Mass).await;
    assert_eq!(setup.finish(&run).await.state, RunState::Completed);
    let tenants = store
        .snapshot_tenants(run.snapshot, None, 100)
        .await
        .expect("tenants");
    let resellers = store
        .snapshot_resellers(run.snapshot)
        .await
        .expect("resellers");
    let (reseller, mpn) = resellers
        .iter()
        .find_map(|r| {
            let serves = tenants
                .iter()
                .filter(|t| t.reseller_tenant_id.as_ref() == Some(&r.tenant_id))
                .count();
            (serves >= 2).then(|| (r.tenant_id.clone(), r.mpn_id.clone().expect("an MPN id")))
        })
        .expect("a reseller with two end customers");
    let held: Vec<&ferry_storage::StoredTenant> = tenants
        .iter()
        .filter(|t| t.reseller_tenant_id.as_ref() == Some(&reseller))
        .collect();

    let simple = |slug: &'static str| {
        let store = store.clone();
        async move {
            store
                .create_marketplace(&NewMarketplace {
                    slug: Slug::parse(slug).expect("slug"),
                    name: format!("{slug} storefront"),
                    kind: MarketplaceKind::SimpleTenant,
                    parent_id: Some(parent),
                })
                .await
                .expect("simple tenant")
        }
    };
    let storefront = simple("northwind").await;
    let other = simple("contoso").await;
    store
        .set_reseller_mpn_id(parent, storefront.id, Some(&mpn))
        .await
        .expect("a tenant reseller");
    assert!(
        matches!(
            store
                .set_reseller_mpn_id(parent, other.id, Some(&mpn))
                .await,
            Err(ferry_storage::StoreError::Conflict { .. })
        ),
        "one tenant reseller per reseller"
    );
    assert!(
        matches!(
            store
                .set_reseller_mpn_id(other.id, storefront.id, Some("4829113"))
                .await,
            Err(ferry_storage::StoreError::NotFound { .. })
        ),
        "only the parent sets it"
    );

    // The storefront imported one end customer; the parent has a company named like another.
    let company = store
        .create_company(
            storefront.id,
            &NewCompany::named("Imported by the storefront", Origin::Manual),
        )
        .await
        .expect("company");
    let link = TenantLink {
        instance_id: instance,
        tenant_id: held[0].tenant_id.clone(),
        domain_prefix: None,
        reseller_mpn_id: Some(mpn.clone()),
    };
    store
        .link_tenant(storefront.id, company, &link)
        .await
        .expect("link");
    store
        .create_company(parent, &NewCompany::named(&held[1].name, Origin::Manual))
        .await
        .expect("a lookalike");
    ferry_tenants::audit::audit_everywhere(&**store, parent, instance)
        .await
        .expect("audit");

    let list = |tenant_reseller| TenantAuditQuery {
        tenant_reseller,
        limit: 100,
        ..TenantAuditQuery::default()
    };
    let audits = store
        .tenant_audits(parent, instance, &list(Some(true)))
        .await
        .expect("audit");
    assert_eq!(
        audits
            .iter()
            .map(|a| &a.tenant_id)
            .collect::<Vec<_>>()
            .len(),
        held.len()
    );
    assert!(
        audits
            .iter()
            .all(|a| a.tenant_reseller_id == Some(storefront.id)
                && a.related.is_empty()
                && a.possible.is_empty())
    );
    let imported = audits
        .iter()
        .find(|a| a.tenant_id == held[0].tenant_id)
        .expect("the imported one");
    assert_ne!(
        imported.status,
        TenantStatus::NotImported,
        "compared with the storefront's companies"
    );
    let others = store
        .tenant_audits(parent, instance, &list(Some(false)))
        .await
        .expect("audit");
    assert_eq!(others.len() + held.len(), tenants.len());
    assert!(others.iter().all(|a| a.tenant_reseller_id.is_none()));
}
