//! `imvault key list|add|remove|passwd`: the key slots that open an encrypted repository.
//!
//! The repository is opened with the configured password or key file; a new password comes
//! from `--new-password-file`, `IMVAULT_NEW_PASSWORD` or a terminal prompt (asked twice), never
//! from the command line. Every change keeps the master key, so every snapshot stays readable.

use std::io::IsTerminal as _;
use std::path::Path;

use anyhow::Context as _;

use super::runtime;
use super::{Exit, load_settings_offline};
use crate::app::repository::open_repo;
use crate::cli::KeyCommand;
use crate::repo::{Credential, KdfParams, SlotInfo};
use crate::secret::{Secret, SecretBytes};

/// The environment variable a new password may come from.
pub const NEW_PASSWORD_ENV: &str = "IMVAULT_NEW_PASSWORD";

pub fn run(config: Option<&Path>, command: &KeyCommand) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    let settings = &settings;
    let r = settings.repository.clone();
    // The new secret is read before the repository is opened (no half-done change on a typo).
    let new = match command {
        KeyCommand::Add(a) => Some(new_credential(
            a.new_password_file.as_deref(),
            a.new_key_file.as_deref(),
        )?),
        KeyCommand::Passwd(a) => Some(new_credential(
            a.new_password_file.as_deref(),
            a.new_key_file.as_deref(),
        )?),
        _ => None,
    };
    runtime()?.block_on(async move {
        let mut repo = open_repo(&r).await?;
        if !repo.is_encrypted() {
            anyhow::bail!(
                "repository {} is not encrypted: it has no key slots (create an encrypted repository with `imvault init`)",
                r.url
            );
        }
        match command {
            KeyCommand::List(f) => {
                let slots = repo.key_slots().await.context("listing key slots")?;
                if f.json {
                    println!("{}", serde_json::to_string_pretty(&slots)?);
                } else {
                    print_slots(&slots);
                }
            }
            KeyCommand::Add(a) => {
                let new = new.context("the new password was read above")?;
                let audit = super::start_audit(
                    settings,
                    &repo,
                    crate::audit::Action::KeyAdd {
                        kind: new.credential.kind(),
                    },
                )
                .await?;
                let r = repo
                    .add_key_slot(&new.credential, &KdfParams::default())
                    .await
                    .context("adding a key slot");
                let id = super::finish_audit(Some(audit), r, |_| Default::default()).await?;
                report(a.json, "added", &id, &new)?;
            }
            KeyCommand::Remove(a) => {
                let audit = super::start_audit(
                    settings,
                    &repo,
                    crate::audit::Action::KeyRemove { slot: a.id.clone() },
                )
                .await?;
                let r = repo
                    .remove_key_slot(&a.id)
                    .await
                    .with_context(|| format!("removing key slot {}", a.id));
                let s = super::finish_audit(Some(audit), r, |_| Default::default()).await?;
                if a.json {
                    println!("{}", serde_json::json!({ "removed": s.id }));
                } else {
                    println!("removed key slot {}", short(&s.id));
                }
            }
            KeyCommand::Passwd(a) => {
                let new = new.context("the new password was read above")?;
                let audit = super::start_audit(
                    settings,
                    &repo,
                    crate::audit::Action::KeyPasswd {
                        kind: new.credential.kind(),
                    },
                )
                .await?;
                let r = repo
                    .change_key(&new.credential, &KdfParams::default())
                    .await
                    .context("changing the key slot");
                let id = super::finish_audit(Some(audit), r, |_| Default::default()).await?;
                report(
                    a.json,
                    "replaced the key slot that opened the repository by",
                    &id,
                    &new,
                )?;
            }
        }
        Ok(Exit::Success)
    })
}

fn short(id: &str) -> &str {
    &id[..8.min(id.len())]
}

struct NewCredential {
    credential: Credential,
    /// The key file written for it, if any.
    key_file: Option<std::path::PathBuf>,
}

fn report(json: bool, verb: &str, id: &str, new: &NewCredential) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "slot": id,
                "kind": new.credential.kind(),
                "key_file": new.key_file,
            })
        );
    } else {
        println!("{verb} key slot {} ({})", short(id), new.credential.what());
        if let Some(f) = &new.key_file {
            println!(
                "key file written to {} (0600): keep a copy in a safe place; use it with [repository] key_file",
                f.display()
            );
        }
    }
    Ok(())
}

/// The new password or key file, from the flag, the environment or the terminal.
fn new_credential(
    password_file: Option<&Path>,
    key_file: Option<&Path>,
) -> anyhow::Result<NewCredential> {
    if let Some(f) = key_file {
        let key = crate::repo::crypto::random::<32>()?;
        let text = format!("{}\n", hex::encode(key));
        use std::io::Write as _;
        let mut file = crate::private_fs::options()
            .write(true)
            .create_new(true)
            .open(f)
            .with_context(|| {
                format!("creating the key file {} (it must not exist)", f.display())
            })?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing the key file {}", f.display()))?;
        return Ok(NewCredential {
            credential: Credential::KeyFile(SecretBytes::new(text.trim_end().as_bytes().to_vec())),
            key_file: Some(f.to_path_buf()),
        });
    }
    let password = if let Some(f) = password_file {
        let text = crate::config::secret_file::read(f, false)
            .map_err(|e| anyhow::anyhow!("reading the new password: {}", e.describe(f)))?;
        text.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(v) = std::env::var(NEW_PASSWORD_ENV)
        .ok()
        .filter(|v| !v.is_empty())
    {
        v
    } else if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("new repository password: ")
            .context("reading the new password from the terminal")?;
        let b = rpassword::prompt_password("the same again: ")
            .context("reading the new password from the terminal")?;
        if a != b {
            anyhow::bail!("the two passwords differ: nothing was changed");
        }
        a
    } else {
        anyhow::bail!(
            "no new password: give --new-password-file FILE or set {NEW_PASSWORD_ENV} (there is no terminal to ask on)"
        );
    };
    if password.is_empty() {
        anyhow::bail!("the new password is empty: nothing was changed");
    }
    Ok(NewCredential {
        credential: Credential::Password(Secret::new(password)),
        key_file: None,
    })
}

fn print_slots(slots: &[SlotInfo]) {
    println!("{:<2}{:<10} {:<9} {:<21} KDF", "", "ID", "KIND", "CREATED");
    for s in slots {
        let kind = s.kind.map(|k| k.what()).unwrap_or("?");
        let created = s
            .created
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let mark = if s.current { "* " } else { "  " };
        let kdf = match &s.problem {
            Some(p) => format!("DAMAGED: {p}"),
            None => s.kdf.clone(),
        };
        println!(
            "{mark}{:<10} {:<9} {:<21} {kdf}",
            short(&s.id),
            kind,
            created
        );
    }
    println!("(* opened this command)");
}
