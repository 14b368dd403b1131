//! What every page shares: cookies, who is signed in, the marketplace a page belongs to, and
//! the page chrome (navigation). The CSRF guard is `csrf.rs`.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use ferry_domain::{PendingOpenTo, Permission, Role, Timestamp, may_manage_pending};
use ferry_storage::{Account, Marketplace, Subject};

use crate::AppState;
use crate::error::PageError;
use ferry_accounts::credentials::secret_hash;

pub const SESSION_COOKIE: &str = "ferry_session";
/// How long a sign-in lasts.
pub const SESSION_LIFETIME_MS: i64 = 12 * 60 * 60 * 1000;

/// The value of one cookie of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value; `max_age_s` of 0 removes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age_s: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let same_site = if name == crate::csrf::CSRF_COOKIE {
        "Strict"
    } else {
        "Lax"
    };
    let text = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age_s}{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The longest search term Ferry runs, as long as the longest text field: the API refuses
/// longer ones, the pages' search box stops at it. A database's pattern matching has limits of
/// its own well above it.
pub const MAX_SEARCH_CHARS: usize = ferry_domain::MAX_TEXT_CHARS;

/// A page's search box as typed: blank is no search, and no more than [`MAX_SEARCH_CHARS`].
pub fn search_term(typed: &str) -> Option<String> {
    let term = typed.trim();
    (!term.is_empty()).then(|| {
        term.chars()
            .filter(|c| *c != '\0')
            .take(MAX_SEARCH_CHARS)
            .collect()
    })
}

/// Percent-encodes a query parameter value.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account: Account,
}

impl Principal {
    pub fn is_platform_admin(&self) -> bool {
        matches!(self.account.subject, Subject::PlatformAdmin { .. })
    }

    pub fn allows(&self, permission: Permission) -> bool {
        ferry_domain::allowed(&self.account.roles, permission)
    }

    /// Whether this person may act in `marketplace` at all.
    pub fn may_enter(&self, marketplace: &Marketplace) -> bool {
        self.is_platform_admin() || self.account.marketplace_id() == Some(marketplace.id)
    }

    /// How the audit log names this person.
    pub fn actor(&self) -> String {
        match self.account.subject {
            Subject::PlatformAdmin { id } => format!("platform-admin:{id} {}", self.account.email),
            Subject::User { id, .. } => format!("user:{id} {}", self.account.email),
        }
    }

    /// The user this person is in the marketplace; none for a platform admin.
    pub fn user_id(&self) -> Option<i64> {
        match self.account.subject {
            Subject::User { id, .. } => Some(id),
            Subject::PlatformAdmin { .. } => None,
        }
    }

    /// Whether this person holds no staff role: a company user.
    pub fn is_company_user(&self) -> bool {
        self.account.roles.is_empty()
    }
}

/// Who is signed in, if anyone, and the CSRF token for forms.
pub struct Visitor {
    pub principal: Option<Principal>,
    pub csrf: String,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let csrf = parts
            .extensions
            .get::<crate::csrf::CsrfToken>()
            .map(|t| t.0.clone())
            .unwrap_or_default();
        let principal = match cookie(&parts.headers, SESSION_COOKIE) {
            None => None,
            Some(session) => {
                let now = ferry_storage::now();
                match state
                    .store
                    .session_subject(&secret_hash(session), now)
                    .await?
                {
                    None => None,
                    Some(subject) => state
                        .store
                        .account(subject)
                        .await?
                        .map(|account| Principal { account }),
                }
            }
        };
        Ok(Visitor { principal, csrf })
    }
}

/// A signed-in person; anyone else is sent to the sign-in page.
pub struct SignedIn {
    pub principal: Principal,
    pub csrf: String,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let visitor = Visitor::from_request_parts(parts, state).await?;
        match visitor.principal {
            Some(principal) => Ok(SignedIn {
                principal,
                csrf: visitor.csrf,
            }),
            None => Err(PageError::SignIn {
                next: parts.uri.path().to_owned(),
            }),
        }
    }
}

/// A page of one marketplace (`/m/{slug}/…`) requested by someone allowed in it. Anyone else
/// gets 404, so marketplaces cannot even be discovered.
pub struct Scope {
    pub marketplace: Marketplace,
    pub principal: Principal,
    pub csrf: String,
    /// Who besides Marketplace Managers the sync settings let work pending companies.
    pub pending_open: PendingOpenTo,
}

impl FromRequestParts<AppState> for Scope {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| PageError::NotFound)?;
        let slug = params.get("slug").ok_or(PageError::NotFound)?;
        Scope::enter(state, signed_in, slug).await
    }
}

impl Scope {
    /// The marketplace `slug` as `signed_in` sees it; not found when they may not enter it.
    pub async fn enter(
        state: &AppState,
        signed_in: SignedIn,
        slug: &str,
    ) -> Result<Scope, PageError> {
        let SignedIn { principal, csrf } = signed_in;
        let marketplace = state
            .store
            .marketplace_by_slug(slug)
            .await?
            .filter(|m| principal.may_enter(m))
            .ok_or(PageError::NotFound)?;
        let pending_open = state
            .store
            .sync_settings(marketplace.id)
            .await?
            .pending_open_to();
        Ok(Scope {
            marketplace,
            principal,
            csrf,
            pending_open,
        })
    }

    pub fn id(&self) -> i64 {
        self.marketplace.id
    }

    pub fn require(&self, permission: Permission) -> Result<(), PageError> {
        if self.principal.allows(permission) {
            Ok(())
        } else {
            Err(PageError::Forbidden)
        }
    }

    /// Whether this person may work the marketplace's pending companies now.
    pub fn may_manage_pending(&self) -> bool {
        may_manage_pending(&self.principal.account.roles, self.pending_open)
    }

    pub fn require_pending(&self) -> Result<(), PageError> {
        if self.may_manage_pending() {
            Ok(())
        } else {
            Err(PageError::Forbidden)
        }
    }

    /// The path every page of this marketplace starts with.
    pub fn base(&self) -> String {
        format!("/m/{}", self.marketplace.slug)
    }

    /// After a form: on to the page at `path` of this marketplace, which shows `notice`.
    pub fn see_other(&self, path: &str, notice: &str) -> axum::response::Response {
        crate::pages::see_other(&format!("{}/{path}", self.base()), notice)
    }

    /// The chrome of a page of this marketplace, with `current` marked in the navigation.
    pub fn chrome(&self, current: &str) -> Chrome {
        let base = self.base();
        let mut nav = Vec::new();
        let mut add = |label: &'static str, path: &str| {
            nav.push(NavItem {
                label,
                href: format!("{base}{path}"),
                current: label == current,
            });
        };
        add("Overview", "");
        let p = &self.principal;
        for (permission, label, path) in [
            (Permission::ReadCompanies, "Companies", "/companies"),
            (Permission::ReadUsers, "Users", "/users"),
            (Permission::ReadCatalog, "Catalog", "/catalog"),
            (Permission::ManageDatasets, "Data Migration", "/datasets"),
            (
                Permission::ManagePartnerCenter,
                "Import Customers",
                "/import-customers",
            ),
            (Permission::ReadJobs, "Jobs", "/jobs"),
            (Permission::ReadOutbox, "Outbox", "/outbox"),
            (
                Permission::ManagePartnerCenter,
                "Partner Center",
                "/settings/partner-center",
            ),
            (
                Permission::ManageApiTokens,
                "API tokens",
                "/settings/api-tokens",
            ),
        ] {
            if p.allows(permission) {
                add(label, path);
            }
        }
        if self.may_manage_pending() {
            add("Pending Companies", "/pending-companies");
        }
        if p.allows(Permission::ManagePartnerCenter) {
            add("Sync Settings", "/settings/sync");
        }
        if p.is_company_user() {
            add("My company", "/my-company");
        }
        if p.is_platform_admin() {
            nav.push(NavItem {
                label: "Marketplaces",
                href: "/marketplaces".into(),
                current: false,
            });
        }
        Chrome {
            marketplace: Some(MarketplaceRef {
                name: self.marketplace.name.clone(),
            }),
            nav,
            who: Some(p.account.display_name.clone()),
            csrf: self.csrf.clone(),
            notice: None,
        }
    }

    pub fn actor(&self) -> String {
        self.principal.actor()
    }
}

/// The frame around every page: navigation, who is signed in, a notice.
pub struct Chrome {
    pub marketplace: Option<MarketplaceRef>,
    pub nav: Vec<NavItem>,
    pub who: Option<String>,
    pub csrf: String,
    pub notice: Option<&'static str>,
}

pub struct MarketplaceRef {
    pub name: String,
}

pub struct NavItem {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

impl Chrome {
    /// The chrome of pages outside any marketplace (sign-in, errors).
    pub fn bare() -> Self {
        Chrome {
            marketplace: None,
            nav: Vec::new(),
            who: None,
            csrf: String::new(),
            notice: None,
        }
    }

    pub fn with_csrf(csrf: &str) -> Self {
        Chrome {
            csrf: csrf.to_owned(),
            ..Chrome::bare()
        }
    }

    /// Shows the message for a notice code from the query string. Only known codes show, so a
    /// link cannot put words on the page.
    pub fn notice(mut self, code: Option<&str>) -> Self {
        self.notice = match code {
            Some("created") => Some("Created."),
            Some("saved") => Some("Saved."),
            Some("invited") => Some("The invitation e-mail is on its way."),
            Some("invited-outbox") => Some(
                "The invitation is kept in the Outbox: no mail server is configured to send it.",
            ),
            Some("suspended") => Some("The user is suspended and was signed out."),
            Some("not-suspended") => Some(
                "Not suspended: no one suspends themselves, and a marketplace keeps at least one \
                 active Marketplace Manager.",
            ),
            Some("reactivated") => Some("The user is active again."),
            Some("revoked") => Some("The token is revoked."),
            Some("checked") => Some("The connection was checked; its state is below."),
            Some("deleted") => Some("Removed."),
            Some("uploaded") => Some("Uploaded. Validation has started; this page follows it."),
            Some("replaced") => {
                Some("The files are in place. Validation has started again; this page follows it.")
            }
            Some("activating") => Some("Activation has started; this page follows it."),
            Some("denied") => Some("The dataset is denied: it will not be activated."),
            Some("importing") => Some("The import has started; this page follows it."),
            Some("retrying") => {
                Some("The failed subscriptions are being imported again; this page follows it.")
            }
            Some("mapped") => {
                Some("The offer is mapped. Retry the failed subscriptions to import them.")
            }
            Some("already-mapped") => {
                Some("Not mapped: another active edition maps this offer already.")
            }
            Some("nothing-to-retry") => {
                Some("Nothing to retry: no subscription failed, or the import is still running.")
            }
            Some("already-retrieving") => {
                Some("A retrieval of this instance is already running; this page follows it.")
            }
            Some("retrieving") => Some(
                "Get Hierarchy has started; this page follows it. It runs in the background: you \
                 may leave and come back.",
            ),
            Some("syncing") => Some(
                "Company Sync has started: it reads Partner Center, then this list fills. The \
                 Sync Settings page follows it.",
            ),
            Some("sync-joined") => Some("A sync was already under way; it goes on."),
            Some("syncing-users") => Some(
                "User Sync has started: it reads the users of every company linked to a tenant \
                 or a Google Workspace customer. Its run is listed below.",
            ),
            Some("user-sync-off") => Some("User Sync is off: turn it on below first."),
            Some("google-linked") => Some(
                "Linked: User Sync from Google Workspace brings this customer's users in as the \
                 company's members.",
            ),
            Some("google-unlinked") => Some("The company is no longer linked to Google Workspace."),
            Some("google-invalid") => Some(
                "Not linked: give a Google customer id (a C followed by letters and digits, as the \
                 Admin console shows it) or a domain name.",
            ),
            Some("no-google") => Some("Nothing to check: connect Google Workspace first."),
            Some("google-works") => {
                Some("The Google connection is saved and works: Google gave it a token.")
            }
            Some("google-refused") => {
                Some("The Google connection is saved, but Google refused it: see why below.")
            }
            Some("sync-off") => Some("Company Sync is off: turn it on in Sync Settings first."),
            Some("creating") => Some(
                "The companies are being created with the import's mapping; Import Results \
                 follows it.",
            ),
            Some("nothing-created") => {
                Some("Nothing was created: none of the selected tenants is waiting any more.")
            }
            Some("nothing-selected") => Some("Tick the tenants first."),
            Some("linked") => Some("Linked: the tenant left the queue."),
            Some("inviting") => Some(
                "The invitations are being sent; the job below follows them. Active, suspended \
                 and managed users are passed over.",
            ),
            Some("dismissed") => {
                Some("Dismissed. The Dismissed filter shows it; restore it there.")
            }
            Some("restored") => Some("Back in the queue."),
            Some("undoing") => Some(
                "The undo has started. When it ends, its line below says what it removed, \
                 restored and kept.",
            ),
            _ => None,
        };
        self
    }
}

/// The roles a platform admin may hand to an API token, in the order forms list them.
pub const TOKEN_ROLES: [Role; 4] = [
    Role::MarketplaceManager,
    Role::SalesSupport,
    Role::CustomerSupport,
    Role::Reseller,
];

/// "2026-11-21 05:20 UTC".
pub fn when(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    match (text.get(..10), text.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => text,
    }
}

/// Shows a missing value as a dash.
pub fn or_dash(value: Option<&str>) -> String {
    match value {
        Some(v) if !v.trim().is_empty() => v.to_owned(),
        _ => "—".to_owned(),
    }
}
