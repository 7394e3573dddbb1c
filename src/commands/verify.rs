//! `imvault verify [--read-data[=PERCENT]] [--library L] [--json]`.

use std::path::Path;

use super::runtime;
use super::{Exit, load_settings_offline};
use crate::app::cli_job::CliJob;
use crate::app::repository::open_indexed;
use crate::catalog::{JobKind, JobState};
use crate::cli::VerifyArgs;
use crate::config::Settings;
use crate::jobs::maintenance::MaintenanceEnv;
use crate::jobs::verify::{self, VerifyRequest};
use crate::repo::{Indexed, Repository};

/// The environment of a maintenance job run from the command line.
pub fn maintenance_env(
    settings: &Settings,
    repo: Repository<Indexed>,
    json: bool,
) -> MaintenanceEnv {
    crate::app::env::maintenance_env(settings, repo, crate::commands::progress::shown(json))
}

pub fn run(config: Option<&Path>, args: &VerifyArgs) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    runtime()?.block_on(async {
        let repo = open_indexed(&settings.repository).await?;
        super::warn_if_unencrypted(&repo);
        let library = match args.library.as_deref() {
            Some(w) => Some(super::known_library(w, super::repository_libraries(&repo).await?)?),
            None => None,
        };
        let env = maintenance_env(&settings, repo, args.json);
        let req = VerifyRequest {
            read_data_percent: args.read_data,
            library,
        };
        let job = CliJob::start(
            &settings,
            JobKind::Verify,
            serde_json::json!({"read_data_percent": req.read_data_percent, "library": req.library}),
        );
        let r = verify::run(&env, &req).await;
        if let Some(job) = job {
            // As the daemon's: problems found fail the job, and are listed in its result.
            job.finish(match &r {
                Ok(r) if r.is_ok() => Ok((JobState::Completed, serde_json::to_value(r)?)),
                Ok(r) => Err(format!("{} problems found", r.problems.len())),
                Err(e) => Err(crate::repo::error_chain(e)),
            });
        }
        let r = r.map_err(|e| {
            anyhow::Error::new(e).context(format!("verifying {}", settings.repository.url))
        })?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            for p in &r.problems {
                println!("problem: {p}");
            }
            println!(
                "{} snapshots, {} index objects, {} packs ({:.1} MB, {} not indexed), {} blobs referenced",
                r.snapshots,
                r.index_objects,
                r.packs,
                r.pack_bytes as f64 / 1e6,
                r.unindexed_packs,
                r.blobs_referenced
            );
            if r.packs_read > 0 {
                println!(
                    "read {} packs, {} blobs, {:.1} MB in {:.1} s ({:.1} MB/s)",
                    r.packs_read,
                    r.blobs_read,
                    r.bytes_read as f64 / 1e6,
                    r.seconds,
                    r.bytes_read as f64 / 1e6 / r.seconds.max(0.001)
                );
            }
            if r.is_ok() {
                println!("no problems found");
            } else {
                println!("{} problems found", r.problems.len());
            }
        }
        Ok(if r.is_ok() { Exit::Success } else { Exit::Warnings })
    })
}
