//! Issue 18: the daemon never locks the service account. A refused sign-in stops sign-in
//! attempts (readyz says why, nothing runs) until the operator acts; `/readyz` tells the reasons
//! only to a caller with the API token.

use reqwest::{Method, StatusCode};

use crate::support::daemon::{Daemon, NEVER, TOKEN, free_port, write_config};
use crate::support::env::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_auth_key_is_tried_once_and_again_only_after_sighup() {
    let env = TestEnv::tiny(181).await;
    let port = free_port();
    let config = write_config(&env, port, NEVER, TOKEN);
    let good = std::fs::read_to_string(&config).unwrap();
    let key = imvault_sim::credentials::AUTH_KEY;
    std::fs::write(&config, good.replace(key, "a-rotated-auth-key")).unwrap();
    let mut daemon = Daemon::spawn(&env, &config, port, &[]);

    let ready = daemon
        .wait_readyz("the refusal", |_, v| {
            v["checks"]["imanage"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("refused"))
        })
        .await;
    let why = ready["checks"]["imanage"]["error"].as_str().unwrap();
    assert!(why.contains("invalid_grant"), "{why}");
    assert!(
        why.contains("SIGHUP"),
        "says what the operator can do: {why}"
    );
    assert!(!why.contains("a-rotated-auth-key"), "{why}");
    assert_eq!(ready["ready"], false);
    // Without the token: ready or not, no reasons.
    let (s, bare) = daemon.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(bare["ready"], false);
    assert!(bare.get("checks").is_none(), "{bare}");
    assert!(!bare.to_string().contains("invalid_grant"), "{bare}");

    // A backup asked for meanwhile is refused with the reason.
    let (s, refused) = daemon.post("/v1/backups", "{}").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{refused}");
    let (_, jobs) = daemon.get("/v1/jobs").await;
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(0), "{jobs}");
    let st = env.sim.stats();
    assert_eq!((st.failed_sign_ins, st.sign_ins), (1, 0), "{st:?}");

    // The operator fixes the key and sends SIGHUP: one more sign-in, which works.
    std::fs::write(&config, &good).unwrap();
    daemon.signal("HUP");
    daemon
        .wait_readyz("ready", |s, _| s == StatusCode::OK)
        .await;
    let done = daemon.run_job("/v1/backups", "{}").await;
    assert_eq!(done["state"], "completed", "{done}");
    let st = env.sim.stats();
    assert_eq!(
        st.failed_sign_ins, 1,
        "no sign-in was tried behind the operator's back"
    );
    assert!(st.sign_ins >= 1);
    let (s, full) = daemon.get("/readyz").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(full["checks"]["imanage"]["ok"], true, "{full}");
}

/// Issue 14: a daemon whose configuration gives no repository password (the credential was
/// not handed over) does not crash or restart in a loop: it stays up, `/readyz` says the
/// repository needs its password, and nothing runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_without_the_repository_password_says_so_and_stays_up() {
    let env = TestEnv::tiny(141).await;
    let port = free_port();
    let config = write_config(&env, port, NEVER, TOKEN);
    let text = std::fs::read_to_string(&config).unwrap();
    let line = format!("password = \"{}\"\n", crate::support::repo::TEST_PASSWORD);
    assert!(text.contains(&line));
    std::fs::write(&config, text.replace(&line, "")).unwrap();
    let mut daemon = Daemon::spawn(&env, &config, port, &[]);
    let ready = daemon
        .wait_readyz("the repository needs its password", |_, v| {
            v["checks"]["repository"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("password"))
        })
        .await;
    let why = ready["checks"]["repository"]["error"].as_str().unwrap();
    assert!(
        why.contains("IMVAULT_PASSWORD"),
        "says how to give it: {why}"
    );
    assert_eq!(ready["ready"], false);
    // Still up, still saying so (no crash, no restart loop), and nothing runs.
    let again = daemon
        .wait_readyz("it again", |s, v| {
            s == StatusCode::SERVICE_UNAVAILABLE && v["checks"]["repository"]["ok"] == false
        })
        .await;
    assert_eq!(again["ready"], false);
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "the daemon exited"
    );
    let (_, jobs) = daemon.get("/v1/jobs").await;
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(0), "{jobs}");
}
