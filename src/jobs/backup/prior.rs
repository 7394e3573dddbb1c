//! What the last backup of a library already holds: for each version its change key (§5 of
//! the contract: `id`, `size`, `edit_date`, `edit_profile_date`) and its content reference, so an
//! incremental run downloads only new or changed versions.
//!
//! Memory: one entry per version of the library, keyed by (document number, version) with a
//! 64-bit fingerprint of the change key instead of the strings: about 100 bytes per version
//! (the blob list dominates), i.e. ~100 MB for a library of a million versions.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use crate::imanage::model::{ChangeKey, DefaultSecurity, DocumentVersion};
use crate::imanage::walk::KnownDocuments;
use crate::repo::ContentRef;

/// A stored version record (`jobs::records::VersionRecord`) read for its change key and content
/// only: the rest of the profile is skipped, not built into a map (the last snapshot's versions
/// stream is read at the start of every incremental run).
#[derive(Debug, Deserialize)]
pub struct PriorRecord {
    profile: KeyFields,
    content: ContentRef,
}

#[derive(Debug, Deserialize)]
struct KeyFields {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    size: Option<Value>,
    #[serde(default)]
    edit_date: Option<Value>,
    #[serde(default)]
    edit_profile_date: Option<Value>,
    #[serde(default)]
    default_security: Option<Value>,
}

impl PriorRecord {
    /// The change key as [`DocumentVersion::from_json`] reads it; `None` where that would fail.
    pub fn change_key(&self) -> Option<ChangeKey> {
        let p = &self.profile;
        ChangeKey::from_fields(
            p.id.as_ref(),
            p.size.as_ref(),
            p.edit_date.as_ref(),
            p.edit_profile_date.as_ref(),
        )
    }

    /// The version's `default_security` as [`DocumentVersion::from_json`] reads it (`None`
    /// when absent or unreadable).
    pub fn default_security(&self) -> Option<DefaultSecurity> {
        match &self.profile.default_security {
            None | Some(Value::Null) => None,
            Some(v) => serde_json::from_value(v.clone()).ok(),
        }
    }

    pub fn into_content(self) -> ContentRef {
        self.content
    }
}

/// One version of the last snapshot, as change detection needs it.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    fingerprint: u64,
    default_security: Option<DefaultSecurity>,
    content: ContentRef,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct PriorVersions {
    /// The last snapshot's versions.
    map: HashMap<(u64, u32), Entry>,
    /// Versions stored by interrupted runs since: content to reuse, not part of the snapshot.
    resumed: HashMap<(u64, u32), Entry>,
}

fn fingerprint(key: &ChangeKey) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(key.id.to_string().as_bytes());
    h.update(&key.size.to_le_bytes());
    for part in [&key.edit_date, &key.edit_profile_date] {
        match part {
            Some(s) => {
                h.update(&[1]);
                h.update(&(s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
            None => {
                h.update(&[0]);
            }
        }
    }
    let out = h.finalize();
    u64::from_le_bytes(out.as_bytes()[..8].try_into().expect("8 bytes"))
}

impl PriorVersions {
    /// Records that `version`, as described by its profile, is in the snapshot as `content`.
    pub fn insert(&mut self, version: &DocumentVersion, content: ContentRef) {
        self.map.insert(key_of(version), entry_of(version, content));
    }

    /// Records a version of the last snapshot read from its stream.
    pub fn insert_record(&mut self, key: &ChangeKey, rec: PriorRecord) {
        let at = (key.id.document.number, key.id.version);
        let default_security = rec.default_security();
        self.map.insert(
            at,
            Entry {
                fingerprint: fingerprint(key),
                default_security,
                content: rec.into_content(),
            },
        );
    }

    /// The versions of a snapshot's versions stream `meta` (records whose profile has no
    /// readable change key are left out: they are downloaded again).
    pub async fn read(
        repo: &crate::repo::Repository<crate::repo::Indexed>,
        meta: &crate::repo::MetaRef,
    ) -> Result<Self, crate::repo::RepoError> {
        use futures::StreamExt;
        let mut prior = Self::default();
        let mut records = std::pin::pin!(
            repo.read_meta_stream::<PriorRecord>(crate::jobs::records::STREAM_VERSIONS, meta)
        );
        while let Some(rec) = records.next().await {
            let rec = rec?;
            if let Some(key) = rec.change_key() {
                prior.insert_record(&key, rec);
            }
        }
        Ok(prior)
    }

    /// Records a version an interrupted run stored (its content can be reused; it is not part
    /// of the last snapshot).
    pub fn insert_resumed(&mut self, version: &DocumentVersion, content: ContentRef) {
        self.resumed
            .insert(key_of(version), entry_of(version, content));
    }

    /// The stored content of `version` if it is unchanged since it was stored.
    pub fn unchanged(&self, version: &DocumentVersion) -> Option<&ContentRef> {
        let key = key_of(version);
        let fp = fingerprint(&version.change_key());
        [&self.map, &self.resumed]
            .into_iter()
            .filter_map(|m| m.get(&key))
            .find(|e| e.fingerprint == fp && e.content.size == version.size)
            .map(|e| &e.content)
    }

    /// Versions of the last snapshot.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether (document number, version) was in the last snapshot, changed or not.
    pub fn contains(&self, document_number: u64, version: u32) -> bool {
        self.map.contains_key(&(document_number, version))
    }

    /// The documents of the last snapshot (latest version and its `default_security`).
    pub fn known_documents(&self) -> KnownDocuments {
        let mut k = KnownDocuments::default();
        for (&(n, v), e) in &self.map {
            k.note(n, v, e.default_security);
        }
        k
    }

    /// The snapshot a run writes, as the next run's prior: `fresh` (what this run listed),
    /// plus, for a changes-only run, the versions carried from this prior (those not
    /// `covered`). Interrupted runs' versions are dropped.
    pub fn next(
        mut self,
        fresh: PriorVersions,
        carried: Option<&dyn Fn(u64, u32) -> bool>,
    ) -> Self {
        self.resumed.clear();
        match carried {
            Some(covered) => {
                self.map.retain(|&(n, v), _| !covered(n, v));
                self.map.extend(fresh.map);
                self
            }
            None => Self {
                map: fresh.map,
                resumed: HashMap::new(),
            },
        }
    }
}

fn key_of(v: &DocumentVersion) -> (u64, u32) {
    (v.id.document.number, v.id.version)
}

fn entry_of(v: &DocumentVersion, content: ContentRef) -> Entry {
    Entry {
        fingerprint: fingerprint(&v.change_key()),
        default_security: v.default_security,
        content,
    }
}

/// A compact binary form of a snapshot's [`PriorVersions`], kept on the local disk next to the
/// catalog (a cache: `digest.rs`).
pub mod encoding {
    use super::*;
    use crate::repo::BlobId;

    const MAGIC: &[u8; 8] = b"IMVPRIO1";

    fn ds_code(d: Option<DefaultSecurity>) -> u8 {
        match d {
            None => 0,
            Some(DefaultSecurity::Inherit) => 1,
            Some(DefaultSecurity::Public) => 2,
            Some(DefaultSecurity::View) => 3,
            Some(DefaultSecurity::Private) => 4,
        }
    }

    fn ds_of(c: u8) -> Option<Option<DefaultSecurity>> {
        Some(match c {
            0 => None,
            1 => Some(DefaultSecurity::Inherit),
            2 => Some(DefaultSecurity::Public),
            3 => Some(DefaultSecurity::View),
            4 => Some(DefaultSecurity::Private),
            _ => return None,
        })
    }

    /// `MAGIC`, the snapshot id it describes (32 bytes), the entry count, the entries, and the
    /// BLAKE3 hash of everything before it.
    pub fn encode(snapshot: &[u8; 32], p: &PriorVersions) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + p.map.len() * 72);
        write_to(snapshot, p, &mut out).expect("writing to memory");
        out
    }

    /// [`encode`] into `w`, a buffer of entries at a time (a digest of a million versions
    /// never sits in memory twice).
    pub fn write_to(
        snapshot: &[u8; 32],
        p: &PriorVersions,
        w: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        let mut hasher = blake3::Hasher::new();
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut emit = |buf: &mut Vec<u8>, w: &mut dyn std::io::Write| -> std::io::Result<()> {
            hasher.update(buf);
            w.write_all(buf)?;
            buf.clear();
            Ok(())
        };
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(snapshot);
        buf.extend_from_slice(&(p.map.len() as u64).to_le_bytes());
        for (&(n, v), e) in &p.map {
            buf.extend_from_slice(&n.to_le_bytes());
            buf.extend_from_slice(&v.to_le_bytes());
            buf.extend_from_slice(&e.fingerprint.to_le_bytes());
            buf.push(ds_code(e.default_security));
            buf.extend_from_slice(&e.content.size.to_le_bytes());
            buf.extend_from_slice(&(e.content.blobs.len() as u32).to_le_bytes());
            for b in &e.content.blobs {
                buf.extend_from_slice(b.as_bytes());
            }
            if buf.len() >= 60 * 1024 {
                emit(&mut buf, w)?;
            }
        }
        emit(&mut buf, w)?;
        w.write_all(hasher.finalize().as_bytes())
    }

    struct Cursor<'a>(&'a [u8]);
    impl<'a> Cursor<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            if self.0.len() < n {
                return None;
            }
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            Some(a)
        }
        fn u64(&mut self) -> Option<u64> {
            Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
        }
        fn u32(&mut self) -> Option<u32> {
            Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
        }
    }

    /// The prior of `snapshot`, or `None` when `bytes` is not a whole, intact encoding of it.
    pub fn decode(snapshot: &[u8; 32], bytes: &[u8]) -> Option<PriorVersions> {
        let body_len = bytes.len().checked_sub(32)?;
        let (body, sum) = bytes.split_at(body_len);
        if blake3::hash(body).as_bytes() != sum {
            return None;
        }
        let mut c = Cursor(body);
        if c.take(8)? != MAGIC || c.take(32)? != snapshot {
            return None;
        }
        let n = c.u64()?;
        let mut map = HashMap::with_capacity(n.min(1 << 24) as usize);
        for _ in 0..n {
            let number = c.u64()?;
            let version = c.u32()?;
            let fingerprint = c.u64()?;
            let default_security = ds_of(c.take(1)?[0])?;
            let size = c.u64()?;
            let nblobs = c.u32()? as usize;
            let mut blobs = Vec::with_capacity(nblobs.min(1 << 16));
            for _ in 0..nblobs {
                let raw: [u8; 32] = c.take(32)?.try_into().ok()?;
                blobs.push(BlobId(raw));
            }
            map.insert(
                (number, version),
                Entry {
                    fingerprint,
                    default_security,
                    content: ContentRef { size, blobs },
                },
            );
        }
        if !c.0.is_empty() {
            return None;
        }
        Some(PriorVersions {
            map,
            resumed: HashMap::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::BlobId;

    fn version(id: &str, size: u64, edit: &str, profile: &str) -> DocumentVersion {
        DocumentVersion::from_json(
            serde_json::json!({"id": id, "size": size, "edit_date": edit,
            "edit_profile_date": profile, "name": "x"}),
        )
        .unwrap()
    }

    #[test]
    fn only_an_identical_change_key_counts_as_unchanged() {
        let mut prior = PriorVersions::default();
        let content = ContentRef {
            size: 10,
            blobs: vec![BlobId::of(b"seven")],
        };
        let v = version("A!1.1", 10, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z");
        prior.insert(&v, content.clone());
        assert_eq!(prior.unchanged(&v), Some(&content));
        for changed in [
            version("A!1.1", 11, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            version("A!1.1", 10, "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"),
            version("A!1.1", 10, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
            version("A!1.2", 10, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        ] {
            assert_eq!(
                prior.unchanged(&changed),
                None,
                "{:?} must be downloaded again",
                changed.change_key()
            );
        }
        assert!(prior.contains(1, 1));
        assert!(!prior.contains(1, 2));
    }

    #[test]
    fn a_prior_record_reads_the_same_change_key_as_the_whole_profile() {
        use crate::jobs::records::VersionRecord;
        let content = ContentRef {
            size: 10,
            blobs: vec![BlobId::of(b"seven")],
        };
        let profiles = [
            serde_json::json!({"id": "A!7.2", "size": 10, "edit_date": "2026-01-01T00:00:00Z",
                "edit_profile_date": "2026-01-03T00:00:00Z", "name": "x",
                "custom1": {"nested": [1, 2]}, "default_security": "inherit"}),
            serde_json::json!({"id": "A!8.1", "name": "no dates, no size"}),
            serde_json::json!({"id": "A!9.1", "size": null, "edit_date": 5}),
        ];
        for p in profiles {
            let v = DocumentVersion::from_json(p).unwrap();
            let line = serde_json::to_vec(&VersionRecord::new(v.clone(), content.clone())).unwrap();
            let prior: PriorRecord = serde_json::from_slice(&line).unwrap();
            assert_eq!(prior.change_key(), Some(v.change_key()));
            assert_eq!(prior.default_security(), v.default_security);
            assert_eq!(prior.into_content(), content);
        }
        for bad in [
            serde_json::json!({"profile": {"id": 5}, "content": {"size": 0, "blobs": []}}),
            serde_json::json!({"profile": {"id": "A!1.1", "size": -1}, "content": {"size": 0, "blobs": []}}),
            serde_json::json!({"profile": {"id": "A!1.1", "size": "7"}, "content": {"size": 0, "blobs": []}}),
        ] {
            let prior: PriorRecord = serde_json::from_value(bad.clone()).unwrap();
            assert_eq!(prior.change_key(), None, "{bad}");
            let full: VersionRecord = serde_json::from_value(bad).unwrap();
            assert!(
                full.version().is_err(),
                "the whole profile fails the same way"
            );
        }
    }
    fn sample() -> PriorVersions {
        let mut p = PriorVersions::default();
        for (id, size, ds) in [
            ("A!1.1", 10, "private"),
            ("A!1.2", 0, "public"),
            ("A!2.1", 7, "view"),
        ] {
            let v = DocumentVersion::from_json(serde_json::json!({"id": id, "size": size,
                "edit_date": "2026-01-01T00:00:00Z", "default_security": ds}))
            .unwrap();
            let blobs = (0..size % 3)
                .map(|i| BlobId::of(&[i as u8, size as u8]))
                .collect();
            p.insert(&v, ContentRef { size, blobs });
        }
        p
    }

    #[test]
    fn a_digest_reads_back_equal_and_only_for_its_snapshot() {
        let p = sample();
        let snap = [7u8; 32];
        let bytes = encoding::encode(&snap, &p);
        assert_eq!(encoding::decode(&snap, &bytes), Some(p.clone()));
        assert_eq!(
            encoding::decode(&[8u8; 32], &bytes),
            None,
            "another snapshot"
        );
        for at in [0, 9, 45, bytes.len() / 2, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x20;
            assert_eq!(encoding::decode(&snap, &bad), None, "flipped byte {at}");
        }
        assert_eq!(encoding::decode(&snap, &bytes[..bytes.len() - 1]), None);
        assert_eq!(encoding::decode(&snap, &[]), None);
        let known = p.known_documents();
        assert_eq!(known.numbers(), vec![1, 2]);
    }

    #[test]
    fn the_next_prior_is_what_the_run_listed_plus_what_it_carried() {
        let p = sample();
        let mut fresh = PriorVersions::default();
        let v = DocumentVersion::from_json(serde_json::json!({"id": "A!3.1", "size": 1})).unwrap();
        fresh.insert(
            &v,
            ContentRef {
                size: 1,
                blobs: vec![],
            },
        );
        let mut with_resumed = p.clone();
        with_resumed.insert_resumed(
            &v,
            ContentRef {
                size: 1,
                blobs: vec![],
            },
        );
        // A changes-only run that listed document 1 again: 2.1 carried, 3.1 fresh.
        let next = with_resumed.next(fresh.clone(), Some(&|n, _| n == 1));
        assert!(next.contains(2, 1) && next.contains(3, 1));
        assert!(!next.contains(1, 1) && !next.contains(1, 2));
        assert!(next.resumed.is_empty());
        // A full listing: only what it listed.
        let next = p.next(fresh, None);
        assert_eq!(next.len(), 1);
        assert!(next.contains(3, 1));
    }
}
