//! Typed models of the iManage Work API objects (contract §2, §3, §5, §6).
//!
//! Ids are newtypes parsed from their wire form (`LIB!453`, `LIB!453.2`). Every object that
//! carries a profile also keeps the whole JSON it came from (`raw`), so fields this crate does
//! not know survive a backup and a restore untouched.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A malformed identifier or enum value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: expected {expected}")]
pub struct ParseError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

fn perr(what: &'static str, value: &str, expected: &'static str) -> ParseError {
    ParseError {
        what,
        value: value.to_string(),
        expected,
    }
}

macro_rules! string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A library (database) alias, e.g. `ACTIVE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LibraryId(String);

impl LibraryId {
    pub fn new(s: impl Into<String>) -> Result<Self, ParseError> {
        let s = s.into();
        if s.is_empty() || s.contains('!') || s.contains('/') {
            return Err(perr(
                "library id",
                &s,
                "a non-empty alias without '!' or '/'",
            ));
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for LibraryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl FromStr for LibraryId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::new(s)
    }
}
string_serde!(LibraryId);

fn split_lib<'a>(
    s: &'a str,
    what: &'static str,
    expected: &'static str,
) -> Result<(LibraryId, &'a str), ParseError> {
    let (lib, rest) = s.split_once('!').ok_or_else(|| perr(what, s, expected))?;
    let lib = LibraryId::new(lib).map_err(|_| perr(what, s, expected))?;
    Ok((lib, rest))
}

fn parse_num<T: FromStr>(
    digits: &str,
    what: &'static str,
    whole: &str,
    expected: &'static str,
) -> Result<T, ParseError> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(perr(what, whole, expected));
    }
    digits.parse().map_err(|_| perr(what, whole, expected))
}

/// A workspace, folder, tab or search folder: `LIB!<number>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerId {
    pub library: LibraryId,
    pub number: u64,
}
impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}!{}", self.library, self.number)
    }
}
impl FromStr for ContainerId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        const EXP: &str = "LIB!<number>";
        let (library, n) = split_lib(s, "container id", EXP)?;
        Ok(Self {
            library,
            number: parse_num(n, "container id", s, EXP)?,
        })
    }
}
string_serde!(ContainerId);

/// A document (all its versions): `LIB!<document_number>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId {
    pub library: LibraryId,
    pub number: u64,
}
impl DocumentId {
    pub fn version(&self, version: u32) -> VersionId {
        VersionId {
            document: self.clone(),
            version,
        }
    }
}
impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}!{}", self.library, self.number)
    }
}
impl FromStr for DocumentId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        const EXP: &str = "LIB!<document_number>";
        let (library, n) = split_lib(s, "document id", EXP)?;
        Ok(Self {
            library,
            number: parse_num(n, "document id", s, EXP)?,
        })
    }
}
string_serde!(DocumentId);

/// One version of a document: `LIB!<document_number>.<version>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionId {
    pub document: DocumentId,
    pub version: u32,
}
impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.document, self.version)
    }
}
impl FromStr for VersionId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        const EXP: &str = "LIB!<document_number>.<version>";
        let (library, rest) = split_lib(s, "version id", EXP)?;
        let (n, v) = rest
            .split_once('.')
            .ok_or_else(|| perr("version id", s, EXP))?;
        Ok(Self {
            document: DocumentId {
                library,
                number: parse_num(n, "version id", s, EXP)?,
            },
            version: parse_num(v, "version id", s, EXP)?,
        })
    }
}
string_serde!(VersionId);

/// Access level of one trustee (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLevel {
    NoAccess,
    Read,
    ReadWrite,
    FullAccess,
}
impl AccessLevel {
    /// The numeric `access` field that accompanies `access_level`.
    pub fn code(self) -> u8 {
        match self {
            Self::NoAccess => 0,
            Self::Read => 1,
            Self::ReadWrite => 2,
            Self::FullAccess => 3,
        }
    }
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::NoAccess,
            1 => Self::Read,
            2 => Self::ReadWrite,
            3 => Self::FullAccess,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoAccess => "no_access",
            Self::Read => "read",
            Self::ReadWrite => "read_write",
            Self::FullAccess => "full_access",
        }
    }
}

/// `default_security` of a workspace, folder or document (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultSecurity {
    /// Containers only: take the parent's.
    Inherit,
    Public,
    View,
    Private,
}
impl DefaultSecurity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inherit => "inherit",
            Self::Public => "public",
            Self::View => "view",
            Self::Private => "private",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrusteeType {
    User,
    Group,
}

/// One entry of an ACL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclEntry {
    pub id: String,
    #[serde(rename = "type")]
    pub trustee_type: TrusteeType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub access_level: AccessLevel,
}

/// The security of one object: `GET L/{kind}/{id}/security`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub default_security: DefaultSecurity,
    pub entries: Vec<AclEntry>,
}
impl Acl {
    /// Entries sorted by (type, id), so two ACLs compare regardless of the order the API chose.
    pub fn normalized(mut self) -> Self {
        self.entries
            .sort_by(|a, b| (a.trustee_type, &a.id).cmp(&(b.trustee_type, &b.id)));
        self
    }
}

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

impl Container {
    pub fn from_json(v: Value) -> Result<Self, ShapeError> {
        let Value::Object(raw) = v else {
            return Err(ShapeError {
                what: "container",
                id: None,
                problem: "not a JSON object".into(),
            });
        };
        let idstr = obj_str(&raw, "id").map(str::to_string);
        let bad = |p: String| ShapeError {
            what: "container",
            id: idstr.clone(),
            problem: p,
        };
        let id: ContainerId = idstr
            .as_deref()
            .ok_or_else(|| bad("no id".into()))?
            .parse()
            .map_err(|e: ParseError| bad(e.to_string()))?;
        let wstype = obj_str(&raw, "wstype").ok_or_else(|| bad("no wstype".into()))?;
        let kind =
            ContainerKind::from_wire(wstype, obj_str(&raw, "folder_type")).ok_or_else(|| {
                bad(format!(
                    "unknown wstype/folder_type {wstype:?}/{:?}",
                    obj_str(&raw, "folder_type")
                ))
            })?;
        let opt_id = |k: &str| -> Result<Option<ContainerId>, ShapeError> {
            match obj_str(&raw, k) {
                None | Some("") => Ok(None),
                Some(s) => s
                    .parse()
                    .map(Some)
                    .map_err(|e: ParseError| bad(format!("{k}: {e}"))),
            }
        };
        let default_security = match raw.get("default_security") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                serde_json::from_value(v.clone())
                    .map_err(|e| bad(format!("default_security: {e}")))?,
            ),
        };
        Ok(Self {
            kind,
            name: obj_str(&raw, "name").unwrap_or_default().to_string(),
            parent_id: opt_id("parent_id")?,
            workspace_id: opt_id("workspace_id")?,
            default_security,
            edit_date: obj_str(&raw, "edit_date").map(str::to_string),
            id,
            raw,
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
        let Value::Object(raw) = v else {
            return Err(ShapeError {
                what: "document",
                id: None,
                problem: "not a JSON object".into(),
            });
        };
        let idstr = obj_str(&raw, "id").map(str::to_string);
        let bad = |p: String| ShapeError {
            what: "document",
            id: idstr.clone(),
            problem: p,
        };
        let id: VersionId = idstr
            .as_deref()
            .ok_or_else(|| bad("no id".into()))?
            .parse()
            .map_err(|e: ParseError| bad(e.to_string()))?;
        let kind = match obj_str(&raw, "wstype") {
            None | Some("document") => DocumentKind::Document,
            Some("email") => DocumentKind::Email,
            Some(o) => return Err(bad(format!("unknown wstype {o:?}"))),
        };
        let size = size_field(raw.get("size")).map_err(|p| bad(p.into()))?;
        let default_security = match raw.get("default_security") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                serde_json::from_value(v.clone())
                    .map_err(|e| bad(format!("default_security: {e}")))?,
            ),
        };
        Ok(Self {
            kind,
            name: obj_str(&raw, "name").unwrap_or_default().to_string(),
            extension: obj_str(&raw, "extension").map(str::to_string),
            size,
            edit_date: obj_str(&raw, "edit_date").map(str::to_string),
            edit_profile_date: obj_str(&raw, "edit_profile_date").map(str::to_string),
            default_security,
            id,
            raw,
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

/// One library as listed by `GET P/libraries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Library {
    pub id: LibraryId,
    #[serde(rename = "type", default)]
    pub library_type: Option<String>,
    #[serde(default)]
    pub is_hidden: bool,
}

/// `user_type` of the signed-in account; `system` unlocks the sync crawl (§8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserType {
    System,
    Regular,
    #[serde(other)]
    Other,
}

/// The account that signed in, from `GET {host}/api`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveredUser {
    pub id: String,
    pub customer_id: u64,
    pub user_type: UserType,
    #[serde(default)]
    pub email: Option<String>,
}

/// Where a document is filed: one row per (document, folder).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Filing {
    pub document: DocumentId,
    pub parent: ContainerId,
}

/// OpenAPI schemas of the ids and kinds (they travel as text), for the daemon's API document.
mod openapi {
    use std::borrow::Cow;

    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    use utoipa::{PartialSchema, ToSchema};

    use super::{ContainerId, ContainerKind, DocumentId, DocumentKind, LibraryId, VersionId};

    fn text(description: &str, example: &str) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
            .examples([example])
            .into()
    }

    fn one_of(description: &str, values: &[&'static str]) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
            .enum_values(Some(values.iter().copied()))
            .into()
    }

    macro_rules! schema {
        ($t:ident, $body:expr) => {
            impl PartialSchema for $t {
                fn schema() -> RefOr<Schema> {
                    $body
                }
            }
            impl ToSchema for $t {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed(stringify!($t))
                }
            }
        };
    }

    schema!(LibraryId, text("A library (database) alias", "ACTIVE"));
    schema!(
        ContainerId,
        text("A workspace, folder or tab: LIB!number", "ACTIVE!171")
    );
    schema!(
        DocumentId,
        text("A document (all its versions): LIB!number", "ACTIVE!1042")
    );
    schema!(
        VersionId,
        text(
            "One version of a document: LIB!number.version",
            "ACTIVE!1042.2"
        )
    );
    pub(super) const CONTAINER_KINDS: &[&str] = &["workspace", "folder", "tab", "search_folder"];
    pub(super) const DOCUMENT_KINDS: &[&str] = &["document", "email"];
    schema!(
        ContainerKind,
        one_of("The kind of a container", CONTAINER_KINDS)
    );
    schema!(
        DocumentKind,
        one_of("A document or an e-mail", DOCUMENT_KINDS)
    );

    #[cfg(test)]
    mod tests {
        use super::super::{ContainerKind, DocumentKind};
        use super::{CONTAINER_KINDS, DOCUMENT_KINDS};

        /// The listed values are exactly what serde writes.
        #[test]
        fn enum_values_are_the_serialized_ones() {
            let ser = |v: serde_json::Value| v.as_str().unwrap().to_string();
            let kinds = [
                ContainerKind::Workspace,
                ContainerKind::Folder,
                ContainerKind::Tab,
                ContainerKind::SearchFolder,
            ]
            .map(|k| ser(serde_json::to_value(k).unwrap()));
            assert_eq!(kinds, CONTAINER_KINDS);
            let kinds = [DocumentKind::Document, DocumentKind::Email]
                .map(|k| ser(serde_json::to_value(k).unwrap()));
            assert_eq!(kinds, DOCUMENT_KINDS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let v: VersionId = "ACTIVE!453.2".parse().unwrap();
        assert_eq!(v.document.library.as_str(), "ACTIVE");
        assert_eq!(v.document.number, 453);
        assert_eq!(v.version, 2);
        assert_eq!(v.to_string(), "ACTIVE!453.2");
        let c: ContainerId = "ARCHIVE!17".parse().unwrap();
        assert_eq!(c.to_string(), "ARCHIVE!17");
        for bad in [
            "ACTIVE!453",
            "!1.2",
            "ACTIVE!x.2",
            "ACTIVE!1.",
            "ACTIVE453.2",
            "A!1.2.3",
            "A!-1.2",
        ] {
            assert!(
                bad.parse::<VersionId>().is_err(),
                "{bad} should not parse as a version id"
            );
        }
        for bad in ["ACTIVE!", "ACTIVE!1.2", "ACTIVE", "!5"] {
            assert!(
                bad.parse::<ContainerId>().is_err(),
                "{bad} should not parse as a container id"
            );
        }
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, "\"ACTIVE!453.2\"");
        assert_eq!(serde_json::from_str::<VersionId>(&json).unwrap(), v);
    }

    #[test]
    fn access_levels_match_their_codes() {
        for (lvl, code, s) in [
            (AccessLevel::NoAccess, 0, "\"no_access\""),
            (AccessLevel::Read, 1, "\"read\""),
            (AccessLevel::ReadWrite, 2, "\"read_write\""),
            (AccessLevel::FullAccess, 3, "\"full_access\""),
        ] {
            assert_eq!(lvl.code(), code);
            assert_eq!(AccessLevel::from_code(code), Some(lvl));
            assert_eq!(serde_json::to_string(&lvl).unwrap(), s);
        }
        assert_eq!(AccessLevel::from_code(4), None);
    }

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
