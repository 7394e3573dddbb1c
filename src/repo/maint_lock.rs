//! The maintenance lock (`locks/maintenance`, docs/FORMAT.md "Maintenance lock"): one
//! maintainer (prune, forget) at a time across hosts. It is taken with a conditional create
//! (`PutMode::Create`, S3 `If-None-Match: *`), so of two hosts starting at once exactly one
//! wins; the other is refused with the owner (host id, pid), the operation and the lock's age.
//!
//! The holder renews it (a heartbeat every third of its time to live); a lock whose
//! `expires` has passed belongs to a maintainer that died and may be taken over. Removing a
//! live lock is only done on explicit request ([`force_unlock`], `--force-unlock`).
//! The object is sealed like every other one (`ObjectKind::Lock`): a lock someone without the
//! repository key wrote does not open, and is reported, never obeyed or removed silently.
//! Backups do not take it: prune's marks and grace period keep them safe (FORMAT.md, "Prune").

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::repo::backend;
use crate::repo::error::{RepoError, Result};
use crate::repo::objects::{ObjectKind, Objects};

pub const LOCKS: &str = "locks";
/// The version of the lock object layout.
pub const LOCK_VERSION: u32 = 1;
/// How long a lock lives without a heartbeat.
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);
/// Names this host in locks instead of the host name (several "hosts" on one machine in tests,
/// or a stable id on hosts whose names change).
pub const HOST_ID_ENV: &str = "IMVAULT_HOST_ID";

pub fn lock_key() -> Path {
    Path::from_iter([LOCKS, "maintenance"])
}

/// The `locks/maintenance` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    pub version: u32,
    pub host: String,
    pub pid: u32,
    /// Tells this holder from a later one on the same host and pid.
    pub token: String,
    /// What holds it: `prune`, `forget`.
    pub operation: String,
    pub taken: DateTime<Utc>,
    pub heartbeat: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

impl LockRecord {
    /// The stored (sealed) bytes of this record.
    pub async fn seal(&self, objects: &Objects) -> Result<Bytes> {
        let plain = serde_json::to_vec_pretty(self).map_err(|source| RepoError::Encode {
            what: "maintenance lock".into(),
            source,
        })?;
        objects.seal(ObjectKind::Lock, Bytes::from(plain)).await
    }

    /// "prune by host-a (pid 42), taken 3m12s ago, expires 2026-12-04T16:40:00Z".
    pub fn describe(&self, now: DateTime<Utc>) -> String {
        let age = (now - self.taken).num_seconds().max(0);
        format!(
            "{} by {} (pid {}), taken {}m{:02}s ago, last heartbeat {} s ago, expires {}",
            self.operation,
            self.host,
            self.pid,
            age / 60,
            age % 60,
            (now - self.heartbeat).num_seconds().max(0),
            self.expires.format("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}

/// This process: `$IMVAULT_HOST_ID`, else the host name.
pub fn host_id() -> String {
    std::env::var(HOST_ID_ENV)
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(crate::repo::snapshot::default_host)
}

/// Reads the lock, if any.
pub async fn read(objects: &Objects) -> Result<Option<LockRecord>> {
    Ok(read_versioned(objects).await?.map(|(r, _)| r))
}

/// Reads the lock with the version of the stored object (its ETag and version id), so that
/// replacing it can be made conditional on it being the very object read.
async fn read_versioned(objects: &Objects) -> Result<Option<(LockRecord, UpdateVersion)>> {
    let key = lock_key();
    let got = match objects.store().get(&key).await {
        Ok(g) => g,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(backend::get_error(&key, e)),
    };
    let version = UpdateVersion {
        e_tag: got.meta.e_tag.clone(),
        version: got.meta.version.clone(),
    };
    let stored = got.bytes().await.map_err(|e| backend::get_error(&key, e))?;
    let bytes = objects.open(ObjectKind::Lock, &key, stored).await?;
    let rec: LockRecord = serde_json::from_slice(&bytes).map_err(|source| RepoError::Decode {
        key: key.to_string(),
        source,
    })?;
    if rec.version != LOCK_VERSION {
        return Err(RepoError::UnsupportedFormat {
            key: key.to_string(),
            found: rec.version,
            supported: format!("[{LOCK_VERSION}]"),
        });
    }
    Ok(Some((rec, version)))
}

/// How a conditional replacement of the lock went.
enum Replaced {
    Done,
    /// The stored lock is no longer the one read (another maintainer, or its heartbeat).
    Changed,
    /// The store cannot replace conditionally (a local directory).
    Unsupported,
}

/// Replaces the lock by `stored` only if it is still the object of `version` (S3 `If-Match`).
async fn replace_if_unchanged(
    objects: &Objects,
    version: &UpdateVersion,
    stored: Bytes,
) -> Result<Replaced> {
    let key = lock_key();
    if version.e_tag.is_none() {
        return Ok(Replaced::Unsupported);
    }
    match objects
        .store()
        .put_opts(
            &key,
            PutPayload::from(stored),
            PutMode::Update(version.clone()).into(),
        )
        .await
    {
        Ok(_) => Ok(Replaced::Done),
        Err(
            object_store::Error::Precondition { .. }
            | object_store::Error::AlreadyExists { .. }
            | object_store::Error::NotFound { .. },
        ) => Ok(Replaced::Changed),
        Err(object_store::Error::NotImplemented { .. }) => Ok(Replaced::Unsupported),
        Err(source) => Err(RepoError::Put {
            key: key.to_string(),
            source,
        }),
    }
}

async fn remove(objects: &Objects) -> Result<()> {
    let key = lock_key();
    match objects.store().delete(&key).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(source) => Err(RepoError::Put {
            key: format!("{key} (delete)"),
            source,
        }),
    }
}

/// Removes the lock whoever holds it (`--force-unlock`); returns what it held.
pub async fn force_unlock(objects: &Objects) -> Result<Option<LockRecord>> {
    // One that does not open (not written with this repository's key) is removed too.
    let held = match read(objects).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %crate::repo::error_chain(&e), "removing an unreadable maintenance lock");
            None
        }
    };
    remove(objects).await?;
    if let Some(h) = &held {
        tracing::warn!(lock = %h.describe(Utc::now()), "maintenance lock removed on request");
    }
    Ok(held)
}

/// A held maintenance lock; renewed in the background until [`MaintenanceLock::release`].
pub struct MaintenanceLock {
    objects: Objects,
    record: LockRecord,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for MaintenanceLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaintenanceLock")
            .field("record", &self.record)
            .finish()
    }
}

impl MaintenanceLock {
    /// Takes the lock for `operation`, or fails with [`RepoError::Locked`] naming its holder.
    /// An expired lock is taken over.
    pub async fn acquire(objects: Objects, operation: &str, ttl: Duration) -> Result<Self> {
        let key = lock_key();
        let ttl_c = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(600));
        let mut took_over = false;
        loop {
            let now = Utc::now();
            let record = LockRecord {
                version: LOCK_VERSION,
                host: host_id(),
                pid: std::process::id(),
                token: uuid::Uuid::new_v4().simple().to_string(),
                operation: operation.to_string(),
                taken: now,
                heartbeat: now,
                expires: now + ttl_c,
            };
            objects.check_writable("taking the maintenance lock")?;
            let stored = record.seal(&objects).await?;
            match backend::put_create_idempotent(objects.store().as_ref(), &key, stored.clone())
                .await
            {
                Ok(()) => {
                    tracing::info!(lock = %record.describe(now), "maintenance lock taken");
                    let heartbeat = tokio::spawn(heartbeat(objects.clone(), record.clone(), ttl));
                    return Ok(Self {
                        objects,
                        record,
                        heartbeat,
                    });
                }
                Err(RepoError::Put {
                    source: object_store::Error::AlreadyExists { .. },
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
            let Some((held, version)) = read_versioned(&objects).await? else {
                // Released between our create and our read: try again.
                continue;
            };
            let now = Utc::now();
            if held.expires < now && !took_over {
                took_over = true;
                tracing::warn!(lock = %held.describe(now), "taking over an expired maintenance lock");
                // Replace exactly the expired lock read (If-Match on its ETag): of two
                // maintainers taking it over at once, one wins, the other finds the winner's.
                match replace_if_unchanged(&objects, &version, stored).await? {
                    Replaced::Done => {
                        tracing::info!(lock = %record.describe(now), "maintenance lock taken over");
                        let heartbeat =
                            tokio::spawn(heartbeat(objects.clone(), record.clone(), ttl));
                        return Ok(Self {
                            objects,
                            record,
                            heartbeat,
                        });
                    }
                    Replaced::Changed => continue,
                    Replaced::Unsupported => {
                        // A local directory: one host, whose own lock already serialises
                        // maintainers; delete and create.
                        remove(&objects).await?;
                        continue;
                    }
                }
            }
            return Err(RepoError::Locked {
                key: key.to_string(),
                holder: held.describe(now),
            });
        }
    }

    pub fn record(&self) -> &LockRecord {
        &self.record
    }

    /// Stops the heartbeat and removes the lock if it is still this holder's.
    pub async fn release(self) -> Result<()> {
        self.heartbeat.abort();
        match read(&self.objects).await? {
            Some(h) if h.token == self.record.token => remove(&self.objects).await,
            Some(h) => {
                tracing::warn!(lock = %h.describe(Utc::now()), "the maintenance lock was taken over; left in place");
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl Drop for MaintenanceLock {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// Renews the lock every third of its time to live while it is still ours.
async fn heartbeat(objects: Objects, mut record: LockRecord, ttl: Duration) {
    let every = (ttl / 3).max(Duration::from_millis(100));
    let ttl_c = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(600));
    loop {
        tokio::time::sleep(every).await;
        let version = match read_versioned(&objects).await {
            Ok(Some((h, v))) if h.token == record.token => v,
            Ok(h) => {
                tracing::error!(
                    held = ?h.map(|(h, _)| h.describe(Utc::now())),
                    "the maintenance lock is no longer this process's; heartbeat stopped"
                );
                return;
            }
            Err(e) => {
                tracing::warn!(error = %crate::repo::error_chain(&e), "maintenance lock heartbeat: cannot read the lock");
                continue;
            }
        };
        let now = Utc::now();
        record.heartbeat = now;
        record.expires = now + ttl_c;
        let Ok(bytes) = record.seal(&objects).await else {
            return;
        };
        // Only over our own lock as read (If-Match), so a heartbeat never overwrites a lock
        // another maintainer took meanwhile.
        let renewed = match replace_if_unchanged(&objects, &version, bytes.clone()).await {
            Ok(Replaced::Unsupported) => objects
                .store()
                .put(&lock_key(), PutPayload::from(bytes))
                .await
                .map(|_| ())
                .map_err(|source| RepoError::Put {
                    key: lock_key().to_string(),
                    source,
                }),
            Ok(Replaced::Done) => Ok(()),
            Ok(Replaced::Changed) => {
                tracing::error!(
                    "the maintenance lock changed under its heartbeat; heartbeat stopped"
                );
                return;
            }
            Err(e) => Err(e),
        };
        if let Err(e) = renewed {
            tracing::warn!(error = %crate::repo::error_chain(&e), "maintenance lock heartbeat failed");
        }
    }
}
