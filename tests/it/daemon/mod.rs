//! `imvault serve`: the scheduler, the HTTP API, sign-in, crash recovery and the web console.

mod audit;
mod console_api;
mod console_browser;
mod crash;
mod maintenance;
mod readyz;
mod restore_record;
mod serve;
mod sign_in;
