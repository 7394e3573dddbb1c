//! The `config` object: format version and the parameters every writer must share.

use serde::{Deserialize, Serialize};

use crate::repo::error::{RepoError, Result};

/// The format version this release writes.
pub const FORMAT_VERSION: u32 = 2;
/// The format versions this release reads (format 1: read-only, see docs/FORMAT.md).
pub const SUPPORTED_VERSIONS: &[u32] = &[1, 2];

/// FastCDC parameters (bytes). Fixed per repository so that equal content cuts equally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    pub min_size: u32,
    pub avg_size: u32,
    pub max_size: u32,
}

impl Default for ChunkerParams {
    /// 256 KiB / 1 MiB / 4 MiB: see docs/FORMAT.md, "Chunking".
    fn default() -> Self {
        Self {
            min_size: 256 * 1024,
            avg_size: 1024 * 1024,
            max_size: 4 * 1024 * 1024,
        }
    }
}

impl ChunkerParams {
    pub fn validate(&self) -> Result<(), String> {
        // fastcdc v2020 limits.
        let ok = (64..=1_048_576).contains(&self.min_size)
            && (256..=4_194_304).contains(&self.avg_size)
            && (1024..=16_777_216).contains(&self.max_size)
            && self.min_size <= self.avg_size
            && self.avg_size <= self.max_size;
        if ok {
            Ok(())
        } else {
            Err(format!(
                "chunker sizes {}/{}/{} are out of range (min 64..1MiB <= avg 256..4MiB <= max 1KiB..16MiB)",
                self.min_size, self.avg_size, self.max_size
            ))
        }
    }
}

/// How the repository's objects are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encryption {
    /// Stored in the clear: format 1, or format 2 created with `--insecure-no-encryption`.
    #[default]
    None,
    /// Format 2: AES-256-GCM, keyed BLAKE3 blob ids, master key in key slots.
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
}

/// Decoded `config` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoConfig {
    pub format_version: u32,
    /// Random id of this repository (hex), for telling repositories apart.
    pub id: String,
    pub created: chrono::DateTime<chrono::Utc>,
    pub chunker: ChunkerParams,
    /// Target pack size in bytes; a pack is sealed once it reaches this size.
    pub pack_size: u64,
    /// Default zstd level for new blobs (writers may override per session).
    pub zstd_level: i32,
    /// Format 2 (absent in format 1: none).
    #[serde(default)]
    pub encryption: Encryption,
}

/// Options for `Repository::init`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InitOptions {
    pub chunker: ChunkerParams,
    pub pack_size: u64,
    pub zstd_level: i32,
    /// Store everything in the clear (`imvault init --insecure-no-encryption`).
    pub insecure_no_encryption: bool,
    /// Argon2id costs of the first (password) key slot.
    pub kdf: crate::repo::keyslot::KdfParams,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            chunker: ChunkerParams::default(),
            pack_size: 16 * 1024 * 1024,
            zstd_level: DEFAULT_ZSTD_LEVEL,
            insecure_no_encryption: false,
            kdf: crate::repo::keyslot::KdfParams::default(),
        }
    }
}

/// Chosen from `benches/repo.rs` (compress group): see docs/FORMAT.md, "Compression".
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// The largest pack the format allows (blob offsets in a pack are 32-bit; FORMAT.md §4).
pub const MAX_PACK_SIZE: u64 = 1 << 30;
/// The smallest target pack size.
pub const MIN_PACK_SIZE: u64 = 64 * 1024;

impl RepoConfig {
    pub fn new(opts: &InitOptions) -> Result<Self> {
        opts.chunker
            .validate()
            .map_err(|reason| RepoError::Corrupt {
                key: "config (init options)".into(),
                reason,
            })?;
        if !(MIN_PACK_SIZE..=MAX_PACK_SIZE).contains(&opts.pack_size) {
            return Err(RepoError::Corrupt {
                key: "config (init options)".into(),
                reason: format!("pack size {} is outside 64 KiB..1 GiB", opts.pack_size),
            });
        }
        Ok(Self {
            format_version: FORMAT_VERSION,
            id: uuid::Uuid::new_v4().simple().to_string(),
            created: chrono::Utc::now(),
            chunker: opts.chunker,
            pack_size: opts.pack_size,
            zstd_level: opts.zstd_level,
            encryption: if opts.insecure_no_encryption {
                Encryption::None
            } else {
                Encryption::Aes256Gcm
            },
        })
    }

    pub fn is_encrypted(&self) -> bool {
        self.encryption != Encryption::None
    }

    /// Decodes a `config` object, refusing unknown format versions before anything else.
    pub fn decode(key: &str, bytes: &[u8]) -> Result<Self> {
        #[derive(Deserialize)]
        struct VersionOnly {
            format_version: u32,
        }
        let v: VersionOnly = serde_json::from_slice(bytes).map_err(|source| RepoError::Decode {
            key: key.to_string(),
            source,
        })?;
        if !SUPPORTED_VERSIONS.contains(&v.format_version) {
            return Err(RepoError::UnsupportedFormat {
                key: key.to_string(),
                found: v.format_version,
                supported: format!("{SUPPORTED_VERSIONS:?}"),
            });
        }
        let cfg: Self = serde_json::from_slice(bytes).map_err(|source| RepoError::Decode {
            key: key.to_string(),
            source,
        })?;
        cfg.chunker
            .validate()
            .map_err(|reason| RepoError::Corrupt {
                key: key.to_string(),
                reason,
            })?;
        if cfg.format_version < 2 && cfg.is_encrypted() {
            return Err(RepoError::Corrupt {
                key: key.to_string(),
                reason: "format 1 has no encryption".into(),
            });
        }
        Ok(cfg)
    }
}
