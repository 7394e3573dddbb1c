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
/// document's ACL takes it), and whether a filing names it. Documents noted in ascending order
/// (the last snapshot's, read in order) go to a sorted `Vec` (16 bytes per document); others to
/// a map (~40 bytes each). [`KnownDocuments::seal_parents`] marks the documents noted so far as
/// the last snapshot's, so that a changes-only crawl needs no other per-document set.
#[derive(Debug, Default, Clone)]
pub struct KnownDocuments {
    /// Numbers ascending.
    sorted: Vec<Known>,
    /// Documents in `sorted` that were taken out.
    taken: usize,
    other: HashMap<u64, (u32, Option<DefaultSecurity>)>,
    /// `sorted[..parents]` are the last snapshot's documents (see `seal_parents`).
    parents: usize,
    /// Filed documents that were not in `sorted` when their filing was read (few: new ones).
    filed_elsewhere: Vec<u64>,
}

/// One document of [`KnownDocuments`]: 16 bytes.
#[derive(Debug, Clone, Copy)]
struct Known {
    number: u64,
    version: u32,
    security: Option<DefaultSecurity>,
    flags: u8,
}

const _: () = assert!(std::mem::size_of::<Known>() == 16);

/// [`Known::flags`]: taken out (its ACL was emitted, or it was relisted).
const TAKEN: u8 = 1;
/// [`Known::flags`]: a filing names it.
const FILED: u8 = 2;

impl PartialEq for KnownDocuments {
    fn eq(&self, o: &Self) -> bool {
        self.entries() == o.entries()
    }
}

impl KnownDocuments {
    /// Notes one version; the highest version of a document wins.
    pub fn note(&mut self, number: u64, version: u32, default_security: Option<DefaultSecurity>) {
        let at = match self.sorted.last() {
            Some(last) if last.number == number => Some(self.sorted.len() - 1),
            Some(last) if last.number > number => self.find(number),
            _ if !self.other.contains_key(&number) => {
                self.sorted.push(Known {
                    number,
                    version,
                    security: default_security,
                    flags: 0,
                });
                return;
            }
            _ => None,
        };
        match at {
            Some(i) => {
                let e = &mut self.sorted[i];
                if e.flags & TAKEN != 0 {
                    (e.version, e.security) = (version, default_security);
                    e.flags &= !TAKEN;
                    self.taken -= 1;
                } else if version >= e.version {
                    (e.version, e.security) = (version, default_security);
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

    /// The index of `number` in `sorted`, taken out or not.
    fn find(&self, number: u64) -> Option<usize> {
        self.sorted.binary_search_by_key(&number, |e| e.number).ok()
    }

    fn index_of(&self, number: u64) -> Option<usize> {
        self.find(number)
            .filter(|&i| self.sorted[i].flags & TAKEN == 0)
    }

    pub fn contains(&self, number: u64) -> bool {
        self.index_of(number).is_some() || self.other.contains_key(&number)
    }

    /// Takes a document out: its `default_security` if it was there.
    pub fn take(&mut self, number: u64) -> Option<Option<DefaultSecurity>> {
        if let Some(i) = self.index_of(number) {
            self.sorted[i].flags |= TAKEN;
            self.taken += 1;
            return Some(self.sorted[i].security);
        }
        self.other.remove(&number).map(|(_, ds)| ds)
    }

    pub fn len(&self) -> usize {
        self.sorted.len() - self.taken + self.other.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks the documents noted so far as the last snapshot's ([`Self::is_parent`]), before a
    /// changes-only crawl notes what it lists.
    pub fn seal_parents(&mut self) {
        if !self.other.is_empty() {
            self.sorted.extend(
                self.other
                    .drain()
                    .map(|(number, (version, security))| Known {
                        number,
                        version,
                        security,
                        flags: 0,
                    }),
            );
            self.sorted.sort_unstable_by_key(|e| e.number);
        }
        self.parents = self.sorted.len();
    }

    /// Whether `number` was noted before [`Self::seal_parents`] (taken out since or not).
    pub fn is_parent(&self, number: u64) -> bool {
        self.sorted[..self.parents]
            .binary_search_by_key(&number, |e| e.number)
            .is_ok()
    }

    /// Notes that a filing names `number`.
    pub fn note_filed(&mut self, number: u64) {
        match self.find(number) {
            Some(i) => self.sorted[i].flags |= FILED,
            None => self.filed_elsewhere.push(number),
        }
    }

    /// Filed documents that are not the last snapshot's, ascending, without repeats.
    pub fn filed_strangers(&self) -> Vec<u64> {
        let mut n: Vec<u64> = self.sorted[self.parents..]
            .iter()
            .filter(|e| e.flags & FILED != 0)
            .map(|e| e.number)
            .chain(self.filed_elsewhere.iter().copied())
            .filter(|n| !self.is_parent(*n))
            .collect();
        n.sort_unstable();
        n.dedup();
        n
    }

    /// The last snapshot's documents that no filing names, ascending.
    pub fn unfiled_parents(&self) -> impl Iterator<Item = u64> + Clone + '_ {
        self.sorted[..self.parents]
            .iter()
            .filter(|e| e.flags & FILED == 0)
            .map(|e| e.number)
    }

    /// The last snapshot's documents (see [`Self::seal_parents`]).
    pub fn parent_count(&self) -> usize {
        self.parents
    }

    /// (number, latest version, `default_security`), numbers ascending.
    fn entries(&self) -> Vec<(u64, u32, Option<DefaultSecurity>)> {
        let mut all: Vec<_> = self
            .sorted
            .iter()
            .filter(|e| e.flags & TAKEN == 0)
            .map(|e| (e.number, e.version, e.security))
            .chain(self.other.iter().map(|(n, (v, ds))| (*n, *v, *ds)))
            .collect();
        all.sort_unstable_by_key(|e| e.0);
        all
    }

    /// The document numbers, ascending.
    pub fn numbers(&self) -> Vec<u64> {
        self.entries().into_iter().map(|e| e.0).collect()
    }

    /// The documents not taken out, with their `default_security`, numbers ascending; without
    /// a copy of the sorted part.
    pub fn into_remaining(self) -> impl Iterator<Item = (u64, Option<DefaultSecurity>)> {
        let mut other: Vec<(u64, Option<DefaultSecurity>)> =
            self.other.into_iter().map(|(n, (_, ds))| (n, ds)).collect();
        other.sort_unstable_by_key(|e| e.0);
        let mut sorted = self
            .sorted
            .into_iter()
            .filter(|e| e.flags & TAKEN == 0)
            .map(|e| (e.number, e.security))
            .peekable();
        let mut other = other.into_iter().peekable();
        std::iter::from_fn(move || match (sorted.peek(), other.peek()) {
            (Some(a), Some(b)) if b.0 < a.0 => other.next(),
            (Some(_), _) => sorted.next(),
            (None, _) => other.next(),
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The last snapshot's documents (sealed), then a crawl's: which are parents, which are
    /// filed, what is left for the ACL pass; the same answers whether a number came in order
    /// (the sorted part) or not (the map).
    #[test]
    fn sealed_parents_and_filings_answer_without_another_set() {
        let mut k = KnownDocuments::default();
        for n in [2, 4, 6, 8] {
            k.note(n, 1, Some(DefaultSecurity::Public));
        }
        k.note(5, 1, None); // out of order: the map, merged in by the seal
        k.seal_parents();
        assert_eq!(k.parent_count(), 5);
        // The crawl: a new document in order, one out of order, a parent changed.
        k.note(10, 1, Some(DefaultSecurity::Private));
        k.note(3, 1, Some(DefaultSecurity::View));
        k.note(4, 2, Some(DefaultSecurity::Private));
        for n in [2, 5, 10, 3, 12, 2] {
            k.note_filed(n);
        }
        assert!([2, 4, 5, 6, 8].iter().all(|n| k.is_parent(*n)));
        assert!([3, 10, 12, 1].iter().all(|n| !k.is_parent(*n)));
        assert_eq!(k.filed_strangers(), vec![3, 10, 12]);
        assert_eq!(k.unfiled_parents().collect::<Vec<_>>(), vec![4, 6, 8]);
        // Taken out, a parent stays a parent and keeps its filing.
        assert_eq!(k.take(2), Some(Some(DefaultSecurity::Public)));
        assert!(k.is_parent(2));
        k.note(2, 3, None);
        assert_eq!(k.unfiled_parents().collect::<Vec<_>>(), vec![4, 6, 8]);
        assert_eq!(k.take(6), Some(Some(DefaultSecurity::Public)));
        let left: Vec<_> = k.clone().into_remaining().collect();
        assert_eq!(
            left,
            vec![
                (2, None),
                (3, Some(DefaultSecurity::View)),
                (4, Some(DefaultSecurity::Private)),
                (5, None),
                (8, Some(DefaultSecurity::Public)),
                (10, Some(DefaultSecurity::Private)),
            ]
        );
        assert_eq!(left.iter().map(|e| e.0).collect::<Vec<_>>(), k.numbers());
    }

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
