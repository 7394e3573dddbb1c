//! The one place a backup's metadata streams are written. Walk results and finished downloads
//! arrive over a bounded channel, in order, so a checkpoint request covers exactly the versions
//! sent before it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::jobs::records::{
    ContainerRecord, DocumentAclRecord, FilingRecord, STREAM_CONTAINERS, STREAM_DOCUMENT_ACLS,
    STREAM_FILINGS, STREAM_RESUME, STREAM_SKIPPED, STREAM_VERSIONS, SkippedRecord, VersionRecord,
};
use crate::repo::{BackupSession, MetaRef, MetaStreamWriter, RepoError, SnapshotId};

pub enum Record {
    Container(Box<ContainerRecord>),
    /// `downloaded` versions also go to the resume delta of the next checkpoint.
    Version {
        record: Box<VersionRecord>,
        downloaded: bool,
    },
    /// A version record copied as stored from the parent snapshot (a JSON line without `\n`).
    CarriedVersion(bytes::Bytes),
    Filing(FilingRecord),
    DocumentAcl(Box<DocumentAclRecord>),
    Skipped(SkippedRecord),
    /// Make everything so far durable and write a resume record; answer when done.
    Checkpoint(oneshot::Sender<Result<(), RepoError>>),
}

/// The resume record stored by each checkpoint of a run (see docs/FORMAT.md, "Resume").
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResumeRecord {
    /// Snapshot the run is incremental to.
    pub parent: Option<SnapshotId>,
    /// When the run started.
    pub run_started: chrono::DateTime<chrono::Utc>,
    /// Versions downloaded and stored so far in this run, as `resume` streams of `VersionRecord`.
    pub deltas: Vec<MetaRef>,
}

pub struct WrittenStreams {
    pub streams: BTreeMap<String, MetaRef>,
    pub checkpoints: u64,
    /// The first [`super::SKIPPED_SHOWN_MAX`] skipped items (the stream has them all).
    pub skipped: Vec<SkippedRecord>,
}

pub async fn write_records(
    session: &BackupSession,
    library: &str,
    mut resume: ResumeRecord,
    mut rx: mpsc::Receiver<Record>,
) -> Result<WrittenStreams, RepoError> {
    let mut containers = MetaStreamWriter::new(session, STREAM_CONTAINERS);
    let mut versions = MetaStreamWriter::new(session, STREAM_VERSIONS);
    let mut filings = MetaStreamWriter::new(session, STREAM_FILINGS);
    let mut acls = MetaStreamWriter::new(session, STREAM_DOCUMENT_ACLS);
    let mut skipped = MetaStreamWriter::new(session, STREAM_SKIPPED);
    let mut delta = MetaStreamWriter::new(session, STREAM_RESUME);
    let mut delta_records = 0u64;
    let mut checkpoints = 0u64;
    let mut first_skipped = Vec::new();
    while let Some(record) = rx.recv().await {
        match record {
            Record::Container(r) => containers.push(&*r).await?,
            Record::Version { record, downloaded } => {
                versions.push(&*record).await?;
                if downloaded {
                    delta.push(&*record).await?;
                    delta_records += 1;
                }
            }
            Record::CarriedVersion(line) => versions.push_raw(&line).await?,
            Record::Filing(r) => filings.push(&r).await?,
            Record::DocumentAcl(r) => acls.push(&*r).await?,
            Record::Skipped(r) => {
                skipped.push(&r).await?;
                if first_skipped.len() < super::SKIPPED_SHOWN_MAX {
                    first_skipped.push(r);
                }
            }
            Record::Checkpoint(reply) => {
                let result = async {
                    if delta_records > 0 {
                        let done = std::mem::replace(
                            &mut delta,
                            MetaStreamWriter::new(session, STREAM_RESUME),
                        );
                        resume.deltas.push(done.finish().await?);
                        delta_records = 0;
                    }
                    let value = serde_json::to_value(&resume).unwrap_or_default();
                    session.checkpoint(Some((library, value))).await.map(|_| ())
                }
                .await;
                checkpoints += 1;
                let failed = result.as_ref().err().map(|e| e.to_string());
                let _ = reply.send(result);
                if let Some(e) = failed {
                    tracing::error!(library, error = %e, "checkpoint failed");
                }
            }
        }
    }
    let mut streams = BTreeMap::new();
    for w in [containers, versions, filings, acls, skipped] {
        let name = w.name().to_string();
        streams.insert(name, w.finish().await?);
    }
    Ok(WrittenStreams {
        streams,
        checkpoints,
        skipped: first_skipped,
    })
}
