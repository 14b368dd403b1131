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
