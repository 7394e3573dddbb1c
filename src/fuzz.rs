//! Fuzzing of every parser of untrusted bytes (issue 18), on stable Rust, inside `cargo test`.
//!
//! Each target feeds bytes to one parser exactly as the repository, the iManage client, the API
//! or the configuration loader would (content-addressed objects get the name of the mutated
//! bytes, so the hash check is passed and the parser behind it is exercised). Inputs are the
//! seeds of `fuzz/corpus/<target>/` (valid encodings and every input that ever failed) plus
//! generated ones: random bytes and mutations of the seeds (bit flips, overwritten bytes,
//! truncation, insertion, splicing two seeds). A target must never panic, and no input may make
//! it allocate more than [`ALLOC_BOUND`] (plus 64 bytes per input byte) at once.
//!
//! `cargo test fuzz` runs [`DEFAULT_CASES`] generated inputs per target; set
//! `IMVAULT_FUZZ_CASES` for a longer run. A failing input is written to
//! `fuzz/corpus/<target>/crash-<hash>` (keep it: it is replayed by every later run).
//!
//! The same targets run coverage-guided under AFL++ on stable Rust: `fuzz/afl.sh TARGET
//! SECONDS` (the harness is `fuzz/afl/`, built with this module behind the `fuzzing` feature).
//! Its crashes land in the corpus like the ones found here; `KEEP_QUEUE=1` keeps the inputs that
//! reached new code as `cov-<hash>` seeds for the short run inside `cargo test`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;

use bytes::Bytes;

/// Generated inputs per target in a plain `cargo test`.
pub const DEFAULT_CASES: u32 = 1500;
/// The largest single allocation any input may cause, beyond 64 bytes per input byte.
pub const ALLOC_BOUND: usize = 32 << 20;

/// Counts the largest allocation of the current thread (the lib's unit tests only).
pub struct TrackingAlloc;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for TrackingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| {
        if size > l.get() {
            l.set(size);
        }
    });
}

/// One parser under test.
pub struct Target {
    pub name: &'static str,
    /// Valid inputs to start from (besides the corpus files).
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Parses `input`; errors are fine, panics and huge allocations are not.
    pub run: fn(&[u8]),
}

/// Every parser of bytes imvault does not produce itself.
pub fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "pack_header",
            seeds: seeds::pack,
            run: run::pack,
        },
        Target {
            name: "blob",
            seeds: seeds::blob,
            run: run::blob,
        },
        Target {
            name: "index",
            seeds: seeds::index,
            run: run::index,
        },
        Target {
            name: "snapshot_manifest",
            seeds: seeds::snapshot,
            run: run::snapshot,
        },
        Target {
            name: "meta_stream",
            seeds: seeds::meta_stream,
            run: run::meta_stream,
        },
        Target {
            name: "checkpoint_record",
            seeds: seeds::checkpoint,
            run: run::checkpoint,
        },
        Target {
            name: "marks",
            seeds: seeds::marks,
            run: run::marks,
        },
        Target {
            name: "audit_record",
            seeds: seeds::audit_record,
            run: run::audit_record,
        },
        Target {
            name: "repo_config",
            seeds: seeds::repo_config,
            run: run::repo_config,
        },
        Target {
            name: "config_toml",
            seeds: seeds::config_toml,
            run: run::config_toml,
        },
        Target {
            name: "imanage_json",
            seeds: seeds::imanage_json,
            run: run::imanage_json,
        },
        Target {
            name: "restore_request",
            seeds: seeds::restore_request,
            run: run::restore_request,
        },
    ]
}

/// What one target's run tried and found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub corpus: usize,
    pub generated: u32,
    /// Failing inputs: (why, input).
    pub failures: Vec<(String, Vec<u8>)>,
}

/// The corpus directory of `target`.
pub fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// The seeds of `target` and the files of its corpus directory.
pub fn corpus(target: &Target) -> Vec<Vec<u8>> {
    let mut out = (target.seeds)();
    if let Ok(dir) = std::fs::read_dir(corpus_dir(target.name)) {
        let mut files: Vec<_> = dir.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        out.extend(files.iter().filter_map(|f| std::fs::read(f).ok()));
    }
    out
}

/// Runs one input; `Err` says why it failed (a panic or an allocation past the bound).
pub fn try_input(target: &Target, input: &[u8]) -> Result<(), String> {
    LARGEST.with(|l| l.set(0));
    let r = std::panic::catch_unwind(|| (target.run)(input));
    let largest = LARGEST.with(|l| l.get());
    let bound = ALLOC_BOUND + input.len().saturating_mul(64);
    match r {
        Err(p) => Err(format!(
            "panic: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
        Ok(()) if largest > bound => Err(format!(
            "allocated {largest} bytes at once for a {}-byte input",
            input.len()
        )),
        Ok(()) => Ok(()),
    }
}

/// The corpus, then `cases` generated inputs.
pub fn fuzz(target: &Target, cases: u32, seed: u64) -> Outcome {
    let corpus = corpus(target);
    let mut out = Outcome {
        corpus: corpus.len(),
        ..Outcome::default()
    };
    for input in &corpus {
        if let Err(why) = try_input(target, input) {
            out.failures.push((why, input.clone()));
        }
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..cases {
        let input = mutate::generate(&mut rng, &corpus);
        out.generated += 1;
        if let Err(why) = try_input(target, &input) {
            out.failures.push((why, input));
        }
    }
    out
}

/// Input generation: random bytes, or a corpus entry mutated a few times.
mod mutate {
    pub fn generate(rng: &mut fastrand::Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
        if corpus.is_empty() || rng.u8(..) < 16 {
            let n = rng.usize(..256);
            return (0..n).map(|_| rng.u8(..)).collect();
        }
        let mut v = corpus[rng.usize(..corpus.len())].clone();
        for _ in 0..rng.usize(1..=4) {
            mutate_once(rng, &mut v, corpus);
        }
        v
    }

    const INTERESTING: &[u32] = &[0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, 0xffff_ffff];

    fn mutate_once(rng: &mut fastrand::Rng, v: &mut Vec<u8>, corpus: &[Vec<u8>]) {
        let len = v.len();
        match rng.u8(..8) {
            0 if len > 0 => {
                let i = rng.usize(..len);
                v[i] ^= 1 << rng.u8(..8);
            }
            1 if len > 0 => {
                let i = rng.usize(..len);
                v[i] = rng.u8(..);
            }
            2 if len > 0 => v.truncate(rng.usize(..len)),
            3 => {
                let at = rng.usize(..=len);
                let n = rng.usize(1..32);
                let bytes: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
                v.splice(at..at, bytes);
            }
            4 if len >= 4 => {
                // A little-endian u32 field set to a boundary value.
                let at = rng.usize(..=len - 4);
                let x = INTERESTING[rng.usize(..INTERESTING.len())];
                v[at..at + 4].copy_from_slice(&x.to_le_bytes());
            }
            5 if len > 0 => {
                // Remove a run.
                let at = rng.usize(..len);
                let end = (at + rng.usize(1..64)).min(len);
                v.drain(at..end);
            }
            6 => {
                // Splice the tail of another corpus entry.
                let other = &corpus[rng.usize(..corpus.len())];
                let at = rng.usize(..=len);
                let from = rng.usize(..=other.len());
                v.truncate(at);
                v.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => {
                // ASCII digits / JSON / TOML punctuation in text formats.
                const TOKENS: &[&[u8]] = &[
                    b"\"",
                    b"{",
                    b"}",
                    b"[",
                    b"]",
                    b",",
                    b":",
                    b"=",
                    b"\n",
                    b"null",
                    b"-1",
                    b"1e999",
                    b"99999999999999999999",
                    b"\\u0000",
                    b"\xff",
                ];
                let at = rng.usize(..=len);
                let t = TOKENS[rng.usize(..TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            _ => v.push(rng.u8(..)),
        }
    }
}

/// Valid inputs each target starts from.
mod seeds {
    use super::*;
    use crate::repo::blob::{BlobKind, encode};
    use crate::repo::id::BlobId;
    use crate::repo::pack::PackWriter;

    fn blobs() -> Vec<crate::repo::blob::EncodedBlob> {
        [
            Bytes::from_static(b"short"),
            Bytes::from("the quick brown fox ".repeat(200)),
            Bytes::from(
                (0..3000u32)
                    .map(|i| (i * 7 % 251) as u8)
                    .collect::<Vec<_>>(),
            ),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let kind = if i == 0 {
                BlobKind::Meta
            } else {
                BlobKind::Data
            };
            encode(
                &crate::repo::crypto::Crypto::plaintext(),
                BlobId::of(&b),
                kind,
                b,
                3,
            )
            .unwrap()
        })
        .collect()
    }

    pub fn pack() -> Vec<Vec<u8>> {
        let mut w = PackWriter::new();
        for b in blobs() {
            w.add(&b);
        }
        vec![
            w.seal(&crate::repo::crypto::Crypto::plaintext())
                .unwrap()
                .bytes
                .to_vec(),
        ]
    }

    /// A blob as `compression || raw_len (u32) || stored`.
    pub fn blob() -> Vec<Vec<u8>> {
        blobs()
            .into_iter()
            .map(|b| {
                let mut v = vec![b.compression as u8];
                v.extend_from_slice(&b.raw_len.to_le_bytes());
                v.extend_from_slice(&b.stored);
                v
            })
            .collect()
    }

    /// Index objects as `encode_index` writes them: empty, and naming one pack.
    pub fn index() -> Vec<Vec<u8>> {
        let mut w = PackWriter::new();
        for b in blobs() {
            w.add(&b);
        }
        let sealed = w.seal(&crate::repo::crypto::Crypto::plaintext()).unwrap();
        let one =
            crate::repo::index::encode_index_of(std::iter::once((sealed.id, &sealed.entries[..])))
                .unwrap();
        vec![
            crate::repo::index::encode_index(&[]).unwrap().to_vec(),
            one.to_vec(),
        ]
    }

    pub fn snapshot() -> Vec<Vec<u8>> {
        use crate::repo::snapshot::{MetaRef, SnapshotManifest};
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-03T01:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let m = SnapshotManifest {
            format_version: 1,
            time: t,
            finished: t,
            library: "ACTIVE".into(),
            host: "h".into(),
            tool_version: "0.1.0".into(),
            parent: Some(crate::repo::id::SnapshotId::of(b"p")),
            counts: [("versions".to_string(), 2u64)].into_iter().collect(),
            streams: [(
                "versions".to_string(),
                MetaRef {
                    records: 2,
                    bytes: 300,
                    blobs: vec![BlobId::of(b"m")],
                },
            )]
            .into_iter()
            .collect(),
            session: Default::default(),
            summary: serde_json::json!({"listing": "changes", "seconds": 1.5}),
            held: None,
        };
        vec![serde_json::to_vec(&m).unwrap()]
    }

    pub fn meta_stream() -> Vec<Vec<u8>> {
        vec![include_bytes!("../fuzz/seeds/versions.jsonl").to_vec()]
    }

    pub fn checkpoint() -> Vec<Vec<u8>> {
        vec![
            br#"{"library":"ACTIVE","time":"2026-11-03T01:02:03Z","record":{"run_started":"2026-11-03T01:00:00Z","walk":{"done":17}}}"#.to_vec(),
        ]
    }

    pub fn marks() -> Vec<Vec<u8>> {
        vec![format!(
            r#"{{"version":1,"written":"2026-11-03T01:02:03Z","marks":[{{"pack":"{}","marked":"2026-11-02T00:00:00Z"}}]}}"#,
            crate::repo::id::PackId::of(b"x")
        )
        .into_bytes()]
    }

    pub fn audit_record() -> Vec<Vec<u8>> {
        use crate::audit::record::*;
        let base = |seq: u64, event: Event| Record {
            version: RECORD_VERSION,
            writer: "00112233445566778899aabbccddeeff".into(),
            seq,
            prev: (seq > 1).then(|| "ab".repeat(32)),
            time: "2026-11-03T01:02:03Z".parse().unwrap(),
            actor: Actor::User {
                name: "alice".into(),
                uid: Some(1000),
            },
            host: "backup-01".into(),
            pid: 42,
            event,
        };
        vec![
            serde_json::to_vec(&base(
                1,
                Event::Started {
                    action: Action::Restore {
                        what: "document ACTIVE!1".into(),
                        library: Some("ACTIVE".into()),
                        at: None,
                        snapshot: None,
                        target: RestoreTarget::Directory {
                            path: "/srv/r".into(),
                        },
                    },
                },
            ))
            .unwrap(),
            serde_json::to_vec(&base(
                2,
                Event::Finished {
                    started: 1,
                    outcome: Outcome::Failed {
                        message: "x".into(),
                    },
                    figures: Figures {
                        versions: Some(3),
                        ..Default::default()
                    },
                },
            ))
            .unwrap(),
        ]
    }

    pub fn repo_config() -> Vec<Vec<u8>> {
        let c = crate::repo::config::RepoConfig::new(&Default::default()).unwrap();
        vec![serde_json::to_vec(&c).unwrap()]
    }

    pub fn config_toml() -> Vec<Vec<u8>> {
        vec![include_bytes!("../config/imvault.example.toml").to_vec()]
    }

    pub fn imanage_json() -> Vec<Vec<u8>> {
        vec![
            include_bytes!("../fuzz/seeds/imanage_page.json").to_vec(),
            include_bytes!("../fuzz/seeds/acl.json").to_vec(),
        ]
    }

    pub fn restore_request() -> Vec<Vec<u8>> {
        vec![
            br#"{"document":"ACTIVE!1042","version":1,"at":"2026-11-03T00:00:00Z","to":"/srv/restores/r1"}"#.to_vec(),
            br#"{"folder":"ACTIVE!7","into":"original","acl":"keep","dry_run":true}"#.to_vec(),
            br#"{"library":"ACTIVE","snapshot":"0123abcd","to":"/srv/r","merge":true}"#.to_vec(),
        ]
    }
}

/// Each parser, fed as its caller feeds it.
mod run {
    use super::*;
    use crate::repo::blob::Compression;
    use crate::repo::id::{BlobId, IndexId, PackId, SnapshotId};

    pub fn pack(input: &[u8]) {
        let _ = crate::repo::pack::parse_pack(
            &crate::repo::crypto::Crypto::plaintext(),
            &PackId::of(input),
            input,
        );
    }

    pub fn blob(input: &[u8]) {
        let [c, a, b, d, e, rest @ ..] = input else {
            return;
        };
        let Some(compression) = Compression::from_u8(*c) else {
            return;
        };
        let raw_len = u32::from_le_bytes([*a, *b, *d, *e]);
        let stored = Bytes::copy_from_slice(rest);
        let blob = crate::repo::blob::StoredBlob {
            id: BlobId::of(rest),
            pack: PackId::default(),
            kind: crate::repo::blob::BlobKind::Data,
            compression,
            raw_len,
        };
        let _ = crate::repo::blob::decode(&crate::repo::crypto::Crypto::plaintext(), &blob, stored);
    }

    pub fn index(input: &[u8]) {
        let _ = crate::repo::index::decode_index(&IndexId::of(input), input);
    }

    pub fn snapshot(input: &[u8]) {
        let _ = crate::repo::snapshot::decode_snapshot(&SnapshotId::of(input), input);
    }

    pub fn meta_stream(input: &[u8]) {
        use crate::jobs::records::{ContainerRecord, VersionRecord};
        if let Ok(records) = crate::repo::meta::parse_records::<VersionRecord>("versions", 0, input)
        {
            for r in records {
                let _ = r.version();
            }
        }
        let _ = crate::repo::meta::parse_records::<ContainerRecord>("containers", 0, input);
    }

    pub fn checkpoint(input: &[u8]) {
        if let Ok(r) = serde_json::from_slice::<crate::repo::snapshot::CheckpointRecord>(input) {
            let _ = r.run_started();
        }
    }

    pub fn marks(input: &[u8]) {
        let _ = serde_json::from_slice::<crate::repo::marks::MarksObject>(input);
    }

    pub fn audit_record(input: &[u8]) {
        if let Ok(r) = serde_json::from_slice::<crate::audit::record::Record>(input)
            && let crate::audit::record::Event::Started { action } = &r.event
        {
            let _ = action.kind();
        }
    }

    pub fn repo_config(input: &[u8]) {
        let _ = crate::repo::config::RepoConfig::decode("config", input);
    }

    pub fn config_toml(input: &[u8]) {
        let Ok(text) = std::str::from_utf8(input) else {
            return;
        };
        let _ = crate::config::Settings::from_toml(
            text,
            std::path::Path::new("fuzz.toml"),
            &Default::default(),
        );
    }

    pub fn imanage_json(input: &[u8]) {
        use crate::imanage::model::{Container, DocumentVersion};
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(input) else {
            return;
        };
        let _ = crate::imanage::api_read::parse_acl(v.clone(), "fuzz");
        if let Ok((rows, _)) = crate::imanage::paging::parse_page(v, "fuzz") {
            for row in rows {
                let _ = DocumentVersion::from_json(row.clone());
                let _ = Container::from_json(row);
            }
        }
    }

    pub fn restore_request(input: &[u8]) {
        if let Ok(r) = serde_json::from_slice::<crate::restore::RestoreRequest>(input) {
            let _ = r.validate();
            let _ = crate::daemon::spec::validate_restore(&r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases() -> u32 {
        std::env::var("IMVAULT_FUZZ_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(DEFAULT_CASES)
    }

    /// Every target: its corpus and generated inputs, no panic, no huge allocation. A failure
    /// is saved into the corpus and named.
    #[test]
    fn every_parser_of_untrusted_bytes_survives_fuzzing() {
        let seed = std::env::var("IMVAULT_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(18);
        let mut failed = Vec::new();
        for t in targets() {
            let out = fuzz(&t, cases(), seed);
            eprintln!(
                "fuzz {}: {} corpus inputs, {} generated, {} failing",
                t.name,
                out.corpus,
                out.generated,
                out.failures.len()
            );
            for (why, input) in out.failures.iter().take(3) {
                let dir = corpus_dir(t.name);
                let _ = std::fs::create_dir_all(&dir);
                let file = dir.join(format!("crash-{}", &blake3::hash(input).to_hex()[..16]));
                let _ = std::fs::write(&file, input);
                failed.push(format!(
                    "{}: {why} (input saved to {})",
                    t.name,
                    file.display()
                ));
            }
        }
        assert!(failed.is_empty(), "{failed:#?}");
    }

    /// The harness notices a panic and an allocation past the bound (it would otherwise prove
    /// nothing).
    #[test]
    fn the_harness_catches_panics_and_huge_allocations() {
        let panics = Target {
            name: "t",
            seeds: Vec::new,
            run: |i| assert!(i.len() != 3, "three bytes"),
        };
        assert!(
            try_input(&panics, b"abc")
                .unwrap_err()
                .contains("three bytes")
        );
        assert!(try_input(&panics, b"ab").is_ok());
        let hungry = Target {
            name: "t",
            seeds: Vec::new,
            run: |i| {
                let v: Vec<u8> = Vec::with_capacity(ALLOC_BOUND + 1 + i.len() * 64);
                std::hint::black_box(v);
            },
        };
        assert!(try_input(&hungry, b"x").unwrap_err().contains("allocated"));
    }
}
