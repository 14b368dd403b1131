//! How failures reach people: an HTML page for the web UI, a JSON envelope for the API.

use askama::Template;
use axum::Json;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use ferry_storage::StoreError;
use serde_json::json;

use crate::AppState;
use crate::web::{Chrome, Scope, SignedIn};

/// A failed page request.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in: go to the sign-in page, then come back to `next`.
    SignIn {
        next: String,
    },
    Forbidden,
    NotFound,
    /// A form posted without its CSRF token, or with another one.
    Csrf,
    Internal(String),
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { .. } => PageError::NotFound,
            other => PageError::Internal(other.to_string()),
        }
    }
}

impl From<askama::Error> for PageError {
    fn from(error: askama::Error) -> Self {
        PageError::Internal(format!("template: {error}"))
    }
}

/// A page that says one thing and offers one way on: errors, and the end of a sign-in step.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub chrome: Chrome,
    pub heading: &'static str,
    pub text: &'static str,
    pub link_href: &'static str,
    pub link_label: &'static str,
    /// On error pages: the request's id.
    pub reference: Option<String>,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, text) = match self {
            PageError::SignIn { next } => {
                let target = format!("/sign-in?next={}", crate::web::url_encode(&next));
                return Redirect::to(&target).into_response();
            }
            PageError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your role does not allow this page. Ask a Marketplace Manager if you need it.",
            ),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is nothing here. The link may be old, or the record was removed.",
            ),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "The form has expired",
                "The form was sent without its security token, or from another site. Go back, \
                 reload the page and try again.",
            ),
            PageError::Internal(cause) => {
                tracing::error!(%cause, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Ferry could not complete this request. It has been logged; try again later.",
                )
            }
        };
        let failure = Failure {
            heading,
            text,
            reference: crate::request_id::current(),
        };
        let mut response = failure.clone().render(status, Chrome::bare());
        response.extensions_mut().insert(failure);
        response
    }
}

/// What an error page says, kept on its response so `keep_navigation` can say it again inside
/// the marketplace's frame.
#[derive(Clone)]
struct Failure {
    heading: &'static str,
    text: &'static str,
    /// The request's id, for the person to quote to whoever reads the logs.
    reference: Option<String>,
}

impl Failure {
    fn render(self, status: StatusCode, chrome: Chrome) -> Response {
        let page = MessagePage {
            chrome,
            heading: self.heading,
            text: self.text,
            link_href: "/",
            link_label: "Go to the start page",
            reference: self.reference,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, self.heading).into_response(),
        }
    }
}

/// An error page under `/m/{slug}/` keeps that marketplace's navigation for whoever may enter
/// it, so a wrong link is not a dead end. Anyone else still gets the bare page.
pub async fn keep_navigation(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(slug) = request
        .uri()
        .path()
        .strip_prefix("/m/")
        .and_then(|rest| rest.split('/').next())
        .filter(|slug| !slug.is_empty())
        .map(str::to_owned)
    else {
        return next.run(request).await;
    };
    let mut asked = Request::new(());
    *asked.uri_mut() = request.uri().clone();
    *asked.headers_mut() = request.headers().clone();
    let response = next.run(request).await;
    let Some(failure) = response.extensions().get::<Failure>().cloned() else {
        return response;
    };
    let (mut parts, ()) = asked.into_parts();
    // The frame's forms (signing out) carry the session's token, as on every other page.
    if let Some(session) = crate::web::cookie(&parts.headers, crate::web::SESSION_COOKIE) {
        let token = crate::csrf::session_token(session);
        parts.extensions.insert(crate::csrf::CsrfToken(token));
    }
    let Ok(signed_in) = SignedIn::from_request_parts(&mut parts, &state).await else {
        return response;
    };
    match Scope::enter(&state, signed_in, &slug).await {
        Ok(scope) => failure.render(response.status(), scope.chrome("")),
        Err(_) => response,
    }
}

/// The answer for a path no route knows.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::NotFound("no such API route").into_response()
    } else {
        PageError::NotFound.into_response()
    }
}

/// A failed API request, answered as `{"error": {"code", "message", "details", "request_id"}}`. Each code has
/// one HTTP status.
#[derive(Debug)]
pub enum ApiError {
    /// No bearer token, or one that is unknown or revoked.
    Unauthenticated,
    Forbidden,
    NotFound(&'static str),
    /// The request body or a parameter is wrong; the message says which and why.
    Invalid(String),
    /// A unique key is taken.
    Conflict(String),
    /// A service Ferry depends on failed (the file store); the request may be sent again.
    Unavailable(String),
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "send a valid API token as 'Authorization: Bearer <token>'".into(),
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "the token's role does not allow this".into(),
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            ApiError::Invalid(message) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid", message.clone())
            }
            ApiError::Conflict(message) => (StatusCode::CONFLICT, "conflict", message.clone()),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the file store did not answer, so nothing of this request was kept; \
                 send it again later"
                    .into(),
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the request could not be completed; it has been logged".into(),
            ),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { what } => ApiError::NotFound(what),
            StoreError::Conflict { .. } => ApiError::Conflict(error.to_string()),
            StoreError::Files(cause) => ApiError::Unavailable(cause),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<ferry_domain::ParseError> for ApiError {
    fn from(error: ferry_domain::ParseError) -> Self {
        ApiError::Invalid(error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) | ApiError::Unavailable(cause) = &self {
            tracing::error!(%cause, "API request failed");
        }
        let (status, code, message) = self.parts();
        let body = json!({ "error": {
            "code": code, "message": message, "details": null,
            "request_id": crate::request_id::current(),
        } });
        (status, Json(body)).into_response()
    }
}
