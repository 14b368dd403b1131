//! Partner Center instances as a marketplace sees them: its own, and — for a country tenant —
//! its parent's, used live with the parent's credentials (docs/partner-center.md). Clients are
//! kept per instance, so a token renewed through one marketplace serves the other at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ferry_datasets::{SubscriptionFacts, TenantFacts, TenantLookup};
use ferry_domain::{InstanceAuth, MarketplaceKind};
use ferry_integrations::partner_center::{
    Client, PcError, RefreshTokenStore, Secret, Settings, TokenEndpoint,
};
use ferry_storage::seal::Sealer;
use ferry_storage::{InstanceRecord, Marketplace, Store, StoreError};

/// An instance a marketplace may use, and whose it is.
pub struct Visible {
    pub record: InstanceRecord,
    /// The parent marketplace, when the instance is inherited.
    pub inherited_from: Option<Marketplace>,
}

/// The marketplaces whose instances `marketplace` may use: its own, and its parent for a
/// country tenant.
async fn owners(
    store: &dyn Store,
    marketplace: &Marketplace,
) -> Result<Vec<(Marketplace, bool)>, StoreError> {
    let mut owners = vec![(marketplace.clone(), false)];
    if marketplace.kind == MarketplaceKind::CountryTenant
        && let Some(parent_id) = marketplace.parent_id
        && let Some(parent) = store.marketplace(parent_id).await?
    {
        owners.push((parent, true));
    }
    Ok(owners)
}

/// Every instance the marketplace may use, own first.
pub async fn visible(
    store: &dyn Store,
    marketplace: &Marketplace,
) -> Result<Vec<Visible>, StoreError> {
    let mut out = Vec::new();
    for (owner, inherited) in owners(store, marketplace).await? {
        for summary in store.instances(owner.id).await? {
            if let Some(record) = store.instance(owner.id, summary.id).await? {
                out.push(Visible {
                    record,
                    inherited_from: inherited.then(|| owner.clone()),
                });
            }
        }
    }
    Ok(out)
}

/// One instance the marketplace may use, or `None` (another marketplace's answers the same).
pub async fn find(
    store: &dyn Store,
    marketplace: &Marketplace,
    id: i64,
) -> Result<Option<Visible>, StoreError> {
    for (owner, inherited) in owners(store, marketplace).await? {
        if let Some(record) = store.instance(owner.id, id).await? {
            return Ok(Some(Visible {
                record,
                inherited_from: inherited.then_some(owner),
            }));
        }
    }
    Ok(None)
}

/// The refresh token of one instance, read from and written back to the store, sealed.
struct StoredRefreshToken {
    store: Arc<dyn Store>,
    sealer: Sealer,
    marketplace_id: i64,
    instance_id: i64,
}

#[async_trait]
impl RefreshTokenStore for StoredRefreshToken {
    async fn current(&self) -> Result<Option<String>, String> {
        let record = self
            .store
            .instance(self.marketplace_id, self.instance_id)
            .await
            .map_err(|e| e.to_string())?;
        match record.and_then(|r| r.refresh_token_encrypted) {
            Some(sealed) => self
                .sealer
                .open(&sealed)
                .map(Some)
                .map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }

    async fn store(&self, token: &str) -> Result<(), String> {
        self.store
            .store_refresh_token(
                self.marketplace_id,
                self.instance_id,
                &self.sealer.seal(token),
            )
            .await
            .map_err(|e| e.to_string())
    }
}

/// One client per instance for the whole process.
#[derive(Clone, Default)]
pub struct Clients(Arc<Mutex<HashMap<i64, Arc<Client>>>>);

impl Clients {
    /// The client of an instance, made on first use.
    pub fn get(
        &self,
        store: &Arc<dyn Store>,
        sealer: &Sealer,
        record: &InstanceRecord,
    ) -> Result<Arc<Client>, PcError> {
        let mut clients = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = clients.get(&record.summary.id) {
            return Ok(client.clone());
        }
        let secret = match &record.secret_encrypted {
            Some(sealed) => sealer
                .open(sealed)
                .map_err(|e| PcError::Configuration(e.to_string()))?,
            None => String::new(),
        };
        let s = &record.summary;
        let settings = Settings {
            api_base_url: s.api_base_url.clone(),
            login_base_url: s.login_base_url.clone(),
            tenant_id: s.partner_tenant_id.clone(),
            application_id: s.application_id.clone(),
            secret: Secret::new(secret),
            token_endpoint: TokenEndpoint::V2,
        };
        let tokens = Arc::new(StoredRefreshToken {
            store: store.clone(),
            sealer: sealer.clone(),
            marketplace_id: s.marketplace_id,
            instance_id: s.id,
        });
        let client = Arc::new(Client::new(settings, tokens)?);
        clients.insert(s.id, client.clone());
        Ok(client)
    }

    /// Forgets an instance's client, after its settings changed.
    pub fn forget(&self, id: i64) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
    }
}

/// Checks an instance's connection and records what was found: authenticated, expired (a
/// partner user must consent again) or failing, with the reason.
pub async fn check(
    store: &Arc<dyn Store>,
    sealer: &Sealer,
    clients: &Clients,
    record: &InstanceRecord,
) -> Result<(InstanceAuth, Option<String>), StoreError> {
    let outcome = match clients.get(store, sealer, record) {
        Ok(client) => client.check().await,
        Err(e) => Err(e),
    };
    if let Err(error) = &outcome {
        tracing::warn!(instance = record.summary.id, %error, "Partner Center connection check failed");
    }
    let (state, reason) = match outcome {
        Ok(()) => (InstanceAuth::Authenticated, None),
        Err(e @ PcError::NeedsConsent(_)) => (InstanceAuth::Expired, Some(e.to_string())),
        Err(e) => (InstanceAuth::Failing, Some(reason_of(&e))),
    };
    store
        .set_instance_auth(
            record.summary.marketplace_id,
            record.summary.id,
            state,
            reason.as_deref(),
        )
        .await?;
    Ok((state, reason))
}

/// What the instance shows of a failed check, in Ferry's words: the text a service answered is
/// logged, not shown, for it could be anything the configured address returns.
fn reason_of(error: &PcError) -> String {
    match error {
        PcError::Api { status, .. } => format!("Partner Center answered {status}"),
        PcError::Decode(_) => "Partner Center's answer could not be read".into(),
        other => other.to_string(),
    }
}

/// Turns the checks of datasets' Microsoft records against Partner Center on or off; the
/// marketplace's other settings stay.
pub async fn set_microsoft_validation(
    store: &dyn Store,
    marketplace_id: i64,
    on: bool,
) -> Result<(), StoreError> {
    let mut settings = store.marketplace_settings(marketplace_id).await?;
    settings.microsoft_validation = on;
    store
        .set_marketplace_settings(marketplace_id, &settings)
        .await
}

/// Partner Center's answers about customer tenants, for the checks of a dataset's Microsoft
/// records: asked through each instance the marketplace may use, in turn, until one knows the
/// tenant. A tenant is unknown only when every instance answered that it does not know it.
pub struct InstanceLookup {
    pub store: Arc<dyn Store>,
    pub sealer: Sealer,
    pub clients: Clients,
}

#[async_trait]
impl TenantLookup for InstanceLookup {
    async fn tenant(
        &self,
        marketplace_id: i64,
        tenant_id: &str,
    ) -> Result<Option<TenantFacts>, String> {
        let marketplace = self
            .store
            .marketplace(marketplace_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the marketplace no longer exists")?;
        let instances = visible(&*self.store, &marketplace)
            .await
            .map_err(|e| e.to_string())?;
        if instances.is_empty() {
            return Err("the marketplace has no Partner Center instance to ask".into());
        }
        let mut failure = None;
        for instance in instances {
            let name = &instance.record.summary.name;
            let asked = match self
                .clients
                .get(&self.store, &self.sealer, &instance.record)
            {
                Ok(client) => match client.customer(tenant_id).await {
                    Ok(customer) => client
                        .subscriptions(tenant_id)
                        .await
                        .map(|subscriptions| (customer, subscriptions)),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            let (customer, subscriptions) = match asked {
                Ok(found) => found,
                Err(e) if e.is_not_found() => continue,
                Err(e) => {
                    failure.get_or_insert(format!("instance {name}: {e}"));
                    continue;
                }
            };
            let profile = customer.company_profile.unwrap_or_default();
            let country = customer
                .billing_profile
                .and_then(|b| b.default_address)
                .or(profile.address)
                .and_then(|a| a.country);
            return Ok(Some(TenantFacts {
                domain: profile.domain,
                country,
                subscriptions: subscriptions
                    .into_iter()
                    .map(|s| SubscriptionFacts {
                        id: s.id,
                        offer_id: s.offer_id,
                        quantity: s.quantity,
                        status: s.status.map(|x| x.as_str().to_ascii_lowercase()),
                    })
                    .collect(),
            }));
        }
        failure.map_or(Ok(None), Err)
    }
}
