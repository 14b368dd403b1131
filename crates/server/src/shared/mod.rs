//! What the two front doors share. `pages/` and `api/` never import each other: the forms,
//! checks and multi-step actions both need live here, once.
//!
//! - `catalog.rs`: products and editions as typed, with their offer ids, checked.
//! - `companies.rs`: a company's fields as typed, checked into the company to store.
//! - `datasets.rs`: receiving an upload file by file into the store (removing the dataset if
//!   anything fails), replacing files before activation, activate, deny, delete with undo, and
//!   the streamed report download.
//! - `google.rs`: a company's Google Workspace customer as typed, checked.
//! - `hierarchy.rs`: asking for Get Hierarchy: the scope as typed, checked; a retrieval that
//!   already runs, named.
//! - `imports.rs`: an import run's results as CSV.
//! - `instances.rs`: a Partner Center instance as typed in, checked and sealed.
//! - `sync.rs`: Company Sync's settings as changed, and a refused link in words.
//! - `users.rs`: who may change which user (never one of a higher role).
//! - `webhooks.rs`: setting a product's provisioning webhook (address checked, secret sealed).

pub mod catalog;
pub mod companies;
pub mod datasets;
pub mod google;
pub mod hierarchy;
pub mod imports;
pub mod instances;
pub mod sync;
pub mod users;
pub mod webhooks;
