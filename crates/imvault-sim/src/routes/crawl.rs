//! §8 sync crawl endpoints: bulk, cursor-paged walks over a whole library, for `system`
//! accounts only. Each page costs O(limit), whatever the library's size.

use std::ops::ControlFlow;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{AppState, library};
use crate::corpus::BASE_DATES_END;
use crate::cursor::Pos;
use crate::error::ApiError;
use crate::render::{container_json, iso, version_json};
use crate::view::{ContainerView, Ctx};
use crate::wire::{ContainerTrusteeRow, DocumentTrusteeRow, ParentRow, UserType};

type R = Result<Json<Value>, ApiError>;
type P = Path<(String, String)>;
type B = Result<Json<CrawlBody>, JsonRejection>;

#[derive(Debug, Deserialize, Default)]
pub struct CrawlBody {
    #[serde(default)]
    pub limit: Option<u64>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub edit_date_from: Option<String>,
}

struct Crawl {
    li: usize,
    lib: String,
    limit: usize,
    start: Pos,
    /// `edit_date_from` as an ISO string (our dates compare as strings) and as seconds.
    from: Option<(String, i64)>,
    scope: String,
}

fn prepare(sim: &AppState, customer: &str, lib: &str, what: &str, b: B) -> Result<Crawl, ApiError> {
    let li = library(sim, customer, lib)?;
    if sim.opts.user_type != UserType::System {
        return Err(ApiError::AccessDenied(
            "the sync API is only available to system (service) accounts".into(),
        ));
    }
    let body = b
        .map(|Json(b)| b)
        .map_err(|e| ApiError::InvalidParam(format!("crawl body: {}", e.body_text())))?;
    let limit = match body.limit {
        None => 500,
        Some(n @ 1..=1000) => n as usize,
        Some(n) => {
            return Err(ApiError::InvalidParam(format!(
                "limit {n} (must be 1 to 1000)"
            )));
        }
    };
    let scope = format!("crawl-{what}:{lib}");
    let start = match body.cursor.as_deref() {
        Some(c) if !c.is_empty() => sim.cursors.parse(&scope, c)?,
        _ => (0, 0),
    };
    let from = match body.edit_date_from.as_deref() {
        None | Some("") => None,
        Some(s) => {
            let t = chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|_| ApiError::InvalidParam(format!("edit_date_from {s:?}")))?
                .timestamp();
            Some((iso(t), t))
        }
    };
    Ok(Crawl {
        li,
        lib: lib.to_string(),
        limit,
        start,
        from,
        scope,
    })
}

impl Crawl {
    fn only_overlay(&self) -> bool {
        self.from
            .as_ref()
            .is_some_and(|(_, t)| *t >= BASE_DATES_END)
    }
    fn keep_date(&self, d: Option<&str>) -> bool {
        match &self.from {
            None => true,
            Some((s, _)) => d.is_some_and(|d| d >= s.as_str()),
        }
    }
    fn answer(&self, sim: &AppState, data: Vec<impl Serialize>, next: Option<Pos>) -> Json<Value> {
        let mut v = json!({ "data": data });
        if let Some(p) = next {
            v["cursor"] = json!(sim.cursors.issue(&self.scope, p));
        }
        Json(v)
    }
}

/// Collect rows, each object giving several; stop (with the resume position) once `limit`
/// rows are taken and another is due.
struct Pager<T> {
    limit: usize,
    start: Pos,
    data: Vec<T>,
    next: Option<Pos>,
}

impl<T: Serialize> Pager<T> {
    fn new(c: &Crawl) -> Self {
        Self {
            limit: c.limit,
            start: c.start,
            data: Vec::new(),
            next: None,
        }
    }
    fn object(&mut self, number: u64, rows: impl IntoIterator<Item = T>) -> ControlFlow<()> {
        let skip = if number == self.start.0 {
            self.start.1 as usize
        } else {
            0
        };
        for (i, row) in rows.into_iter().enumerate().skip(skip) {
            if self.data.len() == self.limit {
                self.next = Some((number, i as u64));
                return ControlFlow::Break(());
            }
            self.data.push(row);
        }
        ControlFlow::Continue(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Workspaces,
    Folders,
}

fn containers(sim: AppState, c: String, l: String, b: B, which: Which) -> R {
    let what = if which == Which::Workspaces {
        "workspaces"
    } else {
        "folders"
    };
    let crawl = prepare(&sim, &c, &l, what, b)?;
    let mut pager = Pager::new(&crawl);
    sim.read(crawl.li, |ctx| {
        ctx.for_each_container_from(
            crawl.start.0,
            which == Which::Workspaces,
            crawl.only_overlay(),
            |cv| {
                if !crawl.keep_date(Some(&iso(cv.edit))) {
                    return ControlFlow::Continue(());
                }
                pager.object(cv.number, [container_json(&crawl.lib, &cv)])
            },
        );
    });
    Ok(crawl.answer(&sim, pager.data, pager.next))
}

pub async fn workspaces(State(sim): State<AppState>, Path((c, l)): P, b: B) -> R {
    containers(sim, c, l, b, Which::Workspaces)
}

pub async fn folders(State(sim): State<AppState>, Path((c, l)): P, b: B) -> R {
    containers(sim, c, l, b, Which::Folders)
}

pub async fn documents(State(sim): State<AppState>, Path((c, l)): P, b: B) -> R {
    let crawl = prepare(&sim, &c, &l, "documents", b)?;
    let mut pager = Pager::new(&crawl);
    sim.read(crawl.li, |ctx| {
        ctx.for_each_doc_from(crawl.start.0, crawl.only_overlay(), |d| {
            let rows: Vec<Value> = d
                .versions()
                .into_iter()
                .filter_map(|v| version_json(ctx, &d, v))
                .filter(|row| {
                    crawl.keep_date(row["edit_date"].as_str())
                        || crawl.keep_date(row["edit_profile_date"].as_str())
                })
                .collect();
            pager.object(d.number, rows)
        });
    });
    Ok(crawl.answer(&sim, pager.data, pager.next))
}

pub async fn parents(State(sim): State<AppState>, Path((c, l)): P, b: B) -> R {
    let crawl = prepare(&sim, &c, &l, "parents", b)?;
    let mut pager = Pager::new(&crawl);
    sim.read(crawl.li, |ctx| {
        ctx.for_each_doc_from(crawl.start.0, false, |d| {
            let lib = &crawl.lib;
            let rows = d.parents.iter().map(|p| ParentRow {
                document_number: d.number,
                document_id: format!("{lib}!{}", d.number),
                parent_id: format!("{lib}!{p}"),
            });
            pager.object(d.number, rows)
        });
    });
    Ok(crawl.answer(&sim, pager.data, pager.next))
}

pub async fn document_trustees(State(sim): State<AppState>, Path((c, l)): P, b: B) -> R {
    let crawl = prepare(&sim, &c, &l, "doc-trustees", b)?;
    let mut pager = Pager::new(&crawl);
    sim.read(crawl.li, |ctx| {
        ctx.for_each_doc_from(crawl.start.0, false, |d| {
            let acl = ctx.doc_acl(d.number);
            let id = format!("{}!{}", crawl.lib, d.number);
            let rows = acl
                .entries
                .iter()
                .map(|(tid, t, level)| DocumentTrusteeRow {
                    document_id: id.clone(),
                    id: tid.clone(),
                    trustee_type: *t,
                    access_level: *level,
                });
            pager.object(d.number, rows)
        });
    });
    Ok(crawl.answer(&sim, pager.data, pager.next))
}

fn container_rows(ctx: &Ctx<'_>, lib: &str, cv: &ContainerView) -> Vec<ContainerTrusteeRow> {
    let id = format!("{lib}!{}", cv.number);
    ctx.container_acl(cv.number)
        .entries
        .into_iter()
        .map(|(tid, t, level)| ContainerTrusteeRow {
            container_id: id.clone(),
            id: tid,
            trustee_type: t,
            access_level: level,
        })
        .collect()
}

pub async fn container_trustees(State(sim): State<AppState>, Path((c, l)): P, b: B) -> R {
    let crawl = prepare(&sim, &c, &l, "container-trustees", b)?;
    // Workspaces and folders interleave by number: walk both and merge by number.
    let mut pager = Pager::new(&crawl);
    sim.read(crawl.li, |ctx| {
        let mut all: Vec<ContainerView> = Vec::new();
        let want = crawl.limit + 1;
        for ws in [true, false] {
            let mut taken = Vec::new();
            let mut rows = 0usize;
            ctx.for_each_container_from(crawl.start.0, ws, false, |cv| {
                rows += ctx.container_acl(cv.number).entries.len();
                taken.push(cv);
                if rows > want + crawl.start.1 as usize {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            all.extend(taken);
        }
        all.sort_by_key(|c| c.number);
        for cv in &all {
            if pager
                .object(cv.number, container_rows(ctx, &crawl.lib, cv))
                .is_break()
            {
                break;
            }
        }
    });
    Ok(crawl.answer(&sim, pager.data, pager.next))
}
