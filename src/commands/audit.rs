//! `imvault audit [--since T] [--until T] [--action A] [--actor U] [--json | --csv]`: the audit
//! trail of the repository, one line per action (its `started` and `finished` records joined).

use std::path::Path;

use anyhow::Context as _;

use super::runtime;
use super::{Exit, load_settings_offline};
use crate::app::repository::open_repo;
use crate::audit::{EntryOutcome, Filter};
use crate::cli::AuditArgs;

/// The filter the flags describe (times parsed as `restore --at` parses them).
pub fn filter_from_args(a: &AuditArgs) -> anyhow::Result<Filter> {
    let time = |v: &Option<String>, flag: &str| {
        v.as_deref()
            .map(crate::restore::when::parse_time)
            .transpose()
            .with_context(|| format!("reading {flag}"))
    };
    Ok(Filter {
        since: time(&a.since, "--since")?,
        until: time(&a.until, "--until")?,
        action: a
            .action
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("reading --action")?,
        actor: a.actor.clone(),
    })
}

pub fn run(config: Option<&Path>, args: &AuditArgs) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    let filter = filter_from_args(args)?;
    runtime()?.block_on(async {
        let repo = open_repo(&settings.repository).await?;
        let entries = crate::audit::query::list(repo.objects(), &filter)
            .await
            .with_context(|| format!("reading the audit trail of {}", settings.repository.url))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&entries)?);
        } else if args.csv {
            print!("{}", crate::audit::query::to_csv(&entries));
        } else {
            println!(
                "{:<20} {:<16} {:<14} {:<8} DETAILS",
                "STARTED (UTC)", "ACTOR", "ACTION", "OUTCOME"
            );
            for e in &entries {
                let outcome = match e.outcome {
                    EntryOutcome::Ok => "ok",
                    EntryOutcome::Failed => "FAILED",
                    EntryOutcome::Unknown => "unknown",
                };
                let mut details = e.parameters.to_string();
                if let Some(m) = &e.message {
                    details.push_str(&format!(" — {m}"));
                }
                println!(
                    "{:<20} {:<16} {:<14} {:<8} {details}",
                    e.time.format("%Y-%m-%d %H:%M:%S"),
                    e.actor.to_string(),
                    e.action.as_str(),
                    outcome
                );
            }
            println!("{} actions", entries.len());
        }
        Ok(Exit::Success)
    })
}
