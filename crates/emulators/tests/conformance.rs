//! Conformance of the emulators with the specification they stand in for
//! (`shared/docs/reference/partner-center-api.md`). Every expectation here comes from the
//! specification's text and examples — envelopes, paging, filters, errors, throttling, tokens —
//! and is checked over HTTP against a running emulator.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ferry_emulators::partner_center::{Credentials, Emulator, Options};
use ferry_emulators::{Faults, google};
use reqwest::StatusCode;
use serde_json::Value;

const AUDIENCE: &str = "https://api.partnercenter.microsoft.com";

struct Pc {
    base: String,
    credentials: Credentials,
    http: reqwest::Client,
}

/// The HTTP client here is reqwest without a TLS provider of its own: give it ring.
fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

async fn start(options: Options) -> Pc {
    install_tls();
    let emulator = Emulator::new(options);
    let credentials = emulator.credentials();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(ferry_emulators::serve(
        listener,
        emulator.router(),
        std::future::pending(),
    ));
    Pc {
        base,
        credentials,
        http: reqwest::Client::new(),
    }
}

fn world(customers: usize) -> Options {
    Options {
        seed: 11,
        customers,
        resellers: 3,
        ..Options::default()
    }
}

/// Parses a body, removing a leading byte-order mark as the specification tells clients to.
fn json(bytes: &[u8]) -> Value {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

impl Pc {
    async fn token_request(&self, version: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let path = match version {
            "v1" => "oauth2/token",
            _ => "oauth2/v2.0/token",
        };
        let response = self
            .http
            .post(format!(
                "{}/{}/{path}",
                self.base, self.credentials.partner_tenant_id
            ))
            .form(form)
            .send()
            .await
            .expect("token request");
        let status = response.status();
        (status, json(&response.bytes().await.expect("body")))
    }

    async fn app_only(&self) -> String {
        let c = &self.credentials;
        let (status, body) = self
            .token_request(
                "v1",
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &c.client_id),
                    ("client_secret", &c.client_secret),
                    ("resource", AUDIENCE),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// An App+User token from the initial refresh token; returns it with the rotated one.
    async fn app_user(&self) -> (String, String) {
        let c = &self.credentials;
        let scope = format!("{AUDIENCE}/user_impersonation offline_access");
        let (status, body) = self
            .token_request(
                "v2",
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &c.client_id),
                    ("client_secret", &c.client_secret),
                    ("refresh_token", &c.refresh_token),
                    ("scope", &scope),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            body["access_token"].as_str().expect("token").to_owned(),
            body["refresh_token"].as_str().expect("refresh").to_owned(),
        )
    }

    async fn get(
        &self,
        token: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        (
            status,
            headers,
            response.bytes().await.expect("body").to_vec(),
        )
    }

    async fn get_json(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.get(token, path, &[]).await;
        (status, json(&body))
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/_admin{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Walks a paged list to its end by the §1.6 rule the caller picks: following
    /// `links.next` (prefixing `/v1` when the link lacks it), or sending `seekOperation=Next`
    /// with the body's continuation token.
    async fn walk(&self, token: &str, first: &str, follow_links: bool) -> (Vec<Value>, usize) {
        let (status, mut page) = self.get_json(token, first).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let mut items = Vec::new();
        let mut pages = 0;
        loop {
            pages += 1;
            check_collection(&page);
            items.extend(page["items"].as_array().expect("items").iter().cloned());
            let Some(next) = page["links"].get("next") else {
                assert!(
                    page.get("continuationToken").is_none(),
                    "a token without a next link"
                );
                break;
            };
            let token_value = page["continuationToken"]
                .as_str()
                .expect("continuationToken");
            let header_token = next["headers"][0]["value"].as_str().expect("header value");
            assert_eq!(next["headers"][0]["key"], "MS-ContinuationToken");
            assert_eq!(
                token_value, header_token,
                "the body token is the header token"
            );
            let (path, token_used) = if follow_links {
                let uri = next["uri"].as_str().expect("uri");
                let path = if uri.starts_with("/v1/") {
                    uri.to_owned()
                } else {
                    format!("/v1{uri}")
                };
                (path, header_token.to_owned())
            } else {
                let base = first.split('?').next().unwrap_or(first);
                (format!("{base}?seekOperation=Next"), token_value.to_owned())
            };
            let (status, _, body) = self
                .get(token, &path, &[("MS-ContinuationToken", &token_used)])
                .await;
            assert_eq!(status, StatusCode::OK, "{path}");
            page = json(&body);
        }
        (items, pages)
    }
}

/// The collection envelope of §1.5.
fn check_collection(page: &Value) {
    assert_eq!(page["attributes"]["objectType"], "Collection");
    let items = page["items"].as_array().expect("items");
    assert_eq!(
        page["totalCount"].as_u64(),
        Some(items.len() as u64),
        "totalCount counts this page"
    );
    assert!(page["links"]["self"]["uri"].is_string());
}

/// The ApiFault of §7.4 with a numeric code.
fn check_fault(status: StatusCode, body: &Value, expected_status: StatusCode, code: u64) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["code"].as_u64(), Some(code), "{body}");
    assert!(body["description"].is_string());
    assert!(body["data"].is_array());
}

#[tokio::test]
async fn token_endpoints_follow_entra() {
    let pc = start(world(5)).await;
    let c = pc.credentials.clone();
    // v1 client credentials: numbers as strings, resource echoed, no refresh token.
    let (status, body) = pc
        .token_request(
            "v1",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &c.client_id),
                ("client_secret", &c.client_secret),
                ("resource", AUDIENCE),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["expires_in"].is_string() && body["expires_on"].is_string(),
        "{body}"
    );
    assert_eq!(body["resource"], AUDIENCE);
    assert!(body.get("refresh_token").is_none());
    // v2 refresh: numbers as integers, a new refresh token that replaces the old one.
    let (_, rotated) = pc.app_user().await;
    assert_ne!(rotated, c.refresh_token);
    let scope = format!("{AUDIENCE}/.default");
    let (status, body) = pc
        .token_request(
            "v2",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &c.client_id),
                ("client_secret", &c.client_secret),
                ("refresh_token", &c.refresh_token),
                ("scope", &scope),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a spent refresh token");
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_codes"][0].is_u64());
    assert!(
        body["error_description"]
            .as_str()
            .expect("text")
            .starts_with("AADSTS")
    );
    let (status, body) = pc
        .token_request(
            "v2",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &c.client_id),
                ("client_secret", &c.client_secret),
                ("refresh_token", &rotated),
                ("scope", &scope),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["expires_in"].is_u64(), "{body}");
    // Wrong secret and unknown app are configuration errors.
    let (status, body) = pc
        .token_request(
            "v2",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &c.client_id),
                ("client_secret", "wrong"),
                ("scope", &scope),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert_eq!(body["error_codes"][0], 7_000_215);
    let (status, body) = pc
        .token_request(
            "v2",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", "x"),
                ("scope", &scope),
            ],
        )
        .await;
    assert_eq!(body["error"], "unauthorized_client", "{status}");
}

#[tokio::test]
async fn app_only_tokens_are_refused_on_app_user_routes() {
    let pc = start(world(20)).await;
    let app = pc.app_only().await;
    let (user, _) = pc.app_user().await;
    let (_, list) = pc.get_json(&app, "/v1/customers").await;
    let id = list["items"][0]["id"].as_str().expect("id").to_owned();
    for path in [
        format!("/v1/customers/{id}/users"),
        format!("/v1/customers/{id}/profiles/company"),
        "/v1/relationships?relationship_type=IsIndirectCloudSolutionProviderOf".to_owned(),
    ] {
        let (status, _) = pc.get_json(&app, &path).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "App-only on {path}");
        let (status, body) = pc.get_json(&user, &path).await;
        assert_eq!(status, StatusCode::OK, "App+User on {path}: {body}");
    }
    for path in [
        format!("/v1/customers/{id}"),
        format!("/v1/customers/{id}/subscriptions"),
        format!("/v1/customers/{id}/profiles/billing"),
    ] {
        let (status, _) = pc.get_json(&app, &path).await;
        assert_eq!(status, StatusCode::OK, "App-only may read {path}");
    }
    let (status, body) = pc.get_json("not-a-token", "/v1/customers").await;
    check_fault(status, &body, StatusCode::UNAUTHORIZED, 900_420);
}

#[tokio::test]
async fn customers_page_to_the_end_by_either_rule() {
    for without_v1 in [false, true] {
        let faults = Faults {
            next_links_without_v1: without_v1,
            ..Faults::default()
        };
        let pc = start(Options {
            faults,
            ..world(1234)
        })
        .await;
        let token = pc.app_only().await;
        let (by_links, pages) = pc.walk(&token, "/v1/customers?size=100", true).await;
        assert_eq!(pages, 13);
        let (by_seek, _) = pc.walk(&token, "/v1/customers?size=100", false).await;
        let ids = |items: &[Value]| {
            items
                .iter()
                .map(|c| c["id"].as_str().expect("id").to_owned())
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(ids(&by_links).len(), 1234, "every customer once");
        assert_eq!(ids(&by_links), ids(&by_seek));
        // List items are reduced: no billing profile, no delegated-access flag.
        let item = &by_links[0];
        assert!(item.get("billingProfile").is_none() && item.get("allowDelegatedAccess").is_none());
        assert_eq!(item["attributes"]["objectType"], "Customer");
        assert_eq!(item["companyProfile"]["tenantId"], item["id"]);
        assert!(
            item["companyProfile"]["domain"]
                .as_str()
                .expect("domain")
                .ends_with(".onmicrosoft.com")
        );
        // The default page is 500.
        let (_, page) = pc.get_json(&token, "/v1/customers").await;
        assert_eq!(page["items"].as_array().map(Vec::len), Some(500));
        let next = page["links"]["next"]["uri"].as_str().expect("next");
        assert_eq!(next.starts_with("/v1/"), !without_v1, "{next}");
    }
}

#[tokio::test]
async fn a_garbled_continuation_token_is_bad_input() {
    let pc = start(world(10)).await;
    let token = pc.app_only().await;
    let (status, _, body) = pc
        .get(
            &token,
            "/v1/customers?seekOperation=Next",
            &[("MS-ContinuationToken", "zz-not-a-token")],
        )
        .await;
    check_fault(status, &json(&body), StatusCode::BAD_REQUEST, 800_002);
}

fn filter(field: &str, value: &str) -> String {
    let text = serde_json::json!({ "Field": field, "Value": value, "Operator": "starts_with" })
        .to_string();
    let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
    format!("/v1/customers?size=0&filter={encoded}")
}

#[tokio::test]
async fn customer_filters_match_prefixes() {
    let pc = start(world(600)).await;
    let (token, _) = pc.app_user().await;
    let (all, _) = pc.walk(&token, "/v1/customers", true).await;
    let name = all[7]["companyProfile"]["companyName"]
        .as_str()
        .expect("name");
    let prefix: String = name.chars().take(4).collect();
    let (found, _) = pc
        .walk(&token, &filter("CompanyName", &prefix.to_uppercase()), true)
        .await;
    assert!(!found.is_empty());
    assert!(found.iter().all(|c| {
        c["companyProfile"]["companyName"]
            .as_str()
            .expect("name")
            .to_lowercase()
            .starts_with(&prefix.to_lowercase())
    }));
    let expected = all
        .iter()
        .filter(|c| {
            c["companyProfile"]["companyName"]
                .as_str()
                .expect("n")
                .to_lowercase()
                .starts_with(&prefix.to_lowercase())
        })
        .count();
    assert_eq!(found.len(), expected);
    let domain = all[3]["companyProfile"]["domain"].as_str().expect("domain");
    let (found, _) = pc.walk(&token, &filter("Domain", &domain[..6]), true).await;
    assert!(
        found
            .iter()
            .any(|c| c["companyProfile"]["domain"] == domain)
    );

    // Customers of one indirect reseller (R3): each of them names that reseller.
    let (_, resellers) = pc
        .get_json(
            &token,
            "/v1/relationships?relationship_type=IsIndirectCloudSolutionProviderOf",
        )
        .await;
    check_collection(&resellers);
    let reseller = &resellers["items"][0];
    assert_eq!(
        reseller["relationshipType"],
        "is_indirect_cloud_solution_provider_of"
    );
    assert!(
        reseller["mpnId"]
            .as_str()
            .expect("mpn")
            .chars()
            .all(|c| c.is_ascii_digit())
    );
    let reseller_id = reseller["id"].as_str().expect("id");
    let (theirs, _) = pc
        .walk(&token, &filter("IndirectReseller", reseller_id), true)
        .await;
    assert!(!theirs.is_empty());
    for c in theirs.iter().take(5) {
        let (_, full) = pc
            .get_json(
                &token,
                &format!("/v1/customers/{}", c["id"].as_str().expect("id")),
            )
            .await;
        assert_eq!(full["associatedPartnerId"], reseller_id);
    }
    let (status, body) = pc.get_json(&token, &filter("Nonsense", "x")).await;
    check_fault(status, &body, StatusCode::BAD_REQUEST, 800_002);
}

#[tokio::test]
async fn a_customer_by_id_and_its_profiles() {
    let pc = start(world(300)).await;
    let (token, _) = pc.app_user().await;
    let dump: Value = pc.admin(reqwest::Method::GET, "/world", None).await.1;
    let customers = dump["customers"].as_array().expect("customers");
    let with_access = customers
        .iter()
        .find(|c| c["allowDelegatedAccess"] == true)
        .expect("a DAP customer");
    let without = customers
        .iter()
        .find(|c| c["allowDelegatedAccess"] == false)
        .expect("a no-DAP customer");
    let id = with_access["id"].as_str().expect("id");
    let (status, full) = pc.get_json(&token, &format!("/v1/customers/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(full["commerceId"].is_string());
    assert_eq!(
        full["billingProfile"]["attributes"]["objectType"],
        "CustomerBillingProfile"
    );
    assert!(full["billingProfile"]["attributes"]["etag"].is_string());
    assert!(full["companyProfile"]["address"]["country"].is_string());
    assert!(full["customDomains"].is_array());
    let (status, domains) = pc
        .get_json(&token, &format!("/v1/customers/{id}/customDomains"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        domains
            .as_array()
            .expect("a bare array")
            .iter()
            .all(Value::is_string)
    );
    let (_, billing) = pc
        .get_json(&token, &format!("/v1/customers/{id}/profiles/billing"))
        .await;
    assert_eq!(billing, full["billingProfile"]);

    let id = without["id"].as_str().expect("id");
    let (_, full) = pc.get_json(&token, &format!("/v1/customers/{id}")).await;
    assert!(
        full["companyProfile"].get("address").is_none()
            && full["companyProfile"].get("email").is_none()
    );
    assert!(full.get("customDomains").is_none());
    let (status, body) = pc
        .get_json(&token, &format!("/v1/customers/{id}/customDomains"))
        .await;
    check_fault(status, &body, StatusCode::FORBIDDEN, 2032);

    let (status, body) = pc
        .get_json(&token, "/v1/customers/6a2f8c1e-4b7d-4e0a-9c55-000000000000")
        .await;
    check_fault(status, &body, StatusCode::NOT_FOUND, 60003);
    let (status, body) = pc.get_json(&token, "/v1/customers/not-a-guid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = pc.get_json(&token, "/v1/nothing").await;
    assert_eq!(
        (status, body["statusCode"].as_u64()),
        (StatusCode::NOT_FOUND, Some(404)),
        "the gateway shape"
    );
}

#[tokio::test]
async fn subscriptions_of_every_family() {
    let pc = start(world(400)).await;
    let token = pc.app_only().await;
    let dump = pc.admin(reqwest::Method::GET, "/world", None).await.1;
    let mut families = BTreeSet::new();
    for c in dump["customers"]
        .as_array()
        .expect("customers")
        .iter()
        .take(200)
    {
        let id = c["id"].as_str().expect("id");
        let (status, subs) = pc
            .get_json(&token, &format!("/v1/customers/{id}/subscriptions"))
            .await;
        assert_eq!(status, StatusCode::OK);
        check_collection(&subs);
        assert!(subs.get("continuationToken").is_none(), "S1 is not paged");
        assert_eq!(
            subs["items"].as_array().map(Vec::len),
            c["subscriptions"].as_array().map(Vec::len)
        );
        for s in subs["items"].as_array().expect("items") {
            assert_eq!(s["attributes"]["objectType"], "Subscription");
            let offer = s["offerId"].as_str().expect("offer");
            let family = if offer == "MS-AZR-0145P" {
                assert_eq!(s["unitType"], "Usage-based");
                assert!(s["entitlementId"].is_string());
                "legacy azure"
            } else if s["productType"]["id"] == "Azure" {
                let sid = s["id"].as_str().expect("id");
                let (_, ents) = pc
                    .get_json(
                        &token,
                        &format!("/v1/customers/{id}/subscriptions/{sid}/azureEntitlements"),
                    )
                    .await;
                check_collection(&ents);
                assert_eq!(ents["items"][0]["subscriptionId"], sid);
                "azure plan"
            } else if s["productType"]["id"] == "OnlineServicesNCE" {
                assert_eq!(offer.split(':').count(), 3, "{offer}");
                assert!(s["termDuration"].as_str().expect("term").starts_with('P'));
                assert!(s["refundOptions"].is_array());
                "new commerce"
            } else if s["parentSubscriptionId"].is_string() {
                "add-on"
            } else {
                assert!(s["links"]["offer"]["uri"].is_string());
                "legacy"
            };
            families.insert(family);
            let (status, one) = pc
                .get_json(
                    &token,
                    &format!(
                        "/v1/customers/{id}/subscriptions/{}",
                        s["id"].as_str().expect("id")
                    ),
                )
                .await;
            assert_eq!((status, &one), (StatusCode::OK, s));
        }
    }
    assert_eq!(families.len(), 5, "{families:?}");
    let id = dump["customers"][0]["id"].as_str().expect("id");
    let (status, body) = pc
        .get_json(
            &token,
            &format!("/v1/customers/{id}/subscriptions/00000000-0000-4000-8000-000000000000"),
        )
        .await;
    check_fault(status, &body, StatusCode::NOT_FOUND, 20003);
}

#[tokio::test]
async fn users_page_and_the_inactive_filter() {
    let pc = start(world(100)).await;
    let (token, _) = pc.app_user().await;
    let dump = pc.admin(reqwest::Method::GET, "/world", None).await.1;
    let customer = dump["customers"]
        .as_array()
        .expect("customers")
        .iter()
        .find(|c| {
            c["users"]
                .as_array()
                .is_some_and(|u| u.iter().filter(|u| u["state"] == "active").count() >= 3)
        })
        .expect("a customer with three users");
    let id = customer["id"].as_str().expect("id");
    let active = customer["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter(|u| u["state"] == "active")
        .count();
    let (users, pages) = pc
        .walk(&token, &format!("/v1/customers/{id}/users?size=2"), true)
        .await;
    assert_eq!(users.len(), active);
    assert_eq!(pages, active.div_ceil(2));
    assert!(
        users
            .iter()
            .all(|u| u["state"] == "active" && u["attributes"]["objectType"] == "CustomerUser")
    );
    let inactive =
        serde_json::json!({ "Field": "UserState", "Value": "Inactive", "Operator": "equals" })
            .to_string();
    let encoded: String = inactive.bytes().map(|b| format!("%{b:02X}")).collect();
    let (deleted, _) = pc
        .walk(
            &token,
            &format!("/v1/customers/{id}/users?filter={encoded}"),
            true,
        )
        .await;
    assert!(
        deleted
            .iter()
            .all(|u| u["state"] == "inactive" && u["softDeletionTime"].is_string())
    );
    let (status, body) = pc
        .get_json(
            &token,
            &format!("/v1/customers/{id}/users/00000000-0000-4000-8000-000000000000"),
        )
        .await;
    check_fault(status, &body, StatusCode::NOT_FOUND, 60002);
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after() {
    let faults = Faults {
        throttle_per_minute: Some(60),
        ..Faults::default()
    };
    let pc = start(Options {
        faults,
        ..world(10)
    })
    .await;
    let token = pc.app_only().await;
    let mut throttled = None;
    for _ in 0..5 {
        let (status, headers, body) = pc.get(&token, "/v1/customers", &[]).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some((headers, json(&body)));
            break;
        }
    }
    let (headers, body) = throttled.expect("a 429 within five calls at 60 a minute");
    let seconds: u64 = headers["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("integer seconds");
    assert!(seconds >= 1);
    assert_eq!(
        body["statusCode"], 429,
        "the gateway shape, not an ApiFault"
    );
    assert!(body["message"].is_string());
    let stats = pc.admin(reqwest::Method::GET, "/stats", None).await.1;
    assert!(stats["throttled"].as_u64() >= Some(1));
}

#[tokio::test]
async fn access_tokens_expire() {
    let pc = start(Options {
        token_lifetime_s: 1,
        ..world(3)
    })
    .await;
    let token = pc.app_only().await;
    assert_eq!(pc.get_json(&token, "/v1/customers").await.0, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = pc.get_json(&token, "/v1/customers").await;
        if status == StatusCode::UNAUTHORIZED {
            check_fault(status, &body, StatusCode::UNAUTHORIZED, 900_420);
            break;
        }
        assert!(Instant::now() < deadline, "the token never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn faults_and_headers() {
    let faults = Faults {
        bom: true,
        mixed_case_enums: true,
        ..Faults::default()
    };
    let pc = start(Options {
        faults,
        ..world(40)
    })
    .await;
    let token = pc.app_only().await;
    let (status, headers, body) = pc
        .get(
            &token,
            "/v1/customers?size=5",
            &[
                ("MS-RequestId", "3f0f1c2e-0000-4000-8000-000000000001"),
                ("MS-CorrelationId", "c0c0c0c0-0000-4000-8000-000000000002"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with(b"\xEF\xBB\xBF"), "a byte-order mark");
    assert_eq!(
        headers["ms-requestid"],
        "3f0f1c2e-0000-4000-8000-000000000001"
    );
    assert_eq!(
        headers["ms-correlationid"],
        "c0c0c0c0-0000-4000-8000-000000000002"
    );
    assert!(headers.contains_key("ms-cv"));
    let page = json(&body);
    assert_eq!(
        page["items"][0]["relationshipToPartner"], "Reseller",
        "another casing"
    );

    let faults = serde_json::json!({ "fault_5xx_rate": 1.0 });
    assert_eq!(
        pc.admin(reqwest::Method::PUT, "/faults", Some(faults))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    for _ in 0..4 {
        let (status, _, _) = pc.get(&token, "/v1/customers", &[]).await;
        assert!(status.is_server_error(), "{status}");
    }
    let stats = pc.admin(reqwest::Method::GET, "/stats", None).await.1;
    assert_eq!(stats["server_errors"], 4);
    assert!(stats["per_route"]["/v1/customers"].as_u64() >= Some(5));
}

#[tokio::test]
async fn the_admin_api_changes_the_world() {
    let pc = start(world(5)).await;
    let token = pc.app_only().await;
    let dump = pc.admin(reqwest::Method::GET, "/world", None).await.1;
    let mut customer = dump["customers"][0].clone();
    let new_id = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
    customer["id"] = new_id.into();
    customer["companyName"] = "Added Later Ltd".into();
    assert_eq!(
        pc.admin(reqwest::Method::POST, "/customers", Some(customer.clone()))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        pc.admin(reqwest::Method::POST, "/customers", Some(customer))
            .await
            .0,
        StatusCode::CONFLICT
    );
    let (_, page) = pc.get_json(&token, "/v1/customers").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(6));
    let (status, full) = pc
        .get_json(&token, &format!("/v1/customers/{new_id}"))
        .await;
    assert_eq!(
        (status, full["companyProfile"]["companyName"].as_str()),
        (StatusCode::OK, Some("Added Later Ltd"))
    );
    assert_eq!(
        pc.admin(
            reqwest::Method::DELETE,
            &format!("/customers/{new_id}"),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        pc.get_json(&token, &format!("/v1/customers/{new_id}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        pc.admin(reqwest::Method::POST, "/tokens/revoke-refresh-tokens", None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let c = &pc.credentials;
    let (status, body) = pc
        .token_request(
            "v1",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &c.client_id),
                ("client_secret", &c.client_secret),
                ("refresh_token", &c.refresh_token),
                ("resource", AUDIENCE),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn google_directory_lists_users_page_by_page() {
    install_tls();
    let emulator = google::Emulator::new(google::Options {
        seed: 11,
        customers: 200,
        resellers: 3,
        ..Default::default()
    });
    let customers = emulator.customers();
    let base = serve_google(&emulator).await;
    let http = reqwest::Client::new();
    let (status, answer) = google_token(
        &http,
        &emulator.service_account_key(&base),
        "admin@example.com",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["token_type"], "Bearer");
    let token = answer["access_token"].as_str().expect("a token").to_owned();
    let customer = customers
        .iter()
        .max_by_key(|c| c.users.len())
        .expect("a Workspace customer");
    let active = customer
        .users
        .iter()
        .filter(|u| u.deletion_time.is_none())
        .count();
    let mut seen = Vec::new();
    let mut page_token: Option<String> = None;
    loop {
        let mut url = format!(
            "{base}/admin/directory/v1/users?customer={}&maxResults=2",
            customer.customer_id
        );
        if let Some(t) = &page_token {
            url.push_str(&format!("&pageToken={t}"));
        }
        let body: Value = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        assert_eq!(body["kind"], "admin#directory#users");
        for u in body["users"].as_array().expect("users") {
            assert_eq!(u["kind"], "admin#directory#user");
            assert!(
                u["primaryEmail"]
                    .as_str()
                    .expect("email")
                    .ends_with(&customer.domain)
            );
            assert!(u["name"]["givenName"].is_string());
            seen.push(u["id"].as_str().expect("id").to_owned());
        }
        match body["nextPageToken"].as_str() {
            Some(next) => page_token = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), active);
    let by_domain: Value = http
        .get(format!(
            "{base}/admin/directory/v1/users?domain={}",
            customer.domain
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(by_domain["users"].as_array().map(Vec::len), Some(active));
    let refused = http
        .get(format!(
            "{base}/admin/directory/v1/users?customer=my_customer"
        ))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("call");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], 401);
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
}

async fn serve_google(emulator: &google::Emulator) -> String {
    install_tls();
    emulator.serve_locally().await.expect("the emulator")
}

/// The JWT bearer grant as Google's client libraries make it, with a service account key file.
async fn google_token(http: &reqwest::Client, key_file: &str, admin: &str) -> (StatusCode, Value) {
    let key: Value = serde_json::from_str(key_file).expect("a JSON key file");
    let token_uri = key["token_uri"].as_str().expect("token_uri");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let claims = serde_json::json!({
        "iss": key["client_email"], "sub": admin, "aud": token_uri,
        "scope": google::DIRECTORY_SCOPE, "iat": now, "exp": now + 3600,
    });
    let signing = jsonwebtoken::EncodingKey::from_rsa_pem(
        key["private_key"].as_str().expect("private_key").as_bytes(),
    )
    .expect("an RSA key");
    let assertion = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &signing,
    )
    .expect("signed");
    let response = http
        .post(token_uri)
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ])
        .send()
        .await
        .expect("token call");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn google_tokens_come_only_from_the_key_the_emulator_handed_out() {
    let options = |seed, static_token| google::Options {
        seed,
        customers: 20,
        resellers: 1,
        faults: Faults::default(),
        static_token,
    };
    let emulator = google::Emulator::new(options(3, Some("fixed".into())));
    let base = serve_google(&emulator).await;
    let http = reqwest::Client::new();
    // Another emulator's key: well formed, the same service account, another signature.
    let foreign = google::Emulator::new(options(4, None)).service_account_key(&base);
    let (status, answer) = google_token(&http, &foreign, "admin@example.com").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"], "invalid_grant");
    assert_eq!(answer["error_description"], "Invalid JWT Signature.");
    // The right key, but nobody to act as.
    let own = emulator.service_account_key(&base);
    let (status, answer) = google_token(&http, &own, "").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    // The same seed hands out the same key; the fixed token works only when it was asked for.
    assert_eq!(
        own,
        google::Emulator::new(options(3, None)).service_account_key(&base)
    );
    let list = |token: &'static str| {
        http.get(format!(
            "{base}/admin/directory/v1/users?customer=my_customer"
        ))
        .bearer_auth(token)
        .send()
    };
    assert_eq!(list("fixed").await.expect("call").status(), StatusCode::OK);
    assert_eq!(
        list("ya29.guessed").await.expect("call").status(),
        StatusCode::UNAUTHORIZED
    );
}
