//! Legal holds (`holds/<h>`, docs/FORMAT.md §19): records that a hold was placed or released.
//!
//! A hold is placed by writing one `placed` object; its id is that object's name (the BLAKE3
//! of its stored bytes). It is released by writing a second object, `released`, naming the
//! hold: nothing is ever overwritten or deleted, so a backup role without DELETE can hold
//! and release, and the history of every hold stays in the repository. The holds in force are
//! the `placed` objects without a `released` one.
//!
//! What a hold covers is described here in the repository's own words (library, document and
//! workspace ids as the text the source gives them); the engines (`jobs::holds`) match those
//! against snapshot records.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::repo::error::RepoError;
use crate::repo::id::HoldId;
use crate::repo::objects::{ObjectKind, Objects};

/// The version of the hold object layout.
pub const HOLD_VERSION: u32 = 1;

/// What a hold covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HoldScope {
    /// Every document of every workspace whose client code (`custom1`) is `client` and, when
    /// given, whose matter code (`custom2`) is `matter` (both case-insensitive), in `library`
    /// or in every library.
    Client {
        client: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        matter: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        library: Option<String>,
    },
    /// One document (`LIB!N`), every version.
    Document { document: String },
    /// Every document of one workspace (`LIB!N`).
    Workspace { workspace: String },
}

impl std::fmt::Display for HoldScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Client {
                client,
                matter,
                library,
            } => {
                write!(f, "client {client}")?;
                if let Some(m) = matter {
                    write!(f, " matter {m}")?;
                }
                if let Some(l) = library {
                    write!(f, " in library {l}")?;
                }
                Ok(())
            }
            Self::Document { document } => write!(f, "document {document}"),
            Self::Workspace { workspace } => write!(f, "workspace {workspace}"),
        }
    }
}

/// One `holds/<h>` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldObject {
    pub version: u32,
    #[serde(flatten)]
    pub event: HoldEvent,
}

/// What a hold object records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum HoldEvent {
    Placed {
        scope: HoldScope,
        reason: String,
        time: DateTime<Utc>,
        /// Who placed it (the operating-system user, or the API token's name).
        by: String,
    },
    Released {
        hold: HoldId,
        reason: String,
        time: DateTime<Utc>,
        by: String,
    },
}

/// A hold's release.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Release {
    pub time: DateTime<Utc>,
    pub reason: String,
    pub by: String,
}

/// A hold as the repository holds it now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hold {
    pub id: HoldId,
    pub scope: HoldScope,
    pub reason: String,
    pub placed: DateTime<Utc>,
    pub placed_by: String,
    pub released: Option<Release>,
}

impl Hold {
    pub fn is_active(&self) -> bool {
        self.released.is_none()
    }
}

/// A held snapshot prune found, and whether it removed it (every hold it names released).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldSnapshotState {
    pub snapshot: crate::repo::id::SnapshotId,
    pub library: String,
    pub time: chrono::DateTime<Utc>,
    /// The holds still active that keep it (empty: removed, or removable in a dry run).
    pub active_holds: Vec<HoldId>,
    /// Versions it keeps.
    pub versions: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("no legal hold has an id starting with `{prefix}` (see `imvault hold list`)")]
    Unknown { prefix: String },
    #[error("`{prefix}` names more than one legal hold ({ids}); give more of the id")]
    Ambiguous { prefix: String, ids: String },
    #[error("legal hold {id} was already released on {time} ({reason})")]
    AlreadyReleased {
        id: String,
        time: DateTime<Utc>,
        reason: String,
    },
    #[error("a legal hold needs a reason")]
    NoReason,
    #[error("{action}")]
    Repo {
        action: String,
        #[source]
        source: Box<RepoError>,
    },
}

async fn write(objects: &Objects, event: HoldEvent) -> Result<HoldId, HoldError> {
    let obj = HoldObject {
        version: HOLD_VERSION,
        event,
    };
    let bytes = serde_json::to_vec(&obj).map_err(|source| HoldError::Repo {
        action: "encoding a legal hold record".into(),
        source: Box::new(RepoError::Encode {
            what: "legal hold record".into(),
            source,
        }),
    })?;
    let (_, h) = objects
        .put(ObjectKind::Hold, None, Bytes::from(bytes))
        .await
        .map_err(|source| HoldError::Repo {
            action: "writing a legal hold record".into(),
            source: Box::new(source),
        })?;
    Ok(HoldId(h))
}

/// Places a hold on `scope`; returns it.
pub async fn place(
    objects: &Objects,
    scope: HoldScope,
    reason: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Hold, HoldError> {
    if reason.trim().is_empty() {
        return Err(HoldError::NoReason);
    }
    let id = write(
        objects,
        HoldEvent::Placed {
            scope: scope.clone(),
            reason: reason.to_string(),
            time: now,
            by: by.to_string(),
        },
    )
    .await?;
    Ok(Hold {
        id,
        scope,
        reason: reason.to_string(),
        placed: now,
        placed_by: by.to_string(),
        released: None,
    })
}

/// The hold whose id starts with `prefix` (hex), among `holds`.
pub fn resolve<'a>(holds: &'a [Hold], prefix: &str) -> Result<&'a Hold, HoldError> {
    let p = prefix.trim().to_ascii_lowercase();
    let found: Vec<&Hold> = match p.is_empty() {
        true => Vec::new(),
        false => holds
            .iter()
            .filter(|h| h.id.to_hex().starts_with(&p))
            .collect(),
    };
    match found.as_slice() {
        [] => Err(HoldError::Unknown {
            prefix: prefix.to_string(),
        }),
        [one] => Ok(one),
        many => Err(HoldError::Ambiguous {
            prefix: prefix.to_string(),
            ids: many
                .iter()
                .map(|h| h.id.short())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Releases the active hold whose id starts with `prefix`; returns it, released.
pub async fn release(
    objects: &Objects,
    prefix: &str,
    reason: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Hold, HoldError> {
    if reason.trim().is_empty() {
        return Err(HoldError::NoReason);
    }
    let holds = list(objects).await?;
    let hold = resolve(&holds, prefix)?.clone();
    if let Some(r) = &hold.released {
        return Err(HoldError::AlreadyReleased {
            id: hold.id.short(),
            time: r.time,
            reason: r.reason.clone(),
        });
    }
    write(
        objects,
        HoldEvent::Released {
            hold: hold.id,
            reason: reason.to_string(),
            time: now,
            by: by.to_string(),
        },
    )
    .await?;
    Ok(Hold {
        released: Some(Release {
            time: now,
            reason: reason.to_string(),
            by: by.to_string(),
        }),
        ..hold
    })
}

/// Every hold, placed first first, with its release if any. An unreadable object or one of an
/// unknown version is an error naming it: prune must not free data on holds it cannot read.
pub async fn list(objects: &Objects) -> Result<Vec<Hold>, HoldError> {
    let repo = |action: String| {
        move |source| HoldError::Repo {
            action,
            source: Box::new(source),
        }
    };
    let metas = objects
        .list(ObjectKind::Hold, None)
        .await
        .map_err(repo("listing legal holds".into()))?;
    let mut placed: BTreeMap<HoldId, Hold> = BTreeMap::new();
    let mut releases: Vec<(HoldId, Release)> = Vec::new();
    for m in metas {
        let key = m.location.to_string();
        let bytes = objects
            .get(ObjectKind::Hold, &m.location)
            .await
            .map_err(repo(format!("reading legal hold record {key}")))?;
        let obj: HoldObject = serde_json::from_slice(&bytes).map_err(|source| HoldError::Repo {
            action: format!("reading legal hold record {key}"),
            source: Box::new(RepoError::Decode {
                key: key.clone(),
                source,
            }),
        })?;
        if obj.version != HOLD_VERSION {
            return Err(HoldError::Repo {
                action: format!("reading legal hold record {key}"),
                source: Box::new(RepoError::UnsupportedFormat {
                    key,
                    found: obj.version,
                    supported: format!("[{HOLD_VERSION}]"),
                }),
            });
        }
        let name = m.location.filename().unwrap_or_default().to_string();
        let Ok(id) = name.parse::<HoldId>() else {
            continue;
        };
        match obj.event {
            HoldEvent::Placed {
                scope,
                reason,
                time,
                by,
            } => {
                placed.insert(
                    id,
                    Hold {
                        id,
                        scope,
                        reason,
                        placed: time,
                        placed_by: by,
                        released: None,
                    },
                );
            }
            HoldEvent::Released {
                hold,
                reason,
                time,
                by,
            } => releases.push((hold, Release { time, reason, by })),
        }
    }
    for (id, r) in releases {
        if let Some(h) = placed.get_mut(&id) {
            // Two releases (a race): the first one counts.
            if h.released.as_ref().is_none_or(|old| r.time < old.time) {
                h.released = Some(r);
            }
        }
    }
    let mut out: Vec<Hold> = placed.into_values().collect();
    out.sort_by_key(|h| (h.placed, h.id));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::crypto::{Crypto, MasterKey};
    use object_store::memory::InMemory;
    use std::sync::Arc;

    #[tokio::test]
    async fn place_release_and_list_round_trip_and_refuse_a_second_release() {
        let o = Objects::new(
            Arc::new(InMemory::new()),
            Crypto::with_master(&MasterKey::from_bytes([3; 32])),
            2,
        );
        let t = "2026-12-01T10:00:00Z".parse().unwrap();
        let a = place(
            &o,
            HoldScope::Client {
                client: "1001".into(),
                matter: Some("7".into()),
                library: None,
            },
            "Smith v Jones",
            "alice",
            t,
        )
        .await
        .unwrap();
        let b = place(
            &o,
            HoldScope::Document {
                document: "ACTIVE!12".into(),
            },
            "subpoena",
            "bob",
            t,
        )
        .await
        .unwrap();
        assert_ne!(a.id, b.id);
        let all = list(&o).await.unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(Hold::is_active));
        let r = release(&o, &a.id.short(), "settled", "carol", t)
            .await
            .unwrap();
        assert_eq!(r.released.as_ref().unwrap().reason, "settled");
        let all = list(&o).await.unwrap();
        let got = all.iter().find(|h| h.id == a.id).unwrap();
        assert_eq!(got.released.as_ref().unwrap().by, "carol");
        assert!(all.iter().find(|h| h.id == b.id).unwrap().is_active());
        let e = release(&o, &a.id.to_hex(), "again", "carol", t)
            .await
            .unwrap_err();
        assert!(matches!(e, HoldError::AlreadyReleased { .. }), "{e}");
        let e = release(&o, "ffffffffff", "x", "carol", t)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("no legal hold"), "{e}");
        assert!(matches!(
            release(&o, &b.id.short(), " ", "carol", t).await,
            Err(HoldError::NoReason)
        ));
    }
}
