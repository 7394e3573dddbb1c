//! A 100k-version library loaded twice: the figure is printed, not asserted.

use std::time::Instant;

use super::fixture::*;
use imvault::catalog::{Catalog, SnapshotRow};
use serde_json::json;

const VERSIONS: u64 = 100_000;

/// CPU seconds (user + system) this thread has used, from /proc (Linux); `None` elsewhere.
/// Reported next to wall time because the test machine is shared.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[test]
fn load_100k_versions_figure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cat = Catalog::open(dir.path().join("catalog.sqlite")).expect("catalog");
    let versions: Vec<_> = (0..VERSIONS)
        .map(|i| {
            version(
                1000 + i / 2,
                (i % 2 + 1) as u32,
                &format!("Document {i}"),
                "docx",
                "JSMITH",
                1,
                "2026-10-01T10:00:00Z",
                "2026-10-01T10:00:00Z",
                false,
            )
        })
        .collect();
    let snap = |id: &str, d| SnapshotRow {
        id: sid(id),
        library: lib(),
        time: day(d),
        parent: None,
        host: "h".into(),
        tool_version: "t".into(),
        summary: json!({}),
    };
    let mut load_one = |id: &str, d: u32, changed_every: u64| {
        let start = Instant::now();
        let cpu_start = thread_cpu_seconds();
        let mut load = cat.begin_snapshot(snap(id, d)).expect("begin");
        for (i, v) in versions.iter().enumerate() {
            if changed_every > 0 && (i as u64).is_multiple_of(changed_every) {
                let mut v = v.clone();
                v.edit_profile_date = Some("2026-11-02T00:00:00Z".into());
                load.add_version(&v).expect("add");
            } else {
                load.add_version(v).expect("add");
            }
        }
        let report = load.commit().expect("commit");
        let secs = start.elapsed().as_secs_f64();
        let cpu = match (cpu_start, thread_cpu_seconds()) {
            (Some(a), Some(b)) if b > a => format!(
                ", {:.2} CPU s = {:.0} versions per CPU second",
                b - a,
                VERSIONS as f64 / (b - a)
            ),
            _ => String::new(),
        };
        eprintln!(
            "catalog load {id}: {VERSIONS} versions in {secs:.2}s wall = {:.0} versions/s{cpu} \
             (added {}, unchanged {}, changed {})",
            VERSIONS as f64 / secs,
            report.versions.added,
            report.versions.unchanged,
            report.versions.changed
        );
        report
    };
    let r1 = load_one("big1", 1, 0);
    assert_eq!(r1.versions.added, VERSIONS);
    let r2 = load_one("big2", 2, 100);
    assert_eq!(r2.versions.changed, VERSIONS / 100);
    assert_eq!(r2.versions.unchanged, VERSIONS - VERSIONS / 100);
    let start = Instant::now();
    let hits = cat
        .find(&imvault::catalog::FindQuery {
            name: Some("document 4242?".into()),
            ..Default::default()
        })
        .expect("find");
    eprintln!(
        "catalog find over {} version rows: {} hits in {:.3}s",
        VERSIONS + VERSIONS / 100,
        hits.len(),
        start.elapsed().as_secs_f64()
    );
    assert_eq!(hits.len(), 10);
}
