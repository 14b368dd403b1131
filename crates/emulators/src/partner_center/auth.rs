//! Microsoft Entra ID's token endpoints (v1 and v2), as far as the emulator needs them:
//! client credentials (App-only) and refresh tokens (App+User), which rotate on every use.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Shared, wire};

pub const AUDIENCE: &str = "https://api.partnercenter.microsoft.com";
const RETIRED_AUDIENCE: &str = "https://graph.windows.net";

/// Whose token it is: an application alone, or an application acting for a partner user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    AppOnly,
    AppUser,
}

struct Issued {
    kind: Kind,
    audience_ok: bool,
    expires: Instant,
}

pub struct Tokens {
    access: HashMap<String, Issued>,
    refresh: HashSet<String>,
    next: u64,
}

impl Tokens {
    pub fn new(initial_refresh: &str) -> Self {
        Tokens {
            access: HashMap::new(),
            refresh: HashSet::from([initial_refresh.to_owned()]),
            next: 0,
        }
    }

    fn mint(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!(
            "{prefix}.{:x}.{:016x}",
            self.next,
            self.next.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        )
    }

    /// Forgets every refresh token, as when a partner revokes consent.
    pub fn revoke_refresh_tokens(&mut self) {
        self.refresh.clear();
    }

    /// Lets every access token expire now.
    pub fn expire_access_tokens(&mut self) {
        let now = Instant::now();
        for issued in self.access.values_mut() {
            issued.expires = now;
        }
    }

    /// A new refresh token that works (for tests after a revocation).
    pub fn add_refresh_token(&mut self) -> String {
        let token = self.mint("0.refresh");
        self.refresh.insert(token.clone());
        token
    }
}

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/{tenant}/oauth2/token", post(token_v1))
        .route("/{tenant}/oauth2/v2.0/token", post(token_v2))
}

#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
    resource: Option<String>,
    scope: Option<String>,
}

async fn token_v1(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Form(form): Form<TokenRequest>,
) -> Response {
    let audience = form.resource.clone().unwrap_or_default();
    issue(&shared, &tenant, &form, &audience, false)
}

async fn token_v2(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Form(form): Form<TokenRequest>,
) -> Response {
    let audience = form
        .scope
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .find(|s| s.starts_with("https://"))
        .and_then(|s| s.rsplit_once('/').map(|(audience, _)| audience.to_owned()))
        .unwrap_or_default();
    issue(&shared, &tenant, &form, &audience, true)
}

/// An Entra error: `error`, `error_description` starting with the AADSTS code, `error_codes`.
fn entra_error(status: StatusCode, error: &str, code: u32, text: &str) -> Response {
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text} Trace ID: 00000000-0000-0000-0000-000000000000 Timestamp: 2026-01-01 00:00:00Z"),
        "error_codes": [code],
        "timestamp": "2026-01-01 00:00:00Z",
        "trace_id": "00000000-0000-0000-0000-000000000000",
        "correlation_id": "00000000-0000-0000-0000-000000000000",
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    (status, Json(body)).into_response()
}

fn issue(shared: &Shared, tenant: &str, form: &TokenRequest, audience: &str, v2: bool) -> Response {
    let credentials = &shared.credentials;
    if !tenant.eq_ignore_ascii_case(&credentials.partner_tenant_id) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    if form.client_id.as_deref() != Some(credentials.client_id.as_str()) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700_016,
            "Application was not found in the directory.",
        );
    }
    if form.client_secret.as_deref() != Some(credentials.client_secret.as_str()) {
        return entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7_000_215,
            "Invalid client secret provided.",
        );
    }
    if audience != AUDIENCE && audience != RETIRED_AUDIENCE {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500_011,
            "The resource principal was not found in the tenant.",
        );
    }
    let mut tokens = shared
        .tokens
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (kind, refresh) = match form.grant_type.as_deref() {
        Some("client_credentials") => (Kind::AppOnly, None),
        Some("refresh_token") => {
            let presented = form.refresh_token.clone().unwrap_or_default();
            // Rotation: the token presented is spent, a new one comes back.
            if !tokens.refresh.remove(&presented) {
                return entra_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    700_082,
                    "The refresh token has expired due to inactivity or was revoked.",
                );
            }
            let next = tokens.mint("0.refresh");
            tokens.refresh.insert(next.clone());
            (Kind::AppUser, Some(next))
        }
        other => {
            return entra_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                &format!(
                    "The app requested an unsupported grant type '{}'.",
                    other.unwrap_or("")
                ),
            );
        }
    };
    let access = tokens.mint("eyJ.access");
    let lifetime = shared.token_lifetime_s;
    // Keep the table small: forget tokens long expired.
    if tokens.access.len() > 50_000 {
        let now = Instant::now();
        tokens.access.retain(|_, t| t.expires > now);
    }
    tokens.access.insert(
        access.clone(),
        Issued {
            kind,
            audience_ok: audience == AUDIENCE,
            expires: Instant::now() + Duration::from_secs(lifetime),
        },
    );
    let mut body = if v2 {
        json!({ "token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": access })
    } else {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        json!({
            "token_type": "Bearer",
            "expires_in": lifetime.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "expires_on": (now + lifetime).to_string(),
            "not_before": now.to_string(),
            "resource": audience,
            "access_token": access,
        })
    };
    if let Some(refresh) = refresh {
        body["refresh_token"] = json!(refresh);
        body["scope"] = json!(if v2 {
            format!("{AUDIENCE}/user_impersonation")
        } else {
            "user_impersonation".into()
        });
    }
    Json(body).into_response()
}

/// The caller of an API route, by its bearer token. Routes that need App+User ask for
/// [`AppUser`].
pub struct Caller(pub Kind);

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, Response> {
        let token = crate::bearer_token(parts).ok_or_else(|| {
            wire::fault(
                StatusCode::UNAUTHORIZED,
                800_001,
                "Partner Token missing in request context.",
            )
        })?;
        let tokens = shared
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match tokens.access.get(token) {
            Some(issued) if !issued.audience_ok => Err(wire::fault(
                StatusCode::UNAUTHORIZED,
                900_420,
                "The audience 'https://graph.windows.net' in the token is invalid and is no longer supported in Partner Center API.",
            )),
            Some(issued) if issued.expires > Instant::now() => Ok(Caller(issued.kind)),
            _ => Err(wire::fault(
                StatusCode::UNAUTHORIZED,
                900_420,
                "Invalid Token",
            )),
        }
    }
}

/// A caller with an App+User token; App-only tokens are refused with 401, as the emulator
/// decides for routes the service documents as App+User only.
pub struct AppUser;

impl FromRequestParts<Arc<Shared>> for AppUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, Response> {
        match Caller::from_request_parts(parts, shared).await?.0 {
            Kind::AppUser => Ok(AppUser),
            Kind::AppOnly => Err(wire::fault(
                StatusCode::UNAUTHORIZED,
                400,
                "Access denied: this operation needs an App+User token; App-only tokens are not supported.",
            )),
        }
    }
}
