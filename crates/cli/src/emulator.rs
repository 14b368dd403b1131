//! `ferry emulator …`: the local stand-ins for Partner Center and the Google Directory API.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use ferry_emulators::{Faults, google, partner_center};

#[derive(Debug, Subcommand)]
pub enum EmulatorCommand {
    /// Serve a Partner Center emulator (Entra token endpoints and the REST API) on one address.
    PartnerCenter(PartnerCenterArgs),
    /// Serve a Google Admin Directory `users.list` emulator with its OAuth token endpoint.
    GoogleDirectory(GoogleArgs),
}

#[derive(Debug, Args)]
pub struct FaultArgs {
    /// Milliseconds added to every answer.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Up to this many random milliseconds more.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Requests a minute the partner may make before answers turn to 429 with Retry-After.
    #[arg(long)]
    throttle_per_minute: Option<u32>,
    /// Requests a minute for one partner+customer pair.
    #[arg(long)]
    customer_throttle_per_minute: Option<u32>,
    /// The share of requests (0 to 1) answered with a 500 or 503.
    #[arg(long, default_value_t = 0.0)]
    fault_5xx_rate: f64,
    /// Start JSON bodies with a UTF-8 byte-order mark.
    #[arg(long)]
    bom: bool,
    /// Give `next` links without the `/v1` prefix.
    #[arg(long)]
    next_links_without_v1: bool,
    /// Send enum values in other casings (`Active`, `Monthly`).
    #[arg(long)]
    mixed_case_enums: bool,
}

impl From<FaultArgs> for Faults {
    fn from(a: FaultArgs) -> Self {
        Faults {
            latency_ms: a.latency_ms,
            jitter_ms: a.jitter_ms,
            throttle_per_minute: a.throttle_per_minute,
            customer_throttle_per_minute: a.customer_throttle_per_minute,
            fault_5xx_rate: a.fault_5xx_rate,
            bom: a.bom,
            next_links_without_v1: a.next_links_without_v1,
            mixed_case_enums: a.mixed_case_enums,
        }
    }
}

/// The Partner Center world both emulators build: the Google Directory serves the custom
/// domains of the same world's tenants.
#[derive(Debug, Args)]
pub struct WorldArgs {
    /// The same seed builds the same world.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many customers (up to 100,000 and more).
    #[arg(long, default_value_t = 200)]
    customers: usize,
    /// How many indirect resellers.
    #[arg(long, default_value_t = 4)]
    resellers: usize,
}

#[derive(Debug, Args)]
pub struct PartnerCenterArgs {
    #[arg(long, default_value = "127.0.0.1:8181")]
    listen: SocketAddr,
    #[command(flatten)]
    world: WorldArgs,
    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, default_value_t = 3599)]
    token_lifetime_s: u64,
    /// Write the world as JSON to this file at start.
    #[arg(long)]
    dump: Option<PathBuf>,
    #[arg(long)]
    partner_tenant_id: Option<String>,
    #[arg(long)]
    client_id: Option<String>,
    #[arg(long)]
    client_secret: Option<String>,
    #[arg(long)]
    refresh_token: Option<String>,
    /// The fewest users a customer has.
    #[arg(long, default_value_t = 1)]
    users_min: usize,
    /// The most users a customer has.
    #[arg(long, default_value_t = 6)]
    users_max: usize,
    #[command(flatten)]
    faults: FaultArgs,
}

#[derive(Debug, Args)]
pub struct GoogleArgs {
    #[arg(long, default_value = "127.0.0.1:8182")]
    listen: SocketAddr,
    #[command(flatten)]
    world: WorldArgs,
    /// Where to write the service account's JSON key (the same seed makes the same key);
    /// a file in the temporary directory when not given.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Also accept this fixed bearer token, without the token exchange.
    #[arg(long)]
    static_token: Option<String>,
    #[command(flatten)]
    faults: FaultArgs,
}

pub async fn run(command: EmulatorCommand) -> anyhow::Result<()> {
    match command {
        EmulatorCommand::PartnerCenter(args) => {
            let emulator = partner_center::Emulator::new(partner_center::Options {
                seed: args.world.seed,
                customers: args.world.customers,
                resellers: args.world.resellers,
                faults: args.faults.into(),
                token_lifetime_s: args.token_lifetime_s,
                partner_tenant_id: args.partner_tenant_id,
                client_id: args.client_id,
                client_secret: args.client_secret,
                refresh_token: args.refresh_token,
                users_per_customer: (args.users_min, args.users_max.max(args.users_min)),
            });
            if let Some(path) = &args.dump {
                std::fs::write(path, emulator.world_json())
                    .with_context(|| format!("cannot write the world to {}", path.display()))?;
            }
            let listener = bind(args.listen).await?;
            let url = format!("http://{}", listener.local_addr()?);
            let c = emulator.credentials();
            println!(
                "Partner Center emulator: {} customers, {} resellers",
                args.world.customers, args.world.resellers
            );
            println!("partner_tenant_id: {}", c.partner_tenant_id);
            println!("client_id: {}", c.client_id);
            println!("client_secret: {}", c.client_secret);
            println!("refresh_token: {}", c.refresh_token);
            println!("admin: {url}/_admin/stats");
            println!("base_url: {url}");
            serve(listener, emulator.router()).await
        }
        EmulatorCommand::GoogleDirectory(args) => {
            let emulator = google::Emulator::new(google::Options {
                seed: args.world.seed,
                customers: args.world.customers,
                resellers: args.world.resellers,
                faults: args.faults.into(),
                static_token: args.static_token,
            });
            let listener = bind(args.listen).await?;
            let address = listener.local_addr()?;
            let url = format!("http://{address}");
            let key_file = args.key_file.unwrap_or_else(|| {
                std::env::temp_dir().join(format!("ferry-google-emulator-{}.json", address.port()))
            });
            std::fs::write(&key_file, emulator.service_account_key(&url))
                .with_context(|| format!("cannot write the key to {}", key_file.display()))?;
            println!(
                "Google Directory emulator: {} Workspace customers",
                emulator.customers().len()
            );
            println!("key_file: {}", key_file.display());
            println!("admin: {url}/_admin/customers");
            println!("base_url: {url}");
            serve(listener, emulator.router()).await
        }
    }
}

async fn bind(address: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))
}

async fn serve(listener: tokio::net::TcpListener, router: axum::Router) -> anyhow::Result<()> {
    ferry_emulators::serve(listener, router, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
