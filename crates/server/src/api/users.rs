//! Users over the API, with invitations (one at once, or many as a background job).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use ferry_domain::{Email, NewUser, Origin, Permission, UserStatus};
use ferry_jobs::BackgroundJob;
use ferry_storage::{NewAuditEntry, User, UserQuery};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::{Accepted, ApiResult, ApiScope, PageParams};
use crate::AppState;
use crate::error::ApiError;
use crate::shared::users::{outranking, suspension_refused};
use ferry_accounts::{InviteError, InviteUsers, invite_user};

#[derive(Serialize, ToSchema)]
pub struct UserOut {
    id: i64,
    external_id: Option<String>,
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
    locale: Option<String>,
    phone: Option<String>,
    /// false for a managed user: no sign-in, no e-mail.
    allow_login: bool,
    /// created, invited, active or suspended.
    status: String,
    custom_attributes: BTreeMap<String, String>,
    /// Where the user came from: sync, dataset, import, manual or demo.
    origin: String,
    /// Whether an invitation went out (or the user is active).
    invited: bool,
    created_at: String,
    updated_at: String,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        UserOut {
            id: u.id,
            external_id: u.external_id,
            email: u.email.to_string(),
            first_name: u.first_name,
            last_name: u.last_name,
            locale: u.locale,
            phone: u.phone,
            allow_login: u.allow_login,
            status: u.status.as_str().into(),
            custom_attributes: u.custom_attributes,
            invited: u.status != UserStatus::Created,
            origin: u.origin_kind,
            created_at: u.created_at.to_rfc3339(),
            updated_at: u.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserPage {
    items: Vec<UserOut>,
    /// Pass as `after` for the next page; absent on the last page.
    next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilters {
    /// Part of the email or name, or the whole external id.
    q: Option<String>,
    /// created, invited, active or suspended.
    status: Option<String>,
    /// sync, dataset, import, manual or demo.
    origin: Option<String>,
    /// false: never invited (created); true: invited or active.
    invited: Option<bool>,
    /// Only the members of this company.
    company_id: Option<i64>,
}

/// Users in email order, a page at a time.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserFilters, PageParams),
    responses((status = 200, description = "OK", body = UserPage), (status = 403, description = "The token's role does not allow this", body = super::ErrorEnvelope),
              (status = 422, description = "A filter is invalid, or the search longer than 200 characters", body = super::ErrorEnvelope)))]
pub async fn list_users(
    State(state): State<AppState>,
    scope: ApiScope,
    Query(filters): Query<UserFilters>,
    Query(page): Query<PageParams>,
) -> ApiResult<UserPage> {
    scope.require(Permission::ReadUsers)?;
    let status = filters
        .status
        .as_deref()
        .map(str::parse::<UserStatus>)
        .transpose()?;
    let limit = page.limit();
    let users = state
        .store
        .users(
            scope.id(),
            &UserQuery {
                search: super::search_term(filters.q)?,
                status,
                origin: filters.origin,
                invited: filters.invited,
                company_id: filters.company_id,
                after: page.after,
                before: None,
                limit,
            },
        )
        .await?;
    let next = (i64::try_from(users.len()).unwrap_or(0) == limit)
        .then(|| users.last().map(|u| u.email.to_string()))
        .flatten();
    Ok(Json(UserPage {
        items: users.into_iter().map(UserOut::from).collect(),
        next,
    }))
}

/// The fields of a user to create or change; on update, absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UserIn {
    email: Option<String>,
    external_id: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    locale: Option<String>,
    phone: Option<String>,
    allow_login: Option<bool>,
    custom_attributes: Option<BTreeMap<String, String>>,
}

impl UserIn {
    /// The user this input describes on top of `base`.
    fn over(self, base: NewUser) -> Result<NewUser, ApiError> {
        let text = |new: Option<String>, old: Option<String>| match new {
            Some(v) if v.trim().is_empty() => None,
            Some(v) => Some(v.trim().to_owned()),
            None => old,
        };
        let email = match self.email {
            Some(email) => Email::parse(&email)?,
            None => base.email.clone(),
        };
        let user = NewUser {
            email,
            external_id: text(self.external_id, base.external_id),
            first_name: text(self.first_name, base.first_name),
            last_name: text(self.last_name, base.last_name),
            locale: text(self.locale, base.locale),
            phone: text(self.phone, base.phone),
            allow_login: self.allow_login.unwrap_or(base.allow_login),
            custom_attributes: self.custom_attributes.unwrap_or(base.custom_attributes),
            ..base
        };
        user.check_text()
            .map_err(|e| ApiError::Invalid(e.to_string()))?;
        Ok(user)
    }
}

fn audit(scope: &ApiScope, action: &str, id: i64, changes: serde_json::Value) -> NewAuditEntry {
    NewAuditEntry {
        marketplace_id: Some(scope.id()),
        actor: scope.actor(),
        action: action.into(),
        entity_type: "user".into(),
        entity_id: Some(id),
        changes,
    }
}

async fn load(state: &AppState, scope: &ApiScope, id: i64) -> Result<User, ApiError> {
    state
        .store
        .user(scope.id(), id)
        .await?
        .ok_or(ApiError::NotFound("user"))
}

/// A user the token may change: it may write users, and the user holds no higher role.
async fn load_to_change(state: &AppState, scope: &ApiScope, id: i64) -> Result<User, ApiError> {
    scope.require(Permission::WriteUsers)?;
    let user = load(state, scope, id).await?;
    refuse_outranking(state, scope, &[id]).await?;
    Ok(user)
}

async fn refuse_outranking(
    state: &AppState,
    scope: &ApiScope,
    ids: &[i64],
) -> Result<(), ApiError> {
    let outranking = outranking(state.store.as_ref(), scope.id(), &[scope.role], ids).await?;
    if outranking.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Creates a user. Like every user Ferry creates, they get no e-mail until invited.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserIn,
    responses((status = 201, description = "Created", body = UserOut), (status = 409, description = "A unique key is taken", body = super::ErrorEnvelope),
              (status = 422, description = "The input is invalid", body = super::ErrorEnvelope)))]
pub async fn create_user(
    State(state): State<AppState>,
    scope: ApiScope,
    Json(input): Json<UserIn>,
) -> Result<(StatusCode, Json<UserOut>), ApiError> {
    scope.require(Permission::WriteUsers)?;
    let Some(email) = input.email.as_deref() else {
        return Err(ApiError::Invalid("email is required".into()));
    };
    let base = NewUser::with_email(Email::parse(email)?, Origin::Manual);
    let user = input.over(base)?;
    let id = state.store.create_user(scope.id(), &user).await?;
    state
        .store
        .record_audit(&audit(
            &scope,
            "user.created",
            id,
            json!({ "email": user.email.as_str() }),
        ))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(load(&state, &scope, id).await?.into()),
    ))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = UserOut), (status = 404, description = "Not found in this marketplace", body = super::ErrorEnvelope)))]
pub async fn get_user(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> ApiResult<UserOut> {
    scope.require(Permission::ReadUsers)?;
    Ok(Json(load(&state, &scope, id).await?.into()))
}

/// Changes the fields given; the others stay.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)),
    request_body = UserIn,
    responses((status = 200, description = "OK", body = UserOut), (status = 404, description = "Not found in this marketplace", body = super::ErrorEnvelope),
              (status = 409, description = "A unique key is taken", body = super::ErrorEnvelope), (status = 422, description = "The input is invalid", body = super::ErrorEnvelope)))]
pub async fn update_user(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
    Json(input): Json<UserIn>,
) -> ApiResult<UserOut> {
    let existing = load_to_change(&state, &scope, id).await?;
    let base = NewUser {
        external_id: existing.external_id.clone(),
        first_name: existing.first_name.clone(),
        last_name: existing.last_name.clone(),
        locale: existing.locale.clone(),
        phone: existing.phone.clone(),
        allow_login: existing.allow_login,
        status: existing.status,
        custom_attributes: existing.custom_attributes.clone(),
        ..NewUser::with_email(existing.email.clone(), existing.origin()?)
    };
    let user = input.over(base)?;
    let changes = json!({ "email": user.email.as_str(), "external_id": user.external_id });
    state
        .store
        .update_user(
            scope.id(),
            id,
            &user,
            &audit(&scope, "user.updated", id, changes),
        )
        .await?;
    Ok(Json(load(&state, &scope, id).await?.into()))
}

async fn change_status(
    state: &AppState,
    scope: &ApiScope,
    id: i64,
    action: &str,
    next: impl FnOnce(&User) -> UserStatus,
) -> ApiResult<UserOut> {
    let user = load_to_change(state, scope, id).await?;
    let status = next(&user);
    state.store.set_user_status(scope.id(), id, status).await?;
    let changes = json!({ "status": { "from": user.status.as_str(), "to": status.as_str() } });
    state
        .store
        .record_audit(&audit(scope, action, id, changes))
        .await?;
    Ok(Json(load(state, scope, id).await?.into()))
}

/// Suspends a user, who is signed out at once; never the last active Marketplace Manager.
#[utoipa::path(post, path = "/api/v1/users/{id}/suspend", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = UserOut), (status = 404, description = "Not found in this marketplace", body = super::ErrorEnvelope),
              (status = 422, description = "The last active Marketplace Manager", body = super::ErrorEnvelope)))]
pub async fn suspend_user(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> ApiResult<UserOut> {
    // A token acts for no user: only the last-manager rule applies.
    if let Some(why) = suspension_refused(state.store.as_ref(), scope.id(), None, id).await? {
        return Err(ApiError::Invalid(why.into()));
    }
    change_status(&state, &scope, id, "user.suspended", |_| {
        UserStatus::Suspended
    })
    .await
}

/// Lifts a suspension: active again with a password, otherwise back to not yet invited.
#[utoipa::path(post, path = "/api/v1/users/{id}/reactivate", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = UserOut), (status = 404, description = "Not found in this marketplace", body = super::ErrorEnvelope)))]
pub async fn reactivate_user(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> ApiResult<UserOut> {
    change_status(&state, &scope, id, "user.reactivated", |u| {
        if u.has_password {
            UserStatus::Active
        } else {
            UserStatus::Created
        }
    })
    .await
}

/// Sends (or sends again) a user's invitation e-mail.
#[utoipa::path(post, path = "/api/v1/users/{id}/invitation", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = UserOut), (status = 404, description = "Not found in this marketplace", body = super::ErrorEnvelope),
              (status = 422, description = "The input is invalid", body = super::ErrorEnvelope)))]
pub async fn send_invitation(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> ApiResult<UserOut> {
    let user = load_to_change(&state, &scope, id).await?;
    match invite_user(
        state.store.as_ref(),
        &state.public_url,
        &scope.marketplace,
        &user,
        None,
    )
    .await
    {
        Ok(()) => Ok(Json(load(&state, &scope, id).await?.into())),
        Err(InviteError::Store(e)) => Err(e.into()),
        Err(refused) => Err(ApiError::Invalid(refused.to_string())),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct InvitationsIn {
    /// The users to invite; managed, suspended and active users are passed over.
    user_ids: Option<Vec<i64>>,
    /// Every user User Sync created who was never invited (instead of `user_ids`).
    all_synced_not_invited: Option<bool>,
}

/// Every user User Sync created who was never invited.
async fn synced_not_invited(state: &AppState, scope: &ApiScope) -> Result<Vec<i64>, ApiError> {
    let mut ids = Vec::new();
    let mut query = UserQuery {
        origin: Some("sync".into()),
        invited: Some(false),
        limit: 500,
        ..UserQuery::default()
    };
    loop {
        let page = state.store.users(scope.id(), &query).await?;
        let full = page.len() == 500;
        query.after = page.last().map(|u| u.email.to_string());
        ids.extend(page.into_iter().map(|u| u.id));
        if !full {
            return Ok(ids);
        }
    }
}

/// Invites many users in the background: those named, or every synced user never invited.
#[utoipa::path(post, path = "/api/v1/invitations", tag = "users", request_body = InvitationsIn,
    responses((status = 202, description = "Accepted: follow the job", body = Accepted), (status = 403, description = "The token's role does not allow this", body = super::ErrorEnvelope)))]
pub async fn send_invitations(
    State(state): State<AppState>,
    scope: ApiScope,
    Json(input): Json<InvitationsIn>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    scope.require(Permission::WriteUsers)?;
    let user_ids = match (input.user_ids, input.all_synced_not_invited) {
        (Some(ids), None | Some(false)) if !ids.is_empty() => ids,
        (None, Some(true)) => synced_not_invited(&state, &scope).await?,
        _ => {
            return Err(ApiError::Invalid(
                "Give user_ids (at least one) or \"all_synced_not_invited\": true, not both."
                    .into(),
            ));
        }
    };
    refuse_outranking(&state, &scope, &user_ids).await?;
    let job_id = state
        .store
        .enqueue_job(
            &InviteUsers {
                marketplace_id: scope.id(),
                user_ids,
            }
            .new_job(),
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { job_id })))
}
