//! The headers every answer carries, and pages that need nothing the Content-Security-Policy
//! refuses.

use axum::http::{StatusCode, header};
use ferry_domain::Role;

use super::harness::{App, CSRF, Who};

pub(crate) async fn every_answer_carries_the_security_headers(app: App) {
    let manager = Who::Staff(Role::MarketplaceManager);
    let tokens = format!("/m/{}/settings/api-tokens", app.a.slug);
    for (who, method, path, body) in [
        (Who::Anonymous, "GET", "/sign-in", ""),
        (manager, "GET", "/m/alpha/companies", ""),
        // The page that shows a new API token once.
        (
            manager,
            "POST",
            tokens.as_str(),
            "name=ci&role=sales-support",
        ),
        (Who::Anonymous, "GET", "/no/such/page", ""),
    ] {
        let response = app.page_response(who, method, path, body, Some(CSRF)).await;
        let headers = response.headers();
        let csp = headers
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp:?}"
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
        assert_eq!(headers[header::REFERRER_POLICY], "same-origin", "{path}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{path}");
    }
    let response = app
        .page_response(Who::Anonymous, "GET", "/assets/ferry.css", "", None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::X_CONTENT_TYPE_OPTIONS],
        "nosniff"
    );
    assert_ne!(
        response.headers()[header::CACHE_CONTROL],
        "no-store",
        "assets are cached"
    );
}

/// The policy allows no inline script or style: no template may hold one.
#[test]
fn templates_hold_no_inline_script_or_style() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    for entry in std::fs::read_dir(&dir).expect("templates") {
        let path = entry.expect("entry").path();
        let html = std::fs::read_to_string(&path).expect("template");
        let lower = html.to_lowercase();
        let name = path.display();
        assert!(!lower.contains("<style"), "{name}: a <style> element");
        assert!(!lower.contains(" style="), "{name}: a style attribute");
        assert!(!lower.contains("javascript:"), "{name}: a javascript: link");
        for (at, _) in lower.match_indices("<script") {
            let tag = &lower[at..lower[at..].find('>').map_or(lower.len(), |end| at + end)];
            assert!(tag.contains(" src="), "{name}: an inline <script>");
        }
        for handler in [
            " onclick=",
            " onchange=",
            " onsubmit=",
            " onload=",
            " oninput=",
        ] {
            assert!(
                !lower.contains(handler),
                "{name}: an inline {handler} handler"
            );
        }
    }
}
