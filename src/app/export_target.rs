//! Where a restore may write: never into (or above) the repository, the catalog or the state
//! directory (every export, the command line's too), and, requested through the API, under
//! `[api] restore_root` when one is set.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use crate::config::Settings;

/// Checks an export directory `to` a daemon job was asked to write; the message names the rule
/// broken and how to fix it.
pub fn check(settings: &Settings, to: &Path) -> Result<(), String> {
    if !to.is_absolute() {
        return Err(format!(
            "{} must be an absolute path on the daemon's host",
            to.display()
        ));
    }
    if to.components().any(|c| c == Component::ParentDir) {
        return Err(format!("{} must not contain '..'", to.display()));
    }
    outside_own_directories(settings, to)?;
    if let Some(root) = &settings.api.restore_root {
        let root = resolved(root);
        if !resolved(to).starts_with(&root) {
            return Err(format!(
                "{} is outside [api] restore_root ({}); exports through the API go below it",
                to.display(),
                root.display()
            ));
        }
    }
    Ok(())
}

/// Checks that an export directory `to` (relative: to the working directory) neither lies
/// inside nor holds the repository (a local one), the catalog or the state directory, links
/// resolved: an export there would put plaintext documents among the repository's objects
/// (which every later listing then refuses) or files among imvault's state.
pub fn outside_own_directories(settings: &Settings, to: &Path) -> Result<(), String> {
    let target = resolved(&std::path::absolute(to).unwrap_or_else(|_| to.to_path_buf()));
    let state = super::state::state_dir(settings);
    let mut protected = vec![
        ("the state directory", state),
        ("the catalog", settings.catalog_path.clone()),
    ];
    if settings.repository.url.scheme() == "file"
        && let Ok(dir) = settings.repository.url.to_file_path()
    {
        protected.push(("the repository", dir));
    }
    for (what, path) in protected {
        let path = resolved(&path);
        if target.starts_with(&path) || path.starts_with(&target) {
            return Err(format!(
                "{} would hold or be inside {what} ({}); choose another directory",
                to.display(),
                path.display()
            ));
        }
    }
    Ok(())
}

/// `path` with its longest existing ancestor's links resolved; the rest does not exist yet, so
/// has no links, and its `..` are taken lexically (`nope/../state` is `state`, as creating it
/// would make it).
fn resolved(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            // `None`: a `..`.
            return rest
                .into_iter()
                .rev()
                .fold(real, |mut p, c: Option<OsString>| {
                    match c {
                        Some(name) => p.push(name),
                        None => {
                            p.pop();
                        }
                    }
                    p
                });
        }
        let last = match existing.components().next_back() {
            Some(Component::Normal(name)) => Some(name.to_os_string()),
            Some(Component::ParentDir) => None,
            _ => return path.to_path_buf(),
        };
        match existing.parent() {
            Some(parent) => {
                rest.push(last);
                existing = parent.to_path_buf();
            }
            None => return path.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path, restore_root: Option<&Path>) -> Settings {
        let mut toml = format!(
            "[repository]\nurl = \"file://{}/repo\"\n\n[catalog]\npath = \"{}/state/catalog.db\"\n",
            dir.display(),
            dir.display()
        );
        if let Some(r) = restore_root {
            toml.push_str(&format!("\n[api]\nrestore_root = \"{}\"\n", r.display()));
        }
        Settings::from_toml(&toml, &dir.join("imvault.toml"), &Default::default()).unwrap()
    }

    #[cfg(unix)]
    /// Issue 18: an API export may not write into or above the repository, the catalog or the
    /// state directory (links resolved), and stays under `restore_root` when one is set.
    #[test]
    fn exports_stay_out_of_imvaults_own_directories_and_under_restore_root() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(d.join("repo")).unwrap();
        std::fs::create_dir_all(d.join("state")).unwrap();
        std::fs::create_dir_all(d.join("exports")).unwrap();
        std::os::unix::fs::symlink(d.join("repo"), d.join("exports/sneaky")).unwrap();
        let s = settings(&d, None);
        for bad in [
            d.join("repo"),
            d.join("repo/packs/new"),
            d.join("state/x"),
            d.clone(),
            d.join("exports/sneaky/r1"),
            PathBuf::from("relative/x"),
            d.join("exports/../repo"),
        ] {
            let e = check(&s, &bad).unwrap_err();
            assert!(!e.is_empty(), "{}", bad.display());
        }
        assert!(check(&s, &d.join("exports/r1")).is_ok());
        assert!(check(&s, &d.join("elsewhere/r1")).is_ok());
        // The command line's exports: relative paths and '..' allowed, imvault's own
        // directories not.
        for bad in [
            d.join("repo/snapshots/x"),
            d.join("exports/../state/digests/x"),
            d.join("not-yet/../state/x"),
        ] {
            let e = outside_own_directories(&s, &bad).unwrap_err();
            assert!(e.contains("would hold or be inside"), "{e}");
        }
        assert!(outside_own_directories(&s, &d.join("exports/../elsewhere")).is_ok());
        assert!(outside_own_directories(&s, Path::new("relative/x")).is_ok());
        let s = settings(&d, Some(&d.join("exports")));
        assert!(check(&s, &d.join("exports/r1")).is_ok());
        let e = check(&s, &d.join("elsewhere/r1")).unwrap_err();
        assert!(e.contains("restore_root"), "{e}");
        let e = Settings::from_toml(
            "[repository]\nurl = \"memory://\"\n[api]\nrestore_root = \"exports\"\n",
            &d.join("imvault.toml"),
            &Default::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("api.restore_root"), "{e}");
    }
}
