//! A client of the Microsoft Partner Center REST API, written against the specification
//! (`shared/docs/reference/partner-center-api.md`): the routes Ferry needs, paging by
//! continuation token, tolerant parsing, token renewal, and good behaviour under throttling.

mod auth;
pub mod model;
mod throttle;

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

pub use auth::{MemoryTokenStore, RefreshTokenStore};
use model::{
    AzureEntitlement, BillingProfile, Collection, Customer, PartnerRelationship, Subscription, User,
};
use throttle::{Governor, Outcome};

/// Microsoft's global cloud.
pub const DEFAULT_API_URL: &str = "https://api.partnercenter.microsoft.com";
pub const DEFAULT_LOGIN_URL: &str = "https://login.microsoftonline.com";

/// The hosts of Microsoft's Partner Center and sign-in services, global and 21Vianet (China).
pub const MICROSOFT_HOSTS: &[&str] = &[
    "api.partnercenter.microsoft.com",
    "login.microsoftonline.com",
    "partner.partnercenterapi.microsoftonline.cn",
    "login.partner.microsoftonline.cn",
    "login.chinacloudapi.cn",
];

/// Whether an instance's credentials may be sent to `url`: Microsoft's services over HTTPS
/// and, when `local` is allowed, this machine (the emulators of tests and the demo).
pub fn check_base_url(url: &str, local: bool) -> Result<(), String> {
    crate::check_service_url(url, local, "Partner Center", MICROSOFT_HOSTS)
}
const AUDIENCE: &str = "https://api.partnercenter.microsoft.com";

/// Which Entra token endpoint to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEndpoint {
    V1,
    V2,
}

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How to reach one partner's Partner Center.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api_base_url: String,
    pub login_base_url: String,
    pub tenant_id: String,
    pub application_id: String,
    pub secret: Secret,
    pub token_endpoint: TokenEndpoint,
}

impl Settings {
    /// The token audience: the API's own address on Microsoft's clouds, the global one
    /// elsewhere (a local emulator).
    fn audience(&self) -> String {
        let api = self.api_base_url.trim_end_matches('/');
        if api.starts_with("https://") && api.contains("partnercenter") {
            api.to_owned()
        } else {
            AUDIENCE.to_owned()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PcError {
    /// A partner user must consent again (refresh token expired or revoked, MFA needed).
    #[error("Partner Center needs a new consent: {0}")]
    NeedsConsent(String),
    /// The instance's settings are wrong (secret, application id, tenant id).
    #[error("the Partner Center settings are wrong: {0}")]
    Configuration(String),
    /// Partner Center refused the call.
    #[error("Partner Center answered {status} (code {code}): {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("Partner Center could not be reached: {0}")]
    Network(String),
    #[error("Partner Center's answer could not be read: {0}")]
    Decode(String),
    #[error("the rotated refresh token could not be stored: {0}")]
    Store(String),
}

impl PcError {
    /// Whether this is a 404 from the service (an unknown tenant, subscription or user).
    pub fn is_not_found(&self) -> bool {
        matches!(self, PcError::Api { status: 404, .. })
    }
}

/// A filter on the customer list (§1.7): a prefix, matched without regard to case.
#[derive(Debug, Clone)]
pub enum CustomerFilter {
    CompanyName(String),
    Domain(String),
    /// The customers of one indirect reseller, by its tenant id (App+User only).
    IndirectReseller(String),
}

/// How often a call that failed on the server or the network is tried again.
const RETRIES: u32 = 6;
/// How many 429 answers one call accepts before giving up.
const THROTTLED_RETRIES: u32 = 50;

pub struct Client {
    http: reqwest::Client,
    settings: Arc<Settings>,
    auth: auth::Auth,
    governor: Governor,
    correlation_id: String,
}

impl Client {
    pub fn new(
        settings: Settings,
        refresh_tokens: Arc<dyn RefreshTokenStore>,
    ) -> Result<Self, PcError> {
        crate::install_tls();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| PcError::Network(e.to_string()))?;
        let settings = Arc::new(settings);
        Ok(Client {
            http,
            auth: auth::Auth::new(settings.clone(), refresh_tokens),
            settings,
            governor: Governor::default(),
            correlation_id: guid(),
        })
    }

    /// Calls a route (`/v1/…` with its query) and reads the answer, retrying as §7.3 says.
    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        customer: Option<&str>,
        headers: &[(String, String)],
    ) -> Result<T, PcError> {
        let url = format!("{}{path}", self.settings.api_base_url.trim_end_matches('/'));
        let mut keys = vec![self.settings.tenant_id.clone()];
        if let Some(customer) = customer {
            keys.push(format!(
                "{}/{}",
                self.settings.tenant_id,
                customer.to_ascii_lowercase()
            ));
        }
        // One id for the logical call, kept on every retry so the service can tell.
        let request_id = guid();
        let (mut failures, mut throttled) = (0, 0);
        let mut stale: Option<String> = None;
        let mut refreshed = false;
        let route = route_of(path);
        let mut first = true;
        loop {
            if !std::mem::take(&mut first) {
                metrics::counter!("ferry_partner_center_retries_total").increment(1);
            }
            let waited = std::time::Instant::now();
            let permit = self.governor.acquire(&keys).await;
            metrics::histogram!("ferry_partner_center_throttle_wait_seconds")
                .record(waited.elapsed().as_secs_f64());
            let token = match self.auth.token(&self.http, stale.as_deref()).await {
                Ok(token) => token,
                Err(e) => {
                    self.governor.release(permit, Outcome::Other);
                    return Err(e);
                }
            };
            let mut request = self
                .http
                .get(&url)
                .bearer_auth(&token)
                .header("Accept", "application/json")
                .header("MS-RequestId", &request_id)
                .header("MS-CorrelationId", &self.correlation_id)
                .header("MS-Contract-Version", "v1");
            for (name, value) in headers {
                request = request.header(name.as_str(), value.as_str());
            }
            let answer = crate::read_answer(request).await;
            count_call(&route, answer.as_ref().map(|(status, _, _)| *status).ok());
            let (status, retry_after, body) = match answer {
                Ok(answer) => answer,
                Err(error) => {
                    // Timeouts and broken connections: try again, with the same request id.
                    self.governor.release(permit, Outcome::Other);
                    failures += 1;
                    if failures > RETRIES {
                        return Err(PcError::Network(error.to_string()));
                    }
                    crate::backoff(failures).await;
                    continue;
                }
            };
            match status {
                200..=299 => {
                    self.governor.release(permit, Outcome::Ok);
                    return model::parse(&body)
                        .map_err(|e| PcError::Decode(format!("{path}: {e}")));
                }
                429 => {
                    // No Retry-After: the specification's fallback is 30 seconds.
                    let wait = Duration::from_secs(retry_after.unwrap_or(30));
                    self.governor.release(permit, Outcome::Throttled(wait));
                    throttled += 1;
                    if throttled > THROTTLED_RETRIES {
                        return Err(api_error(status, &body));
                    }
                }
                401 if !refreshed => {
                    // The token may have expired early or been revoked: renew once, replay.
                    self.governor.release(permit, Outcome::Other);
                    refreshed = true;
                    stale = Some(token);
                }
                500..=599 => {
                    self.governor.release(permit, Outcome::Other);
                    failures += 1;
                    if failures > RETRIES {
                        return Err(api_error(status, &body));
                    }
                    crate::backoff(failures).await;
                }
                _ => {
                    self.governor.release(permit, Outcome::Other);
                    return Err(api_error(status, &body));
                }
            }
        }
    }

    /// Customers (C1), page by page; with a filter, only those it matches (§1.7).
    pub fn customers(&self, filter: Option<CustomerFilter>) -> Pager<'_, Customer> {
        let mut path = "/v1/customers".to_owned();
        if let Some(filter) = filter {
            let (field, value) = match filter {
                CustomerFilter::CompanyName(v) => ("CompanyName", v),
                CustomerFilter::Domain(v) => ("Domain", v),
                CustomerFilter::IndirectReseller(v) => ("IndirectReseller", v),
            };
            let json =
                serde_json::json!({ "Field": field, "Value": value, "Operator": "starts_with" });
            path.push_str(&format!(
                "?size=0&filter={}",
                percent_encode(&json.to_string())
            ));
        }
        Pager::new(self, path, None)
    }

    /// The customers of one indirect reseller (R3), by the reseller's tenant id.
    pub fn customers_of_reseller(&self, reseller_tenant_id: &str) -> Pager<'_, Customer> {
        self.customers(Some(CustomerFilter::IndirectReseller(
            reseller_tenant_id.to_owned(),
        )))
    }

    /// One customer in full (C2).
    pub async fn customer(&self, id: &str) -> Result<Customer, PcError> {
        self.get(&format!("/v1/customers/{id}"), Some(id), &[])
            .await
    }

    pub async fn billing_profile(&self, customer: &str) -> Result<BillingProfile, PcError> {
        self.get(
            &format!("/v1/customers/{customer}/profiles/billing"),
            Some(customer),
            &[],
        )
        .await
    }

    /// The customer's domains (C5); needs delegated access.
    pub async fn custom_domains(&self, customer: &str) -> Result<Vec<String>, PcError> {
        self.get(
            &format!("/v1/customers/{customer}/customDomains"),
            Some(customer),
            &[],
        )
        .await
    }

    /// The partner's indirect resellers (R1).
    pub async fn resellers(&self) -> Result<Vec<PartnerRelationship>, PcError> {
        let list: Collection<PartnerRelationship> = self
            .get(
                "/v1/relationships?relationship_type=IsIndirectCloudSolutionProviderOf",
                None,
                &[],
            )
            .await?;
        Ok(list.items)
    }

    /// All of a customer's subscriptions (S1): one answer, not paged.
    pub async fn subscriptions(&self, customer: &str) -> Result<Vec<Subscription>, PcError> {
        let list: Collection<Subscription> = self
            .get(
                &format!("/v1/customers/{customer}/subscriptions"),
                Some(customer),
                &[],
            )
            .await?;
        Ok(list.items)
    }

    pub async fn addons(
        &self,
        customer: &str,
        subscription: &str,
    ) -> Result<Vec<Subscription>, PcError> {
        let path = format!("/v1/customers/{customer}/subscriptions/{subscription}/addons");
        let list: Collection<Subscription> = self.get(&path, Some(customer), &[]).await?;
        Ok(list.items)
    }

    /// The Azure subscriptions under an Azure plan (S6).
    pub async fn azure_entitlements(
        &self,
        customer: &str,
        plan: &str,
    ) -> Result<Vec<AzureEntitlement>, PcError> {
        let path = format!("/v1/customers/{customer}/subscriptions/{plan}/azureEntitlements");
        let list: Collection<AzureEntitlement> = self.get(&path, Some(customer), &[]).await?;
        Ok(list.items)
    }

    /// A customer's active users (U1), page by page; App+User only.
    pub fn users(&self, customer: &str) -> Pager<'_, User> {
        Pager::new(
            self,
            format!("/v1/customers/{customer}/users"),
            Some(customer.to_owned()),
        )
    }

    /// A customer's users deleted in the last 30 days (U1 filtered by `UserState` inactive),
    /// page by page; App+User only.
    pub fn inactive_users(&self, customer: &str) -> Pager<'_, User> {
        let filter = serde_json::json!({
            "Field": "UserState", "Value": "Inactive", "Operator": "equals",
        });
        Pager::new(
            self,
            format!(
                "/v1/customers/{customer}/users?size=0&filter={}",
                percent_encode(&filter.to_string())
            ),
            Some(customer.to_owned()),
        )
    }

    /// Whether the settings work: a token, then one small call.
    pub async fn check(&self) -> Result<(), PcError> {
        let _: Collection<serde_json::Value> = self.get("/v1/customers?size=1", None, &[]).await?;
        Ok(())
    }
}

/// A paged list (§1.6): the first page, then each `next` link until there is none.
pub struct Pager<'c, T> {
    client: &'c Client,
    next: Option<(String, Vec<(String, String)>)>,
    customer: Option<String>,
    _items: std::marker::PhantomData<T>,
}

impl<'c, T: DeserializeOwned> Pager<'c, T> {
    fn new(client: &'c Client, first: String, customer: Option<String>) -> Self {
        Pager {
            client,
            next: Some((first, Vec::new())),
            customer,
            _items: std::marker::PhantomData,
        }
    }

    /// The next page, or `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>, PcError> {
        let Some((path, headers)) = self.next.take() else {
            return Ok(None);
        };
        let page: Collection<T> = self
            .client
            .get(&path, self.customer.as_deref(), &headers)
            .await?;
        // Stop when there is no next link, not on a short page (§1.6).
        self.next = page.links.and_then(|l| l.next).map(|next| {
            let headers = next.headers.into_iter().map(|h| (h.key, h.value)).collect();
            (resolve(&next.uri), headers)
        });
        Ok(Some(page.items))
    }
}

/// A `next` link's path (§1.4): as it is when it already starts with `/v1/`, else under `/v1`;
/// an absolute link keeps only its path.
fn resolve(uri: &str) -> String {
    let path = match uri.find("://") {
        Some(scheme) => uri[scheme + 3..]
            .find('/')
            .map_or("/", |p| &uri[scheme + 3 + p..]),
        None => uri,
    };
    if path.starts_with("/v1/") {
        path.to_owned()
    } else if path.starts_with('/') {
        format!("/v1{path}")
    } else {
        format!("/v1/{path}")
    }
}

fn api_error(status: u16, body: &[u8]) -> PcError {
    let fault: model::ApiFault = model::parse(body).unwrap_or_default();
    PcError::Api {
        status,
        code: fault.code.unwrap_or_else(|| "none".into()),
        message: fault
            .description
            .or(fault.message)
            .unwrap_or_else(|| "no description".into()),
    }
}

/// A route as the metrics name it: its path, ids replaced by `:id`, without the query.
fn route_of(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    path.split('/')
        .map(|segment| {
            let id = segment.len() >= 8 && segment.chars().any(|c| c.is_ascii_digit());
            if id { ":id" } else { segment }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// One answer (or a network failure, `None`) of a route, by its class (docs/operations.md).
fn count_call(route: &str, status: Option<u16>) {
    let outcome = match status {
        None => "network",
        Some(429) => "429",
        Some(200..=299) => "2xx",
        Some(500..=599) => "5xx",
        Some(_) => "4xx",
    };
    let labels = [("route", route.to_owned()), ("outcome", outcome.to_owned())];
    metrics::counter!("ferry_partner_center_calls_total", &labels).increment(1);
}

fn guid() -> String {
    let b: [u8; 16] = rand::random();
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-4{:01x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6] & 0x0f,
        b[7],
        (b[8] & 0x3f) | 0x80,
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_only_to_microsoft_or_an_allowed_emulator() {
        for url in [
            DEFAULT_API_URL,
            DEFAULT_LOGIN_URL,
            "https://login.chinacloudapi.cn/",
        ] {
            assert_eq!(check_base_url(url, false), Ok(()), "{url}");
        }
        for url in [
            "https://evil.example",
            "http://login.microsoftonline.com",
            "https://login.microsoftonline.com.evil.example",
            "https://login.microsoftonline.com:8443",
            "http://169.254.169.254/latest",
            "not a url",
        ] {
            assert!(check_base_url(url, true).is_err(), "{url}");
        }
        for url in [
            "http://127.0.0.1:8181",
            "http://localhost:9",
            "http://[::1]:80",
        ] {
            assert!(check_base_url(url, false).is_err(), "{url}");
            assert_eq!(check_base_url(url, true), Ok(()), "{url}");
        }
    }

    #[test]
    fn next_links_with_or_without_v1() {
        assert_eq!(
            resolve("/v1/customers?size=2&seekOperation=Next"),
            "/v1/customers?size=2&seekOperation=Next"
        );
        assert_eq!(
            resolve("/customers?size=2&seekOperation=Next"),
            "/v1/customers?size=2&seekOperation=Next"
        );
        assert_eq!(
            resolve("https://api.partnercenter.microsoft.com/v1/customers"),
            "/v1/customers"
        );
    }

    #[test]
    fn secrets_do_not_show() {
        let settings = Settings {
            api_base_url: DEFAULT_API_URL.into(),
            login_base_url: DEFAULT_LOGIN_URL.into(),
            tenant_id: "t".into(),
            application_id: "a".into(),
            secret: Secret::new("hunter2"),
            token_endpoint: TokenEndpoint::V2,
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
