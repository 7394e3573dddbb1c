//! What the last backup of a library already holds: for each version a fingerprint of its
//! content key (`id`, `size`, `edit_date`: the part of the contract's change key, §5, that moves
//! when the content does) and its content reference, so an incremental run downloads only new
//! versions and versions whose content changed. A profile-only change (`edit_profile_date`
//! moved, size and `edit_date` not) keeps the stored content: the new profile comes from the
//! listing.
//!
//! Memory: none per version. The versions are kept on disk, sorted by (document number,
//! version), with a 64-bit fingerprint of the content key instead of the strings (about 70
//! bytes per version in an unnamed temporary file, [`table`]); one look-up reads
//! one block of about 16 KiB.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::imanage::model::{ChangeKey, DefaultSecurity, DocumentVersion};
use crate::imanage::walk::KnownDocuments;
use crate::repo::ContentRef;

pub mod cache;
pub mod encoding;
pub mod table;

use table::{Builder, Table};

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

impl Entry {
    /// The payload of a table record: fingerprint, `default_security`, size, blob ids.
    fn encode(&self, b: &mut Vec<u8>) {
        b.extend_from_slice(&self.fingerprint.to_le_bytes());
        b.push(encoding::ds_code(self.default_security));
        b.extend_from_slice(&self.content.size.to_le_bytes());
        b.extend_from_slice(&(self.content.blobs.len() as u32).to_le_bytes());
        for id in &self.content.blobs {
            b.extend_from_slice(id.as_bytes());
        }
    }

    fn decode(p: &[u8]) -> std::io::Result<Entry> {
        let bad =
            || std::io::Error::new(std::io::ErrorKind::InvalidData, "prior table: a bad entry");
        if p.len() < 21 {
            return Err(bad());
        }
        let u64_at = |i: usize| u64::from_le_bytes(p[i..i + 8].try_into().expect("8"));
        let nblobs = u32::from_le_bytes(p[17..21].try_into().expect("4")) as usize;
        if p.len() != 21 + nblobs * 32 {
            return Err(bad());
        }
        let blobs = p[21..]
            .chunks_exact(32)
            .map(|c| crate::repo::BlobId(c.try_into().expect("32")))
            .collect();
        Ok(Entry {
            fingerprint: u64_at(0),
            default_security: encoding::ds_of(p[8]).ok_or_else(bad)?,
            content: ContentRef {
                size: u64_at(9),
                blobs,
            },
        })
    }
}

/// The last snapshot's versions (a sorted table on disk, [`table`]: memory does
/// not grow with the library) and the versions interrupted runs stored since (in memory: what
/// one interrupted run stored).
#[derive(Debug, Default, Clone)]
pub struct PriorVersions {
    /// The last snapshot's versions.
    table: Table,
    /// Versions stored by interrupted runs since: content to reuse, not part of the snapshot.
    resumed: HashMap<(u64, u32), Entry>,
}

impl PartialEq for PriorVersions {
    fn eq(&self, o: &Self) -> bool {
        let all = |p: &Self| p.table.iter().collect::<std::io::Result<Vec<_>>>().ok();
        self.resumed == o.resumed && all(self).is_some() && all(self) == all(o)
    }
}

/// What the last snapshot knows of one listed version.
#[derive(Debug, Default)]
pub struct Found {
    /// Its rank among the last snapshot's versions, when it is one of them.
    pub ordinal: Option<u64>,
    /// Its stored content, when it is unchanged since it was stored.
    pub unchanged: Option<ContentRef>,
}

/// Builds the [`PriorVersions`] of a snapshot from its versions in any order (an external
/// sort into temporary files of a directory).
pub struct PriorBuilder {
    table: Builder,
    buf: Vec<u8>,
}

impl PriorBuilder {
    /// A builder whose temporary files go to `dir` (created, private, if missing).
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        crate::private_fs::create_dir_all(dir)?;
        Ok(Self {
            table: Builder::new(dir),
            buf: Vec::new(),
        })
    }

    fn add(&mut self, key: (u64, u32), e: &Entry) -> std::io::Result<()> {
        self.buf.clear();
        e.encode(&mut self.buf);
        self.table.push(key, &self.buf)
    }

    /// Records that `version`, as described by its profile, is in the snapshot as `content`.
    pub fn insert(
        &mut self,
        version: &DocumentVersion,
        content: ContentRef,
    ) -> std::io::Result<()> {
        self.add(key_of(version), &entry_of(version, content))
    }

    /// Records a version of the last snapshot read from its stream.
    pub fn insert_record(&mut self, key: &ChangeKey, rec: PriorRecord) -> std::io::Result<()> {
        let at = (key.id.document.number, key.id.version);
        let e = Entry {
            fingerprint: fingerprint(key),
            default_security: rec.default_security(),
            content: rec.into_content(),
        };
        self.add(at, &e)
    }

    /// The prior versions (sorting is CPU and disk work: call it off the async threads).
    pub fn finish(self) -> std::io::Result<PriorVersions> {
        Ok(PriorVersions {
            table: self.table.finish()?,
            resumed: HashMap::new(),
        })
    }
}

/// A fingerprint of the content key: `id`, `size` and `edit_date` (not `edit_profile_date`,
/// which a profile edit moves without touching the content).
fn fingerprint(key: &ChangeKey) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(key.id.to_string().as_bytes());
    h.update(&key.size.to_le_bytes());
    for part in [&key.edit_date] {
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
    /// The versions of a snapshot's versions stream `meta` (records whose profile has no
    /// readable change key are left out: they are downloaded again), sorted into temporary
    /// files of `dir`.
    pub async fn read(
        repo: &crate::repo::Repository<crate::repo::Indexed>,
        meta: &crate::repo::MetaRef,
        dir: &Path,
    ) -> Result<Self, crate::repo::RepoError> {
        use futures::StreamExt;
        let scratch = |action| crate::repo::RepoError::scratch(action, dir);
        let mut prior =
            PriorBuilder::new(dir).map_err(scratch("sorting the last snapshot's versions"))?;
        let mut records = std::pin::pin!(
            repo.read_meta_stream::<PriorRecord>(crate::jobs::records::STREAM_VERSIONS, meta)
        );
        while let Some(rec) = records.next().await {
            let rec = rec?;
            if let Some(key) = rec.change_key() {
                prior
                    .insert_record(&key, rec)
                    .map_err(scratch("sorting the last snapshot's versions"))?;
            }
        }
        tokio::task::spawn_blocking(move || prior.finish())
            .await
            .map_err(|source| crate::repo::RepoError::Task {
                task: "sort the last snapshot's versions",
                source,
            })?
            .map_err(scratch("sorting the last snapshot's versions"))
    }

    /// Records a version an interrupted run stored (its content can be reused; it is not part
    /// of the last snapshot).
    /// Versions a resumed run does not download again (distinct).
    pub fn resumed_count(&self) -> u64 {
        self.resumed.len() as u64
    }

    pub fn insert_resumed(&mut self, version: &DocumentVersion, content: ContentRef) {
        self.resumed
            .insert(key_of(version), entry_of(version, content));
    }

    /// The last snapshot's entry of `key` and its ordinal. The table is a private file of
    /// this process: failing to read it back is logged and the version counts as new (it is
    /// downloaded again).
    fn lookup(&self, key: (u64, u32)) -> Option<(u64, Entry)> {
        let found = self.table.get(key).and_then(|f| match f {
            Some(f) => Entry::decode(&f.payload).map(|e| Some((f.ordinal, e))),
            None => Ok(None),
        });
        match found {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(document = key.0, version = key.1, error = %e, "cannot read the last snapshot's versions back from their temporary file; downloading the version again");
                None
            }
        }
    }

    /// What the last snapshot (and interrupted runs) know of `version`.
    pub fn find(&self, version: &DocumentVersion) -> Found {
        let key = key_of(version);
        let fp = fingerprint(&version.change_key());
        let same = |e: &Entry| e.fingerprint == fp && e.content.size == version.size;
        let (ordinal, entry) = match self.lookup(key) {
            Some((o, e)) => (Some(o), Some(e)),
            None => (None, None),
        };
        let unchanged = entry
            .filter(same)
            .or_else(|| self.resumed.get(&key).filter(|e| same(e)).cloned())
            .map(|e| e.content);
        Found { ordinal, unchanged }
    }

    /// The stored content of `version` if it is unchanged since it was stored.
    pub fn unchanged(&self, version: &DocumentVersion) -> Option<ContentRef> {
        self.find(version).unchanged
    }

    /// The last snapshot's versions in (document number, version) order, with their content.
    fn entries(&self) -> impl Iterator<Item = std::io::Result<((u64, u32), Entry)>> + '_ {
        self.table
            .iter()
            .map(|r| r.and_then(|(k, p)| Entry::decode(&p).map(|e| (k, e))))
    }

    /// Versions of the last snapshot whose content `index` no longer holds in full (a lost
    /// pack or index object): they must be downloaded again, not carried.
    pub fn lacking_content(
        &self,
        index: &crate::repo::index::Index,
    ) -> std::io::Result<std::collections::HashSet<(u64, u32)>> {
        let mut lacking = std::collections::HashSet::new();
        for r in self.entries() {
            let (k, e) = r?;
            if !index.holds_all(&e.content.blobs) {
                lacking.insert(k);
            }
        }
        Ok(lacking)
    }

    /// Versions of the last snapshot.
    pub fn len(&self) -> usize {
        self.table.len() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// The last snapshot's versions (document number, version), in order: the n-th is the one
    /// of ordinal n.
    pub fn keys(&self) -> impl Iterator<Item = std::io::Result<(u64, u32)>> + '_ {
        self.table.iter().map(|r| r.map(|(k, _)| k))
    }

    /// Whether (document number, version) was in the last snapshot, changed or not.
    pub fn contains(&self, document_number: u64, version: u32) -> bool {
        self.lookup((document_number, version)).is_some()
    }

    /// The documents of the last snapshot (latest version and its `default_security`).
    pub fn known_documents(&self) -> std::io::Result<KnownDocuments> {
        let mut k = KnownDocuments::default();
        for r in self.entries() {
            let ((n, v), e) = r?;
            k.note(n, v, e.default_security);
        }
        Ok(k)
    }
}

/// A set of ordinals of the last snapshot's versions: one bit per version.
#[derive(Debug, Default)]
pub struct Ordinals(Vec<u64>);

impl Ordinals {
    pub fn insert(&mut self, o: u64) {
        let w = (o / 64) as usize;
        if w >= self.0.len() {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << (o % 64);
    }

    pub fn contains(&self, o: u64) -> bool {
        self.0
            .get((o / 64) as usize)
            .is_some_and(|w| w & (1 << (o % 64)) != 0)
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

    /// Issue 18: a profile-only change (`edit_profile_date` moved) keeps the stored content.
    #[test]
    fn only_an_identical_content_key_counts_as_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = PriorBuilder::new(dir.path()).unwrap();
        let content = ContentRef {
            size: 10,
            blobs: vec![BlobId::of(b"seven")],
        };
        let v = version("A!1.1", 10, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z");
        b.insert(&v, content.clone()).unwrap();
        let prior = b.finish().unwrap();
        assert_eq!(prior.unchanged(&v), Some(content.clone()));
        let profile_only = version("A!1.1", 10, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
        assert_eq!(prior.unchanged(&profile_only), Some(content.clone()));
        for changed in [
            version("A!1.1", 11, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            version("A!1.1", 10, "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"),
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
        let mut p = PriorBuilder::new(&std::env::temp_dir()).unwrap();
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
            p.insert(&v, ContentRef { size, blobs }).unwrap();
        }
        p.finish().unwrap()
    }

    #[test]
    fn a_prior_cache_reads_back_equal_and_only_for_its_snapshot() {
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
        let tmp = std::env::temp_dir();
        let read = |b: &[u8]| encoding::decode_reader(&snap, b, b.len() as u64, &tmp);
        assert_eq!(read(&bytes), Some(p.clone()));
        for at in [0, 9, 45, bytes.len() / 2, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x20;
            assert_eq!(read(&bad), None, "flipped byte {at} (reader)");
        }
        assert_eq!(read(&bytes[..bytes.len() - 1]), None);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(read(&longer), None);
        assert_eq!(
            encoding::decode_reader(&[8u8; 32], &bytes[..], bytes.len() as u64, &tmp),
            None
        );
        assert_eq!(encoding::decode(&snap, &[]), None);
        let known = p.known_documents().unwrap();
        assert_eq!(known.numbers(), vec![1, 2]);
    }

    #[test]
    fn a_streamed_prior_cache_holds_what_the_run_listed_plus_what_it_carried() {
        let p = sample();
        let v = DocumentVersion::from_json(serde_json::json!({"id": "A!3.1", "size": 1})).unwrap();
        let content = ContentRef {
            size: 1,
            blobs: vec![],
        };
        let mut with_resumed = p.clone();
        with_resumed.insert_resumed(&v, content.clone());
        // A changes-only run that listed document 1 again: 2.1 carried, 3.1 listed.
        let mut w = encoding::Writer::new(Vec::new());
        w.add_version(&v, &content).unwrap();
        w.add_prior(&with_resumed, |n, _| n == 1).unwrap();
        let bytes = w.finish(&[3u8; 32]).unwrap();
        let next = encoding::decode(&[3u8; 32], &bytes).unwrap();
        assert_eq!(next.len(), 2);
        assert!(next.contains(2, 1) && next.contains(3, 1));
        assert!(!next.contains(1, 1) && !next.contains(1, 2));
        assert!(next.unchanged(&v).is_some());
    }
}
