//! The container trustee rows of a crawl (its first step), held until the containers are
//! listed: one row a (container, trustee) pair, each distinct trustee entry stored once.
//!
//! The simulator's 10 M-version library has 454,085 containers with ~2 trustees each. As a map
//! of container number to `Vec<AclEntry>` (two strings each) those rows lifted the backup's RSS
//! from ~100 to ~167 MiB before the first container was listed, and glibc kept that heap for
//! the rest of the run (VmRSS 163-190 MiB all along the crawl, peak 237 MiB). Here a row is 16
//! bytes (its container number and the index of its entry) and the entries repeat (the same
//! users and groups are trustees of many containers): 90 s into that crawl, RSS 176 -> 110 MiB
//! (2026-12-07, `benches/backup_rss.sh` for the whole run).

use std::collections::HashMap;

use crate::imanage::model::AclEntry;

/// Container trustee rows: [`ContainerAcls::add`] them in any order, [`ContainerAcls::seal`],
/// then look up each container's entries.
#[derive(Default)]
pub(super) struct ContainerAcls {
    /// Each distinct entry once.
    entries: Vec<AclEntry>,
    ids: HashMap<AclEntry, usize>,
    /// (container number, index into `entries`), in the order added until sealed, then sorted
    /// by container (a container's entries keep their order).
    rows: Vec<(u64, usize)>,
    sealed: bool,
}

impl ContainerAcls {
    /// Notes that `entry` is a trustee of container `number`.
    pub(super) fn add(&mut self, number: u64, entry: AclEntry) {
        debug_assert!(!self.sealed, "rows added after seal");
        let id = match self.ids.get(&entry) {
            Some(id) => *id,
            None => {
                let id = self.entries.len();
                self.entries.push(entry.clone());
                self.ids.insert(entry, id);
                id
            }
        };
        self.rows.push((number, id));
    }

    /// Sorts the rows by container (stable: a container's entries stay in the order listed)
    /// and frees what only adding needed.
    pub(super) fn seal(&mut self) {
        self.rows.sort_by_key(|(number, _)| *number);
        self.rows.shrink_to_fit();
        self.ids = HashMap::new();
        self.sealed = true;
    }

    /// The entries of container `number`, in the order they were listed (none: no row named it).
    pub(super) fn entries(&self, number: u64) -> Vec<AclEntry> {
        debug_assert!(self.sealed, "looked up before seal");
        let start = self.rows.partition_point(|(n, _)| *n < number);
        self.rows[start..]
            .iter()
            .take_while(|(n, _)| *n == number)
            .map(|(_, id)| self.entries[*id].clone())
            .collect()
    }

    /// Rows held (for tests and logs).
    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imanage::model::{AccessLevel, TrusteeType};

    fn e(id: &str, level: AccessLevel) -> AclEntry {
        AclEntry {
            id: id.into(),
            trustee_type: TrusteeType::User,
            name: Some(format!("{id} name")),
            access_level: level,
        }
    }

    /// Rows added in any order come back per container in the order listed; a trustee of many
    /// containers is stored once; a container without rows has no entries; a container looked
    /// up twice (a listing that repeats rows) gets the same entries twice.
    #[test]
    fn each_container_gets_its_entries_in_the_listed_order() {
        let mut acls = ContainerAcls::default();
        acls.add(7, e("ann", AccessLevel::Read));
        acls.add(3, e("bob", AccessLevel::FullAccess));
        acls.add(7, e("cy", AccessLevel::ReadWrite));
        acls.add(3, e("ann", AccessLevel::Read));
        acls.add(9, e("ann", AccessLevel::NoAccess));
        acls.add(7, e("bob", AccessLevel::FullAccess));
        acls.seal();
        assert_eq!(acls.len(), 6);
        // ann/Read, bob/FullAccess, cy/ReadWrite, ann/NoAccess: 4 distinct entries.
        assert_eq!(acls.entries.len(), 4);
        assert_eq!(
            acls.entries(7),
            [
                e("ann", AccessLevel::Read),
                e("cy", AccessLevel::ReadWrite),
                e("bob", AccessLevel::FullAccess)
            ]
        );
        assert_eq!(
            acls.entries(3),
            [
                e("bob", AccessLevel::FullAccess),
                e("ann", AccessLevel::Read)
            ]
        );
        assert_eq!(acls.entries(9), [e("ann", AccessLevel::NoAccess)]);
        assert_eq!(acls.entries(9), [e("ann", AccessLevel::NoAccess)]);
        for none in [0, 4, 8, 10, u64::MAX] {
            assert!(acls.entries(none).is_empty(), "container {none}");
        }
    }

    /// The same trustee id with another name or type is another entry (an ACL keeps what the
    /// row said).
    #[test]
    fn entries_differing_in_any_field_are_kept_apart() {
        let mut acls = ContainerAcls::default();
        let mut group = e("ann", AccessLevel::Read);
        group.trustee_type = TrusteeType::Group;
        let mut unnamed = e("ann", AccessLevel::Read);
        unnamed.name = None;
        acls.add(1, e("ann", AccessLevel::Read));
        acls.add(1, group.clone());
        acls.add(1, unnamed.clone());
        acls.seal();
        assert_eq!(
            acls.entries(1),
            [e("ann", AccessLevel::Read), group, unnamed]
        );
    }
}
