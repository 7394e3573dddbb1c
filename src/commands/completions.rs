//! `imvault completions SHELL` and `imvault manpage [--dir DIR]`: the shell completion script
//! and the manual pages, generated from the command-line definition itself (so they never
//! drift from it).

use anyhow::Context as _;
use clap::CommandFactory as _;

use super::Exit;
use crate::cli::{Cli, CompletionsArgs, ManpageArgs};

pub fn completions(args: &CompletionsArgs) -> anyhow::Result<Exit> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "imvault", &mut out);
    super::write_stdout(&out)
}

pub fn manpage(args: &ManpageArgs) -> anyhow::Result<Exit> {
    let cmd = Cli::command();
    if let Some(dir) = &args.dir {
        let existed = dir.is_dir();
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        clap_mangen::generate_to(cmd, dir)
            .with_context(|| format!("writing the manual pages into {}", dir.display()))?;
        readable_by_all(dir, existed)
            .with_context(|| format!("making the manual pages in {} readable", dir.display()))?;
        return Ok(Exit::Success);
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .context("rendering the manual page")?;
    super::write_stdout(&out)
}

/// Manual pages are for every user of the host (`man` runs as them), unlike everything else
/// imvault writes (private whatever the umask): its pages 0644, the directory 0755 when this
/// command made it.
fn readable_by_all(dir: &std::path::Path, existed: bool) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if !existed {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        }
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("imvault") && name.ends_with(".1") {
                std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(0o644))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (dir, existed);
    Ok(())
}
