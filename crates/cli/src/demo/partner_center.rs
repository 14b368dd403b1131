//! The demo's Partner Center: the emulator, started in this process with a world of a few
//! hundred tenants (direct and indirect, one reseller with no customer, one whose customers
//! the demo's tenant reseller holds), and the instance that points at it — stored again on
//! every start, for the emulator's address changes and it forgets the refresh tokens it
//! rotated.

use std::sync::Arc;

use anyhow::Context;
use ferry_domain::{NewCompany, NewSubscription, Origin, SubscriptionStatus, TenantLink};
use ferry_emulators::partner_center::{Emulator, Options};
use ferry_storage::seal::Sealer;
use ferry_storage::{Marketplace, NewInstance, Store};
use serde_json::Value;

pub const INSTANCE: &str = "Demo Partner Center";
/// The demo's simple tenant, made the tenant reseller of the world's first reseller.
pub const TENANT_RESELLER: &str = "northwind";

/// The world is the same on every start: the links the demo made to its tenants stay true.
pub(super) const SEED: u64 = 2026;
pub(super) const CUSTOMERS: usize = 300;
pub(super) const RESELLERS: usize = 4;

/// Starts the emulator on this machine; it serves until the process ends.
pub async fn start() -> anyhow::Result<(Emulator, String)> {
    let emulator = Emulator::new(Options {
        seed: SEED,
        customers: CUSTOMERS,
        resellers: RESELLERS,
        ..Options::default()
    });
    let url = emulator
        .serve_locally()
        .await
        .context("cannot start the Partner Center emulator")?;
    Ok((emulator, url))
}

/// Creates the demo's instance, or points it at this start's emulator with its credentials.
pub async fn connect(
    store: &Arc<dyn Store>,
    sealer: &Sealer,
    marketplace: &Marketplace,
    emulator: &Emulator,
    url: &str,
) -> anyhow::Result<i64> {
    let credentials = emulator.credentials();
    let instance = NewInstance {
        name: INSTANCE.into(),
        model: "both".into(),
        partner_tenant_id: credentials.partner_tenant_id,
        application_id: credentials.client_id,
        secret_encrypted: Some(sealer.seal(&credentials.client_secret)),
        refresh_token_encrypted: Some(sealer.seal(&credentials.refresh_token)),
        mpn_id: Some("1234567".into()),
        api_base_url: url.to_owned(),
        login_base_url: url.to_owned(),
    };
    let existing = store
        .instances(marketplace.id)
        .await?
        .into_iter()
        .find(|i| i.name == INSTANCE);
    Ok(match existing {
        Some(found) => {
            store
                .update_instance(marketplace.id, found.id, &instance)
                .await?;
            found.id
        }
        None => store.create_instance(marketplace.id, &instance).await?,
    })
}

/// On the demo's first start: companies that make each standing of the audit show — one
/// linked to a tenant with all its subscriptions (Synced), one with a subscription missing and
/// one extra (Out of sync), one unlinked that looks like a tenant by its name (a possible
/// match) and one only by its website's domain — and the storefront made a tenant reseller.
pub async fn link_examples(
    store: &Arc<dyn Store>,
    marketplace: &Marketplace,
    instance_id: i64,
    emulator: &Emulator,
    edition_id: i64,
) -> anyhow::Result<()> {
    let world: Value = serde_json::from_str(&emulator.world_json())?;
    let importable = |s: &Value| {
        matches!(
            s["status"].as_str(),
            Some("active" | "suspended" | "pending")
        ) && s["family"] != "azure_plan"
    };
    let mut direct = world["customers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c.get("associatedPartnerId").is_none_or(Value::is_null))
        .filter(|c| {
            c["subscriptions"]
                .as_array()
                .is_some_and(|s| s.iter().filter(|s| importable(s)).count() >= 2)
        });
    let (synced, drifted, alike) = (
        direct
            .next()
            .context("the demo world has direct customers")?,
        direct.next().context("a second direct customer")?,
        direct.next().context("a third direct customer")?,
    );
    // One whose billing e-mail shows its own domain: only that domain says which it is.
    let by_domain = direct
        .find(|c| c["allowDelegatedAccess"] == true)
        .context("a direct customer with delegated access")?;
    let m = marketplace.id;
    for (n, (customer, drift)) in [(synced, false), (drifted, true)].into_iter().enumerate() {
        let tenant = customer["id"].as_str().context("a tenant id")?;
        let company = NewCompany {
            external_id: Some(format!("DEMO-PC{}", n + 1)),
            ..NewCompany::named(
                customer["companyName"].as_str().unwrap_or("Customer"),
                Origin::Demo,
            )
        };
        let company = store.create_company(m, &company).await?;
        let link = TenantLink {
            instance_id,
            tenant_id: tenant.to_owned(),
            domain_prefix: customer["domain"]
                .as_str()
                .and_then(|d| d.strip_suffix(".onmicrosoft.com"))
                .map(str::to_owned),
            reseller_mpn_id: None,
        };
        store.link_tenant(m, company, &link).await?;
        let mut vendor_ids: Vec<String> = customer["subscriptions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| importable(s))
            .filter_map(|s| s["id"].as_str().map(str::to_owned))
            .collect();
        if drift {
            vendor_ids.pop();
            vendor_ids.push("0d15ea5e-0000-4000-8000-00000000dead".into());
        }
        for vendor in vendor_ids {
            let subscription = NewSubscription {
                external_id: None,
                company_id: company,
                edition_id,
                purchased_by: None,
                units: 1,
                start_date: None,
                billing_start_date: None,
                end_date: None,
                billing_cycle: Some("MONTHLY".into()),
                term: Some("P1Y".into()),
                auto_renew: true,
                status: SubscriptionStatus::Active,
                vendor_subscription_id: Some(vendor),
                custom_attributes: Default::default(),
                origin: Origin::Demo,
            };
            store.create_subscription(m, &subscription).await?;
        }
    }
    // Created by hand before anyone thought of Partner Center: the same company, not linked.
    let country = alike["billingProfile"]["defaultAddress"]["country"]
        .as_str()
        .and_then(|c| ferry_domain::CountryCode::parse(c).ok());
    let lookalike = NewCompany {
        external_id: Some("DEMO-PC3".into()),
        address: ferry_domain::Address {
            country,
            ..ferry_domain::Address::default()
        },
        ..NewCompany::named(
            format!(
                "{} Ltd",
                alike["companyName"].as_str().unwrap_or("Customer")
            ),
            Origin::Demo,
        )
    };
    store.create_company(m, &lookalike).await?;
    // Known by its initials, with the customer's own website: a match only the domain reveals.
    let name = by_domain["companyName"].as_str().unwrap_or("Customer");
    let initials: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .filter(|c| c.is_alphanumeric())
        .collect();
    let domain = by_domain["billingProfile"]["email"]
        .as_str()
        .and_then(|e| e.rsplit_once('@'))
        .map(|(_, d)| d.to_owned())
        .context("the customer's billing e-mail")?;
    let by_initials = NewCompany {
        external_id: Some("DEMO-PC4".into()),
        website: Some(format!("https://www.{domain}")),
        ..NewCompany::named(format!("{initials} Holding"), Origin::Demo)
    };
    store.create_company(m, &by_initials).await?;
    // The storefront resells through the first indirect reseller: a tenant reseller.
    let storefront = store
        .marketplace_by_slug(TENANT_RESELLER)
        .await?
        .context("the demo's simple tenant")?;
    let mpn = world["resellers"][0]["mpnId"]
        .as_str()
        .context("the demo world has resellers")?;
    store
        .set_reseller_mpn_id(m, storefront.id, Some(mpn))
        .await?;
    Ok(())
}
