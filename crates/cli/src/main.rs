//! `ferry`: the one binary — server, workers, migrations, administration and the demo.

mod admin;
mod catalog;
mod config;
mod datasets;
mod demo;
mod emulator;
mod google;
mod hierarchy;
mod imports;
mod remote;
mod run;
mod sync;
mod users;
mod workers;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    about = "Bring a marketplace's customers in and keep them in sync with Microsoft Partner Center."
)]
struct Cli {
    /// A TOML configuration file (default: ./ferry.toml when it exists).
    #[arg(long, global = true, env = "FERRY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the web UI and API, and run background workers.
    Serve,
    /// Run background workers only.
    Worker,
    /// Apply database migrations that have not been applied yet.
    Migrate,
    /// Create marketplaces, users and API tokens, directly in the database.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Start a ready-to-use demo on this machine: data, a manager login, the server.
    Demo(demo::DemoArgs),
    /// Partner Center instances of the marketplace (through a running Ferry's API).
    Instance {
        #[command(flatten)]
        api: remote::Api,
        #[command(subcommand)]
        command: remote::InstanceCommand,
    },
    /// Get Hierarchy: an instance's tenants from Partner Center (through a running Ferry's
    /// API).
    Hierarchy {
        #[command(flatten)]
        api: remote::Api,
        #[command(subcommand)]
        command: hierarchy::HierarchyCommand,
    },
    /// An instance's tenants as the marketplace's audit sees them (through a running Ferry's
    /// API).
    Tenants {
        #[command(flatten)]
        api: remote::Api,
        #[command(subcommand)]
        command: hierarchy::TenantsCommand,
    },
    /// The catalog: products, editions and their Microsoft offer ids (through a running
    /// Ferry's API).
    Catalog {
        #[command(flatten)]
        api: remote::Api,
        #[command(subcommand)]
        command: catalog::CatalogCommand,
    },
    /// Import Customers: bring tenants of an instance's list in (through a running Ferry's API).
    Import {
        #[command(flatten)]
        api: remote::Api,
        #[command(flatten)]
        args: imports::ImportArgs,
    },
    /// Import Results: a run's tenants and subscriptions, as a table or CSV, and retrying what
    /// failed (through a running Ferry's API).
    Results {
        #[command(flatten)]
        api: remote::Api,
        #[command(flatten)]
        args: imports::ResultsArgs,
    },
    /// The marketplace's users and invitations (through a running Ferry's API).
    Users {
        #[command(flatten)]
        api: remote::Api,
        #[command(subcommand)]
        command: users::UsersCommand,
    },
    /// Company Sync and Pending Companies (through a running Ferry's API).
    Sync {
        #[command(flatten)]
        api: remote::Api,
        #[command(subcommand)]
        command: sync::SyncCommand,
    },
    /// The Google Workspace connection of User Sync (through a running Ferry's API).
    Google {
        #[command(flatten)]
        api: remote::Api,
        #[command(subcommand)]
        command: google::GoogleCommand,
    },
    /// A company's links to other services (through a running Ferry's API).
    Company {
        #[command(flatten)]
        api: remote::Api,
        #[command(subcommand)]
        command: google::CompanyCommand,
    },
    /// Datasets: bulk CSV migration (through a running Ferry's API).
    Dataset {
        #[command(flatten)]
        api: remote::Api,
        #[command(subcommand)]
        command: datasets::DatasetCommand,
    },
    /// Run a local emulator of Partner Center or the Google Directory API.
    #[command(subcommand)]
    Emulator(emulator::EmulatorCommand),
}

fn main() -> ExitCode {
    ferry_integrations::install_tls();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, with the causes: scripts show it as it is.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    init_logging(&config);
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => run::serve(&config).await,
            Command::Worker => run::workers_only(&config).await,
            Command::Migrate => run::migrate(&config).await,
            Command::Admin(command) => admin::run(&config, command).await,
            Command::Demo(args) => demo::run(config, args).await,
            Command::Emulator(command) => emulator::run(command).await,
            Command::Instance { api, command } => remote::instance(&api, command).await,
            Command::Dataset { api, command } => datasets::run(&api, command).await,
            Command::Hierarchy { api, command } => hierarchy::run(&api, command).await,
            Command::Tenants { api, command } => hierarchy::tenants(&api, command).await,
            Command::Import { api, args } => imports::import(&api, args).await,
            Command::Catalog { api, command } => catalog::run(&api, command).await,
            Command::Results { api, args } => imports::results(&api, args).await,
            Command::Sync { api, command } => sync::run(&api, command).await,
            Command::Users { api, command } => users::run(&api, command).await,
            Command::Google { api, command } => google::google(&api, command).await,
            Command::Company { api, command } => google::company(&api, command).await,
        }
    });
    // Blocking work still running (a request waiting on the database) does not hold the
    // process once the command is done.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

/// Logs go to standard error, so standard output stays for what scripts capture.
fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_json {
        // One object a line, with the spans (request id, job id) each line happened in.
        logs.json()
            .with_current_span(true)
            .with_span_list(true)
            .init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
