//! The records of one writer as a hash chain in the repository: `audit/<writer>/<seq>`, `seq`
//! written as 16 decimal digits so that names sort in chain order. Each record carries the
//! BLAKE3 of the stored bytes of the one before it; records are created, never replaced.

use std::collections::BTreeMap;

use bytes::Bytes;
use object_store::path::Path;

use super::AuditError;
use super::record::{RECORD_VERSION, Record};
use crate::repo::RepoError;
use crate::repo::objects::{ObjectKind, Objects};

/// A writer id: 32 lowercase hex characters.
pub fn valid_writer(w: &str) -> bool {
    w.len() == 32
        && w.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The key of record `seq` of `writer`.
pub fn record_key(writer: &str, seq: u64) -> Path {
    Objects::key(ObjectKind::Audit, Some(writer), &format!("{seq:016}"))
}

/// The seq a record's name stands for.
pub fn seq_of_name(name: &str) -> Option<u64> {
    (name.len() == 16 && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

/// The last record of a chain as a writer needs it to append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tail {
    pub seq: u64,
    /// BLAKE3 of its stored bytes.
    pub hash: [u8; 32],
}

/// The records of `writer` as listed now: seq → key (names that are no seq are left out).
pub async fn list_writer(
    objects: &Objects,
    writer: &str,
) -> Result<BTreeMap<u64, Path>, AuditError> {
    let metas = objects
        .list(ObjectKind::Audit, Some(writer))
        .await
        .map_err(|source| AuditError::Read {
            source: Box::new(source),
            what: format!("listing the audit records of writer {writer}"),
        })?;
    Ok(metas
        .into_iter()
        .filter_map(|m| {
            let seq = seq_of_name(m.location.filename()?)?;
            Some((seq, m.location))
        })
        .collect())
}

/// Every writer with records, as listed now: writer → (seq → key).
pub async fn list_all(
    objects: &Objects,
) -> Result<(BTreeMap<String, BTreeMap<u64, Path>>, Vec<Path>), AuditError> {
    let metas = objects
        .list(ObjectKind::Audit, None)
        .await
        .map_err(|source| AuditError::Read {
            source: Box::new(source),
            what: "listing the audit records".into(),
        })?;
    let mut writers: BTreeMap<String, BTreeMap<u64, Path>> = BTreeMap::new();
    let mut strays = Vec::new();
    for m in metas {
        let parts: Vec<_> = m.location.parts().collect();
        let named = match parts.as_slice() {
            [_, w, n] if valid_writer(w.as_ref()) => {
                seq_of_name(n.as_ref()).map(|s| (w.as_ref().to_string(), s))
            }
            _ => None,
        };
        match named {
            Some((w, seq)) => {
                writers.entry(w).or_default().insert(seq, m.location);
            }
            None => strays.push(m.location),
        }
    }
    Ok((writers, strays))
}

/// Reads one record: opened with the repository key, decoded, and checked against its name
/// (writer and seq). Returns it with the BLAKE3 of its stored bytes.
pub async fn read_record(objects: &Objects, key: &Path) -> Result<(Record, [u8; 32]), RepoError> {
    let (plain, hash) = objects.get_at(ObjectKind::Audit, key).await?;
    let rec: Record = serde_json::from_slice(&plain).map_err(|source| RepoError::Decode {
        key: key.to_string(),
        source,
    })?;
    if rec.version != RECORD_VERSION {
        return Err(RepoError::UnsupportedFormat {
            key: key.to_string(),
            found: rec.version,
            supported: format!("[{RECORD_VERSION}]"),
        });
    }
    if record_key(&rec.writer, rec.seq) != *key {
        return Err(RepoError::Authentication {
            key: key.to_string(),
            what: format!(
                "the audit record opens but is record {} of writer {}: it was moved or renamed",
                rec.seq, rec.writer
            ),
        });
    }
    Ok((rec, hash))
}

/// The last record of `writer` now (`None`: no record yet).
pub async fn read_tail(objects: &Objects, writer: &str) -> Result<Option<Tail>, AuditError> {
    let listed = list_writer(objects, writer).await?;
    let Some((&seq, key)) = listed.iter().next_back() else {
        return Ok(None);
    };
    // The chain continues from the stored bytes, whatever they hold: a damaged last record is
    // verify's to report, and must not stop every later action from being recorded.
    let stored = crate::repo::backend::get(objects.store().as_ref(), key)
        .await
        .map_err(|source| AuditError::Read {
            source: Box::new(source),
            what: format!("reading the last audit record of writer {writer}"),
        })?;
    Ok(Some(Tail {
        seq,
        hash: *blake3::hash(&stored).as_bytes(),
    }))
}

/// Writes `rec` (its `writer` and `seq` give the name) create-only. `Ok(None)` when another
/// process of the same writer took that seq first (read the tail again and retry).
pub async fn write_record(objects: &Objects, rec: &Record) -> Result<Option<[u8; 32]>, AuditError> {
    let key = record_key(&rec.writer, rec.seq);
    let plain = serde_json::to_vec(rec).map_err(|source| AuditError::Encode { source })?;
    match objects
        .put_at(ObjectKind::Audit, &key, Bytes::from(plain))
        .await
    {
        Ok(h) => Ok(Some(h)),
        Err(RepoError::Exists { .. }) => Ok(None),
        Err(source) => Err(AuditError::Write {
            key: key.to_string(),
            source: Box::new(source),
        }),
    }
}
