//! The long-running commands: `serve`, `worker`, and `migrate` which both rely on.

use std::sync::Arc;

use anyhow::Context;
use ferry_server::AppState;
use ferry_storage::Store;
use ferry_tenants::Clients;
use tokio::sync::watch;

use crate::config::Config;
use crate::workers::spawn_workers;

/// Creates the data directory for its owner alone (or makes it so): it holds the database
/// and the key that seals secrets.
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Opens the configured database, creating the data directory for SQLite.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    if config.database_url.starts_with("sqlite:") {
        private_dir(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
    }
    ferry_storage::connect_with_files(&config.database_url, &config.files)
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
    serve_metrics(config, &store, &stopped).await?;
    // The pages and the workers share one Partner Center client per instance.
    let clients = Clients::default();
    let mut workers = spawn_workers(config, &store, &stopped, &public_url, &clients)?;
    let state = AppState {
        clients,
        partner_center_local: config.partner_center_local,
        sends_mail: config.smtp_url.is_some(),
        metrics_token: config.metrics_token.clone(),
        ..AppState::new(store, public_url, config.secure_cookies, config.sealer()?)
    };
    let mut until_stopped = stopped.clone();
    let server = tokio::spawn(ferry_server::serve(listener, state, async move {
        let _ = until_stopped.wait_for(|stop| *stop).await;
    }));
    shutdown_signal().await;
    stop.send_replace(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while workers.join_next().await.is_some() {}
        server.await
    })
    .await;
    match drained {
        Ok(served) => served??,
        Err(_) => tracing::warn!(
            "requests were still in flight {} s after the stop signal; stopping anyway",
            SHUTDOWN_GRACE.as_secs()
        ),
    }
    Ok(())
}

/// Records metrics from now on, and serves them alone on the metrics address when one is set.
async fn serve_metrics(
    config: &Config,
    store: &Arc<dyn Store>,
    stopped: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    ferry_server::metrics::install();
    let Some(address) = config.metrics_listen else {
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} for metrics"))?;
    tracing::info!(%address, "metrics served at /metrics");
    let mut until_stopped = stopped.clone();
    let router = ferry_server::metrics::router(store.clone());
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = until_stopped.wait_for(|stop| *stop).await;
            })
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "the metrics address stopped");
        }
    });
    Ok(())
}

/// How long a stop signal leaves requests in flight to finish. Jobs stop at once: each is
/// queued again and resumes from its last checkpoint.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

pub async fn workers_only(config: &Config) -> anyhow::Result<()> {
    let store = open_migrated(config).await?;
    let (stop, stopped) = watch::channel(false);
    serve_metrics(config, &store, &stopped).await?;
    let public_url = config.public_url_or_listen();
    let mut workers = spawn_workers(config, &store, &stopped, &public_url, &Clients::default())?;
    tracing::info!(count = config.workers, "workers running; stop with Ctrl-C");
    shutdown_signal().await;
    stop.send_replace(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, async {
        while workers.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!("workers were still stopping after the stop signal; stopping anyway");
    }
    Ok(())
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
