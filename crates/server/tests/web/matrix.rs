//! The role × route matrix: every page and API route, for every role, in its own marketplace
//! and in another; and CSRF on every form.

use axum::http::StatusCode;
use ferry_domain::{Email, NewUser, Origin, Role, may_change};

use super::harness::{App, Who};

/// Who may use a route, spelled out from the roles of docs/marketplaces.md rather than derived
/// from the code:
/// M = Marketplace Manager, S = Sales Support, C = Customer Support, R = Reseller,
/// U = company user. Platform admins may use every marketplace route.
pub(crate) struct Route {
    pub(crate) method: &'static str,
    /// `{m}` is the marketplace slug; `{company}`, `{user}`, `{token}` ids of its records.
    pub(crate) path: &'static str,
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
        body: "name=Matrix+{n}&model=direct&partner_tenant_id=8d3a6f5c-1b2e-4c7d-9a0f-3e4b5c6d7e8f\
               &application_id=a&secret=s&api_base_url=http%3A%2F%2F127.0.0.1%3A9\
               &login_base_url=http%3A%2F%2F127.0.0.1%3A9",
    },
    Route {
        method: "POST",
        path: "/m/{m}/settings/partner-center/{instance}/check",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/import-customers",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/import-customers/{instance}",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/import-customers/{instance}/hierarchy",
        allowed: "M",
        body: "scope=mass",
    },
    Route {
        method: "GET",
        path: "/m/{m}/import-customers/{instance}/progress",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/catalog/products",
        allowed: "M",
        body: "name=Matrix+{n}",
    },
    Route {
        method: "POST",
        path: "/m/{m}/catalog/products/{product}/editions",
        allowed: "M",
        body: "code=C{n}&name=Edition+{n}&offer_ids=&pricing_unit=USER&included_units=0",
    },
    Route {
        method: "POST",
        path: "/m/{m}/catalog/editions/{edition}/offers",
        allowed: "M",
        body: "offer_ids=MS-AZR-{n}P",
    },
    Route {
        method: "POST",
        path: "/m/{m}/import-customers/{instance}/import",
        allowed: "M",
        body: "all=1",
    },
    Route {
        method: "GET",
        path: "/m/{m}/imports",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/imports/{import}",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/imports/{import}/progress",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/imports/{import}/results.csv",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/imports/{import}/retry",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/imports/{import}/map",
        allowed: "M",
        body: "offer_id=MS-AZR-{n}P&edition={edition}",
    },
    Route {
        method: "POST",
        path: "/m/{m}/settings/partner-center/validation",
        allowed: "M",
        body: "microsoft_validation=on",
    },
    Route {
        method: "POST",
        path: "/m/{m}/settings/partner-center/tenant-resellers/{tenant_reseller}",
        allowed: "M",
        body: "mpn_id={n}000",
    },
    Route {
        method: "POST",
        path: "/m/{m}/settings/partner-center/{instance}",
        allowed: "M",
        body: "name=Edited+{n}&model=indirect&partner_tenant_id=8d3a6f5c-1b2e-4c7d-9a0f-3e4b5c6d7e8f\
               &application_id=a",
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
    Route {
        method: "POST",
        path: "/m/{m}/users/invitations",
        allowed: "MS",
        body: "id={user}",
    },
    Route {
        method: "GET",
        path: "/m/{m}/settings/sync",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/settings/sync",
        allowed: "M",
        body: "interval_minutes=30",
    },
    Route {
        method: "POST",
        path: "/m/{m}/sync/now",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/settings/sync/users",
        allowed: "M",
        body: "user_interval_minutes=30",
    },
    Route {
        method: "POST",
        path: "/m/{m}/sync/users",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/settings/sync/google",
        allowed: "M",
        body: "admin=admin%40example.com",
    },
    Route {
        method: "POST",
        path: "/m/{m}/settings/sync/google/check",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/companies/{company}/google",
        allowed: "MS",
        body: "kind=domain&value=example.com",
    },
    Route {
        method: "GET",
        path: "/m/{m}/pending-companies",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/m/{m}/pending-companies/{pending_tenant}",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/m/{m}/pending-companies/create",
        allowed: "M",
        body: "id={pending_tenant}",
    },
    Route {
        method: "POST",
        path: "/m/{m}/pending-companies/dismiss",
        allowed: "M",
        body: "id={pending_tenant}",
    },
    Route {
        method: "POST",
        path: "/m/{m}/pending-companies/{pending_tenant}/link",
        allowed: "M",
        body: "company_id={company}",
    },
];

pub(crate) const API: &[Route] = &[
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
        body: r#"{"name": "API {n}", "model": "both", "partner_tenant_id": "8d3a6f5c-1b2e-4c7d-9a0f-3e4b5c6d7e8f", "application_id": "a", "secret": "s", "api_base_url": "http://127.0.0.1:9", "login_base_url": "http://127.0.0.1:9"}"#,
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
        method: "POST",
        path: "/api/v1/instances/{instance}/hierarchy",
        allowed: "M",
        body: "{}",
    },
    Route {
        method: "GET",
        path: "/api/v1/instances/{instance}/hierarchy",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/api/v1/instances/{instance}/tenants",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/api/v1/catalog/products",
        allowed: "M",
        body: r#"{"name": "Matrix {n}"}"#,
    },
    Route {
        method: "POST",
        path: "/api/v1/catalog/products/{product}/editions",
        allowed: "M",
        body: r#"{"code": "C{n}", "name": "Edition {n}"}"#,
    },
    Route {
        method: "PUT",
        path: "/api/v1/catalog/editions/{edition}/offers",
        allowed: "M",
        body: r#"{"offer_ids": ["MS-AZR-{n}P"]}"#,
    },
    Route {
        method: "POST",
        path: "/api/v1/imports",
        allowed: "M",
        body: r#"{"instance_id": {instance}, "all": true}"#,
    },
    Route {
        method: "GET",
        path: "/api/v1/imports",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/api/v1/imports/{import}",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/api/v1/imports/{import}/results.csv",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/api/v1/imports/{import}/retry",
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
    Route {
        method: "GET",
        path: "/api/v1/sync/settings",
        allowed: "M",
        body: "",
    },
    Route {
        method: "PUT",
        path: "/api/v1/sync/settings",
        allowed: "M",
        body: r#"{"interval_minutes": 30}"#,
    },
    Route {
        method: "POST",
        path: "/api/v1/sync/runs",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/api/v1/sync/runs",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/api/v1/sync/users",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/api/v1/sync/users",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/api/v1/google/connection",
        allowed: "M",
        body: "",
    },
    Route {
        method: "PUT",
        path: "/api/v1/google/connection",
        allowed: "M",
        body: r#"{"key_file": {"type": "authorized_user"}, "admin": "admin@example.com"}"#,
    },
    Route {
        method: "GET",
        path: "/api/v1/companies/{company}/google",
        allowed: "MSC",
        body: "",
    },
    Route {
        method: "PUT",
        path: "/api/v1/companies/{company}/google",
        allowed: "MS",
        body: r#"{"domain": "example.com"}"#,
    },
    Route {
        method: "GET",
        path: "/api/v1/sync/pending",
        allowed: "M",
        body: "",
    },
    Route {
        method: "GET",
        path: "/api/v1/sync/pending/{pending_tenant}",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/api/v1/sync/pending/{pending_tenant}/create",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/api/v1/sync/pending/create",
        allowed: "M",
        body: r#"{"ids": [{pending_tenant}]}"#,
    },
    Route {
        method: "POST",
        path: "/api/v1/sync/pending/{pending_tenant}/dismiss",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/api/v1/sync/pending/{pending_tenant}/restore",
        allowed: "M",
        body: "",
    },
    Route {
        method: "POST",
        path: "/api/v1/sync/pending/{pending_tenant}/link",
        allowed: "M",
        body: r#"{"company_id": {company}}"#,
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

pub(crate) async fn every_page_checks_role_and_marketplace(app: App) {
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
                    "{tenant_reseller}",
                    "{import}",
                    "{edition}",
                    "{pending_tenant}",
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
                    // The instance has no tenant list yet: the page says so.
                    (_, true, true) if route.path.ends_with("/import") => {
                        vec![StatusCode::UNPROCESSABLE_ENTITY]
                    }
                    // Not an upload with a key file: the page says so.
                    (_, true, true) if route.path.ends_with("/settings/sync/google") => {
                        vec![StatusCode::UNPROCESSABLE_ENTITY]
                    }
                    // The seeded import holds the tenant: its page says so.
                    (_, true, true) if route.path.ends_with("/pending-companies/create") => {
                        vec![StatusCode::CONFLICT, StatusCode::SEE_OTHER]
                    }
                    // Linked by the first who may: the others are told so.
                    (_, true, true) if route.path.ends_with("/link") => {
                        vec![StatusCode::SEE_OTHER, StatusCode::CONFLICT]
                    }
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

pub(crate) async fn every_api_route_checks_role_and_marketplace(app: App) {
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
                    "{tenant_reseller}",
                    "{import}",
                    "{edition}",
                    "{pending_tenant}",
                ]
                .iter()
                .any(|id| route.path.contains(id) || route.body.contains(id));
                let expected = match (allowed, variant) {
                    (false, _) => vec![StatusCode::FORBIDDEN],
                    (true, "foreign") if touches_ids && route.path != "/api/v1/invitations" => {
                        vec![StatusCode::NOT_FOUND]
                    }
                    // Company Sync and User Sync are off; the seeded import holds the tenant.
                    (true, _)
                        if route.method == "POST"
                            && (route.path == "/api/v1/sync/runs"
                                || route.path == "/api/v1/sync/users"
                                || route.path.ends_with("/create")) =>
                    {
                        vec![StatusCode::CONFLICT]
                    }
                    (true, _) if route.path.ends_with("/link") => {
                        vec![StatusCode::OK, StatusCode::CONFLICT]
                    }
                    (true, _)
                        if route.path.ends_with("/dismiss") || route.path.ends_with("/restore") =>
                    {
                        vec![StatusCode::OK]
                    }
                    // A key that is not a service account's.
                    (true, _)
                        if route.path == "/api/v1/google/connection" && route.method == "PUT" =>
                    {
                        vec![StatusCode::UNPROCESSABLE_ENTITY]
                    }
                    (true, _) if route.path.ends_with("/google") => vec![StatusCode::OK],
                    // Nothing to import: the instance has no list yet, the seeded run runs.
                    (true, _)
                        if route.method == "POST" && route.path.starts_with("/api/v1/imports") =>
                    {
                        vec![StatusCode::CONFLICT]
                    }
                    (true, _)
                        if route.method == "POST"
                            && !route.path.contains("{user}/")
                            && (!route.path.contains("{instance}/")
                                || route.path.ends_with("/hierarchy")) =>
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
    // Reading one job needs what listing jobs needs.
    let job = app.job_of(&app.a).await;
    for role in [
        Role::MarketplaceManager,
        Role::SalesSupport,
        Role::CustomerSupport,
        Role::Reseller,
    ] {
        let (status, answer) = app
            .api(Some(role), "GET", &format!("/api/v1/jobs/{job}"), "")
            .await;
        let expected = if "MS".contains(role_letter(Who::Staff(role))) {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(status, expected, "{role} GET /api/v1/jobs/{{id}}: {answer}");
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

/// The routes that change one user (or invite several), from both tables.
fn user_changing(routes: &'static [Route]) -> impl Iterator<Item = &'static Route> {
    routes.iter().filter(|r| {
        r.method != "GET" && (r.path.contains("{user}") || r.path == "/api/v1/invitations")
    })
}

/// The matrix again for the routes that change a user, now by the role of the user changed:
/// no one may change a user of a higher role than their own.
pub(crate) async fn user_changes_follow_the_targets_role(app: App) {
    use Role::*;
    // Users of marketplace A holding each role (and one holding none), without a password so
    // that they can be invited.
    let mut targets = vec![(app.a.user, "user@alpha.example".to_owned(), vec![])];
    for role in [MarketplaceManager, SalesSupport, CustomerSupport, Reseller] {
        let email = format!("target-{role}@alpha.example");
        let user = NewUser::with_email(Email::parse(&email).expect("email"), Origin::Manual);
        let id = app.store.create_user(app.a.id, &user).await.expect("user");
        app.store
            .grant_role(app.a.id, id, role)
            .await
            .expect("role");
        targets.push((id, email, vec![role]));
    }
    for (target, email, target_roles) in &targets {
        let fill = |template: &str| {
            let template = template
                .replace("{user}", &target.to_string())
                .replace("target%40example.com", &email.replace('@', "%40"));
            app.fill(&template, &app.a.slug, &app.a, 0)
        };
        for route in user_changing(PAGES) {
            for (who, actor) in [
                (Who::Staff(MarketplaceManager), vec![MarketplaceManager]),
                (Who::Staff(SalesSupport), vec![SalesSupport]),
                (Who::PlatformAdmin, vec![PlatformAdmin]),
            ] {
                let status = app
                    .page(who, route.method, &fill(route.path), &fill(route.body))
                    .await;
                let expected = if may_change(&actor, target_roles) {
                    vec![StatusCode::SEE_OTHER, StatusCode::OK]
                } else {
                    vec![StatusCode::FORBIDDEN]
                };
                assert!(
                    expected.contains(&status),
                    "{who:?} {} {} on a user holding {target_roles:?}: got {status}, \
                     expected {expected:?}",
                    route.method,
                    route.path
                );
            }
        }
        for route in user_changing(API) {
            for actor in [MarketplaceManager, SalesSupport] {
                let (status, answer) = app
                    .api(
                        Some(actor),
                        route.method,
                        &fill(route.path),
                        &fill(route.body),
                    )
                    .await;
                let expected = if may_change(&[actor], target_roles) {
                    vec![StatusCode::OK, StatusCode::ACCEPTED]
                } else {
                    vec![StatusCode::FORBIDDEN]
                };
                assert!(
                    expected.contains(&status),
                    "{actor} {} {} on a user holding {target_roles:?}: got {status} {answer}, \
                     expected {expected:?}",
                    route.method,
                    route.path
                );
            }
        }
    }
}

/// Pending companies are taken out of pending by Marketplace Managers only (docs/marketplaces.md).
pub(crate) async fn pending_companies_are_activated_by_managers(app: App) {
    let path = format!("/api/v1/companies/{}", app.a.pending_company);
    let activate = r#"{"status": "active"}"#;
    let (status, answer) = app
        .api(Some(Role::SalesSupport), "PATCH", &path, activate)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, answer) = app
        .api(
            Some(Role::SalesSupport),
            "PATCH",
            &path,
            r#"{"phone": "+1 555 0100"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "other fields stay open: {answer}");
    let page = format!("/m/{}/companies/{}", app.a.slug, app.a.pending_company);
    let (status, html) = app
        .page_raw(
            Who::Staff(Role::SalesSupport),
            "POST",
            &page,
            "name=Pending+Co&status=active",
            Some(super::harness::CSRF),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("Only a Marketplace Manager can activate"),
        "{html}"
    );
    let (status, answer) = app
        .api(Some(Role::MarketplaceManager), "PATCH", &path, activate)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "active");
}

pub(crate) async fn forms_without_their_csrf_token_are_refused(app: App) {
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
        .page_raw(who, "POST", &path, "name=Right", Some(super::harness::CSRF))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.companies(&app.a).await,
        before + 1,
        "only the form with its token wrote"
    );

    // Signed in, the token is the session's: a cookie and token an attacker planted (the pair
    // a visitor has before signing in) are refused.
    let planted = super::harness::CSRF;
    let refused = app
        .send_form(who, "POST", &path, "name=Planted", Some(planted), &[])
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "a planted pair");
    // From another site, even with the right token.
    let token = app.csrf_of(who, super::harness::CSRF);
    for headers in [
        [("sec-fetch-site", "cross-site")],
        [("origin", "https://evil.example")],
        [("origin", "null")],
    ] {
        let refused = app
            .send_form(who, "POST", &path, "name=Elsewhere", Some(&token), &headers)
            .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{headers:?}");
    }
    for headers in [
        [("sec-fetch-site", "same-origin")],
        [("origin", "http://ferry.test")],
    ] {
        let accepted = app
            .send_form(who, "POST", &path, "name=Here", Some(&token), &headers)
            .await;
        assert_eq!(accepted.status(), StatusCode::SEE_OTHER, "{headers:?}");
    }
    assert_eq!(app.companies(&app.a).await, before + 3);

    // Uploads carry the token as their first field; in the address it is not looked at.
    let uploads = format!("/m/{}/datasets?csrf={token}", app.a.slug);
    let refused = app
        .upload_without_token(who, &uploads, &[("name", None, "Addressed")])
        .await;
    assert_eq!(refused, StatusCode::FORBIDDEN);
}

/// Pending Companies open to Sales Support and Customer Support only while their toggle is on
/// and Company Sync with it: every page and API route of the queue, each way.
pub(crate) async fn pending_companies_follow_the_sync_toggles(app: App) {
    let queue_routes = |routes: &'static [Route]| {
        routes.iter().filter(|r| {
            (r.path.contains("pending") || r.path.contains("/sync/"))
                && !r.path.contains("settings")
                && !r.path.contains("/sync/users")
        })
    };
    let settings = |sync: bool, sales: bool, support: bool| ferry_storage::SyncSettings {
        company_sync: sync,
        sales_support_pending: sales,
        customer_support_pending: support,
        ..ferry_storage::SyncSettings::default()
    };
    for (sync, sales, support) in [
        (false, false, false),
        (true, true, false),
        (true, false, true),
        (false, true, true),
        (true, true, true),
    ] {
        app.store
            .set_sync_settings(app.a.id, &settings(sync, sales, support), "test")
            .await
            .expect("settings");
        for (role, open) in [
            (Role::SalesSupport, sync && sales),
            (Role::CustomerSupport, sync && support),
            (Role::MarketplaceManager, true),
        ] {
            for route in queue_routes(PAGES) {
                let path = app.fill(route.path, &app.a.slug, &app.a, 0);
                let body = app.fill(route.body, &app.a.slug, &app.a, 0);
                let status = app.page(Who::Staff(role), route.method, &path, &body).await;
                assert_eq!(
                    status == StatusCode::FORBIDDEN,
                    !open,
                    "{role} {} {path} with sync {sync}, sales {sales}, support {support}: {status}",
                    route.method
                );
            }
            for route in queue_routes(API) {
                let path = app.fill(route.path, &app.a.slug, &app.a, 0);
                let body = app.fill(route.body, &app.a.slug, &app.a, 0);
                let (status, answer) = app.api(Some(role), route.method, &path, &body).await;
                assert_eq!(
                    status == StatusCode::FORBIDDEN,
                    !open,
                    "{role} {} {path} with sync {sync}, sales {sales}, support {support}: \
                     {status} {answer}",
                    route.method
                );
            }
        }
        // The navigation offers the queue exactly to whom it is open.
        let (_, html) = app
            .page_raw(
                Who::Staff(Role::SalesSupport),
                "GET",
                &format!("/m/{}", app.a.slug),
                "",
                None,
            )
            .await;
        assert_eq!(html.contains("Pending Companies"), sync && sales, "{html}");
    }
}
