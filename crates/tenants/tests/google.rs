//! User Sync from Google Workspace against the Google Directory emulator, on both backends: a
//! key with a wrong signature is refused by the emulator and the connection says why; with the
//! right key, a company linked to a Workspace customer by its domain gets the customer's users
//! (suspended ones not created), a user suspended or deleted at the source is suspended, one
//! renamed is updated, and nobody is e-mailed.

use std::sync::Arc;

use ferry_domain::{GoogleCustomer, NewCompany, Origin, UserStatus};
use ferry_emulators::google;
use ferry_emulators::partner_center::Options;
use ferry_storage::{Store, SyncSettings, UserQuery};
use ferry_tenants::google::{ConnectGoogle, connect};

mod support;

use support::{open, sealer, setup};

ferry_storage::on_both_backends!(open =>
    a_google_workspace_customer_s_users_follow_it,
);

fn emulator(seed: u64) -> google::Emulator {
    google::Emulator::new(google::Options {
        seed,
        customers: 40,
        resellers: 1,
        ..Default::default()
    })
}

async fn status_of(store: &dyn Store, m: i64, email: &str) -> Option<UserStatus> {
    let users = store
        .users(
            m,
            &UserQuery {
                limit: 500,
                ..UserQuery::default()
            },
        )
        .await
        .expect("users");
    users
        .into_iter()
        .find(|u| u.email.as_str() == email)
        .map(|u| u.status)
}

async fn a_google_workspace_customer_s_users_follow_it(store: Arc<dyn Store>) {
    let setup = setup(
        store,
        Options {
            seed: 33,
            customers: 4,
            resellers: 1,
            ..Options::default()
        },
    )
    .await;
    let (store, m) = (setup.store.clone(), setup.marketplace_id);
    let directory = emulator(33);
    let base = directory
        .serve_locally()
        .await
        .expect("the Google emulator");
    let connect_with = |key_file: String| {
        let store = store.clone();
        let base = base.clone();
        async move {
            connect(
                &*store,
                &sealer(),
                m,
                &ConnectGoogle {
                    key_file: &key_file,
                    admin: "admin@example.com",
                    api_url: Some(&base),
                    token_url: None,
                },
                true,
                "user:1",
            )
            .await
            .expect("saved")
        }
    };

    // Another emulator's key: the same service account, signed with another key.
    let refused = connect_with(emulator(34).service_account_key(&base)).await;
    let why = refused.check_error.expect("the check failed");
    assert!(why.contains("Invalid JWT Signature"), "{why}");
    let works = connect_with(directory.service_account_key(&base)).await;
    assert_eq!(works.check_error, None);
    assert!(works.checked_at.is_some());

    // A company linked to the customer with the most users, by its domain.
    let customer = directory
        .customers()
        .into_iter()
        .max_by_key(|c| c.users.len())
        .expect("a Workspace customer");
    let company = store
        .create_company(m, &NewCompany::named("Workspace", Origin::Manual))
        .await
        .expect("company");
    let linked = GoogleCustomer::domain(&customer.domain).expect("domain");
    assert!(
        store
            .set_company_google(m, company, Some(&linked), "user:1")
            .await
            .expect("link")
    );
    assert_eq!(
        store.company_google(m, company).await.expect("read"),
        Some(linked)
    );
    let marketplace = store.marketplace(m).await.expect("read").expect("m");
    ferry_tenants::sync::save_settings(
        &*store,
        &marketplace,
        &SyncSettings {
            user_sync_google: true,
            ..SyncSettings::default()
        },
        "user:1",
    )
    .await
    .expect("settings");

    let signs_in = |u: &&google::DirectoryUser| !u.suspended && u.deletion_time.is_none();
    let first = setup.run_user_sync().await;
    assert_eq!(first.notes, Vec::<String>::new());
    let expected = customer.users.iter().filter(signs_in).count() as i64;
    assert!(expected >= 2, "the customer has {expected} users");
    assert_eq!(first.counts.created, expected);
    for user in &customer.users {
        let status = status_of(&*store, m, &user.primary_email).await;
        if signs_in(&user) {
            assert_eq!(status, Some(UserStatus::Created));
        } else {
            assert_eq!(status, None, "{} is not created", user.primary_email);
        }
    }
    assert!(store.outbox(Some(m), 10).await.expect("outbox").is_empty());

    // At the source: one renamed, one suspended, one removed.
    let mut active = customer.users.iter().filter(signs_in).cloned();
    let (mut renamed, mut suspended) = (active.next().expect("one"), active.next().expect("two"));
    let admin = reqwest::Client::new();
    let path = |u: &google::DirectoryUser| {
        format!(
            "{base}/_admin/customers/{}/users/{}",
            customer.customer_id, u.id
        )
    };
    renamed.name.given_name = "Renamed".into();
    suspended.suspended = true;
    for user in [&renamed, &suspended] {
        let answer = admin
            .put(path(user))
            .json(user)
            .send()
            .await
            .expect("admin");
        assert!(answer.status().is_success());
    }
    let removed = active.next();
    if let Some(user) = &removed {
        let answer = admin.delete(path(user)).send().await.expect("admin");
        assert!(answer.status().is_success());
    }

    let second = setup.run_user_sync().await;
    assert_eq!(second.counts.created, 0);
    assert_eq!(second.counts.updated, 1);
    assert_eq!(second.counts.suspended, 1 + i64::from(removed.is_some()));
    assert_eq!(
        status_of(&*store, m, &suspended.primary_email).await,
        Some(UserStatus::Suspended)
    );
    if let Some(user) = removed {
        assert_eq!(
            status_of(&*store, m, &user.primary_email).await,
            Some(UserStatus::Suspended)
        );
    }
    // Nothing changed since: nothing written.
    let third = setup.run_user_sync().await;
    assert_eq!(third.counts, ferry_storage::UserSyncCounts::default());
}
