//! Signing in and out, forgotten passwords, and accepting invitations.

use std::sync::LazyLock;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use ferry_domain::{Email, SignInAttempt, SignInThrottle};
use ferry_storage::{LinkPurpose, Subject};
use serde::Deserialize;

use super::page;
use crate::AppState;
use crate::error::{MessagePage, PageError};
use crate::web::{Chrome, SESSION_COOKIE, SESSION_LIFETIME_MS, Visitor, cookie, set_cookie, when};
use ferry_accounts::credentials::{
    MIN_PASSWORD_LEN, hash_password, random_secret, secret_hash, verify_password,
};
use ferry_accounts::send_password_reset;

/// Checked when an e-mail address has no account, so that both cases take as long.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("no account has this password").unwrap_or_default());

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    error: Option<String>,
    email: String,
    next: String,
}

#[derive(Template)]
#[template(path = "forgot_password.html")]
struct ForgotPage {
    chrome: Chrome,
}

#[derive(Template)]
#[template(path = "set_password.html")]
struct SetPasswordPage {
    chrome: Chrome,
    heading: &'static str,
    email: String,
    min_len: usize,
    error: Option<String>,
    action: String,
}

/// `/`: the signed-in person's start page, or the sign-in page.
pub async fn home(State(state): State<AppState>, visitor: Visitor) -> Result<Response, PageError> {
    let target = match visitor.principal {
        None => "/sign-in".to_owned(),
        Some(principal) => start_page(&state, principal.account.subject).await?,
    };
    Ok(Redirect::to(&target).into_response())
}

async fn start_page(state: &AppState, subject: Subject) -> Result<String, PageError> {
    match subject {
        Subject::PlatformAdmin { .. } => Ok("/marketplaces".into()),
        Subject::User { marketplace_id, .. } => {
            let marketplace = state
                .store
                .marketplace(marketplace_id)
                .await?
                .ok_or(PageError::NotFound)?;
            Ok(format!("/m/{}", marketplace.slug))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

pub async fn sign_in_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<NextQuery>,
) -> Result<Response, PageError> {
    if let Some(principal) = visitor.principal {
        let target = start_page(&state, principal.account.subject).await?;
        return Ok(Redirect::to(&target).into_response());
    }
    page(&SignInPage {
        chrome: Chrome::with_csrf(&visitor.csrf),
        error: None,
        email: String::new(),
        next: query.next,
    })
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn sign_in(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<SignInForm>,
) -> Result<Response, PageError> {
    let refuse = |status: StatusCode, error: String| -> Result<Response, PageError> {
        let html = SignInPage {
            chrome: Chrome::with_csrf(&visitor.csrf),
            error: Some(error),
            email: form.email.clone(),
            next: form.next.clone(),
        }
        .render()?;
        Ok((status, Html(html)).into_response())
    };
    let account = form.email.trim().to_lowercase();
    let now = ferry_storage::now();
    let attempt = state
        .store
        .claim_sign_in_attempt(&account, &SignInThrottle::default(), now)
        .await?;
    if let SignInAttempt::LockedUntil(until) = attempt {
        let mut refused = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed sign-ins for this account. Try again after {}.",
                when(until)
            ),
        )?;
        let wait_s = (until.millis() - now.millis()).max(1000) / 1000;
        refused
            .headers_mut()
            .insert(header::RETRY_AFTER, wait_s.into());
        return Ok(refused);
    }
    let candidates = match Email::parse(&form.email) {
        Ok(email) => state.store.credentials_by_email(&email).await?,
        Err(_) => Vec::new(),
    };
    let password = form.password.clone();
    let check = state.limits.passwords.run(move || {
        if candidates.is_empty() {
            verify_password(&password, &DUMMY_HASH);
        }
        candidates
            .into_iter()
            .find(|c| verify_password(&password, &c.password_hash))
            .map(|c| c.subject)
    });
    let matched = match check.await {
        Ok(matched) => matched,
        Err(busy) => return Ok(busy.response(StatusCode::SERVICE_UNAVAILABLE)),
    };

    let Some(subject) = matched else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "The email address or the password is not right.".into(),
        );
    };
    state.store.clear_sign_in_failures(&account).await?;
    let target = if is_local_path(&form.next) {
        form.next.clone()
    } else {
        start_page(&state, subject).await?
    };
    start_session(&state, subject, &target).await
}

/// Signs `subject` in with a new session and sends them to `target`.
async fn start_session(
    state: &AppState,
    subject: Subject,
    target: &str,
) -> Result<Response, PageError> {
    let session = random_secret();
    let expires = ferry_storage::now().plus_millis(SESSION_LIFETIME_MS);
    state
        .store
        .create_session(&secret_hash(&session), subject, expires)
        .await?;
    let cookie = set_cookie(
        SESSION_COOKIE,
        &session,
        SESSION_LIFETIME_MS / 1000,
        state.secure_cookies,
    );
    let mut response = Redirect::to(target).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Only paths of this site are followed after signing in, never another site: `next` must
/// parse as a bare path, and hold no control character or space, which browsers drop before
/// reading a `Location` (`/\t/evil.example` becomes `//evil.example`).
fn is_local_path(next: &str) -> bool {
    let Ok(uri) = next.parse::<axum::http::Uri>() else {
        return false;
    };
    uri.scheme().is_none()
        && uri.authority().is_none()
        && next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
}

pub async fn sign_out(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Response, PageError> {
    if let Some(session) = cookie(&headers, SESSION_COOKIE) {
        state.store.delete_session(&secret_hash(session)).await?;
    }
    let mut response = Redirect::to("/sign-in").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", 0, state.secure_cookies),
    );
    Ok(response)
}

pub async fn forgot_form(visitor: Visitor) -> Result<Response, PageError> {
    page(&ForgotPage {
        chrome: Chrome::with_csrf(&visitor.csrf),
    })
}

#[derive(Deserialize)]
pub struct ForgotForm {
    email: String,
}

pub async fn forgot(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<ForgotForm>,
) -> Result<Response, PageError> {
    if let Ok(email) = Email::parse(&form.email) {
        let now = ferry_storage::now();
        for credentials in state.store.credentials_by_email(&email).await? {
            // Platform admins reset their password with `ferry admin`, not by e-mail.
            let Subject::User { id, marketplace_id } = credentials.subject else {
                continue;
            };
            let marketplace = state.store.marketplace(marketplace_id).await?;
            let user = state.store.user(marketplace_id, id).await?;
            if let (Some(marketplace), Some(user)) = (marketplace, user) {
                send_password_reset(
                    state.store.as_ref(),
                    &state.public_url,
                    &marketplace,
                    &user,
                    now,
                )
                .await?;
            }
        }
    }
    // The same answer whether or not the address has an account.
    page(&MessagePage {
        chrome: Chrome::with_csrf(&visitor.csrf),
        heading: "Check your e-mail",
        text: "If an account exists for that address, we have sent it a link to choose a new \
               password. The link works for 2 hours.",
        link_href: "/sign-in",
        link_label: "Back to sign in",
        reference: None,
    })
}

pub async fn reset_form(
    state: State<AppState>,
    visitor: Visitor,
    token: Path<String>,
) -> Result<Response, PageError> {
    link_form(state, visitor, token, LinkPurpose::PasswordReset).await
}

pub async fn invitation_form(
    state: State<AppState>,
    visitor: Visitor,
    token: Path<String>,
) -> Result<Response, PageError> {
    link_form(state, visitor, token, LinkPurpose::Invitation).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
    confirm: String,
}

pub async fn reset(
    state: State<AppState>,
    visitor: Visitor,
    token: Path<String>,
    form: Form<PasswordForm>,
) -> Result<Response, PageError> {
    redeem(state, visitor, token, form, LinkPurpose::PasswordReset).await
}

pub async fn accept_invitation(
    state: State<AppState>,
    visitor: Visitor,
    token: Path<String>,
    form: Form<PasswordForm>,
) -> Result<Response, PageError> {
    redeem(state, visitor, token, form, LinkPurpose::Invitation).await
}

fn link_page(
    purpose: LinkPurpose,
    csrf: &str,
    token: &str,
    email: String,
    error: Option<String>,
) -> SetPasswordPage {
    let (heading, path) = match purpose {
        LinkPurpose::Invitation => ("Welcome — choose your password", "invitations"),
        LinkPurpose::PasswordReset => ("Choose a new password", "reset-password"),
    };
    SetPasswordPage {
        chrome: Chrome::with_csrf(csrf),
        heading,
        email,
        min_len: MIN_PASSWORD_LEN,
        error,
        action: format!("/{path}/{token}"),
    }
}

fn expired_link(csrf: &str) -> Result<Response, PageError> {
    let html = MessagePage {
        chrome: Chrome::with_csrf(csrf),
        heading: "This link no longer works",
        text: "It was already used, or it has expired. Ask for a new invitation, or use \
               “Forgot your password?” on the sign-in page.",
        link_href: "/sign-in",
        link_label: "Go to sign in",
        reference: None,
    }
    .render()?;
    Ok((StatusCode::GONE, Html(html)).into_response())
}

async fn link_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(token): Path<String>,
    purpose: LinkPurpose,
) -> Result<Response, PageError> {
    let now = ferry_storage::now();
    match state
        .store
        .link_user(&secret_hash(&token), purpose, now)
        .await?
    {
        Some(user) => page(&link_page(
            purpose,
            &visitor.csrf,
            &token,
            user.email.to_string(),
            None,
        )),
        None => expired_link(&visitor.csrf),
    }
}

async fn redeem(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(token): Path<String>,
    Form(form): Form<PasswordForm>,
    purpose: LinkPurpose,
) -> Result<Response, PageError> {
    let now = ferry_storage::now();
    let hash = secret_hash(&token);
    let Some(user) = state.store.link_user(&hash, purpose, now).await? else {
        return expired_link(&visitor.csrf);
    };
    let problem = if form.password != form.confirm {
        Some("The two passwords differ.".to_owned())
    } else if form.password.chars().count() < MIN_PASSWORD_LEN {
        Some(format!(
            "The password needs at least {MIN_PASSWORD_LEN} characters."
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        let html = link_page(
            purpose,
            &visitor.csrf,
            &token,
            user.email.to_string(),
            Some(problem),
        )
        .render()?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response());
    }
    let password = form.password;
    let password_hash = match state
        .limits
        .passwords
        .run(move || hash_password(&password))
        .await
    {
        Ok(hashed) => hashed.map_err(|e| PageError::Internal(e.to_string()))?,
        Err(busy) => return Ok(busy.response(StatusCode::SERVICE_UNAVAILABLE)),
    };
    let Some(user) = state
        .store
        .redeem_link(&hash, purpose, &password_hash, now)
        .await?
    else {
        return expired_link(&visitor.csrf);
    };
    let subject = Subject::User {
        id: user.id,
        marketplace_id: user.marketplace_id,
    };
    let target = start_page(&state, subject).await?;
    start_session(&state, subject, &target).await
}

#[cfg(test)]
mod tests {
    use super::is_local_path;

    #[test]
    fn only_paths_of_this_site_are_followed() {
        for local in [
            "/",
            "/m/alpha/users?status=active",
            "/m/alpha/users/7#history",
        ] {
            assert!(is_local_path(local), "{local}");
        }
        for elsewhere in [
            "",
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "/a\r\nSet-Cookie: x=1",
            "/a\u{0b}b",
            "/a\0b",
            "m/alpha",
        ] {
            assert!(!is_local_path(elsewhere), "{elsewhere:?}");
        }
    }
}
