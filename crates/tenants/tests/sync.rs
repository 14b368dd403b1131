//! Company Sync against the Partner Center emulator's world, on both backends: tenants no
//! company holds wait in Pending Companies with their suggestions; what is decided of them
//! sticks through later syncs (nothing duplicated, automatic creation included); a tenant a
//! dataset linked stays out; two people linking one tenant give one link and one refusal;
//! with Company Sync off nothing runs, and on again it picks up; a due sync is queued once by
//! any number of schedulers, and *Sync now* joins it.

use std::sync::Arc;
use std::time::Duration;

use ferry_domain::PendingState;
use ferry_domain::{NewCompany, Origin, TenantLink};
use ferry_emulators::partner_center::Options;
use ferry_storage::{PendingCompany, PendingQuery, Store, StoreError, SyncSettings};
use ferry_tenants::sync::{SyncRefused, create_pending, save_settings, sync_now};

mod support;

use support::{Setup, open, setup};

ferry_storage::on_both_backends!(open =>
    a_sync_queues_tenants_and_decisions_stick,
    automatic_creation_never_duplicates_a_company,
    two_people_linking_one_tenant_give_one_link,
    company_sync_off_stops_everything,
    a_due_sync_is_queued_once_whatever_the_schedulers,
);

const CUSTOMERS: usize = 12;

async fn world(store: Arc<dyn Store>) -> Setup {
    setup(
        store,
        Options {
            seed: 21,
            customers: CUSTOMERS,
            resellers: 2,
            ..Options::default()
        },
    )
    .await
}

async fn turn_on(setup: &Setup, settings: SyncSettings) {
    let marketplace = setup
        .store
        .marketplace(setup.marketplace_id)
        .await
        .expect("read")
        .expect("marketplace");
    save_settings(
        &*setup.store,
        &marketplace,
        &SyncSettings {
            company_sync: true,
            ..settings
        },
        "user:1",
    )
    .await
    .expect("settings");
}

/// Runs a sync now and every job it leads to; answers the run's figures.
async fn sync(setup: &Setup) -> ferry_storage::SyncRun {
    let now = sync_now(&*setup.store, setup.marketplace_id)
        .await
        .expect("sync now");
    drain(setup).await;
    let run = setup
        .store
        .sync_run_of_job(setup.marketplace_id, now.job_id)
        .await
        .expect("read")
        .expect("the job's run");
    assert_eq!(run.state, "completed", "{:?}", run.error);
    run
}

async fn drain(setup: &Setup) {
    let worker = setup.worker(Duration::from_secs(30));
    while worker.run_next().await.expect("run") {}
}

async fn queue(setup: &Setup, state: PendingState) -> Vec<PendingCompany> {
    setup
        .store
        .pending_companies(
            setup.marketplace_id,
            &PendingQuery {
                state: Some(state),
                limit: 1_000,
                ..PendingQuery::default()
            },
        )
        .await
        .expect("queue")
}

async fn a_sync_queues_tenants_and_decisions_stick(store: Arc<dyn Store>) {
    let setup = world(store).await;
    let store = setup.store.clone();
    let m = setup.marketplace_id;
    turn_on(
        &setup,
        SyncSettings {
            invite_admins: true,
            ..SyncSettings::default()
        },
    )
    .await;
    let first = sync(&setup).await;
    let waiting = queue(&setup, PendingState::Pending).await;
    assert_eq!(waiting.len(), CUSTOMERS);
    assert_eq!(
        first.found.new_pending,
        i64::try_from(CUSTOMERS).unwrap_or(0)
    );
    assert!(
        waiting
            .iter()
            .all(|p| p.country.is_some() && p.contact_email.is_some())
    );

    // A company made by hand for the first tenant is suggested, and then linked.
    let by_hand = store
        .create_company(
            m,
            &NewCompany::named(format!("{} Ltd", waiting[0].name), Origin::Manual),
        )
        .await
        .expect("company");
    sync(&setup).await;
    let again = store
        .pending_company(m, waiting[0].id)
        .await
        .expect("read")
        .expect("pending");
    let best = again.suggestions.first().expect("a suggestion");
    assert_eq!(best.id, by_hand);
    assert!(again.matched());
    assert!(best.reasons[0].starts_with("the same name"), "{best:?}");
    let linked = store
        .link_pending(m, waiting[0].id, by_hand, "user:1")
        .await
        .expect("link");
    assert_eq!(linked.state, PendingState::Linked);
    assert_eq!(
        linked.company_name.as_deref(),
        Some(&*format!("{} Ltd", waiting[0].name))
    );
    let history = store
        .audit_trail("company", by_hand)
        .await
        .expect("history");
    assert!(history.iter().any(|e| e.action == "company.tenant_linked"));

    // The second is dismissed, the third created (its admin invited).
    assert_eq!(
        store
            .dismiss_pending(m, &[waiting[1].id], true, "user:1")
            .await
            .expect("dismiss"),
        1
    );
    let marketplace = store
        .marketplace(m)
        .await
        .expect("read")
        .expect("marketplace");
    let runs = create_pending(&*store, &marketplace, &[waiting[2].id], "user:1", None)
        .await
        .expect("create");
    assert_eq!(runs.len(), 1);
    drain(&setup).await;
    let created = store
        .pending_company(m, waiting[2].id)
        .await
        .expect("read")
        .expect("pending");
    assert_eq!(created.state, PendingState::Created, "{created:?}");
    let contact = created.contact_email.clone().expect("a contact");
    let outbox = store.outbox(Some(m), 100).await.expect("outbox");
    assert!(
        outbox
            .iter()
            .any(|e| e.to_address.eq_ignore_ascii_case(&contact)),
        "the admin {contact} is invited: {outbox:?}"
    );

    // Another sync changes none of it, and finds nothing new.
    let companies = store.count_companies(m).await.expect("count");
    let later = sync(&setup).await;
    assert_eq!(later.found.new_pending, 0);
    assert_eq!(store.count_companies(m).await.expect("count"), companies);
    assert_eq!(
        queue(&setup, PendingState::Pending).await.len(),
        CUSTOMERS - 3
    );
    assert_eq!(queue(&setup, PendingState::Dismissed).await.len(), 1);
    assert_eq!(queue(&setup, PendingState::Linked).await.len(), 1);
    assert_eq!(queue(&setup, PendingState::Created).await.len(), 1);
    // Undoing the dismissal brings it back.
    store
        .dismiss_pending(m, &[waiting[1].id], false, "user:1")
        .await
        .expect("undo");
    assert_eq!(
        queue(&setup, PendingState::Pending).await.len(),
        CUSTOMERS - 2
    );

    // A tenant a dataset linked leaves the queue at once, and is linked at the next sync.
    let dataset_company = store
        .create_company(m, &NewCompany::named("From a dataset", Origin::Manual))
        .await
        .expect("company");
    let link = TenantLink {
        instance_id: setup.instance.record.summary.id,
        tenant_id: waiting[3].tenant_id.clone(),
        domain_prefix: None,
        reseller_mpn_id: None,
    };
    store
        .link_tenant(m, dataset_company, &link)
        .await
        .expect("link");
    assert_eq!(
        queue(&setup, PendingState::Pending).await.len(),
        CUSTOMERS - 3
    );
    let settled = sync(&setup).await;
    assert_eq!(settled.found.linked, 1);
    let found = store
        .pending_company(m, waiting[3].id)
        .await
        .expect("read")
        .expect("pending");
    assert_eq!(
        (found.state, found.company_id),
        (PendingState::Linked, Some(dataset_company))
    );

    // A tenant Partner Center no longer lists stays in the queue, marked gone.
    let gone = &waiting[4];
    reqwest::Client::new()
        .delete(format!(
            "{}/_admin/customers/{}",
            setup.base, gone.tenant_id
        ))
        .send()
        .await
        .expect("admin")
        .error_for_status()
        .expect("removed");
    let after = sync(&setup).await;
    assert_eq!(after.found.gone, 1);
    let marked = store
        .pending_company(m, gone.id)
        .await
        .expect("read")
        .expect("pending");
    assert_eq!(marked.state, PendingState::Pending);
    assert!(marked.gone_at.is_some());
}

async fn automatic_creation_never_duplicates_a_company(store: Arc<dyn Store>) {
    let setup = world(store).await;
    let store = setup.store.clone();
    let m = setup.marketplace_id;
    // One tenant already has its company, made by hand and linked before any sync.
    turn_on(&setup, SyncSettings::default()).await;
    sync(&setup).await;
    let waiting = queue(&setup, PendingState::Pending).await;
    let by_hand = store
        .create_company(m, &NewCompany::named("Made by hand", Origin::Manual))
        .await
        .expect("company");
    store
        .link_pending(m, waiting[0].id, by_hand, "user:1")
        .await
        .expect("link");
    let before = store.count_companies(m).await.expect("count");

    turn_on(
        &setup,
        SyncSettings {
            create_automatically: true,
            ..SyncSettings::default()
        },
    )
    .await;
    let run = sync(&setup).await;
    assert_eq!(run.found.created, i64::try_from(CUSTOMERS - 1).unwrap_or(0));
    let after = store.count_companies(m).await.expect("count");
    assert!(after > before, "companies were created");
    assert!(queue(&setup, PendingState::Pending).await.is_empty());
    assert_eq!(
        queue(&setup, PendingState::Created).await.len(),
        CUSTOMERS - 1
    );
    // Nobody was invited: the setting is off.
    assert!(store.outbox(Some(m), 100).await.expect("outbox").is_empty());

    let again = sync(&setup).await;
    assert_eq!((again.found.created, again.found.new_pending), (0, 0));
    assert_eq!(store.count_companies(m).await.expect("count"), after);
    assert_eq!(
        store.linked_companies(m).await.expect("linked").len(),
        CUSTOMERS,
        "one company per tenant"
    );
}

async fn two_people_linking_one_tenant_give_one_link(store: Arc<dyn Store>) {
    let setup = world(store).await;
    let store = setup.store.clone();
    let m = setup.marketplace_id;
    turn_on(&setup, SyncSettings::default()).await;
    sync(&setup).await;
    let tenant = queue(&setup, PendingState::Pending).await.remove(0);
    let mut companies = Vec::new();
    for name in ["First choice", "Second choice"] {
        companies.push(
            store
                .create_company(m, &NewCompany::named(name, Origin::Manual))
                .await
                .expect("company"),
        );
    }
    let (a, b) = tokio::join!(
        store.link_pending(m, tenant.id, companies[0], "user:1"),
        store.link_pending(m, tenant.id, companies[1], "user:2"),
    );
    let outcomes = [a.is_ok(), b.is_ok()];
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "{a:?} {b:?}");
    let refused = if a.is_ok() { b } else { a };
    assert!(
        matches!(refused, Err(StoreError::Conflict { .. })),
        "{refused:?}"
    );
    let links: Vec<_> = store
        .linked_companies(m)
        .await
        .expect("linked")
        .into_iter()
        .filter(|l| l.tenant_id == tenant.tenant_id)
        .collect();
    assert_eq!(links.len(), 1);
}

async fn company_sync_off_stops_everything(store: Arc<dyn Store>) {
    let setup = world(store).await;
    let store = setup.store.clone();
    let m = setup.marketplace_id;
    assert!(matches!(sync_now(&*store, m).await, Err(SyncRefused::Off)));
    turn_on(&setup, SyncSettings::default()).await;
    assert_eq!(store.schedules().await.expect("schedules").len(), 1);
    // Sync now twice: the second joins the first.
    let first = sync_now(&*store, m).await.expect("now");
    let second = sync_now(&*store, m).await.expect("again");
    assert_eq!((second.job_id, second.joined), (first.job_id, true));
    // Turned off before it ran: the job does nothing, and no schedule is left.
    let marketplace = store
        .marketplace(m)
        .await
        .expect("read")
        .expect("marketplace");
    save_settings(&*store, &marketplace, &SyncSettings::default(), "user:1")
        .await
        .expect("off");
    assert!(store.schedules().await.expect("schedules").is_empty());
    drain(&setup).await;
    assert!(store.sync_runs(m, 10).await.expect("runs").is_empty());
    assert!(queue(&setup, PendingState::Pending).await.is_empty());
    assert!(matches!(sync_now(&*store, m).await, Err(SyncRefused::Off)));
    // On again, it picks up.
    turn_on(&setup, SyncSettings::default()).await;
    sync(&setup).await;
    assert_eq!(queue(&setup, PendingState::Pending).await.len(), CUSTOMERS);
}

async fn a_due_sync_is_queued_once_whatever_the_schedulers(store: Arc<dyn Store>) {
    let setup = world(store).await;
    let store = setup.store.clone();
    turn_on(
        &setup,
        SyncSettings {
            interval_minutes: 15,
            ..SyncSettings::default()
        },
    )
    .await;
    let due = ferry_domain::Timestamp(ferry_storage::now().millis() + 16 * 60_000);
    let (a, b, c) = tokio::join!(
        store.queue_due_runs(due),
        store.queue_due_runs(due),
        store.queue_due_runs(due),
    );
    let queued: Vec<i64> = [a, b, c]
        .into_iter()
        .flat_map(|r| r.expect("tick"))
        .collect();
    assert_eq!(queued.len(), 1, "{queued:?}");
    let now = sync_now(&*store, setup.marketplace_id).await.expect("now");
    assert_eq!((now.job_id, now.joined), (queued[0], true));
    // Queued for its slot, a quarter of an hour on: it runs then.
    let job = store.job(queued[0]).await.expect("read").expect("the job");
    assert_eq!(job.kind, "sync.companies");
}
