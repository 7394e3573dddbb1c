//! The verify job: [`run`] checks the repository's structure and, optionally, a rotating share
//! of its data (see `repo::verify`). The rotating cursor of `--read-data=PERCENT` is kept per
//! repository in `verify-state.json` in the state directory, so repeated runs cover every pack.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tracing::Instrument as _;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::jobs::maintenance::MaintenanceEnv;
use crate::jobs::progress::watch_packs;
use crate::repo::verify::{ReadData, VerifyOptions, VerifyProgress, VerifyReport};
use crate::repo::{PackId, RepoError};

/// A verify job's parameters (CLI flags, daemon job requests).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyRequest {
    /// Download and check this share of the packs (percent, 0 < p <= 100); `None`: structure
    /// only. Below 100 the share rotates from run to run.
    #[schema(exclusive_minimum = 0, maximum = 100)]
    pub read_data_percent: Option<f64>,
    /// Only the snapshots of this library (and the packs they use).
    pub library: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("--read-data percentage {0} is out of range (0 < PERCENT <= 100)")]
    BadPercent(f64),
    #[error("verifying the repository failed")]
    Repo(#[source] RepoError),
    #[error("checking the audit trail failed")]
    Audit(#[source] crate::audit::AuditError),
    #[error("saving the verify cursor to {path}")]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

const STATE_FILE: &str = "verify-state.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// Repository id → last pack read by a rotating run.
    cursors: BTreeMap<String, PackId>,
}

fn load_state(path: &Path) -> State {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save_state(path: &Path, state: &State) -> Result<(), VerifyError> {
    let err = |source| VerifyError::State {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        crate::private_fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(state).unwrap_or_default();
    crate::private_fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Runs one verify. Problems found are in the report (not an error); an error means the
/// verify itself could not run (e.g. the store cannot be listed).
#[tracing::instrument(name = "verify", skip_all, fields(library = req.library.as_deref().unwrap_or("*")))]
pub async fn run(env: &MaintenanceEnv, req: &VerifyRequest) -> Result<VerifyReport, VerifyError> {
    let state_path = env.state_dir.join(STATE_FILE);
    let repo_id = env.repo.config().id.clone();
    let mut state = load_state(&state_path);
    let read_data = match req.read_data_percent {
        None => ReadData::None,
        Some(p) if !(p > 0.0 && p <= 100.0) => return Err(VerifyError::BadPercent(p)),
        Some(p) if p >= 100.0 => ReadData::All,
        Some(p) => ReadData::Subset {
            percent: p,
            after: state.cursors.get(&repo_id).copied(),
        },
    };
    let opts = VerifyOptions {
        read_data,
        library: req.library.clone(),
        packs_in_flight: 4,
    };
    let progress = Arc::new(VerifyProgress::default());
    let stop = CancellationToken::new();
    let p = progress.clone();
    let reporter = tokio::spawn(
        watch_packs(
            env.progress.clone(),
            "verify",
            Arc::new(move || {
                (
                    p.packs_read.load(Ordering::Relaxed),
                    p.packs_to_read.load(Ordering::Relaxed),
                    p.bytes_read.load(Ordering::Relaxed),
                )
            }),
            stop.clone(),
        )
        .in_current_span(),
    );
    let result = env.repo.verify(&opts, &progress).await;
    stop.cancel();
    let _ = reporter.await;
    let mut rep = result.map_err(VerifyError::Repo)?;
    check_audit_chains(env, &mut rep).await?;
    if let (ReadData::Subset { .. }, Some(next)) = (read_data, rep.next_cursor) {
        state.cursors.insert(repo_id, next);
        save_state(&state_path, &state)?;
    }
    for p in &rep.problems {
        tracing::warn!(object = %p.object, kind = %p.kind, "{}", p.detail);
    }
    Ok(rep)
}

/// Every audit chain (records authentic, under their names, linked, none missing; the end this
/// host wrote still there), as problems of the report.
async fn check_audit_chains(
    env: &MaintenanceEnv,
    rep: &mut VerifyReport,
) -> Result<(), VerifyError> {
    use crate::audit::verify::{ChainProblemKind, verify_chains};
    use crate::repo::verify::{Problem, ProblemKind};
    let head = crate::audit::auditor::local_head(&crate::audit::auditor::head_file(
        &env.state_dir,
        &env.repo.config().id,
    ));
    let chains = verify_chains(
        env.repo.objects(),
        head.as_ref().map(|(w, t)| (w.as_str(), *t)),
    )
    .await
    .map_err(VerifyError::Audit)?;
    rep.audit_records = chains.records;
    rep.problems
        .extend(chains.problems.into_iter().map(|p| Problem {
            kind: match p.kind {
                ChainProblemKind::Record => ProblemKind::AuditRecord,
                ChainProblemKind::Chain => ProblemKind::AuditChain,
            },
            object: p.object,
            detail: p.detail,
        }));
    Ok(())
}
