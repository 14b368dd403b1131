//! Companies: list with search, filters and keyset paging; detail; create and edit.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use ferry_domain::{CompanyStatus, NewCompany, Origin, Permission};
use ferry_storage::{Company, CompanyKey, CompanyQuery, NewAuditEntry, StoreError};
use serde::Deserialize;
use serde_json::json;

use super::history::{HistoryLine, Provenance, history, origin_of};
use super::{COUNT_CAP, NoticeQuery, Pager, Window, page};
use crate::AppState;
use crate::error::PageError;
use crate::shared::companies::{CompanyForm, leaves_pending, stored_as_new};
use crate::shared::google::customer_as_typed;
use crate::web::{Chrome, Scope, or_dash, search_term, url_encode, when};

pub const PAGE_SIZE: i64 = 50;
/// The origins the list filters by: those something in Ferry produces today.
const ORIGINS: [&str; 3] = ["manual", "dataset", "demo"];

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    origin: String,
    after_name: Option<String>,
    after_id: Option<i64>,
    before_name: Option<String>,
    before_id: Option<i64>,
}

struct CompanyRow {
    id: i64,
    name: String,
    external_id: String,
    country: String,
    email: String,
    status: &'static str,
    origin: String,
}

#[derive(Template)]
#[template(path = "companies.html")]
struct ListPage {
    chrome: Chrome,
    base: String,
    can_write: bool,
    q: String,
    statuses: Vec<(&'static str, bool)>,
    origins: Vec<(&'static str, bool)>,
    rows: Vec<CompanyRow>,
    filtered: bool,
    pager: Pager,
}

pub async fn list(
    State(state): State<AppState>,
    scope: Scope,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    scope.require(Permission::ReadCompanies)?;
    let status = query.status.parse::<CompanyStatus>().ok();
    let origin = ORIGINS.iter().find(|o| **o == query.origin).copied();
    let key = |name: &Option<String>, id: Option<i64>| {
        name.clone()
            .zip(id)
            .map(|(name, id)| CompanyKey { name, id })
    };
    let mut list = CompanyQuery {
        search: search_term(&query.q),
        status,
        origin_kind: origin.map(str::to_owned),
        after: key(&query.after_name, query.after_id),
        before: key(&query.before_name, query.before_id),
        limit: PAGE_SIZE + 1,
    };
    let size = usize::try_from(PAGE_SIZE).unwrap_or(0);
    let mut companies = state.store.companies(scope.id(), &list).await?;
    if list.before.is_some() && companies.len() <= size {
        // Back at the start: the first page, whole.
        list.before = None;
        companies = state.store.companies(scope.id(), &list).await?;
    }
    let window = Window::new(companies, size, list.after.is_some(), list.before.is_some());
    let total = state
        .store
        .count_matching_companies(scope.id(), &list, COUNT_CAP)
        .await?;
    let at = |prefix: &str, key: CompanyKey| {
        format!(
            "{prefix}_name={}&{prefix}_id={}",
            url_encode(&key.name),
            key.id
        )
    };
    let previous = window
        .more_before
        .then(|| window.rows.first().map(|c| at("before", c.key())))
        .flatten();
    let next = window
        .more_after
        .then(|| window.rows.last().map(|c| at("after", c.key())))
        .flatten();
    let first = format!(
        "{}/companies?q={}&status={}&origin={}",
        scope.base(),
        url_encode(&query.q),
        status.map_or("", |s| s.as_str()),
        origin.unwrap_or("")
    );
    page(&ListPage {
        chrome: scope.chrome("Companies"),
        base: scope.base(),
        can_write: scope.principal.allows(Permission::WriteCompanies),
        q: query.q.clone(),
        statuses: CompanyStatus::ALL
            .iter()
            .map(|s| (s.as_str(), Some(*s) == status))
            .collect(),
        origins: ORIGINS.iter().map(|o| (*o, Some(*o) == origin)).collect(),
        filtered: !query.q.trim().is_empty() || status.is_some() || origin.is_some(),
        rows: window
            .rows
            .into_iter()
            .map(|c| CompanyRow {
                id: c.id,
                external_id: or_dash(c.external_id.as_deref()),
                country: or_dash(c.country.as_deref()),
                email: or_dash(c.email.as_deref()),
                status: c.status.as_str(),
                origin: c.origin_kind.clone(),
                name: c.name,
            })
            .collect(),
        pager: Pager::new(total, ("company", "companies"), &first, previous, next),
    })
}

struct Member {
    id: i64,
    name: String,
    email: String,
    roles: String,
    status: &'static str,
}

struct SubscriptionView {
    product: String,
    edition: String,
    units: i64,
    status: &'static str,
    start: String,
    billing_start: String,
    cycle: String,
    vendor_id: String,
    /// Why the vendor's connector did not take it.
    provisioning_error: Option<String>,
}

#[derive(Template)]
#[template(path = "company.html")]
struct DetailPage {
    chrome: Chrome,
    base: String,
    can_write: bool,
    can_read_users: bool,
    c: Company,
    facts: Vec<(&'static str, String)>,
    contacts: Vec<(&'static str, String, String, String)>,
    members: Vec<Member>,
    subscriptions: Vec<SubscriptionView>,
    tenants: Vec<(String, String, String, String)>,
    attributes: Vec<(String, String)>,
    history: Vec<HistoryLine>,
    /// Where the record came from, and the page of what created it.
    origin: (String, Option<String>),
    google: Option<ferry_domain::GoogleCustomer>,
}

/// "Company admin, Billing admin", from a membership's flags.
pub fn company_roles(flags: [(bool, &str); 4]) -> String {
    let roles: Vec<&str> = flags
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
    if roles.is_empty() {
        "Member".into()
    } else {
        roles.join(", ")
    }
}

/// Audit lines newest first, each change as "field: old → new" on a line of its own.
fn address(lines: [&Option<String>; 6]) -> String {
    let parts: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.as_deref())
        .filter(|l| !l.trim().is_empty())
        .collect();
    if parts.is_empty() {
        "—".into()
    } else {
        parts.join(", ")
    }
}

pub async fn show(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    scope.require(Permission::ReadCompanies)?;
    let m = scope.id();
    let c = state
        .store
        .company(m, id)
        .await?
        .ok_or(PageError::NotFound)?;
    let store = &state.store;
    let contacts = store.contacts(m, id).await?;
    let members = store.memberships_of_company(m, id).await?;
    let subscriptions = store.subscriptions_of_company(m, id).await?;
    let tenants = store.tenant_links(m, id).await?;
    let google = store.company_google(m, id).await?;
    let provenance = Provenance {
        kind: &c.origin_kind,
        reference: c.origin_ref,
        at: c.created_at,
    };
    let history = history(&state, &scope, "company", id, &provenance).await?;
    let origin = origin_of(&state, &scope, &provenance).await?;
    let facts = vec![
        ("External id", or_dash(c.external_id.as_deref())),
        ("Corporate email", or_dash(c.email.as_deref())),
        ("Phone", or_dash(c.phone.as_deref())),
        ("Website", or_dash(c.website.as_deref())),
        (
            "Address",
            address([
                &c.street1, &c.street2, &c.city, &c.state, &c.zip, &c.country,
            ]),
        ),
        (
            "Billing address",
            address([
                &c.billing_street1,
                &c.billing_street2,
                &c.billing_city,
                &c.billing_state,
                &c.billing_zip,
                &c.billing_country,
            ]),
        ),
        (
            "Users may sign in",
            if c.allow_login { "Yes" } else { "No" }.into(),
        ),
        ("Created", when(c.created_at)),
        ("Updated", when(c.updated_at)),
    ];
    let date = |d: Option<time::Date>| d.map_or("—".to_owned(), |d| d.to_string());
    page(&DetailPage {
        google,
        chrome: scope.chrome("Companies").notice(query.notice.as_deref()),
        base: scope.base(),
        can_write: scope.principal.allows(Permission::WriteCompanies),
        can_read_users: scope.principal.allows(Permission::ReadUsers),
        facts,
        contacts: contacts
            .into_iter()
            .map(|k| {
                let name = [k.first_name.as_deref(), k.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                let role = match k.kind {
                    ferry_domain::ContactKind::Primary => "Primary",
                    ferry_domain::ContactKind::BillTo => "Bill-to",
                };
                (
                    role,
                    or_dash(Some(&name)),
                    or_dash(k.email.as_deref()),
                    or_dash(k.phone.as_deref()),
                )
            })
            .collect(),
        members: members
            .into_iter()
            .map(|m| Member {
                id: m.user_id,
                name: [m.first_name.as_deref(), m.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" "),
                roles: company_roles([
                    (m.company_admin, "Company admin"),
                    (m.billing_admin, "Billing admin"),
                    (m.sales_support, "Sales support"),
                    (m.restricted_sales_support, "Restricted sales support"),
                ]),
                status: m.user_status.as_str(),
                email: m.email,
            })
            .collect(),
        subscriptions: subscriptions
            .into_iter()
            .map(|s| SubscriptionView {
                product: s.product_name,
                edition: s.edition_name,
                units: s.units,
                status: s.status.as_str(),
                start: date(s.start_date),
                billing_start: date(s.billing_start_date),
                cycle: format!(
                    "{} / {}",
                    s.billing_cycle.as_deref().unwrap_or("—"),
                    s.term.as_deref().unwrap_or("—")
                ),
                vendor_id: or_dash(s.vendor_subscription_id.as_deref()),
                provisioning_error: s.provisioning_error,
            })
            .collect(),
        tenants: tenants
            .into_iter()
            .map(|t| {
                (
                    t.instance_name,
                    t.tenant_id,
                    t.domain_prefix
                        .map_or("—".into(), |d| format!("{d}.onmicrosoft.com")),
                    or_dash(t.reseller_mpn_id.as_deref()),
                )
            })
            .collect(),
        attributes: c.custom_attributes.clone().into_iter().collect(),
        history,
        origin,
        c,
    })
}

#[derive(Template)]
#[template(path = "company_form.html")]
struct FormPage {
    chrome: Chrome,
    heading: String,
    action: String,
    submit: &'static str,
    cancel: String,
    f: CompanyForm,
    statuses: Vec<(&'static str, bool)>,
    error: Option<String>,
}

fn form_page(
    scope: &Scope,
    existing: Option<&Company>,
    f: CompanyForm,
    error: Option<String>,
) -> FormPage {
    let base = scope.base();
    let statuses = CompanyStatus::ALL
        .iter()
        .map(|s| (s.as_str(), s.as_str() == f.status))
        .collect();
    match existing {
        None => FormPage {
            chrome: scope.chrome("Companies"),
            heading: "New company".into(),
            action: format!("{base}/companies"),
            submit: "Create company",
            cancel: format!("{base}/companies"),
            f,
            statuses,
            error,
        },
        Some(c) => FormPage {
            chrome: scope.chrome("Companies"),
            heading: format!("Edit {}", c.name),
            action: format!("{base}/companies/{}", c.id),
            submit: "Save changes",
            cancel: format!("{base}/companies/{}", c.id),
            f,
            statuses,
            error,
        },
    }
}

fn rejected(template: &FormPage) -> Result<Response, PageError> {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(template.render()?)).into_response())
}

pub async fn new_form(scope: Scope) -> Result<Response, PageError> {
    scope.require(Permission::WriteCompanies)?;
    let f = CompanyForm {
        status: "pending".into(),
        allow_login: true,
        ..CompanyForm::default()
    };
    page(&form_page(&scope, None, f, None))
}

pub async fn create(
    State(state): State<AppState>,
    scope: Scope,
    Form(f): Form<CompanyForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::WriteCompanies)?;
    let company = match f.apply(NewCompany::named("", Origin::Manual), None) {
        Ok(company) => company,
        Err(problem) => return rejected(&form_page(&scope, None, f, Some(problem))),
    };
    let id = match state.store.create_company(scope.id(), &company).await {
        Ok(id) => id,
        Err(StoreError::Conflict { .. }) => {
            let problem = format!(
                "Another company already has the external id '{}'.",
                f.external_id.trim()
            );
            return rejected(&form_page(&scope, None, f, Some(problem)));
        }
        Err(e) => return Err(e.into()),
    };
    state
        .store
        .record_audit(&NewAuditEntry {
            marketplace_id: Some(scope.id()),
            actor: scope.actor(),
            action: "company.created".into(),
            entity_type: "company".into(),
            entity_id: Some(id),
            changes: json!(f),
        })
        .await?;
    Ok(scope.see_other(&format!("companies/{id}"), "created"))
}

pub async fn edit_form(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    scope.require(Permission::WriteCompanies)?;
    let c = company_of(&state, &scope, id).await?;
    page(&form_page(
        &scope,
        Some(&c),
        CompanyForm::from_company(&c),
        None,
    ))
}

pub async fn update(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Form(f): Form<CompanyForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::WriteCompanies)?;
    let c = company_of(&state, &scope, id).await?;
    let company = match f.apply(stored_as_new(&c), None) {
        Ok(company) => company,
        Err(problem) => return rejected(&form_page(&scope, Some(&c), f, Some(problem))),
    };
    if leaves_pending(&c, &company) && !scope.may_manage_pending() {
        let problem = "Only a Marketplace Manager can activate or suspend a pending company, \
                       unless the sync settings let your role manage pending companies.";
        return rejected(&form_page(&scope, Some(&c), f, Some(problem.into())));
    }
    let audit = NewAuditEntry {
        marketplace_id: Some(scope.id()),
        actor: scope.actor(),
        action: "company.updated".into(),
        entity_type: "company".into(),
        entity_id: Some(id),
        changes: CompanyForm::from_company(&c).changes(&f),
    };
    match state
        .store
        .update_company(scope.id(), id, &company, &audit)
        .await
    {
        Ok(()) => Ok(scope.see_other(&format!("companies/{id}"), "saved")),
        Err(StoreError::Conflict { .. }) => {
            let problem = format!(
                "Another company already has the external id '{}'.",
                f.external_id.trim()
            );
            rejected(&form_page(&scope, Some(&c), f, Some(problem)))
        }
        Err(e) => Err(e.into()),
    }
}

/// The company `id` of this marketplace, or Not Found.
async fn company_of(state: &AppState, scope: &Scope, id: i64) -> Result<Company, PageError> {
    state
        .store
        .company(scope.id(), id)
        .await?
        .ok_or(PageError::NotFound)
}

#[derive(Deserialize)]
pub struct GoogleForm {
    /// `id` or `domain`.
    kind: String,
    /// Empty: no link.
    value: String,
}

/// Links the company to its Google Workspace customer, or unlinks it.
pub async fn link_google(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<GoogleForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::WriteCompanies)?;
    let value = Some(form.value.as_str());
    let typed = if form.kind == "domain" {
        customer_as_typed(None, value)
    } else {
        customer_as_typed(value, None)
    };
    let path = format!("companies/{id}");
    let Ok(customer) = typed else {
        return Ok(scope.see_other(&path, "google-invalid"));
    };
    let found = state
        .store
        .set_company_google(scope.id(), id, customer.as_ref(), &scope.actor())
        .await?;
    if !found {
        return Err(PageError::NotFound);
    }
    let notice = if customer.is_some() {
        "google-linked"
    } else {
        "google-unlinked"
    };
    Ok(scope.see_other(&path, notice))
}
