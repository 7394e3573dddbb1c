//! Repacking: the blobs still needed from partly used packs copied, verified, into new packs.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::plan::Repack;
use super::{PruneError, PruneProgress, Steps};
use crate::repo::backend::keys;
use crate::repo::blob::{BlobKind, EncodedBlob};
use crate::repo::error::RepoError;
use crate::repo::objects::Objects;
use crate::repo::pack::{self, PackReceipt, PackWriter};
use crate::repo::repository::{Indexed, Repository};
use crate::repo::verify;

impl Repository<Indexed> {
    /// Copies the used blobs of `repacks` into new packs (each blob verified first) and
    /// returns their receipts. At most one old pack and one open pack per kind are in memory.
    pub(super) async fn repack(
        &self,
        repacks: &[Repack],
        steps: &Steps,
        progress: &PruneProgress,
    ) -> Result<Vec<PackReceipt>, PruneError> {
        let objects = self.objects().clone();
        let pack_size = self.config().pack_size.max(1);
        let mut writers: [PackWriter; 2] = [PackWriter::new(), PackWriter::new()];
        let mut receipts = Vec::new();
        let slot = |k: BlobKind| match k {
            BlobKind::Data => 0,
            BlobKind::Meta => 1,
        };
        for c in repacks {
            let key = keys::pack(&c.pack);
            let bytes = crate::repo::reader::read_pack(objects.store(), &c.pack).await?;
            let id = c.pack;
            let used = c.used.clone();
            let crypto = objects.crypto().clone();
            let (check, bytes) = tokio::task::spawn_blocking(move || {
                let r = verify::check_pack_bytes(&crypto, &id, &bytes, None);
                (r, bytes)
            })
            .await
            .map_err(|source| RepoError::Task {
                task: "verify pack before repacking",
                source,
            })?;
            if !check.problems.is_empty() {
                return Err(PruneError::CorruptPack {
                    pack: key.to_string(),
                    problems: check.problems,
                });
            }
            for e in used {
                let stored: Bytes =
                    bytes.slice(e.offset as usize..(e.offset + e.stored_len) as usize);
                let w = &mut writers[slot(e.kind)];
                w.add(&EncodedBlob {
                    id: e.id,
                    kind: e.kind,
                    compression: e.compression,
                    raw_len: e.raw_len,
                    stored,
                });
                if w.len() >= pack_size {
                    let full = std::mem::take(w);
                    receipts.push(seal_and_upload(&objects, full).await?);
                    steps.step("repacked pack written");
                }
            }
            progress.packs_repacked.fetch_add(1, Ordering::Relaxed);
        }
        for w in writers {
            if !w.is_empty() {
                receipts.push(seal_and_upload(&objects, w).await?);
                steps.step("repacked pack written");
            }
        }
        Ok(receipts)
    }
}

async fn seal_and_upload(objects: &Objects, w: PackWriter) -> Result<PackReceipt, RepoError> {
    let crypto = objects.crypto().clone();
    let sealed = tokio::task::spawn_blocking(move || w.seal(&crypto))
        .await
        .map_err(|source| RepoError::Task {
            task: "seal repacked pack",
            source,
        })??;
    pack::upload(objects, sealed).await
}
