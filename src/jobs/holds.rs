//! Legal holds in the maintenance jobs (docs/FORMAT.md §19): which versions of a snapshot the
//! active holds cover, and the *held snapshot* forget writes in place of a forgotten snapshot
//! that holds need.
//!
//! A held snapshot is an ordinary snapshot manifest (same library, same time) whose `versions`
//! stream keeps only the covered versions' records (their content references unchanged) and
//! whose other streams (containers, filings, ACLs) are the forgotten snapshot's, by reference.
//! Prune's roots are the snapshots, so it keeps exactly the held versions' content; the catalog
//! loads held snapshots like any other, so `restore --at`, `ls`, `find` and `versions` reach
//! held versions by their one code path. Holds are evaluated against each snapshot's own
//! records when forget runs, so a document added to a matter after the hold was placed is
//! covered as soon as a backup saw it there.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Utc;
use futures::TryStreamExt;
use serde::Serialize;

use crate::imanage::model::{ContainerId, ContainerKind, DocumentId};
use crate::jobs::records::{
    ContainerRecord, STREAM_CONTAINERS, STREAM_SKIPPED, STREAM_VERSIONS, VersionRecord,
};
use crate::repo::holds::{HeldSnapshotState, Hold, HoldScope};
use crate::repo::snapshot::HeldSnapshot;
use crate::repo::{
    HoldId, Indexed, MetaStreamWriter, RepoError, Repository, SessionOptions, Snapshot,
    SnapshotDraft, SnapshotId,
};

/// One active hold, with its ids parsed.
#[derive(Debug, Clone)]
enum Rule {
    Client {
        client: String,
        matter: Option<String>,
        library: Option<String>,
    },
    Document(DocumentId),
    Workspace(ContainerId),
}

/// The active holds, ready to be matched against snapshot records.
#[derive(Debug, Clone, Default)]
pub struct HoldMatcher {
    rules: Vec<(HoldId, Rule)>,
}

impl HoldMatcher {
    /// The active holds among `holds` (a hold whose ids do not parse covers nothing: `hold add`
    /// refuses such ids, so only a hand-made object has them).
    pub fn new(holds: &[Hold]) -> Self {
        let rules = holds
            .iter()
            .filter(|h| h.is_active())
            .filter_map(|h| {
                let rule = match &h.scope {
                    HoldScope::Client {
                        client,
                        matter,
                        library,
                    } => Rule::Client {
                        client: client.to_lowercase(),
                        matter: matter.as_ref().map(|m| m.to_lowercase()),
                        library: library.clone(),
                    },
                    HoldScope::Document { document } => Rule::Document(document.parse().ok()?),
                    HoldScope::Workspace { workspace } => Rule::Workspace(workspace.parse().ok()?),
                };
                Some((h.id, rule))
            })
            .collect();
        Self { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn by_client(&self) -> bool {
        self.rules
            .iter()
            .any(|(_, r)| matches!(r, Rule::Client { .. }))
    }

    /// The holds covering a version of `document` filed in `workspace` (whose client and matter
    /// codes are `codes`) in library `library`.
    fn covering(
        &self,
        library: &str,
        document: &DocumentId,
        workspace: Option<&ContainerId>,
        codes: Option<&(Option<String>, Option<String>)>,
    ) -> Vec<HoldId> {
        self.rules
            .iter()
            .filter(|(_, r)| match r {
                Rule::Document(d) => d == document,
                Rule::Workspace(w) => workspace == Some(w),
                Rule::Client {
                    client,
                    matter,
                    library: lib,
                } => {
                    lib.as_deref()
                        .is_none_or(|l| l.eq_ignore_ascii_case(library))
                        && codes.is_some_and(|(c, m)| {
                            c.as_deref() == Some(client.as_str())
                                && matter.as_ref().is_none_or(|mm| m.as_deref() == Some(mm))
                        })
                }
            })
            .map(|(id, _)| *id)
            .collect()
    }
}

/// What the holds kept of one forgotten snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct HeldCut {
    /// The forgotten snapshot.
    pub from: SnapshotId,
    pub library: String,
    pub time: chrono::DateTime<Utc>,
    /// The held snapshot written in its place (`None` in a dry run).
    pub held_snapshot: Option<SnapshotId>,
    /// Versions kept, per hold (a version two holds cover counts for each).
    pub versions_by_hold: BTreeMap<HoldId, u64>,
    /// Versions kept.
    pub versions: u64,
    /// Their logical bytes.
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("{action} of snapshot {snapshot}")]
pub struct HoldCutError {
    pub action: &'static str,
    pub snapshot: SnapshotId,
    #[source]
    pub source: RepoError,
}

/// Client and matter codes of the snapshot's workspaces.
async fn workspace_codes(
    repo: &Repository<Indexed>,
    snap: &Snapshot,
) -> Result<HashMap<ContainerId, (Option<String>, Option<String>)>, RepoError> {
    let mut out = HashMap::new();
    let Some(meta) = snap.manifest.streams.get(STREAM_CONTAINERS) else {
        return Ok(out);
    };
    let mut records =
        std::pin::pin!(repo.read_meta_stream::<ContainerRecord>(STREAM_CONTAINERS, meta));
    while let Some(r) = records.try_next().await? {
        let Ok(c) = r.container() else { continue };
        if c.kind != ContainerKind::Workspace {
            continue;
        }
        let code = |k| crate::imanage::profiles::field(&c.raw, k).map(str::to_lowercase);
        out.insert(c.id.clone(), (code("custom1"), code("custom2")));
    }
    Ok(out)
}

/// Keeps what `holds` cover of `snap`, which forget is about to remove: writes (unless
/// `dry_run`) a held snapshot with the covered versions, and says what it kept. `None`: the
/// holds cover nothing in it.
pub async fn cut(
    repo: &Repository<Indexed>,
    snap: &Snapshot,
    holds: &HoldMatcher,
    dry_run: bool,
) -> Result<Option<HeldCut>, HoldCutError> {
    let err = |action: &'static str| {
        move |source| HoldCutError {
            action,
            snapshot: snap.id,
            source,
        }
    };
    let Some(versions) = snap.manifest.streams.get(STREAM_VERSIONS) else {
        return Ok(None);
    };
    let codes = match holds.by_client() {
        true => workspace_codes(repo, snap)
            .await
            .map_err(err("reading the workspaces"))?,
        false => HashMap::new(),
    };
    let library = &snap.manifest.library;
    let session = (!dry_run).then(|| repo.backup_session(SessionOptions::default()));
    let mut writer = session
        .as_ref()
        .map(|s| MetaStreamWriter::new(s, STREAM_VERSIONS));
    let mut cut = HeldCut {
        from: snap.id,
        library: library.clone(),
        time: snap.manifest.time,
        held_snapshot: None,
        versions_by_hold: BTreeMap::new(),
        versions: 0,
        bytes: 0,
    };
    let mut documents = BTreeSet::new();
    let mut records =
        std::pin::pin!(repo.read_meta_stream::<VersionRecord>(STREAM_VERSIONS, versions));
    while let Some(r) = records
        .try_next()
        .await
        .map_err(err("reading the versions"))?
    {
        let Ok(v) = r.version() else { continue };
        let workspace: Option<ContainerId> =
            crate::imanage::profiles::field(&v.raw, "workspace_id").and_then(|s| s.parse().ok());
        // Client and matter: the workspace's codes, else the document's own profile fields.
        let own;
        let codes_of = match workspace.as_ref().and_then(|w| codes.get(w)) {
            Some(c) => Some(c),
            None => {
                let code = |k| crate::imanage::profiles::field(&v.raw, k).map(str::to_lowercase);
                own = (code("custom1"), code("custom2"));
                Some(&own)
            }
        };
        let by = holds.covering(library, v.document_id(), workspace.as_ref(), codes_of);
        if by.is_empty() {
            continue;
        }
        for h in by {
            *cut.versions_by_hold.entry(h).or_default() += 1;
        }
        cut.versions += 1;
        cut.bytes += v.size;
        documents.insert(v.document_id().clone());
        if let Some(w) = writer.as_mut() {
            w.push(&r).await.map_err(err("writing the held versions"))?;
        }
    }
    if cut.versions == 0 {
        return Ok(None);
    }
    let held_versions = match writer {
        Some(w) => Some(w.finish().await.map_err(err("writing the held versions"))?),
        None => None,
    };
    if let (Some(held_versions), Some(session)) = (held_versions, session) {
        let m = &snap.manifest;
        let mut streams = m.streams.clone();
        streams.insert(STREAM_VERSIONS.to_string(), held_versions);
        // What the run skipped is the forgotten run's story, not the held data's.
        streams.remove(STREAM_SKIPPED);
        let draft = SnapshotDraft {
            library: m.library.clone(),
            time: Some(m.time),
            host: Some(m.host.clone()),
            parent: None,
            counts: [
                ("versions".to_string(), cut.versions),
                ("documents".to_string(), documents.len() as u64),
                ("bytes".to_string(), cut.bytes),
            ]
            .into_iter()
            .collect(),
            streams,
            summary: serde_json::json!({"state": "held"}),
        };
        let held = HeldSnapshot {
            from: snap.id,
            holds: cut.versions_by_hold.keys().copied().collect(),
            written: Utc::now(),
        };
        cut.held_snapshot = Some(
            session
                .finish_held(draft, Some(held))
                .await
                .map_err(err("writing the held snapshot"))?,
        );
    }
    Ok(Some(cut))
}

/// Every held snapshot, with the active holds that keep it. Those without one are removed
/// (unless `dry_run`), so the prune that follows frees what only they used.
pub async fn release_unheld(
    repo: &Repository<Indexed>,
    holds: &[Hold],
    dry_run: bool,
) -> Result<Vec<HeldSnapshotState>, RepoError> {
    let active: BTreeSet<HoldId> = holds
        .iter()
        .filter(|h| h.is_active())
        .map(|h| h.id)
        .collect();
    let mut out = Vec::new();
    for s in repo.list_snapshots(None).await? {
        let Some(held) = &s.manifest.held else {
            continue;
        };
        let keep: Vec<HoldId> = held
            .holds
            .iter()
            .filter(|h| active.contains(h))
            .copied()
            .collect();
        if keep.is_empty() && !dry_run {
            repo.remove_snapshot(&s.id).await?;
            tracing::info!(snapshot = %s.id, library = %s.manifest.library, "held snapshot removed: its holds are released");
        }
        out.push(HeldSnapshotState {
            snapshot: s.id,
            library: s.manifest.library.clone(),
            time: s.manifest.time,
            active_holds: keep,
            versions: s.manifest.counts.get("versions").copied().unwrap_or(0),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::holds::Release;

    fn hold(n: u8, scope: HoldScope, released: bool) -> Hold {
        Hold {
            id: HoldId([n; 32]),
            scope,
            reason: "r".into(),
            placed: Utc::now(),
            placed_by: "u".into(),
            released: released.then(|| Release {
                time: Utc::now(),
                reason: "done".into(),
                by: "u".into(),
            }),
        }
    }

    #[test]
    fn each_scope_covers_what_it_names_and_a_released_hold_nothing() {
        let m = HoldMatcher::new(&[
            hold(
                1,
                HoldScope::Document {
                    document: "ACTIVE!42".into(),
                },
                false,
            ),
            hold(
                2,
                HoldScope::Workspace {
                    workspace: "ACTIVE!5".into(),
                },
                false,
            ),
            hold(
                3,
                HoldScope::Client {
                    client: "ACME".into(),
                    matter: Some("M-7".into()),
                    library: None,
                },
                false,
            ),
            hold(
                4,
                HoldScope::Client {
                    client: "acme".into(),
                    matter: None,
                    library: Some("ARCHIVE".into()),
                },
                false,
            ),
            hold(
                5,
                HoldScope::Document {
                    document: "ACTIVE!43".into(),
                },
                true,
            ),
        ]);
        let doc = |s: &str| -> DocumentId { s.parse().unwrap() };
        let ws = |s: &str| -> ContainerId { s.parse().unwrap() };
        let codes = |c: &str, m: &str| (Some(c.to_lowercase()), Some(m.to_lowercase()));
        let ids = |v: Vec<HoldId>| v.iter().map(|h| h.0[0]).collect::<Vec<_>>();
        assert_eq!(
            ids(m.covering("ACTIVE", &doc("ACTIVE!42"), None, None)),
            [1]
        );
        assert!(
            m.covering("ACTIVE", &doc("ACTIVE!43"), None, None)
                .is_empty()
        );
        assert_eq!(
            ids(m.covering("ACTIVE", &doc("ACTIVE!9"), Some(&ws("ACTIVE!5")), None)),
            [2]
        );
        // Client and matter, case-insensitive; another matter of the client is not covered.
        let c = codes("Acme", "m-7");
        assert_eq!(
            ids(m.covering("ACTIVE", &doc("ACTIVE!9"), Some(&ws("ACTIVE!6")), Some(&c))),
            [3]
        );
        let other = codes("ACME", "M-8");
        assert!(
            m.covering(
                "ACTIVE",
                &doc("ACTIVE!9"),
                Some(&ws("ACTIVE!6")),
                Some(&other)
            )
            .is_empty()
        );
        // The client hold limited to ARCHIVE covers every matter there, and only there.
        assert_eq!(
            ids(m.covering("ARCHIVE", &doc("ARCHIVE!9"), None, Some(&other))),
            [4]
        );
        assert_eq!(
            ids(m.covering("ARCHIVE", &doc("ARCHIVE!9"), None, Some(&c))),
            [3, 4]
        );
        assert!(
            HoldMatcher::new(&[hold(
                6,
                HoldScope::Document {
                    document: "x".into()
                },
                true
            )])
            .is_empty()
        );
    }
}
