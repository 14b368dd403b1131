//! `ferry admin …`: local administration, straight against the database.

use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use ferry_domain::{Email, MarketplaceKind, NewUser, Origin, Role, Slug, UserStatus};
use ferry_jobs::{BackgroundJob, Probe};
use ferry_storage::{Marketplace, NewMarketplace, Store, StoreError};

use crate::config::Config;
use crate::run::open_migrated;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a marketplace and print its slug.
    CreateMarketplace {
        /// The marketplace's name, as people see it.
        #[arg(long)]
        name: String,
        /// The slug to use instead of one derived from the name.
        #[arg(long)]
        slug: Option<String>,
        /// The parent marketplace's slug, for a tenant.
        #[arg(long, requires = "kind")]
        parent: Option<String>,
        /// What kind of tenant this is (with --parent).
        #[arg(long, value_enum, requires = "parent")]
        kind: Option<TenantKind>,
    },
    /// Make a simple tenant a tenant reseller by giving it the MPN id of one of its parent's
    /// indirect resellers (or take it back with `--mpn-id ""`).
    SetTenantReseller {
        /// The simple tenant's slug.
        #[arg(long)]
        marketplace: String,
        #[arg(long)]
        mpn_id: String,
    },
    /// Create a user who can sign in. The password comes from FERRY_PASSWORD, or is asked for.
    CreateUser {
        /// The marketplace's slug (not needed for a platform admin).
        #[arg(long)]
        marketplace: Option<String>,
        /// The e-mail address the user signs in with.
        #[arg(long)]
        email: String,
        /// The role the user holds.
        #[arg(long, value_parser = role_parser(), ignore_case = true)]
        role: Role,
        #[arg(long, help = "The user's first name.")]
        first_name: Option<String>,
        #[arg(long, help = "The user's last name.")]
        last_name: Option<String>,
    },
    /// Create an API token and print it, alone, on standard output.
    CreateToken {
        /// The marketplace's slug.
        #[arg(long)]
        marketplace: String,
        /// The role the token acts with (a marketplace role).
        #[arg(long, value_parser = role_parser(), ignore_case = true)]
        role: Role,
        /// What the token is for, to recognise it later.
        #[arg(long, default_value = "API token")]
        name: String,
    },
    /// Queue a probe job (N steps, one audit line each) and print its id: a way to see that
    /// workers run and survive restarts. With `--every-ms`, schedule one that often instead
    /// (and `--every-ms 0` removes the schedule): a way to see the scheduler at work.
    Probe {
        #[arg(long, default_value_t = 10)]
        steps: u32,
        #[arg(long, default_value_t = 500)]
        step_ms: u32,
        #[arg(long)]
        every_ms: Option<u32>,
    },
    /// Send the registration reminders due now, without waiting for the workers' next look
    /// (every ten minutes), and print how many went out.
    SendReminders {
        /// Send those due at this time instead (RFC 3339, e.g. 2026-12-02T09:00:00Z): a
        /// rehearsal of a later day.
        #[arg(long)]
        at: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TenantKind {
    Country,
    Simple,
}

impl From<TenantKind> for MarketplaceKind {
    fn from(kind: TenantKind) -> Self {
        match kind {
            TenantKind::Country => MarketplaceKind::CountryTenant,
            TenantKind::Simple => MarketplaceKind::SimpleTenant,
        }
    }
}

/// Roles as the command line takes them: their names listed in help and in an error.
fn role_parser() -> impl clap::builder::TypedValueParser<Value = Role> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Role::ALL.iter().map(|r| r.as_str()))
        .map(|name| name.parse::<Role>().expect("a listed role"))
}

pub async fn run(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    let store = open_migrated(config).await?;
    match command {
        AdminCommand::SendReminders { at } => {
            let now = match at {
                Some(text) => {
                    let at = time::OffsetDateTime::parse(
                        &text,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .with_context(|| format!("'{text}' is not a time like 2026-12-02T09:00:00Z"))?;
                    ferry_domain::Timestamp(
                        i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
                    )
                }
                None => ferry_storage::now(),
            };
            let public_url = config.public_url_or_listen();
            let sent = ferry_accounts::send_due_reminders(&*store, &public_url, now).await?;
            println!("{sent} registration reminders sent");
        }
        AdminCommand::CreateMarketplace {
            name,
            slug,
            parent,
            kind,
        } => {
            let parent = match parent {
                Some(slug) => Some(find_marketplace(&store, &slug, config).await?),
                None => None,
            };
            let kind = kind.map_or(MarketplaceKind::Distributor, MarketplaceKind::from);
            let slug = slug.as_deref().map(Slug::parse).transpose()?;
            let created = create_marketplace(&store, &name, slug, kind, parent.as_ref()).await?;
            println!("{}", created.slug);
        }
        AdminCommand::CreateUser {
            marketplace,
            email,
            role,
            first_name,
            last_name,
        } => {
            let email = Email::parse(&email)?;
            if role == Role::PlatformAdmin && marketplace.is_some() {
                bail!(
                    "a platform admin belongs to no marketplace: leave out --marketplace, or \
                     choose a marketplace role"
                );
            }
            let password = read_password()?;
            let hash = tokio::task::spawn_blocking(move || {
                ferry_accounts::credentials::hash_password(&password)
            })
            .await??;
            if role == Role::PlatformAdmin {
                store
                    .create_platform_admin(&email, &hash)
                    .await
                    .map_err(|e| explain_conflict(e, &email))?;
            } else {
                let Some(slug) = marketplace else {
                    bail!("--marketplace is required for the {role} role");
                };
                let marketplace = find_marketplace(&store, &slug, config).await?;
                let user = NewUser {
                    first_name,
                    last_name,
                    status: UserStatus::Active,
                    ..NewUser::with_email(email.clone(), Origin::Manual)
                };
                store
                    .create_staff(marketplace.id, &user, &hash, role)
                    .await
                    .map_err(|e| explain_conflict(e, &email))?;
            }
            eprintln!("Created {role} {email}.");
        }
        AdminCommand::SetTenantReseller {
            marketplace,
            mpn_id,
        } => {
            let tenant = find_marketplace(&store, &marketplace, config).await?;
            let mpn_id = mpn_id.trim();
            if !mpn_id.is_empty() && !ferry_domain::is_mpn_id(mpn_id) {
                bail!("'{mpn_id}' is not an MPN id: an MPN id is 4 to 10 digits");
            }
            let (Some(parent), MarketplaceKind::SimpleTenant) = (tenant.parent_id, tenant.kind)
            else {
                bail!(
                    "'{marketplace}' is not a simple tenant: only a simple tenant is a tenant reseller"
                );
            };
            let mpn = (!mpn_id.is_empty()).then_some(mpn_id);
            match store.set_reseller_mpn_id(parent, tenant.id, mpn).await {
                Err(StoreError::Conflict { .. }) => {
                    bail!("another tenant of the same parent already has the MPN id {mpn_id}")
                }
                other => other?,
            }
            match mpn {
                Some(mpn) => eprintln!("{} is the tenant reseller of MPN id {mpn}.", tenant.name),
                None => eprintln!("{} is no longer a tenant reseller.", tenant.name),
            }
        }
        AdminCommand::CreateToken {
            marketplace,
            role,
            name,
        } => {
            if role == Role::PlatformAdmin {
                bail!("API tokens act in one marketplace; choose a marketplace role");
            }
            let marketplace = find_marketplace(&store, &marketplace, config).await?;
            let (token, hash) = ferry_accounts::credentials::new_api_token();
            store
                .create_api_token(marketplace.id, &name, role, &hash)
                .await?;
            println!("{token}");
        }
        AdminCommand::Probe {
            steps,
            step_ms,
            every_ms,
        } => {
            let probe = Probe {
                steps,
                step_ms: u64::from(step_ms),
            };
            match every_ms {
                None => {
                    let id = store.enqueue_job(&probe.new_job()).await?;
                    println!("{id}");
                }
                Some(0) => {
                    store.remove_schedule(Probe::KIND, Probe::KIND).await?;
                    eprintln!("The probe is no longer scheduled.");
                }
                Some(every) => {
                    let schedule =
                        probe.schedule(Probe::KIND, i64::from(every), ferry_storage::now());
                    store.set_schedule(&schedule).await?;
                    eprintln!("A probe is queued every {every} ms.");
                }
            }
        }
    }
    Ok(())
}

/// The marketplace of `slug`; when there is none, the error names the database looked in, so
/// a command run from another directory (and so against another `./ferry-data`) says so.
pub async fn find_marketplace(
    store: &Arc<dyn Store>,
    slug: &str,
    config: &Config,
) -> anyhow::Result<Marketplace> {
    store.marketplace_by_slug(slug).await?.with_context(|| {
        format!(
            "no marketplace has the slug '{slug}' in the database {}",
            config.database_url_redacted()
        )
    })
}

/// Creates a marketplace, deriving its slug from the name (with a numeric suffix when taken)
/// unless one is given.
pub async fn create_marketplace(
    store: &Arc<dyn Store>,
    name: &str,
    slug: Option<Slug>,
    kind: MarketplaceKind,
    parent: Option<&Marketplace>,
) -> anyhow::Result<Marketplace> {
    kind.check_parent(parent.map(|p| p.kind))?;
    let name = name.trim();
    if name.is_empty() {
        bail!("the marketplace needs a name");
    }
    let chosen = slug.is_some();
    let base = match slug {
        Some(slug) => slug,
        None => Slug::from_name(name)
            .with_context(|| format!("cannot derive a slug from '{name}'; pass --slug"))?,
    };
    for attempt in 1..100 {
        let slug = if attempt == 1 {
            base.clone()
        } else {
            base.with_suffix(attempt)
        };
        let new = NewMarketplace {
            slug,
            name: name.to_owned(),
            kind,
            parent_id: parent.map(|p| p.id),
        };
        match store.create_marketplace(&new).await {
            Err(StoreError::Conflict { .. }) if !chosen => continue,
            Err(StoreError::Conflict { .. }) => {
                bail!("the slug '{base}' is taken by another marketplace")
            }
            other => return Ok(other?),
        }
    }
    bail!("no free slug near '{base}'; pass --slug")
}

fn explain_conflict(error: StoreError, email: &Email) -> anyhow::Error {
    match error {
        StoreError::Conflict { .. } => {
            anyhow::anyhow!("a user with the email {email} already exists")
        }
        other => other.into(),
    }
}

fn read_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("FERRY_PASSWORD") {
        return Ok(password);
    }
    let password = rpassword::prompt_password("Password: ")
        .context("no FERRY_PASSWORD and no terminal to ask for the password")?;
    let again = rpassword::prompt_password("Password (again): ")?;
    if password != again {
        bail!("the two passwords differ");
    }
    Ok(password)
}
