//! The repository layer: backends, round trips, crash safety, the maintenance lock, properties,
//! prune, verify and the modes of the files it creates.

mod audit;
mod backend;
mod crash;
mod encryption;
mod keys;
mod maint_lock;
mod object_lock;
mod private_files;
mod props;
mod prune;
mod roundtrip;
mod s3_native;
mod verify;
