//! Everything that speaks the iManage Work API: sign-in, the HTTP client, typed models and the
//! library walker. Nothing here knows about the repository.
//!
//! - [`Client::connect`] signs in (password grant, once: credential failures are never retried),
//!   runs discovery and lists the libraries. Tokens are renewed before expiry and once after a
//!   401; [`Client::revoke`] signs out, after which every call fails with `SignedOut`.
//! - Every call goes through one retry loop that reads only [`ImanageError::retry`]: 429 waits
//!   out `Retry-After` and narrows the rate and the concurrency window (AIMD, never above the
//!   settings); 502/503/504 and connection errors back off with jitter, bounded by
//!   `max_retries`; 400/403/404 fail at once.
//! - [`Client::download`] streams content, checked against the profile's `size`; a truncated
//!   body is an `Err` item with retry class `Backoff`: the caller discards the partial bytes and
//!   calls `download` again.
//! - [`walk::walk`] yields every container, version, filing and ACL of a library as a bounded
//!   stream; [`inventory::check`] counts them for `imvault check`.
//!
//! ```no_run
//! # async fn demo(settings: imvault::imanage::ClientSettings) -> Result<(), imvault::imanage::ImanageError> {
//! use futures::StreamExt;
//! use imvault::imanage::{Client, walk::{walk, WalkOptions, WalkStrategy}};
//! let client = Client::connect(settings).await?;
//! for lib in client.libraries() {
//!     let mut items = std::pin::pin!(walk(&client, &lib.id, WalkStrategy::Auto, WalkOptions::default()));
//!     while let Some(item) = items.next().await {
//!         println!("{:?}", item?);
//!     }
//! }
//! client.revoke().await?;
//! # Ok(()) }
//! ```

pub mod account;
pub mod api_read;
pub mod api_write;
mod auth;
pub mod client;
pub mod error;
pub mod ids;
pub mod inventory;
pub mod limiter;
pub mod model;
pub(crate) mod openapi;
pub mod paging;
pub mod profiles;
pub mod retry;
pub mod security;
pub mod settings;
pub mod stats;
pub mod walk;
mod window;

pub use client::Client;
pub use error::{ImanageError, RetryClass, SignInFailure};
pub use paging::{CrawlKind, Listing, PageState};
pub use settings::ClientSettings;
pub use stats::ClientStats;
