//! Users: list, detail, create, edit, suspend and reactivate, invitations; and the page a
//! company user sees of their own company.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use ferry_domain::{
    CompanyId, CompanyRoles, Email, NewUser, Origin, Permission, UserId, UserStatus,
};
use ferry_storage::{NewAuditEntry, StoreError, Subject, User, UserQuery};
use serde::Deserialize;
use serde_json::json;

use super::companies::{PAGE_SIZE, company_roles};
use super::history::{HistoryLine, Provenance, history, origin_of};
use super::{COUNT_CAP, NoticeQuery, Pager, Window, page};
use crate::AppState;
use crate::error::PageError;
use crate::shared::users::{outranking, suspension_refused};
use crate::web::{Chrome, Scope, or_dash, search_term, url_encode, when};
use ferry_accounts::{InviteError, invite_user};

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    /// "synced-not-invited": the users User Sync created who were never invited.
    #[serde(default)]
    show: String,
    #[serde(default)]
    origin: String,
    #[serde(default)]
    notice: Option<String>,
    after: Option<String>,
    before: Option<String>,
}

struct UserRow {
    id: i64,
    /// Never invited yet: the row may be ticked for a bulk invitation.
    invitable: bool,
    email: String,
    name: String,
    external_id: String,
    status: &'static str,
    login: &'static str,
    origin: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct ListPage {
    chrome: Chrome,
    base: String,
    can_write: bool,
    q: String,
    statuses: Vec<(&'static str, bool)>,
    /// (value, chosen) of each origin.
    origins: Vec<(&'static str, bool)>,
    synced_not_invited: bool,
    rows: Vec<UserRow>,
    filtered: bool,
    pager: Pager,
}

pub async fn list(
    State(state): State<AppState>,
    scope: Scope,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    scope.require(Permission::ReadUsers)?;
    let status = query.status.parse::<UserStatus>().ok();
    let synced_not_invited = query.show == "synced-not-invited";
    let origin = ORIGINS.iter().copied().find(|o| *o == query.origin);
    let mut list = UserQuery {
        search: search_term(&query.q),
        status,
        origin: if synced_not_invited {
            Some("sync".into())
        } else {
            origin.map(str::to_owned)
        },
        invited: synced_not_invited.then_some(false),
        after: query.after.clone(),
        before: query.before.clone(),
        limit: PAGE_SIZE + 1,
        ..UserQuery::default()
    };
    let size = usize::try_from(PAGE_SIZE).unwrap_or(0);
    let mut users = state.store.users(scope.id(), &list).await?;
    if list.before.is_some() && users.len() <= size {
        // Back at the start: the first page, whole.
        list.before = None;
        users = state.store.users(scope.id(), &list).await?;
    }
    let window = Window::new(users, size, list.after.is_some(), list.before.is_some());
    let total = state
        .store
        .count_matching_users(scope.id(), &list, COUNT_CAP)
        .await?;
    let previous = window
        .more_before
        .then(|| window.rows.first())
        .flatten()
        .map(|u| format!("before={}", url_encode(u.email.as_str())));
    let next = window
        .more_after
        .then(|| window.rows.last())
        .flatten()
        .map(|u| format!("after={}", url_encode(u.email.as_str())));
    let first = format!(
        "{}/users?q={}&status={}&show={}&origin={}",
        scope.base(),
        url_encode(&query.q),
        status.map_or("", |s| s.as_str()),
        url_encode(&query.show),
        origin.unwrap_or("")
    );
    page(&ListPage {
        chrome: scope.chrome("Users").notice(query.notice.as_deref()),
        origins: ORIGINS.iter().map(|o| (*o, Some(*o) == origin)).collect(),
        synced_not_invited,
        base: scope.base(),
        can_write: scope.principal.allows(Permission::WriteUsers),
        q: query.q.clone(),
        statuses: UserStatus::ALL
            .iter()
            .map(|s| (s.as_str(), Some(*s) == status))
            .collect(),
        filtered: !query.q.trim().is_empty()
            || status.is_some()
            || origin.is_some()
            || synced_not_invited,
        rows: window
            .rows
            .into_iter()
            .map(|u| UserRow {
                id: u.id,
                invitable: u.status == UserStatus::Created && u.allow_login,
                name: or_dash(Some(&full_name(&u))),
                external_id: or_dash(u.external_id.as_deref()),
                status: u.status.as_str(),
                login: if u.allow_login { "Yes" } else { "Managed" },
                origin: u.origin_kind.clone(),
                email: u.email.to_string(),
            })
            .collect(),
        pager: Pager::new(total, ("user", "users"), &first, previous, next),
    })
}

/// Where users come from, as the list filters them.
const ORIGINS: [&str; 5] = ["sync", "dataset", "import", "manual", "demo"];

/// Invites the ticked users in the background (the Jobs page follows it); those the person may
/// not change are refused, and active, suspended and managed ones passed over.
pub async fn invite_many(
    State(state): State<AppState>,
    scope: Scope,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    scope.require(Permission::WriteUsers)?;
    let ids: Vec<i64> = fields
        .iter()
        .filter(|(k, _)| k == "id")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    if ids.is_empty() {
        return Ok(scope.see_other("users", "nothing-selected"));
    }
    let roles = &scope.principal.account.roles;
    if !outranking(state.store.as_ref(), scope.id(), roles, &ids)
        .await?
        .is_empty()
    {
        return Err(PageError::Forbidden);
    }
    let job = ferry_accounts::InviteUsers {
        marketplace_id: scope.id(),
        user_ids: ids,
    };
    state
        .store
        .enqueue_job(&ferry_jobs::BackgroundJob::new_job(&job))
        .await?;
    Ok(scope.see_other("jobs", "inviting"))
}

fn full_name(u: &User) -> String {
    [u.first_name.as_deref(), u.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}

struct UserView {
    id: i64,
    name: String,
    status: &'static str,
}

struct MembershipView {
    id: i64,
    name: String,
    roles: String,
}

#[derive(Template)]
#[template(path = "user.html")]
struct DetailPage {
    chrome: Chrome,
    base: String,
    can_write: bool,
    can_invite: bool,
    invite_label: &'static str,
    suspended: bool,
    u: UserView,
    facts: Vec<(&'static str, String)>,
    memberships: Vec<MembershipView>,
    history: Vec<HistoryLine>,
    /// Where the record came from, and the page of what created it.
    origin: (String, Option<String>),
}

pub async fn show(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    scope.require(Permission::ReadUsers)?;
    let u = user_of(&state, &scope, id).await?;
    let memberships = state.store.memberships_of_user(scope.id(), id).await?;
    let provenance = Provenance {
        kind: &u.origin_kind,
        reference: u.origin_ref,
        at: u.created_at,
    };
    let history = history(&state, &scope, "user", id, &provenance).await?;
    let origin = origin_of(&state, &scope, &provenance).await?;
    let mut facts = vec![
        ("Email", u.email.to_string()),
        ("External id", or_dash(u.external_id.as_deref())),
        ("Phone", or_dash(u.phone.as_deref())),
        ("Locale", or_dash(u.locale.as_deref())),
        (
            "Sign-in",
            if u.allow_login {
                "Allowed"
            } else {
                "Managed user: no sign-in, no e-mail"
            }
            .into(),
        ),
        (
            "Password chosen",
            if u.has_password { "Yes" } else { "Not yet" }.into(),
        ),
        ("Created", when(u.created_at)),
    ];
    if let Some(at) = u.reminded_at {
        facts.push((
            "Registration reminder",
            format!("sent {}", when(ferry_domain::Timestamp(at))),
        ));
    }
    let invitable = u.allow_login && matches!(u.status, UserStatus::Created | UserStatus::Invited);
    // A user of a higher role is shown without the actions this person may not take.
    let outranks = outranks_viewer(&state, &scope, id).await?;
    page(&DetailPage {
        chrome: scope.chrome("Users").notice(query.notice.as_deref()),
        base: scope.base(),
        can_write: scope.principal.allows(Permission::WriteUsers) && !outranks,
        can_invite: invitable,
        invite_label: if u.status == UserStatus::Invited {
            "Resend invitation"
        } else {
            "Send invitation"
        },
        suspended: u.status == UserStatus::Suspended,
        u: UserView {
            id: u.id,
            name: or_dash(Some(&full_name(&u))).replace('—', u.email.as_str()),
            status: u.status.as_str(),
        },
        facts,
        memberships: memberships
            .into_iter()
            .map(|m| MembershipView {
                id: m.company_id,
                name: m.company_name,
                roles: company_roles([
                    (m.company_admin, "Company admin"),
                    (m.billing_admin, "Billing admin"),
                    (m.sales_support, "Sales support"),
                    (m.restricted_sales_support, "Restricted sales support"),
                ]),
            })
            .collect(),
        history,
        origin,
    })
}

/// The fields of the user form, as typed.
#[derive(Debug, Default, Clone, Deserialize, serde::Serialize)]
pub struct UserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    external_id: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    locale: String,
    #[serde(default)]
    allow_login: bool,
    /// On creation: the external id of a company to add the user to.
    #[serde(default, skip_serializing)]
    company: String,
    #[serde(default, skip_serializing)]
    company_admin: bool,
    #[serde(default, skip_serializing)]
    invite: bool,
}

impl UserForm {
    fn from_user(u: &User) -> Self {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        UserForm {
            email: u.email.to_string(),
            external_id: text(&u.external_id),
            first_name: text(&u.first_name),
            last_name: text(&u.last_name),
            phone: text(&u.phone),
            locale: text(&u.locale),
            allow_login: u.allow_login,
            ..UserForm::default()
        }
    }

    fn apply(&self, base: NewUser) -> Result<NewUser, String> {
        let optional = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        let email = Email::parse(&self.email)
            .map_err(|_| format!("'{}' is not a valid email address.", self.email.trim()))?;
        let user = NewUser {
            external_id: optional(&self.external_id),
            email,
            first_name: optional(&self.first_name),
            last_name: optional(&self.last_name),
            locale: optional(&self.locale),
            phone: optional(&self.phone),
            allow_login: self.allow_login,
            ..base
        };
        user.check_text().map_err(|e| format!("The {e}."))?;
        Ok(user)
    }
}

#[derive(Template)]
#[template(path = "user_form.html")]
struct FormPage {
    chrome: Chrome,
    heading: String,
    action: String,
    submit: &'static str,
    cancel: String,
    creating: bool,
    f: UserForm,
    error: Option<String>,
}

fn form_page(
    scope: &Scope,
    existing: Option<&User>,
    f: UserForm,
    error: Option<String>,
) -> FormPage {
    let base = scope.base();
    let (heading, action, submit, cancel) = match existing {
        None => (
            "New user".to_owned(),
            format!("{base}/users"),
            "Create user",
            format!("{base}/users"),
        ),
        Some(u) => (
            format!("Edit {}", u.email),
            format!("{base}/users/{}", u.id),
            "Save changes",
            format!("{base}/users/{}", u.id),
        ),
    };
    FormPage {
        chrome: scope.chrome("Users"),
        heading,
        action,
        submit,
        cancel,
        creating: existing.is_none(),
        f,
        error,
    }
}

fn rejected(template: &FormPage) -> Result<Response, PageError> {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(template.render()?)).into_response())
}

fn conflict_message(f: &UserForm) -> String {
    format!(
        "Another user already has the email {} or the external id '{}'.",
        f.email.trim(),
        f.external_id.trim()
    )
}

pub async fn new_form(scope: Scope) -> Result<Response, PageError> {
    scope.require(Permission::WriteUsers)?;
    let f = UserForm {
        allow_login: true,
        ..UserForm::default()
    };
    page(&form_page(&scope, None, f, None))
}

pub async fn create(
    State(state): State<AppState>,
    scope: Scope,
    Form(f): Form<UserForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::WriteUsers)?;
    let placeholder = Email::parse("placeholder@ferry.invalid")
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let user = match f.apply(NewUser::with_email(placeholder, Origin::Manual)) {
        Ok(user) => user,
        Err(problem) => return rejected(&form_page(&scope, None, f, Some(problem))),
    };
    let company = match f.company.trim() {
        "" => None,
        external_id => match state
            .store
            .company_by_external_id(scope.id(), external_id)
            .await?
        {
            Some(company) => Some(company),
            None => {
                let problem = format!("No company has the external id '{external_id}'.");
                return rejected(&form_page(&scope, None, f, Some(problem)));
            }
        },
    };
    let id = match state.store.create_user(scope.id(), &user).await {
        Ok(id) => id,
        Err(StoreError::Conflict { .. }) => {
            let problem = conflict_message(&f);
            return rejected(&form_page(&scope, None, f, Some(problem)));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(company) = &company {
        let roles = CompanyRoles {
            company_admin: f.company_admin,
            ..CompanyRoles::default()
        };
        state
            .store
            .set_membership(scope.id(), UserId(id), CompanyId(company.id), roles)
            .await?;
    }
    state
        .store
        .record_audit(&NewAuditEntry {
            marketplace_id: Some(scope.id()),
            actor: scope.actor(),
            action: "user.created".into(),
            entity_type: "user".into(),
            entity_id: Some(id),
            changes: json!(f),
        })
        .await?;
    let mut notice = "created";
    if f.invite && f.allow_login {
        let created = user_of(&state, &scope, id).await?;
        notice = send_invitation(&state, &scope, &created).await?;
    }
    Ok(scope.see_other(&format!("users/{id}"), notice))
}

pub async fn edit_form(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let u = user_to_change(&state, &scope, id).await?;
    page(&form_page(&scope, Some(&u), UserForm::from_user(&u), None))
}

pub async fn update(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Form(f): Form<UserForm>,
) -> Result<Response, PageError> {
    let u = user_to_change(&state, &scope, id).await?;
    let base = NewUser {
        status: u.status,
        custom_attributes: u.custom_attributes.clone(),
        ..NewUser::with_email(u.email.clone(), u.origin().unwrap_or(Origin::Manual))
    };
    let user = match f.apply(base) {
        Ok(user) => user,
        Err(problem) => return rejected(&form_page(&scope, Some(&u), f, Some(problem))),
    };
    let (before, after) = (json!(UserForm::from_user(&u)), json!(f));
    let mut changes = serde_json::Map::new();
    if let (Some(before), Some(after)) = (before.as_object(), after.as_object()) {
        for (field, value) in after {
            if before.get(field) != Some(value) {
                changes.insert(field.clone(), json!({ "from": before[field], "to": value }));
            }
        }
    }
    let audit = NewAuditEntry {
        marketplace_id: Some(scope.id()),
        actor: scope.actor(),
        action: "user.updated".into(),
        entity_type: "user".into(),
        entity_id: Some(id),
        changes: serde_json::Value::Object(changes),
    };
    match state.store.update_user(scope.id(), id, &user, &audit).await {
        Ok(()) => Ok(scope.see_other(&format!("users/{id}"), "saved")),
        Err(StoreError::Conflict { .. }) => {
            let problem = conflict_message(&f);
            rejected(&form_page(&scope, Some(&u), f, Some(problem)))
        }
        Err(e) => Err(e.into()),
    }
}

async fn set_status(
    state: &AppState,
    scope: &Scope,
    id: i64,
    action: &str,
    status: impl FnOnce(&User) -> UserStatus,
) -> Result<(), PageError> {
    let u = user_to_change(state, scope, id).await?;
    let next = status(&u);
    state.store.set_user_status(scope.id(), id, next).await?;
    state
        .store
        .record_audit(&NewAuditEntry {
            marketplace_id: Some(scope.id()),
            actor: scope.actor(),
            action: action.into(),
            entity_type: "user".into(),
            entity_id: Some(id),
            changes: json!({ "status": { "from": u.status.as_str(), "to": next.as_str() } }),
        })
        .await?;
    Ok(())
}

pub async fn suspend(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let actor = scope.principal.user_id();
    if suspension_refused(state.store.as_ref(), scope.id(), actor, id)
        .await?
        .is_some()
    {
        return Ok(scope.see_other(&format!("users/{id}"), "not-suspended"));
    }
    set_status(&state, &scope, id, "user.suspended", |_| {
        UserStatus::Suspended
    })
    .await?;
    Ok(scope.see_other(&format!("users/{id}"), "suspended"))
}

pub async fn reactivate(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    // Back to where the user stood before: active with a password, otherwise not yet invited.
    set_status(&state, &scope, id, "user.reactivated", |u| {
        if u.has_password {
            UserStatus::Active
        } else {
            UserStatus::Created
        }
    })
    .await?;
    Ok(scope.see_other(&format!("users/{id}"), "reactivated"))
}

pub async fn invite(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let u = user_to_change(&state, &scope, id).await?;
    let notice = send_invitation(&state, &scope, &u).await?;
    Ok(scope.see_other(&format!("users/{id}"), notice))
}

/// Sends a user's invitation; returns the notice that says where it went.
async fn send_invitation(
    state: &AppState,
    scope: &Scope,
    user: &User,
) -> Result<&'static str, PageError> {
    match invite_user(
        state.store.as_ref(),
        &state.public_url,
        &scope.marketplace,
        user,
        None,
    )
    .await
    {
        Ok(()) if state.sends_mail => Ok("invited"),
        // Without a mail server, it waits in the outbox: the page must not say it is on its way.
        Ok(()) => Ok("invited-outbox"),
        Err(InviteError::Store(e)) => Err(e.into()),
        Err(_) => Err(PageError::Forbidden),
    }
}

struct OwnCompany {
    name: String,
    status: &'static str,
    members: Vec<(String, String, &'static str)>,
    subscriptions: Vec<(String, String, i64, &'static str)>,
}

#[derive(Template)]
#[template(path = "my_company.html")]
struct MyCompanyPage {
    chrome: Chrome,
    companies: Vec<OwnCompany>,
}

/// What a company user sees: their companies, with their users and subscriptions.
pub async fn my_company(
    State(state): State<AppState>,
    scope: Scope,
) -> Result<Response, PageError> {
    let Subject::User { id, .. } = scope.principal.account.subject else {
        return Err(PageError::NotFound);
    };
    let m = scope.id();
    let mut companies = Vec::new();
    for membership in state.store.memberships_of_user(m, id).await? {
        let Some(company) = state.store.company(m, membership.company_id).await? else {
            continue;
        };
        let members = state.store.memberships_of_company(m, company.id).await?;
        let subscriptions = state.store.subscriptions_of_company(m, company.id).await?;
        companies.push(OwnCompany {
            name: company.name,
            status: company.status.as_str(),
            members: members
                .into_iter()
                .map(|x| {
                    let name = [x.first_name.as_deref(), x.last_name.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ");
                    (or_dash(Some(&name)), x.email, x.user_status.as_str())
                })
                .collect(),
            subscriptions: subscriptions
                .into_iter()
                .map(|s| (s.product_name, s.edition_name, s.units, s.status.as_str()))
                .collect(),
        });
    }
    page(&MyCompanyPage {
        chrome: scope.chrome("My company"),
        companies,
    })
}

/// The user `id` of this marketplace, or Not Found.
async fn user_of(state: &AppState, scope: &Scope, id: i64) -> Result<User, PageError> {
    state
        .store
        .user(scope.id(), id)
        .await?
        .ok_or(PageError::NotFound)
}

/// A user this person may change: they may write users, and the user holds no higher role.
async fn user_to_change(state: &AppState, scope: &Scope, id: i64) -> Result<User, PageError> {
    scope.require(Permission::WriteUsers)?;
    let user = user_of(state, scope, id).await?;
    if outranks_viewer(state, scope, id).await? {
        return Err(PageError::Forbidden);
    }
    Ok(user)
}

/// Whether the user holds a higher role than the person asking.
async fn outranks_viewer(state: &AppState, scope: &Scope, id: i64) -> Result<bool, PageError> {
    let actor = &scope.principal.account.roles;
    let outranking = outranking(state.store.as_ref(), scope.id(), actor, &[id]).await?;
    Ok(!outranking.is_empty())
}
