//! `imvault ls`: browse a snapshot as workspaces, folders and documents with their versions.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use super::{Exit, load_settings_offline};
use crate::app::state::open_catalog_to_browse;
use crate::catalog::{Catalog, DocumentEntry, PlaceOutline, SnapshotInfo};
use crate::cli::LsArgs;
use crate::imanage::model::{ContainerId, DocumentId, LibraryId};
use crate::restore::plan::pick_snapshot;
use crate::restore::when::parse_time;

/// `name.ext` of a version (its name and extension).
pub fn display_name(name: &str, extension: Option<&str>) -> String {
    match extension.filter(|e| !e.is_empty()) {
        Some(e) => format!("{name}.{e}"),
        None => name.to_string(),
    }
}

enum Target {
    Top,
    Container(ContainerId),
    Document(DocumentId),
    Path(String),
}

pub fn run(config: Option<&Path>, args: &LsArgs) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    let cat = open_catalog_to_browse(&settings)?;
    let target = match args.path.as_deref() {
        None | Some("") | Some("/") => Target::Top,
        Some(p) => {
            if let Ok(c) = p.parse::<ContainerId>() {
                // Containers and documents share the LIB!N form: the catalog tells them apart.
                Target::Container(c)
            } else if let Ok(d) = p.parse::<DocumentId>() {
                Target::Document(d)
            } else {
                Target::Path(p.to_string())
            }
        }
    };
    let known = |l: &LibraryId| -> anyhow::Result<LibraryId> {
        super::known_library(
            l.as_str(),
            super::catalog_libraries(&cat, &settings.catalog_path)?,
        )?
        .parse()
        .context("reading --library")
    };
    let library: LibraryId = match (&target, &args.library) {
        (Target::Container(c), _) => known(&c.library)?,
        (Target::Document(d), _) => known(&d.library)?,
        (_, Some(l)) => known(&l.parse().context("reading --library")?)?,
        (_, None) => {
            let mut libs: Vec<LibraryId> = cat
                .snapshots(None)
                .context("listing snapshots")?
                .into_iter()
                .map(|s| s.row.library)
                .collect();
            libs.dedup();
            match libs.len() {
                1 => libs.remove(0),
                0 => anyhow::bail!(
                    "the catalog {} holds no snapshot (run a backup, or `imvault catalog sync`)",
                    settings.catalog_path.display()
                ),
                _ => {
                    return list_libraries(&cat, args.json);
                }
            }
        }
    };
    let at = args
        .at
        .as_deref()
        .map(parse_time)
        .transpose()
        .context("reading --at")?;
    let snap = pick_snapshot(&cat, &library, at, args.snapshot.as_deref())?;
    let sid = &snap.row.id;
    let (place, listing, document) = match &target {
        Target::Top => ("top level".to_string(), Some(None), None),
        Target::Container(c) => {
            if cat.container_in(sid, c)?.is_some() {
                (c.to_string(), Some(Some(c.clone())), None)
            } else {
                let d = DocumentId {
                    library: c.library.clone(),
                    number: c.number,
                };
                let doc = cat.document_in(sid, &d)?.with_context(|| {
                    format!("{c} is neither a container nor a document in snapshot {sid}")
                })?;
                (d.to_string(), None, Some(doc))
            }
        }
        Target::Document(d) => {
            let doc = cat
                .document_in(sid, d)?
                .with_context(|| format!("document {d} is not in snapshot {sid}"))?;
            (d.to_string(), None, Some(doc))
        }
        Target::Path(p) => {
            let mut found = cat.resolve_paths(sid, p)?;
            match found.len() {
                0 => anyhow::bail!(
                    "no container at path {p:?} in snapshot {sid} (a path is names joined by '/': a name that holds a '/' itself is reached by its id, LIB!N, as `imvault ls` of its parent shows it)"
                ),
                1 => {
                    let c = found.remove(0);
                    (format!("{p} ({})", c.id), Some(Some(c.id)), None)
                }
                _ => return show_same_named(&cat, &snap, p, &found, args.json),
            }
        }
    };
    // `listing`: the place to list (`Some(None)` the top level). JSON gives every container's
    // profile and ACL; text names them only (the top level can hold tens of thousands).
    if args.json {
        let listing = listing
            .map(|parent| cat.children(sid, parent.as_ref()))
            .transpose()?;
        let v = json!({
            "snapshot": {"id": sid, "library": snap.row.library, "time": snap.row.time},
            "place": place,
            "listing": listing,
            "document": document,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(Exit::Success);
    }
    let mut out = String::new();
    print_header(&mut out, &snap, &place);
    if let Some(parent) = &listing {
        print_listing(&mut out, &cat.children_outline(sid, parent.as_ref())?);
    }
    if let Some(d) = &document {
        print_document(&mut out, d);
    }
    super::write_stdout(out.as_bytes())
}

/// A path that names several same-named containers: each one's listing, with its id and the
/// forms that name it alone (its id, or the path with ` (N)` on the name, as the export names
/// such directories).
fn show_same_named(
    cat: &Catalog,
    snap: &SnapshotInfo,
    path: &str,
    found: &[crate::catalog::ContainerRow],
    json: bool,
) -> anyhow::Result<Exit> {
    let sid = &snap.row.id;
    let alone = |c: &crate::catalog::ContainerRow| {
        let trimmed = path.trim_end_matches('/');
        let parent = trimmed.rsplit_once('/').map(|(p, _)| p);
        let own = format!("{} ({})", c.name, c.id.number);
        match parent {
            Some(p) => format!("{p}/{own}"),
            None => own,
        }
    };
    if json {
        let mut matches = Vec::new();
        for c in found {
            matches.push(json!({
                "id": c.id,
                "path": alone(c),
                "listing": cat.children(sid, Some(&c.id))?,
            }));
        }
        let v = json!({
            "snapshot": {"id": sid, "library": snap.row.library, "time": snap.row.time},
            "place": path,
            "listing": null,
            "document": null,
            "matches": matches,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(Exit::Success);
    }
    let mut out = format!(
        "{} containers are at path {path:?}; name one by its id or as {:?}:\n",
        found.len(),
        alone(&found[0])
    );
    for c in found {
        out.push('\n');
        print_header(
            &mut out,
            snap,
            &format!("{path} ({}), or {:?}", c.id, alone(c)),
        );
        print_listing(&mut out, &cat.children_outline(sid, Some(&c.id))?);
    }
    super::write_stdout(out.as_bytes())
}

fn list_libraries(cat: &Catalog, json: bool) -> anyhow::Result<Exit> {
    let snaps = cat.snapshots(None)?;
    let mut latest: Vec<&SnapshotInfo> = Vec::new();
    for s in &snaps {
        match latest.last_mut() {
            Some(l) if l.row.library == s.row.library => *l = s,
            _ => latest.push(s),
        }
    }
    if json {
        let v: Vec<_> = latest
            .iter()
            .map(|s| json!({"library": s.row.library, "latest_snapshot": s.row.id, "time": s.row.time}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"libraries": v}))?
        );
    } else {
        println!("libraries in the catalog (pick one with --library):");
        for s in latest {
            println!(
                "  {:<14} newest snapshot {} ({})",
                s.row.library.to_string(),
                &s.row.id.to_hex()[..12],
                s.row.time.format("%Y-%m-%d %H:%M:%S UTC")
            );
        }
    }
    Ok(Exit::Success)
}

fn print_header(out: &mut String, snap: &SnapshotInfo, place: &str) {
    let _ = writeln!(
        out,
        "{} in snapshot {} of {} ({})",
        place,
        &snap.row.id.to_hex()[..12],
        snap.row.library,
        snap.row.time.format("%Y-%m-%d %H:%M:%S UTC")
    );
}

fn print_listing(out: &mut String, l: &PlaceOutline) {
    for c in &l.containers {
        let kind = serde_json::to_value(c.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<14} {:<14} {}",
            format!("[{kind}]"),
            c.id.to_string(),
            c.name
        );
    }
    for d in &l.documents {
        print_document(out, d);
    }
}

fn print_document(out: &mut String, d: &DocumentEntry) {
    let Some(latest) = d.versions.last() else {
        return;
    };
    let _ = writeln!(
        out,
        "  {:<14} {:<14} {}",
        "[document]",
        d.id.to_string(),
        display_name(&latest.name, latest.extension.as_deref())
    );
    for v in &d.versions {
        let _ = writeln!(
            out,
            "      v{:<4} {:>12} B  edited {}  by {}",
            v.id.version,
            v.size,
            v.edit_date.as_deref().unwrap_or("-"),
            v.author().unwrap_or("-")
        );
    }
}
