//! Security of iManage objects (contract §6): access levels, default security, ACLs.

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
