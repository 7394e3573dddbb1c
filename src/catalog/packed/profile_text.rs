//! A version profile unpacked but not parsed ([`ProfileText`]): for a reader that only prints
//! profiles (an export's sidecars), checked as a JSON object without building the map.

use serde_json::{Map, Value};

use super::{DERIVED, Derived, Entries, residual};
use crate::catalog::encode::corrupt;
use crate::catalog::error::CatalogError;

/// `unpack_profile` without parsing: the residual JSON text and the derived fields.
pub(crate) fn unpack_profile_text(
    what: &dyn Fn() -> String,
    packed: &[u8],
    base: Option<&[u8]>,
    derived: Derived,
) -> Result<ProfileText, CatalogError> {
    let (absent, residual) = residual(what, packed, base)?;
    // Refused as the map would be (a damaged row fails its plan either way), without building
    // it: a JSON object, its values skipped.
    serde_json::from_str::<ObjectShape>(&residual).map_err(|e| corrupt(what(), e))?;
    Ok(ProfileText {
        absent,
        residual,
        derived,
    })
}

/// A JSON object, its fields checked and skipped ([`unpack_profile_text`]).
struct ObjectShape;

impl<'de> serde::Deserialize<'de> for ObjectShape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = ObjectShape;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<ObjectShape, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(ObjectShape)
            }
        }
        d.deserialize_map(Fields)
    }
}

/// A version profile unpacked but not parsed: the JSON object stored (its fields in order)
/// and the derived fields (`DERIVED`) put back after them, in order, those it does not hold
/// itself. [`ProfileText::into_map`] is the profile `unpack_profile` gives; a reader that only
/// prints the profile can skip the map.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileText {
    absent: u16,
    residual: String,
    derived: Derived,
}

impl ProfileText {
    /// A profile text of these parts (tests of its readers).
    #[cfg(test)]
    pub(crate) fn from_parts(absent: u16, residual: &str, derived: Derived) -> Self {
        Self {
            absent,
            residual: residual.to_string(),
            derived,
        }
    }

    /// The JSON object stored (it may name a field twice: the later value counts, at the
    /// earlier place, as in [`ProfileText::into_map`]).
    pub fn residual(&self) -> &str {
        &self.residual
    }

    /// The derived fields the profile holds unless the residual holds them, in order.
    pub fn derived(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        DERIVED
            .iter()
            .zip(&self.derived)
            .enumerate()
            .filter(|(i, _)| self.absent & (1 << i) == 0)
            .map(|(_, (k, v))| (*k, v))
    }

    /// The profile as a map (what `unpack_profile` gives); `what` names it in an error.
    pub fn into_map(self, what: &dyn Fn() -> String) -> Result<Map<String, Value>, CatalogError> {
        let Entries(entries) =
            serde_json::from_str(&self.residual).map_err(|e| corrupt(what(), e))?;
        // Sized once for the fields and the derived ones (a map grown field by field reallocates
        // several times: a fifth of a `find` of 1,000 hits).
        let mut profile = Map::with_capacity(entries.len() + DERIVED.len());
        for (key, value) in entries {
            profile.insert(key, value);
        }
        for (i, (key, value)) in DERIVED.iter().zip(self.derived).enumerate() {
            if self.absent & (1 << i) == 0 && !profile.contains_key(*key) {
                profile.insert((*key).to_string(), value);
            }
        }
        Ok(profile)
    }
}
