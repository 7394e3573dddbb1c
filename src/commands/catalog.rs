//! `imvault catalog sync|rebuild`: bring the local catalog up to date with the repository, or
//! recreate it from the repository alone.

use std::path::Path;

use super::runtime;
use super::{Exit, load_settings_offline};
use crate::app::repository::open_indexed;
use crate::cli::CatalogCommand;
use crate::jobs::catalog_sync;

pub fn run(config: Option<&Path>, command: &CatalogCommand) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    runtime()?.block_on(async {
        let repo = open_indexed(&settings.repository).await?;
        let path = &settings.catalog_path;
        let report = match command {
            CatalogCommand::Sync => catalog_sync::sync_all(&repo, path).await,
            CatalogCommand::Rebuild => catalog_sync::rebuild(&repo, path).await,
        }
        .map_err(|e| {
            anyhow::Error::new(e).context(format!("updating the catalog {}", path.display()))
        })?;
        println!(
            "catalog {}: {} snapshots loaded, {} already present{}{}",
            path.display(),
            report.loaded,
            report.already,
            if report.rebuilt {
                " (rebuilt from the repository)"
            } else {
                ""
            },
            match report.out_of_step {
                0 => String::new(),
                1 => "; 1 stream loaded in full, too far out of step with its parent's".into(),
                n => format!(
                    "; {n} streams loaded in full, too far out of step with their parent's"
                ),
            }
        );
        Ok(Exit::Success)
    })
}
