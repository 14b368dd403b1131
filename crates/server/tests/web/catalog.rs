//! The catalog page: products, editions and their offer ids, and product webhooks.

use axum::http::StatusCode;
use ferry_domain::Role;

use super::harness::{App, Who};

/// A product's webhook is set on the catalog page: the address shows, the secret never does,
/// an empty secret keeps the current one, an empty address removes both, and an address that
/// is not http(s) is refused, saying why.
pub(crate) async fn product_webhooks_are_set_from_the_catalog_page(app: App) {
    let manager = Who::Staff(Role::MarketplaceManager);
    let catalog = &format!("/m/{}/catalog", app.a.slug);
    let form = format!("{catalog}/products/{}/webhook", app.a.product);
    let secret = "vendor-signing-key-3141";
    let save = |body: String| {
        let (app, form) = (&app, &form);
        async move {
            app.page_raw(manager, "POST", form, &body, Some(super::harness::CSRF))
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

/// The catalog grows from its page: a product, an edition with the offers it stands for, its
/// offers replaced; what is not an offer id, or an offer another edition maps, is refused
/// saying why, and a support rep cannot write.
pub(crate) async fn the_catalog_grows_from_its_page(app: App) {
    let manager = Who::Staff(Role::MarketplaceManager);
    let catalog = format!("/m/{}/catalog", app.a.slug);
    let post = |path: String, body: &'static str| {
        let app = &app;
        async move {
            app.page_raw(manager, "POST", &path, body, Some(super::harness::CSRF))
                .await
        }
    };
    let (status, _) = post(format!("{catalog}/products"), "name=Dynamics+365&vendor=").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, products) = app
        .api(Some(Role::MarketplaceManager), "GET", "/api/v1/catalog", "")
        .await;
    let product = products
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "Dynamics 365")
        .expect("the product");
    assert_eq!(product["vendor"], "Microsoft");
    let editions = format!("{catalog}/products/{}/editions", product["id"]);
    let (status, html) = post(
        editions.clone(),
        "code=D365&name=Sales&offer_ids=CFQ7TTC0LH18%3A0001+not%2Fan%2Foffer&pricing_unit=USER",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("&#39;not/an/offer&#39; is not an offer id"),
        "{html}"
    );
    let (status, _) = post(
        editions.clone(),
        "code=D365&name=Sales&offer_ids=CFQ7TTC0DYNA%3A0001&pricing_unit=USER&included_units=1",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, html) = post(
        editions,
        "code=D365-2&name=Sales+again&offer_ids=cfq7ttc0dyna%3A0001&pricing_unit=USER",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("An offer id maps to one active edition"),
        "{html}"
    );

    let (status, _) = post(
        format!("{catalog}/editions/{}/offers", app.a.edition),
        "offer_ids=MS-AZR-0145P%2C+91FD106F-4B2C-4938-95AC-F54F74E9A239",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = app.page_raw(manager, "GET", &catalog, "", None).await;
    assert!(
        html.contains("value=\"91FD106F-4B2C-4938-95AC-F54F74E9A239, MS-AZR-0145P\""),
        "{html}"
    );
    let support = Who::Staff(Role::SalesSupport);
    let (_, html) = app.page_raw(support, "GET", &catalog, "", None).await;
    assert!(
        !html.contains("Add a product") && !html.contains("/offers\""),
        "{html}"
    );
}
