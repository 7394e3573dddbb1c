//! The backup job against the simulator: full and incremental runs, change detection, healing
//! of lost data, storage outages, resume after a kill, the cost of a nightly, the requests a
//! backup may send (no DELETE, no overwrite) and the walk.

mod basics;
mod changes;
mod heal;
mod nightly_cost;
mod no_delete;
mod outage;
mod resume;
mod walk;
