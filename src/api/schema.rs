//! OpenAPI schemas of the domain types the API carries as text (ids, job kinds and states):
//! written once here from the types themselves (`JobState::ALL`...), so the document cannot
//! list a value the code does not accept.

use std::borrow::Cow;

use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::catalog::{JobId, JobKind, JobState, SnapshotId};
use crate::imanage::model::{
    ContainerId, ContainerKind, DocumentId, DocumentKind, LibraryId, VersionId,
};

fn text(description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .examples([example])
        .into()
}

fn one_of(description: &str, values: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values))
        .into()
}

macro_rules! schema {
    ($t:ty, $name:literal, $body:expr) => {
        impl PartialSchema for $t {
            fn schema() -> RefOr<Schema> {
                $body
            }
        }
        impl ToSchema for $t {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

schema!(
    LibraryId,
    "LibraryId",
    text("A library (database) alias", "ACTIVE")
);
schema!(
    ContainerId,
    "ContainerId",
    text("A workspace, folder or tab: LIB!number", "ACTIVE!171")
);
schema!(
    DocumentId,
    "DocumentId",
    text("A document (all its versions): LIB!number", "ACTIVE!1042")
);
schema!(
    VersionId,
    "VersionId",
    text(
        "One version of a document: LIB!number.version",
        "ACTIVE!1042.2"
    )
);
schema!(
    SnapshotId,
    "SnapshotId",
    text("A snapshot id (hex)", "5e1d0a4c")
);
schema!(
    JobId,
    "JobId",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .description(Some("A job id"))
        .into()
);
schema!(
    JobKind,
    "JobKind",
    one_of("What a job does", JobKind::ALL.iter().map(|k| k.as_str()))
);
schema!(
    JobState,
    "JobState",
    one_of(
        "Where a job is in its life",
        JobState::ALL.iter().map(|s| s.as_str())
    )
);
schema!(
    ContainerKind,
    "ContainerKind",
    one_of(
        "The kind of a container",
        ["workspace", "folder", "tab", "search_folder"]
    )
);
schema!(
    DocumentKind,
    "DocumentKind",
    one_of("A document or an e-mail", ["document", "email"])
);

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-listed enum values are exactly what serde writes.
    #[test]
    fn enum_values_are_the_serialized_ones() {
        let values = |s: RefOr<Schema>| -> Vec<String> {
            let v = serde_json::to_value(s).unwrap();
            v["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect()
        };
        let ser = |v: serde_json::Value| v.as_str().unwrap().to_string();
        assert_eq!(
            values(ContainerKind::schema()),
            [
                ContainerKind::Workspace,
                ContainerKind::Folder,
                ContainerKind::Tab,
                ContainerKind::SearchFolder
            ]
            .map(|k| ser(serde_json::to_value(k).unwrap()))
        );
        assert_eq!(
            values(DocumentKind::schema()),
            [DocumentKind::Document, DocumentKind::Email]
                .map(|k| ser(serde_json::to_value(k).unwrap()))
        );
        assert_eq!(
            values(JobState::schema()),
            JobState::ALL
                .iter()
                .map(|s| ser(serde_json::to_value(s).unwrap()))
                .collect::<Vec<_>>()
        );
    }
}
