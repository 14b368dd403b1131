//! The API tokens page: the marketplace's tokens, a new one shown once, revocation.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use ferry_domain::{Permission, Role};
use serde::Deserialize;

use super::{NoticeQuery, page};
use crate::AppState;
use crate::error::PageError;
use crate::web::{Chrome, Scope, TOKEN_ROLES, when};

struct TokenView {
    id: i64,
    name: String,
    role: &'static str,
    created: String,
    last_used: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "api_tokens.html")]
struct TokensPage {
    chrome: Chrome,
    base: String,
    tokens: Vec<TokenView>,
    roles: Vec<&'static str>,
    new_token: Option<String>,
}

async fn tokens_page(
    state: &AppState,
    scope: &Scope,
    notice: Option<&str>,
    new_token: Option<String>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManageApiTokens)?;
    let tokens = state.store.api_tokens(scope.id()).await?;
    page(&TokensPage {
        chrome: scope.chrome("API tokens").notice(notice),
        base: scope.base(),
        tokens: tokens
            .into_iter()
            .map(|t| TokenView {
                id: t.id,
                name: t.name,
                role: t.role.as_str(),
                created: when(t.created_at),
                last_used: t
                    .last_used_at
                    .map_or("never".into(), |at| when(ferry_domain::Timestamp(at))),
                status: if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                },
            })
            .collect(),
        roles: TOKEN_ROLES.iter().map(|r| r.as_str()).collect(),
        new_token,
    })
}

pub async fn api_tokens(
    State(state): State<AppState>,
    scope: Scope,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    tokens_page(&state, &scope, query.notice.as_deref(), None).await
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    name: String,
    role: String,
}

pub async fn create_api_token(
    State(state): State<AppState>,
    scope: Scope,
    Form(form): Form<NewTokenForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManageApiTokens)?;
    let role: Role = form.role.parse().map_err(|_| PageError::Forbidden)?;
    if !TOKEN_ROLES.contains(&role) {
        return Err(PageError::Forbidden);
    }
    let name = Some(form.name.trim())
        .filter(|n| !n.is_empty())
        .unwrap_or("API token");
    let (token, hash) = ferry_accounts::credentials::new_api_token();
    state
        .store
        .create_api_token(scope.id(), name, role, &hash)
        .await?;
    tokens_page(&state, &scope, Some("created"), Some(token)).await
}

pub async fn revoke_api_token(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManageApiTokens)?;
    state.store.revoke_api_token(scope.id(), id).await?;
    Ok(scope.see_other("settings/api-tokens", "revoked"))
}
