//! `imvault config show|check`.

use std::path::Path;

use crate::cli::{ConfigCommand, JsonFlag};

use super::{Exit, load_settings};

pub fn run(config: Option<&Path>, command: &ConfigCommand) -> anyhow::Result<Exit> {
    let settings = load_settings(config)?;
    match command {
        ConfigCommand::Check => {
            eprintln!(
                "configuration {} is valid",
                super::config_path(config).display()
            );
        }
        ConfigCommand::Show(JsonFlag { json }) => {
            let value = settings.redacted_json();
            if *json {
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!("{}", toml::to_string_pretty(&value)?);
            }
        }
    }
    Ok(Exit::Success)
}
