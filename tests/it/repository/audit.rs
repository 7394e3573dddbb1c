//! The audit trail in the repository (issue 16): records are sealed, create-only, one hash
//! chain per writer; tampering with one record (a byte, a deletion, a reordering) is found by
//! the chain check naming it; a failed audit write stops the action before it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use imvault::audit::chain::record_key;
use imvault::audit::verify::{ChainProblemKind, verify_chains};
use imvault::audit::{Action, Actor, Auditor, EntryOutcome, Figures, Filter, Outcome};
use imvault::repo::{BackendConfig, Objects, Repository, open_backend};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::support::repo::{FaultyStore, key, small_init};

const WRITER: &str = "00112233445566778899aabbccddeeff";

async fn objects_in(store: Arc<dyn ObjectStore>) -> Objects {
    Repository::init(store, small_init(), key())
        .await
        .unwrap()
        .objects()
        .clone()
}

fn auditor(objects: &Objects, state: Option<&std::path::Path>, who: &str) -> Auditor {
    Auditor::new(
        objects.clone(),
        WRITER.into(),
        Actor::User {
            name: who.into(),
            uid: Some(1000),
        },
        "host-a".into(),
        state.map(|p| p.join("audit-head.json")),
    )
}

fn prune() -> Action {
    Action::Prune {
        max_repack_percent: 10.0,
        grace_secs: 0,
    }
}

/// `n` actions (2n records: started, finished) by one writer.
async fn chain_of(objects: &Objects, state: Option<&std::path::Path>, n: u64) {
    let a = auditor(objects, state, "alice");
    for i in 0..n {
        let r: Result<u64, String> = a
            .run(prune(), async { Ok(i) }, |_| Figures::default())
            .await
            .unwrap();
        assert_eq!(r, Ok(i));
    }
}

async fn local_objects() -> (tempfile::TempDir, Arc<dyn ObjectStore>, Objects) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_backend(&BackendConfig::local(dir.path().join("repo"))).unwrap();
    let objects = objects_in(store.clone()).await;
    (dir, store, objects)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_chain_and_list_as_one_entry_per_action() {
    let (_dir, store, objects) = local_objects().await;
    let a = auditor(&objects, None, "alice");
    let ok: Result<(), String> = a
        .run(prune(), async { Ok(()) }, |_| Figures {
            bytes: Some(7),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(ok.is_ok());
    let failed: Result<(), String> = a
        .as_actor(Actor::Token { name: "ops".into() })
        .run(
            Action::KeyRemove {
                slot: "ab12".into(),
            },
            async { Err("refused: the last slot".to_string()) },
            |_| Figures::default(),
        )
        .await
        .unwrap();
    assert!(failed.is_err());
    // One started without an outcome (the process died).
    let _pending = a
        .start(Action::Init {
            url: "file:///r".into(),
            encrypted: true,
        })
        .await
        .unwrap();

    let keys: Vec<String> = imvault::repo::backend::list(store.as_ref(), &"audit".into())
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.location.to_string())
        .collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    assert!(
        keys.contains(&format!("audit/{WRITER}/0000000000000001")),
        "{keys:?}"
    );

    let all = imvault::audit::query::list(&objects, &Filter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].outcome, EntryOutcome::Ok);
    assert_eq!(all[0].figures.bytes, Some(7));
    assert_eq!(all[0].actor.name(), "alice");
    assert_eq!(all[1].outcome, EntryOutcome::Failed);
    assert_eq!(all[1].message.as_deref(), Some("refused: the last slot"));
    assert_eq!(all[1].actor, Actor::Token { name: "ops".into() });
    assert_eq!(all[2].outcome, EntryOutcome::Unknown);
    let by_ops = imvault::audit::query::list(
        &objects,
        &Filter {
            actor: Some("ops".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(by_ops.len(), 1);
    assert_eq!(by_ops[0].action, imvault::audit::ActionKind::KeyRemove);
    let later = imvault::audit::query::list(
        &objects,
        &Filter {
            since: Some(all[1].time),
            action: Some(imvault::audit::ActionKind::Init),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(later.len(), 1);
    let report = verify_chains(&objects, None).await.unwrap();
    assert_eq!((report.writers, report.records), (1, 5));
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// A byte edited in one record: it fails authentication, named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_record_is_named_by_verify() {
    let (_dir, store, objects) = local_objects().await;
    chain_of(&objects, None, 3).await;
    let k = record_key(WRITER, 3);
    let mut bytes = store.get(&k).await.unwrap().bytes().await.unwrap().to_vec();
    bytes[20] ^= 1;
    store.put(&k, PutPayload::from(bytes)).await.unwrap();
    let r = verify_chains(&objects, None).await.unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    let p = &r.problems[0];
    assert_eq!(p.kind, ChainProblemKind::Record);
    assert_eq!(p.object, k.to_string());
    assert!(p.detail.contains("failed authentication"), "{}", p.detail);
}

/// A middle record deleted: the chain break names the writer and the missing seq.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_record_breaks_the_chain_naming_writer_and_seq() {
    let (_dir, store, objects) = local_objects().await;
    chain_of(&objects, None, 3).await;
    store.delete(&record_key(WRITER, 4)).await.unwrap();
    let r = verify_chains(&objects, None).await.unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    let p = &r.problems[0];
    assert_eq!(p.kind, ChainProblemKind::Chain);
    assert!(
        p.detail.contains(WRITER) && p.detail.contains("record 4 missing"),
        "{}",
        p.detail
    );

    // Deleted and the later ones renamed down to close the gap: each moved one is named.
    let (_dir, store, objects) = local_objects().await;
    chain_of(&objects, None, 3).await;
    for seq in 4..6 {
        let next = store
            .get(&record_key(WRITER, seq + 1))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        store
            .put(&record_key(WRITER, seq), PutPayload::from(next))
            .await
            .unwrap();
    }
    store.delete(&record_key(WRITER, 6)).await.unwrap();
    let r = verify_chains(&objects, None).await.unwrap();
    let named: Vec<&str> = r.problems.iter().map(|p| p.object.as_str()).collect();
    assert!(named.contains(&record_key(WRITER, 4).as_ref()), "{named:?}");
    assert!(named.contains(&record_key(WRITER, 5).as_ref()), "{named:?}");
    assert!(
        r.problems
            .iter()
            .all(|p| p.detail.contains("moved or renamed")),
        "{:?}",
        r.problems
    );
}

/// Two records swapped: both are named (each sits under the other's name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_records_are_named() {
    let (_dir, store, objects) = local_objects().await;
    chain_of(&objects, None, 2).await;
    let (k2, k3) = (record_key(WRITER, 2), record_key(WRITER, 3));
    let b2 = store.get(&k2).await.unwrap().bytes().await.unwrap();
    let b3 = store.get(&k3).await.unwrap().bytes().await.unwrap();
    store.put(&k2, PutPayload::from(b3)).await.unwrap();
    store.put(&k3, PutPayload::from(b2)).await.unwrap();
    let r = verify_chains(&objects, None).await.unwrap();
    let named: Vec<&str> = r.problems.iter().map(|p| p.object.as_str()).collect();
    assert_eq!(named, vec![k2.as_ref(), k3.as_ref()], "{:?}", r.problems);
}

/// The last record deleted: the chain alone cannot tell; the writing host's state directory
/// remembers its last seq, and verify there names the loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_last_record_is_found_by_the_writing_hosts_head() {
    let (dir, store, objects) = local_objects().await;
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    chain_of(&objects, Some(&state), 2).await;
    store.delete(&record_key(WRITER, 4)).await.unwrap();
    assert!(
        verify_chains(&objects, None)
            .await
            .unwrap()
            .problems
            .is_empty(),
        "undetectable by the chain alone"
    );
    let (w, head) = imvault::audit::auditor::local_head(&state.join("audit-head.json")).unwrap();
    assert_eq!((w.as_str(), head.seq), (WRITER, 4));
    let r = verify_chains(&objects, Some((&w, head))).await.unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(
        r.problems[0].detail.contains("up to 4") && r.problems[0].detail.contains("last is 3"),
        "{}",
        r.problems[0].detail
    );
}

/// Two processes of one writer (the command line and the daemon of one host) appending at once:
/// the create-only write gives each seq to one of them, the other reads the tail again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_of_one_chain_never_overwrite() {
    let (_dir, _store, objects) = local_objects().await;
    two_writers_append_at_once(objects).await;
}

/// The same on S3 (moto): the conditional PUT (`If-None-Match: *`) gives each seq to one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_of_one_chain_never_overwrite_on_s3() {
    let Some(cfg) = crate::support::s3::s3_backend("audit-chain").await else {
        return;
    };
    let objects = objects_in(open_backend(&cfg).unwrap()).await;
    two_writers_append_at_once(objects).await;
}

async fn two_writers_append_at_once(objects: Objects) {
    let (a, b) = (
        auditor(&objects, None, "alice"),
        auditor(&objects, None, "bob"),
    );
    let work = |x: Auditor| async move {
        for _ in 0..6 {
            let _: Result<(), String> = x
                .run(prune(), async { Ok(()) }, |_| Figures::default())
                .await
                .unwrap();
        }
    };
    futures::join!(work(a), work(b));
    let r = verify_chains(&objects, None).await.unwrap();
    assert_eq!(r.records, 24);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    let all = imvault::audit::query::list(&objects, &Filter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 12);
    assert!(all.iter().all(|e| e.outcome == EntryOutcome::Ok));
}

/// A store that refuses audit writes: the action does not run, the failure is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_audit_write_stops_the_action_before_it_runs() {
    let faulty = FaultyStore::new(Arc::new(object_store::memory::InMemory::new()));
    let objects = objects_in(faulty.clone()).await;
    faulty.fail_puts_under("audit/");
    let a = auditor(&objects, None, "alice");
    let ran = AtomicBool::new(false);
    let r = a
        .run(
            prune(),
            async {
                ran.store(true, Ordering::SeqCst);
                Ok::<(), String>(())
            },
            |_| Figures::default(),
        )
        .await;
    let e = r.unwrap_err();
    assert!(!ran.load(Ordering::SeqCst), "the action ran unrecorded");
    assert!(imvault::repo::error_chain(&e).contains("audit/"), "{e}");
    assert_eq!(a.failures(), 1);
    // Healed: the next action is recorded as the chain's first record.
    faulty.heal();
    a.start(prune())
        .await
        .unwrap()
        .finish(Outcome::Ok, Figures::default())
        .await
        .unwrap();
    assert_eq!(verify_chains(&objects, None).await.unwrap().records, 2);
}

/// A format 1 repository is read-only in this release: it has no trail, and the restores that
/// still run on it are not refused for want of one (nothing is written into it).
#[tokio::test]
async fn a_format_1_repository_has_no_trail_and_still_restores() {
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let objects = Objects::new(store.clone(), imvault::repo::Crypto::plaintext(), 1);
    let a = auditor(&objects, None, "alice");
    let ran = AtomicBool::new(false);
    let r = a
        .run(
            Action::Restore {
                what: "document ACTIVE!1".into(),
                library: Some("ACTIVE".into()),
                at: None,
                snapshot: None,
                target: imvault::audit::RestoreTarget::Directory {
                    path: "/tmp/x".into(),
                },
            },
            async {
                ran.store(true, Ordering::SeqCst);
                Ok::<(), String>(())
            },
            |_| Figures::default(),
        )
        .await
        .unwrap();
    assert!(r.is_ok() && ran.load(Ordering::SeqCst));
    assert_eq!(a.failures(), 0);
    let written = imvault::repo::backend::list(store.as_ref(), &"".into())
        .await
        .unwrap();
    assert!(written.is_empty(), "nothing written: {written:?}");
}
