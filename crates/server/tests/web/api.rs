//! The API's envelopes, pagination and its OpenAPI document.

use axum::http::StatusCode;
use ferry_domain::Role;
use serde_json::json;

use super::harness::{App, Who};
use super::matrix::API;

pub(crate) async fn searches_of_any_length_and_wildcards_are_answered(app: App) {
    let manager = Some(Role::MarketplaceManager);
    for (name, external_id) in [
        ("100% Organic", "PCT"),
        ("A_B Trading", "UND"),
        ("AxB Trading", "X"),
    ] {
        let body = json!({ "name": name, "external_id": external_id }).to_string();
        let (status, answer) = app.api(manager, "POST", "/api/v1/companies", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let names = |answer: &serde_json::Value| -> Vec<String> {
        answer["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|c| c["name"].as_str().expect("name").to_owned())
            .collect()
    };
    let (_, answer) = app
        .api(manager, "GET", "/api/v1/companies?q=100%25", "")
        .await;
    assert_eq!(names(&answer), ["100% Organic"], "% matches itself");
    let (_, answer) = app.api(manager, "GET", "/api/v1/companies?q=a_b", "").await;
    assert_eq!(names(&answer), ["A_B Trading"], "_ matches itself");
    let (_, answer) = app.api(manager, "GET", "/api/v1/users?q=%25", "").await;
    assert_eq!(answer["items"], json!([]), "% matches itself");

    let long = "a".repeat(60_000);
    for list in ["companies", "users"] {
        let (status, answer) = app
            .api(manager, "GET", &format!("/api/v1/{list}?q={long}"), "")
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{list}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid");
        let status = app
            .page(
                Who::Staff(Role::MarketplaceManager),
                "GET",
                &format!("/m/{}/{list}?q={long}", app.a.slug),
                "",
            )
            .await;
        assert_eq!(status, StatusCode::OK, "the {list} page cuts a long search");
    }
}

pub(crate) async fn text_fields_have_a_limit(app: App) {
    let manager = Some(Role::MarketplaceManager);
    let long = "x".repeat(1_500_000);
    let refused = |status: StatusCode, answer: &serde_json::Value, field: &str| {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(field) && message.contains("longer than 200 characters"),
            "{answer}"
        );
    };
    let body = json!({ "email": "long@alpha.example", "first_name": long }).to_string();
    let (status, answer) = app.api(manager, "POST", "/api/v1/users", &body).await;
    refused(status, &answer, "first_name");
    let path = format!("/api/v1/users/{}", app.a.user);
    let body = json!({ "custom_attributes": { "tier": long } }).to_string();
    let (status, answer) = app.api(manager, "PATCH", &path, &body).await;
    refused(status, &answer, "tier");
    let body = json!({ "name": "x".repeat(201) }).to_string();
    let (status, answer) = app.api(manager, "POST", "/api/v1/companies", &body).await;
    refused(status, &answer, "name");
    let name = "n".repeat(100_000);
    let (status, answer) = app
        .upload(
            Role::MarketplaceManager,
            "/api/v1/datasets",
            &[
                ("name", None, &name),
                ("users", Some("u.csv"), "EXTERNAL_ID\nu-1\n"),
            ],
        )
        .await;
    refused(status, &answer, "`name`");
    let (status, html) = app
        .page_raw(
            Who::Staff(Role::MarketplaceManager),
            "POST",
            &format!("/m/{}/users", app.a.slug),
            &format!("email=long%40alpha.example&first_name={}", "x".repeat(300)),
            Some(super::harness::CSRF),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("first_name is longer than 200 characters"),
        "{html}"
    );
}

pub(crate) async fn malformed_requests_are_answered_in_the_envelope(app: App) {
    let manager = Some(Role::MarketplaceManager);
    for (method, path, body) in [
        ("POST", "/api/v1/companies", "{not json"),
        ("POST", "/api/v1/companies", r#"{"name": 7}"#),
        ("GET", "/api/v1/companies/not-a-number", ""),
        ("POST", "/api/v1/datasets", "not a multipart form"),
        ("PUT", "/api/v1/companies", ""),
    ] {
        let (status, answer) = app.api(manager, method, path, body).await;
        assert!(status.is_client_error(), "{method} {path}: {status}");
        assert!(
            answer["error"]["code"].is_string() && answer["error"]["message"].is_string(),
            "{method} {path} {body:?}: {status} {answer}"
        );
    }
    // PostgreSQL cannot store a NUL character: it is refused before, on both backends.
    for (path, body) in [
        (
            "/api/v1/users",
            json!({ "email": "nul@alpha.example", "first_name": "a\u{0}b" }),
        ),
        ("/api/v1/companies", json!({ "name": "Nul\u{0} Co" })),
    ] {
        let (status, answer) = app.api(manager, "POST", path, &body.to_string()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("NUL")
        );
    }
    let (status, answer) = app.api(manager, "GET", "/api/v1/users?q=a%00b", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
}

pub(crate) async fn api_errors_use_one_envelope(app: App) {
    let manager = Some(Role::MarketplaceManager);
    let (status, body) = app
        .api(
            manager,
            "POST",
            "/api/v1/companies",
            r#"{"name": "Dup", "external_id": "DUP-1"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .api(
            manager,
            "POST",
            "/api/v1/companies",
            r#"{"name": "Dup 2", "external_id": "DUP-1"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "conflict");
    // The request's id, to find its log lines by.
    let id = body["error"]["request_id"].as_str().expect("a request id");
    assert!(
        id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    let page = app
        .page_response(
            Who::Staff(Role::MarketplaceManager),
            "GET",
            "/no-such-page",
            "",
            None,
        )
        .await;
    let id = page.headers()["x-request-id"]
        .to_str()
        .expect("text")
        .to_owned();
    let html = axum::body::to_bytes(page.into_body(), usize::MAX)
        .await
        .expect("body");
    let html = String::from_utf8_lossy(&html);
    assert!(
        html.contains(&format!("Reference: <code>{id}</code>")),
        "{html}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("company external id")
    );
    let (status, body) = app
        .api(
            manager,
            "POST",
            "/api/v1/companies",
            r#"{"name": "X", "country": "XX"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("'XX'"),
        "{body}"
    );
    let (status, body) = app
        .api(manager, "GET", "/api/v1/companies/999999", "")
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, body) = app.api(manager, "GET", "/api/v1/nothing-here", "").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    // Paging walks every company once.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let query = match &after {
            Some(cursor) => format!("?limit=2&after={}", urlencode(cursor)),
            None => "?limit=2".into(),
        };
        let (status, page) = app
            .api(manager, "GET", &format!("/api/v1/companies{query}"), "")
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|c| c["id"].as_i64()),
        );
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    let total = usize::try_from(app.companies(&app.a).await).expect("count");
    assert_eq!(seen.len(), total);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), total, "no company twice");

    // Long work answers 202 and a job to follow.
    let (status, accepted) = app
        .api(
            manager,
            "POST",
            "/api/v1/invitations",
            &json!({ "user_ids": [app.a.user] }).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let job = accepted["job_id"].as_i64().expect("job id");
    let (status, job) = app
        .api(manager, "GET", &format!("/api/v1/jobs/{job}"), "")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["state"], "queued");
    assert_eq!(job["kind"], "invite_users");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(crate) async fn the_openapi_document_lists_every_api_route(app: App) {
    let (status, doc) = app.api(None, "GET", "/api/v1/openapi.json", "").await;
    assert_eq!(status, StatusCode::OK);
    let mut documented: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    let mut expected: Vec<String> = API
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.method,
                r.path
                    .replace("{company}", "{id}")
                    .replace("{user}", "{id}")
                    .replace("{instance}", "{id}")
                    .replace("{dataset}", "{id}")
                    .replace("{product}", "{id}")
                    .replace("{import}", "{id}")
                    .replace("{edition}", "{id}")
                    .replace("{pending_tenant}", "{id}")
                    .replace("/dataset-templates/users", "/dataset-templates/{type}")
            )
        })
        .chain([
            "GET /api/v1/openapi.json".to_owned(),
            "GET /api/v1/jobs/{id}".to_owned(),
            "DELETE /api/v1/instances/{id}".to_owned(),
            // Uploads and the dataset actions change state: `datasets_through_the_api`.
            "POST /api/v1/datasets".to_owned(),
            "POST /api/v1/datasets/{id}/activate".to_owned(),
            "POST /api/v1/datasets/{id}/deny".to_owned(),
            "POST /api/v1/datasets/{id}/files".to_owned(),
            "DELETE /api/v1/datasets/{id}".to_owned(),
        ])
        .collect();
    expected.sort();
    assert_eq!(
        documented, expected,
        "the document and the routes the server has"
    );
    // Every documented route exists on the server (answers something other than 404/405
    // for a path that has no id).
    for entry in &documented {
        let (method, path) = entry.split_once(' ').expect("entry");
        if path.contains('{') {
            continue;
        }
        let (status, _) = app
            .api(Some(Role::MarketplaceManager), method, path, "{}")
            .await;
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{entry} answered {status}"
        );
    }
    super::harness::check_snapshot(
        "openapi.json",
        &serde_json::to_string_pretty(&doc).expect("json"),
    );
}
