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

#[derive(Debug, Default)]
pub struct PriorVersions {
    map: HashMap<(u64, u32), (u64, ContentRef)>,
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
    /// Records that `version`, as described by its profile, is stored as `content`.
    pub fn insert(&mut self, version: &DocumentVersion, content: ContentRef) {
        let key = (version.id.document.number, version.id.version);
        self.map
            .insert(key, (fingerprint(&version.change_key()), content));
    }

    /// Records that the version with change key `key` is stored as `content`.
    pub fn insert_key(&mut self, key: &ChangeKey, content: ContentRef) {
        let at = (key.id.document.number, key.id.version);
        self.map.insert(at, (fingerprint(key), content));
    }

    /// The stored content of `version` if it is unchanged since it was stored.
    pub fn unchanged(&self, version: &DocumentVersion) -> Option<&ContentRef> {
        let (fp, content) = self
            .map
            .get(&(version.id.document.number, version.id.version))?;
        (*fp == fingerprint(&version.change_key()) && content.size == version.size)
            .then_some(content)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether (document number, version) was present at all, changed or not.
    pub fn contains(&self, document_number: u64, version: u32) -> bool {
        self.map.contains_key(&(document_number, version))
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
}
