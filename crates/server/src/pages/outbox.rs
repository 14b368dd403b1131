//! The outbox: e-mail Ferry has not (yet) delivered, newest first.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use ferry_domain::Permission;

use super::page;
use crate::AppState;
use crate::error::PageError;
use crate::web::{Chrome, Scope, when};

struct EmailView {
    created: String,
    to: String,
    subject: String,
    body: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "outbox.html")]
struct OutboxPage {
    chrome: Chrome,
    explanation: &'static str,
    emails: Vec<EmailView>,
}

pub async fn outbox(State(state): State<AppState>, scope: Scope) -> Result<Response, PageError> {
    scope.require(Permission::ReadOutbox)?;
    let emails = state.store.outbox(Some(scope.id()), 200).await?;
    page(&OutboxPage {
        chrome: scope.chrome("Outbox"),
        explanation: "E-mail that was not sent by SMTP: all of it while no SMTP server is \
                      configured, and messages the server refused. Newest first.",
        emails: emails
            .into_iter()
            .map(|e| EmailView {
                created: when(e.created_at),
                to: e.to_address,
                subject: e.subject,
                body: e.body,
                error: e.last_error,
            })
            .collect(),
    })
}
