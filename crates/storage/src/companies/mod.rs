//! Companies: their fields, contacts, resellers and links to Microsoft tenants.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ferry_domain::{
    CompanyStatus, Contact, ContactKind, NewCompany, Origin, TenantLink, Timestamp,
};

use crate::{NewAuditEntry, Result, StoreError, Total};

#[async_trait]
pub trait CompanyStore: Send + Sync {
    /// A page of companies in name order (see [`CompanyQuery`]).
    async fn companies(&self, marketplace_id: i64, query: &CompanyQuery) -> Result<Vec<Company>>;
    /// Replaces a company's editable fields and records the audit line, atomically.
    async fn update_company(
        &self,
        marketplace_id: i64,
        id: i64,
        company: &NewCompany,
        audit: &NewAuditEntry,
    ) -> Result<()>;
    async fn contacts(&self, marketplace_id: i64, company_id: i64) -> Result<Vec<ContactRow>>;
    async fn create_company(&self, marketplace_id: i64, company: &NewCompany) -> Result<i64>;
    /// Creates many companies in one transaction, with multi-row inserts: all or nothing.
    async fn insert_companies(&self, marketplace_id: i64, companies: &[NewCompany]) -> Result<u64>;
    async fn company(&self, marketplace_id: i64, id: i64) -> Result<Option<Company>>;
    async fn company_by_external_id(
        &self,
        marketplace_id: i64,
        external_id: &str,
    ) -> Result<Option<Company>>;
    async fn count_companies(&self, marketplace_id: i64) -> Result<i64>;
    /// How many companies the query's search and filters match (whatever its page), counted
    /// up to `cap`.
    async fn count_matching_companies(
        &self,
        marketplace_id: i64,
        query: &CompanyQuery,
        cap: i64,
    ) -> Result<Total>;
    /// Sets a company's primary or bill-to contact, replacing the one it had.
    async fn set_contact(
        &self,
        marketplace_id: i64,
        company_id: i64,
        contact: &Contact,
    ) -> Result<()>;
    /// Records which reseller company manages a customer company.
    async fn set_reseller(
        &self,
        marketplace_id: i64,
        company_id: i64,
        reseller_company_id: i64,
    ) -> Result<()>;
    async fn tenant_links(
        &self,
        marketplace_id: i64,
        company_id: i64,
    ) -> Result<Vec<TenantLinkRow>>;
    /// Links a company to a Microsoft tenant as seen through one instance.
    async fn link_tenant(
        &self,
        marketplace_id: i64,
        company_id: i64,
        link: &TenantLink,
    ) -> Result<()>;
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Company {
    pub id: i64,
    pub marketplace_id: i64,
    pub external_id: Option<String>,
    pub name: String,
    pub street1: Option<String>,
    pub street2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
    pub billing_street1: Option<String>,
    pub billing_street2: Option<String>,
    pub billing_city: Option<String>,
    pub billing_state: Option<String>,
    pub billing_zip: Option<String>,
    pub billing_country: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    pub allow_login: bool,
    #[sqlx(try_from = "String")]
    pub status: CompanyStatus,
    #[sqlx(json)]
    pub custom_attributes: BTreeMap<String, String>,
    pub origin_kind: String,
    pub origin_ref: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
    /// The marketplace's user who looks after the company: who imported it.
    pub responsible_user_id: Option<i64>,
}

/// Which companies to list: a page of at most `limit` in name order, after the `after` key of
/// the page before it, or before the `before` key of the page after it.
#[derive(Debug, Clone, Default)]
pub struct CompanyQuery {
    /// Matches any part of the name, external id, e-mail address or website from three
    /// characters; a shorter term, the start of the name or the whole external id or e-mail.
    pub search: Option<String>,
    pub status: Option<CompanyStatus>,
    pub origin_kind: Option<String>,
    pub after: Option<CompanyKey>,
    pub before: Option<CompanyKey>,
    pub limit: i64,
}

impl CompanyQuery {
    /// The search, trimmed; none when blank.
    pub fn search_term(&self) -> Option<&str> {
        self.search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// Where a page of companies ends: the sort key of its last row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyKey {
    pub name: String,
    pub id: i64,
}

impl Company {
    pub fn key(&self) -> CompanyKey {
        CompanyKey {
            name: self.name.to_lowercase(),
            id: self.id,
        }
    }
}

/// A company's contact as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ContactRow {
    #[sqlx(try_from = "String")]
    pub kind: ContactKind,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// A company's link to a Microsoft tenant, with the instance's name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TenantLinkRow {
    pub instance_id: i64,
    pub instance_name: String,
    pub tenant_id: String,
    pub domain_prefix: Option<String>,
    pub reseller_mpn_id: Option<String>,
}

/// Rebuilds a stored origin, for both companies and users.
pub(crate) fn origin(kind: &str, reference: Option<i64>) -> Result<Origin> {
    Origin::from_parts(kind, reference).map_err(|e| StoreError::Corrupt {
        what: "origin",
        value: e.value,
    })
}

impl Company {
    pub fn origin(&self) -> Result<Origin> {
        origin(&self.origin_kind, self.origin_ref)
    }
}

/// The columns of [`crate::Company`].
macro_rules! company_columns {
    () => {
        "id, marketplace_id, external_id, name, street1, street2, city, state, zip, country,
         billing_street1, billing_street2, billing_city, billing_state, billing_zip,
         billing_country, phone, email, website, allow_login, status, custom_attributes,
         origin_kind, origin_ref, created_at, updated_at, responsible_user_id"
    };
}

pub(crate) use company_columns;
