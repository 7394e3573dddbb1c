//! `imvault versions DOC-ID`: every backed-up version of a document across time.

use std::path::Path;

use anyhow::Context as _;

use super::{Exit, load_settings_offline};
use crate::app::state::open_catalog_to_browse;
use crate::catalog::VersionHistory;
use crate::cli::VersionsArgs;
use crate::imanage::model::DocumentId;

pub fn run(config: Option<&Path>, args: &VersionsArgs) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    let id: DocumentId = args.document.parse().context("reading DOC-ID")?;
    let cat = open_catalog_to_browse(&settings)?;
    let history = cat
        .document_versions(&id)
        .with_context(|| format!("reading the history of {id}"))?;
    if history.is_empty() {
        // An empty catalog is said so (an error), not answered "no version".
        super::catalog_libraries(&cat, &settings.catalog_path)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"document": id, "versions": history})
            )?
        );
        return Ok(Exit::Success);
    }
    if history.is_empty() {
        println!("no backed-up version of {id} in the catalog (try `imvault catalog sync`)");
        return Ok(Exit::Success);
    }
    print_history(&history);
    Ok(Exit::Success)
}

fn print_history(history: &[VersionHistory]) {
    println!(
        "{:<18} {:>12}  {:<20}  {:<12} {:<40} snapshots",
        "version", "bytes", "edited", "author", "name"
    );
    for h in history {
        let v = &h.version;
        let s = &h.snapshots;
        println!(
            "{:<18} {:>12}  {:<20}  {:<12} {:<40} {} ({} .. {}, {} snapshot{})",
            v.id.to_string(),
            v.size,
            v.edit_date.as_deref().unwrap_or("-"),
            v.author().unwrap_or("-"),
            super::ls::display_name(&v.name, v.extension.as_deref()),
            &s.first.id.to_hex()[..12],
            s.first.time.format("%Y-%m-%d %H:%M"),
            s.last.time.format("%Y-%m-%d %H:%M"),
            s.count(),
            if s.count() == 1 { "" } else { "s" }
        );
    }
}
