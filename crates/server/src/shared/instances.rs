//! A Partner Center instance as typed in, the same from the page form and from the API:
//! checked, with defaults for the addresses, and its secrets sealed before they are stored.

use ferry_integrations::partner_center::{DEFAULT_API_URL, DEFAULT_LOGIN_URL, check_base_url};
use ferry_storage::seal::Sealer;
use ferry_storage::{InstanceRecord, NewInstance};
use serde::Deserialize;
use utoipa::ToSchema;

/// An instance to create or change. On a change, absent fields stay; secrets are never
/// returned.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct InstanceIn {
    pub name: Option<String>,
    pub model: Option<String>,
    pub partner_tenant_id: Option<String>,
    pub application_id: Option<String>,
    /// The application's client secret.
    pub secret: Option<String>,
    /// A refresh token for App+User calls (from a partner user's consent).
    pub refresh_token: Option<String>,
    pub mpn_id: Option<String>,
    pub api_base_url: Option<String>,
    pub login_base_url: Option<String>,
}

/// Why an instance as typed cannot be stored, and which field is wrong (when one is).
#[derive(Debug)]
pub struct Refused {
    pub field: Option<&'static str>,
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn refused(field: &'static str, message: impl Into<String>) -> Refused {
    Refused {
        field: Some(field),
        message: message.into(),
    }
}

impl InstanceIn {
    /// The instance to store, on top of an existing one when changing it. Its addresses are
    /// Microsoft's, or this machine's when `local` (emulators) is allowed; moving an instance
    /// to other addresses needs its secrets again, for they will be sent there.
    pub fn build(
        self,
        sealer: &Sealer,
        existing: Option<&InstanceRecord>,
        local: bool,
    ) -> Result<NewInstance, Refused> {
        let old = existing.map(|r| &r.summary);
        let pick = |new: Option<String>, old: Option<&String>, default: Option<&str>| {
            new.map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .or_else(|| old.cloned())
                .or_else(|| default.map(str::to_owned))
        };
        let name = pick(self.name, old.map(|o| &o.name), None)
            .ok_or_else(|| refused("name", "the instance needs a name"))?;
        let model = pick(self.model, old.map(|o| &o.model), None)
            .ok_or_else(|| refused("model", "the model is required: direct, indirect or both"))?;
        if !matches!(model.as_str(), "direct" | "indirect" | "both") {
            return Err(refused(
                "model",
                format!("'{model}' is not a model: use direct, indirect or both"),
            ));
        }
        let partner_tenant_id = pick(
            self.partner_tenant_id,
            old.map(|o| &o.partner_tenant_id),
            None,
        )
        .ok_or_else(|| refused("partner_tenant_id", "the partner tenant id is required"))?;
        if !ferry_domain::is_guid(&partner_tenant_id) {
            return Err(refused(
                "partner_tenant_id",
                format!(
                    "'{partner_tenant_id}' is not a tenant id: a GUID such as \
                     8d3a6f5c-1b2e-4c7d-9a0f-3e4b5c6d7e8f (Partner Center, Account settings)"
                ),
            ));
        }
        let application_id = pick(self.application_id, old.map(|o| &o.application_id), None)
            .ok_or_else(|| refused("application_id", "the application id is required"))?;
        let api_base_url = pick(
            self.api_base_url,
            old.map(|o| &o.api_base_url),
            Some(DEFAULT_API_URL),
        )
        .unwrap_or_default();
        let login_base_url = pick(
            self.login_base_url,
            old.map(|o| &o.login_base_url),
            Some(DEFAULT_LOGIN_URL),
        )
        .unwrap_or_default();
        check_base_url(&api_base_url, local).map_err(|m| refused("api_base_url", m))?;
        check_base_url(&login_base_url, local).map_err(|m| refused("login_base_url", m))?;
        let secret = self.secret.filter(|s| !s.is_empty());
        let refresh_token = self.refresh_token.filter(|t| !t.is_empty());
        if existing.is_none() && secret.is_none() {
            return Err(refused("secret", "the application secret is required"));
        }
        if let Some(old) = old {
            let moved = api_base_url.trim_end_matches('/') != old.api_base_url
                || login_base_url.trim_end_matches('/') != old.login_base_url;
            if moved && (secret.is_none() || (old.has_refresh_token && refresh_token.is_none())) {
                return Err(refused(
                    "secret",
                    if old.has_refresh_token {
                        "new addresses need the application secret and the refresh token again: \
                     they are sent to those addresses"
                    } else {
                        "new addresses need the application secret again: it is sent to those \
                     addresses"
                    },
                ));
            }
        }
        Ok(NewInstance {
            name,
            model,
            partner_tenant_id,
            application_id,
            secret_encrypted: secret.map(|s| sealer.seal(&s)),
            refresh_token_encrypted: refresh_token.map(|t| sealer.seal(&t)),
            mpn_id: pick(self.mpn_id, old.and_then(|o| o.mpn_id.as_ref()), None),
            api_base_url: api_base_url.trim_end_matches('/').to_owned(),
            login_base_url: login_base_url.trim_end_matches('/').to_owned(),
        })
    }
}
