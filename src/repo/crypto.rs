//! The repository's cryptography (format 2, docs/FORMAT.md "Encryption"): the master key, the
//! keys derived from it, and the one seal/open primitive every stored byte goes through.
//!
//! - **AEAD**: AES-256-GCM, chosen by measurement on the target hardware (docs/FORMAT.md
//!   "Encryption"), computed by AWS-LC (`aws-lc-rs`, already the TLS stack's), whose AES-GCM
//!   passes over the bytes once, AES-NI and carry-less multiplication stitched together:
//!   1.6-2.7x RustCrypto's `aes-gcm` on the build host, which was 8 % of a restore's CPU. A
//!   sealed byte string is `nonce (12) || ciphertext || tag (16)` (standard AES-GCM: the same
//!   bytes whichever implementation seals or opens them; a test checks both ways against
//!   RustCrypto's); the nonce is fresh from the operating system's CSPRNG for every seal. The
//!   associated data names what the bytes are (an object kind, a pack header, a blob and its id),
//!   so bytes moved to where something else is expected fail authentication.
//! - **Keys**: a random 32-byte master key, wrapped in key slots (`keyslot.rs`). Every key in use
//!   is derived from it with BLAKE3's `derive_key` and its own context string: the AEAD key, the
//!   blob-id key and the object-name key. No key is ever used for two purposes.
//! - **Blob ids** are BLAKE3 keyed with the blob-id key, so holding a document does not tell
//!   whether the repository holds it.
//!
//! A [`Crypto`] without keys is the clear-text codec of format 1 and of repositories created with
//! `--insecure-no-encryption`: sealing returns the bytes as they are and ids are plain BLAKE3.

use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use bytes::{Bytes, BytesMut};
use zeroize::{Zeroize, Zeroizing};

use crate::repo::id::BlobId;

/// The AEAD of format 2, as named in the config and key slots.
pub const AEAD_NAME: &str = "aes-256-gcm";
pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// Bytes a seal adds: nonce and tag.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

const CTX_AEAD: &str = "imvault repository format 2 2026-12 object encryption key";
const CTX_BLOB_ID: &str = "imvault repository format 2 2026-12 blob id key";
const CTX_NAME: &str = "imvault repository format 2 2026-12 object name key";

/// Sealed bytes that do not open: damaged, tampered with, moved to where they do not belong,
/// or sealed with another key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("failed authentication")]
pub struct AuthError;

/// The operating system's random number generator failed.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(String);

/// `N` random bytes from the operating system.
pub fn random<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| RandomError(e.to_string()))?;
    Ok(b)
}

/// The repository's master key: 32 random bytes, stored only wrapped in key slots.
/// Never printed; zeroed when dropped.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl MasterKey {
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self(Zeroizing::new(random()?)))
    }
    pub fn from_bytes(b: [u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(b))
    }
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// An AES-256-GCM key, ready to seal and open. Its key schedule is wiped when dropped (AWS-LC
/// cleanses what it frees).
pub struct Cipher(LessSafeKey);

/// AEAD under a 32-byte key: `nonce || ciphertext || tag`, random nonce per seal.
pub fn seal_with(cipher: &Cipher, ad: &[u8], plain: &[u8]) -> Result<Vec<u8>, RandomError> {
    let nonce: [u8; NONCE_LEN] = random()?;
    let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plain);
    let tag = cipher
        .0
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(ad),
            &mut out[NONCE_LEN..],
        )
        .expect("AES-GCM accepts messages below 64 GiB");
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// The parts of a sealed byte string.
struct Parts<'a> {
    nonce: [u8; NONCE_LEN],
    body: &'a [u8],
    tag: &'a [u8],
}

/// Splits a sealed byte string into nonce, ciphertext and tag.
fn parts(sealed: &[u8]) -> Result<Parts<'_>, AuthError> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(AuthError);
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| AuthError)?;
    Ok(Parts { nonce, body, tag })
}

/// Opens what [`seal_with`] sealed under the same key and associated data, into `out` (exactly
/// as long as the plaintext). On failure `out` holds nothing to use.
fn open_into(cipher: &Cipher, ad: &[u8], sealed: &[u8], out: &mut [u8]) -> Result<(), AuthError> {
    let Parts { nonce, body, tag } = parts(sealed)?;
    if out.len() != body.len() {
        return Err(AuthError);
    }
    cipher
        .0
        .open_separate_gather(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(ad),
            body,
            tag,
            out,
        )
        .map_err(|_| AuthError)
}

/// Opens what [`seal_with`] sealed under the same key and associated data.
pub fn open_with(cipher: &Cipher, ad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, AuthError> {
    let mut out = vec![0u8; parts(sealed)?.body.len()];
    open_into(cipher, ad, sealed, &mut out)?;
    Ok(out)
}

/// An AES-256-GCM cipher for a 32-byte key.
pub fn cipher(key: &[u8; KEY_LEN]) -> Cipher {
    Cipher(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key is an AES-256 key"),
    ))
}

/// Plaintext opened by [`Crypto::open_then`] goes to a buffer of the opening thread, kept
/// between calls, of up to this many bytes (a longer record gets a buffer of its own, freed
/// after use): a restore opens tens of thousands of blobs, and a fresh buffer for each cost
/// page faults and a copy.
const SCRATCH_KEEP: usize = 4 << 20;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Keys {
    master: MasterKey,
    aead: Cipher,
    blob_id: [u8; KEY_LEN],
    name: [u8; KEY_LEN],
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.blob_id.zeroize();
        self.name.zeroize();
    }
}

/// How a repository's bytes are protected: the keys of an encrypted repository, or none.
/// Cheap to clone (shared).
#[derive(Clone)]
pub struct Crypto {
    keys: Option<Arc<Keys>>,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_encrypted() {
            "Crypto(aes-256-gcm, keys ***)"
        } else {
            "Crypto(none)"
        })
    }
}

impl Crypto {
    /// No encryption: format 1, or format 2 created with `--insecure-no-encryption`.
    pub fn plaintext() -> Self {
        Self { keys: None }
    }

    /// The keys derived from `master`.
    pub fn with_master(master: &MasterKey) -> Self {
        let m = master.as_bytes();
        let mut aead_key = Zeroizing::new(blake3::derive_key(CTX_AEAD, m));
        let keys = Keys {
            master: master.clone(),
            aead: cipher(&aead_key),
            blob_id: blake3::derive_key(CTX_BLOB_ID, m),
            name: blake3::derive_key(CTX_NAME, m),
        };
        aead_key.zeroize();
        Self {
            keys: Some(Arc::new(keys)),
        }
    }

    pub fn is_encrypted(&self) -> bool {
        self.keys.is_some()
    }

    /// The master key (to wrap it in a new key slot), when encrypted.
    pub fn master(&self) -> Option<&MasterKey> {
        self.keys.as_ref().map(|k| &k.master)
    }

    /// Bytes a seal adds (0 without encryption).
    pub fn overhead(&self) -> usize {
        if self.is_encrypted() {
            SEAL_OVERHEAD
        } else {
            0
        }
    }

    /// The id of a blob's plaintext: keyed BLAKE3 (encrypted) or BLAKE3 (plain text).
    pub fn blob_id(&self, data: &[u8]) -> BlobId {
        match &self.keys {
            Some(k) => BlobId(*blake3::keyed_hash(&k.blob_id, data).as_bytes()),
            None => BlobId::of(data),
        }
    }

    /// A name segment standing for `value` (e.g. a library) that does not reveal it: 32 hex
    /// characters of BLAKE3 keyed with the object-name key (plain BLAKE3 without encryption).
    pub fn name_tag(&self, purpose: &str, value: &str) -> String {
        let mut h = match &self.keys {
            Some(k) => blake3::Hasher::new_keyed(&k.name),
            None => blake3::Hasher::new(),
        };
        h.update(purpose.as_bytes());
        h.update(&[0]);
        h.update(value.as_bytes());
        hex::encode(&h.finalize().as_bytes()[..16])
    }

    /// Seals `plain` for the place `ad` names. Without encryption: `plain` itself.
    /// CPU-bound for large inputs: call from a blocking thread.
    pub fn seal(&self, ad: &[u8], plain: Bytes) -> Result<Bytes, RandomError> {
        match &self.keys {
            Some(k) => seal_with(&k.aead, ad, &plain).map(Bytes::from),
            None => Ok(plain),
        }
    }

    /// Opens bytes sealed by [`Crypto::seal`] with the same `ad`.
    pub fn open(&self, ad: &[u8], sealed: Bytes) -> Result<Bytes, AuthError> {
        match &self.keys {
            Some(k) => open_with(&k.aead, ad, &sealed).map(Bytes::from),
            None => Ok(sealed),
        }
    }

    /// Opens bytes sealed by [`Crypto::seal`] with the same `ad` into a buffer of this thread,
    /// and gives the plaintext to `f` (which must not keep it): for a reader that only
    /// transforms the plaintext (decompresses it), no buffer is allocated or copied. Without
    /// encryption `f` gets `sealed` itself.
    pub fn open_then<R>(
        &self,
        ad: &[u8],
        sealed: &[u8],
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, AuthError> {
        let Some(k) = &self.keys else {
            return Ok(f(sealed));
        };
        let len = parts(sealed)?.body.len();
        if len > SCRATCH_KEEP {
            let mut buf = vec![0u8; len];
            return open_into(&k.aead, ad, sealed, &mut buf).map(|()| f(&buf));
        }
        SCRATCH.with(|scratch| {
            // Taken out of the cell, so that `f` may open too (it gets a buffer of its own).
            let mut buf = std::mem::take(&mut *scratch.borrow_mut());
            if buf.len() < len {
                // Exactly: a doubled capacity would pass SCRATCH_KEEP for no use.
                buf.reserve_exact(len - buf.len());
                buf.resize(len, 0);
            }
            // On failure AWS-LC zeroes what it wrote: `f` never runs and nothing unopened is
            // kept. The plaintext stays in the buffer until the next record overwrites it,
            // as freed memory keeps what it held; it is the restore's own output.
            let opened = open_into(&k.aead, ad, sealed, &mut buf[..len]).map(|()| f(&buf[..len]));
            *scratch.borrow_mut() = buf;
            opened
        })
    }

    /// [`Crypto::open`] without a copy: the record is authenticated and decrypted in the
    /// buffer it was read into (which this call owns), and the plaintext is a slice of it. On
    /// failure nothing of the buffer is returned.
    pub fn open_in_place(&self, ad: &[u8], mut sealed: BytesMut) -> Result<Bytes, AuthError> {
        let Some(k) = &self.keys else {
            return Ok(sealed.freeze());
        };
        let Parts { nonce, tag, .. } = parts(&sealed)?;
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| AuthError)?;
        let tag_at = sealed.len() - TAG_LEN;
        k.aead
            .0
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(ad),
                &tag,
                &mut sealed[NONCE_LEN..tag_at],
            )
            .map_err(|_| AuthError)?;
        Ok(sealed.freeze().slice(NONCE_LEN..tag_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crypto() -> Crypto {
        Crypto::with_master(&MasterKey::from_bytes([9; 32]))
    }

    #[test]
    fn seal_open_round_trip_with_fresh_nonces() {
        let c = crypto();
        let a = c.seal(b"ad", Bytes::from_static(b"privileged")).unwrap();
        let b = c.seal(b"ad", Bytes::from_static(b"privileged")).unwrap();
        assert_eq!(a.len(), 10 + SEAL_OVERHEAD);
        assert_ne!(a, b, "a fresh random nonce per seal");
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
        assert!(!a.windows(10).any(|w| w == b"privileged"));
        assert_eq!(&c.open(b"ad", a.clone()).unwrap()[..], b"privileged");
        assert_eq!(&c.open(b"ad", b).unwrap()[..], b"privileged");
        // Other associated data, another key, a flipped bit anywhere, or truncation: refused.
        assert_eq!(c.open(b"other", a.clone()), Err(AuthError));
        let other = Crypto::with_master(&MasterKey::from_bytes([8; 32]));
        assert_eq!(other.open(b"ad", a.clone()), Err(AuthError));
        for i in 0..a.len() {
            let mut bad = a.to_vec();
            bad[i] ^= 0x01;
            assert_eq!(c.open(b"ad", Bytes::from(bad)), Err(AuthError), "byte {i}");
        }
        assert_eq!(c.open(b"ad", a.slice(..a.len() - 1)), Err(AuthError));
        assert_eq!(c.open(b"ad", a.slice(..5)), Err(AuthError));
    }

    /// Opening in place accepts and refuses exactly what [`Crypto::open`] does, and gives the
    /// plaintext as a slice of the buffer it was given (no copy).
    #[test]
    fn open_in_place_matches_open_without_a_copy() {
        let c = crypto();
        let a = c.seal(b"ad", Bytes::from_static(b"privileged")).unwrap();
        let buf = BytesMut::from(&a[..]);
        let base = buf.as_ptr() as usize;
        let plain = c.open_in_place(b"ad", buf).unwrap();
        assert_eq!(&plain[..], b"privileged");
        assert_eq!(
            plain.as_ptr() as usize,
            base + NONCE_LEN,
            "decrypted where it lay"
        );
        assert_eq!(
            c.open_in_place(b"other", BytesMut::from(&a[..])),
            Err(AuthError)
        );
        for i in 0..a.len() {
            let mut bad = BytesMut::from(&a[..]);
            bad[i] ^= 0x01;
            assert_eq!(c.open_in_place(b"ad", bad), Err(AuthError), "byte {i}");
        }
        assert_eq!(
            c.open_in_place(b"ad", BytesMut::from(&a[..a.len() - 1])),
            Err(AuthError)
        );
        assert_eq!(
            c.open_in_place(b"ad", BytesMut::from(&a[..5])),
            Err(AuthError)
        );
        let plain = Crypto::plaintext()
            .open_in_place(b"ad", BytesMut::from(&b"as is"[..]))
            .unwrap();
        assert_eq!(&plain[..], b"as is");
    }

    /// Opening into the thread's buffer accepts and refuses exactly what [`Crypto::open`]
    /// does, longer and shorter records one after the other (the buffer is reused, never
    /// shows an earlier record's bytes), and lets the callback open another record.
    #[test]
    fn open_then_matches_open() {
        let c = crypto();
        let long = c.seal(b"ad", Bytes::from(vec![7u8; 100_000])).unwrap();
        let short = c.seal(b"ad", Bytes::from_static(b"privileged")).unwrap();
        for sealed in [&long, &short, &long] {
            let want = c.open(b"ad", sealed.clone()).unwrap();
            let got = c.open_then(b"ad", sealed, |p| p.to_vec()).unwrap();
            assert_eq!(got, want);
        }
        let nested = c
            .open_then(b"ad", &long, |outer| {
                let inner = c.open_then(b"ad", &short, |p| p.to_vec()).unwrap();
                (outer.len(), inner)
            })
            .unwrap();
        assert_eq!(nested, (100_000, b"privileged".to_vec()));
        assert_eq!(
            c.open_then(b"other", &short, |_| ()),
            Err(AuthError),
            "other associated data"
        );
        for i in 0..short.len() {
            let mut bad = short.to_vec();
            bad[i] ^= 0x01;
            assert_eq!(c.open_then(b"ad", &bad, |_| ()), Err(AuthError), "byte {i}");
        }
        assert_eq!(c.open_then(b"ad", &short[..5], |_| ()), Err(AuthError));
        let plain = Crypto::plaintext();
        assert_eq!(
            plain.open_then(b"ad", b"as is", |p| p.to_vec()).unwrap(),
            b"as is"
        );
    }

    /// The sealed format is standard AES-256-GCM (docs/FORMAT.md): what this implementation
    /// seals, RustCrypto's `aes-gcm` opens, and the other way round, empty and long messages
    /// alike; a repository written by either is read by the other.
    #[test]
    fn sealed_bytes_are_standard_aes_256_gcm() {
        use aes_gcm::{AeadInOut as _, KeyInit as _};
        let key = [0x5au8; KEY_LEN];
        let ours = cipher(&key);
        let theirs = aes_gcm::Aes256Gcm::new(&key.into());
        for (case, len) in [0usize, 1, 15, 16, 17, 4096, 100_003]
            .into_iter()
            .enumerate()
        {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let sealed = seal_with(&ours, b"blob ad", &plain).unwrap();
            assert_eq!(sealed.len(), len + SEAL_OVERHEAD);
            let Parts { nonce, body, tag } = parts(&sealed).unwrap();
            let mut buf = body.to_vec();
            theirs
                .decrypt_inout_detached(
                    &aes_gcm::Nonce::from(nonce),
                    b"blob ad",
                    buf.as_mut_slice().into(),
                    &aes_gcm::Tag::try_from(tag).unwrap(),
                )
                .expect("RustCrypto opens what we seal");
            assert_eq!(buf, plain);
            let nonce = [case as u8 + 1; NONCE_LEN];
            let mut body = plain.clone();
            let tag = theirs
                .encrypt_inout_detached(
                    &aes_gcm::Nonce::from(nonce),
                    b"blob ad",
                    body.as_mut_slice().into(),
                )
                .unwrap();
            let theirs_sealed = [&nonce[..], &body, &tag[..]].concat();
            assert_eq!(open_with(&ours, b"blob ad", &theirs_sealed).unwrap(), plain);
            assert_eq!(open_with(&ours, b"other", &theirs_sealed), Err(AuthError));
        }
    }

    #[test]
    fn ids_are_keyed_and_plaintext_is_identity() {
        let c = crypto();
        let id = c.blob_id(b"a document");
        assert_ne!(id, BlobId::of(b"a document"), "keyed");
        assert_eq!(id, c.blob_id(b"a document"));
        assert_ne!(
            id,
            Crypto::with_master(&MasterKey::from_bytes([1; 32])).blob_id(b"a document")
        );
        let p = Crypto::plaintext();
        assert_eq!(p.blob_id(b"x"), BlobId::of(b"x"));
        assert_eq!(p.seal(b"ad", Bytes::from_static(b"x")).unwrap(), &b"x"[..]);
        assert_eq!(p.overhead(), 0);
        let tag = c.name_tag("library", "ACTIVE");
        assert_eq!(tag.len(), 32);
        assert!(!tag.contains("ACTIVE"));
        assert_ne!(tag, p.name_tag("library", "ACTIVE"));
        assert_ne!(tag, c.name_tag("library", "ARCHIVE"));
        assert_eq!(format!("{c:?}"), "Crypto(aes-256-gcm, keys ***)");
        assert_eq!(
            format!("{:?}", MasterKey::from_bytes([7; 32])),
            "MasterKey(***)"
        );
    }
}
