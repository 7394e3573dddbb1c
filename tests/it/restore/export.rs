//! Restore to a directory (issue 6): point-in-time export of one version, corrupt blobs, dry
//! runs, and the never-overwrite rules.

use std::collections::BTreeSet;

use imvault::catalog::FindQuery;
use imvault::imanage::api_read::SecurityTarget;
use imvault::imanage::model::{DocumentId, VersionId};
use imvault::jobs::JobState;
use imvault::restore::RestoreRequest;
use imvault::restore::export::{ITEMS, MANIFEST};
use imvault_sim::MutateRequest;

use crate::support::restore::*;

/// Done-when (1): back up, mutate (new versions, profile and ACL edits, deletes — the chosen
/// document itself gets a new version, a profile edit and is then deleted), back up again, then
/// export version 1 as of before the mutation and compare bytes, profile and ACL with what the
/// simulator served before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_version_one_as_of_before_the_mutation() {
    let env = backed_up(61).await;
    let cat = catalog(&env);
    let first = latest(&cat);
    // A document with versions 1 and 2 in the first snapshot.
    let hits = cat
        .find(&FindQuery {
            library: Some(library()),
            ..Default::default()
        })
        .unwrap();
    let doc: DocumentId = hits
        .iter()
        .map(|h| h.version.id.clone())
        .find(|v| v.version == 2 && hits.iter().any(|h| h.version.id == v.document.version(1)))
        .expect("a document with versions 1 and 2")
        .document;
    let v1: VersionId = doc.version(1);
    let client = env.client().await;
    let profile_before = client.document(&v1).await.unwrap();
    let acl_before = client
        .security(&SecurityTarget::Document(doc.clone()))
        .await
        .unwrap();
    let original = env.sim.version_bytes(&v1).unwrap();
    let between = chrono::Utc::now();
    assert!(first.row.time <= between);

    // Users work: the document changes, then is deleted; other changes all over the library.
    env.sim.mutate(&MutateRequest {
        new_versions: 10,
        profile_edits: 10,
        acl_edits: 10,
        deletes: 5,
        ..Default::default()
    });
    client
        .patch_document(
            &v1,
            &serde_json::json!({"comment": "edited later", "custom3": "XX"}),
        )
        .await
        .unwrap();
    client
        .create_version(
            &doc,
            &serde_json::json!({"doc_profile": {"name": "overwritten", "comment": "v3"}}),
            &imvault::imanage::api_write::Upload::from_bytes(
                "x.txt",
                bytes::Bytes::from_static(b"new"),
            ),
        )
        .await
        .unwrap();
    client.delete_document(&doc).await.unwrap();
    backup(&env).await;
    let cat = catalog(&env);
    assert_ne!(
        latest(&cat).row.id,
        first.row.id,
        "a second snapshot exists"
    );

    let out_dir = env.dir.path().join("export");
    let out = cli(
        &env,
        &[
            "restore",
            "--document",
            &doc.to_string(),
            "--version",
            "1",
            "--at",
            &between.to_rfc3339(),
            "--to",
            out_dir.to_str().unwrap(),
            "--json",
        ],
    );
    assert_exit(&out, 0);
    let report = json_of(&out);
    assert_eq!(report["snapshot"], first.row.id.to_hex(), "{report}");
    assert_eq!(report["versions"], 1);
    assert_eq!(report["failed"], 0);
    assert_eq!(report["bytes"], original.len() as u64);
    let path = std::path::PathBuf::from(report["items"][0]["restored_as"].as_str().unwrap());
    assert!(path.starts_with(&out_dir));
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.contains(&format!("(doc {} v 1)", doc.number)),
        "{name}"
    );
    assert!(
        std::fs::read(&path).unwrap() == original,
        "restored bytes differ"
    );

    // The sidecar holds the profile exactly as served before the mutation, filings and ACL.
    let sidecar_name = imvault::restore::names::sidecar_file(&profile_before.name, doc.number);
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path.parent().unwrap().join(sidecar_name)).unwrap())
            .unwrap();
    assert_eq!(sidecar["document"], doc.to_string());
    assert_eq!(
        sidecar["versions"][0]["profile"],
        serde_json::Value::Object(profile_before.raw.clone())
    );
    let acl: imvault::imanage::model::Acl = serde_json::from_value(sidecar["acl"].clone()).unwrap();
    assert_eq!(acl.normalized(), acl_before.normalized());
    assert!(!sidecar["filings"].as_array().unwrap().is_empty());

    // The whole library as of the same time: its plan carries the profiles as unparsed text
    // (a document restore's parses them), and every sidecar prints each version's own profile.
    let lib_dir = env.dir.path().join("export-library");
    let out = cli(
        &env,
        &[
            "restore",
            "--library",
            library().as_str(),
            "--at",
            &between.to_rfc3339(),
            "--to",
            lib_dir.to_str().unwrap(),
            "--json",
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(json_of(&out)["failed"], 0);
    let mut sidecars = 0;
    let mut found = None;
    for entry in walkdir(&lib_dir) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(").imvault.json") || !name.contains("(doc ") {
            continue;
        }
        let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
        let number = s["document"]
            .as_str()
            .unwrap()
            .rsplit('!')
            .next()
            .unwrap()
            .to_string();
        for v in s["versions"].as_array().unwrap() {
            let p = &v["profile"];
            assert_eq!(
                p["document_number"].to_string(),
                number,
                "{}",
                entry.display()
            );
            assert_eq!(p["version"], v["version"], "{}", entry.display());
            assert!(p.as_object().unwrap().len() > 10, "{}", entry.display());
        }
        if s["document"] == doc.to_string() {
            found = Some(s);
        }
        sidecars += 1;
    }
    assert!(sidecars > 10, "{sidecars} document sidecars");
    let found = found.expect("the document's sidecar in the library export");
    assert_eq!(
        found["versions"][0]["profile"],
        serde_json::Value::Object(profile_before.raw.clone())
    );

    // Manifest and item list at the top.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join(MANIFEST)).unwrap()).unwrap();
    assert_eq!(manifest["snapshot"], first.row.id.to_hex());
    let items = std::fs::read_to_string(out_dir.join(ITEMS)).unwrap();
    assert_eq!(items.lines().count(), 1);
    assert!(items.contains("\"restored\""), "{items}");
    // The directories follow the workspace/folder path of its first filing.
    let rel = path.strip_prefix(&out_dir).unwrap();
    assert!(rel.components().count() >= 3, "{}", rel.display());
}

/// Done-when (4): one corrupt blob fails exactly the versions that use it, naming them; every
/// other version is restored byte for byte; no partial or temporary file is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_blob_fails_its_versions_and_the_rest_is_restored() {
    let env = backed_up(62).await;
    let cat = catalog(&env);
    let snap = latest(&cat);
    let plan = folder_with_subfolders(&cat, &snap, 3);
    let repo = env.repo().await;
    // A blob used by one document only (templates are shared across documents).
    let content = |v: &imvault::catalog::VersionRow| -> imvault::repo::ContentRef {
        serde_json::from_value(v.content.clone()).unwrap()
    };
    let mut victim = None;
    'outer: for d in &plan.documents {
        for v in &d.versions {
            for b in content(v).blobs {
                let users: BTreeSet<DocumentId> = plan
                    .documents
                    .iter()
                    .filter(|o| o.versions.iter().any(|ov| content(ov).blobs.contains(&b)))
                    .map(|o| o.id.clone())
                    .collect();
                if users.len() == 1 {
                    victim = Some(b);
                    break 'outer;
                }
            }
        }
    }
    let blob = victim.expect("a blob of one document");
    let expected_failed: BTreeSet<String> = plan
        .documents
        .iter()
        .flat_map(|d| d.versions.iter())
        .filter(|v| content(v).blobs.contains(&blob))
        .map(|v| v.id.to_string())
        .collect();
    let loc = repo.index().get(&blob).unwrap();
    let hex = loc.pack.to_hex();
    let pack = env.dir.path().join("repo/packs").join(&hex[..2]).join(&hex);
    let mut bytes = std::fs::read(&pack).unwrap();
    let at = loc.offset as usize + loc.stored_len as usize / 2;
    bytes[at] ^= 0x5a;
    std::fs::write(&pack, &bytes).unwrap();

    let out_dir = env.dir.path().join("export");
    let root = plan.containers[0].id.clone();
    let report = run_restore(
        &env,
        &RestoreRequest {
            folder: Some(root.clone()),
            to: Some(out_dir.clone()),
            ..Default::default()
        },
        None,
    )
    .await
    .expect("the restore runs to the end");
    assert_eq!(report.state, JobState::CompletedWithWarnings);
    let failed: BTreeSet<String> = report.failures.iter().map(|f| f.object.clone()).collect();
    assert_eq!(failed, expected_failed, "{:#?}", report.failures);
    for f in &report.failures {
        assert!(
            f.error.contains(&blob.to_string()) || f.error.contains(&hex),
            "the error names the blob or pack: {f:?}"
        );
    }
    let total: usize = plan.documents.iter().map(|d| d.versions.len()).sum();
    assert_eq!(report.versions as usize, total - expected_failed.len());
    let files = files_under(&out_dir);
    assert!(
        !files
            .iter()
            .any(|f| f.to_string_lossy().contains("imvault-tmp")),
        "a temporary file was left: {files:?}"
    );
    for d in &plan.documents {
        for v in &d.versions {
            let marker = format!("(doc {} v {})", d.id.number, v.id.version);
            let found: Vec<_> = files
                .iter()
                .filter(|f| f.file_name().unwrap().to_string_lossy().contains(&marker))
                .collect();
            if expected_failed.contains(&v.id.to_string()) {
                assert!(
                    found.is_empty(),
                    "{} was written despite its corrupt blob",
                    v.id
                );
            } else {
                assert_eq!(found.len(), 1, "{} written once: {found:?}", v.id);
                let got = std::fs::read(out_dir.join(found[0])).unwrap();
                assert!(
                    got == env.sim.version_bytes(&v.id).unwrap(),
                    "{} bytes",
                    v.id
                );
            }
        }
    }
    // The item list reports the failures too.
    let items = std::fs::read_to_string(out_dir.join(ITEMS)).unwrap();
    assert_eq!(
        items.lines().filter(|l| l.contains("\"failed\"")).count(),
        expected_failed.len()
    );
}

/// Done-when (5), export side: a dry run reports what it would restore and creates nothing.
/// Also: a non-empty target is refused without --merge; with --merge nothing is overwritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing_and_existing_files_are_never_overwritten() {
    let env = backed_up(63).await;
    let cat = catalog(&env);
    let snap = latest(&cat);
    let plan = folder_with_subfolders(&cat, &snap, 2);
    let root = plan.containers[0].id.to_string();
    let total: usize = plan.documents.iter().map(|d| d.versions.len()).sum();

    let out_dir = env.dir.path().join("dry");
    let out = cli(
        &env,
        &[
            "restore",
            "--folder",
            &root,
            "--to",
            out_dir.to_str().unwrap(),
            "--dry-run",
            "--json",
        ],
    );
    assert_exit(&out, 0);
    let r = json_of(&out);
    assert_eq!(r["dry_run"], true);
    assert_eq!(r["versions"], total as u64);
    assert!(!out_dir.exists(), "a dry run created the target");

    // A real export, then the same again: refused as non-empty, and with --merge every file is
    // reported as existing and left alone.
    let out = cli(
        &env,
        &[
            "restore",
            "--folder",
            &root,
            "--to",
            out_dir.to_str().unwrap(),
            "--json",
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(json_of(&out)["versions"], total as u64);
    let some_file = files_under(&out_dir)
        .into_iter()
        .find(|f| f.to_string_lossy().contains("(doc "))
        .unwrap();
    std::fs::write(out_dir.join(&some_file), b"operator's own edit").unwrap();
    let before = files_under(&out_dir);

    let out = cli(
        &env,
        &[
            "restore",
            "--folder",
            &root,
            "--to",
            out_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(
        &env,
        &[
            "restore",
            "--folder",
            &root,
            "--to",
            out_dir.to_str().unwrap(),
            "--merge",
            "--json",
        ],
    );
    assert_exit(&out, 0);
    let r = json_of(&out);
    assert_eq!(r["versions"], 0);
    assert_eq!(r["unchanged"], total as u64);
    assert_eq!(
        std::fs::read(out_dir.join(&some_file)).unwrap(),
        b"operator's own edit",
        "an existing file was overwritten"
    );
    // Only a second manifest and item list were added.
    let after = files_under(&out_dir);
    let added: Vec<_> = after.iter().filter(|f| !before.contains(f)).collect();
    assert_eq!(added.len(), 2, "{added:?}");
    assert!(
        added
            .iter()
            .all(|f| f.to_string_lossy().starts_with("imvault-restore-"))
    );
}

/// `--library`: every version of every filed document of the snapshot is exported, one unit per
/// workspace, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_export_holds_every_version() {
    let env = backed_up(64).await;
    let cat = catalog(&env);
    let lib: imvault::imanage::model::LibraryId = "ARCHIVE".parse().unwrap();
    let snap = cat.latest_snapshot(&lib).unwrap().unwrap();
    let mut expected = BTreeSet::new();
    for ws in cat.children(&snap.row.id, None).unwrap().containers {
        for d in cat
            .subtree(&snap.row.id, &ws.id)
            .unwrap()
            .unwrap()
            .documents
        {
            for v in d.versions {
                expected.insert(v.id.to_string());
            }
        }
    }
    assert!(expected.len() >= 5);
    let out_dir = env.dir.path().join("lib");
    let req = RestoreRequest {
        library: Some(lib.clone()),
        to: Some(out_dir.clone()),
        ..Default::default()
    };
    // Cancelled before its first unit: nothing restored, and no empty item list left behind
    // (which would make the same command, without --merge, find its target "not empty").
    let cancelled = tokio_util::sync::CancellationToken::new();
    cancelled.cancel();
    let r = run_restore_until(&env, &req, None, cancelled).await;
    assert!(
        matches!(r, Err(imvault::restore::RestoreError::Cancelled)),
        "{r:?}"
    );
    assert!(!out_dir.join(ITEMS).exists());
    let report = run_restore(&env, &req, None).await.unwrap();
    assert_eq!(report.state, JobState::Completed, "{report:#?}");
    let restored: BTreeSet<String> = report.items.iter().map(|i| i.version.clone()).collect();
    assert_eq!(restored, expected);
    for i in &report.items {
        let v: VersionId = i.version.parse().unwrap();
        assert!(
            std::fs::read(&i.restored_as).unwrap() == env.sim.version_bytes(&v).unwrap(),
            "{v}"
        );
    }
    let top: BTreeSet<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        top.len(),
        cat.children(&snap.row.id, None).unwrap().containers.len(),
        "one directory per workspace: {top:?}"
    );
}

/// Issue 18: an export never follows a symbolic link planted in its target. A merge into a
/// directory where a folder's directory is a link out of the tree writes nothing outside it;
/// that folder fails naming the link, and the rest of the export is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_never_follows_a_link_planted_in_its_target() {
    let env = backed_up(74).await;
    let request = |to: std::path::PathBuf, merge: bool| RestoreRequest {
        library: Some(library()),
        to: Some(to),
        merge,
        ..Default::default()
    };
    let subdirs = |d: &std::path::Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_dir())
            .map(|e| e.file_name())
            .collect();
        v.sort();
        v
    };
    // A first export shows the directories' names.
    let first = env.dir.path().join("first");
    let report = run_restore(&env, &request(first.clone(), false), None)
        .await
        .unwrap();
    assert_eq!(report.state, JobState::Completed, "{report:#?}");
    let ws = subdirs(&first).into_iter().next().expect("a workspace");
    let folders = subdirs(&first.join(&ws));
    assert!(folders.len() >= 2, "{folders:?}");

    let (out, outside) = (
        env.dir.path().join("export"),
        env.dir.path().join("outside"),
    );
    std::fs::create_dir_all(out.join(&ws)).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    // The first folder's directory is a link out of the tree.
    std::os::unix::fs::symlink(&outside, out.join(&ws).join(&folders[0])).unwrap();
    let report = run_restore(&env, &request(out.clone(), true), None)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "the export wrote through the link"
    );
    assert_ne!(report.state, JobState::Completed, "{report:#?}");
    let linked = folders[0].to_string_lossy();
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.action.contains(&*linked) && f.error.contains("symbolic link")),
        "{:#?}",
        report.failures
    );
    // The other folders are exported as before.
    for f in &folders[1..] {
        let (a, b) = (out.join(&ws).join(f), first.join(&ws).join(f));
        assert!(a.is_dir(), "{f:?}");
        assert_eq!(files_under(&a).len(), files_under(&b).len(), "{f:?}");
    }
}

/// Every file under `dir`, recursively.
fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}
