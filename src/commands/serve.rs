//! `imvault serve`: the daemon. Wires the library parts together (queue, scheduler, workers,
//! API, systemd notifications, signals) and drains them on SIGTERM.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::runtime;
use super::{Exit, config_path, load_settings};
use crate::app::state::open_catalog;
use crate::catalog::SharedCatalog;
use crate::config::Settings;
use crate::daemon::workers::StopReason;
use crate::daemon::{self, DaemonLock, DaemonState, Metrics, Queue, notify, scheduler, signals};

pub fn run(config: Option<&Path>) -> anyhow::Result<Exit> {
    let path = config_path(config);
    let settings = load_settings(config)?;
    runtime()?.block_on(serve(settings, &path))
}

async fn serve(settings: Settings, config: &Path) -> anyhow::Result<Exit> {
    let tokens = daemon::read_api_tokens(&settings)?;
    let _lock = DaemonLock::acquire(&settings.catalog_path)?;
    let open = |settings: Settings| async move {
        tokio::task::spawn_blocking(move || open_catalog(&settings))
            .await
            .context("opening the catalog")?
            .map_err(anyhow::Error::from)
    };
    let catalog = open(settings.clone()).await?;
    let reader = open(settings.clone()).await?;
    let queue = Queue::with_reader(SharedCatalog::new(catalog), SharedCatalog::new(reader));
    let requeued = queue
        .requeue_interrupted()
        .await
        .context("requeueing the jobs a previous daemon left running")?;
    let listen = settings.api.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} (api.listen)"))?;
    let workers = settings.daemon.workers.get();
    let drain = Duration::from_secs(settings.daemon.drain_timeout_secs);
    let (settings_tx, _) = watch::channel(Arc::new(settings));
    let state = Arc::new(DaemonState {
        queue,
        settings: settings_tx,
        client: RwLock::new(None),
        sign_in_error: RwLock::new(None),
        api_tokens: RwLock::new(tokens),
        audit: Default::default(),
        running: Mutex::new(HashMap::new()),
        shutdown: CancellationToken::new(),
        metrics: Metrics::default(),
        started_at: chrono::Utc::now(),
        next_runs: Mutex::new(HashMap::new()),
        sign_in_task: Mutex::new(None),
    });
    tracing::info!(listen = %listen, workers, requeued = requeued.len(), "imvault daemon starting");
    daemon::workers::purge_old_jobs(&state).await;

    daemon::spawn_sign_in(&state);
    let sched = tokio::spawn(scheduler::run(state.clone()));
    let pool = tokio::spawn(daemon::workers::run_pool(state.clone(), workers));
    let watchdog = tokio::spawn(notify::watchdog(state.shutdown.clone()));
    let server = {
        let app = crate::api::router(state.clone());
        let stop = state.shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        })
    };
    notify::ready(&format!(
        "serving the API on {listen}; {workers} workers; {} interrupted jobs requeued",
        requeued.len()
    ));

    let stopped = signals::wait_for_stop(state.clone(), config).await;
    if let Err(e) = &stopped {
        tracing::error!(error = %e, "cannot wait for signals; stopping");
    }

    // Drain: no new jobs, running ones stop at a checkpoint and go back to the queue.
    notify::stopping("draining: running jobs stop at their next checkpoint");
    state.shutdown.cancel();
    let running = state.running_jobs();
    for r in &running {
        r.stop(StopReason::Shutdown);
    }
    tracing::info!(
        running = running.len(),
        drain_timeout_s = drain.as_secs(),
        "draining"
    );
    let drained = tokio::time::timeout(drain, pool).await.is_ok();
    if !drained {
        tracing::warn!(
            "drain timeout: jobs still running are requeued when the daemon starts again"
        );
    }
    sched.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    let _ = watchdog.await;
    if let Some(client) = state.client() {
        let _ = tokio::time::timeout(Duration::from_secs(5), client.revoke()).await;
    }
    tracing::info!(drained, "imvault daemon stopped");
    stopped.context("waiting for signals")?;
    Ok(if drained {
        Exit::Success
    } else {
        Exit::Failure
    })
}
