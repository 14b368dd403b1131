//! The catalog page: product webhooks.

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
