//! The demo's Google Workspace: the Google Directory emulator, started in this process over the
//! same world as the Partner Center one, its service account's key written to the data
//! directory, and the marketplace's Google connection made with it — again on every start, for
//! the emulator's address changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use ferry_domain::{GoogleCustomer, NewCompany, Origin};
use ferry_emulators::google::{Emulator, Options};
use ferry_storage::seal::Sealer;
use ferry_storage::{Marketplace, Store};
use ferry_tenants::google::{ConnectGoogle, connect};

use super::partner_center::{CUSTOMERS, RESELLERS, SEED};

/// The Workspace admin the demo's service account acts as.
pub const ADMIN: &str = "admin@demo.example";
/// Workspace customers the demo links to companies of its own.
const LINKED: usize = 3;

/// Starts the emulator on this machine; it serves until the process ends.
pub async fn start() -> anyhow::Result<(Emulator, String)> {
    let emulator = Emulator::new(Options {
        seed: SEED,
        customers: CUSTOMERS,
        resellers: RESELLERS,
        ..Default::default()
    });
    let url = emulator
        .serve_locally()
        .await
        .context("cannot start the Google Directory emulator")?;
    Ok((emulator, url))
}

/// Writes the service account's key into the data directory (for `ferry google connect`, or
/// the Sync Settings page) and connects the marketplace with it. Answers the key file's path.
pub async fn connect_demo(
    store: &Arc<dyn Store>,
    sealer: &Sealer,
    marketplace: &Marketplace,
    emulator: &Emulator,
    url: &str,
    data_dir: &Path,
) -> anyhow::Result<PathBuf> {
    let key_file = data_dir.join("google-service-account.json");
    let key = emulator.service_account_key(url);
    // The data directory is its owner's alone, so the key in it is too.
    std::fs::write(&key_file, &key)
        .with_context(|| format!("cannot write {}", key_file.display()))?;
    let request = ConnectGoogle {
        key_file: &key,
        admin: ADMIN,
        api_url: Some(url),
        token_url: None,
    };
    let connection = connect(&**store, sealer, marketplace.id, &request, true, "demo").await?;
    if let Some(why) = connection.check_error {
        anyhow::bail!("the demo's Google connection was refused: {why}");
    }
    Ok(key_file)
}

/// On the demo's first start: a few companies, each the Workspace customer of a tenant of the
/// world (the first linked by customer id, the others by domain), whose users User Sync from
/// Google Workspace brings in.
pub async fn link_examples(
    store: &Arc<dyn Store>,
    marketplace: &Marketplace,
    emulator: &Emulator,
    world: &serde_json::Value,
) -> anyhow::Result<()> {
    let name_of = |tenant: &str| {
        world["customers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["id"] == tenant)
            .and_then(|c| c["companyName"].as_str())
            .unwrap_or("Workspace customer")
            .to_owned()
    };
    for (n, customer) in emulator.customers().iter().take(LINKED).enumerate() {
        let company = NewCompany {
            external_id: Some(format!("DEMO-GW{}", n + 1)),
            website: Some(format!("https://{}", customer.domain)),
            ..NewCompany::named(
                format!("{} (Workspace)", name_of(&customer.tenant_id)),
                Origin::Demo,
            )
        };
        let company = store.create_company(marketplace.id, &company).await?;
        let linked = if n == 0 {
            GoogleCustomer::id(&customer.customer_id)?
        } else {
            GoogleCustomer::domain(&customer.domain)?
        };
        store
            .set_company_google(marketplace.id, company, Some(&linked), "demo")
            .await?;
    }
    Ok(())
}
