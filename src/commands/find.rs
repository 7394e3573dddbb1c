//! `imvault find`: search every catalogued snapshot for documents.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;

use super::{Exit, load_settings_offline};
use crate::app::state::open_catalog_to_browse;
use crate::catalog::FindQuery;
use crate::cli::FindArgs;
use crate::restore::when::parse_time;

pub fn run(config: Option<&Path>, args: &FindArgs) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    let cat = open_catalog_to_browse(&settings)?;
    // An empty catalog is said so, not answered "0 found".
    let libraries = super::catalog_libraries(&cat, &settings.catalog_path)?;
    let q = FindQuery {
        library: super::known_library_opt(args.library.as_deref(), || Ok(libraries))?
            .map(|l| l.parse())
            .transpose()
            .context("reading --library")?,
        name: args
            .name
            .as_deref()
            .map(glob_checked)
            .transpose()
            .context("reading --name")?,
        author: args.author.clone(),
        client: args.client.clone(),
        matter: args.matter.clone(),
        modified_after: args
            .modified_after
            .as_deref()
            .map(parse_time)
            .transpose()
            .context("reading --modified-after")?,
        limit: Some(args.limit),
    };
    if args.json {
        let hits = cat.find(&q).context("searching the catalog")?;
        println!("{}", serde_json::to_string_pretty(&hits)?);
        return Ok(Exit::Success);
    }
    // The text lists each version's columns and author only: outlines spare reading every
    // hit's whole profile and content reference (most of a 1,000-hit search's time).
    let hits = cat.find_outlines(&q).context("searching the catalog")?;
    let mut out = String::with_capacity(hits.len() * 128 + 32);
    for h in &hits {
        let v = &h.version;
        let spans: Vec<String> = h
            .snapshots
            .iter()
            .map(|s| {
                format!(
                    "{}..{} ({})",
                    s.first.time.format("%Y-%m-%d %H:%M"),
                    s.last.time.format("%Y-%m-%d %H:%M"),
                    s.count()
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "{:<18} {:>12}  {:<12} {:<40} in {} snapshot(s): {}",
            v.id.to_string(),
            v.size,
            v.author.as_deref().unwrap_or("-"),
            super::ls::display_name(&v.name, v.extension.as_deref()),
            h.snapshot_count(),
            spans.join(", ")
        );
    }
    let _ = writeln!(out, "{} version(s) found", hits.len());
    super::write_stdout(out.as_bytes())
}

/// `pattern`, refused when a `[` opens a set no `]` closes (the catalog's GLOB would match
/// nothing, which reads as "no such document"). A `]` right after `[` or `[^` belongs to the set.
fn glob_checked(pattern: &str) -> anyhow::Result<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '[' {
            let mut j = i + 1;
            if chars.get(j) == Some(&'^') {
                j += 1;
            }
            j += 1; // the set's first character, even a `]`
            match chars.iter().skip(j).position(|c| *c == ']') {
                Some(k) => i = j + k,
                None => anyhow::bail!(
                    "{pattern:?} opens a set with '[' that no ']' closes (to match a '[' itself, write '[[]')"
                ),
            }
        }
        i += 1;
    }
    Ok(pattern.to_string())
}

#[cfg(test)]
mod tests {
    use super::glob_checked;

    #[test]
    fn an_unclosed_set_is_refused() {
        for ok in ["*", "*.pdf", "[abc]*", "[^x]?", "[]]", "[^]]x", "a[[]b", ""] {
            assert_eq!(glob_checked(ok).unwrap(), ok);
        }
        for bad in ["[", "x[ab", "[]", "[^]", "ok[a]then[b"] {
            let e = glob_checked(bad).unwrap_err().to_string();
            assert!(e.contains("no ']' closes"), "{bad}: {e}");
        }
    }
}
