//! [`Auditor`]: how an action is recorded. Every audited action is two records of the same
//! writer: `started` (with the parameters) is written **before anything is done**, and an
//! action whose `started` record cannot be written does not run; `finished` (outcome and
//! figures) after. An action whose `finished` record cannot be written has happened: its
//! command fails saying so, and `imvault audit` shows its outcome as unknown.
//!
//! ```ignore
//! let pending = auditor.start(Action::HoldAdd { .. }).await?; // nothing done yet
//! let r = do_the_work().await;
//! pending.finish_with(&r, Figures::default()).await?;
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::AuditError;
use super::chain::{self, Tail};
use super::record::{Action, ActionKind, Actor, Event, Figures, Outcome, RECORD_VERSION, Record};
use crate::repo::Objects;

/// The file of the state directory holding this host's writer id.
pub const WRITER_FILE: &str = "audit-writer";
/// The files of the state directory remembering the last record this writer wrote into each
/// repository: `audit-head-<repository id>.json`.
pub const HEAD_PREFIX: &str = "audit-head-";
/// Debug builds only: when set, every audit write fails as a refusing store would (tests of
/// the failure path run the binary with it).
pub const FAIL_ENV: &str = "IMVAULT_TEST_AUDIT_FAIL";

/// This state directory's writer id (created, random, on first use).
pub fn writer_id(state_dir: &Path) -> Result<String, AuditError> {
    let path = state_dir.join(WRITER_FILE);
    let io = |source| AuditError::State {
        path: path.clone(),
        source,
    };
    if let Ok(text) = std::fs::read_to_string(&path) {
        let w = text.trim().to_string();
        if chain::valid_writer(&w) {
            return Ok(w);
        }
        return Err(AuditError::BadWriterFile { path });
    }
    crate::private_fs::create_dir_all(state_dir).map_err(io)?;
    let id = hex::encode(
        crate::repo::crypto::random::<16>().map_err(|e| AuditError::State {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?,
    );
    use std::io::Write as _;
    match crate::private_fs::options()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(mut f) => {
            f.write_all(format!("{id}\n").as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(io)?;
            Ok(id)
        }
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => writer_id(state_dir),
        Err(e) => Err(io(e)),
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct HeadFile {
    writer: String,
    seq: u64,
    hash: String,
}

/// The file remembering the last record this state directory's writer wrote into the
/// repository `repository_id`.
pub fn head_file(state_dir: &Path, repository_id: &str) -> PathBuf {
    let safe: String = repository_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    state_dir.join(format!("{HEAD_PREFIX}{safe}.json"))
}

/// The last record this writer wrote, as `file` ([`head_file`]) remembers it.
pub fn local_head(file: &Path) -> Option<(String, Tail)> {
    let bytes = std::fs::read(file).ok()?;
    let h: HeadFile = serde_json::from_slice(&bytes).ok()?;
    let hash: [u8; 32] = hex::decode(&h.hash).ok()?.try_into().ok()?;
    Some((h.writer, Tail { seq: h.seq, hash }))
}

fn save_head(path: &Path, writer: &str, tail: Tail) {
    if local_head(path).is_some_and(|(w, t)| w == writer && t.seq >= tail.seq) {
        return;
    }
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let bytes = serde_json::to_vec(&HeadFile {
        writer: writer.to_string(),
        seq: tail.seq,
        hash: hex::encode(tail.hash),
    })
    .unwrap_or_default();
    let r = crate::private_fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = r {
        tracing::warn!(path = %path.display(), error = %e, "could not remember the last audit record");
    }
}

struct Shared {
    objects: Objects,
    writer: String,
    host: String,
    head_file: Option<PathBuf>,
    /// The chain's tail as this process last wrote it (appends of this process are serialized).
    tail: tokio::sync::Mutex<Option<Tail>>,
    failures: AtomicU64,
}

/// Records actions into the repository's audit trail, as one actor. Cheap to clone; clones
/// (and [`Auditor::as_actor`]) share the chain's tail and the failure count.
#[derive(Clone)]
pub struct Auditor {
    shared: Arc<Shared>,
    actor: Actor,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("writer", &self.shared.writer)
            .field("actor", &self.actor)
            .finish()
    }
}

impl Auditor {
    /// An auditor writing as `writer` into `objects`. `head_file` ([`head_file`]), if given,
    /// remembers the last record written (verify's check that the chain's end is still there,
    /// and where the next append starts without listing the chain).
    pub fn new(
        objects: Objects,
        writer: String,
        actor: Actor,
        host: String,
        head_file: Option<PathBuf>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                objects,
                writer,
                host,
                head_file,
                tail: tokio::sync::Mutex::new(None),
                failures: AtomicU64::new(0),
            }),
            actor,
        }
    }

    /// The same auditor acting for `actor` (an API call's token).
    pub fn as_actor(&self, actor: Actor) -> Self {
        Self {
            shared: self.shared.clone(),
            actor,
        }
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The repository's objects it writes into.
    pub fn objects(&self) -> &Objects {
        &self.shared.objects
    }

    pub fn writer(&self) -> &str {
        &self.shared.writer
    }

    /// Audit writes that failed in this process (the daemon's `/metrics`).
    pub fn failures(&self) -> u64 {
        self.shared.failures.load(Ordering::Relaxed)
    }

    /// Records that `action` starts. Call it before changing or reading anything: on an error
    /// the action must not run.
    pub async fn start(&self, action: Action) -> Result<Pending, AuditError> {
        let kind = action.kind();
        let seq = self.append(Event::Started { action }).await?;
        Ok(Pending {
            auditor: self.clone(),
            seq,
            kind,
        })
    }

    /// Records `action` as started, runs `work` only if that was recorded, then records how it
    /// ended. The outer error: the audit trail could not be written (the work did not run, or
    /// its outcome is not recorded).
    pub async fn run<T, E: std::fmt::Display>(
        &self,
        action: Action,
        work: impl std::future::Future<Output = Result<T, E>>,
        figures: impl FnOnce(&T) -> Figures,
    ) -> Result<Result<T, E>, AuditError> {
        let pending = self.start(action).await?;
        let r = work.await;
        let f = r.as_ref().map(figures).unwrap_or_default();
        pending.finish_with(&r, f).await?;
        Ok(r)
    }

    async fn append(&self, event: Event) -> Result<u64, AuditError> {
        let r = self.try_append(event).await;
        if let Err(e) = &r {
            self.shared.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %crate::repo::error_chain(e), "audit record not written");
        }
        r
    }

    async fn try_append(&self, event: Event) -> Result<u64, AuditError> {
        let s = &self.shared;
        if s.objects.format() < 2 {
            // Format 1 repositories are read-only in this release (docs/FORMAT.md §17): no
            // trail can be added to them, and only actions that read (restores) run on them.
            if let Event::Started { action } = &event {
                tracing::warn!(action = %action.kind(), "repository format 1 has no audit trail (it is read-only in this release): this action is not recorded");
            }
            return Ok(0);
        }
        if cfg!(debug_assertions) && std::env::var_os(FAIL_ENV).is_some() {
            return Err(AuditError::Write {
                key: format!("audit/{}", s.writer),
                source: Box::new(crate::repo::RepoError::KeySlot {
                    reason: format!("refused by the test hook {FAIL_ENV}"),
                }),
            });
        }
        let mut tail = s.tail.lock().await;
        // The end this state directory last wrote saves listing the chain: if another process
        // wrote after it, the create-only write says so and the chain's end is read instead.
        if tail.is_none()
            && let Some((w, t)) = s.head_file.as_deref().and_then(local_head)
            && w == s.writer
        {
            *tail = Some(t);
        }
        for _ in 0..16 {
            let current = match *tail {
                Some(t) => Some(t),
                None => chain::read_tail(&s.objects, &s.writer).await?,
            };
            let rec = Record {
                version: RECORD_VERSION,
                writer: s.writer.clone(),
                seq: current.map_or(1, |t| t.seq + 1),
                prev: current.map(|t| hex::encode(t.hash)),
                time: Utc::now(),
                actor: self.actor.clone(),
                host: s.host.clone(),
                pid: std::process::id(),
                event: event.clone(),
            };
            match chain::write_record(&s.objects, &rec).await? {
                Some(hash) => {
                    let t = Tail { seq: rec.seq, hash };
                    *tail = Some(t);
                    if let Some(file) = &s.head_file {
                        save_head(file, &s.writer, t);
                    }
                    return Ok(rec.seq);
                }
                // Another process of this writer took the seq: read the tail again.
                None => *tail = None,
            }
        }
        Err(AuditError::Contended {
            writer: s.writer.clone(),
        })
    }
}

/// A started action; [`Pending::finish`] records how it ended.
#[must_use = "an action's outcome must be recorded"]
#[derive(Debug)]
pub struct Pending {
    auditor: Auditor,
    seq: u64,
    kind: ActionKind,
}

impl Pending {
    /// The seq of the `started` record.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub async fn finish(self, outcome: Outcome, figures: Figures) -> Result<(), AuditError> {
        self.auditor
            .append(Event::Finished {
                started: self.seq,
                outcome,
                figures,
            })
            .await
            .map(|_| ())
            .map_err(|e| AuditError::Unrecorded {
                action: self.kind,
                source: Box::new(e),
            })
    }

    /// Records `result`: ok, or failed with its message (the whole cause chain).
    pub async fn finish_with<T, E: std::fmt::Display>(
        self,
        result: &Result<T, E>,
        figures: Figures,
    ) -> Result<(), AuditError> {
        let outcome = match result {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Failed {
                message: format!("{e:#}"),
            },
        };
        self.finish(outcome, figures).await
    }
}
