//! Browsing what was protected: a snapshot's workspaces → folders → documents, a document's
//! versions with the snapshots holding them, search across snapshots, and the items a backup
//! skipped. All read from the catalog (the daemon's reader connection).

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::info::SnapshotBrief;
use crate::api::{ApiError, ApiQuery, AppState, ErrorBody};
use crate::catalog::{
    Catalog, CatalogError, ContainerRow, DocumentEntry, FindQuery, SnapshotId, SnapshotInfo,
    SnapshotRef, SnapshotSpan, VersionRow,
};
use crate::daemon::queue::QueueError;
use crate::imanage::model::{
    ContainerId, ContainerKind, DocumentId, DocumentKind, LibraryId, VersionId,
};

/// How deep a breadcrumb goes before it stops (a cycle in bad data must not loop).
const MAX_DEPTH: usize = 64;
/// Search hits by default, and at most.
pub const DEFAULT_SEARCH_LIMIT: usize = 100;
pub const MAX_SEARCH_LIMIT: usize = 1000;

/// `name.extension` of a version.
fn file_name(v: &VersionRow) -> String {
    match v.extension.as_deref().filter(|e| !e.is_empty()) {
        Some(e) => format!("{}.{e}", v.name),
        None => v.name.clone(),
    }
}

/// A workspace, folder or tab.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContainerView {
    pub id: ContainerId,
    pub kind: ContainerKind,
    pub name: String,
    /// A workspace's client code (`custom1`).
    pub client: Option<String>,
    /// A workspace's matter code (`custom2`).
    pub matter: Option<String>,
}

impl From<&ContainerRow> for ContainerView {
    fn from(c: &ContainerRow) -> Self {
        Self {
            id: c.id.clone(),
            kind: c.kind,
            name: c.name.clone(),
            client: c.client().map(str::to_string),
            matter: c.matter().map(str::to_string),
        }
    }
}

/// One version of a document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionView {
    pub id: VersionId,
    pub document: DocumentId,
    pub version: u32,
    pub kind: DocumentKind,
    pub name: String,
    pub extension: Option<String>,
    /// `name.extension`.
    pub file_name: String,
    pub size: u64,
    pub author: Option<String>,
    /// When the content was last edited (as iManage gave it).
    pub edit_date: Option<String>,
    /// The workspace the profile names.
    pub workspace: Option<ContainerId>,
}

impl From<&VersionRow> for VersionView {
    fn from(v: &VersionRow) -> Self {
        Self {
            id: v.id.clone(),
            document: v.id.document.clone(),
            version: v.id.version,
            kind: v.kind,
            name: v.name.clone(),
            extension: v.extension.clone(),
            file_name: file_name(v),
            size: v.size,
            author: v.author().map(str::to_string),
            edit_date: v.edit_date.clone(),
            workspace: v.workspace_id(),
        }
    }
}

/// A document with the versions present in a snapshot.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    pub id: DocumentId,
    /// The newest version's file name.
    pub name: String,
    pub versions: Vec<VersionView>,
}

impl From<&DocumentEntry> for DocumentView {
    fn from(d: &DocumentEntry) -> Self {
        Self {
            id: d.id.clone(),
            name: d.versions.last().map(file_name).unwrap_or_default(),
            versions: d.versions.iter().map(VersionView::from).collect(),
        }
    }
}

/// A snapshot and its library.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SnapshotPlace {
    pub id: SnapshotId,
    pub library: LibraryId,
    pub time: DateTime<Utc>,
    pub seq: u64,
}

impl From<&SnapshotInfo> for SnapshotPlace {
    fn from(s: &SnapshotInfo) -> Self {
        Self {
            id: s.row.id,
            library: s.row.library.clone(),
            time: s.row.time,
            seq: s.seq,
        }
    }
}

/// What is directly under one place of a snapshot.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListingView {
    pub snapshot: SnapshotPlace,
    /// The container listed; none: the library's top level.
    pub container: Option<ContainerView>,
    /// Its ancestors, from the top level down (the container itself last).
    pub path: Vec<ContainerView>,
    /// Ordered by name.
    pub containers: Vec<ContainerView>,
    /// Documents filed directly here, by number.
    pub documents: Vec<DocumentView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChildrenQuery {
    /// The workspace, folder or tab to list (`LIB!N`); none: the top level.
    pub container: Option<String>,
}

fn catalog_error(e: CatalogError) -> ApiError {
    match e {
        CatalogError::UnknownSnapshot { snapshot } => {
            ApiError::not_found(format!("no snapshot {snapshot} in the catalog"))
        }
        e => QueueError::Catalog(e).into(),
    }
}

fn parse<T: std::str::FromStr>(field: &str, value: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e| ApiError::bad_request(format!("{field}: {e}")).with_field(Some(field)))
}

/// A snapshot from a request: its id, or a unique prefix of it (at least 4 hex digits, as the
/// command line prints and `POST /v1/restores` takes). Text that names no snapshot: 404, as
/// for an id the catalog does not hold; a prefix of several: 400.
async fn snapshot_id(state: &AppState, value: &str) -> Result<SnapshotId, ApiError> {
    if let Ok(id) = value.parse() {
        return Ok(id);
    }
    let none = || ApiError::not_found(format!("no snapshot {value} in the catalog"));
    let prefix = value.to_ascii_lowercase();
    if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(none());
    }
    let p = prefix.clone();
    let hits: Vec<SnapshotId> = read(state, "finding a snapshot by its prefix", move |c| {
        Ok(c.snapshots(None)?
            .into_iter()
            .map(|s| s.row.id)
            .filter(|id| id.to_hex().starts_with(&p))
            .collect())
    })
    .await?;
    match hits.as_slice() {
        [id] => Ok(*id),
        [] => Err(none()),
        many => Err(ApiError::bad_request(format!(
            "snapshot {value} is the start of {} snapshots' ids: give more of it",
            many.len()
        ))),
    }
}

/// Runs a read on the catalog's reader connection.
async fn read<T: Send + 'static>(
    state: &AppState,
    what: &'static str,
    f: impl FnOnce(&Catalog) -> Result<T, CatalogError> + Send + 'static,
) -> Result<T, ApiError> {
    state
        .queue
        .reader()
        .run(what, move |c| f(c))
        .await
        .map_err(catalog_error)
}

fn path_of(
    c: &Catalog,
    snapshot: &SnapshotId,
    container: &ContainerRow,
) -> Result<Vec<ContainerView>, CatalogError> {
    let mut path = vec![ContainerView::from(container)];
    let mut parent = container.parent_id.clone();
    while let Some(p) = parent {
        if path.len() >= MAX_DEPTH {
            break;
        }
        match c.container_in(snapshot, &p)? {
            Some(row) => {
                parent = row.parent_id.clone();
                path.push(ContainerView::from(&row));
            }
            None => break,
        }
    }
    path.reverse();
    Ok(path)
}

/// What is directly under a place of a snapshot: workspaces at the top level; folders, tabs and
/// the documents filed there below.
#[utoipa::path(
    get,
    path = "/snapshots/{id}/children",
    operation_id = "list_children",
    tag = "browse",
    params(("id" = SnapshotId, Path, description = "The snapshot's id"), ChildrenQuery),
    responses(
        (status = 200, description = "The listing", body = ListingView),
        (status = 400, description = "A bad parameter (named in the message)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No such snapshot, or no such container in it", body = ErrorBody)
    )
)]
pub async fn children(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ChildrenQuery>,
) -> Result<Json<ListingView>, ApiError> {
    let snapshot = snapshot_id(&state, &id).await?;
    let container: Option<ContainerId> = q
        .container
        .as_deref()
        .map(|c| parse("container", c))
        .transpose()?;
    let found = read(&state, "listing a snapshot", move |c| {
        let Some(info) = c.snapshot(&snapshot)? else {
            return Ok(None);
        };
        let place = match &container {
            None => None,
            Some(id) => match c.container_in(&snapshot, id)? {
                Some(row) => Some(row),
                None => return Ok(Some(Err(id.clone()))),
            },
        };
        let path = match &place {
            Some(row) => path_of(c, &snapshot, row)?,
            None => Vec::new(),
        };
        let listing = c.children(&snapshot, container.as_ref())?;
        Ok(Some(Ok(ListingView {
            snapshot: SnapshotPlace::from(&info),
            container: place.as_ref().map(ContainerView::from),
            path,
            containers: listing.containers.iter().map(ContainerView::from).collect(),
            documents: listing.documents.iter().map(DocumentView::from).collect(),
        })))
    })
    .await?;
    match found {
        None => Err(ApiError::not_found(format!(
            "no snapshot {id} in the catalog"
        ))),
        Some(Err(c)) => Err(ApiError::not_found(format!(
            "no workspace, folder or tab {c} in snapshot {id}"
        ))
        .with_field(Some("container"))),
        Some(Ok(v)) => Ok(Json(v)),
    }
}

/// A run of consecutive snapshots.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SpanView {
    pub first: SnapshotBrief,
    pub last: SnapshotBrief,
    /// How many snapshots the run holds.
    pub count: u64,
}

fn brief(r: &SnapshotRef) -> SnapshotBrief {
    SnapshotBrief {
        id: r.id,
        time: r.time,
        seq: r.seq,
    }
}

impl From<&SnapshotSpan> for SpanView {
    fn from(s: &SnapshotSpan) -> Self {
        Self {
            first: brief(&s.first),
            last: brief(&s.last),
            count: s.count(),
        }
    }
}

/// One backed-up state of a version and the snapshots holding exactly that state.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionState {
    pub version: VersionView,
    pub snapshots: SpanView,
    /// Whether the snapshot asked about holds this state.
    pub in_snapshot: Option<bool>,
}

/// A document's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentHistory {
    pub id: DocumentId,
    /// The newest version's file name.
    pub name: String,
    /// Every backed-up state of every version, by version then time.
    pub versions: Vec<VersionState>,
    /// With `snapshot`: the snapshot and where the document was filed in it.
    pub snapshot: Option<SnapshotPlace>,
    pub filed_in: Vec<Vec<ContainerView>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VersionsQuery {
    /// Mark the states this snapshot holds and say where the document was filed in it.
    pub snapshot: Option<String>,
}

/// Every backed-up version of a document, with the snapshots holding each.
#[utoipa::path(
    get,
    path = "/documents/{id}/versions",
    operation_id = "document_versions",
    tag = "browse",
    params(("id" = DocumentId, Path, description = "The document (LIB!N)"), VersionsQuery),
    responses(
        (status = 200, description = "The document's versions", body = DocumentHistory),
        (status = 400, description = "A bad parameter (named in the message)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No backed-up version of this document, or no such snapshot", body = ErrorBody)
    )
)]
pub async fn document_versions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<VersionsQuery>,
) -> Result<Json<DocumentHistory>, ApiError> {
    let doc: DocumentId = parse("id", &id)?;
    let snapshot: Option<SnapshotId> = match q.snapshot.as_deref() {
        Some(s) => Some(snapshot_id(&state, s).await?),
        None => None,
    };
    let d = doc.clone();
    let (history, place, filed_in) = read(&state, "reading a document's versions", move |c| {
        let history = c.document_versions(&d)?;
        let mut place = None;
        let mut filed_in = Vec::new();
        if let Some(s) = &snapshot {
            let info = c
                .snapshot(s)?
                .ok_or_else(|| CatalogError::UnknownSnapshot { snapshot: *s })?;
            if let Some(plan) = c.document_plan(s, &d)? {
                for f in &plan.filings {
                    if let Some(row) = c.container_in(s, f)? {
                        filed_in.push(path_of(c, s, &row)?);
                    }
                }
            }
            place = Some(info);
        }
        Ok((history, place, filed_in))
    })
    .await?;
    if history.is_empty() {
        return Err(ApiError::not_found(format!(
            "no backed-up version of document {doc} in the catalog"
        )));
    }
    let seq = place.as_ref().map(|p| p.seq);
    let versions: Vec<VersionState> = history
        .iter()
        .map(|h| VersionState {
            version: VersionView::from(&h.version),
            snapshots: SpanView::from(&h.snapshots),
            in_snapshot: seq.map(|s| h.snapshots.contains(s)),
        })
        .collect();
    let name = history
        .iter()
        .max_by_key(|h| (h.snapshots.last.seq, h.version.id.version))
        .map(|h| file_name(&h.version))
        .unwrap_or_default();
    Ok(Json(DocumentHistory {
        id: doc,
        name,
        versions,
        snapshot: place.as_ref().map(SnapshotPlace::from),
        filed_in,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Only this library.
    pub library: Option<String>,
    /// A shell glob (`*`, `?`, `[..]`) against the name or `name.extension`, case-insensitive.
    pub name: Option<String>,
    /// The author, exactly (case-insensitive).
    pub author: Option<String>,
    /// The workspace's client code, exactly (case-insensitive).
    pub client: Option<String>,
    /// The workspace's matter code, exactly (case-insensitive).
    pub matter: Option<String>,
    /// Edited after this time (RFC 3339).
    pub modified_after: Option<DateTime<Utc>>,
    /// Hits at most (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// A version that matched.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    /// The newest matching state.
    pub version: VersionView,
    /// The workspace it belongs to, as of the newest snapshot holding the match.
    pub workspace: Option<ContainerView>,
    /// Runs of snapshots holding a matching state, in time order.
    pub snapshots: Vec<SpanView>,
    pub snapshot_count: u64,
}

/// Search results.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResult {
    pub hits: Vec<SearchHit>,
    pub limit: usize,
    /// More versions matched than `limit`.
    pub more: bool,
}

/// Versions matching every filter given, in any snapshot: by name, author, client and matter.
#[utoipa::path(
    get,
    path = "/search",
    operation_id = "search",
    tag = "browse",
    params(SearchQuery),
    responses(
        (status = 200, description = "Matching versions", body = SearchResult),
        (status = 400, description = "A bad parameter (named in the message)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody)
    )
)]
pub async fn search(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<SearchResult>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_SEARCH_LIMIT);
    if limit == 0 || limit > MAX_SEARCH_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit: must be 1 to {MAX_SEARCH_LIMIT}, got {limit}"
        ))
        .with_field(Some("limit")));
    }
    let nonempty = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let query = FindQuery {
        library: nonempty(q.library)
            .map(|l| parse("library", &l))
            .transpose()?,
        name: nonempty(q.name),
        author: nonempty(q.author),
        client: nonempty(q.client),
        matter: nonempty(q.matter),
        modified_after: q.modified_after,
        limit: Some(limit + 1),
    };
    let hits = read(&state, "searching the catalog", move |c| {
        let mut hits = c.find(&query)?;
        let more = hits.len() > limit;
        hits.truncate(limit);
        let mut out = Vec::with_capacity(hits.len());
        for h in hits {
            let newest = h.snapshots.last().map(|s| s.last.id);
            let workspace = match (h.version.workspace_id(), newest) {
                (Some(w), Some(s)) => c.container_in(&s, &w)?.as_ref().map(ContainerView::from),
                _ => None,
            };
            out.push(SearchHit {
                version: VersionView::from(&h.version),
                workspace,
                snapshot_count: h.snapshot_count(),
                snapshots: h.snapshots.iter().map(SpanView::from).collect(),
            });
        }
        Ok((out, more))
    })
    .await?;
    Ok(Json(SearchResult {
        hits: hits.0,
        limit,
        more: hits.1,
    }))
}

/// An item a backup could not take.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedItem {
    /// The object's id, or a description of it.
    pub object: String,
    pub reason: String,
}

/// The items a snapshot's backup skipped.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedList {
    pub snapshot: SnapshotPlace,
    pub items: Vec<SkippedItem>,
}

/// The items a snapshot's backup skipped, with the reasons.
#[utoipa::path(
    get,
    path = "/snapshots/{id}/skipped",
    operation_id = "snapshot_skipped",
    tag = "browse",
    params(("id" = SnapshotId, Path, description = "The snapshot's id")),
    responses(
        (status = 200, description = "The skipped items", body = SkippedList),
        (status = 400, description = "Not a snapshot id", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No such snapshot", body = ErrorBody)
    )
)]
pub async fn skipped(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SkippedList>, ApiError> {
    let snapshot = snapshot_id(&state, &id).await?;
    let s = snapshot;
    let found = read(&state, "listing skipped items", move |c| {
        let Some(info) = c.snapshot(&s)? else {
            return Ok(None);
        };
        Ok(Some((info, c.skipped(&s)?)))
    })
    .await?;
    let (info, items) = found
        .ok_or_else(|| ApiError::not_found(format!("no snapshot {snapshot} in the catalog")))?;
    Ok(Json(SkippedList {
        snapshot: SnapshotPlace::from(&info),
        items: items
            .into_iter()
            .map(|s| SkippedItem {
                object: s.object,
                reason: s.reason,
            })
            .collect(),
    }))
}
