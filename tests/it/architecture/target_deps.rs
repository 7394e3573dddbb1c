//! Platform code has its dependencies on every target it claims (issue 18): a dependency
//! declared only for some targets (`[target.'cfg(…)'.dependencies]`) may only be used under a
//! `#[cfg(…)]` that implies its declaration, or a build for another target of that cfg (musl,
//! macOS) fails. Checked on a set of representative targets, for every source file.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::source::rust_files;

/// Representative targets: the `cfg` predicates true on each.
const TARGETS: &[(&str, &[&str])] = &[
    (
        "x86_64-unknown-linux-gnu",
        &[
            "unix",
            "target_family=unix",
            "target_os=linux",
            "target_env=gnu",
        ],
    ),
    (
        "x86_64-unknown-linux-musl",
        &[
            "unix",
            "target_family=unix",
            "target_os=linux",
            "target_env=musl",
        ],
    ),
    (
        "aarch64-apple-darwin",
        &[
            "unix",
            "target_family=unix",
            "target_os=macos",
            "target_env=",
        ],
    ),
    (
        "x86_64-unknown-freebsd",
        &[
            "unix",
            "target_family=unix",
            "target_os=freebsd",
            "target_env=",
        ],
    ),
    (
        "x86_64-pc-windows-msvc",
        &[
            "windows",
            "target_family=windows",
            "target_os=windows",
            "target_env=msvc",
        ],
    ),
];

/// Evaluates a `cfg` predicate on a target; predicates that do not depend on the target
/// (`test`, `feature = …`, `debug_assertions`) count as true.
fn eval(expr: &str, target: &[&str]) -> bool {
    let e = expr.trim();
    let args = |inner: &str| -> Vec<String> {
        let (mut depth, mut start, mut out) = (0, 0, Vec::new());
        for (i, c) in inner.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(inner[start..i].to_string());
                    start = i + 1;
                }
                _ => {}
            }
        }
        if !inner[start..].trim().is_empty() {
            out.push(inner[start..].to_string());
        }
        out
    };
    let inner = |prefix: &str| {
        e.strip_prefix(prefix)
            .and_then(|r| r.trim_start().strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
    };
    if let Some(i) = inner("all") {
        return args(i).iter().all(|a| eval(a, target));
    }
    if let Some(i) = inner("any") {
        return args(i).iter().any(|a| eval(a, target));
    }
    if let Some(i) = inner("not") {
        return !eval(i, target);
    }
    let pred = e.replace([' ', '"'], "");
    let key = pred.split('=').next().unwrap_or("");
    let target_dependent = matches!(key, "unix" | "windows") || key.starts_with("target_");
    if !target_dependent {
        return true;
    }
    target.contains(&pred.as_str())
}

/// `cfg(…)` → `…`.
fn cfg_body(s: &str) -> Option<&str> {
    s.trim()
        .strip_prefix("cfg(")
        .and_then(|r| r.strip_suffix(')'))
}

/// Each target-specific dependency of `manifest` and the cfgs it is declared for (`None`:
/// declared for every target too).
fn platform_deps(manifest: &str) -> BTreeMap<String, Vec<Option<String>>> {
    let doc: toml::Table = manifest.parse().unwrap();
    let mut out: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    if let Some(targets) = doc.get("target").and_then(|t| t.as_table()) {
        for (cfg, table) in targets {
            for section in ["dependencies"] {
                if let Some(deps) = table.get(section).and_then(|d| d.as_table()) {
                    for name in deps.keys() {
                        out.entry(name.replace('-', "_"))
                            .or_default()
                            .push(cfg_body(cfg).map(str::to_string));
                    }
                }
            }
        }
    }
    for name in out.clone().keys() {
        let everywhere = doc
            .get("dependencies")
            .and_then(|d| d.as_table())
            .is_some_and(|d| d.contains_key(name) || d.contains_key(&name.replace('_', "-")));
        if everywhere {
            out.get_mut(name).unwrap().push(None);
        }
    }
    out
}

/// Every use of `krate::` in `code` with the cfgs in force there: the `#[cfg(…)]` attributes
/// of the items and blocks enclosing it (by brace depth) and of the statement it is in.
fn uses_with_cfgs(code: &str, krate: &str) -> Vec<(usize, Vec<String>)> {
    let needle = format!("{krate}::");
    let mut out = Vec::new();
    // (brace depth at which the cfg'd item opened, cfg); a pending cfg waits for its item.
    let mut active: Vec<(i32, String)> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    let mut depth = 0i32;
    for (n, raw) in code.lines().enumerate() {
        let line = match raw.find("//") {
            Some(i) if !raw[..i].contains('"') => &raw[..i],
            _ => raw,
        };
        let t = line.trim();
        if let Some(attr) = t.strip_prefix("#[").and_then(|a| a.strip_suffix(']')) {
            if let Some(body) = cfg_body(attr) {
                pending.push(body.to_string());
            }
            continue;
        }
        let mut cfgs: Vec<String> = active.iter().map(|(_, c)| c.clone()).collect();
        cfgs.extend(pending.iter().cloned());
        if line.contains(&needle) {
            out.push((n + 1, cfgs));
        }
        for c in line.chars() {
            match c {
                '{' => {
                    depth += 1;
                    for p in pending.drain(..) {
                        active.push((depth, p));
                    }
                }
                '}' => {
                    active.retain(|(d, _)| *d < depth);
                    depth -= 1;
                }
                _ => {}
            }
        }
        if t.ends_with(';') {
            pending.clear();
        }
    }
    out
}

#[test]
fn platform_code_has_its_dependencies_on_every_target_it_claims() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut manifests = vec![(root.join("Cargo.toml"), root.join("src"))];
    let crates = root.join("crates");
    for c in std::fs::read_dir(&crates).unwrap() {
        let dir = c.unwrap().path();
        manifests.push((dir.join("Cargo.toml"), dir.join("src")));
    }
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (manifest, src) in manifests {
        let deps = platform_deps(&std::fs::read_to_string(&manifest).unwrap());
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for file in files {
            let code = std::fs::read_to_string(&file).unwrap();
            for (krate, declared) in &deps {
                for (line, cfgs) in uses_with_cfgs(&code, krate) {
                    checked += 1;
                    for (target, preds) in TARGETS {
                        let compiled = cfgs.iter().all(|c| eval(c, preds));
                        let available = declared
                            .iter()
                            .any(|d| d.as_deref().is_none_or(|d| eval(d, preds)));
                        if compiled && !available {
                            wrong.push(format!(
                                "{}:{line}: uses {krate} under {cfgs:?}, which {target} compiles, \
                                 but {} declares {krate} only for {declared:?}",
                                file.display(),
                                manifest.display()
                            ));
                        }
                    }
                }
            }
        }
    }
    // Items of `libc` that only Linux has: used under a cfg that only Linux compiles.
    const LINUX_ONLY: &[&str] = &[
        "MAP_POPULATE",
        "syncfs",
        "renameat2",
        "RENAME_NOREPLACE",
        "mallopt",
        "M_MMAP_THRESHOLD",
        "M_ARENA_MAX",
    ];
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    for file in files {
        let code = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = code.lines().collect();
        for (line, cfgs) in uses_with_cfgs(&code, "libc") {
            let text = lines[line - 1];
            let Some(item) = LINUX_ONLY
                .iter()
                .find(|i| text.contains(&format!("libc::{i}")))
            else {
                continue;
            };
            for (target, preds) in TARGETS {
                if cfgs.iter().all(|c| eval(c, preds)) && !preds.contains(&"target_os=linux") {
                    wrong.push(format!(
                        "{}:{line}: libc::{item} exists only on Linux, but {target} compiles it (under {cfgs:?})",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(checked > 0, "no use of a platform dependency was found");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The checker reads cfgs the way rustc does on the targets above.
#[test]
fn cfg_evaluation_and_scoping() {
    let (gnu, musl, mac, win) = (TARGETS[0].1, TARGETS[1].1, TARGETS[2].1, TARGETS[4].1);
    let linux_gnu = r#"all(target_os = "linux", target_env = "gnu")"#;
    assert!(eval(linux_gnu, gnu) && !eval(linux_gnu, musl) && !eval(linux_gnu, mac));
    assert!(eval("unix", mac) && !eval("unix", win) && eval("not(unix)", win));
    assert!(eval(r#"any(target_os = "macos", windows)"#, win));
    assert!(eval("test", win));
    let code = "#[cfg(unix)]\nmod sys {\n    fn a() { libc::x(); }\n    #[cfg(target_os = \"linux\")]\n    let y = libc::y();\n    fn b() { libc::z(); }\n}\nfn c() { libc::w(); }\n";
    let uses = uses_with_cfgs(code, "libc");
    assert_eq!(
        uses,
        vec![
            (3, vec!["unix".to_string()]),
            (
                5,
                vec!["unix".to_string(), "target_os = \"linux\"".to_string()]
            ),
            (6, vec!["unix".to_string()]),
            (8, vec![]),
        ]
    );
}
