//! Issue 18: a backup rides out a storage outage. The S3 endpoint goes away in the middle of a
//! backup (connections refused) and comes back: the backup waits, reports the wait, and ends
//! `completed` with every version readable. An outage longer than `outage_wait_secs` fails the
//! run, but the checkpoints made after a bounded amount of data keep what it downloaded.

use std::time::Duration;

use imvault::jobs::JobState;
use imvault::jobs::backup::BackupRequest;
use imvault::jobs::progress::LiveCounters;
use imvault::repo::{Repository, open_backend};
use imvault_sim::{Scale, SimOptions};

use crate::support::env::{TestEnv, versions_of};
use crate::support::s3::{S3Outage, s3_backend};
use crate::support::wait::wait_for;

/// Versions downloaded so far by the running backup.
fn downloaded(live: &LiveCounters) -> u64 {
    live.snapshot()
        .values()
        .map(|c| c.versions_downloaded)
        .sum()
}

/// A 300-version library behind a rate limit (the backup takes a while) and an S3 repository
/// reached through `S3Outage`, with `outage_wait_secs`.
async fn env_behind_proxy(seed: u64, outage_wait_secs: u64) -> Option<(TestEnv, S3Outage)> {
    let mut cfg = s3_backend("vault").await?;
    let proxy = S3Outage::start(cfg.endpoint.as_deref().unwrap()).await;
    cfg.endpoint = Some(proxy.endpoint());
    cfg.outage_wait_secs = Some(outage_wait_secs);
    let mut env = TestEnv::new(SimOptions {
        seed,
        scale: Scale::Versions(300),
        libraries: 1,
        rate_limit: Some(60.0),
        ..SimOptions::default()
    })
    .await;
    env.store = open_backend(&cfg).unwrap();
    Repository::init(
        env.store.clone(),
        crate::support::repo::init_options(),
        crate::support::repo::key(),
    )
    .await
    .unwrap();
    Some((env, proxy))
}

fn opts(live: &LiveCounters) -> BackupRequest {
    BackupRequest {
        live: Some(live.clone()),
        // Checkpoints (packs, index, resume record: writes to the store) every 64 KiB of
        // downloads, none by the clock.
        checkpoint_bytes: 64 * 1024,
        checkpoint_every: Duration::from_secs(3600),
        ..BackupRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_waits_out_a_minute_long_storage_outage_and_completes() {
    a_backup_waits_out_a_minute_long_outage().await;
    an_outage_past_the_wait_fails_the_run_but_its_early_checkpoints_keep_the_downloads().await;
    assert_eq!(
        imvault::repo::outage::status().waiting_secs,
        0,
        "no call left waiting"
    );
}

async fn a_backup_waits_out_a_minute_long_outage() {
    let Some((env, mut proxy)) = env_behind_proxy(61, 600).await else {
        return;
    };
    let live = LiveCounters::default();
    let before = imvault::repo::outage::status();
    let drive = async {
        wait_for(
            "a few versions downloaded",
            Duration::from_secs(120),
            || downloaded(&live) >= 20,
        )
        .await;
        proxy.stop().await;
        // The backup says it waits (progress), and keeps waiting for a minute.
        wait_for(
            "the storage unreachable for 60 s",
            Duration::from_secs(180),
            || imvault::repo::outage::status().waiting_secs >= 60,
        )
        .await;
        let stalled = downloaded(&live);
        proxy.resume();
        stalled
    };
    let o = opts(&live);
    let (out, stalled) = tokio::join!(env.backup(&o), drive);
    let o = &out[0];
    assert_eq!(o.state, JobState::Completed, "{o:?}");
    assert!(o.counters.versions_downloaded > stalled, "{o:?}");
    let after = imvault::repo::outage::status();
    assert!(after.outages > before.outages, "{before:?} {after:?}");
    assert!(after.waited_secs >= before.waited_secs + 60, "{after:?}");
    assert_eq!(after.waiting_secs, 0);
    // Every version reads back as the source has it.
    let repo = env.repo().await;
    let snap = repo.list_snapshots(None).await.unwrap().pop().unwrap();
    let all = versions_of(&repo, &snap).await;
    assert_eq!(all.len() as u64, o.counters.versions);
    for (id, bytes) in all {
        assert_eq!(
            env.sim.version_bytes(&id).as_deref(),
            Some(&bytes[..]),
            "{id}"
        );
    }
}

/// Part of the test above (the outage status is the process's: the two must not overlap).
async fn an_outage_past_the_wait_fails_the_run_but_its_early_checkpoints_keep_the_downloads() {
    let Some((env, mut proxy)) = env_behind_proxy(62, 1).await else {
        return;
    };
    let live = LiveCounters::default();
    let drive = async {
        wait_for(
            "a few versions downloaded",
            Duration::from_secs(120),
            || downloaded(&live) >= 30,
        )
        .await;
        proxy.stop().await;
    };
    let o = opts(&live);
    let (out, ()) = tokio::join!(env.backup(&o), drive);
    assert_eq!(out[0].state, JobState::Failed, "{:?}", out[0]);
    let stored_before_outage = downloaded(&live);
    proxy.resume();
    // The next run resumes from the checkpoints written after 64 KiB each (the clock's first
    // checkpoint, an hour away, never came).
    let again = env
        .backup(&BackupRequest {
            checkpoint_every: Duration::from_secs(3600),
            ..BackupRequest::default()
        })
        .await;
    let o = &again[0];
    assert_eq!(o.state, JobState::Completed, "{o:?}");
    assert!(
        o.resumed_versions >= 20,
        "downloads before the outage kept ({stored_before_outage} downloaded): {o:?}"
    );
    assert!(o.counters.versions_downloaded + o.resumed_versions >= o.counters.versions - 5);
}
