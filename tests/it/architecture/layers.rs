//! The layering of the crate's top-level modules (docs/ARCHITECTURE.md): every `crate::<module>`
//! reference in `src/` goes from a module to one in a lower layer, never up and never sideways,
//! so no two top-level modules depend on each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::source::rust_files;

/// The top-level modules, lowest layer first. A module may use the modules of the layers below
/// its own, and no other.
const LAYERS: &[&[&str]] = &[
    // Leaves: no dependency on the rest of the crate.
    &[
        "secret",
        "logging",
        "private_fs",
        "sorted_runs",
        "page_cache",
        "allocator",
    ],
    // The two sides of a backup, which never see each other: the iManage API, the storage.
    &["imanage", "repo"],
    // Client settings for the iManage simulator, which is its own crate (`imvault-sim`, the same
    // contract) and uses nothing of this one (tests, benchmarks, `imvault demo`).
    &["sim", "audit"],
    // The local catalog: a rebuildable cache of the repository, keyed by iManage ids.
    &["catalog"],
    // The engines: backup, catalog sync, verify, forget, prune; restore reuses their progress
    // counters and catalog sync.
    &["jobs"],
    &["restore"],
    // Resolved, validated settings.
    &["config"],
    // Settings turned into live objects, shared by the command line and the daemon.
    &["app"],
    // The daemon: job queue, scheduler, workers; its HTTP API.
    &["daemon"],
    &["api"],
    // The binary edge: raw arguments, then one module per command.
    &["cli"],
    &["commands"],
    // Unit tests only: the fuzz targets feed every parser of untrusted bytes.
    &["fuzz"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The code of a file without its comments (doc links do not make a dependency).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `code` names: `crate::m…` and each item of `crate::{m…, n…}`.
fn referenced(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        if i > 0 {
            let before = code[..i].chars().next_back().unwrap();
            if before.is_alphanumeric() || before == '_' || before == '$' {
                continue; // `imvault_crate::`, `$crate::`
            }
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: split on commas outside nested braces.
            let mut depth = 0;
            let mut start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.insert(ident(group[start..j].trim()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(ident(group[start..j].trim()));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.remove("");
    found
}

/// Each top-level module and the top-level modules its files reference.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let tops: BTreeSet<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension().is_some_and(|e| e == "rs")).then_some(name)
        })
        .filter(|n| n != "lib" && n != "main")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let top = first.strip_suffix(".rs").unwrap_or(first).to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        let uses = graph.entry(top.clone()).or_default();
        for m in referenced(&code) {
            if m != top && tops.contains(&m) {
                uses.insert(m);
            }
        }
    }
    graph
}

#[test]
fn reference_finder_reads_paths_and_groups() {
    let code = "use crate::repo::{Indexed, Repository};\nuse crate::{catalog::Catalog, jobs::{self, backup}};\nlet x = crate::imanage::model::LibraryId::new(); $crate::sim::x; my_crate::daemon::y;";
    let got: Vec<String> = referenced(code).into_iter().collect();
    assert_eq!(got, ["catalog", "imanage", "jobs", "repo"]);
    assert_eq!(code_of("let a = 1; // crate::daemon"), "let a = 1; ");
}

#[test]
fn top_level_modules_only_use_lower_layers() {
    let graph = module_graph();
    assert!(
        graph.len() > 8,
        "the scan found the crate's modules: {graph:?}"
    );
    let mut wrong = Vec::new();
    for (module, uses) in &graph {
        let Some(own) = layer_of(module) else {
            wrong.push(format!(
                "{module} is not in LAYERS (tests/it/architecture/layers.rs): give it a layer"
            ));
            continue;
        };
        for used in uses {
            match layer_of(used) {
                Some(l) if l < own => {}
                Some(l) if l == own => {
                    wrong.push(format!("{module} uses {used}, a module of its own layer"))
                }
                Some(_) => wrong.push(format!("{module} uses {used}, a higher layer")),
                None => wrong.push(format!("{used} (used by {module}) is not in LAYERS")),
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}
