//! One integration-test binary (one link step), grouped by feature: each folder is one area of
//! imvault, and `support/` holds the harness the areas share (one module per area).
//! A new test file goes into its area's folder and is named in that folder's `mod.rs`.
mod architecture;
mod backup;
mod catalog;
mod client;
mod daemon;
mod operator;
mod recovery;
mod repository;
mod restore;
mod sim;
mod support;
