//! Datasets through the API: migration and order datasets, and the Microsoft checks.

use axum::http::StatusCode;
use ferry_domain::Role;

use super::harness::{App, Who};
use super::instances::{instance_of, partner_center};

/// A company's History names every change, whoever made it: the token that created it, and
/// the dataset (linked) that changed its phone and street.
pub(crate) async fn history_shows_what_a_dataset_changed(app: App) {
    let manager = Role::MarketplaceManager;
    let body = r#"{"name": "Harbor Goods", "external_id": "H-1", "street1": "Main St"}"#;
    let (status, created) = app
        .api(Some(manager), "POST", "/api/v1/companies", body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let companies = "EXTERNAL_ID,NAME,STREET1,PHONE\nH-1,Harbor Goods,Ring 1,+43 1 234\n\
                     H-2,Harbor Two,,\n";
    let (status, uploaded) = app
        .upload(
            manager,
            "/api/v1/datasets",
            &[
                ("name", None, "Spring update"),
                ("companies", Some("c.csv"), companies),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{uploaded}");
    app.run_dataset_jobs().await;
    let (status, page) = app
        .page_raw(
            Who::Staff(manager),
            "GET",
            &format!("/m/{}/companies/{}", app.a.slug, created["id"]),
            "",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let dataset = uploaded["dataset_id"].as_i64().expect("dataset");
    for expected in [
        format!(
            "<a href=\"/m/{}/datasets/{dataset}\">Dataset Spring update</a>",
            app.a.slug
        ),
        "changed phone from — to +43 1 234, street from Main St to Ring 1".to_owned(),
        "API token “marketplace-manager”".to_owned(),
        "created this company".to_owned(),
    ] {
        assert!(page.contains(&expected), "{expected:?} in {page}");
    }
    // The company the dataset created names it as its origin, linked, and says when it is gone.
    let second = app
        .store
        .company_by_external_id(app.a.id, "H-2")
        .await
        .expect("read")
        .expect("created by the dataset");
    let company_page = format!("/m/{}/companies/{}", app.a.slug, second.id);
    let (_, page) = app
        .page_raw(Who::Staff(manager), "GET", &company_page, "", None)
        .await;
    let origin = format!(
        "<dt>Origin</dt><dd><a href=\"/m/{}/datasets/{dataset}\">Dataset Spring update</a></dd>",
        app.a.slug
    );
    assert!(page.contains(&origin), "{page}");
    let (status, _) = app
        .api(
            Some(manager),
            "DELETE",
            &format!("/api/v1/datasets/{dataset}"),
            "",
        )
        .await;
    assert!(status.is_success(), "{status}");
    let (_, page) = app
        .page_raw(Who::Staff(manager), "GET", &company_page, "", None)
        .await;
    assert!(
        page.contains(&format!("Dataset #{dataset}, since deleted")),
        "{page}"
    );
}

/// Each data type's column guide reads on the page, not only with `ferry dataset template --guide`.
pub(crate) async fn column_guides_are_readable_on_the_page(app: App) {
    let who = Who::Staff(Role::MarketplaceManager);
    let (_, page) = app
        .page_raw(who, "GET", &format!("/m/{}/datasets", app.a.slug), "", None)
        .await;
    let guide = format!(
        "/m/{}/datasets/templates/company_entitlements?guide",
        app.a.slug
    );
    assert!(page.contains(&format!("href=\"{guide}\"")), "{page}");
    let response = app.page_response(who, "GET", &guide, "", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[axum::http::header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("BILLING_CYCLE") && text.contains("MONTHLY or ANNUAL"),
        "{text}"
    );
}

/// A denied dataset's plan says what activation would have done, not what it will do.
pub(crate) async fn a_denied_dataset_says_nothing_will_be_written(app: App) {
    let manager = Role::MarketplaceManager;
    let users = "EXTERNAL_ID,EMAIL_ADDRESS\nu-7,gil@alpha.example\n";
    let (_, uploaded) = app
        .upload(
            manager,
            "/api/v1/datasets",
            &[
                ("name", None, "Maybe"),
                ("review", None, "true"),
                ("users", Some("u.csv"), users),
            ],
        )
        .await;
    app.run_dataset_jobs().await;
    let id = uploaded["dataset_id"].as_i64().expect("dataset");
    let page = format!("/m/{}/datasets/{id}", app.a.slug);
    let who = Who::Staff(manager);
    let (_, before) = app.page_raw(who, "GET", &page, "", None).await;
    assert!(before.contains("What activation will do"), "{before}");
    // The jobs page says what the job did, links to the dataset, and shows it finished.
    let jobs = format!("/m/{}/jobs/rows", app.a.slug);
    let (_, rows) = app.page_raw(who, "GET", &jobs, "", None).await;
    assert!(
        rows.contains(&format!("<a href=\"{page}\">Validate dataset “Maybe”</a>"))
            && rows.contains("Finished"),
        "{rows}"
    );
    assert!(
        before.contains(
            "Activate this dataset? It will create 1 record, update 0 and skip 0 rows with errors."
        ),
        "Activate asks, with the plan's totals: {before}"
    );
    let (status, _) = app
        .api(
            Some(manager),
            "POST",
            &format!("/api/v1/datasets/{id}/deny"),
            "",
        )
        .await;
    assert!(status.is_success(), "{status}");
    let (_, after) = app.page_raw(who, "GET", &page, "", None).await;
    assert!(
        after.contains("would have done") && !after.contains("What activation will do"),
        "{after}"
    );
}

pub(crate) async fn datasets_through_the_api(app: App) {
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
    // The list's figures: rows read in all files, and rows with errors, as the plan counts.
    let skipped: i64 = dataset["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .map(|p| p["skipped"].as_i64().unwrap_or_default())
        .sum();
    assert_eq!(
        (dataset["rows"].as_i64(), dataset["errors"].as_i64()),
        (Some(5), Some(skipped))
    );
    assert!(
        dataset["progress"].is_null(),
        "no progress once validated: {dataset}"
    );
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
    // Until validated again, the dataset says so and shows no findings of the files it had.
    let (status, page) = app
        .page_raw(
            Who::Staff(manager),
            "GET",
            &format!("/m/{}/datasets/{id}", app.a.slug),
            "",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Validating") && !page.contains("DUPLICATE_RECORD"),
        "{page}"
    );
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

    let (status, accepted) = app
        .api(
            Some(manager),
            "DELETE",
            &format!("/api/v1/datasets/{id}?undo=true"),
            "",
        )
        .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the undo is a job: {accepted}"
    );
    app.run_dataset_jobs().await;
    assert_eq!(
        app.store.count_companies(app.a.id).await.expect("count"),
        2,
        "undo removed what it created"
    );
    let (_, job) = app
        .api(
            Some(manager),
            "GET",
            &format!("/api/v1/jobs/{}", accepted["job_id"]),
            "",
        )
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let said = job["progress"]["message"].as_str().unwrap_or_default();
    assert!(
        said.starts_with("Removed "),
        "the undo says what it did: {job}"
    );
    let jobs = format!("/m/{}/jobs", app.a.slug);
    let (_, page) = app
        .page_raw(Who::Staff(Role::MarketplaceManager), "GET", &jobs, "", None)
        .await;
    assert!(
        page.contains("Undo dataset “") && page.contains(said),
        "{page}"
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
        (
            vec![
                ("name", None, "Twice"),
                ("users", Some("u.csv"), users),
                ("users", Some("u2.csv"), users),
            ],
            "two files were sent for",
        ),
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
pub(crate) async fn order_datasets_through_the_api(app: App) {
    let manager = Role::MarketplaceManager;
    app.store
        .create_edition(
            app.a.id,
            &ferry_domain::NewEdition {
                product_id: app.a.product,
                code: "E1".into(),
                name: "Business".into(),
                pricing_plan_id: "pp-e1".into(),
                channel_sku: None,
                pricing_unit: ferry_domain::PricingUnit::User,
                included_units: 1,
                billing_cycles: vec!["MONTHLY".into()],
                terms: vec!["P1Y".into()],
                connector: ferry_domain::Connector::None,
                offer_ids: vec![],
                active: true,
            },
        )
        .await
        .expect("edition");
    // The first order goes through; the second names no edition of the catalog.
    let orders = "ORDER_EXTERNAL_ID,COMPANY_EXTERNAL_ID,COMPANY_NAME,USER_EXTERNAL_ID,USER_EMAIL_ADDRESS,EDITION_CODE,UNITS\n\
        o-1,c-20,Tailspin,u-20,ann@tailspin.example,E1,5\n\
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
            ("company_entitlements", 1),
            ("user_entitlements", 1),
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
    let reseller_orders = orders
        .replace(
            "c-20,Tailspin,u-20,ann@tailspin",
            "c-30,Wingtip,u-30,bo@wingtip",
        )
        .replace("o-", "ro-");
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
pub(crate) async fn microsoft_records_are_checked_against_partner_center(app: App) {
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
    let (status, instance) = app
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

    // Activated, the dataset links the tenant to its company: Get Hierarchy then shows that
    // company as the tenant's Related Account, whoever made the link.
    let (status, _) = app
        .api(
            Some(manager),
            "POST",
            &format!("/api/v1/datasets/{id}/activate"),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.run_dataset_jobs().await;
    let instance = instance["id"].as_i64().expect("instance id");
    let hierarchy = format!("/api/v1/instances/{instance}/hierarchy");
    let (status, _) = app.api(Some(manager), "POST", &hierarchy, "{}").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.run_dataset_jobs().await;
    let (_, listed) = app
        .api(
            Some(manager),
            "GET",
            &format!("/api/v1/instances/{instance}/tenants?q={tenant}"),
            "",
        )
        .await;
    assert_eq!(
        listed["items"][0]["related_companies"][0]["name"], "Northwind",
        "{listed}"
    );
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
