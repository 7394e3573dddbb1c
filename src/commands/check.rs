//! `imvault check`: sign in, list the libraries, and count what each holds (no download).

use std::path::Path;

use super::runtime;
use super::{Exit, load_settings};
use crate::app::client::{connect, select_libraries};
use crate::cli::CheckArgs;
use crate::imanage::inventory;

pub fn run(config: Option<&Path>, args: &CheckArgs) -> anyhow::Result<Exit> {
    let settings = load_settings(config)?;
    runtime()?.block_on(async {
        let client = connect(&settings).await?;
        let libraries = select_libraries(&client, &settings, &args.library)?;
        let report = inventory::check(&client, &libraries, args.strategy.into()).await?;
        let _ = client.revoke().await;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!("{report}");
        }
        Ok(if report.is_clean() {
            Exit::Success
        } else {
            Exit::Warnings
        })
    })
}
