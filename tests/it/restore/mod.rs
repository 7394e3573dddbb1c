//! Restores: export to a directory, batching, browsing a point in time, and writing back into
//! iManage.

mod batches;
mod browse;
mod export;
mod into_imanage;
