//! The harness the test areas share: one module per area (no tests here).

pub mod browser;
pub mod daemon;
pub mod env;
pub mod imanage;
pub mod maint;
pub mod repo;
pub mod restore;
pub mod s3;
pub mod source;
pub mod wait;
