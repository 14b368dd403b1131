//! The long-running commands: `serve`, `worker`, and `migrate` which both rely on.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferry_accounts::InviteUsers;
use ferry_datasets::{ActivateDataset, ProvisionDataset, TenantLookup, ValidateDataset};
use ferry_integrations::mail::SmtpMailer;
use ferry_integrations::webhook::WebhookClient;
use ferry_jobs::{DeliverEmail, Probe, Scheduler, SystemClock, Worker, WorkerConfig};
use ferry_server::AppState;
use ferry_storage::Store;
use ferry_tenants::{Clients, InstanceLookup};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;

/// Opens the configured database, creating the data directory for SQLite.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
    }
    ferry_storage::connect(&config.database_url)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                config.database_url_redacted()
            )
        })
}

/// Opens the database and brings its schema up to date.
pub async fn open_migrated(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = open_store(config).await?;
    let applied = store.migrate().await?;
    if applied > 0 {
        tracing::info!(
            applied,
            backend = store.backend().name(),
            "database migrated"
        );
    }
    Ok(store)
}

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let applied = store.migrate().await?;
    if applied == 0 {
        println!("The database is up to date.");
    } else {
        println!("Applied {applied} migration(s).");
    }
    Ok(())
}

pub async fn serve(config: &Config) -> anyhow::Result<()> {
    let store = open_migrated(config).await?;
    serve_store(config, store, |url| println!("Ferry is listening on {url}")).await
}

/// Serves HTTP and runs the workers until Ctrl-C or SIGTERM; `announce` receives the URL once
/// the port is bound.
pub async fn serve_store(
    config: &Config,
    store: Arc<dyn Store>,
    announce: impl FnOnce(&str),
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    let url = format!("http://{address}");
    announce(&url);
    let public_url = config.public_url.clone().unwrap_or(url);

    let (stop, stopped) = watch::channel(false);
    // The pages and the workers share one Partner Center client per instance.
    let clients = Clients::default();
    let mut workers = spawn_workers(config, &store, &stopped, &public_url, &clients)?;
    let state = AppState {
        clients,
        ..AppState::new(store, public_url, config.secure_cookies, config.sealer()?)
    };
    ferry_server::serve(listener, state, shutdown_signal()).await?;
    stop.send_replace(true);
    while workers.join_next().await.is_some() {}
    Ok(())
}

pub async fn workers_only(config: &Config) -> anyhow::Result<()> {
    let store = open_migrated(config).await?;
    let (stop, stopped) = watch::channel(false);
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen));
    let mut workers = spawn_workers(config, &store, &stopped, &public_url, &Clients::default())?;
    tracing::info!(count = config.workers, "workers running; stop with Ctrl-C");
    shutdown_signal().await;
    stop.send_replace(true);
    while workers.join_next().await.is_some() {}
    Ok(())
}

fn spawn_workers(
    config: &Config,
    store: &Arc<dyn Store>,
    stopped: &watch::Receiver<bool>,
    public_url: &str,
    clients: &Clients,
) -> anyhow::Result<JoinSet<()>> {
    let settings = WorkerConfig {
        lease: config.job_lease,
        ..WorkerConfig::default()
    };
    let mailer = match &config.smtp_url {
        Some(url) => Some(Arc::new(
            SmtpMailer::new(url, &config.smtp_from).context("cannot use the SMTP settings")?,
        )),
        None => None,
    };
    let sealer = config.sealer()?;
    let webhook = WebhookClient::new(Duration::from_secs(1))
        .map_err(|e| anyhow::anyhow!("cannot make the webhook client: {e}"))?;
    let microsoft: Arc<dyn TenantLookup> = Arc::new(InstanceLookup {
        store: store.clone(),
        sealer: sealer.clone(),
        clients: clients.clone(),
    });
    let mut set = JoinSet::new();
    for n in 0..config.workers {
        // Unique across every process sharing the database: host, process and slot.
        let id = format!("{}:{}:{n}", host_name(), std::process::id());
        let worker = Worker::new(id, store.clone(), settings.clone())
            .with_handler(Probe)
            .with_handler(ValidateDataset {
                microsoft: Some(microsoft.clone()),
            })
            .with_handler(ActivateDataset)
            .with_handler(ProvisionDataset {
                sealer: sealer.clone(),
                webhook: webhook.clone(),
            })
            .with_handler(InviteUsers {
                public_url: public_url.to_owned(),
            })
            .with_handler(DeliverEmail {
                mailer: mailer.clone(),
            });
        let stopped = stopped.clone();
        set.spawn(async move { worker.run(stopped).await });
    }
    let scheduler = Scheduler::new(store.clone(), Arc::new(SystemClock), config.scheduler_tick);
    let stopped = stopped.clone();
    set.spawn(async move { scheduler.run(stopped).await });
    Ok(set)
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
