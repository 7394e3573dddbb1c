//! The ids of iManage objects, newtypes parsed from their wire form (`ACTIVE`, `LIB!453`,
//! `LIB!453.2`; contract §2) and written back as the same text.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
}
