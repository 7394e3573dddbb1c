//! A backup of a corpus made with `--size-divisor` (the simulator alone is checked in
//! crates/imvault-sim/tests/http/divisor.rs): every version is stored, byte for byte, and verifies.

use std::num::NonZeroU64;

use imvault::jobs::JobState;
use imvault::jobs::backup::BackupRequest;
use imvault_sim::{Scale, SimOptions};

use crate::support::env::{TestEnv, versions_of};
use crate::support::maint::verify_all;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_of_a_divided_corpus_restores_byte_for_byte_and_verifies() {
    let env = TestEnv::new(SimOptions {
        seed: 5,
        scale: Scale::Small,
        size_divisor: NonZeroU64::new(50).unwrap(),
        ..SimOptions::default()
    })
    .await;
    let outcomes = env.backup(&BackupRequest::default()).await;
    let repo = env.repo().await;
    let mut total = 0;
    for o in &outcomes {
        assert_eq!(o.state, JobState::Completed, "{o:?}");
        let summary = env.sim.library_summary(&o.library).unwrap();
        assert_eq!(o.counters.versions, summary.versions, "{}", o.library);
        let snap = repo
            .latest_snapshot(&o.library, None)
            .await
            .unwrap()
            .expect("a snapshot");
        let versions = versions_of(&repo, &snap).await;
        assert_eq!(versions.len() as u64, summary.versions, "{}", o.library);
        let stored: u64 = versions.values().map(|b| b.len() as u64).sum();
        assert_eq!(stored, summary.bytes, "{}", o.library);
        for (id, bytes) in &versions {
            assert!(
                env.sim.version_bytes(id).as_deref() == Some(bytes.as_slice()),
                "{id}: stored bytes differ from the simulator's"
            );
        }
        total += versions.len();
    }
    assert!(total > 1000, "small has about 2,000 versions, got {total}");
    let report = verify_all(&env.store).await;
    assert!(report.is_ok(), "{report:?}");
}
