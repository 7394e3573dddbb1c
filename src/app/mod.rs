//! What the command line ([`crate::commands`]) and the daemon ([`crate::daemon`], [`crate::api`])
//! share: resolved [`Settings`](crate::config::Settings) turned into the live objects the
//! engines work with — the repository, the catalog, the signed-in iManage client, the local
//! state directory and its locks, and each engine's environment.
//!
//! Nothing here presents anything or parses arguments: errors are [`AppError`]s that name what
//! was being done and on which object; the binary edge adds its own context and prints them.

pub mod audit;
pub mod cli_job;
pub mod client;
pub mod env;
mod error;
pub mod export_target;
pub mod progress;
pub mod repository;
pub mod state;

pub use error::AppError;
