//! User Sync from Google Workspace (docs/user-sync.md): a marketplace's Google connection —
//! a service account's key, sealed, and the admin it acts as, checked by exchanging a token —
//! and the users of each company linked to a Workspace customer, written with the same rules
//! as those from Partner Center.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferry_domain::{Email, GoogleCustomer};
use ferry_integrations::google::{
    self, Client, Connection, Customer, DEFAULT_API_URL, DEFAULT_TOKEN_URL, DirectoryUser,
    ServiceAccountKey,
};
use ferry_storage::seal::Sealer;
use ferry_storage::{
    GoogleCompany, GoogleConnection, NewGoogleConnection, SourceUser, Store, StoreError,
};

use crate::users::Listed;

/// What a new connection is made of, as typed or uploaded.
pub struct ConnectGoogle<'a> {
    /// The service account's JSON key file.
    pub key_file: &'a str,
    /// The Workspace admin the service account acts as.
    pub admin: &'a str,
    pub api_url: Option<&'a str>,
    /// The token endpoint; the key file's `token_uri` when not given.
    pub token_url: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum GoogleRefused {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Saves a marketplace's Google connection (the key sealed) and checks it at once: the
/// answer carries what the check found. Refused without saving anything when the key, the
/// admin or an address is not right.
pub async fn connect(
    store: &dyn Store,
    sealer: &Sealer,
    marketplace_id: i64,
    request: &ConnectGoogle<'_>,
    local: bool,
    by: &str,
) -> Result<GoogleConnection, GoogleRefused> {
    let invalid = |field, message| GoogleRefused::Invalid { field, message };
    let key = ServiceAccountKey::parse(request.key_file).map_err(|m| invalid("key_file", m))?;
    let admin = Email::parse(request.admin).map_err(|_| {
        invalid(
            "admin",
            format!("'{}' is not an e-mail address", request.admin),
        )
    })?;
    let api_url = request.api_url.unwrap_or(DEFAULT_API_URL).to_owned();
    let token_url = request
        .token_url
        .or(key.token_uri.as_deref())
        .unwrap_or(DEFAULT_TOKEN_URL)
        .to_owned();
    google::check_base_url(&api_url, local).map_err(|m| invalid("api_url", m))?;
    google::check_base_url(&token_url, local).map_err(|m| invalid("token_url", m))?;
    let connection = NewGoogleConnection {
        client_email: key.client_email.clone(),
        admin_email: admin.as_str().to_owned(),
        key_encrypted: sealer.seal(request.key_file),
        api_url,
        token_url,
    };
    store
        .set_google_connection(marketplace_id, &connection, by)
        .await?;
    let saved = store
        .google_connection(marketplace_id)
        .await?
        .ok_or(StoreError::NotFound {
            what: "Google connection",
        })?;
    Ok(check(store, sealer, &saved).await?)
}

/// Checks a connection by exchanging a fresh token, and records what was found.
pub async fn check(
    store: &dyn Store,
    sealer: &Sealer,
    connection: &GoogleConnection,
) -> Result<GoogleConnection, StoreError> {
    let outcome = match client_of(sealer, connection) {
        Ok(client) => client.check().await.map_err(|e| e.to_string()),
        Err(why) => Err(why),
    };
    let at = ferry_storage::now().millis();
    let check_error = outcome.err();
    store
        .set_google_check(connection.marketplace_id, at, check_error.as_deref())
        .await?;
    Ok(GoogleConnection {
        checked_at: Some(at),
        check_error,
        ..connection.clone()
    })
}

fn client_of(sealer: &Sealer, connection: &GoogleConnection) -> Result<Client, String> {
    let key_file = sealer
        .open(&connection.key_encrypted)
        .map_err(|e| format!("the service account's key cannot be opened: {e}"))?;
    let key = ServiceAccountKey::parse(&key_file)?;
    Client::new(Connection {
        api_url: connection.api_url.clone(),
        token_url: connection.token_url.clone(),
        key,
        admin: connection.admin_email.clone(),
    })
    .map_err(|e| e.to_string())
}

/// One Google client per marketplace for the whole process, so its token serves every run
/// until it expires; a connection saved since gets a new one.
#[derive(Clone, Default)]
pub struct GoogleClients(Arc<Mutex<HashMap<i64, Kept>>>);

/// A marketplace's client, with when the connection it was made from was saved.
type Kept = (i64, Arc<Client>);

impl GoogleClients {
    pub fn get(
        &self,
        sealer: &Sealer,
        connection: &GoogleConnection,
    ) -> Result<Arc<Client>, String> {
        let mut clients = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((saved_at, client)) = clients.get(&connection.marketplace_id)
            && *saved_at == connection.updated_at
        {
            return Ok(client.clone());
        }
        let client = Arc::new(client_of(sealer, connection)?);
        clients.insert(
            connection.marketplace_id,
            (connection.updated_at, client.clone()),
        );
        Ok(client)
    }
}

/// One company's users from its Workspace customer: the active and suspended ones, then the
/// deleted ones.
pub(crate) async fn read_customer(client: &Client, link: &GoogleCompany) -> Result<Listed, String> {
    let customer = match &link.customer {
        GoogleCustomer::Id(id) => Customer::Id(id),
        GoogleCustomer::Domain(domain) => Customer::Domain(domain),
    };
    let mut listed = Vec::new();
    for deleted in [false, true] {
        match client.users(customer, deleted).await {
            Ok(users) => listed.extend(users),
            Err(error) if error.is_not_found() => {
                return Err(format!(
                    "Google Workspace has no {}: its company's users were not synced.",
                    link.customer
                ));
            }
            Err(error) => {
                tracing::warn!(%error, customer = %link.customer, "Google users not read");
                return Err(format!(
                    "The users of Google Workspace {} could not be read: {error}",
                    link.customer
                ));
            }
        }
    }
    // Keyed by the customer id Google answers with, so a link by domain and one by id of the
    // same customer know the same users.
    let key = listed
        .iter()
        .find_map(|u| u.customer_id.clone())
        .unwrap_or_else(|| link.customer.value().to_owned());
    Ok(Listed {
        company_id: link.company_id,
        source: format!("google:{}", key.to_ascii_lowercase()),
        users: listed.iter().filter_map(source_user).collect(),
    })
}

/// A Google user as User Sync writes them: suspended, archived or deleted there is inactive.
fn source_user(user: &DirectoryUser) -> Option<SourceUser> {
    let email = Email::parse(&user.primary_email).ok()?;
    let name = |n: &Option<String>| n.clone().filter(|n| !n.trim().is_empty());
    Some(SourceUser {
        source_id: user.id.to_ascii_lowercase(),
        email,
        first_name: name(&user.name.given_name),
        last_name: name(&user.name.family_name),
        active: !user.suspended && !user.archived && user.deletion_time.is_none(),
    })
}
