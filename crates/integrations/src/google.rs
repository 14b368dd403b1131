//! A client of the Google Admin SDK Directory API (spec §8.1) for User Sync: a service
//! account's JSON key signs a JWT (RS256) that Google's token endpoint exchanges for an access
//! token as the Workspace admin it impersonates (the JWT bearer grant, domain-wide delegation);
//! the token is kept until shortly before it expires. `users.list` by customer id or domain,
//! every page, the deleted users through `showDeleted`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

pub const DEFAULT_API_URL: &str = "https://admin.googleapis.com";
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Google's hosts that may receive a service account's signed assertions and tokens.
pub const GOOGLE_HOSTS: &[&str] = &[
    "admin.googleapis.com",
    "www.googleapis.com",
    "oauth2.googleapis.com",
];
/// Read-only access to a Workspace's users: all User Sync needs.
pub const DIRECTORY_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly";

/// Google's most users on one page.
const PAGE_SIZE: usize = 500;
/// How often a call that failed on the server, the network or a rate limit is tried again.
const RETRIES: u32 = 6;

/// Whether a Google connection's credentials may be sent to `url`.
pub fn check_base_url(url: &str, local: bool) -> Result<(), String> {
    crate::check_service_url(url, local, "Google", GOOGLE_HOSTS)
}

/// A service account's JSON key, as Google Cloud's console downloads it.
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    #[serde(rename = "type")]
    kind: String,
    pub client_email: String,
    private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default)]
    pub token_uri: Option<String>,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    /// Reads a key file, saying what is wrong with one that is not a service account's key.
    pub fn parse(text: &str) -> Result<ServiceAccountKey, String> {
        let key: ServiceAccountKey = serde_json::from_str(text)
            .map_err(|e| format!("the key file is not a service account's JSON key ({e})"))?;
        if key.kind != "service_account" {
            return Err(format!(
                "the key file holds a '{}' credential; User Sync needs a service account's key",
                key.kind
            ));
        }
        key.signing_key()?;
        Ok(key)
    }

    fn signing_key(&self) -> Result<EncodingKey, String> {
        EncodingKey::from_rsa_pem(self.private_key.as_bytes())
            .map_err(|_| "the key file's private_key is not an RSA private key in PEM".to_owned())
    }
}

/// How to reach one marketplace's Google Workspace customers.
#[derive(Debug, Clone)]
pub struct Connection {
    pub api_url: String,
    pub token_url: String,
    pub key: ServiceAccountKey,
    /// The Workspace admin the service account acts as.
    pub admin: String,
}

/// Which Workspace customer to list: by its customer id (`C0…`) or its primary domain.
#[derive(Debug, Clone, Copy)]
pub enum Customer<'a> {
    Id(&'a str),
    Domain(&'a str),
}

#[derive(Debug, thiserror::Error)]
pub enum GoogleError {
    /// The token endpoint refused the service account (a wrong key, no delegation, a wrong
    /// admin or scope).
    #[error("Google refused the service account: {0}")]
    Refused(String),
    /// Google's message is kept for the log; what is shown is the status and the reason code.
    #[error("Google answered {status} ({reason})")]
    Api {
        status: u16,
        reason: String,
        message: String,
    },
    #[error("Google could not be reached: {0}")]
    Network(String),
    #[error("Google's answer could not be read: {0}")]
    Decode(String),
}

impl GoogleError {
    /// An unknown customer or domain.
    pub fn is_not_found(&self) -> bool {
        matches!(self, GoogleError::Api { status: 404, .. })
    }
}

/// A user as `users.list` gives them; fields Ferry does not use are ignored and missing ones
/// take their defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DirectoryUser {
    pub id: String,
    pub primary_email: String,
    pub name: UserName,
    pub suspended: bool,
    pub archived: bool,
    /// Set on deleted users, which only `showDeleted` lists.
    pub deletion_time: Option<String>,
    pub customer_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UserName {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct UserPage {
    users: Vec<DirectoryUser>,
    next_page_token: Option<String>,
}

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    sub: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

pub struct Client {
    http: reqwest::Client,
    connection: Connection,
    signing_key: EncodingKey,
    /// The access token and when to stop using it.
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl Client {
    pub fn new(connection: Connection) -> Result<Client, GoogleError> {
        crate::install_tls();
        let signing_key = connection.key.signing_key().map_err(GoogleError::Refused)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| GoogleError::Network(e.to_string()))?;
        Ok(Client {
            http,
            connection,
            signing_key,
            token: tokio::sync::Mutex::new(None),
        })
    }

    /// Exchanges a fresh assertion for a token: what a connection check does.
    pub async fn check(&self) -> Result<(), GoogleError> {
        self.token(true).await.map(drop)
    }

    /// Every user of a customer: the active and suspended ones, or with `deleted` those deleted.
    pub async fn users(
        &self,
        customer: Customer<'_>,
        deleted: bool,
    ) -> Result<Vec<DirectoryUser>, GoogleError> {
        let base = format!(
            "{}/admin/directory/v1/users",
            self.connection.api_url.trim_end_matches('/')
        );
        let (key, value) = match customer {
            Customer::Id(id) => ("customer", id),
            Customer::Domain(domain) => ("domain", domain),
        };
        let mut users = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut query = vec![
                (key, value.to_owned()),
                ("maxResults", PAGE_SIZE.to_string()),
                ("showDeleted", deleted.to_string()),
            ];
            if let Some(token) = page_token.take() {
                query.push(("pageToken", token));
            }
            let page: UserPage = self.get(&base, &query).await?;
            users.extend(page.users);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) => page_token = Some(next),
                None => return Ok(users),
            }
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&'static str, String)],
    ) -> Result<T, GoogleError> {
        let mut failures = 0;
        let mut renewed = false;
        loop {
            let token = self.token(false).await?;
            let address = reqwest::Url::parse_with_params(url, query)
                .map_err(|e| GoogleError::Network(format!("{url}: {e}")))?;
            let request = self.http.get(address).bearer_auth(&token);
            let answer = crate::read_answer(request).await;
            let (status, retry_after, body) = match answer {
                Ok(answer) => answer,
                Err(error) => {
                    failures += 1;
                    if failures > RETRIES {
                        return Err(GoogleError::Network(error.to_string()));
                    }
                    crate::backoff(failures).await;
                    continue;
                }
            };
            if (200..300).contains(&status) {
                return serde_json::from_slice(&body)
                    .map_err(|e| GoogleError::Decode(e.to_string()));
            }
            let error = api_error(status, &body);
            let rate_limited = matches!(&error, GoogleError::Api { reason, .. }
                if reason == "rateLimitExceeded" || reason == "userRateLimitExceeded");
            if status == 401 && !renewed {
                // Revoked or expired early: one new token, then the same call again.
                renewed = true;
                *self.token.lock().await = None;
            } else if status == 429 || status >= 500 || rate_limited {
                failures += 1;
                if failures > RETRIES {
                    return Err(error);
                }
                match retry_after {
                    Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
                    None => crate::backoff(failures).await,
                }
            } else {
                return Err(error);
            }
        }
    }

    /// The access token, renewed when `renew` or when the one kept is about to expire.
    async fn token(&self, renew: bool) -> Result<String, GoogleError> {
        let mut kept = self.token.lock().await;
        if !renew
            && let Some((token, until)) = kept.as_ref()
            && *until > Instant::now()
        {
            return Ok(token.clone());
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let key = &self.connection.key;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = key.private_key_id.clone();
        let assertion = jsonwebtoken::encode(
            &header,
            &Assertion {
                iss: &key.client_email,
                sub: &self.connection.admin,
                scope: DIRECTORY_SCOPE,
                aud: &self.connection.token_url,
                iat: now,
                exp: now + 3600,
            },
            &self.signing_key,
        )
        .map_err(|e| GoogleError::Refused(format!("the assertion could not be signed: {e}")))?;
        let response = self
            .http
            .post(&self.connection.token_url)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| GoogleError::Network(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| GoogleError::Network(e.to_string()))?;
        if !(200..300).contains(&status) {
            return Err(grant_error(status, &body));
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| GoogleError::Decode(e.to_string()))?;
        // A minute early, so a token never expires on its way.
        let lifetime = answer.expires_in.unwrap_or(3600).saturating_sub(60);
        *kept = Some((
            answer.access_token.clone(),
            Instant::now() + Duration::from_secs(lifetime),
        ));
        Ok(answer.access_token)
    }
}

/// The token endpoint's OAuth error (`{"error", "error_description"}`) in Ferry's words: the
/// text itself is logged, not shown.
fn grant_error(status: u16, body: &[u8]) -> GoogleError {
    #[derive(Deserialize)]
    struct Answer {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    }
    let Ok(answer) = serde_json::from_slice::<Answer>(body) else {
        return if status >= 500 {
            GoogleError::Api {
                status,
                reason: "backendError".into(),
                message: String::from_utf8_lossy(body).chars().take(200).collect(),
            }
        } else {
            GoogleError::Refused(format!("the token endpoint answered {status}"))
        };
    };
    let description = answer.error_description.unwrap_or_default();
    tracing::info!(error = %answer.error, %description, "Google refused a token");
    GoogleError::Refused(match answer.error.as_str() {
        "invalid_grant" if description.contains("Signature") => {
            "Invalid JWT Signature: the key file is not a current key of the service account \
             (deleted or replaced in Google Cloud)"
                .into()
        }
        "invalid_grant" => {
            "invalid_grant: Google does not know the service account, or the admin, or the \
             clock of this machine is wrong"
                .into()
        }
        "unauthorized_client" => format!(
            "unauthorized_client: the service account may not act as the admin; give it \
             domain-wide delegation for {DIRECTORY_SCOPE} in the Admin console"
        ),
        "invalid_scope" => format!("invalid_scope: {DIRECTORY_SCOPE} is not granted"),
        code if is_code(code) => format!("{code} (status {status})"),
        _ => format!("the token endpoint answered {status}"),
    })
}

/// A short OAuth or API code, safe to show as it is.
fn is_code(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 40
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Google's error envelope (`{"error": {"code", "message", "errors": [{"reason"}]}}`).
fn api_error(status: u16, body: &[u8]) -> GoogleError {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let error = &value["error"];
    GoogleError::Api {
        status,
        reason: error["errors"][0]["reason"]
            .as_str()
            .or_else(|| error["status"].as_str())
            .filter(|r| is_code(r))
            .unwrap_or("unknown")
            .to_owned(),
        message: error["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect()),
    }
}
