//! The web UI and the API, driven over HTTP in-process: the role × route matrix, CSRF,
//! sign-in, invitations, the API's envelopes and the OpenAPI document. Every test runs on SQLite
//! and on PostgreSQL; the browser journeys are in `browser.rs`.

#[path = "web/browser.rs"]
mod browser;
#[path = "web/harness.rs"]
mod harness;

use axum::http::StatusCode;
use ferry_domain::{MarketplaceKind, Role, UserStatus};
use harness::{App, Who};
use serde_json::json;

ferry_storage::on_both_backends!(App::start =>
    every_page_checks_role_and_marketplace,
    every_api_route_checks_role_and_marketplace,
    forms_without_their_csrf_token_are_refused,
    sign_in_works_and_slows_down_guessing,
    an_invitation_sets_a_password_and_activates_the_company,
    api_errors_use_one_envelope,
    the_openapi_document_lists_every_api_route,
    instances_follow_the_marketplace_hierarchy,
    a_forgotten_password_is_reset_by_e_mail,
    datasets_through_the_api,
    order_datasets_through_the_api,
    microsoft_records_are_checked_against_partner_center,
    product_webhooks_are_set_from_the_catalog_page,
);

/// The browser journeys run once, on SQLite: the matrix above already covers both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_journeys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::start(&ferry_storage::testing::sqlite_url(dir.path())).await;
    browser::journeys(app).await;
}

/// Who may use a route, spelled out from the roles of docs/marketplaces.md rather than derived
/// from the code:
/// M = Marketplace Manager, S = Sales Support, C = Customer Support, R = Reseller,
/// U = company user. Platform admins may use every marketplace route.
struct Route {
    method: &'static str,
    /// `{m}` is the marketplace slug; `{company}`, `{user}`, `{token}` ids of its records.
    path: &'static str,
    allowed: &'static str,
    /// The form or JSON body a successful request needs.
    body: &'static str,
}

const PAGES: &[Route] = &[
    Route {
        method: "GET",
        path: "/m/{m}",
        allowed: "MSCRU",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/companies",
        allowed: "MSC",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/companies/new",
        allowed: "MS",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/companies",
        allowed: "MS",
        body: "name=Matrix+Co&status=pending",
    },
    Route {
        method: "GET",
        path: "/m/{m}/companies/{company}",
        allowed: "MSC",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/companies/{company}/edit",
        allowed: "MS",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/companies/{company}",
        allowed: "MS",
        body: "name=Renamed&status=active",
    },
    Route {
        method: "GET",
        path: "/m/{m}/users",
        allowed: "MSC",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/users/new",
        allowed: "MS",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/users",
        allowed: "MS",
        body: "email=new-{n}%40example.com&allow_login=true",
    },
    Route {
        method: "GET",
        path: "/m/{m}/users/{user}",
        allowed: "MSC",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/users/{user}/edit",
        allowed: "MS",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/users/{user}",
        allowed: "MS",
        body: "email=target%40example.com&allow_login=true",
    },
    Route {
        method: "POST",
        path: "/m/{m}/users/{user}/suspend",
        allowed: "MS",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/users/{user}/reactivate",
        allowed: "MS",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/users/{user}/invitation",
        allowed: "MS",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/my-company",
        allowed: "MSCRU",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/catalog",
        allowed: "MSC",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/catalog/products/{product}/webhook",
        allowed: "M",
        body: "url=https%3A%2F%2Fvendor.example%2Fhook",
    },
    Route {
        method: "GET",
        path: "/m/{m}/jobs",
        allowed: "MS",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/jobs/rows",
        allowed: "MS",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/outbox",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/settings/partner-center",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/settings/partner-center",
        allowed: "M",
        body: "name=Matrix+{n}&model=direct&partner_tenant_id=t&application_id=a&secret=s",
    },
    Route {
        method: "POST",
        path: "/m/{m}/settings/partner-center/{instance}/check",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/settings/partner-center/validation",
        allowed: "M",
        body: "microsoft_validation=on",
    },
    Route {
        method: "POST",
        path: "/m/{m}/settings/partner-center/{instance}",
        allowed: "M",
        body: "name=Edited+{n}&model=indirect&partner_tenant_id=t&application_id=a",
    },
    Route {
        method: "GET",
        path: "/m/{m}/settings/api-tokens",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/settings/api-tokens",
        allowed: "M",
        body: "name=matrix&role=sales-support",
    },
    Route {
        method: "POST",
        path: "/m/{m}/settings/api-tokens/{token}/revoke",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/datasets",
        allowed: "MSR",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/datasets/rows",
        allowed: "MSR",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/datasets/templates/users",
        allowed: "MSR",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/datasets/{dataset}",
        allowed: "MSR",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/datasets/{dataset}/summary",
        allowed: "MSR",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/datasets/{dataset}/report",
        allowed: "MSR",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/datasets/{dataset}",
        allowed: "MSR",
        body: "name=Seeded",
    },
];

const API: &[Route] = &[
    Route {
        method: "GET",
        path: "/api/v1/marketplace",
        allowed: "MSCR",
        body: "",
    },
    Route {
        method: "GET",
        path: "/api/v1/catalog",
        allowed: "MSC",
        body: "",
    },
    Route {
        method: "PUT",
        path: "/api/v1/catalog/products/{product}/webhook",
        allowed: "M",
        body: r#"{"url": "https://vendor.example/events", "secret": "s3cret"}"#,
    },
    Route {
        method: "GET",
        path: "/api/v1/outbox",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/api/v1/companies",
        allowed: "MSC",
        body: "",
    },
    Route {
        method: "POST",
        path: "/api/v1/companies",
        allowed: "MS",
        body: r#"{"name": "API {n}"}"#,
    },
    Route {
        method: "GET",
        path: "/api/v1/companies/{company}",
        allowed: "MSC",
        body: "",
    },
    Route {
        method: "PATCH",
        path: "/api/v1/companies/{company}",
        allowed: "MS",
        body: r#"{"city": "Oslo"}"#,
    },
    Route {
        method: "GET",
        path: "/api/v1/users",
        allowed: "MSC",
        body: "",
    },
    Route {
        method: "POST",
        path: "/api/v1/users",
        allowed: "MS",
        body: r#"{"email": "api-{n}@example.com"}"#,
    },
    Route {
        method: "GET",
        path: "/api/v1/users/{user}",
        allowed: "MSC",
        body: "",
    },
    Route {
        method: "PATCH",
        path: "/api/v1/users/{user}",
        allowed: "MS",
        body: r#"{"first_name": "Tess"}"#,
    },
    Route {
        method: "POST",
        path: "/api/v1/users/{user}/suspend",
        allowed: "MS",
        body: "",
    },
    Route {
        method: "POST",
        path: "/api/v1/users/{user}/reactivate",
        allowed: "MS",
        body: "",
    },
    Route {
        method: "POST",
        path: "/api/v1/users/{user}/invitation",
        allowed: "MS",
        body: "",
    },
    Route {
        method: "POST",
        path: "/api/v1/invitations",
        allowed: "MS",
        body: r#"{"user_ids": [{user}]}"#,
    },
    Route {
        method: "GET",
        path: "/api/v1/jobs",
        allowed: "MS",
        body: "",
    },
    Route {
        method: "GET",
        path: "/api/v1/instances",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/api/v1/instances",
        allowed: "M",
        body: r#"{"name": "API {n}", "model": "both", "partner_tenant_id": "t", "application_id": "a", "secret": "s"}"#,
    },
    Route {
        method: "GET",
        path: "/api/v1/instances/{instance}",
        allowed: "M",
        body: "",
    },
    Route {
        method: "PATCH",
        path: "/api/v1/instances/{instance}",
        allowed: "M",
        body: r#"{"mpn_id": "1234567"}"#,
    },
    Route {
        method: "POST",
        path: "/api/v1/instances/{instance}/check",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/api/v1/partner-center/settings",
        allowed: "M",
        body: "",
    },
    Route {
        method: "PUT",
        path: "/api/v1/partner-center/settings",
        allowed: "M",
        body: r#"{"microsoft_validation": false}"#,
    },
    Route {
        method: "GET",
        path: "/api/v1/datasets",
        allowed: "MS",
        body: "",
    },
    Route {
        method: "GET",
        path: "/api/v1/datasets/{dataset}",
        allowed: "MS",
        body: "",
    },
    Route {
        method: "GET",
        path: "/api/v1/datasets/{dataset}/report",
        allowed: "MS",
        body: "",
    },
    Route {
        method: "GET",
        path: "/api/v1/dataset-templates/users",
        allowed: "MS",
        body: "",
    },
];

fn role_letter(who: Who) -> char {
    match who {
        Who::Staff(Role::MarketplaceManager) => 'M',
        Who::Staff(Role::SalesSupport) => 'S',
        Who::Staff(Role::CustomerSupport) => 'C',
        Who::Staff(Role::Reseller) => 'R',
        Who::CompanyUser => 'U',
        Who::Staff(Role::PlatformAdmin) | Who::PlatformAdmin | Who::Anonymous => '*',
    }
}

async fn every_page_checks_role_and_marketplace(app: App) {
    let mut n = 0;
    for route in PAGES {
        for who in Who::ALL {
            // Own marketplace, own records; then another marketplace; then own slug with the
            // ids of another marketplace's records (guessed ids).
            for (slug, ids, variant) in [
                (&app.a.slug, &app.a, "own"),
                (&app.b.slug, &app.b, "foreign"),
                (&app.a.slug, &app.b, "guessed"),
            ] {
                n += 1;
                let path = app.fill(route.path, slug, ids, n);
                let body = app.fill(route.body, slug, ids, n);
                let status = app.page(who, route.method, &path, &body).await;
                let allowed = match who {
                    Who::Anonymous => false,
                    Who::PlatformAdmin => route.path != "/m/{m}/my-company",
                    _ => route.allowed.contains(role_letter(who)),
                };
                let reaches_marketplace = who == Who::PlatformAdmin || variant != "foreign";
                let has_ids = [
                    "{company}",
                    "{user}",
                    "{token}",
                    "{instance}",
                    "{dataset}",
                    "{product}",
                ]
                .iter()
                .any(|id| route.path.contains(id));
                let expected = match (who, reaches_marketplace, allowed) {
                    (Who::Anonymous, _, _) => vec![StatusCode::SEE_OTHER],
                    (_, false, _) => vec![StatusCode::NOT_FOUND],
                    (_, true, false) if who == Who::PlatformAdmin => vec![StatusCode::NOT_FOUND],
                    (_, true, false) => vec![StatusCode::FORBIDDEN],
                    (_, true, true) if variant == "guessed" && has_ids => {
                        vec![StatusCode::NOT_FOUND]
                    }
                    (_, true, true) if route.method == "GET" => vec![StatusCode::OK],
                    (_, true, true) => vec![StatusCode::SEE_OTHER, StatusCode::OK],
                };
                assert!(
                    expected.contains(&status),
                    "{who:?} {} {path} ({variant}): got {status}, expected {expected:?}",
                    route.method
                );
            }
        }
    }
    // The hierarchy pages belong to platform admins alone.
    for who in Who::ALL {
        let status = app.page(who, "GET", "/marketplaces", "").await;
        let expected = match who {
            Who::Anonymous => StatusCode::SEE_OTHER,
            Who::PlatformAdmin => StatusCode::OK,
            _ => StatusCode::FORBIDDEN,
        };
        assert_eq!(status, expected, "{who:?} GET /marketplaces");
        let status = app
            .page(
                who,
                "POST",
                "/marketplaces",
                "name=Tenant&kind=simple_tenant&parent=alpha",
            )
            .await;
        let expected = match who {
            Who::Anonymous => StatusCode::SEE_OTHER,
            Who::PlatformAdmin => StatusCode::SEE_OTHER,
            _ => StatusCode::FORBIDDEN,
        };
        assert_eq!(status, expected, "{who:?} POST /marketplaces");
    }
}

async fn every_api_route_checks_role_and_marketplace(app: App) {
    let mut n = 0;
    for route in API {
        for role in [
            Role::MarketplaceManager,
            Role::SalesSupport,
            Role::CustomerSupport,
            Role::Reseller,
        ] {
            for (ids, variant) in [(&app.a, "own"), (&app.b, "foreign")] {
                n += 1;
                let path = app.fill(route.path, &app.a.slug, ids, n);
                let body = app.fill(route.body, &app.a.slug, ids, n);
                let (status, answer) = app.api(Some(role), route.method, &path, &body).await;
                let allowed = route.allowed.contains(role_letter(Who::Staff(role)));
                let touches_ids = [
                    "{company}",
                    "{user}",
                    "{instance}",
                    "{dataset}",
                    "{product}",
                ]
                .iter()
                .any(|id| route.path.contains(id));
                let expected = match (allowed, variant) {
                    (false, _) => vec![StatusCode::FORBIDDEN],
                    (true, "foreign") if touches_ids && route.path != "/api/v1/invitations" => {
                        vec![StatusCode::NOT_FOUND]
                    }
                    (true, _)
                        if route.method == "POST"
                            && !route.path.contains("{user}/")
                            && !route.path.contains("{instance}/") =>
                    {
                        vec![StatusCode::CREATED, StatusCode::ACCEPTED]
                    }
                    (true, _) if route.method == "PUT" => vec![StatusCode::NO_CONTENT],
                    (true, _) => vec![StatusCode::OK],
                };
                assert!(
                    expected.contains(&status),
                    "{role} {} {path} ({variant}): got {status} {answer}, expected {expected:?}",
                    route.method
                );
            }
        }
        let (status, answer) = app
            .api(None, route.method, &app.fill(route.path, "", &app.a, 0), "")
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "no token {}: {answer}",
            route.path
        );
        assert_eq!(answer["error"]["code"], "unauthenticated");
    }
    // Another marketplace's job is not found either.
    let job = app.foreign_job().await;
    let (status, _) = app
        .api(
            Some(Role::MarketplaceManager),
            "GET",
            &format!("/api/v1/jobs/{job}"),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn forms_without_their_csrf_token_are_refused(app: App) {
    let who = Who::Staff(Role::MarketplaceManager);
    let path = format!("/m/{}/companies", app.a.slug);
    let (status, html) = app
        .page_raw(who, "POST", &path, "name=No+token", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("The form has expired"), "{html}");
    let (status, _) = app
        .page_raw(who, "POST", &path, "name=Wrong&csrf=0000", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let before = app.companies(&app.a).await;
    let (status, _) = app
        .page_raw(who, "POST", &path, "name=Right", Some(harness::CSRF))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.companies(&app.a).await,
        before + 1,
        "only the form with its token wrote"
    );
}

async fn sign_in_works_and_slows_down_guessing(app: App) {
    let (status, cookie) = app
        .sign_in("manager@alpha.example", harness::PASSWORD)
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
    let (status, _) = app.sign_in("sales@alpha.example", harness::PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "locked after five failures"
    );
    let (status, _) = app
        .sign_in("manager@alpha.example", harness::PASSWORD)
        .await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "other accounts are not affected"
    );
}

async fn an_invitation_sets_a_password_and_activates_the_company(app: App) {
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
            Some(harness::CSRF),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let form = "password=a+good+long+password&confirm=a+good+long+password";
    let (status, _) = app
        .page_raw(Who::Anonymous, "POST", path, form, Some(harness::CSRF))
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
        .page_raw(Who::Anonymous, "POST", path, form, Some(harness::CSRF))
        .await;
    assert_eq!(status, StatusCode::GONE, "a link works once");
    let (status, _) = app
        .sign_in("new.admin@alpha.example", "a good long password")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

async fn api_errors_use_one_envelope(app: App) {
    let manager = Some(Role::MarketplaceManager);
    let (status, body) = app
        .api(
            manager,
            "POST",
            "/api/v1/companies",
            r#"{"name": "Dup", "external_id": "DUP-1"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .api(
            manager,
            "POST",
            "/api/v1/companies",
            r#"{"name": "Dup 2", "external_id": "DUP-1"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "conflict");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("company external id")
    );
    let (status, body) = app
        .api(
            manager,
            "POST",
            "/api/v1/companies",
            r#"{"name": "X", "country": "XX"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("'XX'"),
        "{body}"
    );
    let (status, body) = app
        .api(manager, "GET", "/api/v1/companies/999999", "")
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, body) = app.api(manager, "GET", "/api/v1/nothing-here", "").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    // Paging walks every company once.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let query = match &after {
            Some(cursor) => format!("?limit=2&after={}", urlencode(cursor)),
            None => "?limit=2".into(),
        };
        let (status, page) = app
            .api(manager, "GET", &format!("/api/v1/companies{query}"), "")
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|c| c["id"].as_i64()),
        );
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    let total = usize::try_from(app.companies(&app.a).await).expect("count");
    assert_eq!(seen.len(), total);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), total, "no company twice");

    // Long work answers 202 and a job to follow.
    let (status, accepted) = app
        .api(
            manager,
            "POST",
            "/api/v1/invitations",
            &json!({ "user_ids": [app.a.user] }).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let job = accepted["job_id"].as_i64().expect("job id");
    let (status, job) = app
        .api(manager, "GET", &format!("/api/v1/jobs/{job}"), "")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["state"], "queued");
    assert_eq!(job["kind"], "invite_users");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn the_openapi_document_lists_every_api_route(app: App) {
    let (status, doc) = app.api(None, "GET", "/api/v1/openapi.json", "").await;
    assert_eq!(status, StatusCode::OK);
    let mut documented: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    let mut expected: Vec<String> = API
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.method,
                r.path
                    .replace("{company}", "{id}")
                    .replace("{user}", "{id}")
                    .replace("{instance}", "{id}")
                    .replace("{dataset}", "{id}")
                    .replace("{product}", "{id}")
                    .replace("/dataset-templates/users", "/dataset-templates/{type}")
            )
        })
        .chain([
            "GET /api/v1/openapi.json".to_owned(),
            "GET /api/v1/jobs/{id}".to_owned(),
            "DELETE /api/v1/instances/{id}".to_owned(),
            // Uploads and the dataset actions change state: `datasets_through_the_api`.
            "POST /api/v1/datasets".to_owned(),
            "POST /api/v1/datasets/{id}/activate".to_owned(),
            "POST /api/v1/datasets/{id}/deny".to_owned(),
            "POST /api/v1/datasets/{id}/files".to_owned(),
            "DELETE /api/v1/datasets/{id}".to_owned(),
        ])
        .collect();
    expected.sort();
    assert_eq!(
        documented, expected,
        "the document and the routes the server has"
    );
    // Every documented route exists on the server (answers something other than 404/405
    // for a path that has no id).
    for entry in &documented {
        let (method, path) = entry.split_once(' ').expect("entry");
        if path.contains('{') {
            continue;
        }
        let (status, _) = app
            .api(Some(Role::MarketplaceManager), method, path, "{}")
            .await;
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{entry} answered {status}"
        );
    }
    harness::check_snapshot(
        "openapi.json",
        &serde_json::to_string_pretty(&doc).expect("json"),
    );
}

/// A country tenant uses its parent's Partner Center instance live: a refresh token the parent
/// rotates is what the child uses next, with nothing saved again — here through two servers
/// sharing the database, as two processes would. A simple tenant neither sees nor uses it.
/// Wrong or revoked credentials give a clear state. Secrets never come back.
async fn instances_follow_the_marketplace_hierarchy(app: App) {
    let (emulator, pc) = partner_center(9, 5).await;
    let c = emulator.credentials();

    let country = app.child(MarketplaceKind::CountryTenant, "alpha-de").await;
    let simple = app.child(MarketplaceKind::SimpleTenant, "alpha-shop").await;
    let body = instance_of(&c, &pc);
    let manager = Some(Role::MarketplaceManager);
    let (status, created) = app
        .api(manager, "POST", "/api/v1/instances", &body.to_string())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().expect("id");
    assert!(
        !created.to_string().contains(&c.client_secret)
            && !created.to_string().contains(&c.refresh_token)
    );

    // The child, through a server of its own, sees the parent's instance and uses it.
    let (status, listed) = app.api_as(&country, "GET", "/api/v1/instances", "").await;
    assert_eq!(status, StatusCode::OK);
    let inherited: Vec<&serde_json::Value> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter(|i| i["id"] == id)
        .collect();
    assert_eq!(inherited.len(), 1);
    assert_eq!(inherited[0]["inherited_from"], "alpha");
    let (status, checked) = app
        .api_as(
            &country,
            "POST",
            &format!("/api/v1/instances/{id}/check"),
            "",
        )
        .await;
    assert_eq!(
        (status, checked["auth_state"].as_str()),
        (StatusCode::OK, Some("authenticated")),
        "{checked}"
    );
    // The parent renews (its access token expired; the refresh token rotates again)...
    admin_call(&pc, "/tokens/expire-access-tokens").await;
    let (_, checked) = app
        .api(
            manager,
            "POST",
            &format!("/api/v1/instances/{id}/check"),
            "",
        )
        .await;
    assert_eq!(checked["auth_state"], "authenticated", "{checked}");
    // ...and the child, whose copy of the old token would now be refused, uses the new one.
    admin_call(&pc, "/tokens/expire-access-tokens").await;
    let (_, checked) = app
        .api_as(
            &country,
            "POST",
            &format!("/api/v1/instances/{id}/check"),
            "",
        )
        .await;
    assert_eq!(checked["auth_state"], "authenticated", "{checked}");
    let (status, _) = app
        .api_as(
            &country,
            "PATCH",
            &format!("/api/v1/instances/{id}"),
            r#"{"mpn_id": "1"}"#,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the parent's instance is not the child's to change"
    );

    // The simple tenant neither sees nor uses it, nor finds it on its page.
    let (_, listed) = app.api_as(&simple, "GET", "/api/v1/instances", "").await;
    assert!(
        listed
            .as_array()
            .expect("list")
            .iter()
            .all(|i| i["id"] != id),
        "{listed}"
    );
    for (method, path) in [
        ("GET", format!("/api/v1/instances/{id}")),
        ("POST", format!("/api/v1/instances/{id}/check")),
    ] {
        let (status, _) = app.api_as(&simple, method, &path, "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    let (status, html) = app
        .page_raw(
            Who::Staff(Role::MarketplaceManager),
            "GET",
            "/m/alpha/settings/partner-center",
            "",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Contoso CSP") && html.contains("authenticated"));
    assert!(
        !html.contains(&c.client_secret) && !html.contains(&c.refresh_token),
        "no secret on the page"
    );

    // Wrong credentials and a revoked consent are told apart, in words.
    let wrong = json!({
        "name": "Wrong secret", "model": "direct", "partner_tenant_id": c.partner_tenant_id,
        "application_id": c.client_id, "secret": "not the secret", "api_base_url": pc, "login_base_url": pc,
    });
    let (_, created) = app
        .api(manager, "POST", "/api/v1/instances", &wrong.to_string())
        .await;
    let wrong_id = created["id"].as_i64().expect("id");
    let (_, checked) = app
        .api(
            manager,
            "POST",
            &format!("/api/v1/instances/{wrong_id}/check"),
            "",
        )
        .await;
    assert_eq!(checked["auth_state"], "failing", "{checked}");
    assert!(
        checked["auth_reason"]
            .as_str()
            .expect("reason")
            .contains("secret"),
        "{checked}"
    );
    admin_call(&pc, "/tokens/revoke-refresh-tokens").await;
    admin_call(&pc, "/tokens/expire-access-tokens").await;
    let (_, checked) = app
        .api(
            manager,
            "POST",
            &format!("/api/v1/instances/{id}/check"),
            "",
        )
        .await;
    assert_eq!(checked["auth_state"], "expired", "{checked}");
    assert!(
        checked["auth_reason"]
            .as_str()
            .expect("reason")
            .contains("consent"),
        "{checked}"
    );
    let (status, _) = app
        .api(
            manager,
            "DELETE",
            &format!("/api/v1/instances/{wrong_id}"),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .api(
            Some(Role::SalesSupport),
            "DELETE",
            &format!("/api/v1/instances/{id}"),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn admin_call(base: &str, path: &str) {
    let response = reqwest::Client::new()
        .post(format!("{base}/_admin{path}"))
        .send()
        .await
        .expect("admin");
    assert!(response.status().is_success());
}

async fn a_forgotten_password_is_reset_by_e_mail(app: App) {
    let form = "email=support%40alpha.example";
    let (status, html) = app
        .page_raw(
            Who::Anonymous,
            "POST",
            "/forgot-password",
            form,
            Some(harness::CSRF),
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
            Some(harness::CSRF),
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
            Some(harness::CSRF),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.sign_in("support@alpha.example", harness::PASSWORD)
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

async fn datasets_through_the_api(app: App) {
    let manager = Role::MarketplaceManager;
    let users = "EXTERNAL_ID,EMAIL_ADDRESS\nu-1,dana@alpha.example\nu-1,again@alpha.example\n";
    let companies = "EXTERNAL_ID,NAME\nc-10,Northwind\nc-11,=HYPERLINK(\"x\")\n";
    let memberships = "USER_EXTERNAL_ID,COMPANY_EXTERNAL_ID\nu-1,c-10\n";
    // The seeded dataset is validated: it does not block a new one.
    let (status, created) = app
        .upload(
            manager,
            "/api/v1/datasets",
            &[
                ("name", None, "Spring import"),
                ("review", None, "true"),
                ("users", Some("users.csv"), users),
                ("companies", Some("companies.csv"), companies),
                ("memberships", Some("memberships.csv"), memberships),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let id = created["dataset_id"].as_i64().expect("dataset id");
    assert!(created["job_id"].as_i64().is_some());

    // One dataset validates at a time: the next is refused, naming the one in progress.
    let (status, busy) = app
        .upload(
            manager,
            "/api/v1/datasets",
            &[("name", None, "Second"), ("users", Some("u.csv"), users)],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{busy}");
    assert!(
        busy["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Spring import"),
        "{busy}"
    );

    app.run_dataset_jobs().await;
    let (status, dataset) = app
        .api(Some(manager), "GET", &format!("/api/v1/datasets/{id}"), "")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dataset["state"], "validated", "{dataset}");
    assert_eq!(dataset["plan"][0]["data_type"], "users");
    assert_eq!(dataset["plan"][0]["created"], 1);
    assert_eq!(dataset["plan"][0]["skipped"], 1);
    assert_eq!(dataset["files"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        app.store.count_companies(app.a.id).await.expect("count"),
        2,
        "the plan wrote nothing"
    );

    // Before activation a file can be replaced (or added), and the dataset is validated again.
    // A replacement that does not wholly arrive leaves the dataset as it was.
    let files = format!("/api/v1/datasets/{id}/files");
    let more = "USER_EXTERNAL_ID,COMPANY_EXTERNAL_ID\nu-1,c-10\nu-1,c-11\n";
    let (status, refused) = app
        .upload(
            manager,
            &files,
            &[
                ("memberships", Some("memberships-2.csv"), more),
                ("invoices", Some("i.csv"), "A\n1\n"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (_, after) = app
        .api(Some(manager), "GET", &format!("/api/v1/datasets/{id}"), "")
        .await;
    assert_eq!(after["state"], "validated", "{after}");
    assert_eq!(
        after["files"], dataset["files"],
        "the files are as they were"
    );
    let (status, _) = app
        .upload(
            Role::Reseller,
            &files,
            &[("memberships", Some("m.csv"), more)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, replaced) = app
        .upload(
            manager,
            &files,
            &[("memberships", Some("memberships-2.csv"), more)],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replaced}");
    app.run_dataset_jobs().await;
    let (_, dataset) = app
        .api(Some(manager), "GET", &format!("/api/v1/datasets/{id}"), "")
        .await;
    assert_eq!(dataset["state"], "validated", "{dataset}");
    assert_eq!(dataset["plan"][2]["data_type"], "memberships");
    assert_eq!(dataset["plan"][2]["created"], 2, "{dataset}");
    let names: Vec<&str> = dataset["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["file_name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["companies.csv", "memberships-2.csv", "users.csv"],
        "{dataset}"
    );

    let (status, started) = app
        .api(
            Some(manager),
            "POST",
            &format!("/api/v1/datasets/{id}/activate"),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    app.run_dataset_jobs().await;
    let (_, dataset) = app
        .api(Some(manager), "GET", &format!("/api/v1/datasets/{id}"), "")
        .await;
    assert_eq!(dataset["state"], "activated_with_errors", "{dataset}");
    assert_eq!(dataset["outcome"][1]["created"], 2, "{dataset}");
    assert_eq!(app.store.count_companies(app.a.id).await.expect("count"), 4);

    let (status, csv, disposition) = app
        .api_text(manager, &format!("/api/v1/datasets/{id}/report"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        disposition.as_deref(),
        Some(
            format!(
                "attachment; filename=\"Spring_import_{}.csv\"",
                started["job_id"]
            )
            .as_str()
        )
    );
    assert!(
        csv.contains("users.csv,3,u-1,ERROR,DUPLICATE_RECORD,EXTERNAL_ID,"),
        "{csv}"
    );
    assert!(csv.contains("companies.csv,2,c-10,CREATED,,,,"), "{csv}");
    let (status, _) = app
        .api(
            Some(manager),
            "POST",
            &format!("/api/v1/datasets/{id}/deny"),
            "",
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "an activated dataset cannot be denied"
    );
    let (status, _) = app
        .upload(manager, &files, &[("users", Some("users.csv"), users)])
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "an activated dataset takes no new files"
    );

    let (status, _) = app
        .api(
            Some(manager),
            "DELETE",
            &format!("/api/v1/datasets/{id}?undo=true"),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.store.count_companies(app.a.id).await.expect("count"),
        2,
        "undo removed what it created"
    );
    let (status, _) = app
        .api(Some(manager), "GET", &format!("/api/v1/datasets/{id}"), "")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bad uploads leave nothing behind.
    let (_, before) = app.api(Some(manager), "GET", "/api/v1/datasets", "").await;
    for (parts, needle) in [
        (
            vec![("name", None, "Odd"), ("invoices", Some("i.csv"), "A\n1\n")],
            "not a data type",
        ),
        (vec![("name", None, "Empty")], "at least one file"),
        (vec![("users", Some("u.csv"), users)], "needs a name"),
    ] {
        let (status, answer) = app.upload(manager, "/api/v1/datasets", &parts).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{answer}"
        );
    }
    let (_, after) = app.api(Some(manager), "GET", "/api/v1/datasets", "").await;
    assert_eq!(before, after);

    // A file that cannot be read fails the upload with its line.
    let (status, created) = app
        .upload(
            manager,
            "/api/v1/datasets",
            &[
                ("name", None, "Broken"),
                (
                    "users",
                    Some("u.csv"),
                    "EXTERNAL_ID,EMAIL_ADDRESS\nu-1,\"open\n",
                ),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.run_dataset_jobs().await;
    let (_, dataset) = app
        .api(
            Some(manager),
            "GET",
            &format!("/api/v1/datasets/{}", created["dataset_id"]),
            "",
        )
        .await;
    assert_eq!(dataset["state"], "upload_failed", "{dataset}");
    assert!(
        dataset["failure"]
            .as_str()
            .unwrap_or_default()
            .contains("USERS: line 2"),
        "{dataset}"
    );

    let (status, template, _) = app
        .api_text(Role::SalesSupport, "/api/v1/dataset-templates/users")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(template.starts_with("EXTERNAL_ID,EMAIL_ADDRESS,"));
    let (status, _) = app
        .upload(
            Role::Reseller,
            "/api/v1/datasets",
            &[("name", None, "R"), ("users", Some("u.csv"), users)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// An order dataset is one `orders` file: each row becomes a company, a user, a membership, a
/// subscription and a seat, reported against the file's lines. It cannot be mixed with the
/// migration types, in the upload or in a replacement.
async fn order_datasets_through_the_api(app: App) {
    let manager = Role::MarketplaceManager;
    let orders = "ORDER_EXTERNAL_ID,COMPANY_EXTERNAL_ID,COMPANY_NAME,USER_EXTERNAL_ID,USER_EMAIL_ADDRESS,EDITION_CODE,UNITS\n\
        o-1,c-20,Tailspin,u-20,ann@tailspin.example,NONE,5\n\
        o-2,c-20,Tailspin,u-20,ann@tailspin.example,NONE,2\n";
    let users = "EXTERNAL_ID,EMAIL_ADDRESS\nu-1,dana@alpha.example\n";
    let (status, mixed) = app
        .upload(
            manager,
            "/api/v1/datasets",
            &[
                ("name", None, "Mixed"),
                ("orders", Some("orders.csv"), orders),
                ("users", Some("users.csv"), users),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{mixed}");
    assert!(
        mixed["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("one `orders` file alone"),
        "{mixed}"
    );

    let (status, created) = app
        .upload(
            manager,
            "/api/v1/datasets",
            &[
                ("name", None, "CRM week 47"),
                ("review", None, "true"),
                ("orders", Some("crm.csv"), orders),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let id = created["dataset_id"].as_i64().expect("dataset id");
    app.run_dataset_jobs().await;
    let path = format!("/api/v1/datasets/{id}");
    let (_, dataset) = app.api(Some(manager), "GET", &path, "").await;
    assert_eq!(dataset["kind"], "orders", "{dataset}");
    assert_eq!(dataset["state"], "validated", "{dataset}");
    let planned: Vec<(&str, i64)> = dataset["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .map(|p| {
            (
                p["data_type"].as_str().unwrap_or_default(),
                p["created"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        planned,
        [
            ("users", 1),
            ("companies", 1),
            ("memberships", 1),
            ("company_entitlements", 0),
            ("user_entitlements", 0),
        ],
        "one company and user for two orders; no edition NONE: {dataset}"
    );

    let (status, refused) = app
        .upload(
            manager,
            &format!("{path}/files"),
            &[("users", Some("u.csv"), users)],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");

    let (status, _) = app
        .api(Some(manager), "POST", &format!("{path}/activate"), "")
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.run_dataset_jobs().await;
    let (_, dataset) = app.api(Some(manager), "GET", &path, "").await;
    assert_eq!(dataset["state"], "activated_with_errors", "{dataset}");
    let (_, csv, _) = app.api_text(manager, &format!("{path}/report")).await;
    for expected in [
        "crm.csv,2,c-20,CREATED,,,company,",
        "crm.csv,2,u-20,CREATED,,,user,",
        "crm.csv,3,o-2,ERROR,EDITION_PRICING_INVALID,",
    ] {
        assert!(csv.contains(expected), "{expected:?} in {csv}");
    }

    // A reseller uploads order datasets from the page, as its company's, and nothing else.
    let reseller = Who::Staff(Role::Reseller);
    let uploads = format!("/m/{}/datasets", app.a.slug);
    let (status, page) = app
        .page_upload(
            reseller,
            &uploads,
            &[
                ("name", None, "Reseller users"),
                ("users", Some("u.csv"), users),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("a reseller uploads order datasets"), "{page}");
    let reseller_orders = orders.replace("c-20,Tailspin,u-20", "c-30,Wingtip,u-30");
    let (status, _) = app
        .page_upload(
            reseller,
            &uploads,
            &[
                ("name", None, "Reseller orders"),
                ("orders", Some("orders.csv"), &reseller_orders),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    app.run_dataset_jobs().await;
    let theirs = dataset_named(&app, "Reseller orders").await;
    assert_eq!(theirs["state"], "activated_with_errors", "{theirs}");
    assert!(
        app.store
            .company_by_external_id(app.a.id, "c-30")
            .await
            .expect("read")
            .is_some(),
        "the reseller's new customer"
    );
    // With review, the reseller replaces its Bulk Data file before activation.
    let (status, _) = app
        .page_upload(
            reseller,
            &uploads,
            &[
                ("name", None, "Reseller review"),
                ("review", None, "true"),
                ("orders", Some("first.csv"), &reseller_orders),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    app.run_dataset_jobs().await;
    let reviewed = dataset_named(&app, "Reseller review").await["id"]
        .as_i64()
        .expect("id");
    let (status, _) = app
        .page_upload(
            reseller,
            &format!("{uploads}/{reviewed}/files"),
            &[("orders", Some("second.csv"), &reseller_orders)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    app.run_dataset_jobs().await;
    let (_, dataset) = app
        .api(
            Some(manager),
            "GET",
            &format!("/api/v1/datasets/{reviewed}"),
            "",
        )
        .await;
    assert_eq!(dataset["state"], "validated", "{dataset}");
    assert_eq!(dataset["files"][0]["file_name"], "second.csv", "{dataset}");

    let (status, template, _) = app
        .api_text(manager, "/api/v1/dataset-templates/orders")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        template.starts_with("ORDER_EXTERNAL_ID,COMPANY_EXTERNAL_ID,COMPANY_NAME,"),
        "{template}"
    );
}

/// With the checks turned on (Partner Center settings page), a dataset's Microsoft customers and
/// subscriptions are compared with what Partner Center says through the marketplace's instance,
/// and each difference is reported on its line.
async fn microsoft_records_are_checked_against_partner_center(app: App) {
    let (emulator, pc) = partner_center(12, 3).await;
    let world: serde_json::Value = serde_json::from_str(&emulator.world_json()).expect("dump");
    let c = emulator.credentials();
    // Only an instance that answers: the seeded one points nowhere.
    app.store
        .delete_instance(app.a.id, app.a.instance)
        .await
        .expect("remove the seeded instance");
    let body = instance_of(&c, &pc);
    let manager = Role::MarketplaceManager;
    let (status, _) = app
        .api(
            Some(manager),
            "POST",
            "/api/v1/instances",
            &body.to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let settings = format!("/m/{}/settings/partner-center/validation", app.a.slug);
    assert_eq!(
        app.page(
            Who::Staff(Role::SalesSupport),
            "POST",
            &settings,
            "microsoft_validation=on"
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.page(
            Who::Staff(manager),
            "POST",
            &settings,
            "microsoft_validation=on"
        )
        .await,
        StatusCode::SEE_OTHER
    );
    let (_, read) = app
        .api(Some(manager), "GET", "/api/v1/partner-center/settings", "")
        .await;
    assert_eq!(read["microsoft_validation"], true, "{read}");

    let customers = world["customers"].as_array().expect("customers");
    let with_subscriptions: Vec<&serde_json::Value> = customers
        .iter()
        .filter(|c| c["subscriptions"].as_array().is_some_and(|s| !s.is_empty()))
        .collect();
    let (first, second) = (
        with_subscriptions[0],
        customers
            .iter()
            .find(|c| c["id"] != with_subscriptions[0]["id"])
            .expect("another customer"),
    );
    let (tenant, other) = (
        first["id"].as_str().expect("id"),
        second["id"].as_str().expect("id"),
    );
    let subscription = &first["subscriptions"][0];
    let (sub_id, offer) = (
        subscription["id"].as_str().expect("id"),
        subscription["offerId"].as_str().expect("offer"),
    );
    let quantity = subscription["quantity"].as_i64().expect("quantity");
    let microsoft_customers = format!(
        "TENANT_ID,COMPANY_EXTERNAL_ID,DOMAIN,COUNTRY\n\
         {tenant},c-1,{},{}\n\
         00000000-0000-0000-0000-00000000dead,c-1,,\n\
         {other},c-1,wrong.onmicrosoft.com,\n",
        first["domain"].as_str().expect("domain"),
        first["billingProfile"]["defaultAddress"]["country"]
            .as_str()
            .expect("country"),
    );
    let entitlements = format!(
        "EXTERNAL_ID,COMPANY_EXTERNAL_ID,PURCHASED_BY_EXTERNAL_ID,EDITION_CODE,UNITS\n\
         s-1,c-1,u-1,E1,{quantity}\n\
         s-2,c-1,u-1,E1,{}\n",
        quantity + 1
    );
    let microsoft_subscriptions = format!(
        "SUBSCRIPTION_ID,TENANT_ID,COMPANY_ENTITLEMENT_EXTERNAL_ID,OFFER_ID\n\
         {sub_id},{tenant},s-1,{offer}\n\
         00000000-0000-0000-0000-00000000beef,{tenant},s-1,{offer}\n\
         {sub_id},{tenant},s-1,NOT:THE:OFFER\n\
         {sub_id},{tenant},s-2,{offer}\n"
    );
    let (status, created) = app
        .upload(
            manager,
            "/api/v1/datasets",
            &[
                ("name", None, "Microsoft"),
                ("review", None, "true"),
                (
                    "companies",
                    Some("companies.csv"),
                    "EXTERNAL_ID,NAME\nc-1,Northwind\n",
                ),
                ("company_entitlements", Some("ce.csv"), &entitlements),
                ("microsoft_customers", Some("mc.csv"), &microsoft_customers),
                (
                    "microsoft_subscriptions",
                    Some("ms.csv"),
                    &microsoft_subscriptions,
                ),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    app.run_dataset_jobs().await;
    let id = created["dataset_id"].as_i64().expect("id");
    let (_, csv, _) = app
        .api_text(manager, &format!("/api/v1/datasets/{id}/report"))
        .await;
    for expected in [
        "mc.csv,3,00000000-0000-0000-0000-00000000dead,ERROR,INVALID_TENANT_ID,TENANT_ID,",
        "mc.csv,4,{other},ERROR,INVALID_DOMAIN,DOMAIN,",
        "ms.csv,3,00000000-0000-0000-0000-00000000beef,ERROR,INVALID_SUBSCRIPTION_ID,SUBSCRIPTION_ID,",
        "ms.csv,4,{sub_id},ERROR,INVALID_OFFER_ID,OFFER_ID,",
        "ms.csv,5,{sub_id},ERROR,QUANTITY_MISMATCH,COMPANY_ENTITLEMENT_EXTERNAL_ID,",
    ] {
        let expected = expected
            .replace("{other}", other)
            .replace("{sub_id}", sub_id);
        assert!(csv.contains(&expected), "{expected:?} in {csv}");
    }
    for line in ["mc.csv,2,", "ms.csv,2,"] {
        assert!(
            !csv.lines()
                .any(|l| l.starts_with(line) && l.contains("Partner Center")),
            "the records Partner Center confirms have no difference: {csv}"
        );
    }
}

/// A product's webhook is set on the catalog page: the address shows, the secret never does,
/// an empty secret keeps the current one, an empty address removes both, and an address that
/// is not http(s) is refused, saying why.
async fn product_webhooks_are_set_from_the_catalog_page(app: App) {
    let manager = Who::Staff(Role::MarketplaceManager);
    let catalog = &format!("/m/{}/catalog", app.a.slug);
    let form = format!("{catalog}/products/{}/webhook", app.a.product);
    let secret = "vendor-signing-key-3141";
    let save = |body: String| {
        let (app, form) = (&app, &form);
        async move {
            app.page_raw(manager, "POST", form, &body, Some(harness::CSRF))
                .await
        }
    };
    let (status, _) = save(format!(
        "url=https%3A%2F%2Fvendor.example%2Fevents&secret={secret}"
    ))
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = app.page_raw(manager, "GET", catalog, "", None).await;
    assert!(
        html.contains("https://vendor.example/events</span>, signed"),
        "{html}"
    );
    assert!(!html.contains(secret), "the secret is never shown");

    let (status, _) = save("url=https%3A%2F%2Fvendor.example%2Fv2&secret=".into()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = app.page_raw(manager, "GET", catalog, "", None).await;
    assert!(
        html.contains("https://vendor.example/v2</span>, signed"),
        "the secret stayed: {html}"
    );

    let (status, html) = save("url=ftp%3A%2F%2Fvendor.example&secret=".into()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("must start with http:// or https://"),
        "{html}"
    );

    let (status, _) = save("url=&secret=".into()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = app.page_raw(manager, "GET", catalog, "", None).await;
    assert!(html.contains("No webhook is set."), "{html}");
}

/// A Partner Center emulator of `customers` customers, served on a free port: the emulator
/// (for its credentials and world) and its base URL.
async fn partner_center(
    seed: u64,
    customers: usize,
) -> (ferry_emulators::partner_center::Emulator, String) {
    use ferry_emulators::partner_center::{Emulator, Options};
    let emulator = Emulator::new(Options {
        seed,
        customers,
        ..Options::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(ferry_emulators::serve(
        listener,
        emulator.router(),
        std::future::pending(),
    ));
    (emulator, url)
}

/// The dataset of marketplace A with this name, as the API lists it.
async fn dataset_named(app: &App, name: &str) -> serde_json::Value {
    let (_, all) = app
        .api(
            Some(Role::MarketplaceManager),
            "GET",
            "/api/v1/datasets",
            "",
        )
        .await;
    all.as_array()
        .into_iter()
        .flatten()
        .find(|d| d["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no dataset named {name}: {all}"))
}

/// The API body that connects the emulator with credentials `c` at `url` as an instance.
fn instance_of(c: &ferry_emulators::partner_center::Credentials, url: &str) -> serde_json::Value {
    json!({
        "name": "Contoso CSP", "model": "both", "partner_tenant_id": c.partner_tenant_id,
        "application_id": c.client_id, "secret": c.client_secret, "refresh_token": c.refresh_token,
        "api_base_url": url, "login_base_url": url,
    })
}
