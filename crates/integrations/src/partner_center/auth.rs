//! Tokens from Microsoft Entra ID (spec §2): client credentials for App-only calls, the refresh
//! token for App+User calls. Expiry is computed locally and tokens are renewed early; every
//! rotated refresh token is stored before it is used.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;

use super::{PcError, Settings, TokenEndpoint};

/// Where the refresh token lives between uses. It rotates on every refresh: the new one must be
/// stored, and the current one read again before each refresh, because another process (or a
/// parent marketplace sharing the instance) may have rotated it meanwhile.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    async fn current(&self) -> Result<Option<String>, String>;
    async fn store(&self, token: &str) -> Result<(), String>;
}

/// A refresh token kept in memory only.
#[derive(Default)]
pub struct MemoryTokenStore(tokio::sync::Mutex<Option<String>>);

impl MemoryTokenStore {
    pub fn new(token: Option<String>) -> Self {
        MemoryTokenStore(tokio::sync::Mutex::new(token))
    }
}

#[async_trait]
impl RefreshTokenStore for MemoryTokenStore {
    async fn current(&self) -> Result<Option<String>, String> {
        Ok(self.0.lock().await.clone())
    }

    async fn store(&self, token: &str) -> Result<(), String> {
        *self.0.lock().await = Some(token.to_owned());
        Ok(())
    }
}

struct AccessToken {
    value: String,
    renew_at: Instant,
}

pub struct Auth {
    settings: Arc<Settings>,
    store: Arc<dyn RefreshTokenStore>,
    /// Held while a token is fetched, so concurrent callers wait for one fetch.
    current: tokio::sync::Mutex<Option<AccessToken>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    /// An integer (v2) or a string (v1).
    expires_in: serde_json::Value,
}

#[derive(Deserialize, Default)]
struct EntraError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u64>,
}

impl Auth {
    pub fn new(settings: Arc<Settings>, store: Arc<dyn RefreshTokenStore>) -> Self {
        Auth {
            settings,
            store,
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// A token to call with. `stale` is one the service just refused: a new one is fetched.
    pub async fn token(
        &self,
        http: &reqwest::Client,
        stale: Option<&str>,
    ) -> Result<String, PcError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref()
            && token.renew_at > Instant::now()
            && stale != Some(token.value.as_str())
        {
            return Ok(token.value.clone());
        }
        let fresh = self.fetch(http).await?;
        let value = fresh.value.clone();
        *current = Some(fresh);
        Ok(value)
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<AccessToken, PcError> {
        let refresh = self.store.current().await.map_err(PcError::Store)?;
        match self.request(http, refresh.as_deref()).await {
            // Another process may have rotated the refresh token since it was read: read it
            // again, and try once more if it changed.
            Err(PcError::NeedsConsent(reason)) if refresh.is_some() => {
                let again = self.store.current().await.map_err(PcError::Store)?;
                if again.is_some() && again != refresh {
                    self.request(http, again.as_deref()).await
                } else {
                    Err(PcError::NeedsConsent(reason))
                }
            }
            other => other,
        }
    }

    async fn request(
        &self,
        http: &reqwest::Client,
        refresh: Option<&str>,
    ) -> Result<AccessToken, PcError> {
        let s = &self.settings;
        let audience = s.audience();
        let (path, mut form) = match s.token_endpoint {
            TokenEndpoint::V1 => ("oauth2/token", vec![("resource", audience.clone())]),
            TokenEndpoint::V2 => {
                let scope = if refresh.is_some() {
                    format!("{audience}/user_impersonation offline_access")
                } else {
                    format!("{audience}/.default")
                };
                ("oauth2/v2.0/token", vec![("scope", scope)])
            }
        };
        form.push(("client_id", s.application_id.clone()));
        form.push(("client_secret", s.secret.expose().to_owned()));
        match refresh {
            Some(token) => {
                form.push(("grant_type", "refresh_token".into()));
                form.push(("refresh_token", token.to_owned()));
            }
            None => form.push(("grant_type", "client_credentials".into())),
        }
        let url = format!(
            "{}/{}/{path}",
            s.login_base_url.trim_end_matches('/'),
            s.tenant_id
        );
        let started = Instant::now();
        let response = http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|e| PcError::Network(format!("the token endpoint did not answer: {e}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| PcError::Network(e.to_string()))?;
        if !status.is_success() {
            let error: EntraError = super::model::parse(&body).unwrap_or_default();
            return Err(classify(status.as_u16(), &error));
        }
        let answer: TokenAnswer = super::model::parse(&body)
            .map_err(|e| PcError::Decode(format!("token answer: {e}")))?;
        if let Some(rotated) = &answer.refresh_token {
            self.store.store(rotated).await.map_err(PcError::Store)?;
        }
        let lifetime = match &answer.expires_in {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .unwrap_or(3599);
        // Renew early: five minutes before expiry, or a quarter of the lifetime when short.
        let margin = (lifetime / 4).min(300);
        Ok(AccessToken {
            value: answer.access_token,
            renew_at: started + Duration::from_secs(lifetime.saturating_sub(margin)),
        })
    }
}

/// Sorts Entra's errors (spec §2.5): what needs a person to consent again, and what is wrong in
/// the settings.
/// Sorts Entra's refusal into what the operator must do, in Ferry's words: what Entra wrote is
/// logged, never passed on (a hostile sign-in address could write anything), except its
/// AADSTS code, which identifies the cause.
fn classify(status: u16, error: &EntraError) -> PcError {
    let code = error.error_codes.first().copied().unwrap_or(0);
    tracing::warn!(
        status,
        error = %error.error,
        code,
        description = %error.error_description.lines().next().unwrap_or(""),
        "Entra refused the token request"
    );
    let aadsts = if code > 0 {
        format!(" (AADSTS{code})")
    } else {
        format!(" ({status})")
    };
    match (error.error.as_str(), code) {
        ("invalid_grant" | "interaction_required", 65001) => PcError::NeedsConsent(format!(
            "an administrator has not consented to the application{aadsts}"
        )),
        ("invalid_grant" | "interaction_required", _) => PcError::NeedsConsent(format!(
            "the refresh token was revoked, expired or needs sign-in again; a partner user must \
             consent again and the new refresh token be saved{aadsts}"
        )),
        ("invalid_client", _) => PcError::Configuration(format!(
            "the application secret is wrong or expired; create a new one in Partner Center and \
             save it{aadsts}"
        )),
        ("unauthorized_client", _) => PcError::Configuration(format!(
            "the application id is not known in the partner tenant{aadsts}"
        )),
        ("invalid_request", 90002) => {
            PcError::Configuration(format!("the partner tenant id is not known{aadsts}"))
        }
        _ => PcError::Configuration(format!(
            "the sign-in service refused the token request{aadsts}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: &str, code: u64) -> EntraError {
        EntraError {
            error: kind.into(),
            error_description: format!("AADSTS{code}: text"),
            error_codes: vec![code],
        }
    }

    #[test]
    fn entra_errors_are_sorted() {
        assert!(matches!(
            classify(400, &error("invalid_grant", 700_082)),
            PcError::NeedsConsent(_)
        ));
        assert!(matches!(
            classify(400, &error("interaction_required", 50076)),
            PcError::NeedsConsent(_)
        ));
        assert!(matches!(
            classify(401, &error("invalid_client", 7_000_215)),
            PcError::Configuration(_)
        ));
        assert!(matches!(
            classify(400, &error("unauthorized_client", 700_016)),
            PcError::Configuration(_)
        ));
        assert!(matches!(
            classify(400, &error("invalid_request", 90002)),
            PcError::Configuration(_)
        ));
    }
}
