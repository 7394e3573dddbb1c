//! Packed columns (schema v2): JSON the catalog keeps but rarely searches (version and container
//! profiles, content references, ACLs) stored as a codec byte and a zstd frame compressed with
//! a dictionary built into the release; a version profile without the fields its row already
//! keeps as columns.
//!
//! Layout of a packed value: byte 0 the codec ([`Codec`]), then
//! - [`Codec::Zstd1`]: one zstd frame (content size in the header, no checksum, no dictionary
//!   id) of the canonical JSON text, compressed with the codec's dictionary for that kind of
//!   value ([`Dict`]);
//! - for a version profile, between the codec byte and the frame, two bytes (little-endian): a
//!   mask of the [`DERIVED`] fields the profile lacked. Every other derived field whose value
//!   equals the one rebuilt from the row's columns is left out of the frame and put back on
//!   read; one whose value differs stays in the frame as it was.
//!
//! A release that changes a dictionary adds a codec and keeps reading the old ones: the
//! dictionaries below never change.

mod author;
mod profile_text;

use std::cell::RefCell;

use serde_json::{Map, Value};

#[cfg(test)]
use super::encode::canonical_json;
use super::encode::{canonical_map, corrupt};
use super::error::CatalogError;

pub(crate) use author::profile_author;
pub use profile_text::ProfileText;
pub(crate) use profile_text::unpack_profile_text;

/// How a packed value is encoded (its first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Codec {
    /// zstd level [`LEVEL`] with the version-1 dictionaries.
    Zstd1 = 1,
    /// A content reference of the usual shape, `{"blobs": [64 lower-case hex digits, ...],
    /// "size": N}` and nothing else, in binary: LEB128 `size`, LEB128 count, 32 bytes per blob.
    Blobs = 2,
    /// A version profile compressed against another row's: the same layout as [`Zstd1`]'s
    /// profile, but the frame's dictionary is the residual text of the row named by the
    /// version's `base` column (a [`Zstd1`] row of the same document), not a built-in one.
    ///
    /// [`Zstd1`]: Codec::Zstd1
    Delta = 3,
}

/// The kind of JSON value packed: each has its own dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dict {
    VersionProfile = 0,
    ContainerProfile = 1,
    Content = 2,
    Acl = 3,
}

const LEVEL: i32 = 3;

/// The version-1 dictionaries, one per [`Dict`], made by `benches/catalog_dicts.py` from the
/// simulator's seed data: trained ones, but for the ACLs (raw content: zstd uses it as history).
const DICTS_V1: [&[u8]; 4] = [
    include_bytes!("dict/version_profile.v1"),
    include_bytes!("dict/container_profile.v1"),
    include_bytes!("dict/content.v1"),
    include_bytes!("dict/acl.v1"),
];

/// Packed values larger than this when unpacked are refused as corrupt.
const MAX_UNPACKED: usize = 64 << 20;

struct Coders {
    compress: Vec<zstd::bulk::Compressor<'static>>,
    decompress: Vec<zstd::bulk::Decompressor<'static>>,
    /// For [`Codec::Delta`]: the dictionary is set per value.
    delta_compress: zstd::bulk::Compressor<'static>,
    delta_decompress: zstd::bulk::Decompressor<'static>,
}

impl Coders {
    fn new() -> std::io::Result<Self> {
        let mut compress = Vec::with_capacity(DICTS_V1.len());
        let mut decompress = Vec::with_capacity(DICTS_V1.len());
        for d in DICTS_V1 {
            let mut c = zstd::bulk::Compressor::with_dictionary(LEVEL, d)?;
            c.include_checksum(false)?;
            c.include_dictid(false)?;
            c.include_contentsize(true)?;
            compress.push(c);
            decompress.push(zstd::bulk::Decompressor::with_dictionary(d)?);
        }
        let mut delta_compress = zstd::bulk::Compressor::new(LEVEL)?;
        delta_compress.include_checksum(false)?;
        delta_compress.include_dictid(false)?;
        delta_compress.include_contentsize(true)?;
        Ok(Self {
            compress,
            decompress,
            delta_compress,
            delta_decompress: zstd::bulk::Decompressor::new()?,
        })
    }
}

thread_local! {
    /// One set of coders per thread: loading a dictionary costs more than a small frame.
    static CODERS: RefCell<Option<Coders>> = const { RefCell::new(None) };
}

fn with_coders<T>(
    what: &dyn Fn() -> String,
    f: impl FnOnce(&mut Coders) -> std::io::Result<T>,
) -> Result<T, CatalogError> {
    CODERS.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Coders::new().map_err(|e| corrupt(what(), e))?);
        }
        let coders = slot.as_mut().ok_or_else(|| corrupt(what(), "no coders"))?;
        f(coders).map_err(|e| corrupt(what(), e))
    })
}

fn compress_into(out: &mut Vec<u8>, dict: Dict, text: &[u8]) -> Result<(), CatalogError> {
    let frame = with_coders(&|| format!("packing a {dict:?} value"), |c| {
        c.compress[dict as usize].compress(text)
    })?;
    out.extend_from_slice(&frame);
    Ok(())
}

fn frame_size(what: &dyn Fn() -> String, frame: &[u8]) -> Result<usize, CatalogError> {
    zstd::zstd_safe::get_frame_content_size(frame)
        .ok()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n <= MAX_UNPACKED)
        .ok_or_else(|| corrupt(what(), "not a zstd frame of a known size"))
}

fn decompress(what: &dyn Fn() -> String, dict: Dict, frame: &[u8]) -> Result<String, CatalogError> {
    let size = frame_size(what, frame)?;
    let bytes = with_coders(what, |c| {
        c.decompress[dict as usize].decompress(frame, size)
    })?;
    String::from_utf8(bytes).map_err(|e| corrupt(what(), e))
}

fn split_codec<'a>(what: &dyn Fn() -> String, packed: &'a [u8]) -> Result<&'a [u8], CatalogError> {
    match packed.split_first() {
        Some((&c, rest)) if c == Codec::Zstd1 as u8 => Ok(rest),
        Some((&c, _)) => Err(corrupt(what(), format!("unknown codec {c}"))),
        None => Err(corrupt(what(), "empty")),
    }
}

/// A packed profile's codec, absent mask and frame.
fn split_profile<'a>(
    what: &dyn Fn() -> String,
    packed: &'a [u8],
) -> Result<(Codec, u16, &'a [u8]), CatalogError> {
    let (codec, rest) = match packed.split_first() {
        Some((&c, rest)) if c == Codec::Zstd1 as u8 => (Codec::Zstd1, rest),
        Some((&c, rest)) if c == Codec::Delta as u8 => (Codec::Delta, rest),
        Some((&c, _)) => return Err(corrupt(what(), format!("unknown codec {c}"))),
        None => return Err(corrupt(what(), "empty")),
    };
    let (mask, frame) = rest
        .split_first_chunk::<2>()
        .ok_or_else(|| corrupt(what(), "too short"))?;
    Ok((codec, u16::from_le_bytes(*mask), frame))
}

/// Pack canonical JSON text.
pub(crate) fn pack_text(dict: Dict, text: &str) -> Result<Vec<u8>, CatalogError> {
    let mut out = Vec::with_capacity(text.len() / 3 + 16);
    out.push(Codec::Zstd1 as u8);
    compress_into(&mut out, dict, text.as_bytes())?;
    Ok(out)
}

/// Pack a JSON value (as its canonical text).
#[cfg(test)]
pub(crate) fn pack_value(dict: Dict, v: &Value) -> Result<Vec<u8>, CatalogError> {
    pack_text(dict, &canonical_json(v))
}

/// [`pack_text`]'s value in another frame (with a checksum), as another zstd might write it.
#[cfg(test)]
pub(crate) fn pack_text_with_checksum(dict: Dict, text: &str) -> Vec<u8> {
    let mut c = zstd::bulk::Compressor::with_dictionary(LEVEL, DICTS_V1[dict as usize])
        .expect("compressor");
    c.include_checksum(true).expect("checksum");
    c.include_dictid(true).expect("dictionary id");
    let mut out = vec![Codec::Zstd1 as u8];
    out.extend(c.compress(text.as_bytes()).expect("compress"));
    out
}

/// The canonical JSON text of a value packed by [`pack_text`] or `pack_value` (tests).
pub(crate) fn unpack_text(
    what: &dyn Fn() -> String,
    dict: Dict,
    packed: &[u8],
) -> Result<String, CatalogError> {
    decompress(what, dict, split_codec(what, packed)?)
}

/// Pack a version's content reference: [`Codec::Blobs`] when it has that shape, else zstd.
pub(crate) fn pack_content(v: &Value) -> Result<Vec<u8>, CatalogError> {
    if let Some(packed) = blobs_binary(v) {
        return Ok(packed);
    }
    pack_text(Dict::Content, &super::encode::canonical_json(v))
}

fn blobs_binary(v: &Value) -> Option<Vec<u8>> {
    let obj = v.as_object().filter(|o| o.len() == 2)?;
    let size = obj.get("size")?.as_u64()?;
    let blobs = obj.get("blobs")?.as_array()?;
    let mut out = Vec::with_capacity(1 + 10 + 10 + 32 * blobs.len());
    out.push(Codec::Blobs as u8);
    leb128(&mut out, size);
    leb128(&mut out, blobs.len() as u64);
    for b in blobs {
        let hex = b.as_str().filter(|h| h.len() == 64)?;
        let mut id = [0u8; 32];
        hex::decode_to_slice(hex, &mut id).ok()?;
        // Upper-case digits would read back lower-case: not this codec's.
        if hex.bytes().any(|c| c.is_ascii_uppercase()) {
            return None;
        }
        out.extend_from_slice(&id);
    }
    Some(out)
}

fn leb128(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

fn read_leb128(buf: &mut &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        n |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// The content reference [`pack_content`] packed.
pub(crate) fn unpack_content(
    what: &dyn Fn() -> String,
    packed: &[u8],
) -> Result<Value, CatalogError> {
    if let Some((&c, mut rest)) = packed.split_first()
        && c == Codec::Blobs as u8
    {
        let bad = || corrupt(what(), "a truncated or overlong blob list");
        let size = read_leb128(&mut rest).ok_or_else(bad)?;
        let count = read_leb128(&mut rest).ok_or_else(bad)?;
        if u64::try_from(rest.len()).ok() != count.checked_mul(32) {
            return Err(bad());
        }
        let blobs = rest
            .chunks_exact(32)
            .map(|id| Value::from(hex::encode(id)))
            .collect::<Vec<_>>();
        let mut obj = Map::new();
        obj.insert("blobs".into(), Value::Array(blobs));
        obj.insert("size".into(), Value::from(size));
        return Ok(Value::Object(obj));
    }
    let text = unpack_text(what, Dict::Content, packed)?;
    serde_json::from_str(&text).map_err(|e| corrupt(what(), e))
}

/// The profile fields a version row keeps as columns, with their values rebuilt from them.
/// Order is the mask's bit order: append only.
pub(crate) const DERIVED: [&str; 10] = [
    "id",
    "database",
    "document_number",
    "version",
    "name",
    "extension",
    "size",
    "edit_date",
    "edit_profile_date",
    "wstype",
];

/// The values of [`DERIVED`], in order, as the row's columns give them.
pub(crate) type Derived = [Value; DERIVED.len()];

/// Whether a packed version profile needs its `base` row's profile to be read
/// ([`Codec::Delta`]).
pub(crate) fn needs_base(packed: &[u8]) -> bool {
    packed.first() == Some(&(Codec::Delta as u8))
}

/// Pack a version profile: the [`DERIVED`] fields equal to `derived` are left out; the rest is
/// compressed with the built-in dictionary, or against `base` (the residual text of another
/// version of the document, from [`base_text`] of a row packed without one) when given.
pub(crate) fn pack_profile(
    profile: &Map<String, Value>,
    derived: &Derived,
    base: Option<&str>,
) -> Result<Vec<u8>, CatalogError> {
    let mut absent: u16 = 0;
    let mut residual: Option<Map<String, Value>> = None;
    for (i, (key, value)) in DERIVED.iter().zip(derived).enumerate() {
        match profile.get(*key) {
            None => absent |= 1 << i,
            Some(v) if v == value => {
                residual.get_or_insert_with(|| profile.clone()).remove(*key);
            }
            Some(_) => {}
        }
    }
    let text = canonical_map(residual.as_ref().unwrap_or(profile));
    let mut out = Vec::with_capacity(text.len() / 3 + 16);
    match base {
        None => {
            out.push(Codec::Zstd1 as u8);
            out.extend_from_slice(&absent.to_le_bytes());
            compress_into(&mut out, Dict::VersionProfile, text.as_bytes())?;
        }
        Some(base) => {
            out.push(Codec::Delta as u8);
            out.extend_from_slice(&absent.to_le_bytes());
            let frame = with_coders(&|| "packing a version profile".to_string(), |c| {
                c.delta_compress.set_dictionary(LEVEL, base.as_bytes())?;
                c.delta_compress.compress(text.as_bytes())
            })?;
            out.extend_from_slice(&frame);
        }
    }
    Ok(out)
}

/// The residual text of a packed version profile (what [`pack_profile`] compressed: the
/// profile without the derived fields equal to the columns) and its absent mask. `base` is the
/// packed profile of the row's `base` column, needed when [`needs_base`].
fn residual(
    what: &dyn Fn() -> String,
    packed: &[u8],
    base: Option<&[u8]>,
) -> Result<(u16, String), CatalogError> {
    let (codec, absent, frame) = split_profile(what, packed)?;
    let text = match codec {
        Codec::Delta => {
            let base = base.ok_or_else(|| corrupt(what(), "its base row is missing"))?;
            let base_what = || format!("the base row of {}", what());
            let (base_codec, _, base_frame) = split_profile(&base_what, base)?;
            if base_codec != Codec::Zstd1 {
                return Err(corrupt(base_what(), "a base that has a base itself"));
            }
            let base_text = decompress(&base_what, Dict::VersionProfile, base_frame)?;
            let size = frame_size(what, frame)?;
            let bytes = with_coders(what, |c| {
                c.delta_decompress.set_dictionary(base_text.as_bytes())?;
                c.delta_decompress.decompress(frame, size)
            })?;
            String::from_utf8(bytes).map_err(|e| corrupt(what(), e))?
        }
        _ => decompress(what, Dict::VersionProfile, frame)?,
    };
    Ok((absent, text))
}

/// The profile [`pack_profile`] packed, given the same `derived` values (and the base row's
/// packed profile when [`needs_base`]).
pub(crate) fn unpack_profile(
    what: &dyn Fn() -> String,
    packed: &[u8],
    base: Option<&[u8]>,
    derived: Derived,
) -> Result<Map<String, Value>, CatalogError> {
    unpack_profile_text(what, packed, base, derived)?.into_map(what)
}

/// A JSON object's fields in order (a repeated key's later value replaces the earlier when
/// they are put in a map, as serde_json does).
struct Entries(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Entries, A::Error> {
                let mut fields = Vec::with_capacity(a.size_hint().unwrap_or(64));
                while let Some(field) = a.next_entry::<String, Value>()? {
                    fields.push(field);
                }
                Ok(Entries(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// What [`pack_profile`] stored, as text: the mask of absent fields (hex) and the residual
/// JSON (for the catalog dump: the same whichever way it was compressed).
pub(crate) fn profile_residual(
    what: &dyn Fn() -> String,
    packed: &[u8],
    base: Option<&[u8]>,
) -> Result<String, CatalogError> {
    let (absent, text) = residual(what, packed, base)?;
    Ok(format!("{absent:04x} {text}"))
}

/// The residual text of a profile packed without a base, to compress other versions of the
/// document against ([`pack_profile`]'s `base`); `None` when it was packed with one.
pub(crate) fn base_text(
    what: &dyn Fn() -> String,
    packed: &[u8],
) -> Result<Option<String>, CatalogError> {
    if needs_base(packed) {
        return Ok(None);
    }
    residual(what, packed, None).map(|(_, text)| Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(super) fn derived() -> Derived {
        [
            json!("ACTIVE!453.2"),
            json!("ACTIVE"),
            json!(453),
            json!(2),
            json!("Lease"),
            json!("docx"),
            json!(1234),
            json!("2026-11-03T14:02:11Z"),
            Value::Null,
            json!("document"),
        ]
    }

    /// A profile much like the first case's: another version of the same document.
    pub(super) fn cases_base() -> Map<String, Value> {
        json!({"id": "ACTIVE!453.1", "database": "ACTIVE", "document_number": 453,
               "version": 1, "name": "Lease", "extension": "docx", "size": 1000,
               "wstype": "document", "custom1": null, "class": "DOC", "custom2": "M-1",
               "comment": "first draft of the lease for the Acme matter"})
        .as_object()
        .cloned()
        .expect("an object")
    }

    #[test]
    fn a_later_version_against_the_first_is_smaller() {
        let first = cases_base();
        let mut second = first.clone();
        second.insert("version".into(), json!(2));
        second.insert(
            "comment".into(),
            json!("second draft of the lease for the Acme matter"),
        );
        let base = pack_profile(&first, &derived(), None).expect("packs");
        let text = base_text(&what, &base).expect("text").expect("plain");
        let alone = pack_profile(&second, &derived(), None).expect("packs");
        let delta = pack_profile(&second, &derived(), Some(&text)).expect("packs");
        assert!(
            delta.len() < alone.len(),
            "{} vs {}",
            delta.len(),
            alone.len()
        );
        let back = unpack_profile(&what, &delta, Some(&base), derived()).expect("unpacks");
        assert_eq!(back, second);
    }

    pub(super) fn what() -> String {
        "a test value".into()
    }

    /// A profile handed out unparsed is refused where the parsed one is (stored text that is
    /// not a JSON object, naming the profile), and a good one gives the same map.
    #[test]
    fn unparsed_profiles_are_refused_where_parsed_ones_are() {
        for bad in [&b"[1,2]"[..], b"not json", b"{\"a\":}", b"{\"a\":1} x", b""] {
            let mut packed = vec![Codec::Zstd1 as u8, 0, 0];
            compress_into(&mut packed, Dict::VersionProfile, bad).expect("compresses");
            unpack_profile(&what, &packed, None, derived()).expect_err("the map refuses it");
            let err = unpack_profile_text(&what, &packed, None, derived())
                .expect_err("the text refuses it");
            assert!(err.to_string().contains(&what()), "{err}");
        }
        let packed = pack_profile(&cases_base(), &derived(), None).expect("packs");
        let text = unpack_profile_text(&what, &packed, None, derived()).expect("unpacks");
        assert_eq!(
            text.into_map(&what).expect("parses"),
            unpack_profile(&what, &packed, None, derived()).expect("unpacks")
        );
    }

    #[test]
    fn profile_round_trips_with_equal_missing_and_differing_fields() {
        let cases = [
            json!({"id": "ACTIVE!453.2", "database": "ACTIVE", "document_number": 453,
                   "version": 2, "name": "Lease", "extension": "docx", "size": 1234,
                   "edit_date": "2026-11-03T14:02:11Z", "edit_profile_date": null,
                   "wstype": "document", "custom1": null, "class": "DOC"}),
            // Absent fields stay absent; a differing one (size as a float, name) is kept.
            json!({"id": "ACTIVE!453.2", "size": 1234.0, "name": "Other", "custom3": "x"}),
            json!({}),
            json!({"edit_profile_date": "2026-11-04T00:00:00Z", "extension": null}),
        ];
        for case in cases {
            let profile = case.as_object().cloned().expect("an object");
            let packed = pack_profile(&profile, &derived(), None).expect("packs");
            let back = unpack_profile(&what, &packed, None, derived()).expect("unpacks");
            assert_eq!(back, profile, "{case}");
            // Against another version's residual: the same profile back.
            let base = pack_profile(&cases_base(), &derived(), None).expect("base packs");
            let text = base_text(&what, &base).expect("base text").expect("plain");
            let delta = pack_profile(&profile, &derived(), Some(&text)).expect("packs");
            assert!(needs_base(&delta) && !needs_base(&packed));
            let back = unpack_profile(&what, &delta, Some(&base), derived()).expect("unpacks");
            assert_eq!(back, profile, "{case} against a base");
            let err = unpack_profile(&what, &delta, None, derived()).expect_err("no base");
            assert!(err.to_string().contains("base row is missing"), "{err}");
            let err = unpack_profile(&what, &delta, Some(&delta), derived()).expect_err("chain");
            assert!(err.to_string().contains("has a base itself"), "{err}");
        }
    }

    #[test]
    fn equal_fields_are_left_out_of_the_frame() {
        let full = json!({"id": "ACTIVE!453.2", "database": "ACTIVE", "document_number": 453,
               "version": 2, "name": "Lease", "extension": "docx", "size": 1234,
               "edit_date": "2026-11-03T14:02:11Z", "edit_profile_date": null,
               "wstype": "document"});
        let profile = full.as_object().cloned().expect("an object");
        let packed = pack_profile(&profile, &derived(), None).expect("packs");
        let rest = split_codec(&what, &packed).expect("codec");
        assert_eq!(rest[..2], [0, 0], "nothing absent");
        let text = decompress(&what, Dict::VersionProfile, &rest[2..]).expect("frame");
        assert_eq!(text, "{}");
    }

    #[test]
    fn content_references_round_trip_in_binary_or_zstd() {
        let h = |c: char| c.to_string().repeat(64);
        let cases = [
            (
                json!({"blobs": [h('a'), h('0')], "size": 300}),
                Some(1 + 2 + 1 + 64),
            ),
            (json!({"blobs": [], "size": 0}), Some(3)),
            (
                json!({"blobs": [h('f')], "size": u64::MAX}),
                Some(1 + 10 + 1 + 32),
            ),
            // Other shapes keep their exact text through zstd.
            (json!({"blobs": [h('A')], "size": 1}), None),
            (json!({"blobs": ["abc"], "size": 1}), None),
            (json!({"blobs": [h('a')], "size": 1, "pack": "p1"}), None),
            (json!({"blob": "b3-100-1", "pack": "p1"}), None),
            (json!("just text"), None),
        ];
        for (v, binary_len) in cases {
            let packed = pack_content(&v).expect("packs");
            assert_eq!(packed[0] == Codec::Blobs as u8, binary_len.is_some(), "{v}");
            if let Some(n) = binary_len {
                assert_eq!(packed.len(), n, "{v}");
            }
            assert_eq!(unpack_content(&what, &packed).expect("unpacks"), v);
        }
        let packed = pack_content(&json!({"blobs": [h('a')], "size": 5})).expect("packs");
        for bad in [&packed[..packed.len() - 1], &packed[..2], &[2u8, 0x80][..]] {
            let err = unpack_content(&what, bad).expect_err("damaged");
            assert!(err.to_string().contains("blob list"), "{err}");
        }
    }

    #[test]
    fn text_round_trips_and_damage_is_an_error() {
        let v = json!({"blobs": [{"id": "ab".repeat(32), "len": 5}], "size": 5});
        for dict in [
            Dict::VersionProfile,
            Dict::ContainerProfile,
            Dict::Content,
            Dict::Acl,
        ] {
            let packed = pack_value(dict, &v).expect("packs");
            assert_eq!(
                unpack_text(&what, dict, &packed).expect("unpacks"),
                canonical_json(&v)
            );
        }
        let packed = pack_value(Dict::Content, &v).expect("packs");
        let mut unknown = packed.clone();
        unknown[0] = 9;
        let err = unpack_text(&what, Dict::Content, &unknown).expect_err("unknown codec");
        assert!(err.to_string().contains("unknown codec 9"), "{err}");
        assert!(unpack_text(&what, Dict::Content, &[]).is_err());
        assert!(unpack_text(&what, Dict::Content, &packed[..packed.len() - 3]).is_err());
    }
}
