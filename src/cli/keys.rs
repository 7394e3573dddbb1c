//! `imvault key`: the repository's key slots.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::JsonFlag;

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List the key slots (the one that opened the repository is marked)
    List(JsonFlag),
    /// Add a password slot (or a key-file slot with --new-key-file); every snapshot stays readable
    Add(KeyAddArgs),
    /// Remove a key slot (not the last one, nor the one used to open the repository)
    Remove(KeyRemoveArgs),
    /// Change the password (or key file) that opened the repository: adds the new slot, then removes the old one
    Passwd(KeyAddArgs),
}

#[derive(Debug, Clone, Args)]
pub struct KeyAddArgs {
    /// Read the new password from this file (else IMVAULT_NEW_PASSWORD, else a terminal prompt)
    #[arg(long, value_name = "FILE", conflicts_with = "new_key_file")]
    pub new_password_file: Option<PathBuf>,
    /// Write a new random key file here (0600; it must not exist) and use it instead of a password, e.g. for systemd's LoadCredential=
    #[arg(long, value_name = "FILE")]
    pub new_key_file: Option<PathBuf>,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct KeyRemoveArgs {
    /// The slot's id (a unique prefix is enough; see `imvault key list`)
    pub id: String,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}
