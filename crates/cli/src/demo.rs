//! `ferry demo`: everything on one machine with no setup — a marketplace with data, a manager
//! login, an example dataset, and Partner Center (`demo/partner_center.rs`) and Google
//! Workspace (`demo/google.rs`) emulated.

mod google;
mod partner_center;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use ferry_domain::{
    Address, CompanyId, CompanyRoles, CompanyStatus, Connector, Contact, ContactKind, CountryCode,
    Email, MarketplaceKind, NewCompany, NewEdition, NewProduct, NewSubscription, NewUser, OfferId,
    Origin, PricingUnit, Role, Slug, SubscriptionId, SubscriptionStatus, UserId, UserStatus,
};
use ferry_storage::{Marketplace, Store};

use crate::admin::create_marketplace;
use crate::config::Config;
use crate::run::{open_migrated, serve_store};

/// The demo takes its settings like `serve` does: FERRY_DATA_DIR, FERRY_LISTEN, a ferry.toml.
#[derive(Debug, Args)]
pub struct DemoArgs {}

const SLUG: &str = "demo";
const MANAGER: &str = "manager@demo.example";

pub async fn run(config: Config, _args: DemoArgs) -> anyhow::Result<()> {
    // The demo is tried against `ferry emulator partner-center` on this machine.
    let config = Config {
        partner_center_local: true,
        ..config
    };
    let store = open_migrated(&config).await?;
    let (emulator, partner_center_url) = partner_center::start().await?;
    let (directory, google_url) = google::start().await?;
    let sealer = config.sealer()?;
    let (marketplace, first_edition) = match store.marketplace_by_slug(SLUG).await? {
        Some(existing) => (existing, None),
        None => {
            let (seeded, edition) = seed(&store).await.context("cannot create the demo data")?;
            (seeded, Some(edition))
        }
    };
    let instance = partner_center::connect(
        &store,
        &sealer,
        &marketplace,
        &emulator,
        &partner_center_url,
    )
    .await
    .context("cannot connect the demo's Partner Center")?;
    let google_key = google::connect_demo(
        &store,
        &sealer,
        &marketplace,
        &directory,
        &google_url,
        &config.data_dir,
    )
    .await
    .context("cannot connect the demo's Google Workspace")?;
    if let Some(edition) = first_edition {
        partner_center::link_examples(&store, &marketplace, instance, &emulator, edition)
            .await
            .context("cannot link the demo's companies to its tenants")?;
        let world: serde_json::Value = serde_json::from_str(&emulator.world_json())?;
        google::link_examples(&store, &marketplace, &directory, &world)
            .await
            .context("cannot link the demo's companies to Google Workspace")?;
        start_company_sync(&store, &marketplace)
            .await
            .context("cannot turn the demo's Company Sync on")?;
    }
    let password = new_password();
    set_manager_password(&store, &marketplace, &password).await?;
    let example = write_example_dataset(&config.data_dir)?;
    let data = config.data_dir.display().to_string();
    let backend = store.backend().name();
    // Run from another directory, `ferry admin` must find the same database.
    let token_command = format!(
        "FERRY_DATABASE_URL='{}' ferry admin create-token --marketplace {SLUG} --role \
         marketplace-manager",
        config.database_url_redacted()
    );
    serve_store(&config, store, |url| {
        println!("Ferry demo is running.\n");
        println!("  URL:       {url}");
        println!("  Sign in:   {MANAGER}");
        println!("  Password:  {password}");
        println!("  Data:      {data} ({backend})");
        println!("  API token: {token_command}");
        println!(
            "  Example:   {} (a dataset with a few mistakes, to upload on Data Migration)",
            example.display()
        );
        println!(
            "  Partner Center: emulated on this machine, as the instance \"{}\" (Import \
             Customers → Get Hierarchy)",
            partner_center::INSTANCE
        );
        println!(
            "  Google Workspace: emulated on this machine, connected with the service account \
             key {} (acting as {})",
            google_key.display(),
            google::ADMIN
        );
        println!(
            "  Company Sync and User Sync: on; Pending Companies and the synced users fill as the \
             demo starts (Sync Settings to change them)\n"
        );
        println!("Stop it with Ctrl-C. Run `ferry demo` again to get a new password.");
    })
    .await
}

/// Company Sync on, inviting the admins of the companies it creates, and User Sync on from
/// both sources, with their first runs queued: as the demo starts, the workers fill Pending
/// Companies from the emulated Partner Center and bring in the users of the companies linked
/// to its tenants and to its Google Workspace customers.
async fn start_company_sync(
    store: &Arc<dyn Store>,
    marketplace: &Marketplace,
) -> anyhow::Result<()> {
    let settings = ferry_storage::SyncSettings {
        company_sync: true,
        invite_admins: true,
        user_sync_partner_center: true,
        user_sync_google: true,
        ..ferry_storage::SyncSettings::default()
    };
    ferry_tenants::sync::save_settings(&**store, marketplace, &settings, "demo").await?;
    ferry_tenants::sync::sync_now(&**store, marketplace.id).await?;
    ferry_tenants::users::sync_users_now(&**store, marketplace.id).await?;
    Ok(())
}

/// The example dataset, as a newcomer uploads it: a new customer with its people and a
/// subscription, a changed phone and street for Granite Peak Legal, and one mistake of each kind
/// (a country code, an e-mail address, a membership of the rejected user, an edition the
/// catalog does not have).
const EXAMPLE_DATASET: &[(&str, &str)] = &[
    ("companies.csv", include_str!("demo/companies.csv")),
    ("users.csv", include_str!("demo/users.csv")),
    ("memberships.csv", include_str!("demo/memberships.csv")),
    (
        "company_entitlements.csv",
        include_str!("demo/company_entitlements.csv"),
    ),
];

/// Writes the example dataset into the data directory, keeping files someone already edited.
fn write_example_dataset(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = data_dir.join("example-dataset");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, content) in EXAMPLE_DATASET {
        let path = dir.join(name);
        if !path.exists() {
            std::fs::write(&path, content)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(dir.canonicalize().unwrap_or(dir))
}

/// A fresh password on every start, so none is ever written down in the data directory.
fn new_password() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

async fn set_manager_password(
    store: &Arc<dyn Store>,
    marketplace: &Marketplace,
    password: &str,
) -> anyhow::Result<()> {
    let password = password.to_owned();
    let hash =
        tokio::task::spawn_blocking(move || ferry_accounts::credentials::hash_password(&password))
            .await??;
    let email = Email::parse(MANAGER)?;
    match store.user_by_email(marketplace.id, &email).await? {
        Some(user) => {
            store
                .set_password(marketplace.id, user.id, Some(&hash))
                .await?;
        }
        None => {
            let user = NewUser {
                first_name: Some("Morgan".into()),
                last_name: Some("Manager".into()),
                status: UserStatus::Active,
                ..NewUser::with_email(email, Origin::Demo)
            };
            store
                .create_staff(marketplace.id, &user, &hash, Role::MarketplaceManager)
                .await?;
        }
    }
    Ok(())
}

/// Microsoft editions of the demo catalog: code, name, included units, the offer ids it stands
/// for — new commerce by product and SKU, legacy by GUID, legacy Azure. The emulator's legacy
/// Exchange Online (Plan 1), `195416C1-…`, is left unmapped on purpose: its subscriptions fail
/// the import with `OFFER_NOT_MAPPED` until it is mapped on Import Results.
const EDITIONS: &[(&str, &str, i64, &[&str])] = &[
    (
        "M365-BASIC",
        "Microsoft 365 Business Basic",
        1,
        &["CFQ7TTC0LH18:0001", "031C9E47-4802-4248-838E-778FB1D2CC05"],
    ),
    (
        "M365-STANDARD",
        "Microsoft 365 Business Standard",
        1,
        &["CFQ7TTC0LDPB:0001"],
    ),
    (
        "M365-PREMIUM",
        "Microsoft 365 Business Premium",
        1,
        &["CFQ7TTC0LCHC:0002"],
    ),
    (
        "O365-E3",
        "Office 365 E3",
        1,
        &["CFQ7TTC0LF8Q:0001", "91FD106F-4B2C-4938-95AC-F54F74E9A239"],
    ),
    (
        "EXO-P1",
        "Exchange Online (Plan 1)",
        1,
        &["CFQ7TTC0LH16:0001"],
    ),
    (
        "TEAMS-ESS",
        "Microsoft Teams Essentials",
        1,
        &["CFQ7TTC0RM8K:0001"],
    ),
    (
        "ATP",
        "Advanced Threat Protection (add-on)",
        0,
        &["3A5D4E1C-0B7F-4D2E-9C8A-6F1E2D3C4B5A"],
    ),
    ("AZURE", "Microsoft Azure (legacy)", 0, &["MS-AZR-0145P"]),
];

/// Demo customers: name, city, country, domain.
const COMPANIES: &[(&str, &str, &str, &str)] = &[
    (
        "Alpine Dental Group",
        "Innsbruck",
        "AT",
        "alpinedental.example",
    ),
    (
        "Brightwater Logistics",
        "Rotterdam",
        "NL",
        "brightwater.example",
    ),
    ("Café Lumière", "Lyon", "FR", "cafelumiere.example"),
    ("Daintree Architects", "Cairns", "AU", "daintree.example"),
    (
        "Elbe Maschinenbau GmbH",
        "Hamburg",
        "DE",
        "elbe-maschinenbau.example",
    ),
    (
        "Fjord Analytics AS",
        "Bergen",
        "NO",
        "fjordanalytics.example",
    ),
    ("Granite Peak Legal", "Denver", "US", "granitepeak.example"),
    (
        "Harbourside Clinic",
        "Auckland",
        "NZ",
        "harbourside.example",
    ),
    ("Iberia Solar S.L.", "Sevilla", "ES", "iberiasolar.example"),
    (
        "Juniper Schools Trust",
        "Leeds",
        "GB",
        "juniperschools.example",
    ),
    ("Kiri Design Studio", "Kyoto", "JP", "kiridesign.example"),
    ("Lakeside Veterinary", "Zürich", "CH", "lakesidevet.example"),
];

const PEOPLE: &[(&str, &str)] = &[
    ("Amelia", "Berg"),
    ("Bruno", "Costa"),
    ("Chloé", "Durand"),
    ("Daniel", "Evans"),
    ("Emma", "Fischer"),
    ("Felix", "García"),
    ("Grace", "Hughes"),
    ("Hiro", "Ito"),
    ("Isla", "Jensen"),
    ("Jonas", "Keller"),
    ("Kaia", "Larsen"),
    ("Liam", "Moreau"),
];

/// The demo catalog in a marketplace; answers its editions.
async fn seed_catalog(store: &Arc<dyn Store>, m: i64, prefix: &str) -> anyhow::Result<Vec<i64>> {
    let product = NewProduct {
        name: "Microsoft 365".into(),
        vendor: "Microsoft".into(),
    };
    let product = store.create_product(m, &product).await?;
    let mut editions = Vec::new();
    for (code, name, included, offers) in EDITIONS {
        let edition = NewEdition {
            product_id: product,
            code: (*code).into(),
            name: (*name).into(),
            pricing_plan_id: format!("{prefix}-{}", code.to_lowercase()),
            channel_sku: Some(format!("SKU-{code}")),
            pricing_unit: PricingUnit::User,
            included_units: *included,
            billing_cycles: vec!["MONTHLY".into(), "ANNUAL".into()],
            terms: vec!["P1M".into(), "P1Y".into()],
            connector: Connector::Microsoft,
            offer_ids: offers
                .iter()
                .map(|o| OfferId::parse(o))
                .collect::<Result<_, _>>()?,
            active: true,
        };
        editions.push(store.create_edition(m, &edition).await?);
    }
    Ok(editions)
}

/// Seeds the demo marketplace; answers it with its first Microsoft edition.
async fn seed(store: &Arc<dyn Store>) -> anyhow::Result<(Marketplace, i64)> {
    let slug = |s: &str| Slug::parse(s).map(Some);
    let marketplace = create_marketplace(
        store,
        "Demo Marketplace",
        slug(SLUG)?,
        MarketplaceKind::Distributor,
        None,
    )
    .await?;
    create_marketplace(
        store,
        "Demo Marketplace Germany",
        slug("demo-de")?,
        MarketplaceKind::CountryTenant,
        Some(&marketplace),
    )
    .await?;
    let storefront = create_marketplace(
        store,
        "Northwind Storefront",
        slug(partner_center::TENANT_RESELLER)?,
        MarketplaceKind::SimpleTenant,
        Some(&marketplace),
    )
    .await?;
    let m = marketplace.id;
    let editions = seed_catalog(store, m, SLUG).await?;
    // The tenant reseller's customers are imported into its own marketplace and catalog.
    seed_catalog(store, storefront.id, partner_center::TENANT_RESELLER).await?;

    let reseller = NewCompany {
        external_id: Some("DEMO-RESELLER".into()),
        email: Some(Email::parse("partners@contoso-reseller.example")?),
        status: CompanyStatus::Active,
        ..NewCompany::named("Contoso Reseller", Origin::Demo)
    };
    let reseller = store.create_company(m, &reseller).await?;

    for (i, (name, city, country, domain)) in COMPANIES.iter().enumerate() {
        let company = NewCompany {
            external_id: Some(format!("DEMO-C{:03}", i + 1)),
            address: Address {
                city: Some((*city).into()),
                country: Some(CountryCode::parse(country)?),
                ..Address::default()
            },
            email: Some(Email::parse(&format!("info@{domain}"))?),
            website: Some(format!("https://www.{domain}")),
            status: if i % 4 == 3 {
                CompanyStatus::Pending
            } else {
                CompanyStatus::Active
            },
            ..NewCompany::named(*name, Origin::Demo)
        };
        let company = store.create_company(m, &company).await?;
        let (first, last) = PEOPLE[i % PEOPLE.len()];
        let email = Email::parse(&format!(
            "{}.{}@{domain}",
            ascii_lower(first),
            ascii_lower(last)
        ))?;
        let user = NewUser {
            external_id: Some(format!("DEMO-U{:03}", i + 1)),
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            ..NewUser::with_email(email.clone(), Origin::Demo)
        };
        let user = store.create_user(m, &user).await?;
        let admin = CompanyRoles {
            company_admin: true,
            billing_admin: true,
            ..CompanyRoles::default()
        };
        store
            .set_membership(m, UserId(user), CompanyId(company), admin)
            .await?;
        let contact = Contact {
            kind: ContactKind::Primary,
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            email: Some(email),
            phone: None,
        };
        store.set_contact(m, company, &contact).await?;
        if i % 3 == 0 {
            store.set_reseller(m, company, reseller).await?;
        }
        let subscription = NewSubscription {
            external_id: Some(format!("DEMO-S{:03}", i + 1)),
            company_id: company,
            edition_id: editions[i % editions.len()],
            purchased_by: Some(user),
            units: i64::try_from(5 + i * 3)?,
            start_date: None,
            billing_start_date: None,
            end_date: None,
            billing_cycle: Some("MONTHLY".into()),
            term: Some("P1Y".into()),
            auto_renew: true,
            status: SubscriptionStatus::Active,
            vendor_subscription_id: None,
            custom_attributes: Default::default(),
            origin: Origin::Demo,
        };
        let subscription = store.create_subscription(m, &subscription).await?;
        store
            .assign_seat(m, SubscriptionId(subscription), UserId(user))
            .await?;
    }
    Ok((marketplace, editions[0]))
}

/// "Chloé" → "chloe", for e-mail addresses.
fn ascii_lower(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'é' | 'è' => 'e',
            'í' => 'i',
            'á' => 'a',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}
