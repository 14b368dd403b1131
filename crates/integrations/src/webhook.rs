//! The webhook provisioning connector (docs/datasets.md): a JSON event POSTed to the vendor's URL,
//! signed with HMAC-SHA256 over the exact body (`X-Ferry-Signature: sha256=<hex>`), carrying an
//! id the vendor can use to ignore a repeat (`X-Ferry-Event`). A 2xx answer is a yes; anything
//! else is tried again with exponential backoff and jitter, and in the end the vendor's own
//! words are the reason.

use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::RngExt;
use sha2::Sha256;

/// How many times an event is sent before it is given up.
pub const ATTEMPTS: u32 = 4;

/// Sends webhook events.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    /// The first wait between attempts; it doubles each time.
    backoff: Duration,
}

impl WebhookClient {
    pub fn new(backoff: Duration) -> Result<Self, String> {
        crate::install_tls();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(WebhookClient { http, backoff })
    }

    /// Delivers one event; `Err` holds why the vendor did not take it, after every attempt.
    pub async fn deliver(
        &self,
        url: &str,
        secret: &str,
        event_id: &str,
        body: &[u8],
    ) -> Result<(), String> {
        let signature = signature(secret, body);
        let mut reason = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                let base = self.backoff * 2u32.pow(attempt - 1);
                let jitter = rand::rng().random_range(0.0..0.25);
                tokio::time::sleep(base.mul_f64(1.0 + jitter)).await;
            }
            let sent = self
                .http
                .post(url)
                .header("content-type", "application/json")
                .header("x-ferry-event", event_id)
                .header("x-ferry-signature", format!("sha256={signature}"))
                .body(body.to_vec())
                .send()
                .await;
            reason = match sent {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    let text: String = text.trim().chars().take(300).collect();
                    if text.is_empty() {
                        format!("the vendor answered {status}")
                    } else {
                        format!("the vendor answered {status}: {text}")
                    }
                }
                Err(error) => format!("the vendor could not be reached: {error}"),
            };
            tracing::debug!(url, attempt, %reason, "webhook not taken");
        }
        Err(reason)
    }
}

/// The hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn signs_as_rfc_4231_says() {
        // RFC 4231, test case 2.
        assert_eq!(
            super::signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
