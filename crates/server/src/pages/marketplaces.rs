//! The marketplace hierarchy, for platform admins.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use ferry_domain::{MarketplaceKind, Permission, Slug};
use ferry_storage::{Marketplace, NewMarketplace, StoreError};
use serde::Deserialize;

use super::{NoticeQuery, page, see_other};
use crate::AppState;
use crate::error::PageError;
use crate::web::{Chrome, NavItem, SignedIn, when};

struct MarketplaceRow {
    indent: &'static str,
    name: String,
    slug: String,
    kind: &'static str,
    parent: String,
    created: String,
}

#[derive(Template)]
#[template(path = "marketplaces.html")]
struct MarketplacesPage {
    chrome: Chrome,
    marketplaces: Vec<MarketplaceRow>,
    error: Option<String>,
}

fn admin_chrome(csrf: &str, who: &str, notice: Option<&str>) -> Chrome {
    Chrome {
        nav: vec![NavItem {
            label: "Marketplaces",
            href: "/marketplaces".into(),
            current: true,
        }],
        who: Some(who.to_owned()),
        ..Chrome::with_csrf(csrf)
    }
    .notice(notice)
}

/// Parents before their children, children indented under them.
fn hierarchy(all: &[Marketplace]) -> Vec<MarketplaceRow> {
    fn walk(all: &[Marketplace], parent: Option<i64>, depth: usize, out: &mut Vec<MarketplaceRow>) {
        for m in all.iter().filter(|m| m.parent_id == parent) {
            let parent_name = parent
                .and_then(|p| all.iter().find(|x| x.id == p))
                .map_or("—".to_owned(), |p| p.name.clone());
            out.push(MarketplaceRow {
                indent: ["", "↳ ", "↳↳ "][depth.min(2)],
                name: m.name.clone(),
                slug: m.slug.clone(),
                kind: match m.kind {
                    MarketplaceKind::Distributor => "Distributor",
                    MarketplaceKind::CountryTenant => "Country tenant",
                    MarketplaceKind::SimpleTenant => "Simple tenant",
                },
                parent: parent_name,
                created: when(m.created_at),
            });
            walk(all, Some(m.id), depth + 1, out);
        }
    }
    let mut out = Vec::new();
    walk(all, None, 0, &mut out);
    out
}

pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    if !signed_in.principal.allows(Permission::ManageMarketplaces) {
        return Err(PageError::Forbidden);
    }
    let all = state.store.marketplaces().await?;
    page(&MarketplacesPage {
        chrome: admin_chrome(
            &signed_in.csrf,
            &signed_in.principal.account.display_name,
            query.notice.as_deref(),
        ),
        marketplaces: hierarchy(&all),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct NewMarketplaceForm {
    name: String,
    kind: String,
    #[serde(default)]
    parent: String,
}

pub async fn create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<NewMarketplaceForm>,
) -> Result<Response, PageError> {
    if !signed_in.principal.allows(Permission::ManageMarketplaces) {
        return Err(PageError::Forbidden);
    }
    let result = create_marketplace(&state, &form).await;
    match result {
        Ok(()) => Ok(see_other("/marketplaces", "created")),
        Err(problem) => {
            let all = state.store.marketplaces().await?;
            let html = MarketplacesPage {
                chrome: admin_chrome(
                    &signed_in.csrf,
                    &signed_in.principal.account.display_name,
                    None,
                ),
                marketplaces: hierarchy(&all),
                error: Some(problem),
            }
            .render()?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
    }
}

/// Creates the marketplace, or says in words why not.
async fn create_marketplace(state: &AppState, form: &NewMarketplaceForm) -> Result<(), String> {
    let name = form.name.trim();
    let kind: MarketplaceKind = form
        .kind
        .parse()
        .map_err(|e: ferry_domain::ParseError| e.to_string())?;
    let parent = match form.parent.trim() {
        "" => None,
        slug => Some(
            state
                .store
                .marketplace_by_slug(slug)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("No marketplace has the slug '{slug}'."))?,
        ),
    };
    kind.check_parent(parent.as_ref().map(|p| p.kind))
        .map_err(|e| capitalise(&e.to_string()))?;
    let base = Slug::from_name(name).ok_or("The name needs at least one letter or digit.")?;
    for n in 1..100 {
        let slug = if n == 1 {
            base.clone()
        } else {
            base.with_suffix(n)
        };
        let new = NewMarketplace {
            slug,
            name: name.to_owned(),
            kind,
            parent_id: parent.as_ref().map(|p| p.id),
        };
        match state.store.create_marketplace(&new).await {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("No free slug could be derived from this name.".into())
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect::<String>() + ".")
        .unwrap_or_default()
}
