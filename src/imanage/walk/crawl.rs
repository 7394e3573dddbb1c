//! The sync crawl fast path (contract §8), for `system` accounts.
//!
//! Order of the crawls, chosen so that joins stay small:
//! 1. container trustees → each container's entries (rows of 16 bytes, each distinct entry
//!    stored once: see `container_acls.rs`);
//! 2. workspaces, then folders → `Container` items, ACL = object's `default_security` + entries;
//! 3. documents (every version) → `Version` items; remembers per document number its latest
//!    version's `default_security` (a compact map, like the tree walk's set of numbers);
//! 4. document parents → `Filing` items;
//! 5. document trustees (rows grouped by document) → `DocumentAcl` items; documents without
//!    trustee rows get an ACL with no entries at the end.
//!
//! A changes-only crawl (see `changes.rs`) asks step 3 for changed versions only, starts its
//! per-document map from the last snapshot's, and between steps 4 and 5 reads again the
//! versions the last snapshot skipped and lists the documents the filings disagree on.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::Value;
use tracing::Instrument;

use super::changes::ChangesSince;
use super::container_acls::ContainerAcls;
use super::known::KnownDocuments;
use super::{Sink, Stopped, WalkItem};
use crate::imanage::api_read::{SecurityTarget, to_container, to_version};
use crate::imanage::client::Client;
use crate::imanage::error::ImanageError;
use crate::imanage::model::{
    AccessLevel, Acl, AclEntry, ContainerId, DefaultSecurity, DocumentId, Filing, LibraryId,
    TrusteeType,
};
use crate::imanage::paging::{CrawlKind, Listing, PageState};

pub(super) enum CrawlEnd {
    /// The very first crawl call was refused (403): the account cannot crawl.
    RefusedAtStart(ImanageError),
    Stopped(Stopped),
}

impl From<Stopped> for CrawlEnd {
    fn from(s: Stopped) -> Self {
        Self::Stopped(s)
    }
}

#[derive(Deserialize)]
struct TrusteeRow {
    #[serde(alias = "document_id")]
    container_id: Option<Value>,
    id: String,
    #[serde(rename = "type")]
    trustee_type: TrusteeType,
    access_level: AccessLevel,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct ParentRow {
    document_number: Value,
    parent_id: ContainerId,
}

/// A number from `453`, `"453"`, `"LIB!453"` or `"LIB!453.2"`.
fn number_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let tail = s.rsplit_once('!').map_or(s.as_str(), |(_, t)| t);
            let num = tail.split_once('.').map_or(tail, |(n, _)| n);
            num.parse().ok()
        }
        _ => None,
    }
}

/// One crawl's paging, one page requested ahead. Dropping it aborts a request in flight.
struct Pages {
    client: Client,
    listing: Listing,
    ahead: Option<tokio::task::JoinHandle<PageAnswer>>,
}

/// The paging state after a request, whether it was the crawl's first, and the rows.
type PageAnswer = (PageState, bool, Result<Vec<Value>, ImanageError>);

impl Pages {
    fn request(&mut self, mut state: PageState) {
        if state.is_done() {
            return;
        }
        let client = self.client.clone();
        let listing = self.listing.clone();
        self.ahead = Some(tokio::spawn(
            async move {
                let at_start = state.delivered() == 0;
                let result = client.next_page(&listing, &mut state).await;
                (state, at_start, result)
            }
            .in_current_span(),
        ));
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        if let Some(ahead) = self.ahead.take() {
            ahead.abort();
        }
    }
}

pub(super) struct Crawler<'a> {
    pub(super) client: &'a Client,
    pub(super) library: &'a LibraryId,
    pub(super) sink: &'a Sink,
    /// While listing changes only: failures become warnings and count as [`Self::gaps`].
    pub(super) soft: std::sync::atomic::AtomicBool,
    /// What the changes-only listing may have missed (failed reads, restarted listings).
    pub(super) gaps: std::sync::atomic::AtomicU32,
}

impl Crawler<'_> {
    pub(super) fn gap(&self) {
        self.gaps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// A failed read: while listing changes only, a warning and a gap (the next run lists
    /// everything); otherwise the walk's usual report.
    pub(super) async fn report(
        &self,
        e: ImanageError,
        what: Option<String>,
    ) -> Result<(), Stopped> {
        if !self.soft.load(std::sync::atomic::Ordering::Relaxed) {
            return self.sink.error(e).await;
        }
        if !e.is_not_found() {
            self.gap();
        }
        self.sink
            .item(WalkItem::Warning {
                what: what.unwrap_or_else(|| e.to_string()),
                detail: format!(
                    "{e}; the changes-only listing may be incomplete: the next run lists everything"
                ),
            })
            .await
    }

    /// The pages of one crawl, each requested as soon as the one before it arrives.
    fn pages(&self, kind: CrawlKind) -> Pages {
        self.pages_since(kind, None)
    }

    fn pages_since(&self, kind: CrawlKind, edit_date_from: Option<&str>) -> Pages {
        let mut pages = Pages {
            client: self.client.clone(),
            listing: Listing::Crawl {
                library: self.library.clone(),
                kind,
                edit_date_from: edit_date_from.map(str::to_string),
            },
            ahead: None,
        };
        pages.request(PageState::default());
        pages
    }

    /// The next rows of one crawl; `None` once it is done or failed (the error was yielded).
    async fn page(&self, pages: &mut Pages, first: bool) -> Result<Option<Vec<Value>>, CrawlEnd> {
        let Some(ahead) = pages.ahead.take() else {
            return Ok(None);
        };
        let (state, at_start, result) = match ahead.await {
            Ok(answer) => answer,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => return Ok(None),
        };
        match result {
            Ok(rows) => {
                if self.soft.load(std::sync::atomic::Ordering::Relaxed) && state.restarts() > 0 {
                    // Restarted listings skip rows by count: a filtered one may have shifted.
                    self.gap();
                }
                // Ask for the next page now: the server works on it while we handle these rows.
                pages.request(state);
                Ok(Some(rows))
            }
            Err(e) if first && at_start && e.is_access_denied() => Err(CrawlEnd::RefusedAtStart(e)),
            Err(e) => {
                self.report(e, None).await?;
                Ok(None)
            }
        }
    }

    async fn container_acls(&self) -> Result<ContainerAcls, CrawlEnd> {
        let mut acls = ContainerAcls::default();
        let sink = self.sink;
        let mut pages = self.pages(CrawlKind::ContainerTrustees);
        while let Some(rows) = self.page(&mut pages, true).await? {
            for row in rows {
                match serde_json::from_value::<TrusteeRow>(row) {
                    Ok(r) => {
                        if let Some(n) = r.container_id.as_ref().and_then(number_of) {
                            acls.add(n, entry(r));
                        }
                    }
                    Err(e) => {
                        sink.error(decode("reading a container trustee row", e))
                            .await?;
                    }
                }
            }
        }
        acls.seal();
        tracing::debug!(rows = acls.len(), "container trustees listed");
        Ok(acls)
    }

    async fn containers(&self, kind: CrawlKind, acls: &ContainerAcls) -> Result<(), CrawlEnd> {
        let action = format!("crawling the containers of library {}", self.library);
        let mut pages = self.pages(kind);
        while let Some(rows) = self.page(&mut pages, false).await? {
            for row in rows {
                let c = match to_container(row, &action) {
                    Ok(c) => c,
                    Err(e) => {
                        self.sink.error(e).await?;
                        continue;
                    }
                };
                let entries = acls.entries(c.id.number);
                let acl = match c.default_security {
                    Some(default_security) => Acl {
                        default_security,
                        entries,
                    },
                    None => {
                        let target = SecurityTarget::container(c.kind, c.id.clone());
                        match self.client.security(&target).await {
                            Ok(acl) => acl,
                            Err(e) => {
                                self.sink.error(e).await?;
                                continue;
                            }
                        }
                    }
                };
                self.sink
                    .item(WalkItem::Container { container: c, acl })
                    .await?;
            }
        }
        Ok(())
    }

    /// Every version, or (`from`) those edited since then; returns the (number, version) pairs
    /// yielded when `from` is given (few), else an empty set.
    async fn versions(
        &self,
        docs: &mut KnownDocuments,
        from: Option<&str>,
    ) -> Result<HashSet<(u64, u32)>, CrawlEnd> {
        let action = format!("crawling the documents of library {}", self.library);
        let mut crawled = HashSet::new();
        let mut pages = self.pages_since(CrawlKind::Documents, from);
        while let Some(rows) = self.page(&mut pages, false).await? {
            for row in rows {
                let v = match to_version(row, &action) {
                    Ok(v) => v,
                    Err(e) => {
                        self.report(e, None).await?;
                        continue;
                    }
                };
                docs.note_version(&v);
                if from.is_some() && !crawled.insert((v.id.document.number, v.id.version)) {
                    continue; // a row repeated by a restarted listing
                }
                self.sink.item(WalkItem::Version { version: v }).await?;
            }
        }
        Ok(crawled)
    }

    /// Every filing; notes the filed documents in `docs` when given.
    async fn filings(&self, mut docs: Option<&mut KnownDocuments>) -> Result<(), CrawlEnd> {
        let mut pages = self.pages(CrawlKind::DocumentParents);
        while let Some(rows) = self.page(&mut pages, false).await? {
            for row in rows {
                match serde_json::from_value::<ParentRow>(row) {
                    Ok(r) => match number_of(&r.document_number) {
                        Some(number) => {
                            if let Some(docs) = docs.as_deref_mut() {
                                docs.note_filed(number);
                            }
                            let document = DocumentId {
                                library: self.library.clone(),
                                number,
                            };
                            self.sink
                                .item(WalkItem::Filing(Filing {
                                    document,
                                    parent: r.parent_id,
                                }))
                                .await?
                        }
                        None => {
                            self.sink
                                .item(WalkItem::Warning {
                                    what: "a document parent row".into(),
                                    detail: format!(
                                        "unreadable document_number {}",
                                        r.document_number
                                    ),
                                })
                                .await?
                        }
                    },
                    Err(e) => {
                        self.sink
                            .error(decode("reading a document parent row", e))
                            .await?
                    }
                }
            }
        }
        Ok(())
    }

    /// The ACL of document `number`: `sec` is what [`KnownDocuments::take`] gave for it.
    async fn emit_document_acl(
        &self,
        number: u64,
        entries: Vec<AclEntry>,
        sec: Option<Option<DefaultSecurity>>,
    ) -> Result<(), Stopped> {
        let document = DocumentId {
            library: self.library.clone(),
            number,
        };
        let Some(sec) = sec else {
            return self
                .sink
                .item(WalkItem::Warning {
                    what: format!("trustee rows of document {document}"),
                    detail: "the document was not in the documents crawl, or its trustee rows \
                             were not grouped by document; these rows were not applied"
                        .into(),
                })
                .await;
        };
        let acl = match sec {
            Some(default_security) => Acl {
                default_security,
                entries,
            },
            None => match self
                .client
                .security(&SecurityTarget::Document(document.clone()))
                .await
            {
                Ok(acl) => acl,
                Err(e) => return self.sink.error(e).await,
            },
        };
        self.sink
            .item(WalkItem::DocumentAcl { document, acl })
            .await
    }

    async fn document_acls(&self, mut docs: KnownDocuments) -> Result<(), CrawlEnd> {
        let mut current: Option<(u64, Vec<AclEntry>)> = None;
        let mut pages = self.pages(CrawlKind::DocumentTrustees);
        while let Some(rows) = self.page(&mut pages, false).await? {
            for row in rows {
                let r = match serde_json::from_value::<TrusteeRow>(row) {
                    Ok(r) => r,
                    Err(e) => {
                        self.sink
                            .error(decode("reading a document trustee row", e))
                            .await?;
                        continue;
                    }
                };
                let Some(n) = r.container_id.as_ref().and_then(number_of) else {
                    continue;
                };
                match &mut current {
                    Some((cur, entries)) if *cur == n => entries.push(entry(r)),
                    _ => {
                        if let Some((prev, entries)) = current.take() {
                            let sec = docs.take(prev);
                            self.emit_document_acl(prev, entries, sec).await?;
                        }
                        current = Some((n, vec![entry(r)]));
                    }
                }
            }
        }
        if let Some((prev, entries)) = current.take() {
            let sec = docs.take(prev);
            self.emit_document_acl(prev, entries, sec).await?;
        }
        // Documents with no trustee rows: their ACL is their default security alone.
        for (n, sec) in docs.into_remaining() {
            self.emit_document_acl(n, vec![], Some(sec)).await?;
        }
        Ok(())
    }
}

fn entry(r: TrusteeRow) -> AclEntry {
    AclEntry {
        id: r.id,
        trustee_type: r.trustee_type,
        name: r.name,
        access_level: r.access_level,
    }
}

fn decode(action: &str, e: serde_json::Error) -> ImanageError {
    ImanageError::Decode {
        action: action.to_string(),
        source: e,
    }
}

pub(super) async fn run(
    client: &Client,
    library: &LibraryId,
    sink: &Sink,
    changes: Option<ChangesSince>,
) -> Result<(), CrawlEnd> {
    let c = Crawler {
        client,
        library,
        sink,
        soft: std::sync::atomic::AtomicBool::new(false),
        gaps: std::sync::atomic::AtomicU32::new(0),
    };
    let acls = c.container_acls().await?;
    c.containers(CrawlKind::Workspaces, &acls).await?;
    c.containers(CrawlKind::Folders, &acls).await?;
    drop(acls);
    match changes {
        None => {
            let mut docs = KnownDocuments::default();
            c.versions(&mut docs, None).await?;
            c.filings(None).await?;
            c.document_acls(docs).await?;
        }
        Some(ChangesSince { from, known, retry }) => {
            let mut docs = known;
            docs.seal_parents();
            c.soft.store(true, std::sync::atomic::Ordering::Relaxed);
            let mut seen = c.versions(&mut docs, Some(&from)).await?;
            c.retry_skipped(&retry, &mut seen, &mut docs).await?;
            c.filings(Some(&mut docs)).await?;
            c.relist_strangers(&mut seen, &mut docs).await?;
            c.soft.store(false, std::sync::atomic::Ordering::Relaxed);
            drop(seen);
            c.document_acls(docs).await?;
            let complete = c.gaps.load(std::sync::atomic::Ordering::Relaxed) == 0;
            sink.item(WalkItem::ChangesOnly { complete }).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_come_in_every_shape() {
        assert_eq!(number_of(&json!(453)), Some(453));
        assert_eq!(number_of(&json!("453")), Some(453));
        assert_eq!(number_of(&json!("ACTIVE!453")), Some(453));
        assert_eq!(number_of(&json!("ACTIVE!453.2")), Some(453));
        assert_eq!(number_of(&json!("ACTIVE!x")), None);
        assert_eq!(number_of(&json!(null)), None);
    }
}
