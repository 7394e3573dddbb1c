//! [`RestoreRequest`]: what to restore, as of when, and where — the `imvault restore` flags as a
//! serde struct (the daemon takes it as JSON from `POST /v1/restores`).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RestoreError;
use crate::imanage::model::{ContainerId, DocumentId, LibraryId};

/// Whether restored items get the ACL they had in the snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AclMode {
    /// Re-apply the snapshot's ACL (default_security and trustees).
    #[default]
    Keep,
    /// Leave the target's security as it is (new items take the target's defaults).
    Inherit,
}

/// `--into original`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntoPlace {
    Original,
}

/// A restore request. Exactly one of `document`, `folder`, `workspace`, `library`; at most one
/// of `at`, `snapshot` (neither: the newest snapshot); exactly one of `to`, `into`,
/// `into_folder`.
///
/// ```json
/// {"document": "ACTIVE!1042", "version": 1, "at": "2026-11-03T00:00:00Z", "to": "/srv/restores/r1"}
/// {"folder": "ACTIVE!171", "snapshot": "5e1d0a", "into": "original", "acl": "keep"}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RestoreRequest {
    /// A document (`LIB!N`): all its versions, or only `version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentId>,
    /// With `document`: only this version.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub version: Option<u32>,
    /// A folder or tab (`LIB!N`) with everything under it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folder: Option<ContainerId>,
    /// A workspace (`LIB!N`) with everything under it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<ContainerId>,
    /// A whole library.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library: Option<LibraryId>,
    /// As of this time: the newest snapshot of the library taken at or before it. The forms of
    /// `imvault restore --at`: RFC 3339 (`2026-11-03T14:02:11Z`), or `YYYY-MM-DD[ HH:MM]` in
    /// the local time zone of the daemon's host (a date alone means 00:00).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "operator_time"
    )]
    #[schema(value_type = Option<String>, example = "2026-11-03 18:00")]
    pub at: Option<DateTime<Utc>>,
    /// This snapshot (its id or a unique prefix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Export into this directory (absolute, on the daemon's host).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub to: Option<PathBuf>,
    /// With `to`: allow a non-empty directory (existing files are still never overwritten).
    pub merge: bool,
    /// Back into iManage where the items were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub into: Option<IntoPlace>,
    /// Into iManage, as new documents (and folders) under this folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub into_folder: Option<ContainerId>,
    pub acl: AclMode,
    /// Plan and report, write nothing.
    pub dry_run: bool,
}

/// `at` as an operator types it, through the parser of `--at` ([`super::when::parse_time`]).
fn operator_time<'de, D>(d: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| super::when::parse_time(&s).map_err(serde::de::Error::custom))
        .transpose()
}

/// What to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Document {
        id: DocumentId,
        version: Option<u32>,
    },
    Folder(ContainerId),
    Workspace(ContainerId),
    Library(LibraryId),
}

impl Selection {
    pub fn library(&self) -> &LibraryId {
        match self {
            Self::Document { id, .. } => &id.library,
            Self::Folder(c) | Self::Workspace(c) => &c.library,
            Self::Library(l) => l,
        }
    }
}

impl std::fmt::Display for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Document {
                id,
                version: Some(v),
            } => write!(f, "version {}", id.version(*v)),
            Self::Document { id, version: None } => write!(f, "document {id}"),
            Self::Folder(c) => write!(f, "folder {c}"),
            Self::Workspace(c) => write!(f, "workspace {c}"),
            Self::Library(l) => write!(f, "library {l}"),
        }
    }
}

/// Where restored items go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Directory { path: PathBuf, merge: bool },
    Original,
    Folder(ContainerId),
}

impl Destination {
    /// The directory an export writes (and syncs); `None` for a restore into iManage.
    pub fn directory(&self) -> Option<&std::path::Path> {
        match self {
            Self::Directory { path, .. } => Some(path),
            Self::Original | Self::Folder(_) => None,
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Directory { path, merge: false } => write!(f, "directory {}", path.display()),
            Self::Directory { path, merge: true } => {
                write!(f, "directory {} (merge)", path.display())
            }
            Self::Original => f.write_str("the original place in iManage"),
            Self::Folder(c) => write!(f, "iManage folder {c}"),
        }
    }
}

/// A checked request.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRequest {
    pub selection: Selection,
    pub at: Option<DateTime<Utc>>,
    pub snapshot: Option<String>,
    pub destination: Destination,
    pub acl: AclMode,
    pub dry_run: bool,
}

impl RestoreRequest {
    /// The request with its library spelled `library` wherever it names the same library in
    /// another case (libraries match case-insensitively, as the configuration's do).
    pub fn with_library_spelled(mut self, library: &LibraryId) -> Self {
        let same = |l: &LibraryId| l.as_str().eq_ignore_ascii_case(library.as_str());
        let fix = |l: &mut LibraryId| {
            if same(l) {
                *l = library.clone();
            }
        };
        if let Some(d) = &mut self.document {
            fix(&mut d.library);
        }
        for c in [&mut self.folder, &mut self.workspace, &mut self.into_folder]
            .into_iter()
            .flatten()
        {
            fix(&mut c.library);
        }
        if let Some(l) = &mut self.library {
            fix(l);
        }
        self
    }

    /// One line for logs: what and where.
    pub fn describe(&self) -> String {
        match self.validate() {
            Ok(v) => format!("{} into {}", v.selection, v.destination),
            Err(_) => "invalid request".into(),
        }
    }

    pub fn validate(&self) -> Result<ValidRequest, RestoreError> {
        let bad = |field: &'static str, m: &str| {
            Err(RestoreError::InvalidField {
                field,
                message: m.to_string(),
            })
        };
        let picked = [
            self.document.is_some(),
            self.folder.is_some(),
            self.workspace.is_some(),
            self.library.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if picked != 1 {
            return bad(
                "document",
                "name exactly one of document, folder, workspace, library",
            );
        }
        if self.version.is_some() && self.document.is_none() {
            return bad("version", "version needs document");
        }
        if self.version == Some(0) {
            return bad("version", "versions are numbered from 1");
        }
        if self.at.is_some() && self.snapshot.is_some() {
            return bad("snapshot", "give at most one of at and snapshot");
        }
        if let Some(s) = &self.snapshot
            && (s.len() < 4 || !s.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return bad(
                "snapshot",
                "snapshot must be a snapshot id or a prefix of at least 4 hex digits",
            );
        }
        let selection = if let Some(id) = &self.document {
            Selection::Document {
                id: id.clone(),
                version: self.version,
            }
        } else if let Some(c) = &self.folder {
            Selection::Folder(c.clone())
        } else if let Some(c) = &self.workspace {
            Selection::Workspace(c.clone())
        } else if let Some(l) = &self.library {
            Selection::Library(l.clone())
        } else {
            return bad("document", "nothing to restore");
        };
        let dests = [
            self.to.is_some(),
            self.into.is_some(),
            self.into_folder.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if dests != 1 {
            return bad(
                "to",
                "name exactly one destination: to, into or into_folder",
            );
        }
        if self.merge && self.to.is_none() {
            return bad("merge", "merge only applies to an export (to)");
        }
        let destination = if let Some(p) = &self.to {
            if p.as_os_str().is_empty() {
                return bad("to", "to is an empty path");
            }
            Destination::Directory {
                path: p.clone(),
                merge: self.merge,
            }
        } else if let Some(f) = &self.into_folder {
            if &f.library != selection.library() {
                return bad(
                    "into_folder",
                    "into_folder must be in the library being restored",
                );
            }
            Destination::Folder(f.clone())
        } else {
            Destination::Original
        };
        Ok(ValidRequest {
            selection,
            at: self.at,
            snapshot: self.snapshot.clone(),
            destination,
            acl: self.acl,
            dry_run: self.dry_run,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_unknown_fields_refused() {
        let r: RestoreRequest = serde_json::from_str(
            r#"{"document":"ACTIVE!1042","version":1,"at":"2026-11-03T00:00:00Z","to":"/tmp/x"}"#,
        )
        .unwrap();
        let v = r.validate().unwrap();
        assert_eq!(
            v.selection,
            Selection::Document {
                id: "ACTIVE!1042".parse().unwrap(),
                version: Some(1)
            }
        );
        let back: RestoreRequest =
            serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        let e = serde_json::from_str::<RestoreRequest>(
            r#"{"folder":"A!1","into":"original","tp":"x"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("tp"), "{e}");
    }

    #[test]
    fn at_takes_the_forms_of_the_command_line() {
        let at = |v: &str| {
            serde_json::from_value::<RestoreRequest>(
                serde_json::json!({"library": "ACTIVE", "into": "original", "at": v}),
            )
            .map(|r| r.at.unwrap())
        };
        for form in [
            "2026-11-03",
            "2026-11-03 18:00",
            "2026-11-03T18:00:00+01:00",
        ] {
            assert_eq!(
                at(form).unwrap(),
                crate::restore::when::parse_time(form).unwrap(),
                "{form}"
            );
        }
        let e = at("03/11/2026").unwrap_err().to_string();
        assert!(
            e.contains("invalid time") && e.contains("YYYY-MM-DD"),
            "{e}"
        );
    }

    #[test]
    fn contradictions_are_refused() {
        let base = RestoreRequest {
            folder: Some("ACTIVE!7".parse().unwrap()),
            into: Some(IntoPlace::Original),
            ..Default::default()
        };
        assert!(base.validate().is_ok());
        for (r, needle) in [
            (
                RestoreRequest {
                    document: Some("ACTIVE!9".parse().unwrap()),
                    ..base.clone()
                },
                "exactly one of",
            ),
            (
                RestoreRequest {
                    to: Some("/x".into()),
                    ..base.clone()
                },
                "destination",
            ),
            (
                RestoreRequest {
                    version: Some(2),
                    ..base.clone()
                },
                "version needs document",
            ),
            (
                RestoreRequest {
                    at: Some(Utc::now()),
                    snapshot: Some("abcd".into()),
                    ..base.clone()
                },
                "at most one",
            ),
            (
                RestoreRequest {
                    into: None,
                    into_folder: Some("ARCHIVE!5".parse().unwrap()),
                    ..base.clone()
                },
                "library being restored",
            ),
        ] {
            let e = r.validate().unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }
}
