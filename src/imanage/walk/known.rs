//! [`KnownDocuments`]: per document number, its latest version and that version's
//! `default_security`, and whether a filing names it. A crawl notes every version in it, then
//! takes each document out as its ACL is emitted (the trustee rows carry no default security);
//! a changes-only crawl starts from the last snapshot's documents ([`ChangesSince::known`]).
//!
//! Documents noted in ascending order (a crawl's, the last snapshot's read in order) are packed
//! ([`PackedDocs`]: ~2-3 bytes per document, flags one bit each); others go to a map (~40 bytes
//! each; few unless the server lists documents out of order). [`KnownDocuments::seal_parents`]
//! marks the documents noted so far as the last snapshot's, so that a changes-only crawl needs
//! no other per-document set.
//!
//! [`ChangesSince::known`]: super::ChangesSince::known

use std::collections::HashMap;

use super::packed_docs::{Bits, Doc, PackedDocs};
use crate::imanage::model::{DefaultSecurity, DocumentVersion};

/// See the module docs.
#[derive(Debug, Default, Clone)]
pub struct KnownDocuments {
    /// Numbers ascending.
    sorted: PackedDocs,
    /// Ordinals of `sorted` taken out (their ACL was emitted, or they were relisted).
    taken_out: Bits,
    /// Ordinals of `sorted` a filing names.
    filed: Bits,
    /// How many of `sorted` are taken out.
    taken: usize,
    other: HashMap<u64, (u32, Option<DefaultSecurity>)>,
    /// `sorted[..parents]` are the last snapshot's documents (see `seal_parents`).
    parents: usize,
    /// Filed documents that were not in `sorted` when their filing was read (few: new ones).
    filed_elsewhere: Vec<u64>,
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
            Some(last) if last.number == number => Some((self.sorted.len() - 1, *last)),
            Some(last) if last.number > number => self.sorted.find_entry(number),
            _ if !self.other.contains_key(&number) => {
                self.sorted.push(Doc {
                    number,
                    version,
                    security: default_security,
                });
                return;
            }
            _ => None,
        };
        match at {
            Some((i, e)) => {
                if self.taken_out.get(i) {
                    self.sorted.set(i, version, default_security);
                    self.taken_out.set(i, false);
                    self.taken -= 1;
                } else {
                    if version >= e.version
                        && (version, default_security) != (e.version, e.security)
                    {
                        self.sorted.set(i, version, default_security);
                    }
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

    /// The ordinal and entry of `number` in `sorted`, if it is there and not taken out.
    fn entry_of(&self, number: u64) -> Option<(usize, Doc)> {
        self.sorted
            .find_entry(number)
            .filter(|(i, _)| !self.taken_out.get(*i))
    }

    pub fn contains(&self, number: u64) -> bool {
        self.entry_of(number).is_some() || self.other.contains_key(&number)
    }

    /// Takes a document out: its `default_security` if it was there.
    pub fn take(&mut self, number: u64) -> Option<Option<DefaultSecurity>> {
        if let Some((i, e)) = self.entry_of(number) {
            self.taken_out.set(i, true);
            self.taken += 1;
            return Some(e.security);
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
    /// changes-only crawl notes what it lists. Documents noted out of order are merged into the
    /// packed part first (with their flags).
    pub fn seal_parents(&mut self) {
        if !self.other.is_empty() {
            let mut other: Vec<Doc> = self
                .other
                .drain()
                .map(|(number, (version, security))| Doc {
                    number,
                    version,
                    security,
                })
                .collect();
            other.sort_unstable_by_key(|d| d.number);
            let old = std::mem::take(&mut self.sorted);
            let old_taken = std::mem::take(&mut self.taken_out);
            let old_filed = std::mem::take(&mut self.filed);
            let mut olds = old.iter().enumerate().peekable();
            let mut others = other.into_iter().peekable();
            loop {
                let from_old = match (olds.peek(), others.peek()) {
                    (Some((_, a)), Some(b)) => a.number < b.number,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (None, None) => break,
                };
                let at = self.sorted.len();
                if from_old {
                    let (i, d) = olds.next().expect("peeked");
                    self.sorted.push(d);
                    self.taken_out.set(at, old_taken.get(i));
                    self.filed.set(at, old_filed.get(i));
                } else {
                    self.sorted.push(others.next().expect("peeked"));
                }
            }
        }
        self.parents = self.sorted.len();
    }

    /// Whether `number` was noted before [`Self::seal_parents`] (taken out since or not).
    pub fn is_parent(&self, number: u64) -> bool {
        self.sorted.find(number).is_some_and(|i| i < self.parents)
    }

    /// Notes that a filing names `number`.
    pub fn note_filed(&mut self, number: u64) {
        match self.sorted.find(number) {
            Some(i) => self.filed.set(i, true),
            None => self.filed_elsewhere.push(number),
        }
    }

    /// Filed documents that are not the last snapshot's, ascending, without repeats.
    pub fn filed_strangers(&self) -> Vec<u64> {
        let mut n: Vec<u64> = self
            .sorted
            .iter_from(self.parents)
            .zip(self.parents..)
            .filter(|(_, i)| self.filed.get(*i))
            .map(|(d, _)| d.number)
            .chain(self.filed_elsewhere.iter().copied())
            .filter(|n| !self.is_parent(*n))
            .collect();
        n.sort_unstable();
        n.dedup();
        n
    }

    /// The last snapshot's documents that no filing names, ascending.
    pub fn unfiled_parents(&self) -> impl Iterator<Item = u64> + Clone + '_ {
        self.sorted
            .iter()
            .take(self.parents)
            .zip(0..)
            .filter(|(_, i)| !self.filed.get(*i))
            .map(|(d, _)| d.number)
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
            .zip(0..)
            .filter(|(_, i)| !self.taken_out.get(*i))
            .map(|(e, _)| (e.number, e.version, e.security))
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
    /// a copy of the packed part (one block unpacked at a time).
    pub fn into_remaining(self) -> impl Iterator<Item = (u64, Option<DefaultSecurity>)> {
        let mut other: Vec<(u64, Option<DefaultSecurity>)> =
            self.other.into_iter().map(|(n, (_, ds))| (n, ds)).collect();
        other.sort_unstable_by_key(|e| e.0);
        let taken_out = self.taken_out;
        let mut sorted = self
            .sorted
            .into_docs()
            .zip(0..)
            .filter(move |(_, i)| !taken_out.get(*i))
            .map(|(e, _)| (e.number, e.security))
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
mod tests {
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

    /// Flags set before the seal follow their documents when the out-of-order ones are merged
    /// in (the ordinals move).
    #[test]
    fn a_seal_keeps_the_flags_of_documents_it_moves() {
        let mut k = KnownDocuments::default();
        for n in (10..1000).step_by(3) {
            k.note(n, 1, Some(DefaultSecurity::Public));
        }
        for n in [2, 5, 500] {
            k.note(n, 2, Some(DefaultSecurity::View)); // out of order: the map
        }
        k.note_filed(13);
        k.note_filed(997);
        assert_eq!(k.take(16), Some(Some(DefaultSecurity::Public)));
        let before = k.len();
        k.seal_parents();
        assert_eq!(k.len(), before);
        assert!(!k.contains(16) && k.contains(19) && k.contains(500));
        let unfiled: Vec<u64> = k.unfiled_parents().collect();
        assert!(!unfiled.contains(&13) && !unfiled.contains(&997));
        assert!(unfiled.contains(&2) && unfiled.contains(&500) && unfiled.contains(&16));
        assert_eq!(unfiled.len(), k.parent_count() - 2);
        assert_eq!(k.take(500), Some(Some(DefaultSecurity::View)));
        assert_eq!(k.take(16), None);
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

    /// What a map-based model answers, for any mix of notes (in order or not, across many
    /// packed blocks), a seal, filings, takes and notes again.
    mod model {
        use super::*;
        use proptest::prelude::*;
        use std::collections::{BTreeMap, BTreeSet};

        #[derive(Debug, Clone)]
        enum Op {
            Note(u64, u32, u8),
            Filed(u64),
            Take(u64),
        }

        fn security(s: u8) -> Option<DefaultSecurity> {
            [
                None,
                Some(DefaultSecurity::Inherit),
                Some(DefaultSecurity::Public),
                Some(DefaultSecurity::View),
                Some(DefaultSecurity::Private),
            ][usize::from(s % 5)]
        }

        /// Numbers up to 60,000: the last snapshot's reach up to ~50,000 (many packed
        /// blocks), so operations land in every block, in the tail and past it.
        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => (0..60_000u64, 0..5u32, any::<u8>()).prop_map(|(n, v, s)| Op::Note(n, v, s)),
                1 => (0..60_000u64).prop_map(Op::Filed),
                2 => (0..60_000u64).prop_map(Op::Take),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            #[test]
            fn answers_like_a_map(
                first in 0..2000u64,
                gaps in prop::collection::vec(1..40u64, 0..1200),
                strays in prop::collection::vec((0..60_000u64, 1..4u32), 0..30),
                ops in prop::collection::vec(op(), 0..600),
            ) {
                // The last snapshot's documents: in order (mostly packed), a few out of order.
                let mut k = KnownDocuments::default();
                let mut m: BTreeMap<u64, (u32, Option<DefaultSecurity>)> = BTreeMap::new();
                let mut n = first;
                for (i, g) in gaps.iter().enumerate() {
                    for v in 1..=(i as u32 % 3 + 1) {
                        k.note(n, v, security(i as u8));
                        let e = m.entry(n).or_insert((0, None));
                        if v >= e.0 {
                            *e = (v, security(i as u8));
                        }
                    }
                    n += g;
                }
                for (n, v) in &strays {
                    k.note(*n, *v, security(*v as u8));
                    let e = m.entry(*n).or_insert((0, None));
                    if *v >= e.0 {
                        *e = (*v, security(*v as u8));
                    }
                }
                k.seal_parents();
                let parents: BTreeSet<u64> = m.keys().copied().collect();
                prop_assert_eq!(k.parent_count(), parents.len());
                let mut taken: BTreeSet<u64> = BTreeSet::new();
                let mut filed: BTreeSet<u64> = BTreeSet::new();
                for op in &ops {
                    match *op {
                        Op::Note(n, v, s) => {
                            k.note(n, v, security(s));
                            if taken.remove(&n) {
                                m.insert(n, (v, security(s)));
                            } else {
                                let e = m.entry(n).or_insert((0, None));
                                if v >= e.0 {
                                    *e = (v, security(s));
                                }
                            }
                        }
                        Op::Filed(n) => {
                            k.note_filed(n);
                            filed.insert(n);
                        }
                        Op::Take(n) => {
                            let want = if taken.contains(&n) {
                                None
                            } else {
                                m.get(&n).map(|e| e.1)
                            };
                            prop_assert_eq!(k.take(n), want, "take {}", n);
                            if want.is_some() {
                                taken.insert(n);
                            }
                        }
                    }
                }
                let left: Vec<(u64, Option<DefaultSecurity>)> = m
                    .iter()
                    .filter(|(n, _)| !taken.contains(n))
                    .map(|(n, e)| (*n, e.1))
                    .collect();
                prop_assert_eq!(k.len(), left.len());
                let probes: Vec<u64> = m.keys().copied().chain((0..61_000).step_by(97)).collect();
                for n in probes {
                    prop_assert_eq!(k.contains(n), m.contains_key(&n) && !taken.contains(&n));
                    prop_assert_eq!(k.is_parent(n), parents.contains(&n));
                }
                let strangers: Vec<u64> = filed.difference(&parents).copied().collect();
                prop_assert_eq!(k.filed_strangers(), strangers);
                let unfiled: Vec<u64> = parents.difference(&filed).copied().collect();
                prop_assert_eq!(k.unfiled_parents().collect::<Vec<_>>(), unfiled);
                prop_assert_eq!(
                    k.numbers(),
                    left.iter().map(|e| e.0).collect::<Vec<_>>()
                );
                prop_assert_eq!(k.into_remaining().collect::<Vec<_>>(), left);
            }
        }
    }
}
