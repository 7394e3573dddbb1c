//! One integration-test binary (one link step): each module is one area of imvault.
//! Add `mod <area>;` here for each new tests/it/<area>.rs.
mod backup;
mod backup_resume;
mod catalog;
mod cli;
mod client;
mod daemon;
mod daemon_crash;
mod prune;
mod repo_backend;
mod repo_crash;
mod repo_props;
mod repo_roundtrip;
mod repo_support;
mod restore;
mod restore_batches;
mod restore_browse;
mod restore_imanage;
mod restore_support;
mod sim;
mod support_daemon;
mod support_env;
mod support_imanage;
mod support_maint;
mod support_s3;
mod verify;
mod walk;
