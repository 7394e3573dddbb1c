//! Raw command-line arguments (clap types only). Resolution into settings lives in `config`.
