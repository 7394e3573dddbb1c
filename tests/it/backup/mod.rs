//! The backup job against the simulator: full and incremental runs, change detection, healing
//! of lost data, storage outages, resume after a kill, the cost of a nightly and the walk.

mod basics;
mod changes;
mod heal;
mod nightly_cost;
mod outage;
mod resume;
mod walk;
