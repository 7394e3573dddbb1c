//! JSON of containers, document versions and ACLs, exactly as the contract (§5, §6) names them.

use serde_json::{Map, Value, json};

use crate::wire::{AclEntry, ContainerKind, DefaultSecurity, DocumentKind, SecurityAnswer};

use super::content::{ContentSpec, mime_of};
use super::hash::{below, pick};
use super::names;
use super::state::{AclState, VersionContent};
use super::view::{ContainerView, Ctx, DocView};

/// ISO 8601 UTC with a `Z`, e.g. `2026-11-03T14:02:11Z`.
pub fn iso(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn container_json(alias: &str, c: &ContainerView) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(format!("{alias}!{}", c.number)));
    m.insert("name".into(), json!(c.name));
    m.insert("description".into(), json!(c.description));
    m.insert("database".into(), json!(alias));
    m.insert("wstype".into(), json!(c.kind.wstype()));
    if let Some(ft) = c.kind.folder_type() {
        m.insert("folder_type".into(), json!(ft));
    }
    if let Some(p) = c.parent {
        m.insert("parent_id".into(), json!(format!("{alias}!{p}")));
    }
    if let Some(w) = c.workspace {
        m.insert("workspace_id".into(), json!(format!("{alias}!{w}")));
    }
    m.insert("owner".into(), json!(c.owner));
    m.insert(
        "default_security".into(),
        json!(c.default_security.as_str()),
    );
    m.insert("has_subfolders".into(), json!(c.has_subfolders));
    m.insert("has_documents".into(), json!(c.has_documents));
    m.insert("edit_date".into(), json!(iso(c.edit)));
    m.insert("create_date".into(), json!(iso(c.create)));
    m.insert("is_external".into(), json!(false));
    if c.kind == ContainerKind::SearchFolder {
        m.insert(
            "searchprofile".into(),
            json!({"query": c.description, "databases": [alias]}),
        );
    }
    m.insert("profile".into(), Value::Object(c.profile.clone()));
    Value::Object(m)
}

/// The answer of `GET`/`POST L/{kind}/{id}/security` (§6).
pub fn security_answer(acl: &AclState) -> SecurityAnswer {
    SecurityAnswer {
        data: acl
            .entries
            .iter()
            .map(|(id, t, level)| AclEntry {
                id: id.clone(),
                trustee_type: *t,
                name: trustee_name(id),
                access_level: *level,
                access: level.code(),
            })
            .collect(),
        default_security: acl.default_security,
    }
}

pub fn trustee_name(id: &str) -> String {
    names::USERS
        .iter()
        .chain(names::GROUPS)
        .find(|(i, _)| *i == id)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| id.to_string())
}

fn email_of(user: &str) -> String {
    format!("{}@firm.example", user.to_lowercase())
}

fn doc_type(ext: &str) -> &'static str {
    match ext {
        "docx" => "WORDX",
        "pdf" => "ACROBAT",
        "xlsx" => "EXCELX",
        "pptx" => "PPTX",
        "txt" | "csv" => "ANSI",
        "rtf" => "RTF",
        "html" => "HTML",
        "zip" => "ZIP",
        "jpg" => "JPEG",
        "eml" | "msg" => "MIME",
        _ => "BINARY",
    }
}

/// The document object of version `v`, or `None` if that version does not exist.
pub fn version_json(ctx: &Ctx<'_>, d: &DocView<'_>, v: u32) -> Option<Value> {
    if !d.has_version(v) {
        return None;
    }
    let alias = ctx.lib.alias.as_str();
    let added = d.ov.and_then(|o| o.added.get(&v));
    let mut m = Map::new();
    m.insert("id".into(), json!(format!("{alias}!{}.{v}", d.number)));
    m.insert("database".into(), json!(alias));
    m.insert("document_number".into(), json!(d.number));
    m.insert("version".into(), json!(v));

    // Fields common to every version of the document.
    let (ext, email, name, author, operator, class, subclass, create): (
        String,
        bool,
        String,
        String,
        String,
        String,
        Option<String>,
        i64,
    ) = match (&d.base, d.new) {
        (Some(b), _) => {
            let name = if b.hash(1) % 3 == 0 {
                b.title.to_string()
            } else {
                format!("{} {}", b.title, 1 + below(b.hash(2), 40))
            };
            (
                b.traits.extension.to_string(),
                b.traits.email,
                name,
                b.author.to_string(),
                b.operator.to_string(),
                b.class.0.to_string(),
                Some(b.class.1.to_string()),
                b.create,
            )
        }
        (None, Some(n)) => (
            n.extension.clone(),
            n.email,
            n.name.clone(),
            n.author.clone(),
            n.author.clone(),
            n.class.clone(),
            Some(n.subclass.clone()).filter(|s| !s.is_empty()),
            n.created,
        ),
        (None, None) => return None,
    };
    let (size, edit, profile_edit) = match added {
        Some(a) => {
            let size = match &a.content {
                VersionContent::Stored(b) => b.len() as u64,
                VersionContent::Generated => {
                    ContentSpec::of(ctx.lib.content, alias, d.number, v).len()
                }
            };
            (size, a.created, a.created)
        }
        None => {
            let b = d.base.as_ref()?;
            let (e, p) = b.version_dates(v);
            (
                ContentSpec::of(ctx.lib.content, alias, d.number, v).len(),
                e,
                p,
            )
        }
    };
    m.insert("name".into(), json!(name));
    m.insert("extension".into(), json!(ext));
    m.insert("type".into(), json!(doc_type(&ext)));
    m.insert("size".into(), json!(size));
    m.insert("content_type".into(), json!(mime_of(&ext)));
    m.insert("class".into(), json!(class));
    m.insert("subclass".into(), json!(subclass));
    m.insert("author".into(), json!(author));
    m.insert("operator".into(), json!(operator));
    m.insert("last_user".into(), json!(operator));
    m.insert("comment".into(), json!(""));
    m.insert("create_date".into(), json!(iso(create)));
    m.insert("edit_date".into(), json!(iso(edit)));
    m.insert("edit_profile_date".into(), json!(iso(profile_edit)));
    m.insert("file_create_date".into(), json!(iso(create)));
    m.insert("file_edit_date".into(), json!(iso(edit)));
    let acl = ctx.doc_acl(d.number);
    let ds = match acl.default_security {
        DefaultSecurity::Inherit => DefaultSecurity::Private,
        o => o,
    };
    m.insert("default_security".into(), json!(ds.as_str()));
    m.insert("is_checked_out".into(), json!(false));
    let declared = d.base.as_ref().is_some_and(|b| b.declared);
    m.insert("is_declared".into(), json!(declared));
    m.insert("is_hipaa".into(), json!(false));
    m.insert("retain_days".into(), json!(if declared { 3650 } else { 0 }));
    m.insert(
        "workspace_id".into(),
        json!(format!("{alias}!{}", d.workspace)),
    );
    let kind = if email {
        DocumentKind::Email
    } else {
        DocumentKind::Document
    };
    m.insert("wstype".into(), json!(kind));
    custom_fields(ctx, d, &mut m);
    if email {
        let h = |k| d.base.as_ref().map(|b| b.hash(k)).unwrap_or(d.number ^ k);
        m.insert("from".into(), json!(email_of(&author)));
        m.insert("to".into(), json!(email_of(pick(h(20), names::USERS).0)));
        m.insert("cc".into(), json!(email_of(pick(h(21), names::USERS).0)));
        m.insert("bcc".into(), Value::Null);
        m.insert("subject".into(), json!(name));
        m.insert("sent_date".into(), json!(iso(edit - 60)));
        m.insert("received_date".into(), json!(iso(edit)));
        m.insert("has_attachment".into(), json!(h(22) % 4 == 0));
        m.insert(
            "conversation_id".into(),
            json!(format!("conv-{:016x}", h(23) >> 8)),
        );
    }
    // A field this contract does not name: clients must keep it.
    m.insert(
        "iwl".into(),
        json!(format!(
            "iwl:dms=sim&&lib={alias}&&num={}&&ver={v}",
            d.number
        )),
    );
    if let Some(a) = added {
        for (k, val) in &a.profile {
            m.insert(k.clone(), val.clone());
        }
        m.insert("size".into(), json!(size));
    }
    if let Some(p) = d.ov.and_then(|o| o.patches.get(&v)) {
        for (k, val) in &p.fields {
            m.insert(k.clone(), val.clone());
        }
        m.insert("edit_profile_date".into(), json!(iso(p.at)));
    }
    Some(Value::Object(m))
}

fn custom_fields(ctx: &Ctx<'_>, d: &DocView<'_>, m: &mut Map<String, Value>) {
    let ws = ctx
        .lib
        .container_slot(d.workspace)
        .map(|(w, _)| super::corpus::BaseWorkspace::new(ctx.seed, ctx.lib, w));
    let h = |k| d.base.as_ref().map(|b| b.hash(k)).unwrap_or(d.number ^ k);
    // A document in a workspace created later carries that workspace's client/matter codes.
    let new_ws = ctx
        .ov
        .containers
        .get(&d.workspace)
        .and_then(|c| c.new.as_ref())
        .map(|nc| &nc.profile);
    let code = |k: &str, base: Option<&String>| match (base, new_ws) {
        (Some(b), _) => json!(b),
        (None, Some(p)) => p.get(k).cloned().unwrap_or(Value::Null),
        (None, None) => Value::Null,
    };
    m.insert(
        "custom1".into(),
        code("custom1", ws.as_ref().map(|w| &w.client_code)),
    );
    m.insert(
        "custom2".into(),
        code("custom2", ws.as_ref().map(|w| &w.matter_code)),
    );
    m.insert(
        "custom3".into(),
        json!(pick(h(30), &["EN", "DE", "FR", "JA"])),
    );
    m.insert(
        "custom4".into(),
        if h(31) % 2 == 0 {
            json!("Privileged & Confidential")
        } else {
            Value::Null
        },
    );
    for i in 5..=16 {
        m.insert(format!("custom{i}"), Value::Null);
    }
    m.insert("custom17".into(), json!((h(32) % 10_000) as f64 / 100.0));
    m.insert("custom18".into(), json!(h(33) % 500));
    m.insert("custom19".into(), Value::Null);
    m.insert("custom20".into(), Value::Null);
    m.insert(
        "custom21".into(),
        json!(iso(
            super::corpus::EPOCH_2015 + (h(34) % (300_000_000)) as i64
        )),
    );
    for i in 22..=24 {
        m.insert(format!("custom{i}"), Value::Null);
    }
    m.insert("custom25".into(), json!(h(35) % 3 == 0));
    for i in 26..=28 {
        m.insert(format!("custom{i}"), Value::Null);
    }
    m.insert("custom29".into(), Value::Null);
    m.insert("custom30".into(), Value::Null);
}
