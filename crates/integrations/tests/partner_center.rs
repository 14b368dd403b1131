//! The Partner Center client against the emulator, with faults on. The client knows only the
//! specification; the emulator proves it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use ferry_emulators::Faults;
use ferry_emulators::partner_center::{Credentials, Emulator, Options};
use ferry_integrations::partner_center::{
    Client, MemoryTokenStore, PcError, RefreshTokenStore, Secret, Settings, TokenEndpoint,
};
use serde_json::Value;

struct Running {
    base: String,
    credentials: Credentials,
    emulator: Emulator,
}

async fn start(options: Options) -> Running {
    ferry_integrations::install_tls();
    let emulator = Emulator::new(options);
    let base = emulator.serve_locally().await.expect("the emulator");
    Running {
        base,
        credentials: emulator.credentials(),
        emulator,
    }
}

fn settings(running: &Running, endpoint: TokenEndpoint) -> Settings {
    Settings {
        api_base_url: running.base.clone(),
        login_base_url: running.base.clone(),
        tenant_id: running.credentials.partner_tenant_id.clone(),
        application_id: running.credentials.client_id.clone(),
        secret: Secret::new(running.credentials.client_secret.clone()),
        token_endpoint: endpoint,
    }
}

async fn admin(base: &str, method: reqwest::Method, path: &str) -> Value {
    reqwest::Client::new()
        .request(method, format!("{base}/_admin{path}"))
        .send()
        .await
        .expect("admin")
        .json()
        .await
        .unwrap_or(Value::Null)
}

/// The part of a customer both sides must agree on, from the emulator's dump.
fn expected(customer: &Value) -> Value {
    let billing = &customer["billingProfile"];
    let subscriptions: Vec<Value> = customer["subscriptions"]
        .as_array()
        .expect("subscriptions")
        .iter()
        .map(|s| {
            serde_json::json!([
                s["id"],
                s["offerId"],
                s["quantity"],
                s["status"],
                s["billingCycle"],
                s["partnerId"],
                s["effectiveStartDate"]
            ])
        })
        .collect();
    serde_json::json!({
        "name": customer["companyName"], "domain": customer["domain"],
        "reseller": customer.get("associatedPartnerId").cloned().unwrap_or(Value::Null),
        "billing": [billing["id"], billing["email"], billing["firstName"], billing["lastName"], billing["companyName"], billing["defaultAddress"]["city"]],
        "subscriptions": subscriptions,
    })
}

/// Fetching every customer, billing profile and subscription of a 20,000-customer world under
/// latency, throttling, 5% server errors, byte-order marks, `next` links without `/v1`, other
/// enum casings and 60-second tokens gives exactly the emulator's world — and no call is
/// answered 429 more than twice in a row, for one key or one call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetching_everything_under_faults_returns_the_world_exactly() {
    let faults = Faults {
        latency_ms: 0,
        jitter_ms: 2,
        throttle_per_minute: Some(24_000),
        customer_throttle_per_minute: Some(300),
        fault_5xx_rate: 0.05,
        bom: true,
        next_links_without_v1: true,
        mixed_case_enums: true,
    };
    let running = start(Options {
        seed: 2026,
        customers: 20_000,
        resellers: 8,
        faults,
        token_lifetime_s: 60,
        ..Options::default()
    })
    .await;
    let dump: Value = serde_json::from_str(&running.emulator.world_json()).expect("dump");
    let store = Arc::new(MemoryTokenStore::new(Some(
        running.credentials.refresh_token.clone(),
    )));
    let client = Arc::new(
        Client::new(settings(&running, TokenEndpoint::V2), store.clone()).expect("client"),
    );

    let started = Instant::now();
    let mut ids = Vec::new();
    let mut pages = client.customers(None);
    while let Some(page) = pages.next_page().await.expect("a page of customers") {
        ids.extend(page.into_iter().map(|c| c.id));
    }
    assert_eq!(ids.len(), 20_000, "every customer once");
    let mut fetched = BTreeMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(24));
    for id in ids {
        let (client, gate) = (client.clone(), gate.clone());
        tasks.spawn(async move {
            let _slot = gate.acquire().await.expect("gate");
            let customer = client.customer(&id).await.expect("customer");
            let billing = client.billing_profile(&id).await.expect("billing profile");
            let subscriptions = client.subscriptions(&id).await.expect("subscriptions");
            let address = billing.default_address.clone().unwrap_or_default();
            let profile = customer.company_profile.clone().unwrap_or_default();
            let value = serde_json::json!({
                "name": profile.company_name, "domain": profile.domain,
                "reseller": customer.associated_partner_id,
                "billing": [billing.id, billing.email, billing.first_name, billing.last_name, billing.company_name, address.city],
                "subscriptions": subscriptions.iter().map(|s| serde_json::json!([
                    s.id, s.offer_id, s.quantity,
                    s.status.as_ref().map(|x| x.as_str().to_owned()),
                    s.billing_cycle.as_ref().map(|x| x.as_str().to_owned()),
                    s.partner_id, s.effective_start_date.as_ref().map(|t| t.text.clone()),
                ])).collect::<Vec<_>>(),
            });
            (id, value)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (id, value) = done.expect("task");
        fetched.insert(id, value);
    }
    let elapsed = started.elapsed();
    for customer in dump["customers"].as_array().expect("customers") {
        let id = customer["id"].as_str().expect("id");
        assert_eq!(fetched.get(id), Some(&expected(customer)), "customer {id}");
    }
    let stats = admin(&running.base, reqwest::Method::GET, "/stats").await;
    assert!(
        stats["throttled"].as_u64() > Some(0),
        "the throttle was met: {stats}"
    );
    assert!(
        stats["server_errors"].as_u64() > Some(0),
        "server errors were met: {stats}"
    );
    // No key is answered 429 more than twice in a row: at most two requests of a key are in
    // flight when the service's bucket runs dry, and the first 429 pauses the key for as long
    // as Retry-After says. A call's own retries honour it too.
    assert!(
        stats["max_consecutive_429"].as_u64() <= Some(2),
        "a key was answered 429 more than twice in a row: {stats}"
    );
    assert!(
        stats["max_consecutive_429_per_call"].as_u64() <= Some(2),
        "a call was answered 429 more than twice in a row: {stats}"
    );
    let rotated = store.current().await.expect("store");
    assert_ne!(
        rotated.as_deref(),
        Some(running.credentials.refresh_token.as_str()),
        "the rotated refresh token was stored"
    );
    println!(
        "fetched 20,000 customers with {} requests in {:.1} s; 429s in a row: {} for one call, {} for one key",
        stats["total"],
        elapsed.as_secs_f64(),
        stats["max_consecutive_429_per_call"],
        stats["max_consecutive_429"]
    );
}

#[tokio::test]
async fn expired_tokens_are_renewed_and_the_call_replayed() {
    let running = start(Options {
        seed: 3,
        customers: 30,
        ..Options::default()
    })
    .await;
    let store = Arc::new(MemoryTokenStore::new(None));
    let client = Client::new(settings(&running, TokenEndpoint::V1), store).expect("client");
    client.check().await.expect("works");
    admin(
        &running.base,
        reqwest::Method::POST,
        "/tokens/expire-access-tokens",
    )
    .await;
    client.check().await.expect("renewed after a 401, replayed");
}

#[tokio::test]
async fn credential_problems_are_told_apart() {
    let running = start(Options {
        seed: 4,
        customers: 3,
        ..Options::default()
    })
    .await;
    let wrong_secret = Settings {
        secret: Secret::new("not the secret"),
        ..settings(&running, TokenEndpoint::V2)
    };
    let client = Client::new(wrong_secret, Arc::new(MemoryTokenStore::new(None))).expect("client");
    let error = client.check().await.expect_err("refused");
    assert!(matches!(error, PcError::Configuration(_)), "{error}");
    assert!(error.to_string().contains("secret"), "{error}");

    admin(
        &running.base,
        reqwest::Method::POST,
        "/tokens/revoke-refresh-tokens",
    )
    .await;
    let store = Arc::new(MemoryTokenStore::new(Some(
        running.credentials.refresh_token.clone(),
    )));
    let client = Client::new(settings(&running, TokenEndpoint::V2), store).expect("client");
    let error = client.check().await.expect_err("refused");
    assert!(matches!(error, PcError::NeedsConsent(_)), "{error}");
    assert!(error.to_string().contains("consent"), "{error}");
}

#[tokio::test]
async fn the_other_routes() {
    let running = start(Options {
        seed: 5,
        customers: 300,
        resellers: 3,
        ..Options::default()
    })
    .await;
    let store = Arc::new(MemoryTokenStore::new(Some(
        running.credentials.refresh_token.clone(),
    )));
    let client = Client::new(settings(&running, TokenEndpoint::V2), store).expect("client");
    let resellers = client.resellers().await.expect("resellers");
    assert_eq!(resellers.len(), 3);
    assert!(resellers.iter().all(|r| r.mpn_id.is_some()));
    let mut theirs = client.customers_of_reseller(&resellers[0].id);
    let page = theirs
        .next_page()
        .await
        .expect("page")
        .expect("a first page");
    assert!(!page.is_empty());
    let dump: Value = serde_json::from_str(&running.emulator.world_json()).expect("dump");
    let customers = dump["customers"].as_array().expect("customers");
    let with_plan = customers
        .iter()
        .find_map(|c| {
            c["subscriptions"]
                .as_array()?
                .iter()
                .find(|s| s["family"] == "azure_plan")
                .and_then(|s| Some((c["id"].as_str()?.to_owned(), s["id"].as_str()?.to_owned())))
        })
        .expect("an Azure plan");
    let entitlements = client
        .azure_entitlements(&with_plan.0, &with_plan.1)
        .await
        .expect("entitlements");
    assert!(!entitlements.is_empty());
    let customer = customers
        .iter()
        .find(|c| c["allowDelegatedAccess"] == true)
        .expect("a DAP customer");
    let id = customer["id"].as_str().expect("id");
    let domains = client.custom_domains(id).await.expect("domains");
    assert_eq!(
        Some(
            &domains
                .iter()
                .map(|d| Value::from(d.as_str()))
                .collect::<Vec<_>>()
        ),
        customer["customDomains"].as_array()
    );
    let mut users = client.users(id);
    let mut count = 0;
    while let Some(page) = users.next_page().await.expect("users") {
        count += page.len();
    }
    let active = customer["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter(|u| u["state"] == "active")
        .count();
    assert_eq!(count, active);
    let unknown = client
        .customer("00000000-0000-4000-8000-000000000000")
        .await
        .expect_err("unknown");
    assert!(unknown.is_not_found(), "{unknown}");
}

/// One customer asked for again and again under a per-customer limit: the client slows down for
/// that customer, honours Retry-After, and neither the customer nor any call is answered 429
/// more than twice in a row.
#[tokio::test]
async fn a_busy_customer_is_paced_on_its_own() {
    let faults = Faults {
        customer_throttle_per_minute: Some(240),
        ..Faults::default()
    };
    let running = start(Options {
        seed: 6,
        customers: 5,
        faults,
        ..Options::default()
    })
    .await;
    let client = Arc::new(
        Client::new(
            settings(&running, TokenEndpoint::V1),
            Arc::new(MemoryTokenStore::new(None)),
        )
        .expect("client"),
    );
    let dump: Value = serde_json::from_str(&running.emulator.world_json()).expect("dump");
    let id = dump["customers"][0]["id"].as_str().expect("id").to_owned();
    let started = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..24 {
        let (client, id) = (client.clone(), id.clone());
        calls.spawn(async move { client.subscriptions(&id).await.expect("subscriptions") });
    }
    while let Some(done) = calls.join_next().await {
        done.expect("call");
    }
    let stats = admin(&running.base, reqwest::Method::GET, "/stats").await;
    assert!(stats["throttled"].as_u64() > Some(0), "{stats}");
    for run in ["max_consecutive_429", "max_consecutive_429_per_call"] {
        assert!(stats[run].as_u64() <= Some(2), "{run}: {stats}");
    }
    // 24 calls at 4 a second, after a burst of 4: at least 4 seconds, not many more.
    assert!(
        started.elapsed().as_secs_f64() < 12.0,
        "{:?}",
        started.elapsed()
    );
}
