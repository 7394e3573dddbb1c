//! The S3 calls object_store does not make: bucket versioning and Object Lock settings, object
//! retention (read, set, extend) and PUTs that carry a retain-until date. One client per
//! repository, built from the same [`BackendConfig`] as the object store
//! ([`S3Native::from_config`]): the bucket and prefix of its `s3://bucket/prefix` URL, its
//! endpoint (path-style requests, as object_store makes them), region, `allow_http` and
//! credentials, each falling back to the usual `AWS_*` variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
//! `AWS_ENDPOINT_URL`/`AWS_ENDPOINT`, `AWS_ALLOW_HTTP`). Instance-profile and web-identity
//! credentials are not looked up: give keys when the repository uses Object Lock.
//!
//! Keys are the repository's keys ([`object_store::path::Path`], relative to the prefix):
//! [`S3Native::key_of`] and [`S3Native::path_of`] translate. Errors ([`S3Error`]) name the
//! operation, the bucket and the key, the HTTP status and S3's error code, never a credential.
//! Other modules add their own calls on [`S3Native::client`] with [`S3Error::call`].

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ObjectLockEnabled, ObjectLockMode, ObjectLockRetention,
    ObjectLockRetentionMode,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::path::Path;

use crate::repo::backend::BackendConfig;

/// A failed S3 call, or a backend configuration the client cannot use.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("S3 backend `{url}`: {reason}")]
    Config { url: String, reason: String },

    /// `op` (e.g. "GetBucketVersioning") on `s3://bucket/key` failed.
    #[error("{op} on s3://{bucket}/{key} failed{}{}: {detail}",
        status.map(|s| format!(" (HTTP {s}")).unwrap_or_default(),
        match (status, code) { (Some(_), Some(c)) => format!(", {c})"), (Some(_), None) => ")".into(), (None, Some(c)) => format!(" ({c})"), (None, None) => String::new() })]
    Call {
        op: &'static str,
        bucket: String,
        key: String,
        status: Option<u16>,
        code: Option<String>,
        detail: String,
        /// No answer (connection refused or cut, timeout) or a 5xx: worth trying again later
        /// (`crate::repo::outage` waits for the store on these).
        transient: bool,
    },
}

impl S3Error {
    /// The error of `op` on `key` (a full key in the bucket, or "" for a bucket call).
    pub fn call<E>(
        op: &'static str,
        bucket: &str,
        key: &str,
        err: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let transient = match &err {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => true,
            SdkError::ResponseError(_) => true,
            _ => status.is_some_and(|s| s >= 500),
        };
        let code = err.code().map(str::to_string);
        let detail = match err.message() {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => DisplayErrorContext(&err).to_string(),
        };
        Self::Call {
            op,
            bucket: bucket.to_string(),
            key: key.to_string(),
            status,
            code,
            detail,
            transient,
        }
    }

    /// The store did not answer, or answered 5xx: the call may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Call {
                transient: true,
                ..
            }
        )
    }

    /// The HTTP status S3 answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Call { status, .. } => *status,
            Self::Config { .. } => None,
        }
    }

    /// S3's error code (`NoSuchKey`, `AccessDenied`, …), if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Call { code, .. } => code.as_deref(),
            Self::Config { .. } => None,
        }
    }

    /// A conditional write found the key taken (412 Precondition Failed).
    pub fn is_precondition_failed(&self) -> bool {
        self.status() == Some(412) || self.code() == Some("PreconditionFailed")
    }

    /// The key (or version) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
            || matches!(
                self.code(),
                Some("NoSuchKey" | "NotFound" | "NoSuchVersion")
            )
    }
}

pub type Result<T, E = S3Error> = std::result::Result<T, E>;

/// A bucket's versioning (`GetBucketVersioning`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Versioning {
    /// Never enabled.
    Off,
    Enabled,
    Suspended,
}

/// Object Lock retention modes (S3's GOVERNANCE and COMPLIANCE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockMode {
    /// Users with `s3:BypassGovernanceRetention` can still shorten or remove it.
    Governance,
    /// Nobody, not even the root account, can delete the version before it ends.
    Compliance,
}

impl LockMode {
    fn sdk(self) -> ObjectLockMode {
        match self {
            Self::Governance => ObjectLockMode::Governance,
            Self::Compliance => ObjectLockMode::Compliance,
        }
    }
    fn sdk_retention(self) -> ObjectLockRetentionMode {
        match self {
            Self::Governance => ObjectLockRetentionMode::Governance,
            Self::Compliance => ObjectLockRetentionMode::Compliance,
        }
    }
    fn from_sdk(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "GOVERNANCE" => Some(Self::Governance),
            "COMPLIANCE" => Some(Self::Compliance),
            _ => None,
        }
    }
}

impl std::fmt::Display for LockMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Governance => "governance",
            Self::Compliance => "compliance",
        })
    }
}

/// A bucket's Object Lock configuration (`GetObjectLockConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BucketLock {
    /// `ObjectLockEnabled: Enabled` (can only be set when the bucket is created, or on a
    /// versioned bucket through PutObjectLockConfiguration).
    pub enabled: bool,
    /// The bucket's default retention, if it has one.
    pub default_mode: Option<LockMode>,
    pub default_days: Option<i32>,
    pub default_years: Option<i32>,
}

/// A retention: mode and retain-until date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub mode: LockMode,
    pub until: DateTime<Utc>,
}

/// What a PUT stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOutcome {
    pub e_tag: Option<String>,
    pub version_id: Option<String>,
}

/// What `HeadObject` says of an object's current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    pub size: u64,
    pub e_tag: Option<String>,
    pub version_id: Option<String>,
    pub retention: Option<Retention>,
}

/// aws-sdk-s3 client of one repository's bucket and prefix.
#[derive(Clone)]
pub struct S3Native {
    client: Client,
    bucket: String,
    /// The key prefix without leading or trailing `/` ("" for the bucket's root).
    prefix: String,
}

impl std::fmt::Debug for S3Native {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Native")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Bucket and prefix of an `s3://bucket[/prefix]` URL; `None` for another scheme.
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.trim().strip_prefix("s3://")?;
    let (bucket, prefix) = match rest.split_once('/') {
        Some((b, p)) => (b, p.trim_matches('/')),
        None => (rest, ""),
    };
    Some((bucket.to_string(), prefix.to_string()))
}

fn to_sdk_time(t: DateTime<Utc>) -> aws_sdk_s3::primitives::DateTime {
    aws_sdk_s3::primitives::DateTime::from_millis(t.timestamp_millis())
}

fn from_sdk_time(t: &aws_sdk_s3::primitives::DateTime) -> Option<DateTime<Utc>> {
    t.to_millis().ok().and_then(DateTime::from_timestamp_millis)
}

/// The text of the `<Status>` element of an XML document, if any.
fn status_element(xml: &str) -> Option<String> {
    let start = xml.find("<Status>")? + "<Status>".len();
    let len = xml[start..].find("</Status>")?;
    Some(xml[start..start + len].trim().to_string())
}

fn retention_of(
    mode: Option<&str>,
    until: Option<&aws_sdk_s3::primitives::DateTime>,
) -> Option<Retention> {
    Some(Retention {
        mode: LockMode::from_sdk(mode?)?,
        until: from_sdk_time(until?)?,
    })
}

impl S3Native {
    /// The client of the repository `cfg` describes: `None` for `file://` and `memory://`.
    pub fn from_config(cfg: &BackendConfig) -> Result<Option<Self>> {
        let Some((bucket, prefix)) = parse_s3_url(&cfg.url) else {
            return Ok(None);
        };
        let bad = |reason: &str| S3Error::Config {
            url: cfg.url.clone(),
            reason: reason.to_string(),
        };
        if bucket.is_empty() {
            return Err(bad(
                "the S3 URL names no bucket (expected s3://bucket/prefix)",
            ));
        }
        let region = cfg
            .region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_string());
        let endpoint = cfg
            .endpoint
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .or_else(|| env("AWS_ENDPOINT"));
        let allow_http =
            cfg.allow_http || env("AWS_ALLOW_HTTP").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let mut b = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region));
        if let Some(ep) = &endpoint {
            let ep = ep.trim_end_matches('/');
            if ep.starts_with("http://") && !allow_http {
                return Err(bad(
                    "the endpoint is plain http but allow_http is not set (set [repository] allow_http = true to allow it)",
                ));
            }
            // Path-style requests (`endpoint/bucket/key`), as object_store makes them: custom
            // endpoints (MinIO, moto, Ceph) rarely resolve bucket subdomains.
            b = b.endpoint_url(ep).force_path_style(true);
        }
        let key_id = cfg
            .access_key_id
            .clone()
            .or_else(|| env("AWS_ACCESS_KEY_ID"));
        let secret = cfg
            .secret_access_key
            .as_ref()
            .map(|s| s.expose().to_string())
            .or_else(|| env("AWS_SECRET_ACCESS_KEY"));
        let token = cfg
            .session_token
            .as_ref()
            .map(|s| s.expose().to_string())
            .or_else(|| env("AWS_SESSION_TOKEN"));
        match (key_id, secret) {
            (Some(k), Some(s)) => {
                b = b.credentials_provider(Credentials::new(k, s, token, None, "imvault"));
            }
            (None, None) => {
                return Err(bad(
                    "no S3 credentials: the Object Lock calls need access_key_id and secret_access_key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
                ));
            }
            _ => {
                return Err(bad(
                    "an access key id needs its secret access key, and the other way round",
                ));
            }
        }
        Ok(Some(Self {
            client: Client::from_conf(b.build()),
            bucket,
            prefix,
        }))
    }

    /// The SDK client, for calls this module does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }
    pub fn bucket(&self) -> &str {
        &self.bucket
    }
    /// The repository's key prefix in the bucket ("" for the bucket's root), without slashes
    /// at either end.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full key in the bucket of the repository's `key`.
    pub fn key_of(&self, key: &Path) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{}", self.prefix, key)
        }
    }

    /// The repository key of a full key in the bucket; `None` outside the prefix.
    pub fn path_of(&self, full: &str) -> Option<Path> {
        let rel = if self.prefix.is_empty() {
            full
        } else {
            full.strip_prefix(self.prefix.as_str())?.strip_prefix('/')?
        };
        Path::parse(rel).ok()
    }

    /// The bucket's versioning status.
    pub async fn versioning(&self) -> Result<Versioning> {
        let status = match self
            .client
            .get_bucket_versioning()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(out) => out.status().map(|s| s.as_str().to_string()),
            // moto answers under another root element (`GetBucketVersioningResponse`), which
            // the SDK refuses to parse: read the status from the document itself.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 200) => {
                let body = e
                    .raw_response()
                    .and_then(|r| r.body().bytes())
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                status_element(&body)
            }
            Err(e) => return Err(S3Error::call("GetBucketVersioning", &self.bucket, "", e)),
        };
        Ok(
            match status.as_deref().map(BucketVersioningStatus::from).as_ref() {
                Some(BucketVersioningStatus::Enabled) => Versioning::Enabled,
                Some(BucketVersioningStatus::Suspended) => Versioning::Suspended,
                _ => Versioning::Off,
            },
        )
    }

    /// The bucket's Object Lock configuration; `enabled: false` when it has none.
    pub async fn bucket_lock(&self) -> Result<BucketLock> {
        let none = BucketLock {
            enabled: false,
            default_mode: None,
            default_days: None,
            default_years: None,
        };
        let out = match self
            .client
            .get_object_lock_configuration()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = S3Error::call("GetObjectLockConfiguration", &self.bucket, "", e);
                if e.code() == Some("ObjectLockConfigurationNotFoundError") {
                    return Ok(none);
                }
                return Err(e);
            }
        };
        let Some(c) = out.object_lock_configuration() else {
            return Ok(none);
        };
        let rule = c.rule().and_then(|r| r.default_retention());
        Ok(BucketLock {
            enabled: c.object_lock_enabled() == Some(&ObjectLockEnabled::Enabled),
            default_mode: rule
                .and_then(|r| r.mode())
                .and_then(|m| LockMode::from_sdk(m.as_str())),
            default_days: rule.and_then(|r| r.days()),
            default_years: rule.and_then(|r| r.years()),
        })
    }

    /// Stores `bytes` under `key` with `retention`; with `create_only`, only if the key is free
    /// (`If-None-Match: *`: `Ok(None)` when it is taken). The SDK sends a checksum of the body,
    /// which S3 requires of a PUT with lock headers.
    pub async fn put(
        &self,
        key: &Path,
        bytes: Bytes,
        create_only: bool,
        retention: Option<Retention>,
    ) -> Result<Option<PutOutcome>> {
        let full = self.key_of(key);
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&full)
            .body(ByteStream::from(bytes));
        if create_only {
            req = req.if_none_match("*");
        }
        if let Some(r) = retention {
            req = req
                .object_lock_mode(r.mode.sdk())
                .object_lock_retain_until_date(to_sdk_time(r.until));
        }
        match req.send().await {
            Ok(out) => Ok(Some(PutOutcome {
                e_tag: out.e_tag().map(str::to_string),
                version_id: out.version_id().map(str::to_string),
            })),
            Err(e) => {
                let e = S3Error::call("PutObject", &self.bucket, &full, e);
                if create_only && e.is_precondition_failed() {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// `HeadObject` of the current version of `key`: `Ok(None)` when there is none.
    pub async fn head(&self, key: &Path) -> Result<Option<ObjectHead>> {
        let full = self.key_of(key);
        let out = match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = S3Error::call("HeadObject", &self.bucket, &full, e);
                return if e.is_not_found() { Ok(None) } else { Err(e) };
            }
        };
        let retention = retention_of(
            out.object_lock_mode().map(|m| m.as_str()),
            out.object_lock_retain_until_date(),
        );
        Ok(Some(ObjectHead {
            size: out.content_length().unwrap_or(0).max(0) as u64,
            e_tag: out.e_tag().map(str::to_string),
            version_id: out.version_id().map(str::to_string),
            retention,
        }))
    }

    /// The retention of `key` (its current version, or `version_id`): `Ok(None)` when it has
    /// none. Read with `HeadObject` (which answers the lock headers to a caller allowed
    /// `s3:GetObjectRetention`), as every S3 implementation serves it.
    pub async fn retention(
        &self,
        key: &Path,
        version_id: Option<&str>,
    ) -> Result<Option<Retention>> {
        let full = self.key_of(key);
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&full)
            .set_version_id(version_id.map(str::to_string))
            .send()
            .await
            .map_err(|e| S3Error::call("HeadObject", &self.bucket, &full, e))?;
        Ok(retention_of(
            out.object_lock_mode().map(|m| m.as_str()),
            out.object_lock_retain_until_date(),
        ))
    }

    /// Sets the retention of `key` (its current version, or `version_id`). S3 allows extending
    /// a retention; shortening a governance one needs `bypass_governance`, a compliance one
    /// cannot be shortened.
    pub async fn set_retention(
        &self,
        key: &Path,
        version_id: Option<&str>,
        retention: Retention,
        bypass_governance: bool,
    ) -> Result<()> {
        let full = self.key_of(key);
        let mut req = self
            .client
            .put_object_retention()
            .bucket(&self.bucket)
            .key(&full)
            .set_version_id(version_id.map(str::to_string))
            .retention(
                ObjectLockRetention::builder()
                    .mode(retention.mode.sdk_retention())
                    .retain_until_date(to_sdk_time(retention.until))
                    .build(),
            );
        if bypass_governance {
            req = req.bypass_governance_retention(true);
        }
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| S3Error::call("PutObjectRetention", &self.bucket, &full, e))
    }

    /// Permanently deletes one version of `key` (without a version: adds a delete marker on a
    /// versioned bucket). Without `bypass_governance`, S3 refuses a version still under
    /// retention.
    pub async fn delete(
        &self,
        key: &Path,
        version_id: Option<&str>,
        bypass_governance: bool,
    ) -> Result<()> {
        let full = self.key_of(key);
        let mut req = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full)
            .set_version_id(version_id.map(str::to_string));
        if bypass_governance {
            req = req.bypass_governance_retention(true);
        }
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| S3Error::call("DeleteObject", &self.bucket, &full, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> BackendConfig {
        BackendConfig {
            url: url.into(),
            endpoint: Some("http://127.0.0.1:9".into()),
            allow_http: true,
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some(crate::secret::Secret::new("very-secret-key")),
            ..BackendConfig::default()
        }
    }

    #[test]
    fn only_s3_urls_get_a_client() {
        assert!(S3Native::from_config(&cfg("memory://")).unwrap().is_none());
        assert!(
            S3Native::from_config(&cfg("file:///tmp/x"))
                .unwrap()
                .is_none()
        );
        let s3 = S3Native::from_config(&cfg("s3://bkt/a/b/"))
            .unwrap()
            .unwrap();
        assert_eq!((s3.bucket(), s3.prefix()), ("bkt", "a/b"));
        let root = S3Native::from_config(&cfg("s3://bkt")).unwrap().unwrap();
        assert_eq!(root.prefix(), "");
        assert!(S3Native::from_config(&cfg("s3:///p")).is_err());
    }

    #[test]
    fn keys_translate_both_ways() {
        let s3 = S3Native::from_config(&cfg("s3://bkt/repo/one"))
            .unwrap()
            .unwrap();
        let k = Path::from("packs/ab/abcd");
        assert_eq!(s3.key_of(&k), "repo/one/packs/ab/abcd");
        assert_eq!(s3.path_of("repo/one/packs/ab/abcd"), Some(k.clone()));
        assert_eq!(s3.path_of("repo/onex/packs"), None);
        assert_eq!(s3.path_of("other/packs"), None);
        let root = S3Native::from_config(&cfg("s3://bkt")).unwrap().unwrap();
        assert_eq!(root.key_of(&k), "packs/ab/abcd");
        assert_eq!(root.path_of("packs/ab/abcd"), Some(k));
    }

    #[test]
    fn plain_http_needs_allow_http_and_errors_hide_secrets() {
        let mut c = cfg("s3://bkt/p");
        c.allow_http = false;
        let e = S3Native::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("allow_http"), "{e}");
        assert!(
            !e.contains("very-secret-key") && !e.contains("AKIDEXAMPLE"),
            "{e}"
        );
        let mut c = cfg("s3://bkt/p");
        c.secret_access_key = None;
        let e = S3Native::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("secret access key"), "{e}");
        assert!(!e.contains("AKIDEXAMPLE"), "{e}");
    }
}
