//! Log setup: human-readable lines on a terminal, JSON lines for the daemon and journald.
//! Logs go to stderr so that `--json` output on stdout stays machine-readable.

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (default on a terminal).
    #[default]
    Text,
    /// One JSON object per line (for the daemon and journald).
    Json,
}

/// Environment variable with a tracing filter (`info`, `imvault=debug,reqwest=warn`, ...).
pub const LOG_ENV: &str = "IMVAULT_LOG";

/// Installs the global subscriber. `level` is the default filter when `IMVAULT_LOG` is unset.
/// Returns an error text if the filter does not parse (the caller reports it).
pub fn init(format: LogFormat, level: &str) -> Result<(), String> {
    let filter = match std::env::var(LOG_ENV) {
        Ok(v) if !v.is_empty() => EnvFilter::try_new(&v)
            .map_err(|e| format!("{LOG_ENV}={v:?} is not a valid log filter: {e}"))?,
        _ => EnvFilter::try_new(level)
            .map_err(|e| format!("log level {level:?} is not a valid filter: {e}"))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_span_events(FmtSpan::NONE)
            .try_init(),
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))
}
