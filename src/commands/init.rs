//! `imvault init`: create the repository; never touches an existing one.

use std::path::Path;

use anyhow::Context as _;

use super::runtime;
use super::{Exit, load_settings_offline};
use crate::app::repository::{init_options, open_store};
use crate::repo::Repository;

pub fn run(config: Option<&Path>) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    let r = &settings.repository;
    runtime()?.block_on(async {
        let store = open_store(r)?;
        let repo = Repository::init(store, init_options(r))
            .await
            .with_context(|| format!("creating repository {}", r.url))?;
        let c = repo.config();
        println!(
            "created repository {} (format {}, id {})",
            r.url, c.format_version, c.id
        );
        Ok(Exit::Success)
    })
}
