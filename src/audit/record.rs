//! What one audit record says (docs/FORMAT.md, "Audit records"): who did what, where, with which
//! parameters, and how it ended. Parameters are typed and never hold a secret.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The version of the record layout.
pub const RECORD_VERSION: u32 = 1;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A person at the command line: the operating-system user of the process.
    User {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uid: Option<u32>,
    },
    /// A caller of the daemon's HTTP API: the name of the bearer token it presented.
    Token { name: String },
    /// The daemon itself (a scheduled job, a configuration reload by signal).
    Daemon { name: String },
}

impl Actor {
    /// The name filters match (`--actor`): the user, the token's name or the daemon's part.
    pub fn name(&self) -> &str {
        match self {
            Self::User { name, .. } | Self::Token { name } | Self::Daemon { name } => name,
        }
    }

    /// The user running this process: the name of the effective uid in the password database,
    /// else `$USER`, else `uid <n>`.
    pub fn current_user() -> Self {
        let uid = current_uid();
        let name = uid
            .and_then(user_name)
            .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| match uid {
                Some(u) => format!("uid {u}"),
                None => "unknown".into(),
            });
        Self::User { name, uid }
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User { name, .. } => write!(f, "user {name}"),
            Self::Token { name } => write!(f, "token {name}"),
            Self::Daemon { name } => write!(f, "daemon {name}"),
        }
    }
}

#[cfg(unix)]
fn current_uid() -> Option<u32> {
    Some(crate::private_fs::current_uid())
}
#[cfg(not(unix))]
fn current_uid() -> Option<u32> {
    None
}

/// The user name of `uid` from the password database (NSS), if it has one.
#[cfg(unix)]
fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: getpwuid_r writes only into `pwd` and `buf` (of the length given) and sets
    // `result` to null or to `pwd`; `pw_name` then points into `buf`, which outlives its use.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(pwd.pw_name)
            .to_string_lossy()
            .into_owned();
        (!name.is_empty()).then_some(name)
    }
}
#[cfg(not(unix))]
fn user_name(_uid: u32) -> Option<String> {
    None
}

/// Where a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RestoreTarget {
    /// Exported to a local directory.
    Directory { path: PathBuf },
    /// Written back into iManage where each item was.
    Original,
    /// Written into iManage under another folder.
    Folder { folder: String },
}

/// What was done, with its parameters. The JSON tag (`action`) is [`ActionKind::as_str`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A restore to a directory (`export`) or into iManage (`restore`): what, as of when, where.
    Restore {
        /// What was asked for, as the restore describes it (`document LIB!42 v3`, …).
        what: String,
        library: Option<String>,
        /// The requested point in time, if any.
        at: Option<DateTime<Utc>>,
        /// The snapshot asked for by id, if any.
        snapshot: Option<String>,
        target: RestoreTarget,
    },
    Forget {
        /// The keep policy, as given.
        policy: serde_json::Value,
        library: Option<String>,
    },
    Prune {
        max_repack_percent: f64,
        grace_secs: u64,
    },
    /// `imvault recover`: bringing back objects from their Object Lock versions.
    Recover {
        #[serde(default)]
        params: serde_json::Value,
    },
    /// A legal hold placed.
    HoldAdd {
        /// The hold's id, once known.
        hold: Option<String>,
        /// What it covers (`client 1001 matter 7`, `document LIB!42`, …).
        scope: String,
        reason: String,
    },
    HoldRelease {
        hold: String,
        reason: String,
    },
    /// A key slot added (never the password: the slot's kind only).
    KeyAdd {
        kind: crate::repo::SlotKind,
    },
    KeyRemove {
        slot: String,
    },
    KeyPasswd {
        kind: crate::repo::SlotKind,
    },
    /// The repository created.
    Init {
        url: String,
        encrypted: bool,
    },
    /// The daemon re-read its configuration (SIGHUP).
    ConfigReload {
        config: PathBuf,
    },
    /// `imvault repair index`: index objects written for packs no index named.
    RepairIndex {},
    /// `imvault cat blob`: one blob's decrypted content printed.
    Cat {
        /// `blob <id>`.
        object: String,
    },
    /// A state-changing call of the HTTP API (POST, PUT, PATCH, DELETE under `/v1`).
    ApiCall {
        method: String,
        path: String,
    },
}

/// The kinds of [`Action`], for filters (`imvault audit --action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Export,
    Restore,
    Forget,
    Prune,
    Recover,
    HoldAdd,
    HoldRelease,
    KeyAdd,
    KeyRemove,
    KeyPasswd,
    Init,
    ConfigReload,
    RepairIndex,
    Cat,
    ApiCall,
}

impl ActionKind {
    pub const ALL: &[ActionKind] = &[
        Self::Export,
        Self::Restore,
        Self::Forget,
        Self::Prune,
        Self::Recover,
        Self::HoldAdd,
        Self::HoldRelease,
        Self::KeyAdd,
        Self::KeyRemove,
        Self::KeyPasswd,
        Self::Init,
        Self::ConfigReload,
        Self::RepairIndex,
        Self::Cat,
        Self::ApiCall,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Export => "export",
            Self::Restore => "restore",
            Self::Forget => "forget",
            Self::Prune => "prune",
            Self::Recover => "recover",
            Self::HoldAdd => "hold_add",
            Self::HoldRelease => "hold_release",
            Self::KeyAdd => "key_add",
            Self::KeyRemove => "key_remove",
            Self::KeyPasswd => "key_passwd",
            Self::Init => "init",
            Self::ConfigReload => "config_reload",
            Self::RepairIndex => "repair_index",
            Self::Cat => "cat",
            Self::ApiCall => "api_call",
        }
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ActionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let want = s.trim().replace('-', "_").to_ascii_lowercase();
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == want)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown action {s:?} (one of: {})", names.join(", "))
            })
    }
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Self::Restore {
                target: RestoreTarget::Directory { .. },
                ..
            } => ActionKind::Export,
            Self::Restore { .. } => ActionKind::Restore,
            Self::Forget { .. } => ActionKind::Forget,
            Self::Prune { .. } => ActionKind::Prune,
            Self::Recover { .. } => ActionKind::Recover,
            Self::HoldAdd { .. } => ActionKind::HoldAdd,
            Self::HoldRelease { .. } => ActionKind::HoldRelease,
            Self::KeyAdd { .. } => ActionKind::KeyAdd,
            Self::KeyRemove { .. } => ActionKind::KeyRemove,
            Self::KeyPasswd { .. } => ActionKind::KeyPasswd,
            Self::Init { .. } => ActionKind::Init,
            Self::ConfigReload { .. } => ActionKind::ConfigReload,
            Self::RepairIndex {} => ActionKind::RepairIndex,
            Self::Cat { .. } => ActionKind::Cat,
            Self::ApiCall { .. } => ActionKind::ApiCall,
        }
    }
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Failed { message: String },
}

/// Figures of a finished action (those that apply).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// Document versions restored or exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<u64>,
    /// Bytes restored or exported; bytes deleted by prune.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Snapshots forgotten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<u64>,
    /// Items that failed (restore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<u64>,
    /// The HTTP status an API call answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The job an API call queued or touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The legal hold a `hold_add` placed (its id is only known once it is placed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<String>,
    /// Recover: delete markers removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markers_removed: Option<u64>,
    /// Recover: object versions removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions_removed: Option<u64>,
    /// Recover: keys whose version of the recovery time is current again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_restored: Option<u64>,
    /// Recover: keys written after the recovery time, removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_removed: Option<u64>,
    /// Recover: keys under the repository prefix that are not imvault's, left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_left_alone: Option<u64>,
}

/// The two records of one action: `started` before anything is done, `finished` after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started {
        #[serde(flatten)]
        action: Action,
    },
    Finished {
        /// The `seq` of this action's `started` record (same writer).
        started: u64,
        outcome: Outcome,
        #[serde(default)]
        figures: Figures,
    },
}

/// One record (`audit/<writer>/<seq>`), as sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub version: u32,
    /// The writer (32 hex characters, random per state directory).
    pub writer: String,
    /// 1, 2, 3… per writer, no gaps.
    pub seq: u64,
    /// BLAKE3 (hex) of the stored bytes of record `seq - 1`; `None` for the first.
    pub prev: Option<String>,
    pub time: DateTime<Utc>,
    pub actor: Actor,
    pub host: String,
    pub pid: u32,
    #[serde(flatten)]
    pub event: Event,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every action's record decodes to what was encoded, and names its kind.
    #[test]
    fn records_round_trip_through_json() {
        let actions = vec![
            Action::Restore {
                what: "folder A!1".into(),
                library: Some("A".into()),
                at: Some("2026-11-03T00:00:00Z".parse().unwrap()),
                snapshot: None,
                target: RestoreTarget::Folder {
                    folder: "A!2".into(),
                },
            },
            Action::Forget {
                policy: serde_json::json!({"keep_last": 1}),
                library: None,
            },
            Action::Prune {
                max_repack_percent: 12.5,
                grace_secs: 3600,
            },
            Action::Recover {
                params: serde_json::json!({"at": "x"}),
            },
            Action::HoldAdd {
                hold: None,
                scope: "client 1001".into(),
                reason: "litigation, \"quoted\"".into(),
            },
            Action::HoldRelease {
                hold: "h1".into(),
                reason: "settled".into(),
            },
            Action::KeyAdd {
                kind: crate::repo::SlotKind::KeyFile,
            },
            Action::KeyRemove { slot: "ab".into() },
            Action::KeyPasswd {
                kind: crate::repo::SlotKind::Password,
            },
            Action::Init {
                url: "file:///r".into(),
                encrypted: true,
            },
            Action::ConfigReload {
                config: "/etc/imvault/imvault.toml".into(),
            },
            Action::RepairIndex {},
            Action::Cat {
                object: "blob ab".into(),
            },
            Action::ApiCall {
                method: "POST".into(),
                path: "/v1/restores".into(),
            },
        ];
        let mut kinds = std::collections::BTreeSet::new();
        for (i, action) in actions.into_iter().enumerate() {
            let rec = Record {
                version: RECORD_VERSION,
                writer: "0".repeat(32),
                seq: i as u64 + 1,
                prev: None,
                time: Utc::now(),
                actor: Actor::Token { name: "ops".into() },
                host: "h".into(),
                pid: 1,
                event: Event::Started {
                    action: action.clone(),
                },
            };
            let json = serde_json::to_vec(&rec).unwrap();
            let back: Record = serde_json::from_slice(&json).unwrap();
            assert_eq!(back, rec, "{}", String::from_utf8_lossy(&json));
            let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
            assert_eq!(v["event"], "started");
            assert!(v["action"].is_string(), "the action is tagged: {v}");
            kinds.insert(action.kind().as_str());
        }
        // Export and restore are the two kinds of one action.
        assert_eq!(kinds.len(), ActionKind::ALL.len() - 1);
        let fin = Event::Finished {
            started: 3,
            outcome: Outcome::Failed {
                message: "no".into(),
            },
            figures: Figures {
                bytes: Some(1),
                ..Default::default()
            },
        };
        let json = serde_json::to_string(&fin).unwrap();
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), fin);
        for k in ActionKind::ALL {
            assert_eq!(k.as_str().parse::<ActionKind>().unwrap(), *k);
        }
        assert!(
            "delete_all"
                .parse::<ActionKind>()
                .unwrap_err()
                .contains("hold_add")
        );
        assert_eq!("Key-Add".parse::<ActionKind>().unwrap(), ActionKind::KeyAdd);
    }
}
