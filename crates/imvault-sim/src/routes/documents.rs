//! `GET L/documents/{versionId}/download`: streamed content with `Content-Length`,
//! `Content-Type` and `Content-Disposition`; a truncation fault cuts the body short.

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::{AppState, doc_ref, library};
use crate::content::{ContentSpec, mime_of};
use crate::error::ApiError;
use crate::render::version_json;
use crate::state::VersionContent;

/// Request extension set by the guard: cut this download short.
#[derive(Debug, Clone, Copy)]
pub struct TruncateFault;

const CHUNK: usize = 64 * 1024;

enum Source {
    Stored(Bytes),
    Generated(ContentSpec),
}

fn ascii_fallback(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn percent(name: &str) -> String {
    let mut s = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

pub async fn download(
    State(sim): State<AppState>,
    Path((customer, lib, id)): Path<(String, String, String)>,
    truncate: Option<axum::Extension<TruncateFault>>,
) -> Result<Response, ApiError> {
    let li = library(&sim, &customer, &lib)?;
    let (n, v) = doc_ref(&lib, &id)?;
    let (source, filename, ext) = sim.read(li, |ctx| {
        let d = ctx
            .doc(n)
            .filter(|d| !d.trashed())
            .ok_or_else(|| ApiError::NoRecord(format!("document {id}")))?;
        let v = v.or_else(|| d.latest()).unwrap_or(0);
        let profile = version_json(ctx, &d, v)
            .ok_or_else(|| ApiError::NoRecord(format!("document version {id}")))?;
        let name = profile["name"].as_str().unwrap_or("document").to_string();
        let ext = profile["extension"].as_str().unwrap_or("").to_string();
        let source = match d.ov.and_then(|o| o.added.get(&v)).map(|a| &a.content) {
            Some(VersionContent::Stored(b)) => Source::Stored(b.clone()),
            _ => Source::Generated(ContentSpec::of(ctx.lib.content, &lib, n, v)),
        };
        let filename = if ext.is_empty() {
            name
        } else {
            format!("{name}.{ext}")
        };
        Ok::<_, ApiError>((source, filename, ext))
    })?;
    let len = match &source {
        Source::Stored(b) => b.len() as u64,
        Source::Generated(s) => s.len(),
    };
    // A truncated download sends about half of what Content-Length promises, then fails.
    let cut = truncate
        .filter(|_| {
            sim.limits
                .may_truncate(&format!("{lib}!{n}.{}", v.unwrap_or(0)))
        })
        .map(|_| len / 2);
    if cut.is_some() {
        sim.stats.truncated.fetch_add(1, Ordering::Relaxed);
    }
    let send = cut.unwrap_or(len);
    sim.stats.bytes.fetch_add(send, Ordering::Relaxed);
    let body = match source {
        Source::Stored(b) if cut.is_none() => Body::from(b),
        Source::Generated(spec) if cut.is_none() && len <= CHUNK as u64 => {
            Body::from(spec.chunk(0, CHUNK).unwrap_or_default())
        }
        source => stream_body(source, send, cut.is_some()),
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(mime_of(&ext)),
    );
    let disposition = format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        ascii_fallback(&filename),
        percent(&filename)
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// Produce the bytes on a blocking thread, at most a few chunks ahead of the client.
fn stream_body(source: Source, send: u64, fail_at_end: bool) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let mut off = 0u64;
        while off < send {
            let n = (CHUNK as u64).min(send - off) as usize;
            let chunk = match &source {
                Source::Stored(b) => b.slice(off as usize..off as usize + n),
                Source::Generated(spec) => {
                    let mut buf = vec![0u8; n];
                    spec.read_at(off, &mut buf);
                    Bytes::from(buf)
                }
            };
            if tx.blocking_send(Ok(chunk)).is_err() {
                return;
            }
            off += n as u64;
        }
        if fail_at_end {
            let _ = tx.blocking_send(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "simulated truncated download",
            )));
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        if item.is_err() {
            // Let the head and the partial body reach the client before the connection drops,
            // so the usual symptom is a short body rather than no answer at all.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Some((item, rx))
    });
    Body::from_stream(stream)
}
