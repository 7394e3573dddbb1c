//! One integration-test binary (one link step): each module is one area of imvault.
//! Add `mod <area>;` here for each new tests/it/<area>.rs.
mod client;
mod sim;
mod support_imanage;
mod walk;
