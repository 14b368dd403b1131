//! Partner Center instances: the marketplace hierarchy, credentials and their states.

use axum::http::StatusCode;
use ferry_domain::{InstanceAuth, MarketplaceKind, Role};
use serde_json::{Value, json};

use super::harness::{App, CSRF, Who};

/// A country tenant uses its parent's Partner Center instance live: a refresh token the parent
/// rotates is what the child uses next, with nothing saved again — here through two servers
/// sharing the database, as two processes would. A simple tenant neither sees nor uses it.
/// Wrong or revoked credentials give a clear state. Secrets never come back.
pub(crate) async fn instances_follow_the_marketplace_hierarchy(app: App) {
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

/// Where an instance's secrets may go: changing an address needs the secrets again, only
/// Microsoft's services (and the emulators here) are addresses, and what a service answers is
/// not passed on as it is.
pub(crate) async fn instance_secrets_go_only_where_they_belong(app: App) {
    let manager = Some(Role::MarketplaceManager);
    let (emulator, pc) = partner_center(11, 2).await;
    let c = emulator.credentials();
    let (status, created) = app
        .api(
            manager,
            "POST",
            "/api/v1/instances",
            &instance_of(&c, &pc).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let path = format!("/api/v1/instances/{}", created["id"]);

    let moved = json!({ "login_base_url": "http://127.0.0.1:9" }).to_string();
    let (status, answer) = app.api(manager, "PATCH", &path, &moved).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("secret")
    );

    for url in [
        "https://evil.example",
        "http://169.254.169.254",
        "https://login.microsoftonline.com.evil.example",
    ] {
        let body = json!({
            "api_base_url": url, "secret": c.client_secret, "refresh_token": c.refresh_token,
        });
        let (status, answer) = app.api(manager, "PATCH", &path, &body.to_string()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("not a Partner Center address"),
            "{answer}"
        );
    }

    // A sign-in address that answers with text of its own: the instance says what failed in
    // Ferry's words, not the service's.
    let talker = axum::Router::new().fallback(|| async {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({
                "error": "invalid_request",
                "error_description": "internal-data-7f3a: db=10.0.0.5 password=hunter2",
                "error_codes": [9_999],
            })),
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let talker_url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(ferry_emulators::serve(
        listener,
        talker,
        std::future::pending(),
    ));
    let body = json!({
        "login_base_url": talker_url, "secret": c.client_secret, "refresh_token": c.refresh_token,
    });
    let (status, answer) = app.api(manager, "PATCH", &path, &body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, checked) = app.api(manager, "POST", &format!("{path}/check"), "").await;
    assert_eq!(checked["auth_state"], "failing", "{checked}");
    let reason = checked["auth_reason"].as_str().expect("reason");
    assert!(
        !reason.contains("internal-data") && !reason.contains("hunter2"),
        "{reason}"
    );
}

/// The page's form keeps what was typed when it refuses it, says why next to the field, and
/// checks a new instance at once.
pub(crate) async fn the_instance_form_keeps_what_was_typed(app: App) {
    let (emulator, pc) = partner_center(12, 2).await;
    let c = emulator.credentials();
    let who = Who::Staff(Role::MarketplaceManager);
    let path = format!("/m/{}/settings/partner-center", app.a.slug);
    let form = |tenant: &str| {
        format!(
            "name=Contoso+CSP&model=indirect&partner_tenant_id={tenant}&application_id={}\
             &secret={}&api_base_url={pc}&login_base_url={pc}",
            c.client_id, c.client_secret
        )
    };
    let (status, page) = app
        .page_raw(
            who,
            "POST",
            &path,
            &form("not-a-guid"),
            Some(super::harness::CSRF),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("value=\"Contoso CSP\""),
        "the name is kept: {page}"
    );
    assert!(
        page.contains("value=\"indirect\" selected"),
        "the model is kept"
    );
    let reason = page.find("class=\"field-error\"").map(|at| &page[at..]);
    assert!(
        reason.is_some_and(|r| r.contains("is not a tenant id")),
        "the reason, next to the field: {page}"
    );
    assert!(
        !page.contains(&c.client_secret),
        "the secret is not sent back"
    );
    let response = app
        .page_response(
            who,
            "POST",
            &path,
            &form(&c.partner_tenant_id),
            Some(super::harness::CSRF),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, page) = app.page_raw(who, "GET", &path, "", None).await;
    assert!(page.contains("authenticated"), "checked at once: {page}");
}

async fn admin_call(base: &str, path: &str) {
    let response = reqwest::Client::new()
        .post(format!("{base}/_admin{path}"))
        .send()
        .await
        .expect("admin");
    assert!(response.status().is_success());
}

/// A Partner Center emulator of `customers` customers, served on a free port: the emulator
/// (for its credentials and world) and its base URL.
pub(crate) async fn partner_center(
    seed: u64,
    customers: usize,
) -> (ferry_emulators::partner_center::Emulator, String) {
    use ferry_emulators::partner_center::{Emulator, Options};
    let emulator = Emulator::new(Options {
        seed,
        customers,
        ..Options::default()
    });
    let url = emulator.serve_locally().await.expect("the emulator");
    (emulator, url)
}

/// The API body that connects the emulator with credentials `c` at `url` as an instance.
pub(crate) fn instance_of(
    c: &ferry_emulators::partner_center::Credentials,
    url: &str,
) -> serde_json::Value {
    json!({
        "name": "Contoso CSP", "model": "both", "partner_tenant_id": c.partner_tenant_id,
        "application_id": c.client_id, "secret": c.client_secret, "refresh_token": c.refresh_token,
        "api_base_url": url, "login_base_url": url,
    })
}

/// Get Hierarchy through the API: started as a job, one at a time per instance (the second
/// answer names the running one), a bad tenant id refused before anything is asked, an unknown
/// tenant said in the tool's words, Last Update and the retrievals read back.
pub(crate) async fn get_hierarchy_through_the_api(app: App) {
    let manager = Some(Role::MarketplaceManager);
    let (emulator, url) = partner_center(11, 30).await;
    let (status, created) = app
        .api(
            manager,
            "POST",
            "/api/v1/instances",
            &instance_of(&emulator.credentials(), &url).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let hierarchy = format!("/api/v1/instances/{}/hierarchy", created["id"]);

    let (status, answer) = app.api(manager, "GET", &hierarchy, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["last_update"], Value::Null, "never retrieved");

    let (status, started) = app.api(manager, "POST", &hierarchy, "{}").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let (status, refused) = app.api(manager, "POST", &hierarchy, "{}").await;
    assert_eq!(status, StatusCode::CONFLICT);
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("retrieval {}", started["run_id"]))
            && message.contains("already running"),
        "{message}"
    );
    app.run_dataset_jobs().await;
    let (_, answer) = app.api(manager, "GET", &hierarchy, "").await;
    assert_eq!(answer["runs"][0]["state"], "completed", "{answer}");
    assert_eq!(answer["runs"][0]["summary"]["tenants"], 30);
    assert!(answer["last_update"].is_string(), "{answer}");

    // The audited list: every tenant, not imported yet; the resellers with their customers.
    let tenants = format!("/api/v1/instances/{}/tenants", created["id"]);
    let (status, list) = app
        .api(manager, "GET", &format!("{tenants}?limit=20"), "")
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        (list["total"].as_i64(), list["more"].as_bool()),
        (Some(30), Some(false))
    );
    let first = &list["items"][0];
    assert_eq!(first["type"], "customer");
    assert_eq!(first["status"], "not-imported");
    for field in [
        "tenant_id",
        "name",
        "domain",
        "reseller_tenant_id",
        "reseller_mpn_id",
        "related_companies",
        "subscriptions",
        "possible_matches",
    ] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }
    let next = list["next"].as_str().expect("a second page");
    let (_, rest) = app
        .api(
            manager,
            "GET",
            &format!(
                "{tenants}?after={}",
                next.replace('|', "%7C")
                    .replace(' ', "%20")
                    .replace('&', "%26")
            ),
            "",
        )
        .await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(10), "{rest}");
    let (_, synced) = app
        .api(manager, "GET", &format!("{tenants}?status=synced"), "")
        .await;
    assert_eq!(synced["total"], 0);
    let (status, _) = app
        .api(manager, "GET", &format!("{tenants}?status=lost"), "")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, resellers) = app
        .api(manager, "GET", &format!("{tenants}?type=reseller"), "")
        .await;
    let resellers = resellers["items"].as_array().expect("resellers");
    assert_eq!(resellers.len(), 4, "the reseller with no customer too");
    assert!(resellers.iter().any(|r| r["end_customers"] == 0));
    let served: i64 = resellers
        .iter()
        .filter_map(|r| r["end_customers"].as_i64())
        .sum();
    let one = resellers
        .iter()
        .find(|r| r["end_customers"].as_i64() > Some(0))
        .expect("a reseller with customers");
    let (_, theirs) = app
        .api(
            manager,
            "GET",
            &format!(
                "{tenants}?reseller={}",
                one["tenant_id"].as_str().unwrap_or("")
            ),
            "",
        )
        .await;
    assert_eq!(theirs["total"], one["end_customers"]);
    let (_, direct) = app
        .api(manager, "GET", &format!("{tenants}?reseller=direct"), "")
        .await;
    assert_eq!(direct["total"].as_i64(), Some(30 - served));

    // The reseller's MPN id given to the marketplace's simple tenant: its end customers are
    // the tenant reseller's from the next retrieval on.
    let setting = format!(
        "/m/{}/settings/partner-center/tenant-resellers/{}",
        app.a.slug, app.a.tenant_reseller
    );
    let page_manager = Who::Staff(Role::MarketplaceManager);
    let (status, page) = app
        .page_raw(page_manager, "POST", &setting, "mpn_id=48-29", Some(CSRF))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("&#39;48-29&#39; is not an MPN id"), "{page}");
    let mpn = one["mpn_id"].as_str().expect("an MPN id");
    let status = app
        .page(page_manager, "POST", &setting, &format!("mpn_id={mpn}"))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = app.api(manager, "POST", &hierarchy, "{}").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.run_dataset_jobs().await;
    let (_, held) = app
        .api(
            manager,
            "GET",
            &format!("{tenants}?type=tenant-reseller"),
            "",
        )
        .await;
    assert_eq!(held["total"], one["end_customers"]);
    assert_eq!(held["items"][0]["type"], "tenant-reseller");
    assert_eq!(
        held["items"][0]["tenant_reseller"]["name"],
        "alpha storefront"
    );
    let (_, customers) = app
        .api(manager, "GET", &format!("{tenants}?type=customer"), "")
        .await;
    assert_eq!(
        customers["total"].as_i64(),
        one["end_customers"].as_i64().map(|n| 30 - n)
    );

    let (status, refused) = app
        .api(manager, "POST", &hierarchy, r#"{"tenant_id": "contoso"}"#)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("is not a tenant id")),
        "{refused}"
    );
    let nobody = "00000000-0000-4000-8000-000000000001";
    let body = json!({ "tenant_id": nobody }).to_string();
    let (status, _) = app.api(manager, "POST", &hierarchy, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.run_dataset_jobs().await;
    let (_, answer) = app.api(manager, "GET", &hierarchy, "").await;
    assert_eq!(answer["runs"][0]["state"], "failed");
    assert_eq!(
        answer["runs"][0]["error"],
        format!("The Microsoft Tenant with ID '{nobody}' does not exist.")
    );
}

/// The Import Customers page: Get Hierarchy from the form, followed on the page, then what the
/// snapshot holds, Last Update, the retrievals and — after the world changed — what changed; a
/// tenant id that is not one is refused next to what was typed.
pub(crate) async fn the_import_customers_page_follows_a_retrieval(app: App) {
    let manager = Who::Staff(Role::MarketplaceManager);
    let (emulator, url) = partner_center(12, 12).await;
    let (status, created) = app
        .api(
            Some(Role::MarketplaceManager),
            "POST",
            "/api/v1/instances",
            &instance_of(&emulator.credentials(), &url).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let tool = format!("/m/{}/import-customers/{}", app.a.slug, created["id"]);
    let (status, page) = app.page_raw(manager, "GET", &tool, "", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Last Update: <span id=\"last-update\">never</span>")
            && page.contains("Nothing retrieved from Contoso CSP yet"),
        "{page}"
    );

    let hierarchy = format!("{tool}/hierarchy");
    let status = app.page(manager, "POST", &hierarchy, "scope=mass").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = app.page_raw(manager, "GET", &tool, "", None).await;
    assert!(
        page.contains("Retrieving") && page.contains("data-refresh"),
        "{page}"
    );
    app.run_dataset_jobs().await;
    let (_, progress) = app
        .page_raw(manager, "GET", &format!("{tool}/progress"), "", None)
        .await;
    assert!(progress.contains("data-final"), "{progress}");
    let (_, page) = app.page_raw(manager, "GET", &tool, "", None).await;
    assert!(
        page.contains("From the Last Update") && page.contains("12 tenants"),
        "{page}"
    );
    assert!(
        page.contains("it was the first retrieval") && !page.contains(">never<"),
        "{page}"
    );
    assert!(
        page.contains("id=\"tenant-list\"")
            && page.contains("12 tenants")
            && page.contains(">Not imported<")
            && page.contains("Indirect resellers"),
        "the audited list and the resellers: {page}"
    );
    let (_, filtered) = app
        .page_raw(manager, "GET", &format!("{tool}?status=synced"), "", None)
        .await;
    assert!(
        filtered.contains("No tenant matches these filters."),
        "{filtered}"
    );

    // A tenant leaves Partner Center: the next retrieval says so.
    let world: Value = serde_json::from_str(&emulator.world_json()).expect("world");
    let gone = world["customers"][0]["id"].as_str().expect("a customer");
    reqwest::Client::new()
        .delete(format!("{url}/_admin/customers/{gone}"))
        .send()
        .await
        .expect("admin");
    app.page(manager, "POST", &hierarchy, "scope=mass").await;
    app.run_dataset_jobs().await;
    let (_, page) = app.page_raw(manager, "GET", &tool, "", None).await;
    assert!(
        page.contains("Tenant gone") && page.contains(&gone.to_ascii_lowercase()),
        "{page}"
    );

    let (status, page) = app
        .page_raw(
            manager,
            "POST",
            &hierarchy,
            "scope=one&tenant=contoso",
            Some(CSRF),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("is not a tenant id") && page.contains("value=\"contoso\""),
        "{page}"
    );

    // Its authentication expired: no tenants, only why and what to do.
    let id = created["id"].as_i64().expect("id");
    app.store
        .set_instance_auth(app.a.id, id, InstanceAuth::Expired, Some("AADSTS700082"))
        .await
        .expect("expire");
    let (_, page) = app.page_raw(manager, "GET", &tool, "", None).await;
    assert!(
        page.contains("authentication has expired")
            && page.contains("consent again")
            && !page.contains("id=\"tenant-list\"")
            && !page.contains("From the Last Update"),
        "{page}"
    );
}
