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

use std::collections::{HashMap, HashSet};

use super::crawl::Crawler;
use super::{Stopped, WalkItem};
use crate::imanage::model::{DefaultSecurity, DocumentId, DocumentVersion, VersionId};

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

/// Per document number: its latest version and that version's `default_security` (the
/// document's ACL takes it). Documents noted in ascending order (the last snapshot's, read in
/// order) go to a sorted `Vec` (16 bytes per document); others to a map (~40 bytes each).
#[derive(Debug, Default, Clone)]
pub struct KnownDocuments {
    /// (number, latest version, its `default_security`, taken out), numbers ascending.
    sorted: Vec<(u64, u32, Option<DefaultSecurity>, bool)>,
    /// Documents in `sorted` that were taken out.
    taken: usize,
    other: HashMap<u64, (u32, Option<DefaultSecurity>)>,
}

impl PartialEq for KnownDocuments {
    fn eq(&self, o: &Self) -> bool {
        self.entries() == o.entries()
    }
}

impl KnownDocuments {
    /// Notes one version; the highest version of a document wins.
    pub fn note(&mut self, number: u64, version: u32, default_security: Option<DefaultSecurity>) {
        let at = match self.sorted.last() {
            Some(last) if last.0 == number => Some(self.sorted.len() - 1),
            Some(last) if last.0 > number => {
                self.sorted.binary_search_by_key(&number, |e| e.0).ok()
            }
            _ if !self.other.contains_key(&number) => {
                self.sorted.push((number, version, default_security, false));
                return;
            }
            _ => None,
        };
        match at {
            Some(i) => {
                let e = &mut self.sorted[i];
                if e.3 {
                    *e = (number, version, default_security, false);
                    self.taken -= 1;
                } else if version >= e.1 {
                    (e.1, e.2) = (version, default_security);
                }
            }
            None => {
                let slot = self.other.entry(number).or_insert((0, None));
                if version >= slot.0 {
                    *slot = (version, default_security);
                }
            }
        }
    }

    pub fn note_version(&mut self, v: &DocumentVersion) {
        self.note(v.id.document.number, v.id.version, v.default_security);
    }

    /// The document numbers, as a set.
    pub fn number_set(&self) -> DocumentNumbers {
        DocumentNumbers(self.numbers())
    }

    fn index_of(&self, number: u64) -> Option<usize> {
        self.sorted
            .binary_search_by_key(&number, |e| e.0)
            .ok()
            .filter(|&i| !self.sorted[i].3)
    }

    pub fn contains(&self, number: u64) -> bool {
        self.index_of(number).is_some() || self.other.contains_key(&number)
    }

    /// Takes a document out: its `default_security` if it was there.
    pub fn take(&mut self, number: u64) -> Option<Option<DefaultSecurity>> {
        if let Some(i) = self.index_of(number) {
            self.sorted[i].3 = true;
            self.taken += 1;
            return Some(self.sorted[i].2);
        }
        self.other.remove(&number).map(|(_, ds)| ds)
    }

    pub fn len(&self) -> usize {
        self.sorted.len() - self.taken + self.other.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (number, latest version, `default_security`), numbers ascending.
    fn entries(&self) -> Vec<(u64, u32, Option<DefaultSecurity>)> {
        let mut all: Vec<_> = self
            .sorted
            .iter()
            .filter(|e| !e.3)
            .map(|e| (e.0, e.1, e.2))
            .chain(self.other.iter().map(|(n, (v, ds))| (*n, *v, *ds)))
            .collect();
        all.sort_unstable_by_key(|e| e.0);
        all
    }

    /// The document numbers, ascending.
    pub fn numbers(&self) -> Vec<u64> {
        let mut n: Vec<u64> = self
            .sorted
            .iter()
            .filter(|e| !e.3)
            .map(|e| e.0)
            .chain(self.other.keys().copied())
            .collect();
        n.sort_unstable();
        n
    }
}

#[cfg(test)]
mod known_tests {
    use super::*;

    /// In order or not, noted, taken and noted again: the same answers as a map.
    #[test]
    fn known_documents_answer_like_a_map_in_any_order() {
        let mut a = KnownDocuments::default();
        for (n, v) in [(1, 1), (1, 2), (3, 1), (7, 1), (7, 3), (7, 2)] {
            a.note(n, v, Some(DefaultSecurity::Private));
        }
        assert!(a.other.is_empty(), "noted in order: all in the sorted part");
        a.note(5, 1, None); // out of order: the map
        a.note(3, 4, Some(DefaultSecurity::Public));
        assert_eq!(a.len(), 4);
        assert_eq!(a.numbers(), vec![1, 3, 5, 7]);
        assert_eq!(a.take(3), Some(Some(DefaultSecurity::Public)));
        assert_eq!(a.take(3), None);
        assert!(!a.contains(3) && a.contains(5) && a.contains(7));
        assert_eq!(a.len(), 3);
        a.note(3, 1, None);
        assert_eq!(a.take(3), Some(None), "noted again after it was taken");
        assert_eq!(a.take(5), Some(None));
        let mut b = KnownDocuments::default();
        b.note(7, 3, Some(DefaultSecurity::Private));
        b.note(1, 2, Some(DefaultSecurity::Private));
        assert_eq!(a, b);
        assert_eq!(
            a.entries(),
            vec![
                (1, 2, Some(DefaultSecurity::Private)),
                (7, 3, Some(DefaultSecurity::Private))
            ]
        );
    }
}

/// A set of document numbers in a sorted `Vec`: 8 bytes per document (a `HashSet<u64>` takes
/// 2-3 times that), for the per-document sets of a changes-only crawl.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DocumentNumbers(Vec<u64>);

impl DocumentNumbers {
    /// The set of `numbers` (in any order, repeats allowed).
    pub fn new(mut numbers: Vec<u64>) -> Self {
        numbers.sort_unstable();
        numbers.dedup();
        numbers.shrink_to_fit();
        Self(numbers)
    }

    pub fn contains(&self, n: &u64) -> bool {
        self.0.binary_search(n).is_ok()
    }

    /// The numbers, ascending.
    pub fn iter(&self) -> impl Iterator<Item = &u64> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
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
    pub(super) async fn relist_strangers(
        &self,
        filed: &DocumentNumbers,
        parent_docs: &DocumentNumbers,
        seen: &mut HashSet<(u64, u32)>,
        docs: &mut KnownDocuments,
    ) -> Result<(), Stopped> {
        let changed: HashSet<u64> = seen.iter().map(|(n, _)| *n).collect();
        let mut strangers: Vec<u64> = filed
            .iter()
            .chain(&changed)
            .copied()
            .filter(|n| !parent_docs.contains(n))
            .collect();
        let mut unfiled: Vec<u64> = parent_docs
            .iter()
            .copied()
            .filter(|n| !filed.contains(n) && !changed.contains(n))
            .collect();
        if self.gaps.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            // The filings or the changes may be incomplete: keep what the last snapshot had.
            unfiled.clear();
        } else if unfiled.len() > MAX_RELIST.max(parent_docs.len() / 10) {
            self.gap();
            self.sink
                .item(WalkItem::Warning {
                    what: format!("{} documents of library {}", unfiled.len(), self.library),
                    detail: "known to the last snapshot but filed nowhere now; too many to read \
                             one by one: kept as they were, and the next run lists everything"
                        .into(),
                })
                .await?;
            unfiled.clear();
        }
        strangers.append(&mut unfiled);
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
            if parent_docs.contains(&number) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_version_gives_the_documents_default_security() {
        let mut k = KnownDocuments::default();
        k.note(7, 2, Some(DefaultSecurity::Private));
        k.note(7, 1, Some(DefaultSecurity::Public));
        k.note(7, 3, Some(DefaultSecurity::View));
        k.note(9, 1, None);
        assert_eq!(k.len(), 2);
        assert_eq!(k.numbers(), vec![7, 9]);
        assert_eq!(k.take(7), Some(Some(DefaultSecurity::View)));
        assert_eq!(k.take(7), None);
        assert_eq!(k.take(9), Some(None));
        assert!(k.is_empty());
    }
}
