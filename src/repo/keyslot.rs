//! Key slots (`keys/<h>`): the repository's master key, wrapped under a key derived from a
//! password (Argon2id) or from a key file (BLAKE3), so that the operator's secret can change
//! without re-encrypting anything (docs/FORMAT.md, "Key slots").
//!
//! A slot is a small JSON object, stored in the clear (it must be read before any key is
//! known) and named by the BLAKE3 of its bytes, like every other content-addressed object:
//! a damaged slot is told from a wrong password by its name. The wrapped key is AES-256-GCM
//! under the derived key, its associated data binding the slot's kind and KDF parameters.
//! Slots are only ever created or deleted, never modified; changing a password writes the new
//! slot before deleting the old one.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::repo::backend;
use crate::repo::crypto::{self, AEAD_NAME, KEY_LEN, MasterKey};
use crate::repo::error::{RepoError, Result};
use crate::secret::{Secret, SecretBytes};

/// Where key slots live.
pub const KEYS: &str = "keys";
/// The layout version of a key slot object.
pub const SLOT_VERSION: u32 = 1;
/// A key file must hold at least this many bytes (of random data).
pub const MIN_KEY_FILE_LEN: usize = 32;
const SALT_LEN: usize = 32;
const ARGON2_VERSION: u32 = 0x13;
const KEY_FILE_CONTEXT: &str = "imvault repository format 2 2026-12 key file slot";

/// What opens an encrypted repository.
#[derive(Clone)]
pub enum Credential {
    /// A password or passphrase (its UTF-8 bytes, as given).
    Password(Secret),
    /// The contents of a key file (at least 32 bytes, e.g. `imvault key add --new-key-file`).
    KeyFile(SecretBytes),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Password(_) => "Password(***)",
            Self::KeyFile(_) => "KeyFile(***)",
        })
    }
}

impl Credential {
    pub fn kind(&self) -> SlotKind {
        match self {
            Self::Password(_) => SlotKind::Password,
            Self::KeyFile(_) => SlotKind::KeyFile,
        }
    }
    /// "password" or "key file", for messages.
    pub fn what(&self) -> &'static str {
        self.kind().what()
    }
}

/// The two kinds of key slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotKind {
    Password,
    KeyFile,
}

impl SlotKind {
    pub fn what(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::KeyFile => "key file",
        }
    }
}

/// Argon2id costs of a password slot; stored in the slot, so each slot keeps the costs it was
/// made with. The default is RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        Self {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 4,
        }
    }
}

impl KdfParams {
    /// Bounds a stored slot must keep to be tried at all (a slot asking for more memory or
    /// time than this is damaged or hostile, not something to run).
    pub fn check(&self) -> std::result::Result<(), String> {
        let ok = (8..=4 * 1024 * 1024).contains(&self.memory_kib)
            && (1..=64).contains(&self.iterations)
            && (1..=64).contains(&self.parallelism)
            && self.memory_kib >= 8 * self.parallelism;
        if ok {
            Ok(())
        } else {
            Err(format!(
                "Argon2id costs m={} KiB t={} p={} are out of range (m 8 KiB..4 GiB, t 1..64, p 1..64)",
                self.memory_kib, self.iterations, self.parallelism
            ))
        }
    }
}

/// How a slot's wrapping key is derived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "kebab-case", deny_unknown_fields)]
enum Kdf {
    Argon2id {
        version: u32,
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        /// 32 random bytes, hex.
        salt: String,
    },
    /// `derive_key(context, salt || key file bytes)`: a key file is random, not guessable.
    #[serde(rename = "blake3-derive-key")]
    Blake3DeriveKey { salt: String },
}

/// A `keys/<h>` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotObject {
    version: u32,
    kind: SlotKind,
    created: DateTime<Utc>,
    kdf: Kdf,
    aead: String,
    /// `nonce || AES-256-GCM(wrapping key, master key) || tag`, hex.
    wrapped_key: String,
}

impl SlotObject {
    /// Associated data of the wrapped key: the slot's kind and KDF, so neither can be changed
    /// without the wrapped key failing authentication.
    fn ad(&self) -> Vec<u8> {
        let kdf = serde_json::to_string(&self.kdf).unwrap_or_default();
        format!(
            "imvault/2 key slot v{} {} {}",
            self.version,
            self.kind.what(),
            kdf
        )
        .into_bytes()
    }
}

/// What `imvault key list` shows of a slot (never anything secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotInfo {
    /// The slot's id: the BLAKE3 of its bytes (its object name under `keys/`).
    pub id: String,
    pub kind: Option<SlotKind>,
    pub created: Option<DateTime<Utc>>,
    /// How the wrapping key is derived, e.g. `argon2id m=65536KiB t=3 p=4`.
    pub kdf: String,
    /// This slot opened the repository in this process.
    pub current: bool,
    /// Why the slot cannot be used (damaged), if it cannot.
    pub problem: Option<String>,
}

/// The key of slot `id`.
pub fn key_of(id: &str) -> Path {
    Path::from_iter([KEYS, id])
}

fn random_salt() -> Result<String> {
    Ok(hex::encode(crypto::random::<SALT_LEN>()?))
}

fn decode_salt(salt: &str) -> std::result::Result<Vec<u8>, String> {
    let b = hex::decode(salt).map_err(|_| "the salt is not hex".to_string())?;
    if b.len() < 16 {
        return Err("the salt is shorter than 16 bytes".into());
    }
    Ok(b)
}

/// The wrapping key for `credential` under `kdf` (CPU- and memory-bound for passwords: call
/// from a blocking thread). `Ok(None)` when the slot is of another kind than the credential.
fn wrapping_key(
    kdf: &Kdf,
    credential: &Credential,
) -> std::result::Result<Option<Zeroizing<[u8; KEY_LEN]>>, String> {
    match (kdf, credential) {
        (
            Kdf::Argon2id {
                version,
                memory_kib,
                iterations,
                parallelism,
                salt,
            },
            Credential::Password(pw),
        ) => {
            if *version != ARGON2_VERSION {
                return Err(format!("unknown Argon2 version {version}"));
            }
            let p = KdfParams {
                memory_kib: *memory_kib,
                iterations: *iterations,
                parallelism: *parallelism,
            };
            p.check()?;
            let salt = decode_salt(salt)?;
            let params = argon2::Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32))
                .map_err(|e| e.to_string())?;
            let a =
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let mut out = Zeroizing::new([0u8; KEY_LEN]);
            a.hash_password_into(pw.expose().as_bytes(), &salt, &mut out[..])
                .map_err(|e| e.to_string())?;
            Ok(Some(out))
        }
        (Kdf::Blake3DeriveKey { salt }, Credential::KeyFile(bytes)) => {
            let salt = decode_salt(salt)?;
            let mut h = blake3::Hasher::new_derive_key(KEY_FILE_CONTEXT);
            h.update(&salt);
            h.update(bytes.expose());
            Ok(Some(Zeroizing::new(*h.finalize().as_bytes())))
        }
        _ => Ok(None),
    }
}

/// A new slot object wrapping `master` for `credential` (CPU-bound: Argon2id for passwords).
/// Returns its id and bytes.
pub fn create(
    master: &MasterKey,
    credential: &Credential,
    kdf: &KdfParams,
) -> Result<(String, Bytes)> {
    match credential {
        Credential::Password(pw) if pw.is_empty() => {
            return Err(RepoError::KeySlot {
                reason: "the new password is empty".into(),
            });
        }
        Credential::KeyFile(b) if b.len() < MIN_KEY_FILE_LEN => {
            return Err(RepoError::KeySlot {
                reason: format!(
                    "a key file must hold at least {MIN_KEY_FILE_LEN} bytes of random data (this one has {}); make one with `imvault key add --new-key-file FILE`",
                    b.len()
                ),
            });
        }
        _ => {}
    }
    kdf.check().map_err(|reason| RepoError::Kdf { reason })?;
    let derivation = match credential {
        Credential::Password(_) => Kdf::Argon2id {
            version: ARGON2_VERSION,
            memory_kib: kdf.memory_kib,
            iterations: kdf.iterations,
            parallelism: kdf.parallelism,
            salt: random_salt()?,
        },
        Credential::KeyFile(_) => Kdf::Blake3DeriveKey {
            salt: random_salt()?,
        },
    };
    let mut slot = SlotObject {
        version: SLOT_VERSION,
        kind: credential.kind(),
        created: Utc::now(),
        kdf: derivation,
        aead: AEAD_NAME.into(),
        wrapped_key: String::new(),
    };
    let kek = wrapping_key(&slot.kdf, credential)
        .map_err(|reason| RepoError::Kdf { reason })?
        .expect("the slot is of the credential's kind");
    let wrapped = crypto::seal_with(&crypto::cipher(&kek), &slot.ad(), master.as_bytes())?;
    slot.wrapped_key = hex::encode(wrapped);
    let bytes = serde_json::to_vec_pretty(&slot).map_err(|source| RepoError::Encode {
        what: "key slot".into(),
        source,
    })?;
    let id = blake3::hash(&bytes).to_hex().to_string();
    Ok((id, Bytes::from(bytes)))
}

/// Why a stored slot is unusable: its bytes do not match its name, or do not decode.
fn parse(id: &str, bytes: &[u8]) -> std::result::Result<SlotObject, String> {
    if blake3::hash(bytes).to_hex().as_str() != id {
        return Err("its content does not match its name".into());
    }
    let slot: SlotObject =
        serde_json::from_slice(bytes).map_err(|e| format!("it does not decode: {e}"))?;
    if slot.version != SLOT_VERSION {
        return Err(format!(
            "unknown key slot version {} (this release reads {SLOT_VERSION})",
            slot.version
        ));
    }
    if slot.aead != AEAD_NAME {
        return Err(format!("unknown AEAD {:?}", slot.aead));
    }
    Ok(slot)
}

/// Unwraps the master key from `slot` with `credential` (CPU-bound). `Ok(None)`: the
/// credential does not open this slot.
fn try_open(
    slot: &SlotObject,
    credential: &Credential,
) -> std::result::Result<Option<MasterKey>, String> {
    let Some(kek) = wrapping_key(&slot.kdf, credential)? else {
        return Ok(None);
    };
    let wrapped = hex::decode(&slot.wrapped_key).map_err(|_| "wrapped key is not hex")?;
    match crypto::open_with(&crypto::cipher(&kek), &slot.ad(), &wrapped) {
        Ok(plain) => {
            let plain = Zeroizing::new(plain);
            let key: [u8; KEY_LEN] = plain
                .as_slice()
                .try_into()
                .map_err(|_| "the wrapped key has the wrong length")?;
            Ok(Some(MasterKey::from_bytes(key)))
        }
        Err(_) => Ok(None),
    }
}

fn kdf_summary(kdf: &Kdf) -> String {
    match kdf {
        Kdf::Argon2id {
            memory_kib,
            iterations,
            parallelism,
            ..
        } => format!("argon2id m={memory_kib}KiB t={iterations} p={parallelism}"),
        Kdf::Blake3DeriveKey { .. } => "blake3-derive-key".into(),
    }
}

/// One stored slot as read.
pub struct StoredSlot {
    pub id: String,
    bytes: Bytes,
}

/// Reads every slot object (ids sorted).
pub async fn read_all(store: &Arc<dyn ObjectStore>) -> Result<Vec<StoredSlot>> {
    let mut metas = backend::list(store.as_ref(), &Path::from(KEYS)).await?;
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let mut out = Vec::with_capacity(metas.len());
    for m in metas {
        let id = m.location.filename().unwrap_or_default().to_string();
        let bytes = backend::get(store.as_ref(), &m.location).await?;
        out.push(StoredSlot { id, bytes });
    }
    Ok(out)
}

/// What `key list` and `verify` show of every slot.
pub fn describe(slots: &[StoredSlot], current: Option<&str>) -> Vec<SlotInfo> {
    slots
        .iter()
        .map(|s| match parse(&s.id, &s.bytes) {
            Ok(o) => SlotInfo {
                id: s.id.clone(),
                kind: Some(o.kind),
                created: Some(o.created),
                kdf: kdf_summary(&o.kdf),
                current: current == Some(s.id.as_str()),
                problem: None,
            },
            Err(problem) => SlotInfo {
                id: s.id.clone(),
                kind: None,
                created: None,
                kdf: String::new(),
                current: false,
                problem: Some(problem),
            },
        })
        .collect()
}

/// Finds the slot `credential` opens and unwraps the master key: one KDF run per slot of the
/// credential's kind, no retries. Returns the key and the slot's id.
pub async fn unlock(
    slots: Vec<StoredSlot>,
    credential: &Credential,
) -> Result<(MasterKey, String)> {
    let credential = credential.clone();
    tokio::task::spawn_blocking(move || {
        let mut damaged = Vec::new();
        let mut unusable: Vec<(String, String)> = Vec::new();
        let mut tried = 0usize;
        for s in &slots {
            let slot = match parse(&s.id, &s.bytes) {
                Ok(o) => o,
                Err(e) => {
                    damaged.push(format!("key slot `{}` failed authentication: {e}", key_of(&s.id)));
                    unusable.push((s.id.clone(), e));
                    continue;
                }
            };
            if slot.kind != credential.kind() {
                continue;
            }
            tried += 1;
            match try_open(&slot, &credential) {
                Ok(Some(key)) => return Ok((key, s.id.clone())),
                Ok(None) => {}
                Err(e) => damaged.push(format!("key slot `{}` is unusable: {e}", key_of(&s.id))),
            }
        }
        let what = credential.what();
        if tried == 0
            && let Some((id, why)) = unusable.first()
        {
            // The only slots that could open are damaged: that is tampering, not a wrong password.
            return Err(RepoError::Authentication {
                key: key_of(id).to_string(),
                what: format!("key slot: {why}"),
            });
        }
        let mut detail = if tried == 0 {
            format!("the repository has no {what} key slot")
        } else {
            format!(
                "none of the repository's {tried} {what} key slot(s) opens with it (nothing was written; check the configured {what})"
            )
        };
        if !damaged.is_empty() {
            detail.push_str("; also: ");
            detail.push_str(&damaged.join("; "));
        }
        Err(RepoError::WrongPassword { what, detail })
    })
    .await
    .map_err(|source| RepoError::Task {
        task: "open key slot",
        source,
    })?
}

/// Writes a new slot wrapping `master` for `credential` and returns its id.
pub async fn add(
    store: &Arc<dyn ObjectStore>,
    master: &MasterKey,
    credential: &Credential,
    kdf: &KdfParams,
) -> Result<String> {
    let (m, c, k) = (master.clone(), credential.clone(), *kdf);
    let (id, bytes) = tokio::task::spawn_blocking(move || create(&m, &c, &k))
        .await
        .map_err(|source| RepoError::Task {
            task: "create key slot",
            source,
        })??;
    backend::put_content_addressed(store.as_ref(), &key_of(&id), bytes).await?;
    tracing::info!(slot = %&id[..8], kind = credential.what(), "key slot added");
    Ok(id)
}

/// Deletes slot `id`.
pub async fn remove(store: &Arc<dyn ObjectStore>, id: &str) -> Result<()> {
    let key = key_of(id);
    store.delete(&key).await.map_err(|source| RepoError::Put {
        key: format!("{key} (delete)"),
        source,
    })?;
    tracing::info!(slot = %&id[..8.min(id.len())], "key slot removed");
    Ok(())
}

/// The one slot whose id starts with `prefix`.
pub fn resolve<'a>(slots: &'a [SlotInfo], prefix: &str) -> Result<&'a SlotInfo> {
    let p = prefix.trim().to_ascii_lowercase();
    let hits: Vec<&SlotInfo> = slots.iter().filter(|s| s.id.starts_with(&p)).collect();
    match hits.as_slice() {
        [one] if !p.is_empty() => Ok(one),
        [] | [_] => Err(RepoError::KeySlot {
            reason: format!(
                "no key slot has an id starting with {prefix:?} (see `imvault key list`)"
            ),
        }),
        _ => Err(RepoError::KeySlot {
            reason: format!(
                "{} key slots have ids starting with {prefix:?}: give more characters",
                hits.len()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> KdfParams {
        KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn password_and_key_file_slots_open_with_their_credential_only() {
        let master = MasterKey::from_bytes([5; 32]);
        let pw = Credential::Password(Secret::new("correct horse"));
        let (id, bytes) = create(&master, &pw, &fast()).unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(text.contains("\"argon2id\"") && text.contains("\"memory_kib\": 64"));
        assert!(!text.contains("correct horse"));
        let slot = parse(&id, &bytes).unwrap();
        let got = try_open(&slot, &pw).unwrap().unwrap();
        assert_eq!(got.as_bytes(), master.as_bytes());
        let wrong = Credential::Password(Secret::new("correct horsf"));
        assert!(try_open(&slot, &wrong).unwrap().is_none());
        let kf = Credential::KeyFile(SecretBytes::new(vec![7; 32]));
        assert!(try_open(&slot, &kf).unwrap().is_none(), "other kind");

        let (kid, kbytes) = create(&master, &kf, &fast()).unwrap();
        let kslot = parse(&kid, &kbytes).unwrap();
        assert_eq!(
            try_open(&kslot, &kf).unwrap().unwrap().as_bytes(),
            master.as_bytes()
        );
        let kf2 = Credential::KeyFile(SecretBytes::new(vec![8; 32]));
        assert!(try_open(&kslot, &kf2).unwrap().is_none());
        // Too short a key file, an empty password: refused.
        assert!(
            create(
                &master,
                &Credential::KeyFile(SecretBytes::new(vec![1; 31])),
                &fast()
            )
            .is_err()
        );
        assert!(create(&master, &Credential::Password(Secret::new("")), &fast()).is_err());
    }

    #[test]
    fn a_changed_slot_is_damaged_not_a_wrong_password() {
        let master = MasterKey::from_bytes([5; 32]);
        let pw = Credential::Password(Secret::new("pw"));
        let (id, bytes) = create(&master, &pw, &fast()).unwrap();
        let mut bad = bytes.to_vec();
        let i = bad.len() / 2;
        bad[i] ^= 0x01;
        let err = parse(&id, &bad).unwrap_err();
        assert!(err.contains("does not match its name"), "{err}");
        // A slot rewritten with lower costs (and renamed to match) no longer unwraps.
        let mut obj: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        obj["kdf"]["iterations"] = 2.into();
        let forged = serde_json::to_vec_pretty(&obj).unwrap();
        let fid = blake3::hash(&forged).to_hex().to_string();
        let fslot = parse(&fid, &forged).unwrap();
        assert!(try_open(&fslot, &pw).unwrap().is_none());
        // Hostile costs are not run.
        obj["kdf"]["memory_kib"] = (u32::MAX).into();
        let hostile = serde_json::to_vec_pretty(&obj).unwrap();
        let hid = blake3::hash(&hostile).to_hex().to_string();
        let hslot = parse(&hid, &hostile).unwrap();
        assert!(try_open(&hslot, &pw).unwrap_err().contains("out of range"));
    }
}
