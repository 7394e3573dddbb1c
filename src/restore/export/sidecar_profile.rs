//! A version's profile as a document sidecar prints it, rendered when its batch arrives (the
//! rows of windows waiting or syncing hold this text, not the parsed map): from the parsed map
//! ([`sidecar_profile`]) or, for an export's plan, straight from the catalog's unparsed text
//! ([`sidecar_profile_text`]), byte for byte as the map prints.

use serde_json::Value;
use serde_json::value::RawValue;

use crate::catalog::PlannedDocument;
use crate::restore::target::Place;

/// Indentation of a version's profile in a document sidecar: the object of a version in the
/// sidecar's `versions` list (keys at 6 spaces, the profile's own at 8).
const PROFILE_INDENT: &str = "\n      ";

/// A version's profile as [`pretty`](super::pretty) prints it inside a document sidecar, byte
/// for byte: pretty JSON re-indented for its depth (JSON strings hold no raw line breaks, so
/// every line break is the layout's).
pub(super) fn sidecar_profile(profile: &serde_json::Map<String, Value>) -> Box<RawValue> {
    let text = serde_json::to_string_pretty(profile)
        .expect("a JSON map always serializes")
        .replace('\n', PROFILE_INDENT);
    RawValue::from_string(text).expect("pretty JSON re-indented is JSON")
}

/// Every version's profile of `docs` rendered for its sidecar ([`sidecar_profile`], or from
/// the unparsed text the planner gave, [`sidecar_profile_text`]), the rows' profiles dropped.
pub(super) fn sidecar_profiles(
    docs: &mut [(PlannedDocument, Place)],
) -> Vec<Vec<Option<Box<RawValue>>>> {
    docs.iter_mut()
        .map(|(d, _)| {
            d.versions
                .iter_mut()
                .map(|v| {
                    let map = std::mem::take(&mut v.profile);
                    Some(match v.profile_text.take() {
                        Some(text) => sidecar_profile_text(*text),
                        None => sidecar_profile(&map),
                    })
                })
                .collect()
        })
        .collect()
}

/// A profile's unparsed text as [`sidecar_profile`] prints its map, without building the map:
/// the stored object's fields in order, each value as stored where serde_json prints it so
/// ([`printed_as_stored`]: most are) or else parsed and printed pretty at its depth; then the
/// derived fields it lacks. A stored object naming a field twice, or one that does not parse,
/// goes through the map (the later value counts; see [`sidecar_profile_via_map`]).
fn sidecar_profile_text(text: crate::catalog::ProfileText) -> Box<RawValue> {
    let fields: Vec<(std::borrow::Cow<'_, str>, &RawValue)> =
        match serde_json::from_str::<RawFields<'_>>(text.residual()) {
            Ok(RawFields(f)) => f,
            Err(_) => return sidecar_profile_via_map(text),
        };
    let mut keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_ref()).collect();
    keys.sort_unstable();
    if keys.windows(2).any(|w| w[0] == w[1]) {
        return sidecar_profile_via_map(text);
    }
    const FIELD_INDENT: &str = "\n        ";
    let mut out = String::with_capacity(text.residual().len() * 5 / 4 + 256);
    out.push('{');
    let mut first = true;
    let mut field = |out: &mut String, key: &str| {
        out.push_str(if first { "" } else { "," });
        first = false;
        out.push_str(FIELD_INDENT);
        out.push_str(&serde_json::to_string(key).expect("a string always serializes"));
        out.push_str(": ");
    };
    let nested = |out: &mut String, v: &Value| {
        let pretty = serde_json::to_string_pretty(v).expect("JSON always serializes");
        out.push_str(&pretty.replace('\n', FIELD_INDENT));
    };
    for (key, raw) in &fields {
        field(&mut out, key);
        let raw = raw.get();
        if printed_as_stored(raw) {
            out.push_str(raw);
        } else {
            match serde_json::from_str::<Value>(raw) {
                Ok(v) => nested(&mut out, &v),
                Err(_) => return sidecar_profile_via_map(text),
            }
        }
    }
    for (key, value) in text.derived() {
        if keys.binary_search(&key).is_err() {
            field(&mut out, key);
            nested(&mut out, value);
        }
    }
    out.push_str(if first { "}" } else { PROFILE_INDENT });
    if !first {
        out.push('}');
    }
    RawValue::from_string(out).expect("the fields of a JSON object printed are JSON")
}

/// Whether serde_json prints the value of JSON text `raw` as `raw` itself: true, false, null,
/// an integer, a string without escapes. An object, a list, a fraction or exponent, an escape
/// (`\u00e9` prints as `é`) may print otherwise: those are parsed and printed.
fn printed_as_stored(raw: &str) -> bool {
    match raw.as_bytes().first() {
        Some(b'"') => !raw.contains('\\'),
        Some(b't' | b'f' | b'n') => true,
        // Up to 18 characters: within i64 and u64 (a longer one may be read as a float).
        Some(b'-' | b'0'..=b'9') => {
            raw != "-0" && raw.len() <= 18 && raw.bytes().all(|b| b == b'-' || b.is_ascii_digit())
        }
        _ => false,
    }
}

/// [`sidecar_profile`] of the profile's map. The catalog hands out only JSON objects (see
/// `unpack_profile_text`); one that still cannot become a map (a number out of range) is
/// printed empty and the version named in a warning.
fn sidecar_profile_via_map(text: crate::catalog::ProfileText) -> Box<RawValue> {
    let version = text
        .derived()
        .find(|(k, _)| *k == "id")
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    let map = text
        .into_map(&|| format!("the profile of version {version}"))
        .unwrap_or_else(|e| {
            tracing::warn!(%version, error = %e, "a version's profile could not be read from the catalog; its sidecar lists it empty");
            serde_json::Map::new()
        });
    sidecar_profile(&map)
}

/// A JSON object's fields in order, values unparsed (keys unescaped where they need it).
struct RawFields<'a>(Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for RawFields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = RawFields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<RawFields<'de>, A::Error> {
                let mut fields = Vec::with_capacity(a.size_hint().unwrap_or(64));
                while let Some(key) = a.next_key::<Key<'de>>()? {
                    fields.push((key.0, a.next_value::<&'de RawValue>()?));
                }
                Ok(RawFields(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// A key borrowed from the text where it has no escapes.
struct Key<'a>(std::borrow::Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct K;
        impl<'de> serde::de::Visitor<'de> for K {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(K)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use serde_json::json;

    /// A profile rendered from its unparsed text prints as its map does, whatever it holds:
    /// nested objects and lists (at their depth), escaped keys and strings, numbers, a field
    /// named twice (the later value at the earlier place), derived fields present, absent or
    /// also in the stored object, an empty object, and text that is not an object at all.
    #[test]
    fn profiles_rendered_from_text_print_as_their_maps() {
        let derived = || -> [Value; 10] {
            [
                json!("ACTIVE!7.2"),
                json!("ACTIVE"),
                json!(7),
                json!(2),
                json!("Brief \"final\""),
                Value::Null,
                json!(1234),
                json!("2024-01-02T03:04:05Z"),
                Value::Null,
                json!("document"),
            ]
        };
        let residuals = [
            r#"{"author":"NDUBOIS","custom17":35.4,"custom18":64,"custom25":false,"custom10":null,"comment":"line\nbreak \"q\" \u00e9\\"}"#,
            r#"{"nested":{"a":[1,2,{"b":{}}],"c":[],"d":{"e":"f"}},"list":["x",{"y":null}],"k\"ey":"v","k\u00e9y":1}"#,
            r#"{"a":1,"b":2,"a":{"again":true}}"#,
            r#"{"a":1,"\u0061":2}"#,
            r#"{"name":"stored name","id":"ACTIVE!7.2"}"#,
            r#"{}"#,
            r#"{"big":18446744073709551615,"bigger":99999999999999999999,"neg":-12,"zero":-0,"exp":1.5e300,"tiny":5e-324,"f":100.50}"#,
            r#"[1,2]"#,
            r#"not json"#,
        ];
        for residual in residuals {
            for absent in [0u16, 0b11_1111_1111, 0b10_0001_0010] {
                let text = crate::catalog::ProfileText::from_parts(absent, residual, derived());
                let expected = text.clone().into_map(&String::new).unwrap_or_default();
                assert_eq!(
                    sidecar_profile_text(text).get(),
                    sidecar_profile(&expected).get(),
                    "residual {residual}, absent {absent:#b}"
                );
            }
        }
    }

    /// A profile rendered ahead prints exactly as the parsed map did inside a sidecar: nested
    /// objects and lists, strings with escaped line breaks and quotes, an empty profile.
    #[test]
    fn rendered_profiles_print_as_the_maps_did() {
        let profiles = [
            json!({
                "id": "ACTIVE!12.3",
                "name": "Line one\nline \"two\"",
                "custom1": {"id": "C1", "description": "nested\r\n", "list": [1, {"a": []}, "x"]},
                "size": 1234,
                "is_checked_out": false,
                "empty_list": [],
                "empty_map": {},
                "nothing": null
            }),
            json!({}),
        ];
        for p in profiles {
            let Value::Object(map) = p else {
                unreachable!()
            };
            #[derive(Serialize)]
            struct Version<P> {
                version: u32,
                profile: P,
                status: &'static str,
            }
            #[derive(Serialize)]
            struct Sidecar<P> {
                document: &'static str,
                versions: Vec<Version<P>>,
                acl: Option<u32>,
            }
            fn sidecar<P>(profile: P) -> Sidecar<P> {
                Sidecar {
                    document: "ACTIVE!12",
                    versions: vec![Version {
                        version: 3,
                        profile,
                        status: "restored",
                    }],
                    acl: None,
                }
            }
            let parsed = crate::restore::export::pretty(&sidecar(map.clone()));
            let rendered = crate::restore::export::pretty(&sidecar(sidecar_profile(&map)));
            assert_eq!(
                String::from_utf8(rendered).unwrap(),
                String::from_utf8(parsed).unwrap()
            );
        }
    }
}
