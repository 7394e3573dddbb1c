//! `--size-divisor`: the same corpus with every document that many times smaller, and still
//! self-consistent: reported sizes, downloaded bytes and the simulator's own truth agree (a
//! backup of it too: tests/it/sim/divisor.rs in the root package).

use std::num::NonZeroU64;

use imvault_sim::content::ContentParams;

use super::*;

fn divided(scale: Scale, divisor: u64) -> SimOptions {
    SimOptions {
        size_divisor: NonZeroU64::new(divisor).unwrap(),
        ..opts(scale)
    }
}

#[tokio::test]
async fn divided_sizes_shrink_and_downloads_match_size_and_hash() {
    let divisor = 10;
    let full = start(opts(Scale::Tiny)).await;
    let small = start(divided(Scale::Tiny, divisor)).await;
    for lib in ["ACTIVE", "ARCHIVE"] {
        let big_rows = full.crawl(lib, "documents/crawl", 100, json!({})).await;
        let rows = small.crawl(lib, "documents/crawl", 100, json!({})).await;
        // Same objects, ids and versions: only the sizes change.
        let ids = |rs: &[Value]| -> Vec<String> {
            rs.iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(ids(&big_rows), ids(&rows), "{lib}");
        assert!(rows.len() > 10, "{lib}: {} versions", rows.len());
        let (mut sum_full, mut sum_small) = (0u64, 0u64);
        for (big, row) in big_rows.iter().zip(&rows) {
            let (a, b) = (row["size"].as_u64().unwrap(), big["size"].as_u64().unwrap());
            assert!(a >= 1 && a <= b, "{}: {a} of {b}", row["id"]);
            if row["version"] == 1 {
                assert_eq!(a, (b / divisor).max(1), "{}", row["id"]);
            }
            sum_small += a;
            sum_full += b;
        }
        assert!(sum_small * 5 < sum_full, "{lib}: {sum_small} of {sum_full}");
        assert_eq!(
            small.sim.library_summary(lib).unwrap().bytes,
            sum_small,
            "{lib}: the summary adds up the reported sizes"
        );
        for row in &rows {
            let id = row["id"].as_str().unwrap();
            let vid: VersionId = id.parse().unwrap();
            let r = small
                .get(&small.lib(lib, &format!("/documents/{id}/download")))
                .await;
            assert_eq!(r.status(), 200, "{id}");
            let len: u64 = r.headers()["content-length"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let bytes = r.bytes().await.unwrap();
            assert_eq!(len, row["size"].as_u64().unwrap(), "{id}");
            assert_eq!(bytes.len() as u64, len, "{id}");
            let truth = small.sim.version_bytes(&vid).unwrap();
            assert_eq!(blake3::hash(&bytes), blake3::hash(&truth), "{id}");
            let params = ContentParams::new(1, NonZeroU64::new(divisor).unwrap());
            assert_eq!(
                blake3::hash(&content::version_bytes(params, &vid)),
                blake3::hash(&truth),
                "{id}"
            );
        }
    }
    // The summary hook says the same over HTTP, for every library (the hidden one too).
    let over_http: Vec<imvault_sim::LibrarySummary> = small
        .http
        .get(format!("{}/sim/summary", small.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http.len(), 3);
    for s in &over_http {
        assert_eq!(Some(s), small.sim.library_summary(&s.library).as_ref());
    }
    // Versions made by `mutate` are divided too, and agree the same way.
    let report = small.sim.mutate(&MutateRequest {
        new_versions: 3,
        new_documents: 2,
        ..Default::default()
    });
    let made: Vec<&String> = report
        .new_versions
        .iter()
        .chain(&report.new_documents)
        .collect();
    assert_eq!(made.len(), 5, "{report:?}");
    for id in made {
        let profile = small
            .get_json(&small.lib("ACTIVE", &format!("/documents/{id}")))
            .await;
        let size = profile["data"]["size"].as_u64().unwrap();
        let bytes = small
            .get(&small.lib("ACTIVE", &format!("/documents/{id}/download")))
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(bytes.len() as u64, size, "{id}");
        let vid: VersionId = id.parse().unwrap();
        assert_eq!(
            blake3::hash(&bytes),
            blake3::hash(&small.sim.version_bytes(&vid).unwrap()),
            "{id}"
        );
        let whole = full.sim.version_bytes(&vid);
        if let Some(whole) = whole {
            assert!(bytes.len() <= whole.len(), "{id}");
        }
    }
}
