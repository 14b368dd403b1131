//! The Overview: where to start, the recent datasets and jobs, the Partner Center instances.

use axum::http::StatusCode;
use ferry_domain::Role;

use super::harness::{App, Who};

pub(crate) async fn the_overview_says_where_to_start(app: App) {
    let path = format!("/m/{}", app.a.slug);
    let (status, page) = app
        .page_raw(Who::Staff(Role::MarketplaceManager), "GET", &path, "", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    for expected in [
        "Where to start",
        "Connect Partner Center",
        "Bring existing customers in",
        "Invite people",
        "Recent datasets",
        "Partner Center",
        "not checked yet",
    ] {
        assert!(page.contains(expected), "{expected:?} in {page}");
    }
    // Customer Support reads companies and users, and has nothing to start.
    let (_, page) = app
        .page_raw(Who::Staff(Role::CustomerSupport), "GET", &path, "", None)
        .await;
    assert!(
        !page.contains("Where to start") && page.contains("Companies"),
        "{page}"
    );
}

/// An error page inside a marketplace keeps its navigation for whoever may enter it; another
/// marketplace's error page shows no navigation of it.
pub(crate) async fn error_pages_keep_the_navigation(app: App) {
    let manager = Who::Staff(Role::MarketplaceManager);
    let nav = format!("href=\"/m/{}/companies\"", app.a.slug);
    let missing = format!("/m/{}/companies/999999", app.a.slug);
    let (status, page) = app.page_raw(manager, "GET", &missing, "", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        page.contains("Page not found") && page.contains(&nav),
        "{page}"
    );
    let unknown = format!("/m/{}/no-such-page", app.a.slug);
    let (status, page) = app.page_raw(manager, "GET", &unknown, "", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains(&nav), "{page}");

    let sales = Who::Staff(Role::SalesSupport);
    let denied = format!("/m/{}/settings/partner-center", app.a.slug);
    let (status, page) = app.page_raw(sales, "GET", &denied, "", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("Not allowed") && page.contains(&nav),
        "{page}"
    );

    let elsewhere = format!("/m/{}/companies", app.b.slug);
    let (status, page) = app.page_raw(manager, "GET", &elsewhere, "", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        !page.contains("href=\"/m/"),
        "no marketplace's navigation: {page}"
    );
}
