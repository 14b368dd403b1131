//! User Sync from Partner Center against the emulator, on both backends: a linked company's
//! users are created (nobody e-mailed) as its members; a user renamed at the source is updated,
//! one deleted is suspended, and one back is reactivated only if User Sync suspended them; an
//! e-mail another user has is a conflict and nothing is merged; two runs at once create nobody
//! twice; a migrated user who has not registered is reminded once, two days on.

use std::sync::Arc;
use std::time::Duration;

use ferry_domain::{Email, NewCompany, NewUser, Origin, TenantLink, UserStatus};
use ferry_emulators::partner_center::Options;
use ferry_jobs::BackgroundJob;
use ferry_storage::{Store, SyncSettings, UserQuery};
use ferry_tenants::users::UserSync;
use serde_json::Value;

mod support;

use support::{Setup, open, setup};

ferry_storage::on_both_backends!(open =>
    users_follow_their_source,
    an_e_mail_another_user_has_is_a_conflict,
    two_runs_at_once_create_nobody_twice,
    a_registration_reminder_goes_out_once_two_days_on,
);

/// A world, User Sync on, and a company linked to the first tenant with users.
async fn linked(store: Arc<dyn Store>) -> (Setup, i64, Value) {
    let setup = setup(
        store,
        Options {
            seed: 33,
            customers: 6,
            resellers: 1,
            ..Options::default()
        },
    )
    .await;
    let world: Value = serde_json::from_str(&setup.emulator.world_json()).expect("world");
    let customer = world["customers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["users"].as_array().is_some_and(|u| u.len() >= 3))
        .expect("a tenant with users")
        .clone();
    let m = setup.marketplace_id;
    let company = setup
        .store
        .create_company(m, &NewCompany::named("Linked", Origin::Manual))
        .await
        .expect("company");
    let link = TenantLink {
        instance_id: setup.instance.record.summary.id,
        tenant_id: customer["id"].as_str().expect("id").to_owned(),
        domain_prefix: None,
        reseller_mpn_id: None,
    };
    setup
        .store
        .link_tenant(m, company, &link)
        .await
        .expect("link");
    let marketplace = setup.store.marketplace(m).await.expect("read").expect("m");
    ferry_tenants::sync::save_settings(
        &*setup.store,
        &marketplace,
        &SyncSettings {
            user_sync_partner_center: true,
            ..SyncSettings::default()
        },
        "user:1",
    )
    .await
    .expect("settings");
    (setup, company, customer)
}

async fn synced_users(setup: &Setup) -> Vec<ferry_storage::User> {
    setup
        .store
        .users(
            setup.marketplace_id,
            &UserQuery {
                limit: 500,
                ..UserQuery::default()
            },
        )
        .await
        .expect("users")
        .into_iter()
        .filter(|u| u.origin_kind == "sync")
        .collect()
}

async fn admin(setup: &Setup, method: reqwest::Method, path: &str, body: Option<&Value>) {
    let mut request =
        reqwest::Client::new().request(method, format!("{}/_admin{path}", setup.base));
    if let Some(body) = body {
        request = request.json(body);
    }
    request
        .send()
        .await
        .expect("admin")
        .error_for_status()
        .expect("the emulator took it");
}

fn active(customer: &Value) -> Vec<&Value> {
    customer["users"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| u["state"] == "active")
        .collect()
}

async fn users_follow_their_source(store: Arc<dyn Store>) {
    let (setup, company, customer) = linked(store).await;
    let store = setup.store.clone();
    let m = setup.marketplace_id;
    let first = setup.run_user_sync().await;
    let sources = active(&customer);
    assert_eq!(
        first.counts.created,
        i64::try_from(sources.len()).unwrap_or(0)
    );
    let users = synced_users(&setup).await;
    assert_eq!(users.len(), sources.len());
    assert!(
        users.iter().all(|u| u.status == UserStatus::Created),
        "nobody invited"
    );
    assert!(store.outbox(Some(m), 10).await.expect("outbox").is_empty());
    let members = store
        .memberships_of_company(m, company)
        .await
        .expect("members");
    assert_eq!(members.len(), sources.len());

    // Again: nothing changes.
    let again = setup.run_user_sync().await;
    assert_eq!(
        (
            again.counts.created,
            again.counts.updated,
            again.counts.suspended
        ),
        (0, 0, 0)
    );

    // Renamed at the source, with a new sign-in name: the same user follows.
    let tenant = customer["id"].as_str().expect("id");
    let mut renamed = sources[0].clone();
    renamed["firstName"] = "Renamed".into();
    renamed["userPrincipalName"] = format!(
        "renamed@{}",
        renamed["userPrincipalName"]
            .as_str()
            .and_then(|u| u.split_once('@'))
            .map(|(_, d)| d)
            .unwrap_or("x.example")
    )
    .into();
    let uid = renamed["id"].as_str().expect("uid").to_owned();
    admin(
        &setup,
        reqwest::Method::PUT,
        &format!("/customers/{tenant}/users/{uid}"),
        Some(&renamed),
    )
    .await;
    // Deleted at the source: suspended.
    let gone = sources[1]["id"].as_str().expect("uid").to_owned();
    admin(
        &setup,
        reqwest::Method::DELETE,
        &format!("/customers/{tenant}/users/{gone}"),
        None,
    )
    .await;
    // Suspended by a manager: stays suspended when the source still has them.
    let by_hand = users
        .iter()
        .find(|u| {
            Some(u.email.as_str())
                == sources[2]["userPrincipalName"]
                    .as_str()
                    .map(str::to_ascii_lowercase)
                    .as_deref()
        })
        .expect("the third user")
        .id;
    store
        .set_user_status(m, by_hand, UserStatus::Suspended)
        .await
        .expect("suspend");
    let changed = setup.run_user_sync().await;
    assert_eq!((changed.counts.updated, changed.counts.suspended), (1, 1));
    let after = synced_users(&setup).await;
    assert_eq!(after.len(), sources.len(), "no user created for the rename");
    assert!(
        after
            .iter()
            .any(|u| u.first_name.as_deref() == Some("Renamed")
                && u.email.as_str().starts_with("renamed@"))
    );
    let suspended: Vec<_> = after
        .iter()
        .filter(|u| u.status == UserStatus::Suspended)
        .collect();
    assert_eq!(
        suspended.len(),
        2,
        "the one gone and the one suspended by hand"
    );

    // Back at the source: reactivated — but not the one a manager suspended.
    admin(
        &setup,
        reqwest::Method::POST,
        &format!("/customers/{tenant}/users"),
        Some(sources[1]),
    )
    .await;
    let back = setup.run_user_sync().await;
    assert_eq!(back.counts.reactivated, 1);
    let last = synced_users(&setup).await;
    let still: Vec<i64> = last
        .iter()
        .filter(|u| u.status == UserStatus::Suspended)
        .map(|u| u.id)
        .collect();
    assert_eq!(still, [by_hand]);
}

async fn an_e_mail_another_user_has_is_a_conflict(store: Arc<dyn Store>) {
    let (setup, company, customer) = linked(store).await;
    let store = setup.store.clone();
    let m = setup.marketplace_id;
    let sources = active(&customer);
    let email = sources[0]["userPrincipalName"].as_str().expect("upn");
    let existing = store
        .create_user(
            m,
            &NewUser {
                first_name: Some("Already".into()),
                ..NewUser::with_email(Email::parse(email).expect("email"), Origin::Manual)
            },
        )
        .await
        .expect("user");
    let run = setup.run_user_sync().await;
    assert_eq!(run.counts.conflicts, 1);
    assert_eq!(
        run.counts.created,
        i64::try_from(sources.len() - 1).unwrap_or(0)
    );
    let conflicts = store.user_sync_conflicts(run.id).await.expect("conflicts");
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].existing_user_id, existing);
    assert_eq!(conflicts[0].company_id, company);
    // Nothing merged: the user is as they were, and not a member of the company.
    let user = store.user(m, existing).await.expect("read").expect("user");
    assert_eq!(user.first_name.as_deref(), Some("Already"));
    let members = store
        .memberships_of_company(m, company)
        .await
        .expect("members");
    assert!(members.iter().all(|member| member.user_id != existing));
}

async fn two_runs_at_once_create_nobody_twice(store: Arc<dyn Store>) {
    let (setup, _, customer) = linked(store).await;
    let store = setup.store.clone();
    for _ in 0..2 {
        let job = UserSync {
            marketplace_id: setup.marketplace_id,
        };
        store.enqueue_job(&job.new_job()).await.expect("queue");
    }
    let (a, b) = (
        setup.worker(Duration::from_secs(30)),
        setup.worker(Duration::from_secs(30)),
    );
    let (x, y) = tokio::join!(a.run_next(), b.run_next());
    assert!(x.expect("ran") && y.expect("ran"));
    let users = synced_users(&setup).await;
    assert_eq!(users.len(), active(&customer).len());
    // The one that met the other's new users read them again: neither reports a failure.
    let runs = store
        .user_sync_runs(setup.marketplace_id, 5)
        .await
        .expect("runs");
    assert_eq!(runs.len(), 2);
    for run in runs {
        assert_eq!(run.state, "completed");
        assert_eq!(run.notes, Vec::<String>::new());
    }
}

async fn a_registration_reminder_goes_out_once_two_days_on(store: Arc<dyn Store>) {
    let (setup, _, _) = linked(store).await;
    let store = setup.store.clone();
    let m = setup.marketplace_id;
    setup.run_user_sync().await;
    let synced = synced_users(&setup).await;
    // Created before reminders were turned on: reminded two days after they were.
    let older = store
        .create_user(
            m,
            &NewUser::with_email(
                Email::parse("older@example.com").expect("email"),
                Origin::Dataset(1),
            ),
        )
        .await
        .expect("user");
    // Made by hand: never reminded.
    store
        .create_user(
            m,
            &NewUser::with_email(
                Email::parse("hand@example.com").expect("email"),
                Origin::Manual,
            ),
        )
        .await
        .expect("user");
    let now = ferry_storage::now();
    let mut settings = store.sync_settings(m).await.expect("settings");
    settings.reminders_since = Some(now.millis());
    store
        .set_sync_settings(m, &settings, "user:1")
        .await
        .expect("on");
    let day = 24 * 3600 * 1000;
    let at = |days: i64| ferry_domain::Timestamp(now.millis() + days * day + 60_000);
    let url = "http://ferry.test";
    assert_eq!(
        ferry_accounts::send_due_reminders(&*store, url, at(1))
            .await
            .expect("tick"),
        0,
        "nobody is due after a day"
    );
    // Two days on, two processes at once: each user gets one e-mail.
    let (a, b) = tokio::join!(
        ferry_accounts::send_due_reminders(&*store, url, at(2)),
        ferry_accounts::send_due_reminders(&*store, url, at(2)),
    );
    let sent = a.expect("one") + b.expect("other");
    assert!(sent >= i64::try_from(synced.len() + 1).unwrap_or(0));
    let outbox = store.outbox(Some(m), 500).await.expect("outbox");
    for user in synced
        .iter()
        .map(|u| u.email.to_string())
        .chain(["older@example.com".into()])
    {
        let mails = outbox.iter().filter(|e| e.to_address == user).count();
        assert_eq!(mails, 1, "{user} reminded once");
    }
    assert!(outbox.iter().all(|e| e.to_address != "hand@example.com"));
    assert!(
        store
            .user(m, older)
            .await
            .expect("read")
            .expect("user")
            .reminded_at
            .is_some()
    );
    // Later ticks send nothing more.
    assert_eq!(
        ferry_accounts::send_due_reminders(&*store, url, at(5))
            .await
            .expect("tick"),
        0
    );
}
