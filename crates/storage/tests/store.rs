//! The storage suite: every test runs on SQLite and on PostgreSQL (`sqlite::…` and
//! `postgres::…` in the output).

use std::collections::HashSet;
use std::sync::Arc;

use ferry_domain::{CompanyId, CompanyStatus, Role, SubscriptionId, Timestamp, UserId, UserStatus};
use ferry_domain::{
    CompanyRoles, Connector, DatasetKind, DatasetState, Email, JobState, MarketplaceKind,
    NewCompany, NewEdition, NewProduct, NewSubscription, NewUser, OfferId, Origin, PricingUnit,
    Progress, Slug, SubscriptionStatus, TenantLink,
};
use ferry_domain::{SignInAttempt, SignInThrottle};
use ferry_storage::{
    Checkpoint, CompanyQuery, JobOutcome, Lease, LinkPurpose, Marketplace, NewAuditEntry,
    NewInstance, NewJob, NewMarketplace, NewSchedule, Store, StoreError, Subject, Total, UserQuery,
};
use ferry_storage::{DatasetFinding, NewDataset, StageRow, StagedRows};
use futures_util::TryStreamExt;
use serde_json::json;

#[path = "store/hierarchy.rs"]
mod hierarchy;

use hierarchy::{an_audit_shows_only_when_whole, snapshots_switch_only_when_a_retrieval_completes};

ferry_storage::on_both_backends!(open =>
    migrations_apply_once,
    company_external_ids_are_unique_per_marketplace,
    user_emails_and_external_ids_are_unique_per_marketplace,
    an_offer_id_maps_to_one_active_edition,
    a_tenant_maps_to_one_company_per_instance,
    marketplaces_do_not_see_each_other,
    subscriptions_and_seats,
    a_lapsed_lease_passes_the_job_to_another_worker,
    concurrent_workers_never_share_a_job,
    cancelling_jobs,
    each_due_run_is_queued_once,
    scheduled_runs_never_pile_up,
    concurrent_schedulers_queue_a_due_run_once,
    company_pages_follow_name_order_and_search,
    user_pages_follow_email_order_and_search,
    an_invitation_activates_the_user_and_their_company_once,
    sessions_expire_and_suspension_signs_out,
    revoked_api_tokens_stop_working,
    five_failed_sign_ins_lock_an_account,
    parallel_sign_ins_cannot_pass_the_lock,
    a_new_link_or_a_new_password_ends_the_older_links,
    a_deleted_datasets_id_is_never_given_again,
    a_dataset_keeps_its_files_findings_and_staged_rows_until_deleted,
    snapshots_switch_only_when_a_retrieval_completes,
    an_audit_shows_only_when_whole,
);

async fn open(url: &str) -> Arc<dyn Store> {
    let store = ferry_storage::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

async fn marketplace(store: &Arc<dyn Store>, slug: &str) -> Marketplace {
    store
        .create_marketplace(&NewMarketplace {
            slug: Slug::parse(slug).expect("slug"),
            name: slug.to_uppercase(),
            kind: MarketplaceKind::Distributor,
            parent_id: None,
        })
        .await
        .expect("marketplace")
}

fn company(external_id: &str) -> NewCompany {
    NewCompany {
        external_id: Some(external_id.to_owned()),
        ..NewCompany::named(format!("Company {external_id}"), Origin::Manual)
    }
}

fn user(email: &str, external_id: &str) -> NewUser {
    NewUser {
        external_id: Some(external_id.to_owned()),
        ..NewUser::with_email(Email::parse(email).expect("email"), Origin::Manual)
    }
}

fn edition(product_id: i64, code: &str, offers: &[&str], active: bool) -> NewEdition {
    NewEdition {
        product_id,
        code: code.to_owned(),
        name: code.to_owned(),
        pricing_plan_id: format!("plan-{code}"),
        channel_sku: None,
        pricing_unit: PricingUnit::User,
        included_units: 1,
        billing_cycles: vec!["MONTHLY".into()],
        terms: vec!["P1M".into()],
        connector: Connector::None,
        offer_ids: offers
            .iter()
            .map(|o| OfferId::parse(o).expect("offer"))
            .collect(),
        active,
    }
}

fn instance(name: &str) -> NewInstance {
    NewInstance {
        name: name.to_owned(),
        model: "direct".into(),
        partner_tenant_id: "partner".into(),
        application_id: "app".into(),
        secret_encrypted: Some(vec![1, 2, 3]),
        refresh_token_encrypted: None,
        mpn_id: None,
        api_base_url: "http://127.0.0.1:1".into(),
        login_base_url: "http://127.0.0.1:1".into(),
    }
}

fn link(instance_id: i64, tenant: &str) -> TenantLink {
    TenantLink {
        instance_id,
        tenant_id: tenant.to_owned(),
        domain_prefix: None,
        reseller_mpn_id: None,
    }
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, key: &str) {
    match result {
        Err(StoreError::Conflict { key: k }) => {
            assert!(k.starts_with(key), "conflict names '{k}', expected '{key}'");
            let message = StoreError::Conflict { key: k }.to_string();
            assert!(
                message.contains(key),
                "message '{message}' does not name the key"
            );
        }
        other => panic!("expected a conflict on {key}, got {other:?}"),
    }
}

async fn migrations_apply_once(store: Arc<dyn Store>) {
    // `open` applied them; a second run finds nothing to do.
    assert_eq!(store.migrate().await.expect("migrate again"), 0);
    assert_eq!(store.pending_migrations().await.expect("pending"), 0);
}

async fn company_external_ids_are_unique_per_marketplace(store: Arc<dyn Store>) {
    let a = marketplace(&store, "a").await;
    let b = marketplace(&store, "b").await;
    store
        .create_company(a.id, &company("C-1"))
        .await
        .expect("first");
    assert_conflict(
        store.create_company(a.id, &company("C-1")).await,
        "company external id",
    );
    store
        .create_company(b.id, &company("C-1"))
        .await
        .expect("same id, other marketplace");
    // Companies without an external id do not collide.
    let unnamed = NewCompany::named("No id", Origin::Manual);
    store.create_company(a.id, &unnamed).await.expect("no id 1");
    store.create_company(a.id, &unnamed).await.expect("no id 2");
    assert_eq!(store.count_companies(a.id).await.expect("count"), 3);
}

async fn user_emails_and_external_ids_are_unique_per_marketplace(store: Arc<dyn Store>) {
    let a = marketplace(&store, "a").await;
    let b = marketplace(&store, "b").await;
    store
        .create_user(a.id, &user("ada@example.com", "U-1"))
        .await
        .expect("first");
    assert_conflict(
        store
            .create_user(a.id, &user("ADA@Example.com", "U-2"))
            .await,
        "user email",
    );
    assert_conflict(
        store
            .create_user(a.id, &user("grace@example.com", "U-1"))
            .await,
        "user external id",
    );
    store
        .create_user(b.id, &user("ada@example.com", "U-1"))
        .await
        .expect("other marketplace");
    let found = store
        .user_by_email(a.id, &Email::parse("Ada@EXAMPLE.com").expect("email"))
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found.external_id.as_deref(), Some("U-1"));
    assert_eq!(found.origin().expect("origin"), Origin::Manual);
}

async fn an_offer_id_maps_to_one_active_edition(store: Arc<dyn Store>) {
    let a = marketplace(&store, "a").await;
    let product = NewProduct {
        name: "Microsoft 365".into(),
        vendor: "Microsoft".into(),
    };
    let product = store.create_product(a.id, &product).await.expect("product");
    let basic = store
        .create_edition(
            a.id,
            &edition(product, "basic", &["CFQ7TTC0LH18:0001"], true),
        )
        .await
        .expect("edition");
    assert_conflict(
        store
            .create_edition(
                a.id,
                &edition(product, "basic-2", &["cfq7ttc0lh18:0001"], true),
            )
            .await,
        "offer id mapping",
    );
    // The failed edition was not half-written.
    let same_code = NewEdition {
        pricing_plan_id: "another-plan".into(),
        ..edition(product, "basic", &[], true)
    };
    assert_conflict(store.create_edition(a.id, &same_code).await, "edition code");
    // A retired edition may keep the same offer id on record.
    store
        .create_edition(
            a.id,
            &edition(product, "basic-old", &["CFQ7TTC0LH18:0001"], false),
        )
        .await
        .expect("inactive edition");
    let offer = OfferId::parse("cfq7ttc0lh18:0001").expect("offer");
    assert_eq!(
        store.edition_for_offer(a.id, &offer).await.expect("lookup"),
        Some(basic)
    );
}

async fn a_tenant_maps_to_one_company_per_instance(store: Arc<dyn Store>) {
    let a = marketplace(&store, "a").await;
    let first = store
        .create_instance(a.id, &instance("first"))
        .await
        .expect("instance");
    let second = store
        .create_instance(a.id, &instance("second"))
        .await
        .expect("instance");
    let c1 = store
        .create_company(a.id, &company("C-1"))
        .await
        .expect("c1");
    let c2 = store
        .create_company(a.id, &company("C-2"))
        .await
        .expect("c2");
    let tenant = "0f4c2b7e-1d2a-4f7e-9a51-7b4e1c0d2e3f";
    store
        .link_tenant(a.id, c1, &link(first, tenant))
        .await
        .expect("link");
    assert_conflict(
        store
            .link_tenant(a.id, c2, &link(first, &tenant.to_uppercase()))
            .await,
        "Microsoft tenant link",
    );
    assert_conflict(
        store
            .link_tenant(a.id, c1, &link(first, "another-tenant"))
            .await,
        "company tenant link",
    );
    store
        .link_tenant(a.id, c2, &link(second, tenant))
        .await
        .expect("other instance");
}

async fn marketplaces_do_not_see_each_other(store: Arc<dyn Store>) {
    let a = marketplace(&store, "a").await;
    let b = marketplace(&store, "b").await;
    let company_a = store
        .create_company(a.id, &company("C-1"))
        .await
        .expect("company");
    let user_b = store
        .create_user(b.id, &user("bob@example.com", "U-1"))
        .await
        .expect("user");
    assert!(
        store
            .company(b.id, company_a)
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(
        store
            .company(a.id, company_a)
            .await
            .expect("lookup")
            .is_some()
    );
    let roles = CompanyRoles {
        company_admin: true,
        ..CompanyRoles::default()
    };
    assert!(matches!(
        store
            .set_membership(a.id, UserId(user_b), CompanyId(company_a), roles)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .set_membership(b.id, UserId(user_b), CompanyId(company_a), roles)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.set_password(a.id, user_b, Some("x")).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn subscriptions_and_seats(store: Arc<dyn Store>) {
    let a = marketplace(&store, "a").await;
    let b = marketplace(&store, "b").await;
    let product = NewProduct {
        name: "Exchange".into(),
        vendor: "Microsoft".into(),
    };
    let product = store.create_product(a.id, &product).await.expect("product");
    let edition = store
        .create_edition(a.id, &edition(product, "p1", &[], true))
        .await
        .expect("edition");
    let company_id = store
        .create_company(a.id, &company("C-1"))
        .await
        .expect("company");
    let ada = store
        .create_user(a.id, &user("ada@example.com", "U-1"))
        .await
        .expect("user");
    let stranger = store
        .create_user(b.id, &user("eve@example.com", "U-9"))
        .await
        .expect("user");
    store
        .set_membership(
            a.id,
            UserId(ada),
            CompanyId(company_id),
            CompanyRoles::default(),
        )
        .await
        .expect("membership");
    let date = |s| {
        time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
            .expect("date")
    };
    let mut sub = NewSubscription {
        external_id: Some("S-1".into()),
        company_id,
        edition_id: edition,
        purchased_by: Some(ada),
        units: 5,
        start_date: Some(date("2024-03-01")),
        billing_start_date: Some(date("2024-04-01")),
        end_date: None,
        billing_cycle: Some("MONTHLY".into()),
        term: Some("P1M".into()),
        auto_renew: true,
        status: SubscriptionStatus::Active,
        vendor_subscription_id: Some("a1b2".into()),
        custom_attributes: [("PO".to_owned(), "42".to_owned())].into(),
        origin: Origin::Dataset(7),
    };
    let id = store
        .create_subscription(a.id, &sub)
        .await
        .expect("subscription");
    store
        .assign_seat(a.id, SubscriptionId(id), UserId(ada))
        .await
        .expect("seat");
    assert_conflict(
        store
            .assign_seat(a.id, SubscriptionId(id), UserId(ada))
            .await,
        "seat assignment",
    );
    assert!(matches!(
        store
            .assign_seat(a.id, SubscriptionId(id), UserId(stranger))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    sub.vendor_subscription_id = Some("c3d4".into());
    assert_conflict(
        store.create_subscription(a.id, &sub).await,
        "subscription external id",
    );
    sub.vendor_subscription_id = Some("a1b2".into());
    sub.external_id = Some("S-2".into());
    assert_conflict(
        store.create_subscription(a.id, &sub).await,
        "vendor subscription id",
    );
    sub.vendor_subscription_id = None;
    sub.purchased_by = Some(stranger);
    assert!(matches!(
        store.create_subscription(a.id, &sub).await,
        Err(StoreError::NotFound { .. })
    ));
}

fn probe_job() -> NewJob {
    NewJob {
        marketplace_id: None,
        kind: "probe".into(),
        payload: json!({"steps": 3}),
        max_attempts: 3,
        run_at: None,
    }
}

fn step(job_id: i64, n: i64) -> Checkpoint {
    Checkpoint {
        data: json!({ "next": n }),
        progress: Progress {
            done: n,
            total: Some(3),
            message: None,
        },
        audit: Some(NewAuditEntry {
            marketplace_id: None,
            actor: "test".into(),
            action: format!("step {n}"),
            entity_type: "job".into(),
            entity_id: Some(job_id),
            changes: json!({}),
        }),
    }
}

async fn a_lapsed_lease_passes_the_job_to_another_worker(store: Arc<dyn Store>) {
    let id = store.enqueue_job(&probe_job()).await.expect("enqueue");
    // Worker A takes the job with a lease that has already lapsed, as if it had died.
    let job = store
        .claim_job("worker-a", -1_000)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(
        (job.id, job.attempts, job.state),
        (id, 1, JobState::Running)
    );
    let a = Lease {
        job_id: id,
        owner: "worker-a".into(),
    };
    store
        .checkpoint(&a, &step(id, 1))
        .await
        .expect("checkpoint while still owner");

    let job = store
        .claim_job("worker-b", 60_000)
        .await
        .expect("claim")
        .expect("lapsed job");
    assert_eq!((job.id, job.attempts), (id, 2));
    assert_eq!(
        job.checkpoint,
        Some(json!({ "next": 1 })),
        "resumes from the checkpoint"
    );
    assert_eq!(job.progress_done, 1);
    assert!(
        store
            .claim_job("worker-c", 60_000)
            .await
            .expect("claim")
            .is_none(),
        "leased to b"
    );

    // A, back from the dead, can no longer touch the job; nothing it tries is written.
    assert!(matches!(
        store.checkpoint(&a, &step(id, 2)).await,
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(matches!(
        store.heartbeat(&a, 1_000).await,
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(matches!(
        store.finish_job(&a, &JobOutcome::Succeeded).await,
        Err(StoreError::LeaseLost { .. })
    ));

    let b = Lease {
        job_id: id,
        owner: "worker-b".into(),
    };
    store
        .checkpoint(&b, &step(id, 2))
        .await
        .expect("b checkpoints");
    store
        .finish_job(&b, &JobOutcome::Succeeded)
        .await
        .expect("b finishes");
    let job = store.job(id).await.expect("get").expect("job");
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(job.lease_owner.as_deref(), Some("worker-b"));
    let steps = store.audit_trail("job", id).await.expect("audit");
    let steps: Vec<&str> = steps.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        steps,
        ["step 1", "step 2"],
        "the refused step left no trace"
    );
}

async fn concurrent_workers_never_share_a_job(store: Arc<dyn Store>) {
    let mut ids = HashSet::new();
    for _ in 0..40 {
        ids.insert(store.enqueue_job(&probe_job()).await.expect("enqueue"));
    }
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let store = store.clone();
        workers.spawn(async move {
            let owner = format!("worker-{w}");
            let mut claimed = Vec::new();
            while let Some(job) = store.claim_job(&owner, 60_000).await.expect("claim") {
                let lease = Lease {
                    job_id: job.id,
                    owner: owner.clone(),
                };
                store
                    .finish_job(&lease, &JobOutcome::Succeeded)
                    .await
                    .expect("finish");
                claimed.push(job.id);
            }
            claimed
        });
    }
    let mut seen = Vec::new();
    while let Some(claimed) = workers.join_next().await {
        seen.extend(claimed.expect("worker"));
    }
    seen.sort_unstable();
    let mut expected: Vec<i64> = ids.into_iter().collect();
    expected.sort_unstable();
    assert_eq!(seen, expected, "every job claimed exactly once");
}

/// A probe every second whose first run was due an hour ago (so its jobs may be claimed now).
fn probe_schedule() -> (NewSchedule, i64) {
    let first = ferry_storage::now().millis() - 3_600_000;
    let schedule = NewSchedule {
        kind: "probe".into(),
        scope: "test".into(),
        marketplace_id: None,
        payload: json!({ "steps": 0 }),
        every_ms: 1_000,
        max_attempts: 3,
        first_run_at: Timestamp(first),
    };
    (schedule, first)
}

async fn finish(store: &Arc<dyn Store>, job_id: i64) {
    let job = store
        .claim_job("scheduler-test", 60_000)
        .await
        .expect("claim");
    assert_eq!(
        job.map(|j| j.id),
        Some(job_id),
        "the scheduled job is claimable"
    );
    let lease = Lease {
        job_id,
        owner: "scheduler-test".into(),
    };
    store
        .finish_job(&lease, &JobOutcome::Succeeded)
        .await
        .expect("finish");
}

async fn run_at(store: &Arc<dyn Store>, job_id: i64) -> i64 {
    let job = store.job(job_id).await.expect("job").expect("queued job");
    assert_eq!(job.kind, "probe");
    assert_eq!(job.payload, json!({ "steps": 0 }));
    job.run_at.millis()
}

async fn each_due_run_is_queued_once(store: Arc<dyn Store>) {
    let (schedule, first) = probe_schedule();
    store.set_schedule(&schedule).await.expect("schedule");
    let at = |ms: i64| Timestamp(first + ms);
    assert!(
        store.queue_due_runs(at(-1)).await.expect("tick").is_empty(),
        "not due yet"
    );

    let queued = store.queue_due_runs(at(0)).await.expect("tick");
    assert_eq!(queued.len(), 1, "due: queued");
    assert_eq!(
        run_at(&store, queued[0]).await,
        first,
        "the job stands for its slot"
    );
    assert!(
        store.queue_due_runs(at(0)).await.expect("tick").is_empty(),
        "queued once"
    );
    finish(&store, queued[0]).await;
    assert!(
        store
            .queue_due_runs(at(999))
            .await
            .expect("tick")
            .is_empty(),
        "next slot not due"
    );

    let queued = store.queue_due_runs(at(1_000)).await.expect("tick");
    assert_eq!(queued.len(), 1, "the next slot");
    assert_eq!(run_at(&store, queued[0]).await, first + 1_000);

    // Setting the schedule again changes what it runs, not when.
    store.set_schedule(&schedule).await.expect("schedule again");
    let schedules = store.schedules().await.expect("schedules");
    assert_eq!(schedules.len(), 1);
    assert_eq!(schedules[0].next_run_at.millis(), first + 2_000);
    assert_eq!(schedules[0].last_job_id, Some(queued[0]));

    store
        .remove_schedule("probe", "test")
        .await
        .expect("remove");
    finish(&store, queued[0]).await;
    assert!(
        store
            .queue_due_runs(at(10_000))
            .await
            .expect("tick")
            .is_empty(),
        "removed"
    );
}

async fn scheduled_runs_never_pile_up(store: Arc<dyn Store>) {
    let (schedule, first) = probe_schedule();
    store.set_schedule(&schedule).await.expect("schedule");
    let at = |ms: i64| Timestamp(first + ms);
    let queued = store.queue_due_runs(at(0)).await.expect("tick");
    assert_eq!(queued.len(), 1);
    // The run takes five intervals: nothing more is queued meanwhile.
    for ms in [1_000, 2_500, 5_000] {
        assert!(
            store.queue_due_runs(at(ms)).await.expect("tick").is_empty(),
            "a run is queued while the last one has not finished ({ms} ms)"
        );
    }
    finish(&store, queued[0]).await;
    // Once it has finished, one run for the slots missed, then the rhythm again.
    let queued = store.queue_due_runs(at(5_500)).await.expect("tick");
    assert_eq!(queued.len(), 1, "one run for the missed slots");
    assert_eq!(run_at(&store, queued[0]).await, first + 1_000);
    finish(&store, queued[0]).await;
    assert!(
        store
            .queue_due_runs(at(5_900))
            .await
            .expect("tick")
            .is_empty()
    );
    let queued = store.queue_due_runs(at(6_000)).await.expect("tick");
    assert_eq!(
        run_at(&store, queued[0]).await,
        first + 6_000,
        "back in rhythm"
    );
}

async fn concurrent_schedulers_queue_a_due_run_once(store: Arc<dyn Store>) {
    let (schedule, first) = probe_schedule();
    store.set_schedule(&schedule).await.expect("schedule");
    let mut schedulers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        schedulers.spawn(async move { store.queue_due_runs(Timestamp(first)).await });
    }
    let mut queued = Vec::new();
    while let Some(result) = schedulers.join_next().await {
        queued.extend(result.expect("scheduler").expect("tick"));
    }
    assert_eq!(queued.len(), 1, "one job for one due run: {queued:?}");
}

async fn cancelling_jobs(store: Arc<dyn Store>) {
    let queued = store.enqueue_job(&probe_job()).await.expect("enqueue");
    assert_eq!(
        store.cancel_job(queued).await.expect("cancel"),
        Some(JobState::Cancelled)
    );
    assert!(
        store.claim_job("w", 60_000).await.expect("claim").is_none(),
        "cancelled jobs never run"
    );

    let running = store.enqueue_job(&probe_job()).await.expect("enqueue");
    store
        .claim_job("w", 60_000)
        .await
        .expect("claim")
        .expect("job");
    let lease = Lease {
        job_id: running,
        owner: "w".into(),
    };
    assert!(
        !store
            .heartbeat(&lease, 60_000)
            .await
            .expect("beat")
            .cancel_requested
    );
    assert_eq!(
        store.cancel_job(running).await.expect("cancel"),
        Some(JobState::Running)
    );
    assert!(
        store
            .heartbeat(&lease, 60_000)
            .await
            .expect("beat")
            .cancel_requested
    );
    store
        .finish_job(&lease, &JobOutcome::Cancelled)
        .await
        .expect("stop");
    assert_eq!(
        store.job(running).await.expect("get").map(|j| j.state),
        Some(JobState::Cancelled)
    );
    assert_eq!(store.cancel_job(999_999).await.expect("cancel"), None);
}

async fn company_pages_follow_name_order_and_search(store: Arc<dyn Store>) {
    let a = marketplace(&store, "a").await;
    let b = marketplace(&store, "b").await;
    for (i, name) in ["delta", "Alpha", "charlie", "Bravo", "echo", "alpha"]
        .iter()
        .enumerate()
    {
        let company = NewCompany {
            external_id: Some(format!("C-{i}")),
            ..NewCompany::named(*name, Origin::Manual)
        };
        store.create_company(a.id, &company).await.expect("company");
    }
    store
        .create_company(b.id, &company("B-1"))
        .await
        .expect("other marketplace");
    let mut query = CompanyQuery {
        limit: 4,
        ..CompanyQuery::default()
    };
    let first = store.companies(a.id, &query).await.expect("page 1");
    let names: Vec<&str> = first.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Alpha", "alpha", "Bravo", "charlie"]);
    query.after = first.last().map(|c| c.key());
    let second = store.companies(a.id, &query).await.expect("page 2");
    let names: Vec<&str> = second.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["delta", "echo"]);
    let back = CompanyQuery {
        after: None,
        before: second.first().map(|c| c.key()),
        ..query.clone()
    };
    let names: Vec<String> = store
        .companies(a.id, &back)
        .await
        .expect("back to page 1")
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(
        names,
        ["Alpha", "alpha", "Bravo", "charlie"],
        "in name order"
    );
    assert_eq!(
        store
            .count_matching_companies(a.id, &back, 100)
            .await
            .expect("count"),
        Total::Exactly(6),
        "the total is the list's, not the page's"
    );
    assert_eq!(
        store
            .count_matching_companies(a.id, &back, 5)
            .await
            .expect("count"),
        Total::MoreThan(5)
    );

    let search = |term: &str| CompanyQuery {
        search: Some(term.into()),
        limit: 10,
        ..CompanyQuery::default()
    };
    let found = store
        .companies(a.id, &search("CHAR"))
        .await
        .expect("search");
    assert_eq!(found.len(), 1);
    let inside = store
        .companies(a.id, &search("harl"))
        .await
        .expect("search");
    assert_eq!(
        inside.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["charlie"],
        "any part of a name, from three characters"
    );
    assert!(
        store
            .companies(a.id, &search("ar"))
            .await
            .expect("search")
            .is_empty(),
        "shorter terms match names from their start"
    );
    let found = store.companies(a.id, &search("LPH")).await.expect("search");
    assert_eq!(
        found.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["Alpha", "alpha"]
    );
    for (term, total) in [("harl", 1), ("LPH", 2), ("al", 2), ("zz", 0)] {
        assert_eq!(
            store
                .count_matching_companies(a.id, &search(term), 100)
                .await
                .expect("count"),
            Total::Exactly(total),
            "{term}"
        );
    }
    assert_eq!(
        store.companies(a.id, &search("C-4")).await.expect("by id")[0].name,
        "echo"
    );
    assert!(
        store
            .companies(a.id, &search("%"))
            .await
            .expect("literal")
            .is_empty()
    );
    // A term in more companies than the search sorts at once is found walking the name order:
    // the same page, the same total.
    let frequent: Vec<NewCompany> = (0..1_010)
        .map(|i| NewCompany::named(format!("Zulu {i:04} Harbour"), Origin::Manual))
        .chain([NewCompany::named("Harbour Arms", Origin::Manual)])
        .collect();
    store
        .insert_companies(a.id, &frequent)
        .await
        .expect("insert");
    let page = store
        .companies(a.id, &search("HARBOUR"))
        .await
        .expect("search");
    assert_eq!(
        page.iter()
            .map(|c| c.name.as_str())
            .take(3)
            .collect::<Vec<_>>(),
        ["Harbour Arms", "Zulu 0000 Harbour", "Zulu 0001 Harbour"]
    );
    assert_eq!(page.len(), 10);
    // Past the companies a walk tests, the hits are sorted: the same page again.
    let before: Vec<NewCompany> = (0..5_100)
        .map(|i| NewCompany::named(format!("Aardvark {i:04}"), Origin::Manual))
        .collect();
    store.insert_companies(a.id, &before).await.expect("insert");
    let again = store
        .companies(a.id, &search("HARBOUR"))
        .await
        .expect("search");
    assert_eq!(
        again.iter().map(|c| c.id).collect::<Vec<_>>(),
        page.iter().map(|c| c.id).collect::<Vec<_>>()
    );
    assert_eq!(
        store
            .count_matching_companies(a.id, &search("harbour"), 1_000)
            .await
            .expect("count"),
        Total::MoreThan(1_000)
    );
    let pending = CompanyQuery {
        status: Some(CompanyStatus::Active),
        limit: 10,
        ..CompanyQuery::default()
    };
    assert!(
        store
            .companies(a.id, &pending)
            .await
            .expect("filter")
            .is_empty()
    );
}

async fn user_pages_follow_email_order_and_search(store: Arc<dyn Store>) {
    let a = marketplace(&store, "a").await;
    let b = marketplace(&store, "b").await;
    let people = [
        ("dana@northwind.example", "Dana", "Whitfield", "U-1"),
        ("ada@example.com", "Ada", "Lovelace", "U-2"),
        ("cy@example.com", "Cy", "Twombly", "U-3"),
        ("bea@example.com", "Bea", "Whitley", "U-4"),
    ];
    for (email, first, last, id) in people {
        let person = NewUser {
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            ..user(email, id)
        };
        store.create_user(a.id, &person).await.expect("user");
    }
    store
        .create_user(b.id, &user("whit@elsewhere.example", "U-9"))
        .await
        .expect("other marketplace");
    let emails = |users: Vec<ferry_storage::User>| -> Vec<String> {
        users.into_iter().map(|u| u.email.to_string()).collect()
    };
    let search = |term: &str, limit: i64| UserQuery {
        search: Some(term.into()),
        limit,
        ..UserQuery::default()
    };
    for (term, expected) in [
        ("whit", vec!["bea@example.com", "dana@northwind.example"]),
        ("DANA WHIT", vec!["dana@northwind.example"]),
        ("northwind", vec!["dana@northwind.example"]),
        ("u-3", vec!["cy@example.com"]),
        ("cy", vec!["cy@example.com"]),
        ("%", vec![]),
    ] {
        let found = store.users(a.id, &search(term, 10)).await.expect("search");
        assert_eq!(emails(found), expected, "{term}");
        assert_eq!(
            store
                .count_matching_users(a.id, &search(term, 10), 100)
                .await
                .expect("count"),
            Total::Exactly(i64::try_from(expected.len()).expect("small")),
            "{term}"
        );
    }

    let page = UserQuery {
        limit: 2,
        ..UserQuery::default()
    };
    let first = store.users(a.id, &page).await.expect("page 1");
    let second = UserQuery {
        after: first.last().map(|u| u.email.to_string()),
        ..page.clone()
    };
    let second = store.users(a.id, &second).await.expect("page 2");
    assert_eq!(
        emails(second.clone()),
        ["cy@example.com", "dana@northwind.example"]
    );
    let back = UserQuery {
        before: second.first().map(|u| u.email.to_string()),
        ..page.clone()
    };
    assert_eq!(
        emails(store.users(a.id, &back).await.expect("back")),
        ["ada@example.com", "bea@example.com"],
        "in e-mail order"
    );
    assert_eq!(
        store
            .count_matching_users(a.id, &back, 3)
            .await
            .expect("count"),
        Total::MoreThan(3)
    );

    // A term in more users than the search sorts at once is found walking the e-mail order.
    for i in 0..1_010 {
        let email = format!("z{i:04}@frequent.example");
        store
            .create_user(a.id, &user(&email, &format!("F-{i}")))
            .await
            .expect("user");
    }
    let page = store
        .users(a.id, &search("frequent", 3))
        .await
        .expect("search");
    assert_eq!(
        emails(page),
        [
            "z0000@frequent.example",
            "z0001@frequent.example",
            "z0002@frequent.example"
        ]
    );

    // The index follows changes: a renamed user is found by the new name only.
    let bea = store
        .user_by_email(a.id, &Email::parse("bea@example.com").expect("email"))
        .await
        .expect("get")
        .expect("bea");
    let renamed = NewUser {
        first_name: Some("Bea".into()),
        last_name: Some("Hartley".into()),
        ..user("bea@example.com", "U-4")
    };
    let audit = NewAuditEntry {
        marketplace_id: Some(a.id),
        actor: "test".into(),
        action: "user.updated".into(),
        entity_type: "user".into(),
        entity_id: Some(bea.id),
        changes: serde_json::json!({}),
    };
    store
        .update_user(a.id, bea.id, &renamed, &audit)
        .await
        .expect("rename");
    assert_eq!(
        emails(
            store
                .users(a.id, &search("whit", 10))
                .await
                .expect("search")
        ),
        ["dana@northwind.example"]
    );
    assert_eq!(
        emails(
            store
                .users(a.id, &search("hartl", 10))
                .await
                .expect("search")
        ),
        ["bea@example.com"]
    );
}

async fn an_invitation_activates_the_user_and_their_company_once(store: Arc<dyn Store>) {
    let a = marketplace(&store, "a").await;
    let company_id = store
        .create_company(a.id, &company("C-1"))
        .await
        .expect("company");
    let ada = store
        .create_user(a.id, &user("ada@example.com", "U-1"))
        .await
        .expect("user");
    store
        .set_membership(
            a.id,
            UserId(ada),
            CompanyId(company_id),
            CompanyRoles::default(),
        )
        .await
        .expect("member");
    let now = Timestamp(1_000);
    store
        .create_user_link(
            b"token-hash",
            ada,
            LinkPurpose::Invitation,
            Timestamp(2_000),
        )
        .await
        .expect("link");
    let shown = store
        .link_user(b"token-hash", LinkPurpose::Invitation, now)
        .await
        .expect("peek");
    assert_eq!(shown.map(|u| u.id), Some(ada));
    assert!(
        store
            .link_user(b"token-hash", LinkPurpose::PasswordReset, now)
            .await
            .expect("peek")
            .is_none()
    );
    let redeemed = store
        .redeem_link(b"token-hash", LinkPurpose::Invitation, "hash", now)
        .await
        .expect("redeem")
        .expect("valid link");
    assert_eq!(redeemed.status, UserStatus::Active);
    let company = store
        .company(a.id, company_id)
        .await
        .expect("get")
        .expect("company");
    assert_eq!(company.status, CompanyStatus::Active);
    assert!(
        store
            .redeem_link(b"token-hash", LinkPurpose::Invitation, "x", now)
            .await
            .expect("again")
            .is_none()
    );
    let account = store
        .account(Subject::User {
            id: ada,
            marketplace_id: a.id,
        })
        .await
        .expect("account");
    assert!(account.is_some());
    let credentials = store
        .credentials_by_email(&Email::parse("ada@example.com").expect("email"))
        .await
        .expect("creds");
    assert_eq!(credentials.len(), 1);
    assert_eq!(credentials[0].password_hash, "hash");
    // An expired link is refused.
    store
        .create_user_link(b"old", ada, LinkPurpose::PasswordReset, Timestamp(500))
        .await
        .expect("link");
    assert!(
        store
            .redeem_link(b"old", LinkPurpose::PasswordReset, "y", now)
            .await
            .expect("late")
            .is_none()
    );
}

async fn sessions_expire_and_suspension_signs_out(store: Arc<dyn Store>) {
    let a = marketplace(&store, "a").await;
    let staff = NewUser {
        status: UserStatus::Active,
        ..user("sam@example.com", "U-1")
    };
    let sam = store
        .create_staff(a.id, &staff, "hash", Role::SalesSupport)
        .await
        .expect("staff");
    let subject = Subject::User {
        id: sam,
        marketplace_id: a.id,
    };
    store
        .create_session(b"s1", subject, Timestamp(10_000))
        .await
        .expect("session");
    assert_eq!(
        store
            .session_subject(b"s1", Timestamp(9_999))
            .await
            .expect("get"),
        Some(subject)
    );
    assert_eq!(
        store
            .session_subject(b"s1", Timestamp(10_000))
            .await
            .expect("get"),
        None
    );
    let account = store
        .account(subject)
        .await
        .expect("account")
        .expect("active");
    assert_eq!(account.roles, [Role::SalesSupport]);
    store
        .set_user_status(a.id, sam, UserStatus::Suspended)
        .await
        .expect("suspend");
    assert_eq!(
        store
            .session_subject(b"s1", Timestamp(9_999))
            .await
            .expect("get"),
        None
    );
    assert!(store.account(subject).await.expect("account").is_none());
    let listed = store
        .users(
            a.id,
            &UserQuery {
                limit: 10,
                ..UserQuery::default()
            },
        )
        .await
        .expect("users");
    assert_eq!(listed[0].status, UserStatus::Suspended);
}

async fn revoked_api_tokens_stop_working(store: Arc<dyn Store>) {
    let a = marketplace(&store, "a").await;
    let id = store
        .create_api_token(a.id, "ci", Role::SalesSupport, b"secret-hash")
        .await
        .expect("token");
    let token = store
        .api_token(b"secret-hash")
        .await
        .expect("get")
        .expect("active");
    assert_eq!(
        (token.id, token.role, token.marketplace_id),
        (id, Role::SalesSupport, a.id)
    );
    assert!(token.last_used_at.is_some());
    store.revoke_api_token(a.id, id).await.expect("revoke");
    assert!(
        store
            .api_token(b"secret-hash")
            .await
            .expect("get")
            .is_none()
    );
    let b = marketplace(&store, "b").await;
    assert!(matches!(
        store.revoke_api_token(b.id, id).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn a_new_link_or_a_new_password_ends_the_older_links(store: Arc<dyn Store>) {
    let a = marketplace(&store, "a").await;
    let ada = store
        .create_user(a.id, &user("ada@example.com", "U-1"))
        .await
        .expect("user");
    let (now, later) = (Timestamp(1_000), Timestamp(9_000_000));
    let link = |token: &'static [u8]| {
        let store = store.clone();
        async move {
            store
                .create_user_link(token, ada, LinkPurpose::PasswordReset, later)
                .await
                .expect("link");
        }
    };
    let redeems = |token: &'static [u8]| {
        let store = store.clone();
        async move {
            store
                .redeem_link(token, LinkPurpose::PasswordReset, "hash", now)
                .await
                .expect("redeem")
                .is_some()
        }
    };
    link(b"first").await;
    link(b"second").await;
    assert!(
        !redeems(b"first").await,
        "a newer reset ends the one before"
    );
    link(b"third").await;
    store
        .create_user_link(b"invited", ada, LinkPurpose::Invitation, later)
        .await
        .expect("invitation");
    assert!(redeems(b"third").await);
    assert!(
        store
            .redeem_link(b"invited", LinkPurpose::Invitation, "other", now)
            .await
            .expect("redeem")
            .is_none(),
        "a password set ends the other open links"
    );
    link(b"fourth").await;
    store
        .set_password(a.id, ada, Some("changed"))
        .await
        .expect("password");
    assert!(
        !redeems(b"fourth").await,
        "a changed password ends open resets"
    );
}

async fn a_deleted_datasets_id_is_never_given_again(store: Arc<dyn Store>) {
    let a = marketplace(&store, "a").await;
    let new = |name: &str| NewDataset {
        marketplace_id: a.id,
        kind: DatasetKind::Migration,
        name: name.to_owned(),
        provision: false,
        review: false,
        created_by_user: None,
        created_by_company: None,
        creator: "ops".to_owned(),
    };
    let first = store.create_dataset(&new("first")).await.expect("dataset");
    store.delete_dataset(first.key()).await.expect("delete");
    let second = store.create_dataset(&new("second")).await.expect("dataset");
    assert!(second.id > first.id, "{} after {}", second.id, first.id);
}

const MINUTE: i64 = 60_000;

async fn claim(store: &Arc<dyn Store>, account: &str, minute: i64) -> SignInAttempt {
    store
        .claim_sign_in_attempt(
            account,
            &SignInThrottle::default(),
            Timestamp(minute * MINUTE),
        )
        .await
        .expect("claim")
}

async fn five_failed_sign_ins_lock_an_account(store: Arc<dyn Store>) {
    for minute in 0..5 {
        assert_eq!(
            claim(&store, "a@x.example", minute).await,
            SignInAttempt::Allowed
        );
    }
    let locked = SignInAttempt::LockedUntil(Timestamp(4 * MINUTE + 15 * MINUTE));
    assert_eq!(claim(&store, "a@x.example", 5).await, locked);
    assert_eq!(
        claim(&store, "a@x.example", 18).await,
        locked,
        "still locked"
    );
    assert_eq!(
        claim(&store, "b@x.example", 5).await,
        SignInAttempt::Allowed,
        "other accounts are not affected"
    );
    for minute in 19..24 {
        assert_eq!(
            claim(&store, "a@x.example", minute).await,
            SignInAttempt::Allowed,
            "the lock is over and the count starts again"
        );
    }
    // Failures older than the window are forgotten.
    for minute in [0, 1, 2, 3, 30] {
        assert_eq!(
            claim(&store, "c@x.example", minute).await,
            SignInAttempt::Allowed
        );
    }
    // A right password clears the count.
    for minute in 0..4 {
        claim(&store, "d@x.example", minute).await;
    }
    store
        .clear_sign_in_failures("d@x.example")
        .await
        .expect("clear");
    for minute in 4..9 {
        assert_eq!(
            claim(&store, "d@x.example", minute).await,
            SignInAttempt::Allowed
        );
    }
}

async fn parallel_sign_ins_cannot_pass_the_lock(store: Arc<dyn Store>) {
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..41 {
        let store = store.clone();
        attempts.spawn(async move { claim(&store, "a@x.example", 0).await });
    }
    let allowed = attempts
        .join_all()
        .await
        .into_iter()
        .filter(|a| *a == SignInAttempt::Allowed)
        .count();
    assert_eq!(
        allowed, 5,
        "41 attempts at once: five are checked, the rest refused"
    );
}

async fn a_dataset_keeps_its_files_findings_and_staged_rows_until_deleted(store: Arc<dyn Store>) {
    let market = marketplace(&store, "north").await;
    let new = NewDataset {
        marketplace_id: market.id,
        kind: DatasetKind::Migration,
        name: "Spring import".to_owned(),
        provision: false,
        review: true,
        created_by_user: None,
        created_by_company: None,
        creator: "ops@north.example".to_owned(),
    };
    let dataset = store.create_dataset(&new).await.expect("create");
    assert_eq!(dataset.state, DatasetState::Created);
    assert!(dataset.review && !dataset.provision);
    // One dataset validates at a time per marketplace.
    assert!(matches!(
        store.create_dataset(&new).await,
        Err(StoreError::Conflict {
            key: "dataset in validation"
        })
    ));
    let other = marketplace(&store, "south").await;
    let elsewhere = NewDataset {
        marketplace_id: other.id,
        ..new.clone()
    };
    store
        .create_dataset(&elsewhere)
        .await
        .expect("another marketplace is independent");
    assert_eq!(
        store
            .dataset_in_validation(market.id)
            .await
            .expect("in validation")
            .map(|d| d.id),
        Some(dataset.id)
    );

    let mut file = store
        .add_dataset_file(dataset.id, "users", "users.csv")
        .await
        .expect("file");
    for chunk in ["EXTERNAL_ID,EMAIL_ADDRESS\n", "u-1,a@north.example\n"] {
        file.write(chunk.into()).await.expect("chunk");
    }
    file.finish().await.expect("the file");
    store
        .finish_dataset_file(dataset.id, "users", "utf8", 45)
        .await
        .expect("finish");
    let files = store.dataset_files(dataset.id).await.expect("files");
    assert_eq!(
        (files.len(), files[0].bytes, files[0].file_name.as_str()),
        (1, 45, "users.csv")
    );
    let chunks: Vec<_> = store
        .read_dataset_file(dataset.id, "users")
        .await
        .expect("read")
        .try_collect()
        .await
        .expect("chunks");
    assert_eq!(
        chunks,
        [
            bytes::Bytes::from("EXTERNAL_ID,EMAIL_ADDRESS\n"),
            bytes::Bytes::from("u-1,a@north.example\n")
        ]
    );

    let columns = vec!["external_id".to_owned(), "email_address".to_owned()];
    let rows: Vec<StageRow> = (0..1_500)
        .map(|i| StageRow {
            line: i + 2,
            values: vec![Some(format!("u-{i}")), Some(format!("u{i}@north.example"))],
            custom: None,
            hash: format!("h{i}"),
        })
        .collect();
    store
        .stage_rows(
            dataset.id,
            &StagedRows {
                marketplace_id: market.id,
                table: "stage_users",
                columns: &columns,
                rows: &rows,
            },
        )
        .await
        .expect("stage");
    assert!(matches!(
        store
            .stage_rows(
                dataset.id,
                &StagedRows {
                    marketplace_id: market.id,
                    table: "stage_users; DROP TABLE users",
                    columns: &columns,
                    rows: &rows
                }
            )
            .await,
        Err(StoreError::Identifier(_))
    ));
    let finding = DatasetFinding {
        data_type: "users".to_owned(),
        line: 7,
        external_id: Some("u-5".to_owned()),
        severity: "error".to_owned(),
        code: "INVALID_EMAIL_ADDRESS".to_owned(),
        column_name: Some("EMAIL_ADDRESS".to_owned()),
        message: "EMAIL_ADDRESS must be an e-mail address".to_owned(),
        value: Some("nope".to_owned()),
    };
    store
        .add_findings(dataset.id, std::slice::from_ref(&finding))
        .await
        .expect("findings");
    assert_eq!(
        store
            .dataset_findings(dataset.id, 0, 10)
            .await
            .expect("findings"),
        vec![finding]
    );

    store
        .set_dataset_state(dataset.key(), DatasetState::Validated, None)
        .await
        .expect("state");
    store
        .create_dataset(&new)
        .await
        .expect("a validated dataset no longer blocks another");
    store.delete_dataset(dataset.key()).await.expect("delete");
    assert_eq!(store.dataset(dataset.key()).await.expect("read"), None);
    assert!(
        store
            .dataset_files(dataset.id)
            .await
            .expect("files")
            .is_empty()
    );
    assert!(
        store
            .dataset_findings(dataset.id, 0, 10)
            .await
            .expect("findings")
            .is_empty()
    );
}
