//! The simulator's own wire types, written from the contract (`imanage-api.md`) and from nothing
//! else: identifiers (§3), the enumerations of §2, §5 and §6, and the fixed-shape rows the
//! simulator answers with (§2 discovery, §6 security, §8 crawl rows).
//!
//! The imvault client has its own models of the same contract; this crate never uses them, so a
//! client that misreads the contract disagrees with the simulator and a test fails. Document and
//! container objects, whose profiles carry open-ended fields (`custom1`…`custom30`, e-mail
//! fields, fields the contract does not name), are built as JSON maps in `render.rs`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An identifier that does not have the form §3 gives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {what} ({form})")]
pub struct IdError {
    pub what: &'static str,
    pub form: &'static str,
    pub value: String,
}

/// `<digits>` as a number, or `None` (empty, a sign, anything but ASCII digits, too large).
fn digits<T: FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `LIB!<number>` (`^[^!]+![0-9]+$`): a workspace, folder, tab, search folder or a document (all
/// its versions).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    /// The library (database) alias.
    pub library: String,
    pub number: u64,
}

impl ObjectId {
    const FORM: &'static str = "LIB!<number>";
}

impl FromStr for ObjectId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bad = || IdError {
            what: "container or document id",
            form: Self::FORM,
            value: s.to_string(),
        };
        let (library, n) = s.split_once('!').ok_or_else(bad)?;
        if library.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            library: library.to_string(),
            number: digits(n).ok_or_else(bad)?,
        })
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}!{}", self.library, self.number)
    }
}

/// `LIB!<document_number>.<version>` (`^[^!]+![0-9]+\.[0-9]+$`): one version of a document.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionId {
    /// The library (database) alias.
    pub library: String,
    pub number: u64,
    pub version: u32,
}

impl VersionId {
    const FORM: &'static str = "LIB!<document_number>.<version>";
}

impl FromStr for VersionId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        match DocumentRef::from_str(s) {
            Ok(DocumentRef {
                document,
                version: Some(version),
            }) => Ok(Self {
                library: document.library,
                number: document.number,
                version,
            }),
            _ => Err(IdError {
                what: "version id",
                form: Self::FORM,
                value: s.to_string(),
            }),
        }
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}!{}.{}", self.library, self.number, self.version)
    }
}

/// What a `L/documents/{id}` path segment names: a document (`LIB!453`) or one of its versions
/// (`LIB!453.2`). Calls on a version (`GET`, `PATCH`, download) take either; a bare document
/// means its latest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRef {
    pub document: ObjectId,
    pub version: Option<u32>,
}

impl FromStr for DocumentRef {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bad = || IdError {
            what: "document id",
            form: "LIB!<document_number> or LIB!<document_number>.<version>",
            value: s.to_string(),
        };
        let (library, rest) = s.split_once('!').ok_or_else(bad)?;
        if library.is_empty() {
            return Err(bad());
        }
        let (number, version) = match rest.split_once('.') {
            Some((n, v)) => (digits(n), Some(digits(v).ok_or_else(bad)?)),
            None => (digits(rest), None),
        };
        Ok(Self {
            document: ObjectId {
                library: library.to_string(),
                number: number.ok_or_else(bad)?,
            },
            version,
        })
    }
}

/// `access_level` of a trustee, with its numeric `access` (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLevel {
    NoAccess,
    Read,
    ReadWrite,
    FullAccess,
}

impl AccessLevel {
    pub const ALL: [Self; 4] = [
        Self::NoAccess,
        Self::Read,
        Self::ReadWrite,
        Self::FullAccess,
    ];

    /// The numeric `access` field: 0 to 3.
    pub fn code(self) -> u8 {
        self as u8
    }
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
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

/// `default_security` (§6). `inherit` is for containers only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultSecurity {
    /// Containers only: take the parent's.
    Inherit,
    /// Everyone may edit.
    Public,
    /// Everyone may read.
    View,
    /// Only the listed trustees.
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

/// `type` of a trustee (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrusteeType {
    User,
    Group,
}

/// A workspace, folder, tab or search folder: `wstype` and `folder_type` of a container object
/// (§5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerKind {
    Workspace,
    Folder,
    Tab,
    /// Holds a saved query, not content.
    SearchFolder,
}

impl ContainerKind {
    /// `wstype`: `workspace` or `folder`.
    pub fn wstype(self) -> &'static str {
        match self {
            Self::Workspace => "workspace",
            _ => "folder",
        }
    }
    /// `folder_type`: `regular`, `tab` or `search`; workspaces have none.
    pub fn folder_type(self) -> Option<&'static str> {
        match self {
            Self::Workspace => None,
            Self::Folder => Some("regular"),
            Self::Tab => Some("tab"),
            Self::SearchFolder => Some("search"),
        }
    }
    /// Folders and tabs hold documents; workspaces and search folders do not.
    pub fn holds_documents(self) -> bool {
        matches!(self, Self::Folder | Self::Tab)
    }
}

/// `wstype` of a document object (§5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Document,
    Email,
}

/// `user_type` of the signed-in account (§2); `system` opens the §8 crawl endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserType {
    System,
    Regular,
}

impl UserType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Regular => "regular",
        }
    }
}

impl FromStr for UserType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "system" => Ok(Self::System),
            "regular" => Ok(Self::Regular),
            other => Err(format!("user type {other:?} is not system or regular")),
        }
    }
}

/// One entry of `GET L/{kind}/{id}/security` (§6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AclEntry {
    pub id: String,
    #[serde(rename = "type")]
    pub trustee_type: TrusteeType,
    pub name: String,
    pub access_level: AccessLevel,
    /// The numeric form of `access_level`.
    pub access: u8,
}

/// The answer of `GET`/`POST L/{kind}/{id}/security` (§6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityAnswer {
    pub data: Vec<AclEntry>,
    pub default_security: DefaultSecurity,
}

/// One library of `GET P/libraries` (§2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LibraryRow {
    pub id: String,
    #[serde(rename = "type")]
    pub library_type: &'static str,
    pub is_hidden: bool,
}

/// `data.user` of `GET /api` (§2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscoveredUser {
    pub id: &'static str,
    pub customer_id: u64,
    pub user_type: UserType,
    pub email: &'static str,
}

/// A row of `POST L/sync/documents/parents/search` (§8): where a document is filed. The contract
/// names `document_number` and `parent_id`; `document_id` is added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParentRow {
    pub document_number: u64,
    pub document_id: String,
    pub parent_id: String,
}

/// A row of `POST L/sync/documents/security/allowed-trustees/search` (§8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentTrusteeRow {
    pub document_id: String,
    pub id: String,
    #[serde(rename = "type")]
    pub trustee_type: TrusteeType,
    pub access_level: AccessLevel,
}

/// A row of `POST L/sync/containers/security/allowed-trustees/search` (§8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerTrusteeRow {
    pub container_id: String,
    pub id: String,
    #[serde(rename = "type")]
    pub trustee_type: TrusteeType,
    pub access_level: AccessLevel,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_forms_of_section_3() {
        let v: VersionId = "ACTIVE!453.2".parse().unwrap();
        assert_eq!(
            (v.library.as_str(), v.number, v.version),
            ("ACTIVE", 453, 2)
        );
        assert_eq!(v.to_string(), "ACTIVE!453.2");
        let o: ObjectId = "ARCHIVE!17".parse().unwrap();
        assert_eq!(o.to_string(), "ARCHIVE!17");
        for bad in [
            "ACTIVE!453",
            "!1.2",
            "ACTIVE!x.2",
            "ACTIVE!1.",
            "ACTIVE453.2",
            "A!1.2.3",
            "A!-1.2",
            "A!+1.2",
            "A!1.+2",
        ] {
            assert!(bad.parse::<VersionId>().is_err(), "{bad} is no version id");
        }
        for bad in ["ACTIVE!", "ACTIVE!1.2", "ACTIVE", "!5", "A!+5", "A! 5"] {
            assert!(bad.parse::<ObjectId>().is_err(), "{bad} is no container id");
        }
        let d: DocumentRef = "A!5".parse().unwrap();
        assert_eq!((d.document.number, d.version), (5, None));
        let d: DocumentRef = "A!5.3".parse().unwrap();
        assert_eq!((d.document.number, d.version), (5, Some(3)));
        for bad in ["A!5.", "A!.3", "A5", "A!5.x", "!5.3"] {
            assert!(
                bad.parse::<DocumentRef>().is_err(),
                "{bad} is no document id"
            );
        }
        let e = "A!x".parse::<ObjectId>().unwrap_err().to_string();
        assert!(e.contains("\"A!x\"") && e.contains("LIB!<number>"), "{e}");
    }

    #[test]
    fn enums_have_the_wire_names_of_the_contract() {
        for (lvl, code, s) in [
            (AccessLevel::NoAccess, 0, "no_access"),
            (AccessLevel::Read, 1, "read"),
            (AccessLevel::ReadWrite, 2, "read_write"),
            (AccessLevel::FullAccess, 3, "full_access"),
        ] {
            assert_eq!(lvl.code(), code);
            assert_eq!(AccessLevel::from_code(code), Some(lvl));
            assert_eq!(lvl.as_str(), s);
            assert_eq!(serde_json::to_value(lvl).unwrap(), s);
        }
        assert_eq!(AccessLevel::from_code(4), None);
        for ds in [
            DefaultSecurity::Inherit,
            DefaultSecurity::Public,
            DefaultSecurity::View,
            DefaultSecurity::Private,
        ] {
            assert_eq!(serde_json::to_value(ds).unwrap(), ds.as_str());
        }
        assert_eq!(serde_json::to_value(TrusteeType::Group).unwrap(), "group");
        assert_eq!(serde_json::to_value(DocumentKind::Email).unwrap(), "email");
        for (k, w, f) in [
            (ContainerKind::Workspace, "workspace", None),
            (ContainerKind::Folder, "folder", Some("regular")),
            (ContainerKind::Tab, "folder", Some("tab")),
            (ContainerKind::SearchFolder, "folder", Some("search")),
        ] {
            assert_eq!((k.wstype(), k.folder_type()), (w, f));
        }
        for u in [UserType::System, UserType::Regular] {
            assert_eq!(u.as_str().parse::<UserType>(), Ok(u));
            assert_eq!(serde_json::to_value(u).unwrap(), u.as_str());
        }
        assert!("admin".parse::<UserType>().is_err());
    }
}
