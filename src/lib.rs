//! imvault: a backup data mover for iManage Work document libraries.
//!
//! Module edges are kept as if they were crates:
//! - [`imanage`]: everything that speaks the iManage Work API (auth, client, models, walker).
//! - [`sim`]: client settings for the simulator of that API (the `imvault-sim` crate, which tests,
//!   benchmarks and the demo run against; it never uses imvault's types).
//! - [`repo`]: the content-addressed repository (packs, index, snapshots) over object storage.
//! - [`catalog`]: the local SQLite catalog, a rebuildable cache of the repository.
//! - [`jobs`]: backup and restore engines; they join `imanage` and `repo` through traits.
//! - [`config`]: resolved, validated settings; [`cli`]: raw command-line arguments.
//!
//! `imanage` and `repo` never import each other.

pub mod allocator;
pub mod api;
pub mod app;
pub mod audit;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
/// The fuzz targets: run by the lib's tests and, with the `fuzzing` feature, by the
/// coverage-guided AFL++ harness in `fuzz/afl/` (not an API).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzz;
pub mod imanage;
pub mod jobs;
pub mod logging;
pub mod page_cache;
pub mod private_fs;
pub mod repo;
pub mod restore;
pub mod secret;
pub mod sim;
pub mod sorted_runs;

/// The lib's unit tests count allocations (the fuzz targets must not allocate without bound).
#[cfg(test)]
#[global_allocator]
static ALLOC: fuzz::TrackingAlloc = fuzz::TrackingAlloc;
