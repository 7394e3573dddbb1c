//! `imvault init`: create the repository; never touches an existing one.

use std::path::Path;

use anyhow::Context as _;

use super::runtime;
use super::{Exit, load_settings_offline};
use crate::app::repository::{credential, init_options, open_store_creating};
use crate::repo::Repository;

pub fn run(config: Option<&Path>, insecure_no_encryption: bool) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    let r = &settings.repository;
    runtime()?.block_on(async {
        crate::app::repository::check_object_lock(r).await?;
        let store = open_store_creating(r)?;
        let mut opts = init_options(r);
        opts.insecure_no_encryption = insecure_no_encryption;
        let credential = if insecure_no_encryption {
            if r.password.is_some() {
                anyhow::bail!(
                    "creating repository {}: --insecure-no-encryption, but a repository password is configured: remove the password (or leave out the option to encrypt the repository)",
                    r.url
                );
            }
            None
        } else {
            credential(r)?
        };
        if !insecure_no_encryption && credential.is_none() {
            anyhow::bail!(
                "creating repository {}: a password is needed to encrypt it: set [repository] password_file (or password) in the configuration, or IMVAULT_PASSWORD; or create an unencrypted repository with `imvault init --insecure-no-encryption`",
                r.url
            );
        }
        let repo = Repository::init(store, opts, credential.as_ref())
            .await
            .with_context(|| format!("creating repository {}", r.url))?;
        // There is no trail before the repository exists: its creation is the first action
        // recorded in it, once done.
        let audit = super::start_audit(
            &settings,
            &repo,
            crate::audit::Action::Init {
                url: r.url.to_string(),
                encrypted: repo.is_encrypted(),
            },
        )
        .await
        .with_context(|| format!("repository {} was created, but", r.url))?;
        super::finish_audit(Some(audit), Ok(()), |_| Default::default()).await?;
        let c = repo.config();
        println!(
            "created repository {} (format {}, id {}, {})",
            r.url,
            c.format_version,
            c.id,
            if repo.is_encrypted() {
                "encrypted: AES-256-GCM, keep the password safe: without it nothing can be restored"
            } else {
                "NOT ENCRYPTED: anyone who can read the storage can read every document"
            }
        );
        Ok(Exit::Success)
    })
}
