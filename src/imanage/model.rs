//! Typed models of the iManage Work API objects (contract §2, §3, §5, §6): containers and
//! document versions with their kinds, change keys and filings.
//!
//! Every object that carries a profile also keeps the whole JSON it came from (`raw`), so fields
//! this crate does not know survive a backup and a restore untouched. The ids live in
//! [`super::ids`], security in [`super::security`], the account and its libraries in
//! [`super::account`]; all are re-exported here, so `imanage::model::X` names every type of the
//! model.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use super::account::{DiscoveredUser, Library, UserType};
pub use super::ids::{ContainerId, DocumentId, LibraryId, ParseError, VersionId};
pub use super::security::{AccessLevel, Acl, AclEntry, DefaultSecurity, TrusteeType};

/// The kind of a container, from `wstype` and `folder_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerKind {
    Workspace,
    Folder,
    Tab,
    /// A saved query: back up its definition, never walk into it.
    SearchFolder,
}
impl std::fmt::Display for ContainerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Workspace => "workspace",
            Self::Folder => "folder",
            Self::Tab => "tab",
            Self::SearchFolder => "search folder",
        })
    }
}

impl ContainerKind {
    /// Path segment used by `L/{kind}/{id}/security` and friends.
    pub fn api_collection(self) -> &'static str {
        match self {
            Self::Workspace => "workspaces",
            _ => "folders",
        }
    }
    pub fn from_wire(wstype: &str, folder_type: Option<&str>) -> Option<Self> {
        match (wstype, folder_type) {
            ("workspace", _) => Some(Self::Workspace),
            ("folder", None | Some("regular")) => Some(Self::Folder),
            ("folder", Some("tab")) => Some(Self::Tab),
            ("folder", Some("search")) => Some(Self::SearchFolder),
            _ => None,
        }
    }
}

/// `document` or `email` (`wstype` of a document object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Document,
    Email,
}

fn obj_str<'a>(raw: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    raw.get(key).and_then(Value::as_str)
}

/// The JSON did not have the shape of the object it should describe.
#[derive(Debug, Clone, thiserror::Error)]
#[error("malformed {what} object{}: {problem}", id.as_ref().map(|i| format!(" {i}")).unwrap_or_default())]
pub struct ShapeError {
    pub what: &'static str,
    pub id: Option<String>,
    pub problem: String,
}

/// A workspace, folder, tab or search folder, with its whole JSON profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    pub id: ContainerId,
    pub kind: ContainerKind,
    pub name: String,
    pub parent_id: Option<ContainerId>,
    pub workspace_id: Option<ContainerId>,
    pub default_security: Option<DefaultSecurity>,
    pub edit_date: Option<String>,
    /// The object exactly as the API returned it.
    pub raw: Map<String, Value>,
}

/// A wire object being read into a model type: its fields, and errors naming it.
struct WireObject {
    raw: Map<String, Value>,
    what: &'static str,
    id: Option<String>,
}

impl WireObject {
    fn new(v: Value, what: &'static str) -> Result<Self, ShapeError> {
        let Value::Object(raw) = v else {
            return Err(ShapeError {
                what,
                id: None,
                problem: "not a JSON object".into(),
            });
        };
        let id = obj_str(&raw, "id").map(str::to_string);
        Ok(Self { raw, what, id })
    }

    fn bad(&self, problem: String) -> ShapeError {
        ShapeError {
            what: self.what,
            id: self.id.clone(),
            problem,
        }
    }

    /// Its `id`, parsed.
    fn id<T: std::str::FromStr<Err = ParseError>>(&self) -> Result<T, ShapeError> {
        self.id
            .as_deref()
            .ok_or_else(|| self.bad("no id".into()))?
            .parse()
            .map_err(|e: ParseError| self.bad(e.to_string()))
    }

    /// Its `default_security`, absent or null being none.
    fn default_security(&self) -> Result<Option<DefaultSecurity>, ShapeError> {
        match self.raw.get("default_security") {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| self.bad(format!("default_security: {e}"))),
        }
    }
}

impl Container {
    pub fn from_json(v: Value) -> Result<Self, ShapeError> {
        let w = WireObject::new(v, "container")?;
        let id: ContainerId = w.id()?;
        let (raw, bad) = (&w.raw, |p: String| w.bad(p));
        let wstype = obj_str(raw, "wstype").ok_or_else(|| bad("no wstype".into()))?;
        let kind =
            ContainerKind::from_wire(wstype, obj_str(raw, "folder_type")).ok_or_else(|| {
                bad(format!(
                    "unknown wstype/folder_type {wstype:?}/{:?}",
                    obj_str(raw, "folder_type")
                ))
            })?;
        let opt_id = |k: &str| -> Result<Option<ContainerId>, ShapeError> {
            match obj_str(raw, k) {
                None | Some("") => Ok(None),
                Some(s) => s
                    .parse()
                    .map(Some)
                    .map_err(|e: ParseError| bad(format!("{k}: {e}"))),
            }
        };
        let default_security = w.default_security()?;
        Ok(Self {
            kind,
            name: obj_str(raw, "name").unwrap_or_default().to_string(),
            parent_id: opt_id("parent_id")?,
            workspace_id: opt_id("workspace_id")?,
            default_security,
            edit_date: obj_str(raw, "edit_date").map(str::to_string),
            id,
            raw: w.raw,
        })
    }
}

/// One version of a document or e-mail, with its whole JSON profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentVersion {
    pub id: VersionId,
    pub kind: DocumentKind,
    pub name: String,
    pub extension: Option<String>,
    pub size: u64,
    pub edit_date: Option<String>,
    pub edit_profile_date: Option<String>,
    pub default_security: Option<DefaultSecurity>,
    /// The object exactly as the API returned it.
    pub raw: Map<String, Value>,
}

impl DocumentVersion {
    pub fn document_id(&self) -> &DocumentId {
        &self.id.document
    }

    pub fn from_json(v: Value) -> Result<Self, ShapeError> {
        let w = WireObject::new(v, "document")?;
        let id: VersionId = w.id()?;
        let (raw, bad) = (&w.raw, |p: String| w.bad(p));
        let kind = match obj_str(raw, "wstype") {
            None | Some("document") => DocumentKind::Document,
            Some("email") => DocumentKind::Email,
            Some(o) => return Err(bad(format!("unknown wstype {o:?}"))),
        };
        let size = size_field(raw.get("size")).map_err(|p| bad(p.into()))?;
        let default_security = w.default_security()?;
        Ok(Self {
            kind,
            name: obj_str(raw, "name").unwrap_or_default().to_string(),
            extension: obj_str(raw, "extension").map(str::to_string),
            size,
            edit_date: obj_str(raw, "edit_date").map(str::to_string),
            edit_profile_date: obj_str(raw, "edit_profile_date").map(str::to_string),
            default_security,
            id,
            raw: w.raw,
        })
    }

    /// The change-detection key of §5: equal keys mean the version need not be downloaded again.
    pub fn change_key(&self) -> ChangeKey {
        ChangeKey {
            id: self.id.clone(),
            size: self.size,
            edit_date: self.edit_date.clone(),
            edit_profile_date: self.edit_profile_date.clone(),
        }
    }
}

/// `size` of a document object: a non-negative integer, or 0 when absent or null.
pub fn size_field(v: Option<&Value>) -> Result<u64, &'static str> {
    match v {
        Some(Value::Number(n)) => n.as_u64().ok_or("size is not a non-negative integer"),
        None | Some(Value::Null) => Ok(0),
        Some(_) => Err("size is not a number"),
    }
}

/// `id`, `size`, `edit_date`, `edit_profile_date`: a version is unchanged when all four match.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChangeKey {
    pub id: VersionId,
    pub size: u64,
    pub edit_date: Option<String>,
    pub edit_profile_date: Option<String>,
}

impl ChangeKey {
    /// The change key from those four fields of a document object, read as
    /// [`DocumentVersion::from_json`] reads them; `None` where it would refuse the object.
    pub fn from_fields(
        id: Option<&Value>,
        size: Option<&Value>,
        edit_date: Option<&Value>,
        edit_profile_date: Option<&Value>,
    ) -> Option<Self> {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        Some(Self {
            id: id.and_then(Value::as_str)?.parse().ok()?,
            size: size_field(size).ok()?,
            edit_date: text(edit_date),
            edit_profile_date: text(edit_profile_date),
        })
    }
}

/// Where a document is filed: one row per (document, folder).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Filing {
    pub document: DocumentId,
    pub parent: ContainerId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_keeps_unknown_fields() {
        let v = serde_json::json!({"id":"ACTIVE!9.3","wstype":"email","size":12,"name":"Re: x",
            "edit_date":"2026-11-03T14:02:11Z","future_field":{"a":1}});
        let d = DocumentVersion::from_json(v).unwrap();
        assert_eq!(d.kind, DocumentKind::Email);
        assert_eq!(d.size, 12);
        assert_eq!(d.raw["future_field"]["a"], 1);
        let bad =
            DocumentVersion::from_json(serde_json::json!({"id":"ACTIVE!9","size":1})).unwrap_err();
        assert!(bad.to_string().contains("ACTIVE!9"), "{bad}");
    }

    #[test]
    fn container_kinds_from_wire() {
        let t = Container::from_json(
            serde_json::json!({"id":"A!5","wstype":"folder","folder_type":"tab",
            "parent_id":"A!1","workspace_id":"A!1","default_security":"inherit"}),
        )
        .unwrap();
        assert_eq!(t.kind, ContainerKind::Tab);
        assert_eq!(t.parent_id.unwrap().number, 1);
        assert_eq!(t.default_security, Some(DefaultSecurity::Inherit));
        let s = Container::from_json(
            serde_json::json!({"id":"A!6","wstype":"folder","folder_type":"search"}),
        )
        .unwrap();
        assert_eq!(s.kind, ContainerKind::SearchFolder);
    }
}
