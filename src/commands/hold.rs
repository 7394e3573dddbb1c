//! `imvault hold add|list|release`: legal holds (docs/FORMAT.md §19).
//!
//! A hold is written into the repository (`holds/<h>`, create-only: the backup role needs no
//! DELETE) and recorded in the audit trail before it is placed or released. A document or
//! workspace hold must name something a snapshot holds; a client/matter hold may anticipate a
//! matter not yet backed up (it covers its documents as soon as a backup sees them).

use std::path::Path;

use anyhow::Context as _;

use super::{Exit, load_settings_offline, runtime};
use crate::app::repository::open_indexed;
use crate::app::state::open_catalog;
use crate::catalog::Catalog;
use crate::cli::{HoldAddArgs, HoldCommand, HoldReleaseArgs};
use crate::config::Settings;
use crate::imanage::model::{ContainerId, DocumentId};
use crate::jobs::catalog_sync;
use crate::repo::holds::{self, Hold, HoldScope};
use crate::repo::{Indexed, Repository};

pub fn run(config: Option<&Path>, command: &HoldCommand) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    runtime()?.block_on(async {
        let repo = open_indexed(&settings.repository).await?;
        match command {
            HoldCommand::Add(a) => add(&settings, &repo, a).await,
            HoldCommand::List(f) => {
                let all = holds::list(repo.objects()).await?;
                if f.json {
                    println!("{}", serde_json::to_string_pretty(&all)?);
                } else {
                    print_holds(&all);
                }
                Ok(Exit::Success)
            }
            HoldCommand::Release(a) => release(&settings, &repo, a).await,
        }
    })
}

/// Who acts: the operating-system user.
fn actor() -> String {
    crate::audit::Actor::current_user().name().to_string()
}

async fn scope_of(
    settings: &Settings,
    repo: &Repository<Indexed>,
    a: &HoldAddArgs,
) -> anyhow::Result<HoldScope> {
    let libraries = super::repository_libraries(repo).await?;
    if let Some(client) = &a.client {
        let library = match a.library.as_deref() {
            Some(l) => Some(super::known_library(l, libraries)?),
            None => None,
        };
        if client.trim().is_empty() || a.matter.as_deref().is_some_and(|m| m.trim().is_empty()) {
            anyhow::bail!("--client and --matter need a code");
        }
        return Ok(HoldScope::Client {
            client: client.clone(),
            matter: a.matter.clone(),
            library,
        });
    }
    // A document or a workspace: it must be in a snapshot (the catalog knows them all).
    let catalog = || -> anyhow::Result<Catalog> { Ok(open_catalog(settings)?) };
    let sync = async {
        catalog_sync::sync_all(repo, &settings.catalog_path)
            .await
            .context("bringing the catalog up to date with the repository")
    };
    if let Some(d) = &a.document {
        let id: DocumentId = d.parse().context("reading --document")?;
        super::known_library(id.library.as_str(), libraries)?;
        sync.await?;
        let seen = !catalog()?
            .document_versions(&id)
            .with_context(|| format!("looking for document {id} in the catalog"))?
            .is_empty();
        if !seen {
            anyhow::bail!(
                "document {id} is in no snapshot of the repository: there is nothing of it to hold (check the number with `imvault find` or `imvault versions`)"
            );
        }
        return Ok(HoldScope::Document {
            document: id.to_string(),
        });
    }
    let Some(w) = &a.workspace else {
        anyhow::bail!("give --client, --document or --workspace: what the hold covers");
    };
    let id: ContainerId = w.parse().context("reading --workspace")?;
    super::known_library(id.library.as_str(), libraries)?;
    sync.await?;
    let cat = catalog()?;
    let mut seen = false;
    for s in cat.snapshots(Some(&id.library))?.iter().rev() {
        if cat.container_in(&s.row.id, &id)?.is_some() {
            seen = true;
            break;
        }
    }
    if !seen {
        anyhow::bail!(
            "workspace {id} is in no snapshot of the repository: there is nothing of it to hold (see `imvault ls`)"
        );
    }
    Ok(HoldScope::Workspace {
        workspace: id.to_string(),
    })
}

async fn add(
    settings: &Settings,
    repo: &Repository<Indexed>,
    a: &HoldAddArgs,
) -> anyhow::Result<Exit> {
    if a.reason.trim().is_empty() {
        anyhow::bail!("--reason needs a text: why the data is held");
    }
    let scope = scope_of(settings, repo, a).await?;
    let audit = super::start_audit(
        settings,
        repo,
        crate::audit::Action::HoldAdd {
            hold: None,
            scope: scope.to_string(),
            reason: a.reason.clone(),
        },
    )
    .await?;
    let r = holds::place(
        repo.objects(),
        scope,
        &a.reason,
        &actor(),
        chrono::Utc::now(),
    )
    .await
    .context("placing the legal hold");
    let hold = super::finish_audit(Some(audit), r, hold_figures).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&hold)?);
    } else {
        println!(
            "hold {} placed on {} ({})",
            hold.id.short(),
            hold.scope,
            hold.reason
        );
    }
    Ok(Exit::Success)
}

async fn release(
    settings: &Settings,
    repo: &Repository<Indexed>,
    a: &HoldReleaseArgs,
) -> anyhow::Result<Exit> {
    if a.reason.trim().is_empty() {
        anyhow::bail!("--reason needs a text: why the hold is released");
    }
    // An unknown or already released hold is refused before anything is recorded.
    let all = holds::list(repo.objects()).await?;
    let hold = holds::resolve(&all, &a.id)?;
    if let Some(r) = &hold.released {
        anyhow::bail!(
            "legal hold {} was already released on {} ({})",
            hold.id.short(),
            r.time.format("%Y-%m-%d %H:%M:%S"),
            r.reason
        );
    }
    let audit = super::start_audit(
        settings,
        repo,
        crate::audit::Action::HoldRelease {
            hold: hold.id.to_hex(),
            reason: a.reason.clone(),
        },
    )
    .await?;
    let r = holds::release(
        repo.objects(),
        &hold.id.to_hex(),
        &a.reason,
        &actor(),
        chrono::Utc::now(),
    )
    .await
    .context("releasing the legal hold");
    let hold = super::finish_audit(Some(audit), r, hold_figures).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&hold)?);
    } else {
        println!(
            "hold {} on {} released; the next prune frees what only it kept",
            hold.id.short(),
            hold.scope
        );
    }
    Ok(Exit::Success)
}

fn print_holds(all: &[Hold]) {
    if all.is_empty() {
        println!("no legal holds");
        return;
    }
    for h in all {
        let state = match &h.released {
            None => "active".to_string(),
            Some(r) => format!(
                "released {} by {} ({})",
                r.time.format("%Y-%m-%d %H:%M"),
                r.by,
                r.reason
            ),
        };
        println!(
            "{}  {}  {:<40} placed {} by {} ({})  {}",
            h.id.short(),
            if h.is_active() {
                "ACTIVE  "
            } else {
                "released"
            },
            h.scope.to_string(),
            h.placed.format("%Y-%m-%d %H:%M"),
            h.placed_by,
            h.reason,
            state
        );
    }
}

/// What the audit record of a hold placed or released says of it.
fn hold_figures(h: &holds::Hold) -> crate::audit::Figures {
    crate::audit::Figures {
        hold: Some(h.id.to_hex()),
        ..Default::default()
    }
}
