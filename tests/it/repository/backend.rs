//! One conformance suite for every repository backend: memory, local directory and S3.

use std::sync::Arc;

use bytes::Bytes;
use imvault::repo::backend::{self, keys};
use imvault::repo::reader;
use imvault::repo::*;
use object_store::ObjectStore;
use object_store::path::Path;

use crate::support::s3::s3_backend;

/// What the repository needs from a backend.
pub async fn backend_conformance(store: Arc<dyn ObjectStore>) {
    let s = store.as_ref();
    let pid = PackId::of(b"pack bytes");
    let key = keys::pack(&pid);
    assert_eq!(
        key.to_string(),
        format!("packs/{}/{}", &pid.to_hex()[..2], pid.to_hex())
    );

    // Content-addressed create: a second PUT of the same name is success and changes nothing.
    backend::put_content_addressed(s, &key, Bytes::from_static(b"pack bytes"))
        .await
        .unwrap();
    backend::put_content_addressed(s, &key, Bytes::from_static(b"other"))
        .await
        .unwrap();
    assert_eq!(
        backend::get(s, &key).await.unwrap(),
        Bytes::from_static(b"pack bytes")
    );

    // Plain create refuses an existing object.
    let err = backend::put_create(s, &key, Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RepoError::Put {
                source: object_store::Error::AlreadyExists { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(&key.to_string()));

    // Ranged reads (the repository's one range reader), exact length.
    assert_eq!(
        reader::read_range(s, &key, 5, 5).await.unwrap(),
        Bytes::from_static(b"bytes")
    );
    assert_eq!(
        reader::read_range(s, &key, 0, 0).await.unwrap(),
        Bytes::new()
    );

    // Missing objects are named.
    let missing = Path::from("index/0000");
    let err = backend::get(s, &missing).await.unwrap_err();
    assert!(matches!(err, RepoError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("index/0000"), "{err}");

    // Recursive listing under a prefix.
    let sid = SnapshotId::of(b"snap");
    backend::put_content_addressed(s, &keys::snapshot(&sid), Bytes::from_static(b"{}"))
        .await
        .unwrap();
    let packs = backend::list(s, &Path::from(keys::PACKS)).await.unwrap();
    assert_eq!(packs.len(), 1);
    assert_eq!(packs[0].location, key);
    assert_eq!(packs[0].size, 10);
    let snaps = backend::list(s, &Path::from(keys::SNAPSHOTS))
        .await
        .unwrap();
    assert_eq!(snaps.len(), 1);
    assert!(
        backend::list(s, &Path::from(keys::INDEX))
            .await
            .unwrap()
            .is_empty()
    );

    // Checkpoint keys keep an odd library name in one segment.
    let ck = keys::checkpoint("LIB/1 x", "n");
    assert_eq!(ck.parts().count(), 3);
}

#[tokio::test]
async fn conformance_memory() {
    let store = open_backend(&BackendConfig {
        url: "memory://".into(),
        ..Default::default()
    })
    .unwrap();
    backend_conformance(store).await;
}

#[tokio::test]
async fn conformance_local_dir() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_backend(&BackendConfig::local(dir.path().join("repo"))).unwrap();
    backend_conformance(store).await;
    assert!(dir.path().join("repo/packs").is_dir());
}

#[tokio::test]
async fn conformance_s3() {
    let Some(cfg) = s3_backend("conf").await else {
        return;
    };
    backend_conformance(open_backend(&cfg).unwrap()).await;
}

#[test]
fn bad_backend_urls_are_named() {
    let err = open_backend(&BackendConfig {
        url: "ftp://host/x".into(),
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("ftp://host/x"), "{err}");
    let err = open_backend(&BackendConfig {
        url: "s3:///prefix".into(),
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("no bucket"), "{err}");
}

#[test]
fn backend_config_debug_hides_secrets() {
    let mut cfg = crate::support::s3::s3_config("http://127.0.0.1:1", "b", "p");
    cfg.secret_access_key = Some(imvault::secret::Secret::new("s3cr3t-value"));
    cfg.session_token = Some(imvault::secret::Secret::new("t0ken-value"));
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("s3cr3t") && !dbg.contains("t0ken"), "{dbg}");
    assert!(dbg.contains("***"));
}

/// Issue 18: a storage error names each cause once (object_store and reqwest repeat their
/// sources in their own messages; the line used to carry the same chain three or four times).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_error_names_each_cause_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = BackendConfig {
        url: "s3://bucket/prefix".into(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: Some("us-east-1".into()),
        allow_http: true,
        access_key_id: Some("testing".into()),
        secret_access_key: Some(imvault::secret::Secret::new("testing")),
        session_token: None,
        outage_wait_secs: Some(0),
        object_lock: None,
        ..BackendConfig::default()
    };
    let store = open_backend(&cfg).unwrap();
    let e = Repository::open(store, crate::support::repo::key())
        .await
        .unwrap_err();
    let line = imvault::repo::error_chain(&e);
    for part in [
        "error sending request",
        "Connection refused",
        "Error performing GET",
    ] {
        assert_eq!(line.matches(part).count(), 1, "{part:?} once in: {line}");
    }
    assert!(line.starts_with("reading object `config` failed"), "{line}");
}
