//! The code's own structure: layering between top-level modules, and the dependencies each
//! `cfg(target)` needs.

mod layers;
mod target_deps;
