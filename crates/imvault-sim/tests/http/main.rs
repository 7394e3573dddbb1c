//! HTTP-level tests of the simulator: plain reqwest against `Server::start`, checking what each
//! call answers against the contract. They need nothing of imvault (the tests of the imvault
//! client against the simulator are in the root package's tests/it).

mod auth;
mod contract;
mod divisor;
mod faults;
mod reads;
mod support;
mod writes;

use std::collections::{BTreeSet, HashMap};

use imvault_sim::{MutateRequest, Scale, SimOptions, VersionId, content, credentials};
use serde_json::{Value, json};

use support::*;
