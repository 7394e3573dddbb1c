//! One module per group of routes.

pub mod info;
pub mod jobs;
pub mod requests;
