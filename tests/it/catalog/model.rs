//! Property test: the range encoding answers exactly like a naive per-snapshot model, and a
//! rebuild in any order gives the same catalog.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;

use super::fixture::*;
use imvault::catalog::{Catalog, SnapshotId, SnapshotRow};
use imvault::imanage::model::Filing;
use serde_json::json;

/// One version slot's state in one snapshot: absent, or present with one of three profiles.
type Slots = Vec<Option<u8>>;

const DOCS: u64 = 4;
const VERS: u32 = 2;

fn slot_ids() -> Vec<(u64, u32)> {
    (0..DOCS)
        .flat_map(|d| (1..=VERS).map(move |v| (200 + d, v)))
        .collect()
}

fn snapshot_data(i: usize, slots: &Slots) -> SnapData {
    let row = SnapshotRow {
        id: sid(&format!("m{i:02}")),
        library: lib(),
        time: day(1) + chrono::Duration::hours(i as i64),
        parent: None,
        host: "h".into(),
        tool_version: "t".into(),
        summary: json!({"i": i}),
    };
    let mut versions = Vec::new();
    let mut filings = Vec::new();
    for ((doc, ver), state) in slot_ids().into_iter().zip(slots) {
        if let Some(s) = state {
            versions.push(version(
                doc,
                ver,
                &format!("state {s}"),
                "docx",
                "A",
                1,
                "2026-10-01T00:00:00Z",
                "2026-10-01T00:00:00Z",
                false,
            ));
            if ver == 1 {
                filings.push(Filing {
                    document: did(doc),
                    parent: cid(3),
                });
            }
        }
    }
    SnapData {
        row,
        containers: vec![],
        versions,
        filings,
        acls: vec![],
        skipped: vec![],
    }
}

fn history() -> impl Strategy<Value = Vec<Slots>> {
    let slot = prop_oneof![Just(None), (0u8..3).prop_map(Some)];
    let slots = proptest::collection::vec(slot, (DOCS as usize) * (VERS as usize));
    proptest::collection::vec(slots, 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn ranges_answer_like_a_per_snapshot_model(hist in history(), seed in any::<u64>()) {
        let snaps: Vec<SnapData> = hist.iter().enumerate().map(|(i, s)| snapshot_data(i, s)).collect();
        let mut cat = Catalog::open_in_memory().expect("catalog");
        for s in &snaps {
            s.load_into(&mut cat);
        }
        // Every version as of every snapshot.
        for (i, slots) in hist.iter().enumerate() {
            let sid = &snaps[i].row.id;
            for ((doc, ver), state) in slot_ids().into_iter().zip(slots) {
                let got = cat.version_in(sid, &vid(doc, ver)).expect("query").map(|v| v.name);
                prop_assert_eq!(got, state.map(|s| format!("state {s}")), "{} {}.{}", sid, doc, ver);
            }
            let n = cat.for_each_version(sid, |_| Ok::<_, std::convert::Infallible>(())).expect("scan");
            prop_assert_eq!(n, slots.iter().filter(|s| s.is_some()).count() as u64);
        }
        // History: per slot, the snapshots holding each state equal the model's.
        for (k, (doc, ver)) in slot_ids().into_iter().enumerate() {
            let mut want: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (i, slots) in hist.iter().enumerate() {
                if let Some(s) = slots[k] {
                    want.entry(format!("state {s}")).or_default().push(snaps[i].row.id.to_string());
                }
            }
            let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for h in cat.document_versions(&did(doc)).expect("history") {
                if h.version.id.version != ver {
                    continue;
                }
                let ids = cat.snapshots_in_span(&h.snapshots).expect("span");
                got.entry(h.version.name).or_default().extend(ids.into_iter().map(|r| r.id.to_string()));
            }
            for v in got.values_mut() {
                v.sort();
            }
            prop_assert_eq!(got, want, "{}.{}", doc, ver);
        }
        // Rebuild from a shuffled list.
        let dump = cat.canonical_dump().expect("dump");
        let mut rows: Vec<SnapshotRow> = snaps.iter().map(|s| s.row.clone()).collect();
        let mut rng = fastrand::Rng::with_seed(seed);
        rng.shuffle(&mut rows);
        let by_id: HashMap<SnapshotId, &SnapData> = snaps.iter().map(|s| (s.row.id, s)).collect();
        let mut fresh = Catalog::open_in_memory().expect("catalog");
        fresh.rebuild(rows, |load| by_id[&load.snapshot().id].fill(load)).expect("rebuild");
        prop_assert_eq!(fresh.canonical_dump().expect("dump"), dump);
    }
}
