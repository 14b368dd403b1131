//! The web UI and the API, driven over HTTP in-process, one module per area: the role × route
//! matrix and CSRF (`matrix.rs`), signing in and invitations (`accounts.rs`), the API's
//! envelopes and OpenAPI document (`api.rs`), Partner Center instances (`instances.rs`),
//! datasets (`datasets.rs`) and their files in a failing bucket (`files.rs`), the catalog (`catalog.rs`), the Overview (`overview.rs`), Google
//! Workspace (`google.rs`) and the security headers (`headers.rs`). Every test runs on SQLite and on
//! PostgreSQL; the browser journeys are in `browser.rs`. A new area adds a module here.

#[path = "web/accounts.rs"]
mod accounts;
#[path = "web/api.rs"]
mod api;
#[path = "web/browser.rs"]
mod browser;
#[path = "web/catalog.rs"]
mod catalog;
#[path = "web/datasets.rs"]
mod datasets;
#[path = "web/files.rs"]
mod files;
#[path = "web/google.rs"]
mod google;
#[path = "web/harness.rs"]
mod harness;
#[path = "web/headers.rs"]
mod headers;
#[path = "web/imports.rs"]
mod imports;
#[path = "web/instances.rs"]
mod instances;
#[path = "web/matrix.rs"]
mod matrix;
#[path = "web/overview.rs"]
mod overview;

use accounts::{
    a_forgotten_password_is_reset_by_e_mail, a_sign_in_flood_is_refused_not_queued,
    after_sign_in_only_paths_of_this_site_are_followed,
    an_invitation_sets_a_password_and_activates_the_company,
    an_invitation_without_a_mail_server_says_it_waits, parallel_guesses_cannot_pass_the_lock,
    sign_in_works_and_slows_down_guessing, the_last_manager_is_not_suspended,
};
use api::{
    api_errors_use_one_envelope, malformed_requests_are_answered_in_the_envelope,
    searches_of_any_length_and_wildcards_are_answered, text_fields_have_a_limit,
    the_openapi_document_lists_every_api_route,
};
use catalog::{product_webhooks_are_set_from_the_catalog_page, the_catalog_grows_from_its_page};
use datasets::{
    a_denied_dataset_says_nothing_will_be_written, column_guides_are_readable_on_the_page,
    datasets_through_the_api, history_shows_what_a_dataset_changed,
    microsoft_records_are_checked_against_partner_center, order_datasets_through_the_api,
};
use google::google_workspace_is_connected_and_linked;
use harness::App;
use headers::every_answer_carries_the_security_headers;
use imports::{import_through_the_api, imports_from_the_page};
use instances::{
    get_hierarchy_through_the_api, instance_secrets_go_only_where_they_belong,
    instances_follow_the_marketplace_hierarchy, the_import_customers_page_follows_a_retrieval,
    the_instance_form_keeps_what_was_typed,
};
use matrix::{
    every_api_route_checks_role_and_marketplace, every_page_checks_role_and_marketplace,
    forms_without_their_csrf_token_are_refused, pending_companies_are_activated_by_managers,
    pending_companies_follow_the_sync_toggles, user_changes_follow_the_targets_role,
};
use overview::{
    error_pages_keep_the_navigation, lists_count_and_page_both_ways,
    the_overview_says_where_to_start,
};

ferry_storage::on_both_backends!(App::start =>
    every_page_checks_role_and_marketplace,
    every_api_route_checks_role_and_marketplace,
    forms_without_their_csrf_token_are_refused,
    user_changes_follow_the_targets_role,
    pending_companies_are_activated_by_managers,
    pending_companies_follow_the_sync_toggles,
    sign_in_works_and_slows_down_guessing,
    parallel_guesses_cannot_pass_the_lock,
    a_sign_in_flood_is_refused_not_queued,
    after_sign_in_only_paths_of_this_site_are_followed,
    an_invitation_without_a_mail_server_says_it_waits,
    the_last_manager_is_not_suspended,
    an_invitation_sets_a_password_and_activates_the_company,
    api_errors_use_one_envelope,
    searches_of_any_length_and_wildcards_are_answered,
    text_fields_have_a_limit,
    malformed_requests_are_answered_in_the_envelope,
    the_openapi_document_lists_every_api_route,
    instances_follow_the_marketplace_hierarchy,
    instance_secrets_go_only_where_they_belong,
    the_instance_form_keeps_what_was_typed,
    a_forgotten_password_is_reset_by_e_mail,
    datasets_through_the_api,
    history_shows_what_a_dataset_changed,
    a_denied_dataset_says_nothing_will_be_written,
    column_guides_are_readable_on_the_page,
    order_datasets_through_the_api,
    microsoft_records_are_checked_against_partner_center,
    product_webhooks_are_set_from_the_catalog_page,
    the_catalog_grows_from_its_page,
    every_answer_carries_the_security_headers,
    the_overview_says_where_to_start,
    error_pages_keep_the_navigation,
    lists_count_and_page_both_ways,
    get_hierarchy_through_the_api,
    the_import_customers_page_follows_a_retrieval,
    import_through_the_api,
    imports_from_the_page,
    google_workspace_is_connected_and_linked,
);

/// The browser journeys run once, on SQLite: the matrix above already covers both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_journeys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::start(&ferry_storage::testing::sqlite_url(dir.path())).await;
    browser::journeys(app).await;
}
