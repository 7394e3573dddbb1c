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
                println!("{}", toml::to_string_pretty(&without_nulls(value))?);
            }
        }
    }
    Ok(Exit::Success)
}

/// TOML has no null: unset values are left out of the dump.
fn without_nulls(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.into_iter()
                .filter(|v| !v.is_null())
                .map(without_nulls)
                .collect(),
        ),
        other => other,
    }
}
