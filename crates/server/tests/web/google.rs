//! Google Workspace from the API and the pages: a connection whose key Google refuses is saved
//! and says why (in Ferry's words), the right key works, the key is never shown again, and a
//! company is linked to its Workspace customer.

use axum::http::StatusCode;
use ferry_domain::Role;
use ferry_emulators::google;
use serde_json::{Value, json};

use super::harness::{App, Who};

fn directory(seed: u64) -> google::Emulator {
    google::Emulator::new(google::Options {
        seed,
        customers: 40,
        resellers: 1,
        ..Default::default()
    })
}

pub(crate) async fn google_workspace_is_connected_and_linked(app: App) {
    let manager = Some(Role::MarketplaceManager);
    let emulator = directory(5);
    let url = emulator.serve_locally().await.expect("the Google emulator");
    let put = |key_file: Value| {
        json!({ "key_file": key_file, "admin": "admin@example.com", "api_url": url }).to_string()
    };

    // Not a service account's key: refused, naming the field, nothing saved.
    let (status, answer) = app
        .api(
            manager,
            "PUT",
            "/api/v1/google/connection",
            &put(json!("{\"type\": 1}")),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("key_file")
    );
    let (_, none) = app
        .api(manager, "GET", "/api/v1/google/connection", "")
        .await;
    assert_eq!(none, Value::Null);

    // Another emulator's key: saved, and Google's refusal shown.
    let foreign = directory(6).service_account_key(&url);
    let (status, refused) = app
        .api(
            manager,
            "PUT",
            "/api/v1/google/connection",
            &put(json!(foreign)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refused}");
    assert_eq!(refused["works"], false);
    let why = refused["check_error"].as_str().expect("why");
    assert!(why.contains("Invalid JWT Signature"), "{why}");
    let settings = format!("/m/{}/settings/sync", app.a.slug);
    let app = &app;
    let manager_sees = |path: String| async move {
        app.page_raw(Who::Staff(Role::MarketplaceManager), "GET", &path, "", None)
            .await
    };
    let (status, page) = manager_sees(settings.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"google-refused\""), "the page says why");
    assert!(page.contains("Invalid JWT Signature"));

    // The right key, uploaded from the page: it works, and its secret is never shown.
    let key: Value = serde_json::from_str(&emulator.service_account_key(&url)).expect("key");
    let key_text = key.to_string();
    let (status, answer) = app
        .page_upload(
            Who::Staff(Role::MarketplaceManager),
            &format!("{settings}/google"),
            &[
                ("key_file", Some("key.json"), key_text.as_str()),
                ("admin", None, "admin@example.com"),
                ("api_url", None, url.as_str()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{answer}");
    let (_, works) = app
        .api(manager, "GET", "/api/v1/google/connection", "")
        .await;
    assert_eq!(works["works"], true, "{works}");
    assert_eq!(works["client_email"], key["client_email"]);
    let (_, page) = manager_sees(settings.clone()).await;
    for shown in [works.to_string(), page] {
        assert!(!shown.contains("PRIVATE KEY"));
    }

    // A company linked to a Workspace customer, by domain; both at once is refused.
    let customer = &emulator.customers()[0];
    let path = format!("/api/v1/companies/{}/google", app.a.company);
    let both = json!({ "customer_id": customer.customer_id, "domain": customer.domain });
    let (status, _) = app.api(manager, "PUT", &path, &both.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .api(
            manager,
            "PUT",
            &path,
            &json!({ "customer_id": "fabrikam" }).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let by_domain = json!({ "domain": customer.domain.to_uppercase() }).to_string();
    let (status, linked) = app.api(manager, "PUT", &path, &by_domain).await;
    assert_eq!(status, StatusCode::OK, "{linked}");
    assert_eq!(
        linked,
        json!({ "customer_id": null, "domain": customer.domain })
    );
    let company_page = format!("/m/{}/companies/{}", app.a.slug, app.a.company);
    let (_, page) = app
        .page_raw(
            Who::Staff(Role::SalesSupport),
            "GET",
            &company_page,
            "",
            None,
        )
        .await;
    assert!(page.contains(&format!(
        "Linked to Google Workspace domain {}",
        customer.domain
    )));
    assert!(page.contains(&format!(
        "linked this company to Google Workspace domain {}",
        customer.domain
    )));
    // From the page, by customer id.
    let form = format!("kind=id&value={}", customer.customer_id);
    let status = app
        .page(
            Who::Staff(Role::SalesSupport),
            "POST",
            &format!("{company_page}/google"),
            &form,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, read) = app.api(manager, "GET", &path, "").await;
    assert_eq!(read["customer_id"], customer.customer_id.as_str());
}
