//! The web UI: server-rendered pages, readable without JavaScript.

mod account;
mod api_tokens;
mod catalog;
mod companies;
mod datasets;
mod history;
mod import_customers;
mod imports;
mod jobs;
mod marketplaces;
mod outbox;
mod overview;
mod partner_center;
mod sync;
mod users;

use askama::Template;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use ferry_storage::Total;

use crate::AppState;
use crate::csrf::csrf_guard;
use crate::error::PageError;
use crate::limits;

pub fn routes(state: AppState) -> Router<AppState> {
    // The forms anyone may post without an account, rate-limited.
    let account_forms = Router::new()
        .route(
            "/sign-in",
            get(account::sign_in_form).post(account::sign_in),
        )
        .route(
            "/forgot-password",
            get(account::forgot_form).post(account::forgot),
        )
        .route(
            "/reset-password/{token}",
            get(account::reset_form).post(account::reset),
        )
        .route(
            "/invitations/{token}",
            get(account::invitation_form).post(account::accept_invitation),
        )
        .route_layer(from_fn_with_state(state.clone(), limits::account_forms));
    Router::new()
        .merge(account_forms)
        .route("/", get(account::home))
        .route("/sign-out", post(account::sign_out))
        .route(
            "/marketplaces",
            get(marketplaces::list).post(marketplaces::create),
        )
        .route("/m/{slug}", get(overview::overview))
        .route(
            "/m/{slug}/companies",
            get(companies::list).post(companies::create),
        )
        .route("/m/{slug}/companies/new", get(companies::new_form))
        .route(
            "/m/{slug}/companies/{id}",
            get(companies::show).post(companies::update),
        )
        .route("/m/{slug}/companies/{id}/edit", get(companies::edit_form))
        .route(
            "/m/{slug}/companies/{id}/google",
            post(companies::link_google),
        )
        .route("/m/{slug}/users", get(users::list).post(users::create))
        .route("/m/{slug}/users/new", get(users::new_form))
        .route("/m/{slug}/users/invitations", post(users::invite_many))
        .route("/m/{slug}/users/{id}", get(users::show).post(users::update))
        .route("/m/{slug}/users/{id}/edit", get(users::edit_form))
        .route("/m/{slug}/users/{id}/suspend", post(users::suspend))
        .route("/m/{slug}/users/{id}/reactivate", post(users::reactivate))
        .route("/m/{slug}/users/{id}/invitation", post(users::invite))
        .route("/m/{slug}/my-company", get(users::my_company))
        .route("/m/{slug}/catalog", get(catalog::catalog))
        .route(
            "/m/{slug}/catalog/products/{id}/webhook",
            post(catalog::set_webhook),
        )
        .route("/m/{slug}/catalog/products", post(catalog::create_product))
        .route(
            "/m/{slug}/catalog/products/{id}/editions",
            post(catalog::create_edition),
        )
        .route(
            "/m/{slug}/catalog/editions/{id}/offers",
            post(catalog::set_offers),
        )
        .route(
            "/m/{slug}/datasets",
            get(datasets::list)
                .post(datasets::upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/m/{slug}/datasets/rows", get(datasets::list_rows))
        .route(
            "/m/{slug}/datasets/templates/{type}",
            get(datasets::download_template),
        )
        .route(
            "/m/{slug}/datasets/{id}",
            get(datasets::show).post(datasets::edit),
        )
        .route(
            "/m/{slug}/datasets/{id}/summary",
            get(datasets::show_summary),
        )
        .route("/m/{slug}/datasets/{id}/report", get(datasets::report))
        .route("/m/{slug}/datasets/{id}/activate", post(datasets::activate))
        .route("/m/{slug}/datasets/{id}/deny", post(datasets::deny))
        .route(
            "/m/{slug}/datasets/{id}/files",
            post(datasets::replace_files).layer(DefaultBodyLimit::disable()),
        )
        .route("/m/{slug}/datasets/{id}/delete", post(datasets::delete))
        .route("/m/{slug}/jobs", get(jobs::jobs))
        .route("/m/{slug}/jobs/rows", get(jobs::job_rows))
        .route("/m/{slug}/outbox", get(outbox::outbox))
        .route(
            "/m/{slug}/settings/partner-center",
            get(partner_center::partner_center).post(partner_center::create_instance),
        )
        .route(
            "/m/{slug}/settings/partner-center/validation",
            post(partner_center::set_microsoft_validation),
        )
        .route(
            "/m/{slug}/settings/partner-center/tenant-resellers/{id}",
            post(partner_center::set_tenant_reseller),
        )
        .route(
            "/m/{slug}/settings/partner-center/{id}",
            post(partner_center::update_instance),
        )
        .route(
            "/m/{slug}/settings/partner-center/{id}/check",
            post(partner_center::check_instance),
        )
        .route(
            "/m/{slug}/settings/partner-center/{id}/delete",
            post(partner_center::delete_instance),
        )
        .route("/m/{slug}/import-customers", get(import_customers::start))
        .route(
            "/m/{slug}/import-customers/{id}",
            get(import_customers::tool),
        )
        .route(
            "/m/{slug}/import-customers/{id}/hierarchy",
            post(import_customers::get_hierarchy),
        )
        .route(
            "/m/{slug}/import-customers/{id}/progress",
            get(import_customers::progress),
        )
        .route(
            "/m/{slug}/import-customers/{id}/import",
            post(imports::start),
        )
        .route("/m/{slug}/imports", get(imports::history))
        .route("/m/{slug}/imports/{id}", get(imports::results))
        .route("/m/{slug}/imports/{id}/progress", get(imports::progress))
        .route("/m/{slug}/imports/{id}/results.csv", get(imports::csv))
        .route("/m/{slug}/imports/{id}/retry", post(imports::retry))
        .route("/m/{slug}/imports/{id}/map", post(imports::map_offer))
        .route(
            "/m/{slug}/settings/api-tokens",
            get(api_tokens::api_tokens).post(api_tokens::create_api_token),
        )
        .route(
            "/m/{slug}/settings/api-tokens/{id}/revoke",
            post(api_tokens::revoke_api_token),
        )
        .route(
            "/m/{slug}/settings/sync",
            get(sync::settings).post(sync::save),
        )
        .route("/m/{slug}/settings/sync/users", post(sync::save_users))
        .route("/m/{slug}/settings/sync/google", post(sync::save_google))
        .route(
            "/m/{slug}/settings/sync/google/check",
            post(sync::check_google),
        )
        .route("/m/{slug}/sync/now", post(sync::now))
        .route("/m/{slug}/sync/users", post(sync::users_now))
        .route("/m/{slug}/pending-companies", get(sync::queue))
        .route("/m/{slug}/pending-companies/create", post(sync::create))
        .route("/m/{slug}/pending-companies/dismiss", post(sync::dismiss))
        .route("/m/{slug}/pending-companies/{id}", get(sync::details))
        .route("/m/{slug}/pending-companies/{id}/link", post(sync::link))
        .layer(from_fn_with_state(state, csrf_guard))
}

/// How many rows a list counts before it says "more than".
const COUNT_CAP: i64 = 1_000;

/// What a list says of its length, and the links to the first, previous and next pages.
pub(crate) struct Pager {
    pub total: String,
    pub first: Option<String>,
    pub previous: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// `list` is the first page's address with its filters; `previous` and `next` are the key
    /// parameters of the neighbouring pages, when there are such pages.
    fn new(
        total: Total,
        noun: (&str, &str),
        list: &str,
        previous: Option<String>,
        next: Option<String>,
    ) -> Pager {
        let total = match total {
            Total::Exactly(1) => format!("1 {}", noun.0),
            Total::Exactly(n) => format!("{} {}", grouped(n), noun.1),
            Total::MoreThan(n) => format!("More than {} {}", grouped(n), noun.1),
        };
        Pager {
            total,
            first: previous.is_some().then(|| list.to_owned()),
            previous: previous.map(|key| format!("{list}&{key}")),
            next: next.map(|key| format!("{list}&{key}")),
        }
    }
}

/// A page of a list read with one row more than it shows, in the direction it was read from
/// its key, which tells whether the list goes on that way.
pub(crate) struct Window<T> {
    pub rows: Vec<T>,
    pub more_before: bool,
    pub more_after: bool,
}

impl<T> Window<T> {
    /// `rows` in list order, read after a key (`after`), before one (`before`) or from the
    /// start, with a limit of `size + 1`.
    fn new(mut rows: Vec<T>, size: usize, after: bool, before: bool) -> Window<T> {
        let more = rows.len() > size;
        if before {
            rows.drain(..rows.len().saturating_sub(size));
        } else {
            rows.truncate(size);
        }
        Window {
            rows,
            more_before: if before { more } else { after },
            more_after: if before { true } else { more },
        }
    }
}

/// 1234567 → "1,234,567".
fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Renders a page template as a 200 response.
fn page(template: &impl Template) -> Result<Response, PageError> {
    Ok(Html(template.render()?).into_response())
}

/// Redirects after a successful form, with a notice code for the next page.
pub(crate) fn see_other(path: &str, notice: &str) -> Response {
    axum::response::Redirect::to(&format!("{path}?notice={notice}")).into_response()
}

/// The `?notice=` of a page that follows a form.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct NoticeQuery {
    notice: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
