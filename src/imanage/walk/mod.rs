//! The library walker: every workspace, folder, tab and search folder with its ACL, every
//! version of every document and e-mail, every place a document is filed, and every document's
//! ACL, as a bounded async stream of [`WalkItem`]s.
//!
//! Two strategies behind one interface:
//! - [`WalkStrategy::Tree`] walks the paged listings (§5): workspaces → children → sub-folders
//!   and documents → versions, with a security read per object. Works for every account.
//! - [`WalkStrategy::Crawl`] uses the sync crawl endpoints (§8): about (items / 1000) calls per
//!   library. Only for `system` accounts.
//! - [`WalkStrategy::Auto`] picks the crawl when discovery says `user_type` is `system`, and falls
//!   back to the tree walk if the first crawl call is refused with 403.
//!
//! A crawl can also list **changes only** ([`ChangesSince`], incremental backups): the documents
//! crawl asks for versions edited since a time (the contract's `edit_date_from`), the filings
//! and ACL searches stay complete, and documents the last snapshot knew but the library no
//! longer files are read one by one ([`WalkItem::Relisted`]: deleted, or alive but unfiled).
//!
//! Both yield the same set of items on the same corpus. Items come through a bounded channel, so
//! a slow consumer slows the walk instead of growing memory. What the walk keeps grows only with
//! the number of containers (pending listings) and documents (a compact set of document numbers,
//! to yield each document's versions once however many folders it is filed in).
//!
//! Errors: an `Err` item is one object that could not be read (after retries); the walk goes on
//! with the rest. 403s are yielded as [`WalkItem::AccessDenied`] (Control Center changes take up
//! to 8 hours to apply); objects deleted while the walk ran as [`WalkItem::Warning`]. A failure of
//! the library's top listing ends the walk after its `Err` item.

mod changes;
mod container_acls;
mod crawl;
mod known;
mod packed_docs;
mod tree;

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::client::Client;
use super::error::ImanageError;
use super::model::{Acl, Container, DocumentId, DocumentVersion, Filing, LibraryId, UserType};

pub use changes::ChangesSince;
pub use known::KnownDocuments;

/// How to enumerate a library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WalkStrategy {
    /// The crawl for `system` accounts, else the tree walk.
    #[default]
    Auto,
    /// Paged listings, folder by folder.
    Tree,
    /// The sync crawl endpoints.
    Crawl,
}

#[derive(Debug)]
pub struct WalkOptions {
    /// Listings and per-object reads in flight at once (tree walk). The client's own limiter
    /// still caps requests; this bounds the walker's pending work.
    pub concurrency: usize,
    /// Items buffered between the walker and its consumer.
    pub channel_capacity: usize,
    /// List only what changed since the last snapshot (crawl only; the tree walk, and a crawl
    /// that falls back to it, always lists everything).
    pub changes: Option<ChangesSince>,
}

impl Default for WalkOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            channel_capacity: 256,
            changes: None,
        }
    }
}

/// One thing found in a library.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum WalkItem {
    /// A workspace, folder, tab or search folder (search folders carry their definition in
    /// `raw` and are never walked into), with its ACL.
    Container { container: Container, acl: Acl },
    /// One version of a document or e-mail; each version exactly once per walk.
    Version { version: DocumentVersion },
    /// One place a document is filed; one item per (document, folder).
    Filing(Filing),
    /// The ACL of a document (all its versions).
    DocumentAcl { document: DocumentId, acl: Acl },
    /// The account may not read this object; the walk went on without it.
    AccessDenied { what: String, detail: String },
    /// Something the walk skipped but could go on without (e.g. deleted meanwhile).
    Warning { what: String, detail: String },
    /// Changes-only walks: the `Version` items this walk yields for `document` are every
    /// version it has now (none: it was deleted). Versions of it the last snapshot held and
    /// this walk did not yield are gone.
    Relisted { document: DocumentId },
    /// Last item of a changes-only walk that ran to its end as one: the last snapshot's versions
    /// this walk did not yield, of documents not [`WalkItem::Relisted`], are unchanged. Not
    /// `complete` when a read failed or a listing restarted (warnings say which): what was
    /// listed is right, but a change may have been missed.
    ChangesOnly { complete: bool },
    /// Last item of a walk given `changes` whose crawl was refused and fell back to the tree
    /// walk: it listed every version.
    ListedEverything,
}

/// The strategy `Auto` resolves to for this client.
pub fn resolve_strategy(client: &Client, strategy: WalkStrategy) -> WalkStrategy {
    match strategy {
        WalkStrategy::Auto if client.user().user_type == UserType::System => WalkStrategy::Crawl,
        WalkStrategy::Auto => WalkStrategy::Tree,
        s => s,
    }
}

/// The items of one library, as a bounded stream. Dropping the stream stops the walk.
pub fn walk(
    client: &Client,
    library: &LibraryId,
    strategy: WalkStrategy,
    mut options: WalkOptions,
) -> WalkStream {
    let (tx, rx) = mpsc::channel(options.channel_capacity.max(1));
    let client = client.clone();
    let library = library.clone();
    let resolved = resolve_strategy(&client, strategy);
    let span = tracing::info_span!("walk", library = %library, strategy = ?resolved);
    let sink = Sink { tx };
    let task = tokio::spawn(
        async move {
            let result = match resolved {
                WalkStrategy::Crawl => {
                    let fallback = strategy == WalkStrategy::Auto;
                    let changes = options.changes.take();
                    let changes_asked = changes.is_some();
                    match crawl::run(&client, &library, &sink, changes).await {
                        Err(crawl::CrawlEnd::RefusedAtStart(e)) if fallback => {
                            tracing::warn!(error = %e, "crawl refused; falling back to the tree walk");
                            match tree::run(&client, &library, &options, &sink).await {
                                Ok(()) if changes_asked => {
                                    sink.item(WalkItem::ListedEverything).await
                                }
                                other => other,
                            }
                        }
                        Err(crawl::CrawlEnd::RefusedAtStart(e)) => sink.error(e).await,
                        Err(crawl::CrawlEnd::Stopped(s)) => Err(s),
                        Ok(()) => Ok(()),
                    }
                }
                _ => tree::run(&client, &library, &options, &sink).await,
            };
            if result.is_err() {
                tracing::debug!("walk stopped: the consumer went away");
            }
        }
        .instrument(span),
    );
    WalkStream { rx, task }
}

/// The consumer dropped the stream; the walk stops.
#[derive(Debug)]
pub(crate) struct Stopped;

/// Where walk items go.
#[derive(Clone)]
pub(crate) struct Sink {
    tx: mpsc::Sender<Result<WalkItem, ImanageError>>,
}

impl Sink {
    pub async fn item(&self, item: WalkItem) -> Result<(), Stopped> {
        self.tx.send(Ok(item)).await.map_err(|_| Stopped)
    }

    /// Report a failed object: 403 as `AccessDenied`, 404 as a warning, the rest as `Err`.
    pub async fn error(&self, e: ImanageError) -> Result<(), Stopped> {
        if let ImanageError::AccessDenied { what, .. } = &e {
            let what = what.clone();
            let detail = e.to_string();
            return self.item(WalkItem::AccessDenied { what, detail }).await;
        }
        if e.is_not_found() {
            return self
                .item(WalkItem::Warning {
                    what: e.to_string(),
                    detail: "not found: probably deleted while the walk ran".into(),
                })
                .await;
        }
        self.tx.send(Err(e)).await.map_err(|_| Stopped)
    }
}

/// The stream [`walk`] returns; dropping it aborts the walk.
pub struct WalkStream {
    rx: mpsc::Receiver<Result<WalkItem, ImanageError>>,
    task: JoinHandle<()>,
}

impl Stream for WalkStream {
    type Item = Result<WalkItem, ImanageError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for WalkStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
