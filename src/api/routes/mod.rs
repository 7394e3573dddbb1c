//! One module per group of routes.

pub mod audit;
pub mod browse;
pub mod dashboard;
pub mod info;
pub mod jobs;
pub mod requests;
