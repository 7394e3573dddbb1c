//! Restore into iManage (issue 6): a deleted folder back into its original place, a document
//! into another folder, an existing document getting a restored version, and a dry run that
//! writes nothing. Everything is checked through the simulator's API.

use std::collections::BTreeMap;

use imvault::catalog::{ContainerRow, PlannedDocument};
use imvault::imanage::api_read::SecurityTarget;
use imvault::imanage::model::{Acl, Container, ContainerId, ContainerKind, DocumentVersion};
use imvault::imanage::{Client, Listing, PageState};
use imvault::jobs::JobState;
use imvault::restore::into_imanage::restored_comment;
use imvault::restore::{AclMode, IntoPlace, RestoreRequest};
use imvault_sim::{MutateRequest, SimStats};

use crate::support::restore::*;

/// Live children of a workspace or folder: containers and documents (latest version each).
async fn children(
    client: &Client,
    c: &ContainerId,
    workspace: bool,
) -> (Vec<Container>, Vec<DocumentVersion>) {
    let listing = if workspace {
        Listing::WorkspaceChildren(c.clone())
    } else {
        Listing::FolderChildren(c.clone())
    };
    let mut state = PageState::default();
    let (mut cs, mut ds) = (Vec::new(), Vec::new());
    while !state.is_done() {
        for row in client.next_page(&listing, &mut state).await.unwrap() {
            if row["wstype"] == "folder" || row["wstype"] == "workspace" {
                cs.push(Container::from_json(row).unwrap());
            } else {
                ds.push(DocumentVersion::from_json(row).unwrap());
            }
        }
    }
    (cs, ds)
}

/// An ACL without display names (the API adds them; they are not part of what is restored).
fn acl_key(a: &Acl) -> Acl {
    let mut a = a.clone().normalized();
    for e in &mut a.entries {
        e.name = None;
    }
    a
}

const PROFILE_KEYS: &[&str] = &[
    "name",
    "extension",
    "author",
    "operator",
    "class",
    "subclass",
    "custom1",
    "custom2",
    "custom3",
    "file_create_date",
    "file_edit_date",
    "subject",
    "from",
    "to",
];

/// Checks that `doc` (as in the snapshot) was recreated as `live`: every version in order with
/// the same bytes, the restorable profile fields, the restore comment and (with `acl`) the ACL.
async fn assert_document_restored(
    env: &crate::support::env::TestEnv,
    client: &Client,
    doc: &PlannedDocument,
    live: &DocumentVersion,
    snapshot_time: chrono::DateTime<chrono::Utc>,
    acl: bool,
) {
    let versions = client.document_versions(live.document_id()).await.unwrap();
    assert_eq!(
        versions.len(),
        doc.versions.len(),
        "versions of {} (now {})",
        doc.id,
        live.id
    );
    for (old, new) in doc.versions.iter().zip(&versions) {
        let want = env.sim.version_bytes(&old.id).unwrap();
        let got = env.sim.version_bytes(&new.id).unwrap();
        assert!(
            got == want,
            "{} restored as {}: bytes differ",
            old.id,
            new.id
        );
        for k in PROFILE_KEYS {
            assert_eq!(
                old.profile.get(*k).filter(|v| !v.is_null()),
                new.raw.get(*k).filter(|v| !v.is_null()),
                "{} restored as {}: profile field {k}",
                old.id,
                new.id
            );
        }
        assert_eq!(
            new.raw["comment"],
            restored_comment(&old.id.to_string(), snapshot_time),
            "{}",
            new.id
        );
    }
    let now = client
        .security(&SecurityTarget::Document(live.document_id().clone()))
        .await
        .unwrap();
    if acl {
        assert_eq!(
            acl_key(&now),
            acl_key(doc.acl.as_ref().unwrap()),
            "ACL of {}",
            doc.id
        );
    } else {
        assert!(
            now.entries.is_empty(),
            "--acl inherit gave trustees: {now:?}"
        );
    }
}

/// Done-when (2): a folder with sub-folders and documents is deleted (with an ACL change on it
/// before); restoring it into its original place brings back the hierarchy, the documents with
/// every version in order, their profiles and the ACLs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_folder_comes_back_into_its_original_place() {
    let env = backed_up(71).await;
    let cat = catalog(&env);
    let snap = latest(&cat);
    let plan = folder_with_subfolders(&cat, &snap, 2);
    let root = plan.containers[0].clone();
    let parent = root.parent_id.clone().unwrap();
    let parent_row = cat.container_in(&snap.row.id, &parent).unwrap().unwrap();
    let client = env.client().await;

    env.sim.mutate(&MutateRequest {
        new_versions: 5,
        acl_edits: 5,
        ..Default::default()
    });
    // Someone changes the folder's ACL, then deletes it with everything in it.
    client
        .set_security(
            &SecurityTarget::container(root.kind, root.id.clone()),
            &imvault::imanage::api_write::SecurityChange {
                default_security: Some(imvault::imanage::model::DefaultSecurity::Public),
                include: vec![],
                remove: vec![],
            },
        )
        .await
        .unwrap();
    let deleted = env
        .sim
        .delete_folder(&root.id.to_string())
        .expect("folder deleted");
    assert!(deleted.documents.len() >= 2);
    assert!(client.folder(&root.id).await.unwrap_err().is_not_found());

    let report = run_restore(
        &env,
        &RestoreRequest {
            folder: Some(root.id.clone()),
            into: Some(IntoPlace::Original),
            ..Default::default()
        },
        Some(client.clone()),
    )
    .await
    .unwrap();
    assert_eq!(report.state, JobState::Completed, "{report:#?}");
    // Its documents are in the trash bin, but their folder came back under a new number: each
    // is created again there, and the report says so (not "no longer in the trash bin").
    assert!(!report.deleted_documents.is_empty(), "{report:#?}");
    for d in &report.deleted_documents {
        assert_eq!(
            d.how,
            imvault::restore::report::Comeback::RecreatedBesideTrashBin,
            "{report:#?}"
        );
        assert!(d.to_string().contains("still in the trash bin"), "{d}");
    }
    let live_containers = plan
        .containers
        .iter()
        .filter(|c| c.kind != ContainerKind::SearchFolder)
        .count();
    assert!(
        report.containers_created as usize >= live_containers,
        "{report:#?}"
    );
    assert_eq!(
        report.versions as usize,
        plan.documents
            .iter()
            .map(|d| d.versions.len())
            .sum::<usize>()
    );

    // Walk the snapshot's subtree and the live tree side by side, matching by name.
    let mut kids: BTreeMap<ContainerId, Vec<&ContainerRow>> = BTreeMap::new();
    for c in &plan.containers[1..] {
        kids.entry(c.parent_id.clone().unwrap())
            .or_default()
            .push(c);
    }
    let mut docs_in: BTreeMap<ContainerId, Vec<&PlannedDocument>> = BTreeMap::new();
    for d in &plan.documents {
        docs_in.entry(d.filings[0].clone()).or_default().push(d);
    }
    // Where each document went, from the report.
    let moved: BTreeMap<imvault::imanage::model::DocumentId, imvault::imanage::model::DocumentId> =
        report
            .items
            .iter()
            .map(|i| {
                let from: imvault::imanage::model::VersionId = i.version.parse().unwrap();
                let to: imvault::imanage::model::VersionId = i.restored_as.parse().unwrap();
                (from.document, to.document)
            })
            .collect();
    let (top, _) = children(
        &client,
        &parent,
        parent_row.kind == ContainerKind::Workspace,
    )
    .await;
    let new_root = top
        .iter()
        .find(|c| c.name == root.name && c.id != root.id)
        .expect("the folder is back under its parent");
    let mut pending = vec![(root.clone(), new_root.clone())];
    let mut checked_docs = 0;
    while let Some((old, new)) = pending.pop() {
        assert_eq!(new.kind, old.kind, "{} kind", old.id);
        assert_eq!(
            new.raw.get("description"),
            old.profile.get("description"),
            "{}",
            old.id
        );
        let new_acl = client
            .security(&SecurityTarget::container(new.kind, new.id.clone()))
            .await
            .unwrap();
        assert_eq!(
            acl_key(&new_acl),
            acl_key(old.acl.as_ref().unwrap()),
            "ACL of {} now {}",
            old.id,
            new.id
        );
        let (live_kids, live_docs) = children(&client, &new.id, false).await;
        // Same-named siblings were recreated in id order, so their new ids keep that order.
        let old_kids = kids.get(&old.id).cloned().unwrap_or_default();
        for k in &old_kids {
            let twins_before = old_kids
                .iter()
                .filter(|o| o.name == k.name && o.id < k.id)
                .count();
            let mut same: Vec<&Container> = live_kids.iter().filter(|c| c.name == k.name).collect();
            same.sort_by_key(|c| c.id.number);
            let n = same
                .get(twins_before)
                .unwrap_or_else(|| panic!("{} ({}) is back under {}", k.name, k.id, new.id));
            pending.push(((*k).clone(), (*n).clone()));
        }
        for d in docs_in.get(&old.id).into_iter().flatten() {
            let new_doc = &moved[&d.id];
            let live = live_docs
                .iter()
                .find(|l| l.document_id() == new_doc)
                .unwrap_or_else(|| panic!("{} is back in {} as {new_doc}", d.id, new.id));
            assert_eq!(live.name, d.versions.last().unwrap().name);
            assert_document_restored(&env, &client, d, live, snap.row.time, true).await;
            checked_docs += 1;
        }
    }
    assert_eq!(checked_docs, plan.documents.len());
}

/// Done-when (3): a document restored into another folder comes as a new document with all its
/// versions; with `--acl inherit` it takes the target's defaults. An existing document restored
/// into its original place gets the old content as a new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_into_another_folder_and_as_a_new_version() {
    let env = backed_up(72).await;
    let cat = catalog(&env);
    let snap = latest(&cat);
    let plan = folder_with_subfolders(&cat, &snap, 2);
    let doc = plan
        .documents
        .iter()
        .max_by_key(|d| d.versions.len())
        .unwrap()
        .clone();
    let target = all_containers(&cat, &snap)
        .into_iter()
        .find(|c| c.kind == ContainerKind::Folder && !doc.filings.contains(&c.id))
        .unwrap();
    let client = env.client().await;
    let report = run_restore(
        &env,
        &RestoreRequest {
            document: Some(doc.id.clone()),
            into_folder: Some(target.id.clone()),
            acl: AclMode::Inherit,
            ..Default::default()
        },
        Some(client.clone()),
    )
    .await
    .unwrap();
    assert_eq!(report.state, JobState::Completed, "{report:#?}");
    assert_eq!(report.versions as usize, doc.versions.len());
    let (_, live_docs) = children(&client, &target.id, false).await;
    let new_id: imvault::imanage::model::VersionId = report.items[0].restored_as.parse().unwrap();
    let live = live_docs
        .iter()
        .find(|l| l.document_id() == &new_id.document)
        .expect("the new document is in the target folder");
    assert_ne!(live.document_id(), &doc.id);
    assert_document_restored(&env, &client, &doc, live, snap.row.time, false).await;

    // Into the original place, the document still existing: version 1 comes back as a new
    // version of the same document; nothing is overwritten.
    let before = client.document_versions(&doc.id).await.unwrap();
    let report = run_restore(
        &env,
        &RestoreRequest {
            document: Some(doc.id.clone()),
            version: Some(1),
            into: Some(IntoPlace::Original),
            ..Default::default()
        },
        Some(client.clone()),
    )
    .await
    .unwrap();
    assert_eq!(report.versions, 1, "{report:#?}");
    let after = client.document_versions(&doc.id).await.unwrap();
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "existing versions untouched"
    );
    let new = after.last().unwrap();
    assert!(new.id.version > before.last().unwrap().id.version);
    assert!(
        env.sim.version_bytes(&new.id).unwrap()
            == env.sim.version_bytes(doc.id.version(1)).unwrap()
    );
    assert_eq!(
        new.raw["comment"],
        restored_comment(&doc.id.version(1).to_string(), snap.row.time)
    );

    // Without --version, unchanged versions are not uploaded again.
    let report = run_restore(
        &env,
        &RestoreRequest {
            document: Some(doc.id.clone()),
            into: Some(IntoPlace::Original),
            ..Default::default()
        },
        Some(client.clone()),
    )
    .await
    .unwrap();
    assert_eq!(report.versions, 0, "{report:#?}");
    assert_eq!(report.unchanged as usize, doc.versions.len());
}

fn writes(s: &SimStats) -> u64 {
    s.requests
        .iter()
        .filter(|(k, _)| {
            (k.starts_with("POST") && !k.contains("/sync/") && !k.contains("oauth"))
                || k.starts_with("PATCH")
                || k.starts_with("DELETE")
        })
        .map(|(_, v)| *v)
        .sum()
}

/// Done-when (5), iManage side: a dry run of a deleted folder's restore makes no write call and
/// changes nothing, yet reports what it would restore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_into_original_makes_no_write() {
    let env = backed_up(73).await;
    let cat = catalog(&env);
    let snap = latest(&cat);
    let plan = folder_with_subfolders(&cat, &snap, 2);
    let root = plan.containers[0].clone();
    env.sim.delete_folder(&root.id.to_string()).unwrap();
    let summary = env.sim.library_summary(LIB).unwrap();
    let before = writes(&env.sim.stats());
    let out = cli(
        &env,
        &[
            "restore",
            "--folder",
            &root.id.to_string(),
            "--into",
            "original",
            "--dry-run",
            "--json",
        ],
    );
    assert_exit(&out, 0);
    let r = json_of(&out);
    assert_eq!(r["dry_run"], true);
    assert_eq!(
        r["versions"].as_u64().unwrap() as usize,
        plan.documents
            .iter()
            .map(|d| d.versions.len())
            .sum::<usize>()
    );
    assert!(r["containers_created"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(
        writes(&env.sim.stats()),
        before,
        "a dry run wrote to iManage"
    );
    assert_eq!(env.sim.library_summary(LIB).unwrap(), summary);
}

/// Calls of one kind the simulator answered (`POST L/trash-bin/documents/{id}/restore`).
fn calls(s: &SimStats, key: &str) -> u64 {
    s.requests.get(key).copied().unwrap_or(0)
}

/// Issue 19: a deleted document still in the trash bin comes back into its original place
/// through `POST L/trash-bin/documents/{docId}/restore`, keeping its document number (nothing
/// uploaded when it holds every backed-up version); a dry run only says so. One purged from
/// the trash bin is created again under a new number, and the report says old → new (CLI text
/// and `--json`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_document_comes_back_from_the_trash_bin_keeping_its_number() {
    let env = backed_up(74).await;
    let cat = catalog(&env);
    let snap = latest(&cat);
    let plan = folder_with_subfolders(&cat, &snap, 3);
    let mut docs = plan
        .documents
        .iter()
        .filter(|d| d.filings.len() == 1 && d.versions.len() >= 2);
    let (kept, purged) = (
        docs.next().expect("a document with versions").clone(),
        docs.next().expect("a second one").clone(),
    );
    let client = env.client().await;
    let restore_call = "POST L/trash-bin/documents/{id}/restore";
    let uploads = |s: &SimStats| {
        calls(s, "POST L/folders/{id}/documents") + calls(s, "POST L/documents/{id}/versions")
    };
    let in_folder = |d: &PlannedDocument| {
        let client = client.clone();
        let (folder, id) = (d.filings[0].clone(), d.id.clone());
        async move {
            children(&client, &folder, false)
                .await
                .1
                .iter()
                .any(|l| l.document_id() == &id)
        }
    };

    // In the trash bin: back with its number and every version, nothing uploaded.
    let versions_before = client.document_versions(&kept.id).await.unwrap();
    client.delete_document(&kept.id).await.unwrap();
    assert!(!in_folder(&kept).await);
    let stats = env.sim.stats();
    let out = cli(
        &env,
        &[
            "restore",
            "--document",
            &kept.id.to_string(),
            "--into",
            "original",
            "--dry-run",
            "--json",
        ],
    );
    assert_exit(&out, 0);
    let r = json_of(&out);
    assert_eq!(r["documents_from_trash_bin"], 1, "{r:#}");
    assert_eq!(r["deleted_documents"][0]["how"], "from_trash_bin", "{r:#}");
    assert_eq!(writes(&env.sim.stats()), writes(&stats), "a dry run wrote");
    assert!(
        !in_folder(&kept).await,
        "a dry run restored from the trash bin"
    );

    let out = cli(
        &env,
        &[
            "restore",
            "--document",
            &kept.id.to_string(),
            "--into",
            "original",
            "--json",
        ],
    );
    assert_exit(&out, 0);
    let r = json_of(&out);
    assert_eq!(
        r["deleted_documents"],
        serde_json::json!([{
            "document": kept.id.to_string(),
            "how": "from_trash_bin",
            "now": kept.id.to_string(),
        }]),
        "{r:#}"
    );
    assert_eq!(r["documents_from_trash_bin"], 1);
    assert_eq!(r["documents_recreated"], 0);
    assert_eq!(r["versions"], 0, "nothing to upload: {r:#}");
    assert_eq!(
        r["unchanged"].as_u64().unwrap() as usize,
        kept.versions.len()
    );
    let after = env.sim.stats();
    assert_eq!(calls(&after, restore_call), calls(&stats, restore_call) + 1);
    assert_eq!(uploads(&after), uploads(&stats), "nothing uploaded");
    assert_eq!(
        client.document_versions(&kept.id).await.unwrap(),
        versions_before,
        "the same document, the same versions"
    );
    assert!(in_folder(&kept).await, "back in its folder");

    // Purged from the trash bin: created again under a new number, old → new in the output.
    let want: Vec<Vec<u8>> = purged
        .versions
        .iter()
        .map(|v| env.sim.version_bytes(&v.id).unwrap())
        .collect();
    client.delete_document(&purged.id).await.unwrap();
    assert!(env.sim.purge_from_trash(&purged.id.to_string()));
    let out = cli(
        &env,
        &[
            "restore",
            "--document",
            &purged.id.to_string(),
            "--into",
            "original",
        ],
    );
    assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let prefix = format!("  {} -> ", purged.id);
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&prefix) && l.contains("created again under a new number"))
        .unwrap_or_else(|| panic!("no old -> new line in:\n{stdout}"));
    let new: imvault::imanage::model::DocumentId = line[prefix.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{line}: {e}"));
    assert_ne!(new, purged.id);
    let live = client.document_versions(&new).await.unwrap();
    assert_eq!(live.len(), purged.versions.len(), "every version, in order");
    for ((old, new), want) in purged.versions.iter().zip(&live).zip(&want) {
        assert!(
            env.sim.version_bytes(&new.id).unwrap() == *want,
            "{}",
            new.id
        );
        assert_eq!(
            new.raw["comment"],
            restored_comment(&old.id.to_string(), snap.row.time)
        );
    }
    let (_, in_place) = children(&client, &purged.filings[0], false).await;
    assert!(
        in_place.iter().any(|l| l.document_id() == &new),
        "in its folder"
    );
}
