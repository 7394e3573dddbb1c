//! Restore's writes through the API, read back.

use futures::StreamExt;
use imvault::imanage::walk::WalkStrategy;

use super::download;
use crate::support::imanage::{collect, connect, start_sim, tiny};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_writes_round_trip_through_the_api() {
    use imvault::imanage::api_read::SecurityTarget;
    use imvault::imanage::api_write::{FolderParent, SecurityChange, TrusteeGrant, Upload};
    use imvault::imanage::model::{AccessLevel, ContainerKind, DefaultSecurity, TrusteeType};
    use imvault::imanage::profiles::{FolderType, NewFolder, NewWorkspace};
    use imvault::imanage::walk::WalkItem;

    let env = start_sim(tiny());
    let client = connect(env.addr).await;
    let lib = client.libraries()[0].id.clone();
    let (items, _) = collect(&client, &lib, WalkStrategy::Crawl).await;
    let folder = items
        .iter()
        .find_map(|i| match i {
            WalkItem::Container { container, .. } if container.kind == ContainerKind::Folder => {
                Some(container.id.clone())
            }
            _ => None,
        })
        .expect("a folder");

    // A new document, uploaded from memory.
    let first = bytes::Bytes::from_static(b"restored content, version one\n");
    let profile = serde_json::json!({
        "doc_profile": {"name": "Restored memo", "extension": "txt", "author": "JSMITH",
            "comment": "Restored from ACTIVE!1.1 as of 2026-11-01T00:00:00Z",
            "default_security": "private"},
        "user_trustees": [{"id": "JSMITH", "access_level": "full_access"}],
        "group_trustees": []
    });
    let v1 = client
        .create_document(
            &folder,
            &profile,
            &Upload::from_bytes("memo.txt", first.clone()),
        )
        .await
        .expect("create document");
    assert_eq!(v1.id.version, 1);
    assert_eq!(v1.size, first.len() as u64);
    assert_eq!(
        v1.raw["comment"],
        "Restored from ACTIVE!1.1 as of 2026-11-01T00:00:00Z"
    );
    assert_eq!(download(&client, &v1.id, v1.size).await.expect("dl"), first);

    // A new version, streamed in several chunks (built again for each attempt).
    let chunks: Vec<bytes::Bytes> = (0..5)
        .map(|i| bytes::Bytes::from(format!("chunk {i} of version two\n")))
        .collect();
    let total: u64 = chunks.iter().map(|c| c.len() as u64).sum();
    let parts = chunks.clone();
    let upload = Upload::from_stream_fn("memo.txt", total, move || {
        futures::stream::iter(parts.clone().into_iter().map(Ok)).boxed()
    });
    let v2 = client
        .create_version(&v1.id.document, &profile, &upload)
        .await
        .expect("create version");
    assert_eq!(v2.id.version, 2);
    assert_eq!(v2.id.document, v1.id.document);
    let want: Vec<u8> = chunks.concat();
    assert_eq!(download(&client, &v2.id, v2.size).await.expect("dl"), want);
    assert_eq!(env.handle.version_bytes(&v2.id).expect("sim has it"), want);
    let versions = client
        .document_versions(&v1.id.document)
        .await
        .expect("versions");
    assert_eq!(versions.len(), 2);

    // Profile edit.
    let patched = client
        .patch_document(&v2.id, &serde_json::json!({"comment": "edited"}))
        .await
        .expect("patch");
    assert_eq!(patched.raw["comment"], "edited");
    assert_eq!(
        client.document(&v2.id).await.expect("profile").raw["comment"],
        "edited"
    );

    // Security write, read back.
    let target = SecurityTarget::Document(v1.id.document.clone());
    let change = SecurityChange {
        default_security: Some(DefaultSecurity::View),
        include: vec![TrusteeGrant {
            id: "LITIGATION".into(),
            trustee_type: TrusteeType::Group,
            access_level: AccessLevel::ReadWrite,
        }],
        remove: vec![],
    };
    let acl = client.set_security(&target, &change).await.expect("set");
    assert_eq!(acl.default_security, DefaultSecurity::View);
    assert!(
        acl.entries
            .iter()
            .any(|e| e.id == "LITIGATION" && e.access_level == AccessLevel::ReadWrite)
    );
    assert_eq!(
        client.security(&target).await.expect("read").normalized(),
        acl.normalized()
    );

    // New workspace and folders.
    let ws = client
        .create_workspace(
            &lib,
            &NewWorkspace {
                name: "Restored matter".into(),
                description: String::new(),
                default_security: DefaultSecurity::Private,
                owner: Some("JSMITH".into()),
                profile: serde_json::json!({"custom1": "C1", "custom2": "M1"}),
            },
        )
        .await
        .expect("workspace");
    assert_eq!(ws.kind, ContainerKind::Workspace);
    let f = client
        .create_folder(
            &FolderParent::Workspace(ws.id.clone()),
            &NewFolder {
                name: "Restored".into(),
                description: String::new(),
                default_security: DefaultSecurity::Inherit,
                folder_type: FolderType::Regular,
                profile: None,
            },
        )
        .await
        .expect("folder");
    assert_eq!(f.parent_id.as_ref(), Some(&ws.id));
    let sub = client
        .create_folder(
            &FolderParent::Folder(f.id.clone()),
            &NewFolder {
                name: "Sub".into(),
                description: String::new(),
                default_security: DefaultSecurity::Inherit,
                folder_type: FolderType::Regular,
                profile: None,
            },
        )
        .await
        .expect("sub-folder");
    assert_eq!(client.folder(&sub.id).await.expect("read").name, "Sub");

    // Trash bin: delete, list, restore.
    client
        .delete_document(&v1.id.document)
        .await
        .expect("delete");
    let trash = client.trash_bin(&lib).await.expect("trash");
    assert!(trash.iter().any(|d| d.id.document == v1.id.document));
    client
        .restore_from_trash(&v1.id.document)
        .await
        .expect("restore");
    let trash = client.trash_bin(&lib).await.expect("trash");
    assert!(!trash.iter().any(|d| d.id.document == v1.id.document));
    assert_eq!(
        client
            .document_versions(&v1.id.document)
            .await
            .expect("back")
            .len(),
        2
    );
}
