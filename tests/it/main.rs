//! One integration-test binary (one link step): each module is one area of imvault.
//! Add `mod <area>;` here for each new tests/it/<area>.rs.
mod sim;
