//! Cursor paging (contract §4) and the sync crawl pages (§8), with restart on an expired cursor.
//!
//! A page fetch that gets 400 `NRC_INVALID_CURSOR` restarts the listing from its first page and
//! skips the rows already handed out (listings and crawls come in a stable order), so the caller
//! sees every row once. Restarts are bounded.

use futures::Stream;
use reqwest::Method;
use serde_json::{Value, json};
use tracing::warn;

use super::client::{Call, Client};
use super::error::ImanageError;
use super::model::{ContainerId, LibraryId};
use super::stats::Counters;

/// How many times one listing may restart after expired cursors before giving up.
const MAX_RESTARTS: u32 = 5;

/// The crawl endpoints of §8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrawlKind {
    Workspaces,
    Folders,
    Documents,
    DocumentParents,
    DocumentTrustees,
    ContainerTrustees,
}

impl CrawlKind {
    fn path(self) -> &'static str {
        match self {
            Self::Workspaces => "sync/workspaces/crawl",
            Self::Folders => "sync/folders/crawl",
            Self::Documents => "sync/documents/crawl",
            Self::DocumentParents => "sync/documents/parents/search",
            Self::DocumentTrustees => "sync/documents/security/allowed-trustees/search",
            Self::ContainerTrustees => "sync/containers/security/allowed-trustees/search",
        }
    }
}

/// A paged listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// `GET L/workspaces` (search envelope).
    Workspaces(LibraryId),
    /// `GET L/workspaces/{id}/children`.
    WorkspaceChildren(ContainerId),
    /// `GET L/folders/{id}/children`.
    FolderChildren(ContainerId),
    /// `GET L/trash-bin/documents`.
    TrashBin(LibraryId),
    /// `POST L/sync/…` with an optional `edit_date_from`.
    Crawl {
        library: LibraryId,
        kind: CrawlKind,
        edit_date_from: Option<String>,
    },
}

impl Listing {
    fn describe(&self) -> String {
        match self {
            Self::Workspaces(l) => format!("listing the workspaces of library {l}"),
            Self::WorkspaceChildren(c) => format!("listing the children of workspace {c}"),
            Self::FolderChildren(c) => format!("listing the children of folder {c}"),
            Self::TrashBin(l) => format!("listing the trash bin of library {l}"),
            Self::Crawl { library, kind, .. } => {
                format!("crawling {} of library {library}", kind.path())
            }
        }
    }
}

/// Where a listing stands between pages.
#[derive(Debug, Clone, Default)]
pub struct PageState {
    cursor: Option<String>,
    /// Rows handed out so far.
    delivered: u64,
    /// Rows still to drop after a restart.
    skip: u64,
    restarts: u32,
    done: bool,
}

impl PageState {
    pub fn is_done(&self) -> bool {
        self.done
    }
    /// Rows handed out so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }
    pub fn restarts(&self) -> u32 {
        self.restarts
    }
}

/// Rows and cursor of one answer, whatever the envelope.
pub(crate) fn parse_page(
    v: Value,
    action: &str,
) -> Result<(Vec<Value>, Option<String>), ImanageError> {
    let Value::Object(mut top) = v else {
        return Err(ImanageError::Protocol {
            action: action.to_string(),
            problem: "the answer is not a JSON object".into(),
        });
    };
    let cursor = match top.remove("cursor") {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    let rows = match top.remove("data") {
        Some(Value::Array(rows)) => rows,
        Some(Value::Object(mut o)) => match o.remove("results") {
            Some(Value::Array(rows)) => rows,
            None | Some(Value::Null) => vec![],
            Some(_) => {
                return Err(ImanageError::Protocol {
                    action: action.to_string(),
                    problem: "data.results is not an array".into(),
                });
            }
        },
        None | Some(Value::Null) => vec![],
        Some(_) => {
            return Err(ImanageError::Protocol {
                action: action.to_string(),
                problem: "data is neither an array nor a search envelope".into(),
            });
        }
    };
    Ok((rows, cursor))
}

impl Client {
    /// One raw page of a listing.
    async fn raw_page(
        &self,
        listing: &Listing,
        cursor: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>), ImanageError> {
        let s = &self.inner.settings;
        let call = match listing {
            Listing::Crawl {
                library,
                kind,
                edit_date_from,
            } => {
                let limit = s.crawl_page_size;
                let mut body = json!({ "limit": limit });
                if let Some(c) = cursor {
                    body["cursor"] = json!(c);
                }
                if let Some(from) = edit_date_from {
                    body["edit_date_from"] = json!(from);
                }
                let path = format!("{}/{}", self.lib_path(library), kind.path());
                Call::get(path, listing.describe()).with_json(Method::POST, body)
            }
            Listing::Workspaces(l) => {
                let path = format!("{}/workspaces", self.lib_path(l));
                paged_call(path, listing, cursor, s.page_size)
            }
            Listing::WorkspaceChildren(c) => {
                let path = format!("{}/workspaces/{c}/children", self.lib_path(&c.library));
                paged_call(path, listing, cursor, s.page_size)
            }
            Listing::FolderChildren(c) => {
                let path = format!("{}/folders/{c}/children", self.lib_path(&c.library));
                paged_call(path, listing, cursor, s.page_size)
            }
            Listing::TrashBin(l) => {
                let path = format!("{}/trash-bin/documents", self.lib_path(l));
                paged_call(path, listing, cursor, s.page_size)
            }
        };
        let v = self.json(&call).await?;
        let (rows, next) = parse_page(v, &call.action)?;
        Ok((rows, next))
    }

    /// The next rows of `listing`; an empty vector with `state.is_done()` means the end.
    pub async fn next_page(
        &self,
        listing: &Listing,
        state: &mut PageState,
    ) -> Result<Vec<Value>, ImanageError> {
        while !state.done {
            match self.raw_page(listing, state.cursor.as_deref()).await {
                Ok((mut rows, next)) => {
                    // Only a missing cursor ends a listing. A short crawl page with a cursor is
                    // followed anyway (one cheap request): a server that packs whole objects per
                    // page may answer short before the end.
                    state.done = next.is_none();
                    state.cursor = next;
                    if state.skip > 0 {
                        let n = state.skip.min(rows.len() as u64);
                        rows.drain(..n as usize);
                        state.skip -= n;
                    }
                    state.delivered += rows.len() as u64;
                    if !rows.is_empty() || state.done {
                        return Ok(rows);
                    }
                }
                Err(e)
                    if e.is_invalid_cursor()
                        && state.cursor.is_some()
                        && state.restarts < MAX_RESTARTS =>
                {
                    state.restarts += 1;
                    Counters::bump(&self.inner.counters.listing_restarts);
                    warn!(
                        listing = %listing.describe(),
                        delivered = state.delivered,
                        restart = state.restarts,
                        "cursor expired; restarting the listing and skipping rows already seen"
                    );
                    state.cursor = None;
                    state.skip = state.delivered;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(vec![])
    }

    /// Every row of a listing, page by page (at most one page buffered).
    pub fn list_all(
        &self,
        listing: Listing,
    ) -> impl Stream<Item = Result<Value, ImanageError>> + Send + 'static {
        let client = self.clone();
        let pages = futures::stream::try_unfold(
            (client, listing, PageState::default()),
            |(client, listing, mut state)| async move {
                if state.is_done() {
                    return Ok(None);
                }
                let rows = client.next_page(&listing, &mut state).await?;
                Ok(Some((
                    futures::stream::iter(rows.into_iter().map(Ok)),
                    (client, listing, state),
                )))
            },
        );
        futures::TryStreamExt::try_flatten(pages)
    }
}

fn paged_call(path: String, listing: &Listing, cursor: Option<&str>, limit: u32) -> Call {
    let mut call = Call::get(path, listing.describe())
        .with_query("limit", limit)
        .with_query("paging_mode", "standard_cursor");
    if let Some(c) = cursor {
        call = call.with_query("cursor", c);
    }
    call
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_parse() {
        let (rows, c) = parse_page(json!({"data":[{"id":"A!1"}],"cursor":"abc"}), "x").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(c.as_deref(), Some("abc"));
        let (rows, c) =
            parse_page(json!({"data":{"results":[{"id":"A!1"},{"id":"A!2"}]}}), "x").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(c, None);
        let (rows, c) = parse_page(json!({"data":[],"cursor":""}), "x").unwrap();
        assert!(rows.is_empty() && c.is_none());
        let e = parse_page(json!({"data":"nope"}), "listing folder A!3").unwrap_err();
        assert!(e.to_string().contains("listing folder A!3"), "{e}");
        assert!(parse_page(json!([1, 2]), "x").is_err());
    }
}
