//! Get Hierarchy's snapshots: one retrieval of an instance at a time; a mass retrieval's
//! snapshot replaces the current one only when it completes, saying what changed; a failed one
//! leaves the current one; a single tenant is refreshed in place.

use std::sync::Arc;

use ferry_domain::TenantStatus;
use ferry_storage::{
    AuditGeneration, HierarchyChange, NewHierarchyRun, RunScope, RunStart, RunState,
    SnapshotReseller, SnapshotSubscription, SnapshotTenant, Store, TenantAudit, TenantAuditQuery,
    TenantDetails,
};

use super::{instance, marketplace};

fn tenant(id: &str, name: &str) -> SnapshotTenant {
    SnapshotTenant {
        tenant_id: id.to_owned(),
        name: name.to_owned(),
        domain: Some(format!("{id}.onmicrosoft.com")),
    }
}

fn subscription(id: &str, quantity: i64, offer: &str) -> SnapshotSubscription {
    SnapshotSubscription {
        subscription_id: id.to_owned(),
        offer_id: Some(offer.to_owned()),
        offer_name: Some(format!("Offer {offer}")),
        product_type: None,
        quantity: Some(quantity),
        status: Some("active".into()),
        billing_cycle: Some("monthly".into()),
        term: Some("P1Y".into()),
        auto_renew: Some(true),
        start_date: None,
        end_date: None,
        reseller_mpn_id: None,
        parent_subscription_id: None,
        cancellation_allowed_until: None,
        billing_cycle_end_date: None,
    }
}

fn details(id: &str, subscriptions: Vec<SnapshotSubscription>) -> TenantDetails {
    TenantDetails {
        tenant_id: id.to_owned(),
        name: None,
        domain: None,
        reseller_tenant_id: None,
        email: Some(format!("billing@{id}.example")),
        billing: Some(serde_json::json!({ "firstName": "Dana" })),
        custom_domains: Some(vec![format!("{id}.example")]),
        subscriptions,
    }
}

async fn start(store: &Arc<dyn Store>, instance_id: i64, scope: RunScope) -> RunStart {
    store
        .start_hierarchy_run(&NewHierarchyRun {
            instance_id,
            scope,
            tenant: None,
            started_by: "user:1",
        })
        .await
        .expect("start")
}

fn started(start: RunStart) -> ferry_storage::HierarchyRun {
    match start {
        RunStart::Started(run) => run,
        RunStart::AlreadyRunning(run) => panic!("run {} was already running", run.id),
    }
}

pub(crate) async fn snapshots_switch_only_when_a_retrieval_completes(store: Arc<dyn Store>) {
    let a = marketplace(&store, "a").await;
    let pc = store
        .create_instance(a.id, &instance("pc"))
        .await
        .expect("instance");

    let first = started(start(&store, pc, RunScope::Mass).await);
    match start(&store, pc, RunScope::Mass).await {
        RunStart::AlreadyRunning(running) => assert_eq!(running.id, first.id),
        RunStart::Started(run) => panic!("a second retrieval {} started", run.id),
    }
    let s = first.snapshot;
    assert_eq!(s, first.id, "a mass retrieval writes its own snapshot");
    let reseller = SnapshotReseller {
        tenant_id: "R-1".into(),
        name: Some("Contoso IT".into()),
        mpn_id: Some("6201874".into()),
        location: Some("US".into()),
    };
    store
        .store_resellers(s, &[reseller])
        .await
        .expect("resellers");
    let tenants = [
        tenant("t-1", "Alpha"),
        tenant("t-2", "Bravo"),
        tenant("t-3", "Charlie"),
    ];
    store.store_tenants(s, &tenants).await.expect("tenants");
    store
        .set_tenants_reseller(s, "R-1", &["T-2".to_owned()])
        .await
        .expect("reseller");
    assert_eq!(
        store.tenants_without_details(s, 10).await.expect("pending"),
        ["t-1", "t-2", "t-3"]
    );
    store
        .store_tenant_details(
            s,
            &[
                details("t-1", vec![subscription("S-1", 5, "A")]),
                details(
                    "t-2",
                    vec![subscription("s-2", 3, "B"), subscription("s-3", 1, "C")],
                ),
            ],
        )
        .await
        .expect("details");
    assert_eq!(
        store.tenants_without_details(s, 10).await.expect("pending"),
        ["t-3"],
        "where a retrieval that stopped carries on"
    );
    store
        .store_tenant_details(s, &[details("t-3", vec![])])
        .await
        .expect("details");
    assert_eq!(
        store.hierarchy_state(pc).await.expect("state").snapshot,
        None,
        "nothing is shown before the retrieval completes"
    );
    let done = store
        .complete_hierarchy_run(first.id, None)
        .await
        .expect("complete");
    assert_eq!(done.state, RunState::Completed);
    let summary = done.summary.expect("summary");
    assert_eq!(
        (summary.resellers, summary.tenants, summary.subscriptions),
        (1, 3, 3)
    );
    assert!(
        !summary.compared,
        "the first retrieval has nothing to compare with"
    );
    let state = store.hierarchy_state(pc).await.expect("state");
    assert_eq!(state.snapshot, Some(first.id));
    assert_eq!(state.last_update, done.finished_at);

    // The next mass retrieval: Alpha renamed, Charlie gone, Delta new; Bravo's subscriptions
    // changed in quantity and offer, one gone, one new.
    let second = started(start(&store, pc, RunScope::Mass).await);
    let s2 = second.snapshot;
    store
        .store_tenants(
            s2,
            &[
                tenant("t-1", "Alpha Ltd"),
                tenant("t-2", "Bravo"),
                tenant("t-4", "Delta"),
            ],
        )
        .await
        .expect("tenants");
    store
        .store_tenant_details(
            s2,
            &[
                details("t-1", vec![subscription("s-1", 5, "A")]),
                details(
                    "t-2",
                    vec![subscription("s-2", 7, "B2"), subscription("s-9", 1, "D")],
                ),
                details("t-4", vec![subscription("s-4", 1, "A")]),
            ],
        )
        .await
        .expect("details");
    let done = store
        .complete_hierarchy_run(second.id, None)
        .await
        .expect("complete");
    let changes = store
        .hierarchy_changes(second.id, 100)
        .await
        .expect("changes");
    let change =
        |kind: &str, tenant: &str, sub: Option<&str>, before: Option<&str>, after: Option<&str>| {
            HierarchyChange {
                kind: kind.to_owned(),
                tenant_id: tenant.to_owned(),
                subscription_id: sub.map(str::to_owned),
                before_value: before.map(str::to_owned),
                after_value: after.map(str::to_owned),
            }
        };
    assert_eq!(
        changes,
        [
            change(
                "tenant_renamed",
                "t-1",
                None,
                Some("Alpha"),
                Some("Alpha Ltd")
            ),
            change("offer_changed", "t-2", Some("s-2"), Some("B"), Some("B2")),
            change("quantity_changed", "t-2", Some("s-2"), Some("3"), Some("7")),
            change(
                "subscription_gone",
                "t-2",
                Some("s-3"),
                Some("Offer C"),
                None
            ),
            change(
                "subscription_new",
                "t-2",
                Some("s-9"),
                None,
                Some("Offer D")
            ),
            change("tenant_gone", "t-3", None, Some("Charlie"), None),
            change("tenant_new", "t-4", None, None, Some("Delta")),
        ]
    );
    let summary = done.summary.expect("summary");
    assert!(summary.compared);
    assert_eq!(summary.changes.get("tenant_new"), Some(&1));
    assert_eq!(
        store
            .snapshot_counts(first.id)
            .await
            .expect("counts")
            .tenants,
        0,
        "the replaced snapshot's rows are gone"
    );

    // A retrieval that fails leaves the current snapshot and drops its own.
    let third = started(start(&store, pc, RunScope::Mass).await);
    store
        .store_tenants(third.snapshot, &[tenant("t-5", "Echo")])
        .await
        .expect("tenants");
    store
        .end_hierarchy_run(
            third.id,
            RunState::Failed,
            "Partner Center needs a new consent",
        )
        .await
        .expect("fail");
    assert_eq!(
        store.hierarchy_state(pc).await.expect("state").snapshot,
        Some(second.id)
    );
    assert_eq!(
        store
            .snapshot_counts(third.id)
            .await
            .expect("counts")
            .tenants,
        0
    );
    let failed = store
        .hierarchy_run(third.id)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(failed.state, RunState::Failed);
    assert_eq!(
        failed.error.as_deref(),
        Some("Partner Center needs a new consent")
    );

    // One tenant, refreshed in the current snapshot; Last Update stays.
    let last_update = store.hierarchy_state(pc).await.expect("state").last_update;
    let single = started(start(&store, pc, RunScope::Tenant).await);
    assert_eq!(
        single.snapshot, second.id,
        "a single tenant refreshes the current snapshot"
    );
    store
        .store_tenant_details(
            single.snapshot,
            &[details("t-4", vec![subscription("s-4", 9, "A")])],
        )
        .await
        .expect("details");
    store
        .complete_hierarchy_run(single.id, None)
        .await
        .expect("complete");
    let state = store.hierarchy_state(pc).await.expect("state");
    assert_eq!(
        (state.snapshot, state.last_update),
        (Some(second.id), last_update)
    );
    let runs = store.hierarchy_runs(pc, 10).await.expect("runs");
    assert_eq!(
        runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        [single.id, third.id, second.id, first.id],
        "newest first"
    );
}

fn audited(id: &str, name: &str) -> TenantAudit {
    TenantAudit {
        tenant_id: id.to_owned(),
        name: name.to_owned(),
        domain: None,
        reseller_tenant_id: None,
        tenant_reseller_id: None,
        status: TenantStatus::NotImported,
        partner_center_subscriptions: 0,
        marketplace_subscriptions: 0,
        related: Vec::new(),
        missing: Vec::new(),
        extra: Vec::new(),
        not_importable: Vec::new(),
        possible: Vec::new(),
        audited_at: 1,
    }
}

/// An audit is written a page at a time out of sight: the list shows the previous one whole
/// until the new one is published, and a newer audit publishes over what an older one left.
pub(crate) async fn an_audit_shows_only_when_whole(store: Arc<dyn Store>) {
    let m = marketplace(&store, "audited").await;
    let i = store
        .create_instance(m.id, &instance("Audited"))
        .await
        .expect("instance");
    let names = |store: Arc<dyn Store>| async move {
        let all = TenantAuditQuery {
            limit: 10,
            ..TenantAuditQuery::default()
        };
        store
            .tenant_audits(m.id, i, &all)
            .await
            .expect("list")
            .into_iter()
            .map(|a| a.name)
            .collect::<Vec<_>>()
    };
    let first = AuditGeneration::new(m.id, i);
    store
        .stage_tenant_audits(&first, &[audited("t1", "Alpha"), audited("t2", "Beta")])
        .await
        .expect("stage");
    assert!(
        names(store.clone()).await.is_empty(),
        "nothing shows before it is whole"
    );
    store.publish_tenant_audits(&first).await.expect("publish");
    assert_eq!(names(store.clone()).await, ["Alpha", "Beta"]);

    // An audit that stopped half-way leaves the list as it was.
    let stopped = AuditGeneration {
        id: first.id + 1,
        ..first
    };
    store
        .stage_tenant_audits(&stopped, &[audited("t1", "Half")])
        .await
        .expect("stage");
    assert_eq!(names(store.clone()).await, ["Alpha", "Beta"]);
    let next = AuditGeneration {
        id: first.id + 2,
        ..first
    };
    store
        .stage_tenant_audits(&next, &[audited("t3", "Gamma")])
        .await
        .expect("stage");
    store.publish_tenant_audits(&next).await.expect("publish");
    assert_eq!(names(store.clone()).await, ["Gamma"]);
}
