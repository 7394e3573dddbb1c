//! An async-friendly handle: one [`Catalog`] behind a mutex, every call run on tokio's
//! blocking pool so SQLite never blocks the async threads.

use std::sync::{Arc, Mutex};

use super::Catalog;
use super::error::CatalogError;

/// A cloneable handle to one catalog connection, for the daemon and the jobs.
#[derive(Clone, Debug)]
pub struct SharedCatalog {
    inner: Arc<Mutex<Catalog>>,
}

impl SharedCatalog {
    pub fn new(catalog: Catalog) -> Self {
        Self {
            inner: Arc::new(Mutex::new(catalog)),
        }
    }

    /// Run `f` with exclusive access to the catalog on the blocking pool. `action` names the
    /// work for the error raised if the worker panics.
    pub async fn run<R, F>(&self, action: &str, f: F) -> Result<R, CatalogError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Catalog) -> Result<R, CatalogError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // A panic in an earlier call poisons the mutex, but any open SQLite transaction
            // was rolled back when it unwound, so the catalog itself is consistent.
            let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|source| CatalogError::Worker {
            action: action.to_string(),
            source,
        })?
    }
}
