//! The background side of `serve` and `worker`: the workers with every kind of job, and the
//! scheduler. Built from the feature crates and `ferry-jobs` only — never from the HTTP crate.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferry_accounts::{InviteUsers, SendReminders};
use ferry_datasets::{
    ActivateDataset, Connectors, ProvisionDataset, ReclaimStaging, TenantLookup, UndoDataset,
    ValidateDataset,
};
use ferry_integrations::mail::SmtpMailer;
use ferry_integrations::webhook::WebhookClient;
use ferry_jobs::{
    BackgroundJob, DeliverEmail, Probe, Scheduler, SystemClock, Worker, WorkerConfig,
};
use ferry_storage::Store;
use ferry_tenants::sync::CompanySync;
use ferry_tenants::users::UserSync;
use ferry_tenants::{Clients, GetHierarchy, HierarchyEnv, ImportTenants, InstanceLookup};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;

/// Starts `config.workers` workers and one scheduler, which stop when `stopped` turns true.
/// `clients` are the Partner Center clients the process shares with its pages.
pub fn spawn_workers(
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
            .with_job::<Probe>(())
            .with_job::<ValidateDataset>(Some(microsoft.clone()))
            .with_job::<ActivateDataset>(())
            .with_job::<ProvisionDataset>(Connectors {
                sealer: sealer.clone(),
                webhook: webhook.clone(),
            })
            .with_job::<ReclaimStaging>(())
            .with_job::<UndoDataset>(())
            .with_job::<GetHierarchy>(HierarchyEnv {
                sealer: sealer.clone(),
                clients: clients.clone(),
                google: Default::default(),
            })
            .with_job::<CompanySync>(HierarchyEnv {
                sealer: sealer.clone(),
                clients: clients.clone(),
                google: Default::default(),
            })
            .with_job::<UserSync>(HierarchyEnv {
                sealer: sealer.clone(),
                clients: clients.clone(),
                google: Default::default(),
            })
            .with_job::<ImportTenants>(public_url.to_owned())
            .with_job::<InviteUsers>(public_url.to_owned())
            .with_job::<SendReminders>(public_url.to_owned())
            .with_job::<DeliverEmail>(mailer.clone());
        let stopped = stopped.clone();
        set.spawn(async move { worker.run(stopped).await });
    }
    let scheduler = Scheduler::new(store.clone(), Arc::new(SystemClock), config.scheduler_tick);
    let stopped = stopped.clone();
    // Registration reminders are looked for every ten minutes, whichever process does it.
    let reminders = SendReminders::default().schedule("all", 10 * 60_000, ferry_storage::now());
    let store = store.clone();
    set.spawn(async move {
        if let Err(error) = store.set_schedule(&reminders).await {
            tracing::warn!(%error, "registration reminders are not scheduled");
        }
        scheduler.run(stopped).await
    });
    Ok(set)
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
