//! Signing in, invitations and password resets.

use std::net::IpAddr;

use axum::http::StatusCode;
use ferry_domain::{Role, UserStatus};

use super::harness::{App, Who, location_of};

pub(crate) async fn sign_in_works_and_slows_down_guessing(app: App) {
    let (status, cookie) = app
        .sign_in("manager@alpha.example", super::harness::PASSWORD)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(cookie.is_some(), "a session cookie");
    let (status, _) = app
        .sign_in("manager@alpha.example", "not the password")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .sign_in("nobody@alpha.example", "not the password")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for attempt in 1..=5 {
        let (status, _) = app.sign_in("sales@alpha.example", "wrong password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let (status, _) = app
        .sign_in("sales@alpha.example", super::harness::PASSWORD)
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "locked after five failures"
    );
    let (status, _) = app
        .sign_in("manager@alpha.example", super::harness::PASSWORD)
        .await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "other accounts are not affected"
    );
}

pub(crate) async fn parallel_guesses_cannot_pass_the_lock(app: App) {
    // From as many addresses, so that only the lock can stop them.
    let guesses: Vec<_> = (0..41u8)
        .map(|n| (client(n), "sales@alpha.example", "wrong password"))
        .collect();
    let answers = app.sign_ins_at_once(&guesses).await;
    let checked = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(
        checked, 5,
        "41 guesses at once: five are checked: {answers:?}"
    );
    assert!(
        answers
            .iter()
            .filter(|(status, _)| *status == StatusCode::TOO_MANY_REQUESTS)
            .all(|(_, retry_after)| retry_after.is_some_and(|s| s > 0)),
        "the others are refused with Retry-After: {answers:?}"
    );
    let (status, _) = app
        .sign_in("sales@alpha.example", super::harness::PASSWORD)
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "and the lock holds");
}

pub(crate) async fn after_sign_in_only_paths_of_this_site_are_followed(app: App) {
    let (status, location) = app.sign_in_to("%2Fm%2Falpha%2Fusers").await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/m/alpha/users"))
    );
    for next in [
        "%2F%09%2Fevil.example",
        "%2F%0D%0ASet-Cookie:x",
        "%2F%0B",
        "%2F%00",
        "%2F%5Cevil",
    ] {
        let (status, location) = app.sign_in_to(next).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "next={next}");
        assert_eq!(location.as_deref(), Some("/m/alpha"), "next={next}");
    }
}

/// No one suspends themselves, and a marketplace keeps an active Marketplace Manager.
pub(crate) async fn the_last_manager_is_not_suspended(app: App) {
    let manager = app.user(&app.a, "manager@alpha.example").await;
    let who = Who::Staff(Role::MarketplaceManager);
    let path = format!("/m/{}/users/{}/suspend", app.a.slug, manager.id);
    let response = app
        .page_response(who, "POST", &path, "", Some(super::harness::CSRF))
        .await;
    let location = location_of(&response).expect("a redirect");
    assert!(location.contains("notice=not-suspended"), "{location}");
    let (status, answer) = app
        .api(
            Some(Role::MarketplaceManager),
            "POST",
            &format!("/api/v1/users/{}/suspend", manager.id),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("last active")
    );
    assert_eq!(
        app.user(&app.a, "manager@alpha.example").await.status,
        UserStatus::Active
    );
}

/// Without a mail server, an invitation waits in the outbox, and the page says so.
pub(crate) async fn an_invitation_without_a_mail_server_says_it_waits(app: App) {
    let who = Who::Staff(Role::MarketplaceManager);
    let path = format!("/m/{}/users/{}/invitation", app.a.slug, app.a.user);
    let response = app
        .page_response(who, "POST", &path, "", Some(super::harness::CSRF))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = location_of(&response).expect("a redirect");
    let (_, page) = app.page_raw(who, "GET", &location, "", None).await;
    assert!(page.contains("kept in the Outbox"), "{page}");
    assert!(!page.contains("on its way"), "{page}");
}

/// The n-th client of a flood.
fn client(n: u8) -> IpAddr {
    IpAddr::from([198, 51, 100, n])
}

pub(crate) async fn a_sign_in_flood_is_refused_not_queued(app: App) {
    // Each to another address, so that no account lock plays a part.
    let emails: Vec<String> = (0..200)
        .map(|n| format!("nobody{n}@flood.example"))
        .collect();
    let flood = |clients: &dyn Fn(u8) -> IpAddr| -> Vec<_> {
        (0..200u8)
            .map(|n| (clients(n), emails[n as usize].as_str(), "not the password"))
            .collect()
    };
    let refused = |answers: &[(StatusCode, Option<u64>)], status| {
        answers
            .iter()
            .filter(|(s, retry_after)| *s == status && retry_after.is_some_and(|s| s > 0))
            .count()
    };

    // One client: past its burst, refused before anything is read or checked.
    let answers = app.sign_ins_at_once(&flood(&|_| client(1))).await;
    assert_eq!(
        refused(&answers, StatusCode::TOO_MANY_REQUESTS),
        180,
        "one client gets twenty attempts a minute: {answers:?}"
    );

    // Many clients: the password checks run a few at a time behind a bounded queue, and
    // the rest are told to come back.
    let answers = app
        .sign_ins_at_once(&flood(&|n| client(n.wrapping_add(2))))
        .await;
    let checked = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    let busy = refused(&answers, StatusCode::SERVICE_UNAVAILABLE);
    assert!(busy > 0, "the queue is bounded: {answers:?}");
    assert_eq!(checked + busy, 200, "{answers:?}");
}

pub(crate) async fn an_invitation_sets_a_password_and_activates_the_company(app: App) {
    let manager = Some(Role::MarketplaceManager);
    let (status, user) = app
        .api(
            manager,
            "POST",
            "/api/v1/users",
            r#"{"email": "new.admin@alpha.example", "first_name": "Nia"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let id = user["id"].as_i64().expect("id");
    assert_eq!(user["status"], "created");
    assert!(
        app.outbox(&app.a).await.is_empty(),
        "creating a user sends no e-mail"
    );
    app.add_member(&app.a, id, app.a.pending_company).await;
    let (status, user) = app
        .api(
            manager,
            "POST",
            &format!("/api/v1/users/{id}/invitation"),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["status"], "invited");

    let mail = app.outbox(&app.a).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to_address, "new.admin@alpha.example");
    let link = mail[0]
        .body
        .split_whitespace()
        .find(|w| w.contains("/invitations/"))
        .expect("a link in the e-mail");
    let path = &link[link.find("/invitations/").expect("path")..];
    let (status, html) = app.page_raw(Who::Anonymous, "GET", path, "", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("new.admin@alpha.example"));
    let (status, _) = app
        .page_raw(
            Who::Anonymous,
            "POST",
            path,
            "password=short&confirm=short",
            Some(super::harness::CSRF),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let form = "password=a+good+long+password&confirm=a+good+long+password";
    let (status, _) = app
        .page_raw(
            Who::Anonymous,
            "POST",
            path,
            form,
            Some(super::harness::CSRF),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let user = app.user(&app.a, "new.admin@alpha.example").await;
    assert_eq!(user.status, UserStatus::Active);
    let company = app
        .store
        .company(app.a.id, app.a.pending_company)
        .await
        .expect("get")
        .expect("company");
    assert_eq!(
        company.status.as_str(),
        "active",
        "the first active user activates the company"
    );
    let (status, _) = app
        .page_raw(
            Who::Anonymous,
            "POST",
            path,
            form,
            Some(super::harness::CSRF),
        )
        .await;
    assert_eq!(status, StatusCode::GONE, "a link works once");
    let (status, _) = app
        .sign_in("new.admin@alpha.example", "a good long password")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

pub(crate) async fn a_forgotten_password_is_reset_by_e_mail(app: App) {
    let form = "email=support%40alpha.example";
    let (status, html) = app
        .page_raw(
            Who::Anonymous,
            "POST",
            "/forgot-password",
            form,
            Some(super::harness::CSRF),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Check your e-mail"));
    let (status, same) = app
        .page_raw(
            Who::Anonymous,
            "POST",
            "/forgot-password",
            "email=nobody%40alpha.example",
            Some(super::harness::CSRF),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        same.contains("Check your e-mail"),
        "the same answer whether or not the account exists"
    );
    let mail = app.outbox(&app.a).await;
    assert_eq!(mail.len(), 1);
    let link = mail[0]
        .body
        .split_whitespace()
        .find(|w| w.contains("/reset-password/"))
        .expect("a link");
    let path = &link[link.find("/reset-password/").expect("path")..];
    let new_password = "password=a+new+long+password&confirm=a+new+long+password";
    let (status, _) = app
        .page_raw(
            Who::Anonymous,
            "POST",
            path,
            new_password,
            Some(super::harness::CSRF),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.sign_in("support@alpha.example", super::harness::PASSWORD)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_in("support@alpha.example", "a new long password")
            .await
            .0,
        StatusCode::SEE_OTHER
    );
}
