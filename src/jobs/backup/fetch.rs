//! Download one version from iManage straight into the repository, streaming: no whole document
//! in memory and no temporary file. The error says which side failed, because they are handled
//! differently: a source failure skips or retries that version, a repository failure stops the
//! library's backup.

use std::io;
use std::sync::{Arc, Mutex};

use futures::StreamExt;

use crate::imanage::model::DocumentVersion;
use crate::imanage::{Client, ImanageError, RetryClass};
use crate::jobs::progress::Counters;
use crate::repo::{BackupSession, ContentRef, RepoError};

#[derive(Debug)]
pub enum FetchError {
    /// iManage refused or broke the download.
    Source(ImanageError),
    /// The repository could not store it.
    Repo(RepoError),
}

/// Whether trying a failed download again later in the run may help (not for 403/404/400).
pub fn source_worth_retrying(e: &ImanageError) -> bool {
    !matches!(e.retry(), RetryClass::Never)
}

/// Attempts per version before it is put aside for the retry pass at the end of the run. The
/// client already retries failed requests; this covers bodies that break mid-stream (truncated
/// downloads), which only the caller can start again.
const ATTEMPTS: u32 = 3;

/// Streams `version`'s content into `session`, starting again when the body breaks mid-way.
pub async fn fetch_version(
    client: &Client,
    session: &BackupSession,
    version: &DocumentVersion,
    counters: &Counters,
) -> Result<ContentRef, FetchError> {
    let mut attempt = 1;
    loop {
        match fetch_once(client, session, version, counters).await {
            Err(FetchError::Source(e)) if attempt < ATTEMPTS && source_worth_retrying(&e) => {
                tracing::debug!(version = %version.id, attempt, error = %e, "download broke; starting it again");
                Counters::add(&counters.retried, 1);
                let backoff =
                    std::time::Duration::from_millis(100 * (1 << attempt) + fastrand::u64(0..100));
                tokio::time::sleep(backoff).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// One download attempt streamed into `session`; counts bytes as they arrive.
async fn fetch_once(
    client: &Client,
    session: &BackupSession,
    version: &DocumentVersion,
    counters: &Counters,
) -> Result<ContentRef, FetchError> {
    let failure: Arc<Mutex<Option<ImanageError>>> = Arc::default();
    let slot = failure.clone();
    let stream = client
        .download(&version.id, version.size)
        .map(move |item| match item {
            Ok(bytes) => {
                Counters::add(&counters.bytes_read, bytes.len() as u64);
                Ok(bytes)
            }
            Err(e) => {
                let text = e.to_string();
                if let Ok(mut s) = slot.lock() {
                    *s = Some(e);
                }
                Err(io::Error::other(text))
            }
        });
    match session.add_content(stream).await {
        Ok(content) => Ok(content),
        Err(repo_err) => {
            let source = failure.lock().ok().and_then(|mut s| s.take());
            match source {
                Some(e) => Err(FetchError::Source(e)),
                None => Err(FetchError::Repo(repo_err)),
            }
        }
    }
}
