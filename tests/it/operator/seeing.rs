//! Seeing what happened: repository figures after `forget`.

use imvault_sim::MutateRequest;

use crate::support::restore::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_after_forget_count_what_the_kept_snapshots_reference() {
    let env = backed_up(1931).await;
    env.sim.mutate(&MutateRequest {
        new_versions: 3,
        profile_edits: 2,
        library: Some(LIB.into()),
        ..Default::default()
    });
    backup(&env).await;
    assert_exit(&cli(&env, &["forget", "--keep-last", "1"]), 0);

    let s = json_of(&cli(&env, &["stats", "--json"]));
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    let r = |k: &str| s[k].as_f64().unwrap_or_else(|| panic!("{k} in {s}"));
    assert!(n("unique_bytes") > 0, "{s}");
    assert!(
        n("unique_bytes") <= n("protected_bytes"),
        "the kept snapshots reference no more unique bytes than they protect: {s}"
    );
    assert!(r("dedup_ratio") >= 1.0, "{s}");
    assert!(
        n("unreferenced_bytes") > 0,
        "the forgotten snapshots' metadata is counted apart until prune: {s}"
    );
    assert_exit(&cli(&env, &["prune", "--grace", "0"]), 0);
    let after = json_of(&cli(&env, &["stats", "--json"]));
    assert_eq!(after["unreferenced_bytes"], 0, "{after}");
    assert_eq!(
        after["unique_bytes"], s["unique_bytes"],
        "prune removes only what the kept snapshots do not reference: {after}"
    );
    let text = cli(&env, &["stats"]);
    assert_exit(&text, 0);
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(out.contains("unreferenced bytes"), "{out}");
}
