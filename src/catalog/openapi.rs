//! OpenAPI schemas of the catalog's ids, job kinds and states (they travel as text), written
//! from the types themselves (`JobState::ALL`...), for the daemon's API document.

use utoipa::openapi::KnownFormat;
use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};

use super::{JobId, JobKind, JobState, SnapshotId};
use crate::imanage::openapi::schema;

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

schema!(
    SnapshotId,
    string("A snapshot id (hex)").examples(["5e1d0a4c"]).into()
);
schema!(
    JobId,
    string("A job id")
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .into()
);
schema!(
    JobKind,
    string("What a job does")
        .enum_values(Some(JobKind::ALL.iter().map(|k| k.as_str())))
        .into()
);
schema!(
    JobState,
    string("Where a job is in its life")
        .enum_values(Some(JobState::ALL.iter().map(|s| s.as_str())))
        .into()
);

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;

    /// The listed values are exactly what serde writes.
    #[test]
    fn enum_values_are_the_serialized_ones() {
        let values = |s: RefOr<Schema>| -> Vec<serde_json::Value> {
            serde_json::to_value(s).unwrap()["enum"]
                .as_array()
                .unwrap()
                .clone()
        };
        let ser = |v: &[JobState]| -> Vec<serde_json::Value> {
            v.iter().map(|s| serde_json::to_value(s).unwrap()).collect()
        };
        assert_eq!(values(JobState::schema()), ser(JobState::ALL));
        let kinds: Vec<serde_json::Value> = JobKind::ALL
            .iter()
            .map(|k| serde_json::to_value(k).unwrap())
            .collect();
        assert_eq!(values(JobKind::schema()), kinds);
    }
}
