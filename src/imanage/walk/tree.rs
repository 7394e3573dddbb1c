//! The tree walk over paged listings (contract §5).
//!
//! Work is a stack of small tasks (one listing page, one container's ACL, one document's
//! versions and ACL) run `concurrency` at a time. Depth-first order keeps the stack small: it
//! holds at most a page of children per open level. Documents are expanded the first time their
//! number is seen; every later sighting only yields a `Filing`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::Value;

use super::{Sink, Stopped, WalkItem, WalkOptions};
use crate::imanage::api_read::SecurityTarget;
use crate::imanage::client::Client;
use crate::imanage::error::ImanageError;
use crate::imanage::model::{Container, ContainerId, ContainerKind, DocumentId, Filing, LibraryId};
use crate::imanage::paging::{Listing, PageState};

enum Task {
    /// The next page of a listing; `parent` is the folder whose children it lists.
    Page {
        listing: Listing,
        state: PageState,
        parent: Option<ContainerId>,
        top: bool,
    },
    /// A container found in a listing: read its ACL, yield it, then list its children. Every folder
    /// and tab is listed even when its `has_documents`/`has_subfolders` flags say it is empty: the
    /// flags do not always count documents filed there from elsewhere, and a skipped listing
    /// would lose filings.
    Container(Value),
    /// A document seen for the first time: yield its versions and ACL.
    Document(DocumentId),
}

struct Ctx {
    client: Client,
    sink: Sink,
    seen_documents: Mutex<HashSet<u64>>,
}

pub(super) async fn run(
    client: &Client,
    library: &LibraryId,
    options: &WalkOptions,
    sink: &Sink,
) -> Result<(), Stopped> {
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        sink: sink.clone(),
        seen_documents: Mutex::new(HashSet::new()),
    });
    let mut stack = vec![Task::Page {
        listing: Listing::Workspaces(library.clone()),
        state: PageState::default(),
        parent: None,
        top: true,
    }];
    let mut inflight = FuturesUnordered::new();
    let limit = options.concurrency.max(1);
    loop {
        while inflight.len() < limit {
            let Some(task) = stack.pop() else { break };
            inflight.push(run_task(ctx.clone(), task));
        }
        match inflight.next().await {
            None => return Ok(()),
            Some(result) => stack.extend(result?),
        }
    }
}

async fn run_task(ctx: Arc<Ctx>, task: Task) -> Result<Vec<Task>, Stopped> {
    match task {
        Task::Page {
            listing,
            mut state,
            parent,
            top,
        } => {
            let rows = match ctx.client.next_page(&listing, &mut state).await {
                Ok(rows) => rows,
                Err(e) => {
                    if top && e.is_access_denied() {
                        let what = format!("library {}", library_of(&listing));
                        let detail = e.to_string();
                        ctx.sink
                            .item(WalkItem::AccessDenied { what, detail })
                            .await?;
                        return Ok(vec![]);
                    }
                    ctx.sink.error(e).await?;
                    return Ok(vec![]);
                }
            };
            let mut next = Vec::with_capacity(rows.len() + 1);
            if !state.is_done() {
                next.push(Task::Page {
                    listing: listing.clone(),
                    state,
                    parent: parent.clone(),
                    top,
                });
            }
            for row in rows.into_iter().rev() {
                let wstype = row.get("wstype").and_then(Value::as_str).unwrap_or("");
                if matches!(wstype, "document" | "email") {
                    if let Some(task) = document_row(&ctx, row, parent.as_ref()).await? {
                        next.push(task);
                    }
                } else {
                    next.push(Task::Container(row));
                }
            }
            Ok(next)
        }
        Task::Container(row) => container(&ctx, row).await,
        Task::Document(doc) => {
            document(&ctx, &doc).await?;
            Ok(vec![])
        }
    }
}

fn library_of(listing: &Listing) -> String {
    match listing {
        Listing::Workspaces(l) | Listing::TrashBin(l) => l.to_string(),
        Listing::WorkspaceChildren(c) | Listing::FolderChildren(c) => c.library.to_string(),
        Listing::Crawl { library, .. } => library.to_string(),
    }
}

/// A document in a folder listing: yield the filing; expand it the first time.
async fn document_row(
    ctx: &Ctx,
    row: Value,
    parent: Option<&ContainerId>,
) -> Result<Option<Task>, Stopped> {
    let id = row.get("id").and_then(Value::as_str).unwrap_or("");
    let doc: DocumentId = match id.parse::<crate::imanage::model::VersionId>() {
        Ok(v) => v.document,
        Err(e) => {
            let what = format!("document row {id:?} in a folder listing");
            ctx.sink
                .item(WalkItem::Warning {
                    what,
                    detail: e.to_string(),
                })
                .await?;
            return Ok(None);
        }
    };
    if let Some(parent) = parent {
        ctx.sink
            .item(WalkItem::Filing(Filing {
                document: doc.clone(),
                parent: parent.clone(),
            }))
            .await?;
    }
    let first = ctx
        .seen_documents
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(doc.number);
    Ok(first.then_some(Task::Document(doc)))
}

async fn container(ctx: &Ctx, row: Value) -> Result<Vec<Task>, Stopped> {
    let c = match Container::from_json(row) {
        Ok(c) => c,
        Err(e) => {
            ctx.sink
                .error(ImanageError::Shape {
                    action: "reading a container from a listing".into(),
                    source: e,
                })
                .await?;
            return Ok(vec![]);
        }
    };
    let target = SecurityTarget::container(c.kind, c.id.clone());
    let id = c.id.clone();
    let kind = c.kind;
    match ctx.client.security(&target).await {
        Ok(acl) => {
            ctx.sink
                .item(WalkItem::Container { container: c, acl })
                .await?
        }
        Err(e) => ctx.sink.error(e).await?,
    }
    let listing = match kind {
        ContainerKind::SearchFolder => return Ok(vec![]),
        ContainerKind::Workspace => Listing::WorkspaceChildren(id.clone()),
        ContainerKind::Folder | ContainerKind::Tab => Listing::FolderChildren(id.clone()),
    };
    Ok(vec![Task::Page {
        listing,
        state: PageState::default(),
        parent: Some(id),
        top: false,
    }])
}

async fn document(ctx: &Ctx, doc: &DocumentId) -> Result<(), Stopped> {
    match ctx.client.document_versions(doc).await {
        Ok(versions) => {
            for version in versions {
                ctx.sink.item(WalkItem::Version { version }).await?;
            }
        }
        Err(e) => {
            ctx.sink.error(e).await?;
            return Ok(());
        }
    }
    match ctx
        .client
        .security(&SecurityTarget::Document(doc.clone()))
        .await
    {
        Ok(acl) => {
            ctx.sink
                .item(WalkItem::DocumentAcl {
                    document: doc.clone(),
                    acl,
                })
                .await
        }
        Err(e) => ctx.sink.error(e).await,
    }
}
