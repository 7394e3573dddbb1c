//! `imvault repair index`: write index objects for packs that no index names, from the pack
//! headers (after index objects were lost). Additive: nothing is deleted or overwritten.

use std::path::Path;

use super::runtime;
use super::{Exit, load_settings_offline};
use crate::app::repository::open_indexed;
use crate::cli::RepairCommand;

pub fn run(config: Option<&Path>, command: &RepairCommand) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    match command {
        RepairCommand::Index => runtime()?.block_on(async {
            let repo = open_indexed(&settings.repository).await?;
            let audit =
                super::start_audit(&settings, &repo, crate::audit::Action::RepairIndex {}).await?;
            let r = repo.rebuild_index().await.map_err(|e| {
                anyhow::Error::new(e).context(format!(
                    "rebuilding the index of {}",
                    settings.repository.url
                ))
            });
            let r = super::finish_audit(Some(audit), r, |_| Default::default()).await?;
            println!(
                "{} packs scanned, {} packs with {} blobs added to the index{}",
                r.packs_scanned,
                r.packs_added,
                r.blobs_added,
                r.index.map(|i| format!(" (index/{i})")).unwrap_or_default()
            );
            Ok(Exit::Success)
        }),
    }
}
