//! The signed-in account and its libraries, from discovery (contract §2, §3).

use serde::{Deserialize, Serialize};

use super::ids::LibraryId;

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
