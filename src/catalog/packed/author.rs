//! A version profile's author read from its packed form without building the profile
//! (`find`'s text output prints that field only).

use serde_json::Value;

use super::residual;
use crate::catalog::encode::corrupt;
use crate::catalog::error::CatalogError;

/// The author a packed version profile names: what `imanage::profiles::field(&profile,
/// "author")` gives of the profile [`unpack_profile`] returns (the nested `profile` object's
/// field when that object has one, else the top-level field; text only, empty text counting
/// as absent), read from the residual text without building the profile (for listings that
/// print only that). `author` is not a [`DERIVED`] field, so the residual text alone decides
/// it. The other fields are only scanned, not checked as the whole profile's parse checks them
/// (a lone surrogate escape, a number out of range, deep nesting): a damaged profile that
/// [`unpack_profile`] refuses may still give its author here.
///
/// [`unpack_profile`]: super::unpack_profile
/// [`DERIVED`]: super::DERIVED
pub(crate) fn profile_author(
    what: &dyn Fn() -> String,
    packed: &[u8],
    base: Option<&[u8]>,
) -> Result<Option<String>, CatalogError> {
    let (_, text) = residual(what, packed, base)?;
    let AuthorFields { top, nested } =
        serde_json::from_str(&text).map_err(|e| corrupt(what(), e))?;
    let author = match nested {
        Some(v) => v,
        None => top.unwrap_or(Value::Null),
    };
    Ok(match author {
        Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    })
}

/// The fields of a profile's JSON text that decide its author: the last top-level `author`
/// and, when the last top-level `profile` is an object holding an `author`, that one (the
/// later of repeated keys wins, as in a map). Every other field is scanned and skipped; a
/// nested `profile` (rare) is parsed whole.
struct AuthorFields {
    top: Option<Value>,
    nested: Option<Value>,
}

/// A key [`AuthorFields`] looks at, read without allocating.
enum AuthorKey {
    Author,
    Profile,
    Other,
}

impl<'de> serde::Deserialize<'de> for AuthorKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Key;
        impl serde::de::Visitor<'_> for Key {
            type Value = AuthorKey;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<AuthorKey, E> {
                Ok(match k {
                    "author" => AuthorKey::Author,
                    "profile" => AuthorKey::Profile,
                    _ => AuthorKey::Other,
                })
            }
        }
        d.deserialize_str(Key)
    }
}

impl<'de> serde::Deserialize<'de> for AuthorFields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = AuthorFields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<AuthorFields, A::Error> {
                let mut fields = AuthorFields {
                    top: None,
                    nested: None,
                };
                while let Some(key) = a.next_key::<AuthorKey>()? {
                    match key {
                        AuthorKey::Author => fields.top = Some(a.next_value()?),
                        AuthorKey::Profile => {
                            fields.nested = match a.next_value::<Value>()? {
                                Value::Object(mut p) => p.remove("author"),
                                _ => None,
                            }
                        }
                        AuthorKey::Other => {
                            a.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(fields)
            }
        }
        d.deserialize_map(Fields)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value};

    use super::super::tests::{cases_base, derived, what};
    use super::super::{Codec, Dict, base_text, compress_into, pack_profile, unpack_profile};
    use super::profile_author;

    /// A profile packed from `text` as it is (repeated keys and all), without a base.
    fn packed_text(text: &str) -> Vec<u8> {
        let mut out = vec![Codec::Zstd1 as u8, 0, 0];
        compress_into(&mut out, Dict::VersionProfile, text.as_bytes()).expect("packs");
        out
    }

    #[test]
    fn profile_author_is_the_author_of_the_unpacked_profile() {
        let base = pack_profile(&cases_base(), &derived(), None).expect("base packs");
        let base_residual = base_text(&what, &base).expect("base text").expect("plain");
        let texts = [
            r#"{"author": "JSMITH", "class": "DOC"}"#,
            r#"{"author": ""}"#,
            r#"{"author": null}"#,
            r#"{"author": 7, "custom1": {"author": "NOT"}}"#,
            r#"{"class": "DOC"}"#,
            r#"{}"#,
            // The nested profile's author wins, even when it is not text; only an object
            // nested as `profile` counts, and only if it names an author.
            r#"{"author": "TOP", "profile": {"author": "NESTED"}}"#,
            r#"{"profile": {"author": "NESTED", "x": [1, {"author": "NO"}]}, "author": "TOP"}"#,
            r#"{"author": "TOP", "profile": {"author": null}}"#,
            r#"{"author": "TOP", "profile": {"class": "DOC"}}"#,
            r#"{"author": "TOP", "profile": "text"}"#,
            r#"{"author": "TOP", "profile": [{"author": "NO"}]}"#,
            // Repeated keys: the later one, as in the map.
            r#"{"author": "FIRST", "author": "SECOND"}"#,
            r#"{"profile": {"author": "A"}, "profile": 1, "author": "TOP"}"#,
            r#"{"profile": {"author": "A", "author": "B"}}"#,
            r#"{"author": "Zo\u00eb \"Q\"", "na\u006de": "x"}"#,
        ];
        for text in texts {
            let packed = packed_text(text);
            let full = unpack_profile(&what, &packed, None, derived()).expect("unpacks");
            let expected = crate::imanage::profiles::field(&full, "author").map(str::to_string);
            let got = profile_author(&what, &packed, None).expect("reads");
            assert_eq!(got, expected, "{text}");
            // Packed against another version's residual: the same author.
            let map: Map<String, Value> = serde_json::from_str(text).expect("json");
            let delta = pack_profile(&map, &derived(), Some(&base_residual)).expect("packs");
            let full = unpack_profile(&what, &delta, Some(&base), derived()).expect("unpacks");
            let expected = crate::imanage::profiles::field(&full, "author").map(str::to_string);
            assert_eq!(
                profile_author(&what, &delta, Some(&base)).expect("reads"),
                expected,
                "{text} against a base"
            );
        }
        assert_eq!(
            profile_author(&what, &packed_text(r#"{"author": "JSMITH"}"#), None)
                .expect("reads")
                .as_deref(),
            Some("JSMITH")
        );
        // Damage is an error naming the value, as for the whole profile.
        let err = profile_author(&what, &packed_text("[1, 2]"), None).expect_err("not an object");
        assert!(err.to_string().contains("a test value"), "{err}");
        let mut cut = packed_text(r#"{"author": "JSMITH"}"#);
        cut.truncate(cut.len() - 2);
        assert!(profile_author(&what, &cut, None).is_err());
    }
}
