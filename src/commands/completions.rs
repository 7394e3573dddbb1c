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
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        clap_mangen::generate_to(cmd, dir)
            .with_context(|| format!("writing the manual pages into {}", dir.display()))?;
        return Ok(Exit::Success);
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .context("rendering the manual page")?;
    super::write_stdout(&out)
}
