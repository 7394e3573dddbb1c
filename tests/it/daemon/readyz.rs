//! `/readyz` does not open the repository (an Argon2id unlock) on every call: the check is kept
//! per settings, briefly; a reload checks again, and a daemon pointed at an empty repository
//! location says so (issues 14, 19).

use reqwest::{Method, StatusCode};

use crate::support::daemon::{Daemon, NEVER, TOKEN, free_port, write_config};
use crate::support::env::TestEnv;

async fn repository_checks(daemon: &Daemon) -> u64 {
    let text = reqwest::get(format!("{}/metrics", daemon.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let name = "imvault_readyz_repository_checks_total";
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_opens_the_repository_once_and_again_after_a_reload() {
    let env = TestEnv::tiny(191).await;
    let port = free_port();
    let config = write_config(&env, port, NEVER, TOKEN);
    let mut daemon = Daemon::start(&env, &config, port).await;
    let before = repository_checks(&daemon).await;
    assert!(before >= 1, "readyz checked the repository to say ready");

    // Many probes, with and without the token, at the same time: no new unlock.
    let mut probes = Vec::new();
    for i in 0..24 {
        let token = (i % 2 == 0).then_some(TOKEN);
        probes.push(daemon.call(Method::GET, "/readyz", token, None));
    }
    for (s, v) in futures::future::join_all(probes).await {
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["ready"], true, "{v}");
    }
    assert_eq!(
        repository_checks(&daemon).await,
        before,
        "the repository was opened again for a probe"
    );

    // Pointed at an empty location (and reloaded): checked again at once, and said plainly.
    let empty = env.dir.path().join("empty-repository");
    std::fs::create_dir(&empty).unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    let url = format!("url = \"file://{}\"", env.dir.path().join("repo").display());
    assert!(text.contains(&url), "{text}");
    std::fs::write(
        &config,
        text.replace(&url, &format!("url = \"file://{}\"", empty.display())),
    )
    .unwrap();
    daemon.signal("HUP");
    let v = daemon
        .wait_readyz("the repository is missing", |s, v| {
            s == StatusCode::SERVICE_UNAVAILABLE && v["checks"]["repository"]["ok"] == false
        })
        .await;
    let why = v["checks"]["repository"]["error"].as_str().unwrap();
    assert!(why.contains("no repository here"), "{why}");
    assert!(why.contains("run `imvault init`"), "{why}");
    assert!(
        why.contains(&empty.display().to_string()),
        "names where: {why}"
    );
    assert!(!why.contains(crate::support::repo::TEST_PASSWORD), "{why}");
    let logs = daemon.logs();
    assert!(
        logs.contains("no repository here") && logs.contains("imvault init"),
        "the log says it too:\n{logs}"
    );
    assert!(!logs.contains(crate::support::repo::TEST_PASSWORD));
    // Without the token: not ready, no reasons.
    let (s, bare) = daemon.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(bare.get("checks").is_none(), "{bare}");
    let after = repository_checks(&daemon).await;
    assert!(
        after > before,
        "the reload was checked: {after} vs {before}"
    );
    // Failures are kept briefly too: more probes do not each open the repository.
    for _ in 0..10 {
        daemon.call(Method::GET, "/readyz", Some(TOKEN), None).await;
    }
    assert!(repository_checks(&daemon).await <= after + 2);
}
