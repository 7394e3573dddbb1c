//! Catalog tests: loading, as-of queries, find, history, restore planning, rebuild, schema,
//! job queue and a scale figure.

mod find_plans;
mod fixture;
mod jobs;
mod load;
mod model;
mod queries;
mod rebuild;
mod scale;
