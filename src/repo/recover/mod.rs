//! `imvault recover --as-of TIME`: makes a repository on a versioned S3 bucket as it was at
//! TIME again, after an attacker with the backup credentials deleted or overwrote its objects
//! (docs/FORMAT.md, "Recovery after an attack").
//!
//! 1. [`VersionedBucket::open`]: only an `s3://` repository on a bucket whose versioning is
//!    enabled can be recovered (a local directory keeps no earlier versions);
//! 2. [`VersionedBucket::list`]: every version and delete marker under the prefix;
//!    [`plan::plan`] decides, key by key, what to remove (a pure function);
//! 3. [`open_as_of`]: the repository's keys come from its `config` and key slots *as they will
//!    be* after recover (an attacker may have deleted or overwritten them), so the maintenance
//!    lock and the audit record are written before anything is changed;
//! 4. [`execute`]: removes the planned delete markers and versions, kind by kind in the plan's
//!    order, a few keys at a time.
//!
//! Nothing here takes the lock or writes the audit trail: the caller does, around `execute`.

pub mod plan;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Serialize;

use crate::repo::backend::BackendConfig;
use crate::repo::error::RepoError;
use crate::repo::keyslot::Credential;
use crate::repo::repository::{Opened, Repository};
use crate::repo::s3_native::{S3Error, S3Native, Versioning};

pub use plan::{KeyAction, KeyKind, KeyOutcome, KindFigures, ObjectVersion, Plan};

/// How many keys are recovered at once (S3 DELETEs in flight).
const CONCURRENCY: usize = 16;
/// How many keys left alone a report names (all are counted).
const LEFT_ALONE_NAMED: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error(
        "recover needs a repository on S3 with bucket versioning: `{url}` keeps no earlier versions of its objects, so there is nothing to recover from (nothing was changed)"
    )]
    NotVersionable { url: String },
    #[error(
        "bucket `{bucket}` {}: recover cannot bring anything back, nothing was changed",
        match status {
            Versioning::Off => "has no versioning (it was never enabled): deleted and overwritten objects are gone for good".to_string(),
            Versioning::Suspended => "has its versioning suspended: enable it again (aws s3api put-bucket-versioning --bucket BUCKET --versioning-configuration Status=Enabled), then run recover".to_string(),
            Versioning::Enabled => "has versioning".to_string(),
        }
    )]
    NotVersioned { bucket: String, status: Versioning },
    #[error("the S3 client for `{url}` cannot be made")]
    Client {
        url: String,
        #[source]
        source: S3Error,
    },
    #[error("{what}")]
    S3 {
        what: String,
        #[source]
        source: S3Error,
    },
    #[error(
        "there was no repository under s3://{bucket}/{prefix} at {as_of} (no `config` then): pick a time after `imvault init` (nothing was changed)"
    )]
    NoRepositoryThen {
        bucket: String,
        prefix: String,
        as_of: DateTime<Utc>,
    },
    #[error("opening the repository as it was at {as_of}")]
    Open {
        as_of: DateTime<Utc>,
        #[source]
        source: Box<RepoError>,
    },
    #[error(
        "recovering `{key}` (removing {} {version}) failed after {done} of {total} keys were recovered: run recover again with the same --as-of to finish",
        if *delete_marker { "delete marker" } else { "version" }
    )]
    Remove {
        key: String,
        version: String,
        delete_marker: bool,
        done: u64,
        total: u64,
        #[source]
        source: S3Error,
    },
}

pub type Result<T, E = RecoverError> = std::result::Result<T, E>;

/// The repository's bucket, through the S3 calls object_store does not make.
#[derive(Debug, Clone)]
pub struct VersionedBucket {
    s3: S3Native,
}

impl VersionedBucket {
    /// The bucket of the repository `cfg` describes, refused unless it is on S3 with versioning
    /// enabled (nothing is changed either way).
    pub async fn open(cfg: &BackendConfig) -> Result<Self> {
        let s3 = S3Native::from_config(cfg)
            .map_err(|source| RecoverError::Client {
                url: cfg.url.clone(),
                source,
            })?
            .ok_or_else(|| RecoverError::NotVersionable {
                url: cfg.url.clone(),
            })?;
        let status = s3.versioning().await.map_err(|source| RecoverError::S3 {
            what: format!("reading the versioning of bucket `{}`", s3.bucket()),
            source,
        })?;
        if status != Versioning::Enabled {
            return Err(RecoverError::NotVersioned {
                bucket: s3.bucket().to_string(),
                status,
            });
        }
        Ok(Self { s3 })
    }

    pub fn bucket(&self) -> &str {
        self.s3.bucket()
    }
    pub fn prefix(&self) -> &str {
        self.s3.prefix()
    }

    fn full_key(&self, key: &str) -> String {
        match self.s3.prefix() {
            "" => key.to_string(),
            p => format!("{p}/{key}"),
        }
    }

    /// Every version and delete marker under the repository prefix (keys relative to it).
    pub async fn list(&self) -> Result<Vec<ObjectVersion>> {
        let prefix = match self.s3.prefix() {
            "" => String::new(),
            p => format!("{p}/"),
        };
        let mut out = Vec::new();
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .s3
                .client()
                .list_object_versions()
                .bucket(self.bucket())
                .prefix(&prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| RecoverError::S3 {
                    what: format!(
                        "listing the object versions of s3://{}/{prefix}",
                        self.bucket()
                    ),
                    source: S3Error::call("ListObjectVersions", self.bucket(), &prefix, e),
                })?;
            let rel = |k: Option<&str>| {
                k.and_then(|k| k.strip_prefix(prefix.as_str()))
                    .map(str::to_string)
            };
            let time = |t: Option<&aws_sdk_s3::primitives::DateTime>| {
                t.and_then(|t| t.to_millis().ok())
                    .and_then(DateTime::from_timestamp_millis)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC)
            };
            for v in page.versions() {
                let Some(key) = rel(v.key()) else { continue };
                out.push(ObjectVersion {
                    key,
                    version_id: v.version_id().unwrap_or("null").to_string(),
                    last_modified: time(v.last_modified()),
                    delete_marker: false,
                    latest: v.is_latest().unwrap_or(false),
                    size: v.size().unwrap_or(0).max(0) as u64,
                });
            }
            for m in page.delete_markers() {
                let Some(key) = rel(m.key()) else { continue };
                out.push(ObjectVersion {
                    key,
                    version_id: m.version_id().unwrap_or("null").to_string(),
                    last_modified: time(m.last_modified()),
                    delete_marker: true,
                    latest: m.is_latest().unwrap_or(false),
                    size: 0,
                });
            }
            if !page.is_truncated().unwrap_or(false) {
                return Ok(out);
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
            if key_marker.is_none() {
                return Ok(out);
            }
        }
    }

    /// The bytes of one version of `key`.
    pub async fn get_version(&self, key: &str, version_id: &str) -> Result<Bytes> {
        let full = self.full_key(key);
        let what = || format!("reading version {version_id} of `{key}`");
        let out = self
            .s3
            .client()
            .get_object()
            .bucket(self.bucket())
            .key(&full)
            .version_id(version_id)
            .send()
            .await
            .map_err(|e| RecoverError::S3 {
                what: what(),
                source: S3Error::call("GetObject", self.bucket(), &full, e),
            })?;
        let body = out.body.collect().await.map_err(|e| RecoverError::S3 {
            what: what(),
            source: S3Error::Config {
                url: format!("s3://{}/{full}", self.bucket()),
                reason: format!("the body could not be read: {e}"),
            },
        })?;
        Ok(body.into_bytes())
    }

    /// Makes version `version_id` of `key` its current version again by copying it over
    /// (a new version with the same bytes).
    async fn copy_back(&self, key: &str, version_id: &str) -> Result<(), S3Error> {
        let full = self.full_key(key);
        self.s3
            .client()
            .copy_object()
            .bucket(self.bucket())
            .key(&full)
            .copy_source(format!("{}/{full}?versionId={version_id}", self.bucket()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| S3Error::call("CopyObject", self.bucket(), &full, e))
    }

    /// Adds a delete marker to `key` (its versions stay).
    async fn hide(&self, key: &str) -> Result<(), S3Error> {
        self.s3.delete(&Path::from(key), None, false).await
    }

    /// Permanently removes one version (or delete marker) of `key`.
    async fn remove(&self, key: &str, version_id: &str) -> Result<(), S3Error> {
        self.s3
            .delete(&Path::from(key), Some(version_id), false)
            .await
    }
}

/// Opens the repository with `credential` as it will be after `plan`: its `config` and key
/// slots are read at the versions that will then be current, so a repository whose `config`
/// or key slots were deleted or overwritten opens, and nothing is changed to open it. The
/// returned handle writes to `store` (the repository's object store).
pub async fn open_as_of(
    bucket: &VersionedBucket,
    store: Arc<dyn ObjectStore>,
    listing: &[ObjectVersion],
    plan: &Plan,
    as_of: DateTime<Utc>,
    credential: Option<&Credential>,
) -> Result<Repository<Opened>> {
    let view: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut has_config = false;
    for (key, version) in plan::current_after(listing, plan) {
        if !matches!(KeyKind::of(&key), Some(KeyKind::Config | KeyKind::KeySlot)) {
            continue;
        }
        has_config |= key == "config";
        let bytes = bucket.get_version(&key, &version).await?;
        view.put(&Path::from(key.as_str()), bytes.into())
            .await
            .map_err(|source| RecoverError::Open {
                as_of,
                source: Box::new(RepoError::Put { key, source }),
            })?;
    }
    if !has_config {
        return Err(RecoverError::NoRepositoryThen {
            bucket: bucket.bucket().to_string(),
            prefix: bucket.prefix().to_string(),
            as_of,
        });
    }
    let repo = Repository::open(view, credential)
        .await
        .map_err(|source| RecoverError::Open {
            as_of,
            source: Box::new(source),
        })?;
    // The bucket is read through requests, whatever the view served the config from.
    Ok(repo
        .on_store(store)
        .with_window_ranges(crate::repo::reader::WINDOW_REQUESTS))
}

/// What recover did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct RecoverReport {
    pub as_of: DateTime<Utc>,
    pub dry_run: bool,
    pub bucket: String,
    pub prefix: String,
    /// Per kind of key (`pack`, `snapshot`, …).
    pub kinds: BTreeMap<KeyKind, KindFigures>,
    pub totals: KindFigures,
    /// Keys under the prefix that are not imvault's: never touched.
    pub keys_left_alone: u64,
    /// The first of them, by name.
    pub left_alone: Vec<String>,
    /// imvault's keys recover does not touch (the maintenance lock it holds).
    pub skipped: Vec<String>,
    /// Keys with versions newer than TIME that Object Lock keeps, brought to their state of
    /// TIME by a copy or a delete marker instead.
    pub locked: Vec<LockedKey>,
    /// The local catalog was rebuilt from the recovered repository (set by the caller).
    pub catalog_rebuilt: bool,
    pub seconds: f64,
}

impl RecoverReport {
    fn of(plan: &Plan, bucket: &VersionedBucket, as_of: DateTime<Utc>, dry_run: bool) -> Self {
        Self {
            as_of,
            dry_run,
            bucket: bucket.bucket().to_string(),
            prefix: bucket.prefix().to_string(),
            kinds: plan.figures.clone(),
            totals: plan.totals(),
            keys_left_alone: plan.left_alone.len() as u64,
            left_alone: plan
                .left_alone
                .iter()
                .take(LEFT_ALONE_NAMED)
                .cloned()
                .collect(),
            skipped: plan.skipped.clone(),
            locked: Vec::new(),
            catalog_rebuilt: false,
            seconds: 0.0,
        }
    }
}

/// The report of `plan` without doing anything (`--dry-run`).
pub fn dry_run(plan: &Plan, bucket: &VersionedBucket, as_of: DateTime<Utc>) -> RecoverReport {
    RecoverReport::of(plan, bucket, as_of, true)
}

/// Does `plan`: removes its delete markers and versions, one kind (and phase) after the other
/// in the plan's order, up to `CONCURRENCY` keys at once, each key newest entry first.
///
/// A version the bucket refuses to delete (403: under Object Lock retention, which an attacker
/// with the lock calls can set on what they write, or which imvault set on what it wrote after
/// TIME) is not an error: the key is brought to its state of TIME another way, adding to its
/// history instead of removing from it: its version of TIME is copied over it as a new current
/// version, or, for a key that did not exist at TIME, a delete marker is added.
pub async fn execute(
    bucket: &VersionedBucket,
    plan: &Plan,
    as_of: DateTime<Utc>,
) -> Result<RecoverReport> {
    let started = Instant::now();
    let total = plan.actions.len() as u64;
    let mut done = 0u64;
    let mut locked = Vec::new();
    let mut figures = plan.figures.clone();
    let mut i = 0;
    while i < plan.actions.len() {
        // One group: consecutive actions of the same kind and phase.
        let group_of = |a: &KeyAction| (a.kind, a.outcome == KeyOutcome::Removed);
        let g = group_of(&plan.actions[i]);
        let end = plan.actions[i..]
            .iter()
            .position(|a| group_of(a) != g)
            .map_or(plan.actions.len(), |n| i + n);
        let group = &plan.actions[i..end];
        let results: Vec<(&KeyAction, KeyDone)> =
            futures::stream::iter(group.iter().map(|a| recover_key(bucket, a)))
                .buffer_unordered(CONCURRENCY)
                .map_err(|(a, r, source)| RecoverError::Remove {
                    key: a.key.clone(),
                    version: r.version_id.clone(),
                    delete_marker: r.delete_marker,
                    done,
                    total,
                    source,
                })
                .try_collect()
                .await?;
        for (a, r) in results {
            if let Some(l) = r.locked {
                // What was not removed is not counted as removed.
                let f = figures.entry(a.kind).or_default();
                let planned_markers = a.remove.iter().filter(|r| r.delete_marker).count() as u64;
                f.markers_removed -= planned_markers - r.markers;
                f.versions_removed -= (a.remove.len() as u64 - planned_markers) - r.versions;
                locked.push(l);
            }
        }
        done += group.len() as u64;
        tracing::info!(kind = %g.0, keys = group.len(), removed = g.1, "recovered");
        i = end;
    }
    let mut report = RecoverReport::of(plan, bucket, as_of, false);
    report.totals = KindFigures::default();
    for f in figures.values() {
        report.totals.add(f);
    }
    report.kinds = figures;
    locked.sort_by(|a, b| a.key.cmp(&b.key));
    report.locked = locked;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// A key whose newer versions are kept by Object Lock, and what was done instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockedKey {
    pub key: String,
    /// The locked version that stays in the key's history.
    pub version: String,
    pub done: LockedFallback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockedFallback {
    /// The version of TIME was copied over it: the current version has the bytes of TIME.
    CopiedBack,
    /// A delete marker was added: the key is absent, as it was at TIME.
    MarkerAdded,
}

/// What was done to one key.
struct KeyDone {
    markers: u64,
    versions: u64,
    locked: Option<LockedKey>,
}

async fn recover_key<'a>(
    bucket: &VersionedBucket,
    a: &'a KeyAction,
) -> Result<(&'a KeyAction, KeyDone), (&'a KeyAction, &'a plan::Removal, S3Error)> {
    let mut done = KeyDone {
        markers: 0,
        versions: 0,
        locked: None,
    };
    for r in &a.remove {
        match bucket.remove(&a.key, &r.version_id).await {
            Ok(()) => match r.delete_marker {
                true => done.markers += 1,
                false => done.versions += 1,
            },
            Err(e) if e.is_not_found() => {}
            Err(e) if e.status() == Some(403) && !r.delete_marker => {
                tracing::warn!(key = %a.key, version = %r.version_id, error = %e, "a version newer than the recovery time cannot be deleted (Object Lock): recovering the key around it");
                let fallback = match &a.current_after {
                    Some(v) => bucket
                        .copy_back(&a.key, v)
                        .await
                        .map(|()| LockedFallback::CopiedBack),
                    None => bucket
                        .hide(&a.key)
                        .await
                        .map(|()| LockedFallback::MarkerAdded),
                }
                .map_err(|e| (a, r, e))?;
                done.locked = Some(LockedKey {
                    key: a.key.clone(),
                    version: r.version_id.clone(),
                    done: fallback,
                });
                return Ok((a, done));
            }
            Err(e) => return Err((a, r, e)),
        }
    }
    Ok((a, done))
}
