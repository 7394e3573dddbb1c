//! The daemon's audit trail (issue 16): every state-changing API call is recorded under the
//! name of the token it presented, a restore job's export with what, where, versions and bytes
//! under the name of the token that queued it,
//! a SIGHUP reload as the daemon's; `GET /v1/audit` lists them with the CLI's filters; a trail
//! that cannot be written refuses the call (503) and counts in `/metrics`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::daemon::{Daemon, NEVER, TOKEN, free_port, write_config};
use crate::support::restore::{backed_up, catalog, folder_with_subfolders, latest};
use crate::support::wait::wait_until;

const OPS_TOKEN: &str = "ops-token-abcdef0123456789";

/// The test daemon's configuration plus a second token named `ops`.
fn config_with_ops(env: &crate::support::env::TestEnv, port: u16) -> std::path::PathBuf {
    let config = write_config(env, port, NEVER, TOKEN);
    let ops = env.dir.path().join("ops_token");
    imvault::private_fs::write(&ops, format!("{OPS_TOKEN}\n")).unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen(
        "[api]\n",
        &format!(
            "[api]\ntokens = [{{ name = \"ops\", token_file = \"{}\" }}]\n",
            ops.display()
        ),
        1,
    );
    std::fs::write(&config, text).unwrap();
    config
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

async fn metrics(daemon: &Daemon) -> String {
    reqwest::get(format!("{}/metrics", daemon.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_calls_restores_and_reloads_are_recorded_with_their_actor() {
    let env = backed_up(164).await;
    let cat = catalog(&env);
    let doc = folder_with_subfolders(&cat, &latest(&cat), 2).documents[0]
        .id
        .to_string();
    let port = free_port();
    let config = config_with_ops(&env, port);
    let daemon = Daemon::start(&env, &config, port).await;
    let out = env.dir.path().join("api-export");

    // ops queues an export; the default token queues a verify; reads are not recorded.
    let body = serde_json::json!({"document": doc, "to": out}).to_string();
    let (s, job) = daemon
        .call(Method::POST, "/v1/restores", Some(OPS_TOKEN), Some(&body))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let restore_job = job["id"].as_str().unwrap().to_string();
    daemon
        .wait_job(&restore_job, "finished", |j| j["state"] == "completed")
        .await;
    let verify = daemon.run_job("/v1/verifications", "{}").await;
    let (s, _) = daemon.get("/v1/jobs").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = daemon
        .call(
            Method::POST,
            "/v1/backups",
            Some("wrong-token-0123456789"),
            Some("{}"),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "no actor: not an action");

    // A reload by SIGHUP: the daemon's own action.
    daemon.signal("HUP");
    wait_until("SIGHUP handled", Duration::from_secs(30), async || {
        let logs = daemon.logs();
        if logs.contains("configuration reloaded") {
            return Ok(());
        }
        Err(logs)
    })
    .await;
    // The reload is logged before its audit record is finished: wait for the record.
    wait_until("the reload recorded", Duration::from_secs(30), async || {
        let (_, all) = daemon.get("/v1/audit").await;
        let done = all.as_array().is_some_and(|a| {
            a.iter()
                .any(|e| e["action"] == "config_reload" && e["outcome"] == "ok")
        });
        if done { Ok(()) } else { Err(all.to_string()) }
    })
    .await;

    let (s, all) = daemon.get("/v1/audit").await;
    assert_eq!(s, StatusCode::OK, "{all}");
    let all = all.as_array().unwrap().clone();
    let find = |action: &str, actor: &str| -> Vec<Value> {
        all.iter()
            .filter(|e| e["action"] == action && e["actor"]["name"] == actor)
            .cloned()
            .collect()
    };
    let ops_calls = find("api_call", "ops");
    assert_eq!(ops_calls.len(), 1, "{all:#?}");
    assert_eq!(ops_calls[0]["actor"]["kind"], "token");
    assert_eq!(ops_calls[0]["parameters"]["method"], "POST");
    assert_eq!(ops_calls[0]["parameters"]["path"], "/v1/restores");
    assert_eq!(ops_calls[0]["figures"]["status"], 202);
    assert_eq!(ops_calls[0]["figures"]["job"], restore_job.as_str());
    let default_calls = find("api_call", "default");
    assert_eq!(default_calls.len(), 1, "{all:#?}");
    assert_eq!(default_calls[0]["parameters"]["path"], "/v1/verifications");
    assert_eq!(default_calls[0]["figures"]["job"], verify["id"]);
    // The restore job acts for the token that queued it.
    let export = find("export", "ops");
    assert_eq!(export.len(), 1, "{all:#?}");
    assert_eq!(export[0]["actor"]["kind"], "token");
    assert_eq!(export[0]["outcome"], "ok");
    assert_eq!(
        export[0]["parameters"]["target"]["path"],
        out.to_str().unwrap()
    );
    assert!(
        export[0]["figures"]["versions"].as_u64().unwrap() >= 1,
        "{}",
        export[0]
    );
    assert!(
        export[0]["figures"]["bytes"].as_u64().unwrap() > 0,
        "{}",
        export[0]
    );
    let reload = find("config_reload", "SIGHUP");
    assert_eq!(reload.len(), 1, "{all:#?}");
    assert_eq!(reload[0]["outcome"], "ok");
    assert_eq!(all.len(), 4, "exactly these actions: {all:#?}");

    // The filters of `imvault audit`, as query parameters; a bad one names itself.
    let (_, by_ops) = daemon.get("/v1/audit?actor=ops").await;
    assert_eq!(
        by_ops.as_array().unwrap().len(),
        2,
        "the call and the export"
    );
    let (_, job) = daemon.get(&format!("/v1/jobs/{restore_job}")).await;
    assert_eq!(job["params"]["requested_by"], "ops", "{job}");
    let (_, exports) = daemon.get("/v1/audit?action=export&since=2000-01-01").await;
    assert_eq!(exports.as_array().unwrap().len(), 1);
    let (_, none) = daemon.get("/v1/audit?until=2000-01-01").await;
    assert_eq!(none.as_array().unwrap().len(), 0);
    let (s, e) = daemon.get("/v1/audit?since=soon").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["field"], "since");
    let (s, _) = daemon.call(Method::GET, "/v1/audit", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        metric(
            &metrics(&daemon).await,
            "imvault_audit_write_failures_total"
        ),
        0.0
    );

    // The command line reads the same trail.
    let out = crate::support::restore::cli(&env, &["audit", "--actor", "ops", "--json"]);
    crate::support::restore::assert_exit(&out, 0);
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli.as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_trail_refuses_calls_and_reloads_and_is_counted() {
    let env = backed_up(165).await;
    let port = free_port();
    let config = config_with_ops(&env, port);
    let daemon = Daemon::start_with(
        &env,
        &config,
        port,
        &[("IMVAULT_TEST_AUDIT_FAIL", "1".to_string())],
    )
    .await;
    let (s, e) = daemon.post("/v1/verifications", "{}").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("audit trail, so nothing was done"),
        "{e}"
    );
    let (_, jobs) = daemon.get("/v1/jobs").await;
    assert_eq!(
        jobs["jobs"].as_array().unwrap().len(),
        0,
        "nothing queued: {jobs}"
    );
    assert_eq!(
        metric(
            &metrics(&daemon).await,
            "imvault_audit_write_failures_total"
        ),
        1.0
    );

    // A reload that cannot be recorded is not done: the new token does not work.
    let new_token = "rotated-token-0123456789abcdef";
    std::fs::write(env.dir.path().join("api_token"), new_token).unwrap();
    daemon.signal("HUP");
    wait_until("SIGHUP handled", Duration::from_secs(30), async || {
        let logs = daemon.logs();
        if logs.contains("the configuration is not reloaded") {
            return Ok(());
        }
        Err(logs)
    })
    .await;
    let (s, _) = daemon
        .call(Method::GET, "/v1/jobs", Some(new_token), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = daemon.get("/v1/jobs").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        metric(
            &metrics(&daemon).await,
            "imvault_audit_write_failures_total"
        ),
        2.0
    );
}

/// A SIGHUP that points the daemon at another repository is recorded in both: the repository
/// served until then and the new one (before the new settings take effect). One of them
/// suffices: a move to an empty location is recorded in the old one only, and the move from
/// there to a real repository in the new one only; each missing record is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_to_another_repository_is_recorded_in_both() {
    let env = crate::support::env::TestEnv::tiny(166).await;
    let port = free_port();
    let config = write_config(&env, port, NEVER, TOKEN);
    let daemon = Daemon::start(&env, &config, port).await;
    let text = std::fs::read_to_string(&config).unwrap();
    let repo = format!("file://{}", env.dir.path().join("repo").display());
    assert!(text.contains(&format!("url = \"{repo}\"")), "{text}");
    let moved_to = |name: &str| {
        text.replace(
            &repo,
            &format!("file://{}", env.dir.path().join(name).display()),
        )
    };
    let trail = |config: &std::path::Path| -> Vec<Value> {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_imvault"))
            .arg("--config")
            .arg(config)
            .args(["audit", "--json", "--action", "config_reload"])
            .env("IMVAULT_LOG", "warn")
            .output()
            .unwrap();
        crate::support::restore::assert_exit(&out, 0);
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    // Each reload's finished records follow its log line: wait for them.
    let settled = async |config: &std::path::Path, count: usize| -> Vec<Value> {
        wait_until(
            "the reload's records",
            Duration::from_secs(30),
            async || {
                let t = trail(config);
                if t.len() == count && t.iter().all(|e| e["outcome"] != "unknown") {
                    return Ok(t);
                }
                Err(format!("{t:#?}"))
            },
        )
        .await
    };
    let reloads = async |count: usize| {
        wait_until("the reload", Duration::from_secs(30), async || {
            let logs = daemon.logs();
            if logs.matches("configuration reloaded").count() >= count {
                return Ok(());
            }
            Err(logs)
        })
        .await;
    };

    // A second repository, created beforehand.
    let second_config = env.dir.path().join("second.toml");
    std::fs::write(&second_config, moved_to("repo2")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imvault"))
        .arg("--config")
        .arg(&second_config)
        .arg("init")
        .output()
        .unwrap();
    crate::support::restore::assert_exit(&out, 0);

    // To the second repository: recorded in both.
    std::fs::write(&config, moved_to("repo2")).unwrap();
    daemon.signal("HUP");
    reloads(1).await;
    let old = settled(&env.config_path, 1).await;
    assert_eq!(old[0]["outcome"], "ok", "{}", old[0]);
    assert_eq!(old[0]["actor"]["name"], "SIGHUP");
    let new = settled(&second_config, 1).await;
    assert_eq!(new[0]["outcome"], "ok", "{}", new[0]);
    // The daemon now lists the new repository's trail.
    let (s, listed) = daemon.get("/v1/audit?action=config_reload").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(
        metric(
            &metrics(&daemon).await,
            "imvault_audit_write_failures_total"
        ),
        0.0
    );

    // To an empty location: recorded in the second repository only (nothing to write into
    // there), and counted; then back to the first: recorded there only.
    std::fs::write(&config, moved_to("nothing-here")).unwrap();
    daemon.signal("HUP");
    reloads(2).await;
    let new = settled(&second_config, 2).await;
    assert_eq!(new[1]["outcome"], "ok", "{}", new[1]);
    std::fs::write(&config, &text).unwrap();
    daemon.signal("HUP");
    reloads(3).await;
    let old = settled(&env.config_path, 2).await;
    assert_eq!(old[1]["outcome"], "ok", "{}", old[1]);
    assert!(!env.dir.path().join("nothing-here").join("audit").exists());
    assert_eq!(
        metric(
            &metrics(&daemon).await,
            "imvault_audit_write_failures_total"
        ),
        2.0,
        "the two records the empty location could not take"
    );
}
