//! How much of a library an incremental run lists: everything, or only what changed since the
//! last snapshot (see `imanage::walk::changes`). Recorded in each snapshot's summary
//! (`listing`, `full_listing_at`), so the next run knows when everything was last listed.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::imanage::walk::WalkStrategy;
use crate::jobs::records::STREAM_VERSIONS;
use crate::repo::Snapshot;

/// Summary key: `"full"` or `"changes"`.
pub const SUMMARY_LISTING: &str = "listing";
/// Summary key: when the last run that listed everything started (RFC 3339).
pub const SUMMARY_FULL_LISTING_AT: &str = "full_listing_at";

/// What this run lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingMode {
    /// Every version of every document.
    Full { why: &'static str },
    /// Versions edited since `from`; the rest comes from the parent snapshot.
    Changes {
        from: DateTime<Utc>,
        /// When everything was last listed (carried into this run's summary).
        full_listing_at: DateTime<Utc>,
    },
}

impl ListingMode {
    pub fn is_changes(&self) -> bool {
        matches!(self, Self::Changes { .. })
    }

    /// `edit_date_from` for the crawl.
    pub fn from_iso(&self) -> Option<String> {
        match self {
            Self::Changes { from, .. } => Some(from.to_rfc3339_opts(SecondsFormat::Secs, true)),
            Self::Full { .. } => None,
        }
    }

    /// The summary entries of a snapshot this run writes; `run_started` is this run's start.
    pub fn summary(&self, run_started: DateTime<Utc>) -> (Value, Value) {
        let (kind, at) = match self {
            Self::Full { .. } => ("full", run_started),
            Self::Changes {
                full_listing_at, ..
            } => ("changes", *full_listing_at),
        };
        (
            Value::from(kind),
            Value::from(at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        )
    }
}

/// When the parent snapshot's chain last listed everything, if it says.
fn full_listing_at(parent: &Snapshot) -> Option<DateTime<Utc>> {
    let s = parent
        .manifest
        .summary
        .get(SUMMARY_FULL_LISTING_AT)?
        .as_str()?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The listing of a run starting at `now`.
/// - `full`: the operator asked for a full backup;
/// - `strategy`: the walk strategy this run resolves to (only the crawl can list changes);
/// - `every`: list everything at least this often (`None`: on every run);
/// - `margin`: taken off the parent's start time, for clock skew between us and the server.
pub fn choose(
    parent: Option<&Snapshot>,
    full: bool,
    strategy: WalkStrategy,
    every: Option<Duration>,
    margin: Duration,
    now: DateTime<Utc>,
) -> ListingMode {
    let Some(parent) = parent else {
        return ListingMode::Full {
            why: "no earlier snapshot",
        };
    };
    if full {
        return ListingMode::Full {
            why: "full backup asked for",
        };
    }
    let Some(every) = every.filter(|d| !d.is_zero()) else {
        return ListingMode::Full {
            why: "changes-only listing is off (full_listing_every = 0)",
        };
    };
    if strategy != WalkStrategy::Crawl {
        return ListingMode::Full {
            why: "the tree walk cannot list changes only",
        };
    }
    if !parent.manifest.streams.contains_key(STREAM_VERSIONS) {
        return ListingMode::Full {
            why: "the last snapshot has no versions stream",
        };
    }
    let Some(at) = full_listing_at(parent) else {
        return ListingMode::Full {
            why: "the last snapshot does not say when everything was last listed",
        };
    };
    let every = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX);
    let margin = chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::zero());
    if parent.manifest.time - margin > now {
        return ListingMode::Full {
            why: "the last snapshot is dated in the future (was the clock set back?)",
        };
    }
    if at > now || now - at >= every {
        return ListingMode::Full {
            why: "everything is listed again: full_listing_every has passed",
        };
    }
    ListingMode::Changes {
        from: parent.manifest.time - margin,
        full_listing_at: at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::{MetaRef, SessionStats, SnapshotDraft};

    fn parent(summary: Value, with_versions: bool) -> Snapshot {
        let mut streams = std::collections::BTreeMap::new();
        if with_versions {
            streams.insert(STREAM_VERSIONS.to_string(), MetaRef::default());
        }
        let draft = SnapshotDraft {
            library: "ACTIVE".into(),
            time: None,
            host: Some("h".into()),
            parent: None,
            counts: Default::default(),
            streams,
            summary,
        };
        let started: DateTime<Utc> = "2026-11-20T02:00:00Z".parse().unwrap();
        let manifest =
            crate::repo::SnapshotManifest::from_draft(draft, started, SessionStats::default());
        Snapshot {
            id: crate::repo::SnapshotId::of(b"parent"),
            manifest,
        }
    }

    const DAY: Duration = Duration::from_secs(86_400);
    const HOUR: Duration = Duration::from_secs(3_600);

    #[test]
    fn changes_are_listed_only_within_the_full_listing_interval() {
        let now: DateTime<Utc> = "2026-11-21T02:00:00Z".parse().unwrap();
        let good = parent(json("2026-11-18T02:00:00Z"), true);
        let every = Some(7 * DAY);
        let c = WalkStrategy::Crawl;
        assert_eq!(
            choose(Some(&good), false, c, every, HOUR, now),
            ListingMode::Changes {
                from: "2026-11-20T01:00:00Z".parse().unwrap(),
                full_listing_at: "2026-11-18T02:00:00Z".parse().unwrap(),
            }
        );
        let full = |l: ListingMode| matches!(l, ListingMode::Full { .. });
        assert!(full(choose(None, false, c, every, HOUR, now)));
        assert!(full(choose(Some(&good), true, c, every, HOUR, now)));
        assert!(full(choose(Some(&good), false, c, None, HOUR, now)));
        assert!(full(choose(
            Some(&good),
            false,
            c,
            Some(Duration::ZERO),
            HOUR,
            now
        )));
        assert!(full(choose(
            Some(&good),
            false,
            WalkStrategy::Tree,
            every,
            HOUR,
            now
        )));
        assert!(full(choose(
            Some(&good),
            false,
            c,
            Some(3 * DAY),
            HOUR,
            now
        )));
        let older = parent(json("2026-11-10T02:00:00Z"), true);
        assert!(full(choose(Some(&older), false, c, every, HOUR, now)));
        let future = parent(json("2026-12-10T02:00:00Z"), true);
        assert!(full(choose(Some(&future), false, c, every, HOUR, now)));
        let past: DateTime<Utc> = "2026-11-20T00:59:59Z".parse().unwrap();
        assert!(
            full(choose(Some(&good), false, c, every, HOUR, past)),
            "a parent newer than now"
        );
        let unsaid = parent(serde_json::json!({"state": "completed"}), true);
        assert!(full(choose(Some(&unsaid), false, c, every, HOUR, now)));
        let no_versions = parent(json("2026-11-18T02:00:00Z"), false);
        assert!(full(choose(Some(&no_versions), false, c, every, HOUR, now)));
    }

    fn json(at: &str) -> Value {
        serde_json::json!({ SUMMARY_LISTING: "full", SUMMARY_FULL_LISTING_AT: at })
    }

    #[test]
    fn a_full_listing_restarts_the_interval_and_changes_carry_it() {
        let run: DateTime<Utc> = "2026-11-21T02:00:00Z".parse().unwrap();
        let full = ListingMode::Full { why: "x" };
        assert_eq!(
            full.summary(run),
            (Value::from("full"), Value::from("2026-11-21T02:00:00Z"))
        );
        let changes = ListingMode::Changes {
            from: "2026-11-20T01:00:00Z".parse().unwrap(),
            full_listing_at: "2026-11-18T02:00:00Z".parse().unwrap(),
        };
        assert_eq!(
            changes.summary(run),
            (Value::from("changes"), Value::from("2026-11-18T02:00:00Z"))
        );
        assert_eq!(changes.from_iso().as_deref(), Some("2026-11-20T01:00:00Z"));
        assert_eq!(full.from_iso(), None);
    }
}
