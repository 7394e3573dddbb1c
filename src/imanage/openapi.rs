//! OpenAPI schemas of the ids and kinds (they travel as text), for the daemon's API document.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use super::ids::{ContainerId, DocumentId, LibraryId, VersionId};
use super::model::{ContainerKind, DocumentKind};

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

/// `schema!(Type, body)`: `Type`'s OpenAPI schema is `body` (a `RefOr<Schema>`), named as the
/// type. For types that travel as text; the catalog's ids use it too.
macro_rules! schema {
    ($t:ident, $body:expr) => {
        impl utoipa::PartialSchema for $t {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $body
            }
        }
        impl utoipa::ToSchema for $t {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($t))
            }
        }
    };
}
pub(crate) use schema;

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
const CONTAINER_KINDS: &[&str] = &["workspace", "folder", "tab", "search_folder"];
const DOCUMENT_KINDS: &[&str] = &["document", "email"];
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
    use super::{CONTAINER_KINDS, DOCUMENT_KINDS};
    use crate::imanage::model::{ContainerKind, DocumentKind};

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
