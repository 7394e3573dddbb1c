//! The daemon's maintenance job (issue 15): forget by `[retention]`, then prune, started through
//! the API (`POST /v1/maintenance`, with the bearer token) or by `[schedule] maintenance`; its
//! job record holds both reports; forget and prune are audited as the command line's, for the
//! token that queued the job or the daemon's job; the maintenance lock is released after.

use std::time::Duration;

use imvault::jobs::JobState;
use imvault::jobs::backup::BackupRequest;
use imvault_sim::MutateRequest;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::daemon::{Daemon, NEVER, TOKEN, free_port, write_config};
use crate::support::env::TestEnv;
use crate::support::restore::backed_up;
use crate::support::wait::wait_until;

/// A backed-up environment with two snapshots of every library; returns it and its libraries.
async fn two_snapshots_each(seed: u64) -> (TestEnv, usize) {
    let env = backed_up(seed).await;
    env.sim.mutate(&MutateRequest {
        new_versions: 2,
        ..Default::default()
    });
    let outcomes = env.backup(&BackupRequest::default()).await;
    for o in &outcomes {
        assert_eq!(o.state, JobState::Completed, "{o:?}");
    }
    let libraries = outcomes.len();
    assert_eq!(
        env.repo().await.list_snapshots(None).await.unwrap().len(),
        2 * libraries
    );
    (env, libraries)
}

/// The daemon's config with `[retention] keep_last = 1` and `maintenance` in `[schedule]`.
fn config(env: &TestEnv, port: u16, maintenance: &str) -> std::path::PathBuf {
    let path = write_config(env, port, NEVER, TOKEN);
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "[schedule]\n",
        &format!("[schedule]\nmaintenance = \"{maintenance}\"\n"),
        1,
    ) + "\n[retention]\nkeep_last = 1\n";
    std::fs::write(&path, text).unwrap();
    path
}

fn assert_forgot_and_pruned(job: &Value, libraries: usize) {
    assert_eq!(job["kind"], "maintenance", "{job:#}");
    assert_eq!(job["state"], "completed", "{job:#}");
    let result = &job["progress"]["result"];
    assert_eq!(result["forget"]["forgotten"], libraries as u64, "{job:#}");
    assert_eq!(result["forget"]["kept"], libraries as u64, "{job:#}");
    assert_eq!(result["prune"]["snapshots"], libraries as u64, "{job:#}");
    assert_eq!(result["prune"]["dry_run"], false, "{job:#}");
}

/// Without `[retention]` a maintenance request is refused at once (400 naming the table), not
/// queued to fail with the command line's advice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_without_retention_is_refused_at_once() {
    let env = backed_up(172).await;
    let port = free_port();
    let daemon = Daemon::start(&env, &write_config(&env, port, NEVER, TOKEN), port).await;
    let (s, e) = daemon.post("/v1/maintenance", "{}").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(e.to_string().contains("[retention]"), "{e}");
    let (_, jobs) = daemon.get("/v1/jobs").await;
    assert!(!jobs.to_string().contains("maintenance"), "{jobs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_through_the_api_forgets_prunes_and_is_audited() {
    let (env, libraries) = two_snapshots_each(171).await;
    let port = free_port();
    let daemon = Daemon::start(&env, &config(&env, port, "off"), port).await;

    let (s, e) = daemon.post("/v1/maintenance", r#"{"dryrun": true}"#).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(e.to_string().contains("dryrun"), "{e}");
    // A dry run reports and changes nothing.
    let dry = daemon
        .run_job("/v1/maintenance", r#"{"dry_run": true}"#)
        .await;
    assert_eq!(dry["state"], "completed", "{dry:#}");
    assert_eq!(dry["progress"]["result"]["forget"]["dry_run"], true);
    assert_eq!(
        env.repo().await.list_snapshots(None).await.unwrap().len(),
        2 * libraries
    );

    let job = daemon.run_job("/v1/maintenance", "{}").await;
    assert_forgot_and_pruned(&job, libraries);
    let repo = env.repo().await;
    assert_eq!(repo.list_snapshots(None).await.unwrap().len(), libraries);
    assert_eq!(
        imvault::repo::maint_lock::read(repo.objects())
            .await
            .unwrap(),
        None,
        "the maintenance lock is released"
    );

    let (s, all) = daemon.get("/v1/audit").await;
    assert_eq!(s, StatusCode::OK, "{all}");
    let of = |action: &str| -> Vec<Value> {
        all.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .cloned()
            .collect()
    };
    let forget = of("forget");
    assert_eq!(forget.len(), 1, "the dry run is not recorded: {all:#}");
    assert_eq!(forget[0]["actor"]["kind"], "token", "{all:#}");
    assert_eq!(forget[0]["actor"]["name"], "default", "{all:#}");
    assert_eq!(forget[0]["outcome"], "ok", "{all:#}");
    assert_eq!(
        forget[0]["figures"]["snapshots"], libraries as u64,
        "{all:#}"
    );
    let prune = of("prune");
    assert_eq!(prune.len(), 1, "{all:#}");
    assert_eq!(prune[0]["actor"]["name"], "default", "{all:#}");
    assert_eq!(prune[0]["outcome"], "ok", "{all:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_maintenance_runs_as_the_daemon() {
    let (env, libraries) = two_snapshots_each(172).await;
    let port = free_port();
    // Every second: the first slot after the daemon's start.
    let daemon = Daemon::start(&env, &config(&env, port, "* * * * * *"), port).await;
    let job = wait_until(
        "a scheduled maintenance job to finish",
        Duration::from_secs(90),
        async || {
            let (_, jobs) = daemon.get("/v1/jobs?kind=maintenance").await;
            // Newest first: the first scheduled run is the last of the page.
            let first = jobs["jobs"].as_array().and_then(|j| j.last()).cloned();
            let done = first.filter(|j| j["finished_at"].is_string());
            done.ok_or_else(|| format!("{jobs}\n{}", daemon.logs()))
        },
    )
    .await;
    assert_eq!(job["params"]["trigger"], "schedule", "{job:#}");
    assert!(job["params"]["slot"].is_string(), "{job:#}");
    assert_forgot_and_pruned(&job, libraries);
    let (_, all) = daemon.get("/v1/audit?action=forget").await;
    let all = all.as_array().unwrap();
    assert!(!all.is_empty());
    assert_eq!(all[0]["actor"]["kind"], "daemon", "{all:#?}");
    assert!(
        all[0]["actor"]["name"]
            .as_str()
            .unwrap()
            .starts_with("job "),
        "{all:#?}"
    );
}

/// `[repository.maintenance]`: the daemon's maintenance job deletes with the maintenance role's
/// credentials, and nothing else does; backups sign with the backup role's keys and delete
/// nothing (the backup role may hold no delete permission at all, README "IAM policies").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_maintenance_job_deletes_with_the_maintenance_credentials_only() {
    let Some(cfg) = crate::support::s3::s3_backend("maintcreds").await else {
        return;
    };
    let recorder = crate::support::s3::S3Recorder::start(cfg.endpoint.as_deref().unwrap()).await;
    let repository = format!(
        "url = \"{}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\nallow_http = true\naccess_key_id = \"backup-role\"\nsecret_access_key = \"backup-secret\"\npassword = \"{}\"\n\n[repository.maintenance]\naccess_key_id = \"maintenance-role\"\nsecret_access_key = \"maintenance-secret\"\n",
        cfg.url,
        recorder.endpoint(),
        crate::support::repo::TEST_PASSWORD,
    );
    let settings = imvault::config::Settings::from_toml(
        &format!("[repository]\n{repository}"),
        std::path::Path::new("test.toml"),
        &imvault::config::Env::default(),
    )
    .expect("config parses");
    let store = imvault::app::repository::open_store(&settings.repository).unwrap();
    let env = TestEnv::with_store(
        imvault_sim::SimOptions {
            seed: 173,
            scale: imvault_sim::Scale::Tiny,
            ..Default::default()
        },
        store,
        imvault::repo::config::DEFAULT_ZSTD_LEVEL,
    )
    .await;
    env.backup(&BackupRequest::default()).await;
    env.sim.mutate(&MutateRequest {
        new_versions: 2,
        ..Default::default()
    });
    let outcomes = env.backup(&BackupRequest::default()).await;
    assert!(outcomes.iter().all(|o| o.state == JobState::Completed));
    let libraries = outcomes.len();
    let backups = recorder.requests();
    assert!(
        backups.iter().any(|r| r.method == "PUT"),
        "the backups were recorded: {backups:?}"
    );
    assert!(
        backups
            .iter()
            .all(|r| r.key_id.as_deref() == Some("backup-role") && !r.deletes()),
        "backups sign with the backup role and delete nothing: {backups:?}"
    );

    // The daemon, on the same repository, runs maintenance (forget by keep_last = 1, prune).
    let port = free_port();
    let path = config(&env, port, "off");
    let text = std::fs::read_to_string(&path).unwrap();
    let local = text
        .lines()
        .find(|l| l.starts_with("url = \"file://"))
        .unwrap()
        .to_string();
    let password = format!("password = \"{}\"\n", crate::support::repo::TEST_PASSWORD);
    let text = text
        .replacen(&format!("{local}\n"), "", 1)
        .replacen(&password, &repository, 1);
    std::fs::write(&path, text).unwrap();
    let daemon = Daemon::start(&env, &path, port).await;
    let job = daemon.run_job("/v1/maintenance", "{}").await;
    assert_forgot_and_pruned(&job, libraries);

    let maintenance: Vec<_> = recorder.requests().split_off(backups.len());
    let deletes: Vec<_> = maintenance.iter().filter(|r| r.deletes()).collect();
    assert!(
        deletes.len() >= libraries,
        "forget and prune deleted through the recorder: {maintenance:?}"
    );
    for r in &deletes {
        assert_eq!(
            r.key_id.as_deref(),
            Some("maintenance-role"),
            "every deletion signs with the maintenance role: {r:?}"
        );
    }
    assert!(
        recorder.requests().iter().all(|r| r.key_id.is_some()),
        "every request is signed"
    );
}
