//! `imvault key` (issue 14): the passwords and key files that open an encrypted repository
//! change without re-encrypting anything, and every snapshot stays readable byte for byte.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use imvault::repo::{BackendConfig, Credential, RepoError, Repository, open_backend};
use imvault::secret::{Secret, SecretBytes};
use object_store::ObjectStore;

use crate::support::repo::{TestVersion, key};

fn imvault(config: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_imvault"));
    for k in ["IMVAULT_CONFIG", "IMVAULT_PASSWORD", "IMVAULT_NEW_PASSWORD"] {
        c.env_remove(k);
    }
    c.arg("--config")
        .arg(config)
        .args(args)
        .envs(vars.iter().copied())
        .output()
        .expect("run imvault")
}

fn ok(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn password(p: &str) -> Credential {
    Credential::Password(Secret::new(p))
}

/// Every version of every snapshot, read back with `credential`.
async fn contents(
    store: &Arc<dyn ObjectStore>,
    credential: &Credential,
) -> Result<Vec<(String, Vec<u8>)>, RepoError> {
    let opened = Repository::open(store.clone(), Some(credential)).await?;
    let snaps = opened.list_snapshots(None).await?;
    let repo = opened.load_index().await?;
    let mut out = Vec::new();
    for s in snaps {
        let recs: Vec<TestVersion> = repo
            .read_meta_stream("versions", &s.manifest.streams["versions"])
            .try_collect()
            .await?;
        for r in recs {
            let parts: Vec<Bytes> = repo.read_content(&r.content).try_collect().await?;
            out.push((format!("{} {}", s.id, r.doc), parts.concat()));
        }
    }
    out.sort();
    Ok(out)
}

/// `key add` (a password, a key file), `key list`, `key passwd` and `key remove`: after each,
/// every snapshot reads back byte for byte with every credential that should open it, and no
/// longer with one that was removed or replaced; the last slot cannot be removed, nor the one
/// that opened the command; no password or key ever shows in an output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_add_remove_passwd_keep_every_snapshot_readable() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let store = open_backend(&BackendConfig::local(&root)).unwrap();
    crate::repository::encryption::repository_with_every_kind(store.clone()).await;
    let first = contents(&store, key().unwrap()).await.unwrap();
    assert!(first.len() >= 3, "{}", first.len());
    let cfg = dir.path().join("imvault.toml");
    let write_cfg = |secret_line: &str| {
        std::fs::write(
            &cfg,
            format!(
                "[repository]\nurl = \"file://{}\"\n{secret_line}\n[catalog]\npath = \"{}\"\n",
                root.display(),
                dir.path().join("catalog.db").display()
            ),
        )
        .unwrap();
    };
    write_cfg(&format!(
        "password = \"{}\"",
        crate::support::repo::TEST_PASSWORD
    ));

    // A second password, from a file.
    let pw2 = dir.path().join("second.password");
    std::fs::write(&pw2, "second password\n").unwrap();
    std::fs::set_permissions(&pw2, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = ok(&imvault(
        &cfg,
        &[
            "key",
            "add",
            "--new-password-file",
            pw2.to_str().unwrap(),
            "--json",
        ],
        &[],
    ));
    let added: serde_json::Value = serde_json::from_str(&out).unwrap();
    let second_id = added["slot"].as_str().unwrap().to_string();
    assert_eq!(
        contents(&store, &password("second password"))
            .await
            .unwrap(),
        first
    );
    assert_eq!(contents(&store, key().unwrap()).await.unwrap(), first);

    // A key-file slot; the key file opens the repository through [repository] key_file.
    let kf = dir.path().join("repo.key");
    let out = ok(&imvault(
        &cfg,
        &["key", "add", "--new-key-file", kf.to_str().unwrap()],
        &[],
    ));
    assert!(out.contains("key file written"), "{out}");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&kf).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let kf_bytes = std::fs::read_to_string(&kf).unwrap();
    let kf_cred = Credential::KeyFile(SecretBytes::new(kf_bytes.trim_end().as_bytes().to_vec()));
    assert_eq!(contents(&store, &kf_cred).await.unwrap(), first);
    assert!(
        !out.contains(kf_bytes.trim_end()),
        "the key is not printed: {out}"
    );

    // list: three slots, the one that opened this command marked.
    let out = ok(&imvault(&cfg, &["key", "list", "--json"], &[]));
    let slots: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(slots.len(), 3, "{out}");
    assert_eq!(
        slots.iter().filter(|s| s["current"] == true).count(),
        1,
        "{out}"
    );
    assert!(!out.contains("second password") && !out.contains(crate::support::repo::TEST_PASSWORD));
    let current = slots.iter().find(|s| s["current"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The slot that opened the command is not removed from under it.
    let o = imvault(&cfg, &["key", "remove", &current[..10]], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("opened the repository with"));

    // passwd: the test password's slot replaced by a third password, given in the environment.
    let out = ok(&imvault(
        &cfg,
        &["key", "passwd"],
        &[("IMVAULT_NEW_PASSWORD", "third password")],
    ));
    assert!(out.contains("replaced"), "{out}");
    assert_eq!(
        contents(&store, &password("third password")).await.unwrap(),
        first
    );
    let e = contents(&store, key().unwrap()).await.unwrap_err();
    assert!(matches!(e, RepoError::WrongPassword { .. }), "{e}");

    // remove the second password's slot, opened with the key file.
    write_cfg(&format!("key_file = \"{}\"", kf.display()));
    ok(&imvault(&cfg, &["key", "remove", &second_id[..12]], &[]));
    let e = contents(&store, &password("second password"))
        .await
        .unwrap_err();
    assert!(matches!(e, RepoError::WrongPassword { .. }), "{e}");
    assert_eq!(contents(&store, &kf_cred).await.unwrap(), first);

    // Down to one slot: removing it is refused, whoever asks.
    write_cfg("password = \"third password\"");
    let out = ok(&imvault(&cfg, &["key", "list", "--json"], &[]));
    let slots: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let kf_slot = slots.iter().find(|s| s["current"] != true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&imvault(&cfg, &["key", "remove", &kf_slot], &[]));
    let out = ok(&imvault(&cfg, &["key", "list", "--json"], &[]));
    let slots: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(slots.len(), 1);
    let last = slots[0]["id"].as_str().unwrap().to_string();
    let o = imvault(&cfg, &["key", "remove", &last], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("last key slot"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        contents(&store, &password("third password")).await.unwrap(),
        first
    );
    let e = contents(&store, &kf_cred).await.unwrap_err();
    assert!(matches!(e, RepoError::WrongPassword { .. }), "{e}");

    // No new password anywhere (no terminal here): refused, nothing changed.
    let o = imvault(&cfg, &["key", "add"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("IMVAULT_NEW_PASSWORD"));
    let out = ok(&imvault(&cfg, &["key", "list", "--json"], &[]));
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&out)
            .unwrap()
            .len(),
        1
    );
}
