//! S3 Object Lock on every write (`[repository] object_lock`, docs/FORMAT.md §20): the
//! [`LockedStore`] decorator sits on top of the repository's S3 store and stores every object
//! imvault writes (packs, index, snapshots, checkpoints, marks, keys, config, audit records,
//! holds) with a retain-until date of now + the configured retention, in the same PUT
//! (`x-amz-object-lock-mode` and `-retain-until-date` headers through aws-sdk-s3, with the body's
//! checksum S3 requires of such a PUT): there is no moment when an object is stored unlocked.
//! Create-only writes keep their meaning (`If-None-Match: *`; a 412 is object_store's
//! `AlreadyExists`), so the format's rules hold unchanged. Reads and listings go to the store
//! below.
//!
//! The one exception is `locks/`: the maintenance lock is rewritten by its holder's heartbeat
//! and deleted when released, so it is written without retention (it protects nothing: losing
//! it only lets a second maintainer start, which the host-local lock still stops on one host).
//!
//! Deleting (prune, forget): a version whose retention has passed is deleted for good (by its
//! version id, so the space is freed); one still under retention cannot be, and a plain DELETE
//! only hides it behind a delete marker. Prune therefore never deletes a retained object: it
//! asks [`retained_until`] first and plans the deletion for when the lock ends. imvault never
//! uses multipart uploads (a pack is one PUT), so none needs a lock.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, MultipartUpload, ObjectStore, PutMode, PutMultipartOptions, PutOptions,
    PutPayload, PutResult, RenameOptions, Result,
};
use serde::{Deserialize, Serialize};

use crate::repo::s3_native::{LockMode, Retention, S3Error, S3Native, Versioning};

/// Name of the store in object_store errors.
const STORE: &str = "S3 (Object Lock)";

/// `[repository] object_lock`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectLockSetting {
    #[default]
    Off,
    Governance,
    Compliance,
}

impl ObjectLockSetting {
    pub fn mode(self) -> Option<LockMode> {
        match self {
            Self::Off => None,
            Self::Governance => Some(LockMode::Governance),
            Self::Compliance => Some(LockMode::Compliance),
        }
    }
}

/// `[repository] lock_days`: 1 to 36500 (S3's limit is 100 years).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct LockDays(u32);

impl LockDays {
    pub const MAX: u32 = 36_500;
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for LockDays {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        if (1..=i64::from(Self::MAX)).contains(&v) {
            Ok(Self(v as u32))
        } else {
            Err(format!(
                "lock_days must be 1 to {} (days of Object Lock retention), got {v}",
                Self::MAX
            ))
        }
    }
}

impl From<LockDays> for u32 {
    fn from(d: LockDays) -> u32 {
        d.0
    }
}

/// Object Lock as the backend applies it: the mode and how long each write is retained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLockConfig {
    pub mode: LockMode,
    /// Retention of every write (`lock_days`, or the test-only `lock_seconds`).
    pub retain_secs: u64,
}

impl ObjectLockConfig {
    pub fn retain(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.retain_secs.min(i64::MAX as u64 / 1000) as i64)
    }
    /// The retention of an object written (or extended) at `now`.
    pub fn retention_from(&self, now: DateTime<Utc>) -> Retention {
        Retention {
            mode: self.mode,
            until: now + self.retain(),
        }
    }
}

/// Keys under this directory are written without retention (see the module docs).
pub const UNLOCKED_DIR: &str = "locks";

/// Whether `key` is written with retention.
pub fn is_retained_kind(key: &Path) -> bool {
    key.parts()
        .next()
        .is_none_or(|p| p.as_ref() != UNLOCKED_DIR)
}

/// The bucket is not ready for Object Lock.
#[derive(Debug, thiserror::Error)]
pub enum BucketNotReady {
    #[error(
        "[repository] object_lock is on, but bucket `{bucket}` has versioning {state}: enable versioning and Object Lock on the bucket (`aws s3api create-bucket --bucket {bucket} --object-lock-enabled-for-bucket`, or for an existing bucket `aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled`, then `aws s3api put-object-lock-configuration --bucket {bucket} --object-lock-configuration ObjectLockEnabled=Enabled`); nothing was written"
    )]
    Versioning { bucket: String, state: &'static str },
    #[error(
        "[repository] object_lock is on, but bucket `{bucket}` does not have Object Lock enabled (its ObjectLockEnabled setting): run `aws s3api put-object-lock-configuration --bucket {bucket} --object-lock-configuration ObjectLockEnabled=Enabled` (the bucket needs versioning), or create the bucket with --object-lock-enabled-for-bucket; nothing was written"
    )]
    ObjectLock { bucket: String },
    #[error("checking the Object Lock settings of the bucket failed")]
    Check(#[source] S3Error),
}

/// Checks that the bucket has versioning and Object Lock enabled (asked each time: nothing is
/// cached, so a bucket fixed meanwhile is seen at once).
pub async fn check_bucket(s3: &S3Native) -> Result<(), BucketNotReady> {
    let bucket = s3.bucket().to_string();
    match s3.versioning().await.map_err(BucketNotReady::Check)? {
        Versioning::Enabled => {}
        Versioning::Off => {
            return Err(BucketNotReady::Versioning {
                bucket,
                state: "never enabled",
            });
        }
        Versioning::Suspended => {
            return Err(BucketNotReady::Versioning {
                bucket,
                state: "suspended",
            });
        }
    }
    if !s3
        .bucket_lock()
        .await
        .map_err(BucketNotReady::Check)?
        .enabled
    {
        return Err(BucketNotReady::ObjectLock { bucket });
    }
    Ok(())
}

/// Until when `key` (its current version) is retained: `None` when it is not (or no longer:
/// its retain-until is not after `now`), or does not exist.
pub async fn retained_until(
    s3: &S3Native,
    key: &Path,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, S3Error> {
    Ok(s3
        .head(key)
        .await?
        .and_then(|h| h.retention)
        .map(|r| r.until)
        .filter(|u| *u > now))
}

/// What extending retention did ([`crate::repo::Repository::extend_retention`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendReport {
    /// Objects looked at.
    pub objects: u64,
    /// Objects whose retention was asked for (HeadObject): those this host had not seen yet
    /// and those whose known retention was running out.
    pub checked: u64,
    /// Objects whose retention was extended (PutObjectRetention).
    pub extended: u64,
    /// The latest retain-until date given to those.
    pub until: Option<DateTime<Utc>>,
}

/// The repository's Object Lock, for maintenance: which objects are still retained, and
/// extending the retention of those still needed before it runs out.
#[derive(Debug, Clone)]
pub struct RetentionControl {
    s3: S3Native,
    lock: ObjectLockConfig,
}

impl RetentionControl {
    pub fn new(s3: S3Native, lock: ObjectLockConfig) -> Self {
        Self { s3, lock }
    }

    /// The control of the repository `cfg` describes: `None` without Object Lock.
    pub fn from_config(cfg: &crate::repo::BackendConfig) -> Result<Option<Self>, S3Error> {
        let Some(lock) = cfg.object_lock else {
            return Ok(None);
        };
        Ok(S3Native::from_config(cfg)?.map(|s3| Self::new(s3, lock)))
    }

    pub fn s3(&self) -> &S3Native {
        &self.s3
    }
    pub fn lock(&self) -> &ObjectLockConfig {
        &self.lock
    }

    /// Until when `key` is retained, if it is after `now`.
    pub async fn retained_until(
        &self,
        key: &Path,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, S3Error> {
        retained_until(&self.s3, key, now).await
    }

    /// Makes sure the current version of `key` is retained until at least `need`: asks S3
    /// (HeadObject) and, when its retain-until is earlier, sets it to `to` (`to` ≥ `need`).
    /// The mode is never weakened: a version under COMPLIANCE stays COMPLIANCE. `listed_etag`
    /// is the ETag the listing showed: the answer says whether S3 answered about that version
    /// (only then may it be remembered for it).
    pub async fn ensure(
        &self,
        key: &Path,
        listed_etag: Option<&str>,
        need: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Ensured, S3Error> {
        let Some(head) = self.s3.head(key).await? else {
            return Ok(Ensured::Gone);
        };
        let unquote = |e: &str| e.trim_matches('"').to_string();
        let listed = listed_etag
            .map(unquote)
            .is_some_and(|l| head.e_tag.as_deref().map(unquote) == Some(l));
        if let Some(r) = head.retention.filter(|r| r.until >= need) {
            return Ok(Ensured::Already {
                until: r.until,
                listed,
            });
        }
        let mode = match head.retention.map(|r| r.mode) {
            Some(LockMode::Compliance) => LockMode::Compliance,
            _ => self.lock.mode,
        };
        let target = Retention {
            mode,
            until: to.max(need),
        };
        self.s3
            .set_retention(key, head.version_id.as_deref(), target, false)
            .await?;
        Ok(Ensured::Extended {
            until: target.until,
            listed,
        })
    }
}

/// What [`RetentionControl::ensure`] found and did. `listed`: S3 answered about the version
/// the listing showed (not one written meanwhile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// No current version (deleted meanwhile).
    Gone,
    /// Already retained long enough: until then.
    Already { until: DateTime<Utc>, listed: bool },
    /// Its retention was set to this date.
    Extended { until: DateTime<Utc>, listed: bool },
}

/// Retention requests in flight at once.
pub const CONCURRENCY: usize = 16;

/// The repository's store with Object Lock on every write (see the module docs).
pub struct LockedStore {
    inner: Arc<dyn ObjectStore>,
    s3: S3Native,
    lock: ObjectLockConfig,
}

impl LockedStore {
    pub fn new(inner: Arc<dyn ObjectStore>, s3: S3Native, lock: ObjectLockConfig) -> Self {
        Self { inner, s3, lock }
    }
    pub fn s3(&self) -> &S3Native {
        &self.s3
    }
    pub fn lock(&self) -> &ObjectLockConfig {
        &self.lock
    }

    /// Deletes `key`: for good when it is not retained, else only a delete marker.
    async fn delete_one(&self, key: &Path) -> Result<()> {
        let generic = |e: S3Error| object_store::Error::Generic {
            store: STORE,
            source: Box::new(e),
        };
        let Some(head) = self.s3.head(key).await.map_err(generic)? else {
            return Err(object_store::Error::NotFound {
                path: key.to_string(),
                source: "no current version".into(),
            });
        };
        let retained = head.retention.is_some_and(|r| r.until > Utc::now());
        match (&head.version_id, retained) {
            (Some(v), false) => self.s3.delete(key, Some(v), false).await.map_err(generic),
            _ => {
                if retained {
                    tracing::warn!(key = %key, "object under Object Lock retention: only hidden behind a delete marker");
                }
                self.s3.delete(key, None, false).await.map_err(generic)
            }
        }
    }
}

impl std::fmt::Display for LockedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LockedStore({} {} s, {})",
            self.lock.mode, self.lock.retain_secs, self.inner
        )
    }
}

impl std::fmt::Debug for LockedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockedStore")
            .field("s3", &self.s3)
            .field("lock", &self.lock)
            .finish()
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for LockedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        if !is_retained_kind(location) {
            return self.inner.put_opts(location, payload, opts).await;
        }
        let create_only = match opts.mode {
            PutMode::Create => true,
            PutMode::Overwrite => false,
            PutMode::Update(_) => {
                return Err(object_store::Error::NotImplemented {
                    operation: format!("conditional update of {location} under Object Lock"),
                    implementer: STORE.into(),
                });
            }
        };
        let bytes: bytes::Bytes = payload.into();
        let retention = self.lock.retention_from(Utc::now());
        match self
            .s3
            .put(location, bytes, create_only, Some(retention))
            .await
        {
            Ok(Some(out)) => Ok(PutResult {
                e_tag: out.e_tag,
                version: out.version_id,
                extensions: Default::default(),
            }),
            Ok(None) => Err(object_store::Error::AlreadyExists {
                path: location.to_string(),
                source: "the key is taken (412 Precondition Failed on If-None-Match: *)".into(),
            }),
            Err(e) => Err(object_store::Error::Generic {
                store: STORE,
                source: Box::new(e),
            }),
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        if !is_retained_kind(location) {
            return self.inner.put_multipart_opts(location, opts).await;
        }
        Err(object_store::Error::NotImplemented {
            operation: format!("multipart upload of {location} under Object Lock"),
            implementer: STORE.into(),
        })
    }

    crate::repo::store_forward::forward_store_methods!(inner =>
        get_opts, get_ranges, list, list_with_offset, list_with_delimiter);

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let this = Self {
            inner: self.inner.clone(),
            s3: self.s3.clone(),
            lock: self.lock,
        };
        let this = Arc::new(this);
        locations
            .then(move |p| {
                let this = this.clone();
                async move {
                    let p = p?;
                    if !is_retained_kind(&p) {
                        // A plain DELETE: on a versioned bucket a delete marker, so an
                        // earlier version of the lock (a heartbeat) does not come back.
                        let one = futures::stream::once(futures::future::ready(Ok(p.clone())));
                        let mut out = this.inner.delete_stream(one.boxed());
                        return match out.next().await {
                            Some(r) => r,
                            None => Ok(p),
                        };
                    }
                    this.delete_one(&p).await.map(|()| p)
                }
            })
            .boxed()
    }

    async fn copy_opts(&self, from: &Path, to: &Path, _options: CopyOptions) -> Result<()> {
        Err(object_store::Error::NotImplemented {
            operation: format!("copy of {from} to {to} under Object Lock"),
            implementer: STORE.into(),
        })
    }

    async fn rename_opts(&self, from: &Path, to: &Path, _options: RenameOptions) -> Result<()> {
        Err(object_store::Error::NotImplemented {
            operation: format!("rename of {from} to {to} under Object Lock"),
            implementer: STORE.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_days_are_checked() {
        assert!(LockDays::try_from(0).is_err());
        assert!(LockDays::try_from(36_501).is_err());
        assert!(LockDays::try_from(-3).is_err());
        assert_eq!(LockDays::try_from(30).unwrap().get(), 30);
        assert_eq!(LockDays::try_from(36_500).unwrap().get(), 36_500);
    }

    #[test]
    fn only_locks_are_written_without_retention() {
        assert!(!is_retained_kind(&Path::from("locks/maintenance")));
        for k in [
            "packs/00/00",
            "index/ab",
            "config",
            "keys/x",
            "audit/w/1",
            "holds/h",
        ] {
            assert!(is_retained_kind(&Path::from(k)), "{k}");
        }
    }
}
