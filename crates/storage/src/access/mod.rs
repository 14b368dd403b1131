//! Access: platform admins, passwords and staff roles, sign-in, sessions, one-time links and API tokens.

use async_trait::async_trait;
use ferry_domain::{Email, NewUser, Role, SignInAttempt, SignInThrottle, Timestamp};

use crate::{Result, User};

#[async_trait]
pub trait AccessStore: Send + Sync {
    async fn create_platform_admin(&self, email: &Email, password_hash: &str) -> Result<i64>;
    /// Replaces a user's password hash (`None` removes the password).
    async fn set_password(
        &self,
        marketplace_id: i64,
        user_id: i64,
        password_hash: Option<&str>,
    ) -> Result<()>;
    /// Grants a marketplace-wide staff role to a user of that marketplace.
    async fn grant_role(&self, marketplace_id: i64, user_id: i64, role: Role) -> Result<()>;
    /// Every role held in a marketplace, by user: staff are few, so callers check many users
    /// against one read.
    async fn staff_roles(&self, marketplace_id: i64) -> Result<Vec<(i64, Role)>>;
    /// Creates a user who signs in with a password and holds a staff role, all or nothing.
    async fn create_staff(
        &self,
        marketplace_id: i64,
        user: &NewUser,
        password_hash: &str,
        role: Role,
    ) -> Result<i64>;
    /// Stores an API token by the hash of its secret; the secret itself is never stored.
    async fn create_api_token(
        &self,
        marketplace_id: i64,
        name: &str,
        role: Role,
        token_hash: &[u8],
    ) -> Result<i64>;
    /// Everyone who may sign in with this e-mail address: a platform admin, and active users
    /// with a password and login allowed, in any marketplace.
    async fn credentials_by_email(&self, email: &Email) -> Result<Vec<Credentials>>;
    /// The account behind a subject, or `None` when it no longer may sign in.
    async fn account(&self, subject: Subject) -> Result<Option<Account>>;
    async fn create_session(
        &self,
        id_hash: &[u8],
        subject: Subject,
        expires_at: Timestamp,
    ) -> Result<()>;
    /// The subject of a session that has not expired at `now`.
    async fn session_subject(&self, id_hash: &[u8], now: Timestamp) -> Result<Option<Subject>>;
    async fn delete_session(&self, id_hash: &[u8]) -> Result<()>;
    /// Counts an attempt to sign in to `account` as a failure before its password is checked,
    /// or refuses it when the account is locked: the count and the decision are one statement,
    /// so parallel guesses cannot pass the limit.
    async fn claim_sign_in_attempt(
        &self,
        account: &str,
        throttle: &SignInThrottle,
        now: Timestamp,
    ) -> Result<SignInAttempt>;
    /// Forgets an account's failures, after a right password.
    async fn clear_sign_in_failures(&self, account: &str) -> Result<()>;
    /// Stores a one-time link (by the hash of its token) for a user.
    async fn create_user_link(
        &self,
        token_hash: &[u8],
        user_id: i64,
        purpose: LinkPurpose,
        expires_at: Timestamp,
    ) -> Result<()>;
    /// The user a valid, unused link is for.
    async fn link_user(
        &self,
        token_hash: &[u8],
        purpose: LinkPurpose,
        now: Timestamp,
    ) -> Result<Option<User>>;
    /// Uses a link: sets the user's password and activates the user, and the user's companies
    /// that were waiting for their first active user; signs the user out everywhere else. All
    /// or nothing; `None` when the link is invalid, used or expired.
    async fn redeem_link(
        &self,
        token_hash: &[u8],
        purpose: LinkPurpose,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<Option<User>>;
    /// An API token that is not revoked, by the hash of its secret; notes its use.
    async fn api_token(&self, token_hash: &[u8]) -> Result<Option<ApiToken>>;
    async fn api_tokens(&self, marketplace_id: i64) -> Result<Vec<ApiToken>>;
    async fn revoke_api_token(&self, marketplace_id: i64, id: i64) -> Result<()>;
}

/// Someone who can sign in with a password.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub subject: Subject,
    pub password_hash: String,
}

/// Who a sign-in or an API token acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    PlatformAdmin { id: i64 },
    User { id: i64, marketplace_id: i64 },
}

/// A signed-in person as requests see them: loaded afresh for every request, so a suspension
/// or a role change takes effect at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub subject: Subject,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<Role>,
}

impl Account {
    /// The marketplace the account belongs to; `None` for a platform admin.
    pub fn marketplace_id(&self) -> Option<i64> {
        match self.subject {
            Subject::PlatformAdmin { .. } => None,
            Subject::User { marketplace_id, .. } => Some(marketplace_id),
        }
    }
}

/// A stored API token (its secret is never stored).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub marketplace_id: i64,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What a one-time link sent by e-mail is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    Invitation,
    PasswordReset,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Invitation => "invitation",
            LinkPurpose::PasswordReset => "password_reset",
        }
    }
}
