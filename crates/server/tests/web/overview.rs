//! The Overview (where to start, the recent datasets and jobs, the Partner Center instances)
//! and what every page shares: error pages inside the frame, list totals and pages.

use axum::http::StatusCode;
use ferry_domain::{NewCompany, Origin, Role};

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
    // Its sign-out form carries the session's token.
    let token = app.csrf_of(sales, super::harness::CSRF);
    assert!(
        page.contains(&format!("name=\"csrf\" value=\"{token}\"")),
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

/// A list says how many rows match and pages forward and back through them.
pub(crate) async fn lists_count_and_page_both_ways(app: App) {
    let manager = Who::Staff(Role::MarketplaceManager);
    let many: Vec<NewCompany> = (0..70)
        .map(|i| NewCompany {
            external_id: Some(format!("P-{i:02}")),
            ..NewCompany::named(format!("Paged {i:02}"), Origin::Manual)
        })
        .collect();
    app.store
        .insert_companies(app.a.id, &many)
        .await
        .expect("insert");
    let total = app.companies(&app.a).await;
    let list = format!("/m/{}/companies", app.a.slug);
    let (_, first) = app.page_raw(manager, "GET", &list, "", None).await;
    assert!(first.contains(&format!("{total} companies")), "{first}");
    assert!(!first.contains("Previous page"), "{first}");
    let link = |page: &str, label: &str| -> String {
        let end = page.find(&format!("\">{label}")).expect(label);
        let start = page[..end].rfind("href=\"").expect("href") + 6;
        page[start..end].replace("&#38;", "&")
    };
    let (_, second) = app
        .page_raw(manager, "GET", &link(&first, "Next page"), "", None)
        .await;
    assert!(
        second.contains("« First page") && second.contains("Previous page"),
        "{second}"
    );
    let (_, back) = app
        .page_raw(manager, "GET", &link(&second, "← Previous page"), "", None)
        .await;
    let rows = |page: &str| page.matches("<tr><td><a href").count();
    assert_eq!(rows(&back), 50);
    let table = |page: &str| {
        let start = page.find("<tbody>").expect("rows");
        page[start..start + page[start..].find("</tbody>").expect("end")].to_owned()
    };
    assert_eq!(
        table(&back),
        table(&first),
        "the page before the second is the first"
    );
    assert!(
        !back.contains("Previous page"),
        "the first page has none before it"
    );

    let search = format!("{list}?q=aged+0");
    let (_, found) = app.page_raw(manager, "GET", &search, "", None).await;
    assert!(found.contains("10 companies"), "{found}");
    let users = format!("/m/{}/users?q=example", app.a.slug);
    let (_, found) = app.page_raw(manager, "GET", &users, "", None).await;
    assert!(
        found.contains(" users</p>") || found.contains("1 user</p>"),
        "{found}"
    );
}
