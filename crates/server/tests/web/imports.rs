//! Import Customers runs through the API: every tenant not imported brought in as a job, the
//! results by tab with each subscription's outcome, the CSV, a retry, the history.

use axum::http::StatusCode;
use ferry_domain::Role;
use serde_json::{Value, json};

use super::harness::{App, CSRF, Who};
use super::instances::{instance_of, partner_center};

pub(crate) async fn import_through_the_api(app: App) {
    let manager = Some(Role::MarketplaceManager);
    let (emulator, url) = partner_center(13, 20).await;
    let (status, created) = app
        .api(
            manager,
            "POST",
            "/api/v1/instances",
            &instance_of(&emulator.credentials(), &url).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let instance = created["id"].as_i64().expect("id");
    let all = json!({ "instance_id": instance, "all": true }).to_string();
    let (status, refused) = app.api(manager, "POST", "/api/v1/imports", &all).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("run Get Hierarchy first")),
        "{refused}"
    );
    let hierarchy = format!("/api/v1/instances/{instance}/hierarchy");
    let (status, _) = app.api(manager, "POST", &hierarchy, "{}").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.run_dataset_jobs().await;

    let (status, started) = app.api(manager, "POST", "/api/v1/imports", &all).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["tenants"], 20);
    let id = started["import_id"].as_i64().expect("id");
    let (status, again) = app.api(manager, "POST", "/api/v1/imports", &all).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    app.run_dataset_jobs().await;

    // No edition maps the emulator's offers here: every company is created, every importable
    // subscription fails OFFER_NOT_MAPPED and says which offer.
    let (status, run) = app
        .api(
            manager,
            "GET",
            &format!("/api/v1/imports/{id}?tab=direct"),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["import"]["state"], "completed", "{run}");
    let tabs = &run["import"]["tabs"];
    let total: i64 = ["direct", "indirect", "tenant-reseller"]
        .iter()
        .map(|t| {
            ["completed", "completed_with_errors"]
                .iter()
                .map(|s| tabs[t][s].as_i64().unwrap_or(0))
                .sum::<i64>()
        })
        .sum();
    assert_eq!(total, 20, "{tabs}");
    let tenants = run["tenants"].as_array().expect("tenants");
    assert!(!tenants.is_empty());
    let failed: Vec<&Value> = tenants
        .iter()
        .flat_map(|t| t["subscriptions"].as_array().into_iter().flatten())
        .filter(|s| s["outcome"] == "failed")
        .collect();
    assert!(!failed.is_empty());
    assert!(failed.iter().all(|s| {
        s["code"] == "OFFER_NOT_MAPPED"
            && s["reason"]
                .as_str()
                .is_some_and(|r| r.contains("No active edition"))
    }));
    assert!(tenants.iter().all(|t| t["company_created"] == true));

    let (status, csv, _) = app
        .api_text(
            Role::MarketplaceManager,
            &format!("/api/v1/imports/{id}/results.csv"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .is_some_and(|h| h.starts_with("tab,tenant_id,tenant_name"))
    );
    assert!(lines.any(|l| l.contains("OFFER_NOT_MAPPED")));
    let (status, _, _) = app
        .api_text(
            Role::MarketplaceManager,
            &format!("/api/v1/imports/{id}/results.csv?tab=lost"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A retry takes up the tenants whose subscriptions failed, and nothing else.
    let (status, retried) = app
        .api(manager, "POST", &format!("/api/v1/imports/{id}/retry"), "")
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retried}");
    let (status, busy) = app
        .api(manager, "POST", &format!("/api/v1/imports/{id}/retry"), "")
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{busy}");
    app.run_dataset_jobs().await;
    let (_, history) = app.api(manager, "GET", "/api/v1/imports", "").await;
    let ours = history
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["id"] == id)
        .expect("listed");
    assert_eq!(ours["state"], "completed");

    let (status, bad) = app
        .api(
            manager,
            "POST",
            "/api/v1/imports",
            &json!({ "instance_id": instance }).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    let unknown = json!({ "instance_id": instance, "tenant_ids": ["not-a-tenant"] });
    let (status, bad) = app
        .api(manager, "POST", "/api/v1/imports", &unknown.to_string())
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not-a-tenant"))
    );
}

/// Importing from the tenant list: ticked tenants lose their box while their import waits,
/// Import Results follows the run by tab, lists the offers no edition maps, downloads as CSV
/// and retries what failed.
pub(crate) async fn imports_from_the_page(app: App) {
    let manager = Who::Staff(Role::MarketplaceManager);
    let (emulator, url) = partner_center(14, 12).await;
    let (status, created) = app
        .api(
            Some(Role::MarketplaceManager),
            "POST",
            "/api/v1/instances",
            &instance_of(&emulator.credentials(), &url).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let instance = created["id"].as_i64().expect("id");
    let tool = format!("/m/{}/import-customers/{instance}", app.a.slug);
    let (status, page) = app
        .page_raw(
            manager,
            "POST",
            &format!("{tool}/import"),
            "all=1",
            Some(CSRF),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("run Get Hierarchy first"), "{page}");
    app.page(manager, "POST", &format!("{tool}/hierarchy"), "scope=mass")
        .await;
    app.run_dataset_jobs().await;

    let (_, page) = app.page_raw(manager, "GET", &tool, "", None).await;
    let ticked: Vec<&str> = page
        .split("type=\"checkbox\" name=\"tenant\" value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .take(2)
        .collect();
    assert_eq!(ticked.len(), 2, "every tenant has a box before any import");
    let (status, _) = app
        .page_raw(manager, "POST", &format!("{tool}/import"), "", Some(CSRF))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "nothing ticked");
    let body = format!("tenant={}&tenant={}", ticked[0], ticked[1]);
    let status = app
        .page(manager, "POST", &format!("{tool}/import"), &body)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, runs) = app
        .api(Some(Role::MarketplaceManager), "GET", "/api/v1/imports", "")
        .await;
    let id = runs[0]["id"].as_i64().expect("the run");
    let results = format!("/m/{}/imports/{id}", app.a.slug);

    // Waiting: no box for those two, and the run's page follows it.
    let (_, page) = app.page_raw(manager, "GET", &tool, "", None).await;
    for tenant in &ticked {
        assert!(
            !page.contains(&format!("value=\"{tenant}\"")),
            "{tenant} has no box"
        );
    }
    assert!(page.contains(&format!("Importing (import {id})")), "{page}");
    let (_, page) = app.page_raw(manager, "GET", &results, "", None).await;
    assert!(
        page.contains("data-refresh") && page.contains("Importing"),
        "{page}"
    );

    app.run_dataset_jobs().await;
    let (status, page) = app.page_raw(manager, "GET", &results, "", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("data-refresh"), "ended: {page}");
    assert!(page.contains("Offers no edition maps"), "{page}");
    assert!(page.contains("Retry failed subscriptions"), "{page}");
    for tab in ["Direct (", "Indirect (", "Tenant Reseller ("] {
        assert!(page.contains(tab), "{tab}");
    }
    let (status, csv) = app
        .page_raw(manager, "GET", &format!("{results}/results.csv"), "", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.starts_with("tab,tenant_id,tenant_name"), "{csv}");
    // Each offer no edition maps, mapped in place, then the failed subscriptions retried.
    let mut offers: Vec<String> = Vec::new();
    for tab in ["direct", "indirect", "tenant-reseller"] {
        let (_, run) = app
            .api(
                Some(Role::MarketplaceManager),
                "GET",
                &format!("/api/v1/imports/{id}?tab={tab}"),
                "",
            )
            .await;
        offers.extend(
            run["tenants"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|t| t["subscriptions"].as_array().into_iter().flatten())
                .filter(|s| s["code"] == "OFFER_NOT_MAPPED")
                .filter_map(|s| s["offer_id"].as_str().map(str::to_owned)),
        );
    }
    offers.sort();
    offers.dedup();
    assert!(!offers.is_empty());
    for offer in &offers {
        assert!(
            page.contains(&format!("value=\"{offer}\"")),
            "{offer} is offered to map"
        );
        let body = format!("offer_id={offer}&edition={}", app.a.edition);
        let status = app
            .page(manager, "POST", &format!("{results}/map"), &body)
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{offer}");
    }
    assert_eq!(
        app.page(manager, "POST", &format!("{results}/retry"), "")
            .await,
        StatusCode::SEE_OTHER
    );
    app.run_dataset_jobs().await;
    let (_, page) = app.page_raw(manager, "GET", &results, "", None).await;
    assert!(!page.contains("Offers no edition maps"), "{page}");
    assert!(!page.contains("Retry failed subscriptions"), "{page}");
    let (_, page) = app
        .page_raw(
            manager,
            "GET",
            &format!("/m/{}/imports", app.a.slug),
            "",
            None,
        )
        .await;
    assert!(page.contains(&format!("/imports/{id}\"")), "{page}");
    let (_, page) = app.page_raw(manager, "GET", &tool, "", None).await;
    assert!(page.contains(&format!("Completed (import {id})")), "{page}");
}
