//! The library walker through the real HTTP stack against the simulator. (Its figures:
//! `cargo run --release --example bench_walk`.)

use std::collections::BTreeSet;

use imvault::imanage::inventory::check;
use imvault::imanage::model::ContainerKind;
use imvault::imanage::walk::{WalkItem, WalkStrategy, resolve_strategy};
use imvault_sim::{SimOptions, UserType};

use crate::support::imanage::{assert_same, collect, connect, start_sim, summarize, tiny};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_walk_and_crawl_agree_item_for_item() {
    let env = start_sim(SimOptions {
        scale: "small".parse().expect("scale"),
        ..SimOptions::default()
    });
    let client = connect(env.addr).await;
    assert!(client.libraries().len() >= 2, "several libraries");
    assert!(
        client.libraries().iter().any(|l| l.is_hidden),
        "hidden libraries are listed too"
    );
    let mut total_versions = 0;
    for lib in client.libraries() {
        let before = env.handle.stats().total_requests;
        let (tree_items, tree_errors) = collect(&client, &lib.id, WalkStrategy::Tree).await;
        let tree_requests = env.handle.stats().total_requests - before;
        let before = env.handle.stats().total_requests;
        let (crawl_items, crawl_errors) = collect(&client, &lib.id, WalkStrategy::Crawl).await;
        let crawl_requests = env.handle.stats().total_requests - before;
        assert!(tree_errors.is_empty(), "tree errors: {tree_errors:?}");
        assert!(crawl_errors.is_empty(), "crawl errors: {crawl_errors:?}");
        let tree = summarize(&tree_items);
        let crawl = summarize(&crawl_items);
        assert!(!tree.versions.is_empty(), "library {} has versions", lib.id);
        assert_eq!(tree.duplicate_versions, 0, "tree: each version once");
        assert_eq!(crawl.duplicate_versions, 0, "crawl: each version once");
        assert_eq!(tree.duplicate_document_acls, 0);
        assert_eq!(crawl.duplicate_document_acls, 0);
        assert_eq!(tree.duplicate_filings, 0);
        assert_eq!(crawl.duplicate_filings, 0);
        assert!(tree.warnings.is_empty(), "{:?}", tree.warnings);
        assert!(crawl.warnings.is_empty(), "{:?}", crawl.warnings);
        assert_eq!(
            tree.containers.keys().collect::<Vec<_>>(),
            crawl.containers.keys().collect::<Vec<_>>(),
            "same containers in {}",
            lib.id
        );
        for (id, t) in &tree.containers {
            assert_eq!(Some(t), crawl.containers.get(id), "container {id}");
        }
        assert_eq!(tree.versions, crawl.versions, "same versions in {}", lib.id);
        let only_tree: Vec<_> = tree.filings.difference(&crawl.filings).take(10).collect();
        let only_crawl: Vec<_> = crawl.filings.difference(&tree.filings).take(10).collect();
        assert!(
            only_tree.is_empty() && only_crawl.is_empty(),
            "filings in {}: only tree {only_tree:?}, only crawl {only_crawl:?} ({} vs {})",
            lib.id,
            tree.filings.len(),
            crawl.filings.len()
        );
        assert_eq!(
            tree.document_acls, crawl.document_acls,
            "same document ACLs in {}",
            lib.id
        );
        assert_same(&tree, &crawl, &format!("tree vs crawl in {}", lib.id));
        // The crawl is the fast path: far fewer requests for the same items.
        assert!(
            crawl_requests * 5 < tree_requests,
            "crawl {crawl_requests} requests vs tree {tree_requests}"
        );
        total_versions += tree.versions.len();
    }
    assert!(
        total_versions > 1000,
        "small corpus: {total_versions} versions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_yields_each_version_once_and_every_filing() {
    let env = start_sim(tiny());
    let client = connect(env.addr).await;
    let lib = client.libraries()[0].id.clone();
    let (items, errors) = collect(&client, &lib, WalkStrategy::Tree).await;
    assert!(errors.is_empty(), "{errors:?}");
    let s = summarize(&items);
    let docs: BTreeSet<String> = s
        .versions
        .keys()
        .map(|v| v.rsplit_once('.').map_or(v.clone(), |(d, _)| d.to_string()))
        .collect();
    assert_eq!(
        docs,
        s.document_acls.keys().cloned().collect(),
        "every document has exactly one ACL item"
    );
    let filed: BTreeSet<&String> = s.filings.iter().map(|(d, _)| d).collect();
    assert_eq!(filed.len(), docs.len(), "every document is filed somewhere");
    assert!(
        s.filings.len() >= docs.len(),
        "filings {} ≥ documents {}",
        s.filings.len(),
        docs.len()
    );
    // Every parent of a filing is a container the walk yielded, and never a search folder.
    for (doc, parent) in &s.filings {
        let (kind, ..) = s
            .containers
            .get(parent)
            .unwrap_or_else(|| panic!("{doc} filed in unknown container {parent}"));
        assert_ne!(*kind, ContainerKind::SearchFolder);
    }
    // Containers come before anything inside them.
    let mut seen = BTreeSet::new();
    for item in &items {
        match item {
            WalkItem::Container { container, .. } => {
                if let Some(p) = &container.parent_id {
                    assert!(seen.contains(&p.to_string()), "{} before {p}", container.id);
                }
                seen.insert(container.id.to_string());
            }
            WalkItem::Filing(f) => assert!(seen.contains(&f.parent.to_string())),
            _ => {}
        }
    }
    let kinds: BTreeSet<String> = s
        .containers
        .values()
        .map(|(k, ..)| format!("{k:?}"))
        .collect();
    assert!(
        kinds.contains("Workspace") && kinds.contains("Folder"),
        "{kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regular_account_walks_the_tree_and_never_crawls() {
    let env = start_sim(SimOptions {
        user_type: UserType::Regular,
        ..tiny()
    });
    let client = connect(env.addr).await;
    assert_eq!(
        resolve_strategy(&client, WalkStrategy::Auto),
        WalkStrategy::Tree
    );
    let lib = client.libraries()[0].id.clone();
    let (items, errors) = collect(&client, &lib, WalkStrategy::Auto).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert!(summarize(&items).versions.len() > 1);
    let crawls: u64 = env
        .handle
        .stats()
        .requests
        .iter()
        .filter(|(k, _)| k.contains("/sync/"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(crawls, 0, "no crawl calls for a regular account");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawl_refused_is_reported_as_an_access_problem_not_a_crash() {
    let env = start_sim(SimOptions {
        user_type: UserType::Regular,
        ..tiny()
    });
    let client = connect(env.addr).await;
    let lib = client.libraries()[0].id.clone();
    let (items, errors) = collect(&client, &lib, WalkStrategy::Crawl).await;
    assert!(errors.is_empty(), "{errors:?}");
    let s = summarize(&items);
    assert_eq!(s.access_denied.len(), 1, "{:?}", s.access_denied);
    let report = check(&client, std::slice::from_ref(&lib), WalkStrategy::Crawl)
        .await
        .expect("check runs");
    assert!(!report.is_clean());
    let text = report.to_string();
    assert!(text.contains("access denied"), "{text}");
    assert!(text.contains("8 hours"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_counts_what_the_walk_finds() {
    let env = start_sim(tiny());
    let client = connect(env.addr).await;
    let before = env.handle.stats().total_requests;
    let report = check(&client, &[], WalkStrategy::Auto)
        .await
        .expect("check runs");
    assert_eq!(
        report.requests,
        env.handle.stats().total_requests - before,
        "the report counts exactly the requests the tenant saw"
    );
    assert_eq!(report.libraries.len(), client.libraries().len());
    assert!(report.is_clean(), "{report}");
    for (lib_report, lib) in report.libraries.iter().zip(client.libraries()) {
        let (items, _) = collect(&client, &lib.id, WalkStrategy::Tree).await;
        let s = summarize(&items);
        let count = |k: ContainerKind| s.containers.values().filter(|c| c.0 == k).count() as u64;
        assert_eq!(lib_report.workspaces, count(ContainerKind::Workspace));
        assert_eq!(lib_report.folders, count(ContainerKind::Folder));
        assert_eq!(lib_report.tabs, count(ContainerKind::Tab));
        assert_eq!(
            lib_report.search_folders,
            count(ContainerKind::SearchFolder)
        );
        assert_eq!(lib_report.versions, s.versions.len() as u64);
        assert_eq!(
            lib_report.documents + lib_report.emails,
            s.document_acls.len() as u64
        );
        assert_eq!(
            lib_report.bytes,
            s.versions.values().map(|v| v.0).sum::<u64>()
        );
        assert!(lib_report.requests > 0);
    }
    let json = serde_json::to_value(&report).expect("report serializes");
    assert_eq!(
        json["libraries"][0]["versions"].as_u64(),
        Some(report.libraries[0].versions)
    );
    let wrong = check(&client, &["NOPE".parse().expect("id")], WalkStrategy::Auto)
        .await
        .expect_err("unknown library");
    assert!(wrong.to_string().contains("NOPE"), "{wrong}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_library_is_reported_as_an_access_problem() {
    let addr = crate::support::imanage::start_denied_library_tenant("regular").await;
    let client = connect(addr).await;
    assert_eq!(client.libraries().len(), 2);
    let denied = "DENIED".parse().expect("id");
    let (items, errors) = collect(&client, &denied, WalkStrategy::Auto).await;
    assert!(errors.is_empty(), "a 403 is not an error item: {errors:?}");
    let s = summarize(&items);
    assert_eq!(s.access_denied, vec!["library DENIED".to_string()]);
    let report = check(&client, &[], WalkStrategy::Auto)
        .await
        .expect("check goes on past the denied library");
    assert_eq!(report.libraries.len(), 2);
    assert!(report.libraries[0].access_denied.is_empty());
    assert_eq!(report.libraries[1].access_denied, vec!["library DENIED"]);
    let text = report.to_string();
    assert!(text.contains("access denied: library DENIED"), "{text}");
    assert!(text.contains("up to 8 hours"), "{text}");
    assert_eq!(client.stats().retries, 0, "a 403 is never retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walks_survive_cursors_expiring_midway() {
    use futures::StreamExt;
    use imvault::imanage::Client;
    use imvault::imanage::walk::{WalkOptions, walk};

    let env = start_sim(tiny());
    let reference = connect(env.addr).await;
    let lib = reference.libraries()[0].id.clone();
    let mut s = crate::support::imanage::settings(env.addr);
    s.page_size = 2;
    s.crawl_page_size = 5;
    let client = Client::connect(s).await.expect("connect");
    for strategy in [WalkStrategy::Tree, WalkStrategy::Crawl] {
        let (want, _) = collect(&reference, &lib, strategy).await;
        let mut items = vec![];
        let restarts = client.stats().listing_restarts;
        // A one-item channel keeps the walker from running ahead of the expiries.
        let options = WalkOptions {
            concurrency: 2,
            channel_capacity: 1,
            changes: None,
        };
        let mut stream = std::pin::pin!(walk(&client, &lib, strategy, options));
        while let Some(item) = stream.next().await {
            items.push(item.expect("no error item"));
            if items.len() % 40 == 0 {
                env.handle.expire_cursors();
            }
        }
        assert!(items.len() > 80, "{strategy:?}: several expiries happened");
        assert!(
            client.stats().listing_restarts > restarts,
            "{strategy:?}: listings restarted"
        );
        assert_same(
            &summarize(&items),
            &summarize(&want),
            &format!("{strategy:?} with cursors expiring"),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_falls_back_to_the_tree_walk_when_the_crawl_is_refused() {
    let addr = crate::support::imanage::start_denied_library_tenant("system").await;
    let client = connect(addr).await;
    assert_eq!(
        resolve_strategy(&client, WalkStrategy::Auto),
        WalkStrategy::Crawl
    );
    let open = "OPEN".parse().expect("id");
    let (items, errors) = collect(&client, &open, WalkStrategy::Auto).await;
    assert!(errors.is_empty(), "{errors:?}");
    let s = summarize(&items);
    assert!(s.access_denied.is_empty(), "{:?}", s.access_denied);
    assert_eq!(
        s.containers.keys().collect::<Vec<_>>(),
        vec!["OPEN!7"],
        "the tree walk found the workspace"
    );
    // Forced, the refused crawl is an access problem, not a crash.
    let (items, errors) = collect(&client, &open, WalkStrategy::Crawl).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(summarize(&items).access_denied.len(), 1);
}
