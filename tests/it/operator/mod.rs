//! The operator's first hour (issue 19): every documented step works, every mistake gets a
//! useful answer. These tests run the real `imvault` binary.

mod audit;
mod cli;
mod conventions;
mod docs_shell;
mod examples;
mod first_hour;
mod first_steps;
mod holds;
mod mistakes;
mod seeing;
mod support;
