//! The imvault client against the simulator (the `imvault-sim` crate) in one of its modes. The
//! tests that need only the simulator are in crates/imvault-sim/tests/http.

mod divisor;
