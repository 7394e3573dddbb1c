//! Issue 19: a restore job `into original` run by the daemon lists in its job record the
//! deleted documents it brought back, old -> new.

use serde_json::json;

use crate::support::daemon::{Daemon, NEVER, TOKEN, free_port, write_config};
use crate::support::restore::{backed_up, catalog, folder_with_subfolders, latest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_restore_into_original_lists_deleted_documents_old_to_new() {
    let env = backed_up(192).await;
    let cat = catalog(&env);
    let plan = folder_with_subfolders(&cat, &latest(&cat), 3);
    let purged = plan
        .documents
        .iter()
        .find(|d| d.filings.len() == 1 && !d.versions.is_empty())
        .expect("a filed document")
        .clone();
    let client = env.client().await;
    client.delete_document(&purged.id).await.unwrap();
    assert!(env.sim.purge_from_trash(&purged.id.to_string()));

    let port = free_port();
    let config = write_config(&env, port, NEVER, TOKEN);
    let daemon = Daemon::start(&env, &config, port).await;
    let body = json!({"document": purged.id.to_string(), "into": "original"}).to_string();
    let job = daemon.run_job("/v1/restores", &body).await;
    assert_eq!(job["state"], "completed", "{job:#}");
    let r = &job["progress"]["result"];
    assert_eq!(r["documents_recreated"], 1, "{r:#}");
    let listed = r["deleted_documents"].as_array().expect("listed");
    assert_eq!(listed.len(), 1, "{r:#}");
    assert_eq!(listed[0]["document"], purged.id.to_string(), "{r:#}");
    assert_eq!(listed[0]["how"], "recreated", "{r:#}");
    let new: imvault::imanage::model::DocumentId = listed[0]["now"]
        .as_str()
        .expect("the new number")
        .parse()
        .unwrap();
    assert_ne!(new, purged.id);
    assert_eq!(
        client.document_versions(&new).await.unwrap().len(),
        purged.versions.len(),
        "every version under the new number"
    );
    // The job as read again says the same.
    let id = job["id"].as_str().unwrap();
    let (_, again) = daemon.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(
        again["progress"]["result"]["deleted_documents"], r["deleted_documents"],
        "{again:#}"
    );
}
