//! Where a restore may write. Every export (the command line's too): never into or above a
//! local repository, the catalog or the directories imvault keeps in its state directory
//! (`locks/`, `digests/`, `cache/`, `tmp/`). Requested through the API, also nowhere in (or
//! above) the state directory as a whole, and under `[api] restore_root` when one is set.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use crate::config::Settings;

/// The state directory's own subdirectories (see [`super::state`]).
const STATE_SUBDIRS: [&str; 4] = ["locks", "digests", "cache", "tmp"];

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
    let state = super::state::state_dir(settings);
    apart_from(
        to,
        own_places(settings, vec![("the state directory", state)]),
    )?;
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
/// inside nor holds a local repository, the catalog or the state directory's own
/// subdirectories, links resolved: an export there would put plaintext documents among the
/// repository's objects (which listings then skip and verify reports) or files among
/// imvault's state. Elsewhere in the state directory is allowed (a trial setup keeps
/// everything in one directory).
pub fn outside_own_directories(settings: &Settings, to: &Path) -> Result<(), String> {
    let state = super::state::state_dir(settings);
    let subdirs = STATE_SUBDIRS
        .iter()
        .map(|d| ("the state directory", state.join(d)))
        .collect();
    apart_from(to, own_places(settings, subdirs))
}

/// `places` with the catalog and a local repository.
fn own_places(
    settings: &Settings,
    mut places: Vec<(&'static str, PathBuf)>,
) -> Vec<(&'static str, PathBuf)> {
    places.push(("the catalog", settings.catalog_path.clone()));
    if settings.repository.url.scheme() == "file"
        && let Ok(dir) = settings.repository.url.to_file_path()
    {
        places.push(("the repository", dir));
    }
    places
}

/// Refuses `to` when it lies inside or holds one of `places`.
fn apart_from(to: &Path, places: Vec<(&'static str, PathBuf)>) -> Result<(), String> {
    let target = resolved(&std::path::absolute(to).unwrap_or_else(|_| to.to_path_buf()));
    for (what, path) in places {
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
            d.join("not-yet/../state/tmp/x"),
        ] {
            let e = outside_own_directories(&s, &bad).unwrap_err();
            assert!(e.contains("would hold or be inside"), "{e}");
        }
        assert!(outside_own_directories(&s, &d.join("exports/../elsewhere")).is_ok());
        assert!(outside_own_directories(&s, Path::new("relative/x")).is_ok());
        // Elsewhere in the state directory (a trial keeps everything in one place), not in
        // (or above) its own subdirectories or the catalog.
        assert!(outside_own_directories(&s, &d.join("state/restored")).is_ok());
        for bad in [
            d.join("state/tmp/x"),
            d.join("state/locks"),
            d.join("state"),
        ] {
            assert!(
                outside_own_directories(&s, &bad).is_err(),
                "{}",
                bad.display()
            );
        }
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
