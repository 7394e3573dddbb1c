//! Typed 32-byte identifiers: blobs, packs, index objects and snapshots.
//!
//! Every id is a BLAKE3 hash (of a blob's plaintext, of a pack's bytes, of an index or snapshot
//! object's bytes), shown as 64 lowercase hex characters and serialized the same way.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A hex string that is not a 32-byte id.
#[derive(Debug, thiserror::Error)]
#[error("`{input}` is not a 64-character hex id")]
pub struct ParseIdError {
    pub input: String,
}

macro_rules! hash_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The BLAKE3 hash of `data`.
            pub fn of(data: &[u8]) -> Self {
                Self(*blake3::hash(data).as_bytes())
            }
            pub fn from_hash(h: blake3::Hash) -> Self {
                Self(*h.as_bytes())
            }
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            /// First 8 hex characters, for logs.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }
        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).map_err(|_| ParseIdError { input: s.to_string() })?;
                Ok(Self(out))
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hash_id!(
    /// BLAKE3 of a blob's plaintext (before compression).
    BlobId
);
hash_id!(
    /// BLAKE3 of a pack object's complete bytes; also its object name.
    PackId
);
hash_id!(
    /// BLAKE3 of an index object's complete bytes; also its object name.
    IndexId
);
hash_id!(
    /// BLAKE3 of a snapshot manifest object's bytes; also its object name.
    SnapshotId
);
hash_id!(
    /// A legal hold: BLAKE3 of the stored bytes of the `holds/<h>` object that placed it.
    HoldId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_serde() {
        let id = BlobId::of(b"hello");
        let s = id.to_string();
        assert_eq!(s.len(), 64);
        assert_eq!(s.parse::<BlobId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{s}\""));
        assert_eq!(serde_json::from_str::<BlobId>(&json).unwrap(), id);
        assert!("zz".parse::<BlobId>().is_err());
        assert!(format!("{id:?}").starts_with("BlobId("));
    }
}
