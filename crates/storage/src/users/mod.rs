//! Users and their memberships in companies.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ferry_domain::{
    CompanyId, CompanyRoles, Email, NewUser, Origin, Timestamp, UserId, UserStatus,
};

use crate::companies::origin;
use crate::{NewAuditEntry, Result};

#[async_trait]
pub trait UserStore: Send + Sync {
    /// A page of users in e-mail order (see [`UserQuery`]).
    async fn users(&self, marketplace_id: i64, query: &UserQuery) -> Result<Vec<User>>;
    async fn user(&self, marketplace_id: i64, id: i64) -> Result<Option<User>>;
    /// Replaces a user's profile (not status or password) and records the audit line.
    async fn update_user(
        &self,
        marketplace_id: i64,
        id: i64,
        user: &NewUser,
        audit: &NewAuditEntry,
    ) -> Result<()>;
    /// Changes a user's status; suspending one also ends their sessions.
    async fn set_user_status(&self, marketplace_id: i64, id: i64, status: UserStatus)
    -> Result<()>;
    async fn create_user(&self, marketplace_id: i64, user: &NewUser) -> Result<i64>;
    async fn user_by_email(&self, marketplace_id: i64, email: &Email) -> Result<Option<User>>;
    async fn count_users(&self, marketplace_id: i64) -> Result<i64>;
    /// How many users the query's search and filters match (whatever its page), counted up to
    /// `cap`.
    async fn count_matching_users(
        &self,
        marketplace_id: i64,
        query: &UserQuery,
        cap: i64,
    ) -> Result<crate::Total>;
    async fn memberships_of_company(
        &self,
        marketplace_id: i64,
        company_id: i64,
    ) -> Result<Vec<Membership>>;
    async fn memberships_of_user(
        &self,
        marketplace_id: i64,
        user_id: i64,
    ) -> Result<Vec<Membership>>;
    /// Makes a user a member of a company with the given roles (or changes the roles).
    async fn set_membership(
        &self,
        marketplace_id: i64,
        user: UserId,
        company: CompanyId,
        roles: CompanyRoles,
    ) -> Result<()>;
}

/// A user's membership in a company, seen from either side.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Membership {
    pub user_id: i64,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[sqlx(try_from = "String")]
    pub user_status: UserStatus,
    pub company_id: i64,
    pub company_name: String,
    pub company_admin: bool,
    pub billing_admin: bool,
    pub sales_support: bool,
    pub restricted_sales_support: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub marketplace_id: i64,
    pub external_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub email: Email,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub locale: Option<String>,
    pub phone: Option<String>,
    pub allow_login: bool,
    #[sqlx(try_from = "String")]
    pub status: UserStatus,
    /// Whether the user has chosen a password (by invitation or reset).
    pub has_password: bool,
    #[sqlx(json)]
    pub custom_attributes: BTreeMap<String, String>,
    pub origin_kind: String,
    pub origin_ref: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
    /// When a registration reminder went out to them.
    pub reminded_at: Option<i64>,
}

impl User {
    /// "First Last", or the e-mail address when the user has no name.
    pub fn display_name(&self) -> String {
        let name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if name.trim().is_empty() {
            self.email.to_string()
        } else {
            name
        }
    }
}

/// Which users to list: a page of at most `limit` in e-mail order, after `after` (the last
/// address of the page before) or before `before` (the first of the page after).
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Matches any part of the e-mail address, name ("dana whit") or external id.
    pub search: Option<String>,
    pub status: Option<UserStatus>,
    /// Only users of this origin (`sync`, `dataset`, `import`, `manual`, `demo`).
    pub origin: Option<String>,
    /// `Some(false)`: only users never invited (still *created*); `Some(true)`: invited or
    /// active.
    pub invited: Option<bool>,
    /// Only members of this company.
    pub company_id: Option<i64>,
    pub after: Option<String>,
    pub before: Option<String>,
    pub limit: i64,
}

impl User {
    pub fn origin(&self) -> Result<Origin> {
        origin(&self.origin_kind, self.origin_ref)
    }
}

/// The columns of [`crate::User`].
macro_rules! user_columns {
    () => {
        "id, marketplace_id, external_id, email, first_name, last_name, locale, phone,
         allow_login, status, (password_hash IS NOT NULL) AS has_password, custom_attributes,
         origin_kind, origin_ref, created_at, updated_at, reminded_at"
    };
}

/// The columns of [`crate::Membership`] and the join they come from.
macro_rules! membership_columns {
    () => {
        "u.id AS user_id, u.email, u.first_name, u.last_name, u.status AS user_status,
         c.id AS company_id, c.name AS company_name, m.company_admin, m.billing_admin,
         m.sales_support, m.restricted_sales_support
         FROM memberships m
         JOIN users u ON u.id = m.user_id
         JOIN companies c ON c.id = m.company_id"
    };
}

pub(crate) use {membership_columns, user_columns};
