//! `imvault cat config|snapshot|index|pack|blob ID`: print one repository object (debugging).

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

use super::runtime;
use super::{Exit, load_settings_offline};
use crate::app::repository::{open_indexed, open_repo};
use crate::cli::{CatArgs, CatKind};
use crate::repo::{BlobId, IndexId, Opened, PackId, Repository, SnapshotId};

pub fn run(config: Option<&Path>, args: &CatArgs) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    runtime()?.block_on(async {
        let id = || {
            args.id
                .as_deref()
                .context("this kind of object needs an ID argument")
        };
        match args.kind {
            CatKind::Config => print(&open_repo(&settings.repository).await?.cat_config())?,
            CatKind::Snapshot => {
                let repo = open_repo(&settings.repository).await?;
                let sid = resolve_snapshot(&repo, id()?).await?;
                print(&repo.cat_snapshot(&sid).await?)?;
            }
            CatKind::Index => {
                let repo = open_repo(&settings.repository).await?;
                let iid: IndexId = id()?.parse().context("parsing the index id")?;
                print(&repo.cat_index(&iid).await?)?;
            }
            CatKind::Pack => {
                let repo = open_repo(&settings.repository).await?;
                let pid: PackId = id()?.parse().context("parsing the pack id")?;
                print(&repo.cat_pack(&pid).await?)?;
            }
            CatKind::Blob => {
                let repo = open_indexed(&settings.repository).await?;
                let bid: BlobId = id()?.parse().context("parsing the blob id")?;
                // A blob is decrypted content: reading it is recorded.
                let audit = super::start_audit(
                    &settings,
                    &repo,
                    crate::audit::Action::Cat {
                        object: format!("blob {bid}"),
                    },
                )
                .await?;
                let r = repo.cat_blob(&bid).await.map_err(anyhow::Error::from);
                let (_loc, bytes) =
                    super::finish_audit(Some(audit), r, |(_, b)| crate::audit::Figures {
                        bytes: Some(b.len() as u64),
                        ..Default::default()
                    })
                    .await?;
                std::io::stdout()
                    .write_all(&bytes)
                    .context("writing to stdout")?;
            }
        }
        Ok(Exit::Success)
    })
}

/// A full snapshot id, or a prefix that names exactly one snapshot.
pub async fn resolve_snapshot(repo: &Repository<Opened>, text: &str) -> anyhow::Result<SnapshotId> {
    if let Ok(id) = text.parse::<SnapshotId>() {
        return Ok(id);
    }
    let snaps = repo.list_snapshots(None).await?;
    let matches: Vec<SnapshotId> = snaps
        .iter()
        .map(|s| s.id)
        .filter(|id| id.to_hex().starts_with(&text.to_lowercase()))
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => anyhow::bail!("no snapshot id starts with {text:?}"),
        many => anyhow::bail!(
            "{} snapshots start with {text:?}; give more of the id",
            many.len()
        ),
    }
}

fn print<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
