//! Profiles on the wire: the fields read from the raw JSON objects the API returns, and the
//! bodies the client sends to create documents, versions, workspaces and folders (contract §7).
//! The rest of imvault keeps profiles as the API gave them and asks here for what they mean.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::model::{Acl, DefaultSecurity, TrusteeType};

/// Profile fields a restore sends back (contract §7 `doc_profile`, plus the e-mail fields),
/// besides `custom1`…`custom30`. Everything the server owns (ids, numbers, sizes, dates it
/// stamps) stays out.
pub const RESTORED_PROFILE_FIELDS: &[&str] = &[
    "name",
    "extension",
    "author",
    "operator",
    "class",
    "subclass",
    "file_create_date",
    "file_edit_date",
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "sent_date",
    "received_date",
    "has_attachment",
    "conversation_id",
];

/// A profile field as text, read from the nested `profile` object (containers) or the top
/// level (documents); empty text counts as absent.
pub fn field<'a>(raw: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    raw.get("profile")
        .and_then(Value::as_object)
        .and_then(|p| p.get(key))
        .or_else(|| raw.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A top-level field of a raw object as text; empty text counts as absent.
pub fn top_field<'a>(raw: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    raw.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A workspace's client code (`custom1`).
pub fn client_code(raw: &Map<String, Value>) -> Option<&str> {
    field(raw, "custom1")
}

/// A workspace's matter code (`custom2`).
pub fn matter_code(raw: &Map<String, Value>) -> Option<&str> {
    field(raw, "custom2")
}

/// A container's nested `profile` object (`{}` when it has none).
pub fn container_profile(raw: &Map<String, Value>) -> Value {
    raw.get("profile").cloned().unwrap_or(json!({}))
}

/// A container's `default_security`, when the object carries a known one.
pub fn default_security(raw: &Map<String, Value>) -> Option<DefaultSecurity> {
    raw.get("default_security")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// `custom1` … `custom30`.
fn is_custom_field(key: &str) -> bool {
    key.strip_prefix("custom")
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| (1..=30).contains(&n))
}

/// The `profile` part of an upload (a new document or version): the restorable fields of
/// `profile`, the comment, and with `acl` the document's default security and trustees.
pub fn upload_profile(profile: &Map<String, Value>, comment: &str, acl: Option<&Acl>) -> Value {
    let mut doc = Map::new();
    for (k, val) in profile {
        if (is_custom_field(k) || RESTORED_PROFILE_FIELDS.contains(&k.as_str())) && !val.is_null() {
            doc.insert(k.clone(), val.clone());
        }
    }
    doc.insert("comment".into(), json!(comment));
    let mut part = json!({});
    if let Some(acl) = acl {
        doc.insert("default_security".into(), json!(acl.default_security));
        let of = |t: TrusteeType| -> Vec<Value> {
            acl.entries
                .iter()
                .filter(|e| e.trustee_type == t)
                .map(|e| json!({"id": e.id, "access_level": e.access_level}))
                .collect()
        };
        part["user_trustees"] = json!(of(TrusteeType::User));
        part["group_trustees"] = json!(of(TrusteeType::Group));
    }
    part["doc_profile"] = Value::Object(doc);
    part
}

/// `POST L/workspaces`.
#[derive(Debug, Clone, Serialize)]
pub struct NewWorkspace {
    pub name: String,
    pub description: String,
    pub default_security: DefaultSecurity,
    /// The workspace's profile fields (`custom1`, …).
    pub profile: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// What kind of folder to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FolderType {
    Regular,
    /// A tab of a workspace.
    Tab,
    /// A search folder (a saved query).
    Search,
}

/// `POST L/workspaces/{id}/folders` and `POST L/folders/{id}/subfolders`.
#[derive(Debug, Clone, Serialize)]
pub struct NewFolder {
    pub name: String,
    pub description: String,
    pub default_security: DefaultSecurity,
    pub folder_type: FolderType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imanage::model::{AccessLevel, AclEntry};

    #[test]
    fn upload_profile_keeps_restorable_fields_and_the_acl() {
        let profile: Map<String, Value> = serde_json::from_value(json!({
            "name": "Brief", "extension": "docx", "custom3": "X", "custom31": "no",
            "id": "ACTIVE!1.1", "size": 10, "author": null,
        }))
        .unwrap();
        let acl = Acl {
            default_security: DefaultSecurity::Private,
            entries: vec![
                AclEntry {
                    id: "JSMITH".into(),
                    trustee_type: TrusteeType::User,
                    name: None,
                    access_level: AccessLevel::FullAccess,
                },
                AclEntry {
                    id: "LIT".into(),
                    trustee_type: TrusteeType::Group,
                    name: None,
                    access_level: AccessLevel::Read,
                },
            ],
        };
        let part = upload_profile(&profile, "Restored", Some(&acl));
        assert_eq!(
            part["doc_profile"],
            json!({"name": "Brief", "extension": "docx", "custom3": "X",
                   "comment": "Restored", "default_security": "private"})
        );
        assert_eq!(
            part["user_trustees"],
            json!([{"id": "JSMITH", "access_level": "full_access"}])
        );
        assert_eq!(
            part["group_trustees"],
            json!([{"id": "LIT", "access_level": "read"}])
        );
        let bare = upload_profile(&profile, "c", None);
        assert!(bare.get("user_trustees").is_none());
    }

    #[test]
    fn fields_read_nested_profiles_first_and_skip_empty_text() {
        let raw: Map<String, Value> = serde_json::from_value(json!({
            "profile": {"custom1": "ACME", "custom2": ""}, "custom2": "top", "owner": "",
            "default_security": "view",
        }))
        .unwrap();
        assert_eq!(client_code(&raw), Some("ACME"));
        assert_eq!(
            matter_code(&raw),
            None,
            "the nested empty value wins and is absent"
        );
        assert_eq!(top_field(&raw, "owner"), None);
        assert_eq!(default_security(&raw), Some(DefaultSecurity::View));
        assert_eq!(container_profile(&raw)["custom1"], "ACME");
    }
}
