//! The repository layer: backends, round trips, crash safety, properties, prune, verify and the
//! modes of the files it creates.

mod backend;
mod crash;
mod encryption;
mod keys;
mod private_files;
mod props;
mod prune;
mod roundtrip;
mod verify;
