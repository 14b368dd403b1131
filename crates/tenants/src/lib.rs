//! Microsoft tenants, as a marketplace reaches them through Partner Center.
//!
//! `instances.rs`: which instances a marketplace may use (its own; a country tenant's parent's
//! too, used live), one client per instance per process ([`Clients`]), refresh tokens read from
//! and written back to the store sealed, connection checks, and [`InstanceLookup`], through
//! which dataset validation asks Partner Center about tenants. `hierarchy.rs`: Get Hierarchy,
//! the job that reads an instance's resellers, tenants and subscriptions into a snapshot;
//! `audit.rs`: that snapshot compared with a marketplace, tenant by tenant; `import.rs`: the
//! import run that brings selected tenants and their subscriptions in from the snapshot.
//!
//! Invariants:
//! - No HTTP of its own: the pages, the API and the workers share these clients.
//! - Secrets are opened only to build a client, and never logged.

pub mod audit;
pub mod google;
pub mod hierarchy;
pub mod import;
pub mod instances;
pub mod parties;
pub mod sync;
pub mod users;

pub use hierarchy::{GetHierarchy, HierarchyEnv, Scope, get_hierarchy};
pub use import::{ImportRefused, ImportTenants, Started, start_import};
pub use instances::{Clients, InstanceLookup, Visible};
