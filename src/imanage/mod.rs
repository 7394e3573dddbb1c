//! Everything that speaks the iManage Work API: sign-in, the HTTP client, typed models and the
//! library walker. Nothing here knows about the repository.
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

pub mod api_read;
pub mod api_write;
mod auth;
pub mod client;
pub mod error;
pub mod inventory;
pub mod limiter;
pub mod model;
pub mod paging;
pub mod retry;
pub mod settings;
pub mod stats;
pub mod walk;
mod window;

pub use client::Client;
pub use error::{ImanageError, RetryClass, SignInFailure};
pub use paging::{CrawlKind, Listing, PageState};
pub use settings::ClientSettings;
pub use stats::ClientStats;
