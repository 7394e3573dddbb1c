//! The native S3 client (`imvault::repo::s3_native`, issue 15) against moto: the bucket
//! settings Object Lock needs (versioning, Object Lock configuration), PUTs with a
//! retain-until date, retention read and extended, and errors naming operation, bucket and key.

use bytes::Bytes;
use chrono::{Duration, Utc};
use imvault::repo::s3_native::{LockMode, Retention, S3Native, Versioning};
use object_store::path::Path;

use crate::support::s3::{s3_backend, s3_locked_backend, s3_versioned_backend};

#[tokio::test]
async fn bucket_settings_are_read_as_they_are() {
    let Some(plain) = s3_backend("repo").await else {
        return;
    };
    let s3 = S3Native::from_config(&plain)
        .unwrap()
        .expect("an s3:// url");
    assert_eq!(s3.prefix(), "repo");
    assert_eq!(s3.versioning().await.unwrap(), Versioning::Off);
    assert!(!s3.bucket_lock().await.unwrap().enabled);

    let versioned = s3_versioned_backend("repo").await.unwrap();
    let s3 = S3Native::from_config(&versioned).unwrap().unwrap();
    assert_eq!(s3.versioning().await.unwrap(), Versioning::Enabled);
    assert!(!s3.bucket_lock().await.unwrap().enabled);

    let locked = s3_locked_backend("repo").await.unwrap();
    let s3 = S3Native::from_config(&locked).unwrap().unwrap();
    assert_eq!(s3.versioning().await.unwrap(), Versioning::Enabled);
    assert!(s3.bucket_lock().await.unwrap().enabled);
}

#[tokio::test]
async fn a_locked_put_carries_its_retention_and_cannot_be_deleted_by_version() {
    let Some(cfg) = s3_locked_backend("a/b").await else {
        return;
    };
    let s3 = S3Native::from_config(&cfg).unwrap().unwrap();
    let key = Path::from("packs/00/0011");
    let until = Utc::now() + Duration::days(2);
    let r = Retention {
        mode: LockMode::Governance,
        until,
    };
    let put = s3
        .put(&key, Bytes::from_static(b"pack bytes"), true, Some(r))
        .await
        .unwrap()
        .expect("the key was free");
    let version = put
        .version_id
        .clone()
        .expect("a versioned bucket names the version");
    // A second create-only PUT finds the key taken and stores nothing.
    let again = s3
        .put(&key, Bytes::from_static(b"other bytes"), true, Some(r))
        .await
        .unwrap();
    assert_eq!(again, None);

    let head = s3.head(&key).await.unwrap().expect("stored");
    assert_eq!(head.size, 10);
    assert_eq!(head.version_id.as_deref(), Some(version.as_str()));
    let got = s3
        .retention(&key, None)
        .await
        .unwrap()
        .expect("a retention");
    assert_eq!(got.mode, LockMode::Governance);
    assert!(
        (got.until - until).num_seconds().abs() <= 1,
        "retain-until {} vs {until}",
        got.until
    );

    // The version cannot be deleted while retained (governance, no bypass).
    let err = s3.delete(&key, Some(&version), false).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("DeleteObject"), "{text}");
    assert!(
        text.contains(&format!("{}/a/b/packs/00/0011", s3.bucket())),
        "{text}"
    );
    assert!(!text.contains("testing"), "no credential in errors: {text}");
    assert!(s3.head(&key).await.unwrap().is_some(), "still there");

    // Extending the retention is allowed, and read back.
    let later = Retention {
        mode: LockMode::Governance,
        until: until + Duration::days(3),
    };
    s3.set_retention(&key, None, later, false).await.unwrap();
    let got = s3.retention(&key, None).await.unwrap().unwrap();
    assert!(
        (got.until - later.until).num_seconds().abs() <= 1,
        "{:?}",
        got
    );
}

#[tokio::test]
async fn an_unknown_bucket_is_named_in_the_error() {
    let Some(mut cfg) = s3_backend("p").await else {
        return;
    };
    cfg.url = "s3://imvault-no-such-bucket-here/p".into();
    let s3 = S3Native::from_config(&cfg).unwrap().unwrap();
    let e = s3.versioning().await.unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    let text = e.to_string();
    assert!(text.contains("GetBucketVersioning"), "{text}");
    assert!(text.contains("imvault-no-such-bucket-here"), "{text}");
}
