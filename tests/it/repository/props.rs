//! Property tests: blob encode/decode, pack seal/parse, chunking is a partition of the input.

use bytes::Bytes;
use imvault::repo::blob::{self, BlobKind};
use imvault::repo::chunker::Chunker;
use imvault::repo::crypto::{Crypto, MasterKey};
use imvault::repo::pack::{PackWriter, parse_pack};
use imvault::repo::{BlobId, ChunkerParams};
use proptest::prelude::*;

fn blob_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..5000),
        (1usize..50, 0u8..4).prop_map(|(n, b)| vec![b; n * 100]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn blobs_survive_pack_round_trip(blobs in proptest::collection::vec(blob_strategy(), 1..20), level in 0i32..6, encrypted in any::<bool>()) {
        let crypto = if encrypted {
            Crypto::with_master(&MasterKey::from_bytes([7; 32]))
        } else {
            Crypto::plaintext()
        };
        let mut w = PackWriter::new();
        let mut encoded = Vec::new();
        for b in &blobs {
            let raw = Bytes::from(b.clone());
            let e = blob::encode(&crypto, crypto.blob_id(&raw), BlobKind::Data, raw, level).unwrap();
            prop_assert!(!encrypted || e.id != BlobId::of(b), "keyed ids");
            w.add(&e);
            encoded.push(e);
        }
        let sealed = w.seal(&crypto).unwrap();
        let entries = parse_pack(&crypto, &sealed.id, &sealed.bytes).unwrap();
        prop_assert_eq!(entries.len(), blobs.len());
        for (e, b) in entries.iter().zip(&blobs) {
            let stored = sealed.bytes.slice(e.offset as usize..(e.offset + e.stored_len) as usize);
            let back = blob::decode(&crypto, &e.stored(sealed.id), stored).unwrap();
            prop_assert_eq!(&back[..], &b[..]);
        }
    }

    #[test]
    fn chunks_partition_the_input(data in proptest::collection::vec(any::<u8>(), 0..200_000), piece in 1usize..70_000) {
        let params = ChunkerParams { min_size: 1024, avg_size: 4096, max_size: 16384 };
        let mut c = Chunker::new(params);
        let mut out = Vec::new();
        for p in data.chunks(piece) {
            c.push(p);
            while let Some(ch) = c.next_chunk(false) { out.push(ch); }
        }
        while let Some(ch) = c.next_chunk(true) { out.push(ch); }
        prop_assert_eq!(out.concat(), data.clone());
        for ch in &out { prop_assert!(ch.len() <= 16384); }
        prop_assert_eq!(out, Chunker::chunk_all(params, &data));
    }
}
