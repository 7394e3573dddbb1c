//! The changes-only crawl of an incremental backup (contract §5 "Change detection" and §8
//! `edit_date_from`).
//!
//! A full crawl lists every version of every document with its whole profile: most of a nightly
//! run's work when nothing changed. A changes-only crawl instead
//! - asks the documents crawl for versions whose `edit_date` or `edit_profile_date` is at or
//!   after [`ChangesSince::from`] (the last snapshot's start, minus a margin for clock skew);
//! - reads again, by id, the versions the last snapshot had to skip;
//! - still lists every filing and every trustee row (ACLs change without touching any date);
//! - compares the filed documents with the ones the last snapshot knew ([`KnownDocuments`]):
//!   a known document that is no longer filed anywhere and was not in the crawl, and a filed
//!   document nobody knows (e.g. restored from the trash bin with its old dates), is listed
//!   one by one (`GET L/documents/{docId}/versions`) and reported as [`WalkItem::Relisted`];
//!   a known document in the trash bin (`GET L/trash-bin/documents`, read once when needed)
//!   was deleted, whether or not its versions still answer; so was one whose versions answer
//!   404.
//!
//! What it cannot see: a document's `default_security` changed through the security call alone
//! (no date moves and the trustee search does not carry it); the backup therefore lists
//! everything at least every `full_listing_every` (see `jobs::backup`).

use std::collections::HashSet;

use super::crawl::Crawler;
use super::known::KnownDocuments;
use super::{Stopped, WalkItem};
use crate::imanage::model::{DocumentId, VersionId};

/// What a changes-only crawl needs from the last snapshot.
#[derive(Debug, Default)]
pub struct ChangesSince {
    /// `edit_date_from` of the documents crawl (ISO 8601, UTC).
    pub from: String,
    /// Every document of the last snapshot.
    pub known: KnownDocuments,
    /// Versions the last snapshot skipped (a failed download): read again by id.
    pub retry: Vec<VersionId>,
}

/// Known documents that look unfiled, beyond which they are not read one by one: so many
/// means the filings search itself went wrong, not that documents were deleted.
const MAX_RELIST: usize = 1000;

impl Crawler<'_> {
    /// Versions the last snapshot skipped, read again by id (not those already `seen`). A 404
    /// leaves them out (gone); another failure is a warning naming the version, so the next
    /// run tries it again.
    pub(super) async fn retry_skipped(
        &self,
        retry: &[VersionId],
        seen: &mut HashSet<(u64, u32)>,
        docs: &mut KnownDocuments,
    ) -> Result<(), Stopped> {
        for id in retry {
            if id.document.library != *self.library
                || seen.contains(&(id.document.number, id.version))
            {
                continue;
            }
            match self.client.document(id).await {
                Ok(v) => {
                    seen.insert((id.document.number, id.version));
                    docs.note_version(&v);
                    self.sink.item(WalkItem::Version { version: v }).await?;
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => self.report(e, Some(id.to_string())).await?,
            }
        }
        Ok(())
    }

    /// Documents listed one by one (`GET L/documents/{docId}/versions`), each then reported
    /// as [`WalkItem::Relisted`]:
    /// - filed or changed now but unknown to the last snapshot (new, or back from the trash
    ///   bin with old dates): all their versions, not only the changed ones;
    /// - known to the last snapshot but neither filed nor changed now: deleted (404), or alive
    ///   and unfiled.
    ///
    /// Versions already `seen` are not yielded twice.
    /// `docs` was sealed ([`KnownDocuments::seal_parents`]) before the crawl and has the
    /// filings noted ([`KnownDocuments::note_filed`]).
    pub(super) async fn relist_strangers(
        &self,
        seen: &mut HashSet<(u64, u32)>,
        docs: &mut KnownDocuments,
    ) -> Result<(), Stopped> {
        let changed: HashSet<u64> = seen.iter().map(|(n, _)| *n).collect();
        let mut strangers = docs.filed_strangers();
        strangers.extend(changed.iter().copied().filter(|n| !docs.is_parent(*n)));
        // The filings or the changes may be incomplete (gaps): keep what the last snapshot had.
        if self.gaps.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            let unfiled = docs.unfiled_parents().filter(|n| !changed.contains(n));
            // Counted before they are collected: a filings search gone wrong must not cost
            // memory per document.
            let count = unfiled.clone().count();
            if count > MAX_RELIST.max(docs.parent_count() / 10) {
                self.gap();
                self.sink
                    .item(WalkItem::Warning {
                        what: format!("{count} documents of library {}", self.library),
                        detail: "known to the last snapshot but filed nowhere now; too many to \
                                 read one by one: kept as they were, and the next run lists \
                                 everything"
                            .into(),
                    })
                    .await?;
            } else {
                strangers.extend(unfiled);
            }
        }
        strangers.sort_unstable();
        strangers.dedup();
        if !strangers.is_empty() {
            tracing::debug!(
                documents = strangers.len(),
                "listing documents the filings and the last snapshot disagree on"
            );
        }
        // A known document may answer its versions from the trash bin: the trash bin, not only
        // a 404, says it was deleted (read once, when a known document is to be listed).
        let mut trash: Option<HashSet<u64>> = None;
        for number in strangers {
            let document = DocumentId {
                library: self.library.clone(),
                number,
            };
            if docs.is_parent(number) {
                if trash.is_none() {
                    trash = Some(match self.client.trash_bin(self.library).await {
                        Ok(docs) => docs.iter().map(|v| v.id.document.number).collect(),
                        Err(e) => {
                            self.report(e, Some(format!("the trash bin of {}", self.library)))
                                .await?;
                            HashSet::new()
                        }
                    });
                }
                if trash.as_ref().is_some_and(|t| t.contains(&number)) {
                    docs.take(number);
                    self.sink.item(WalkItem::Relisted { document }).await?;
                    continue;
                }
            }
            match self.client.document_versions(&document).await {
                Ok(versions) => {
                    docs.take(number);
                    for v in versions {
                        docs.note_version(&v);
                        if seen.insert((number, v.id.version)) {
                            self.sink.item(WalkItem::Version { version: v }).await?;
                        }
                    }
                }
                Err(e) if e.is_not_found() => {
                    docs.take(number);
                }
                Err(e) => {
                    // Unknown state: keep what the last snapshot had rather than drop it.
                    self.report(e, Some(document.to_string())).await?;
                    continue;
                }
            }
            self.sink.item(WalkItem::Relisted { document }).await?;
        }
        Ok(())
    }
}
