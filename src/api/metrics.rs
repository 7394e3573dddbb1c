//! `GET /metrics`: Prometheus text exposition (format 0.0.4). Job counts and the last success
//! per library come from the catalog (they survive restarts); bytes, requests and durations
//! are counted by this process.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::catalog::{JobKind, JobState};
use crate::daemon::{DURATION_BUCKETS, MetricsInner};

/// What one scrape shows.
#[derive(Debug, Default)]
pub struct Figures {
    pub jobs: Vec<(JobKind, JobState, u64)>,
    pub running: u64,
    pub process: MetricsInner,
    /// Bytes read by jobs running now (not yet in `process`).
    pub live_bytes_read: u64,
    pub requests: u64,
    pub throttled: u64,
    pub retries: u64,
    /// Newest snapshot time per library, seconds since the epoch.
    pub last_success: BTreeMap<String, f64>,
    pub start_time: f64,
    pub signed_in: bool,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Renders the text format.
pub fn render(f: &Figures) -> String {
    let mut o = String::new();
    head(
        &mut o,
        "imvault_jobs",
        "gauge",
        "Jobs in the queue by kind and state.",
    );
    for kind in [JobKind::Backup, JobKind::Restore, JobKind::Verify] {
        for state in JobState::ALL {
            let n = f
                .jobs
                .iter()
                .find(|(k, s, _)| *k == kind && s == state)
                .map_or(0, |x| x.2);
            let _ = writeln!(o, "imvault_jobs{{kind=\"{kind}\",state=\"{state}\"}} {n}");
        }
    }
    head(
        &mut o,
        "imvault_jobs_running",
        "gauge",
        "Jobs this daemon is running now.",
    );
    let _ = writeln!(o, "imvault_jobs_running {}", f.running);
    head(
        &mut o,
        "imvault_bytes_read_total",
        "counter",
        "Bytes of document content read from iManage by this process.",
    );
    let _ = writeln!(
        o,
        "imvault_bytes_read_total {}",
        f.process.bytes_read + f.live_bytes_read
    );
    head(
        &mut o,
        "imvault_bytes_stored_total",
        "counter",
        "New bytes written to the repository (after dedup and compression) by finished jobs.",
    );
    let _ = writeln!(o, "imvault_bytes_stored_total {}", f.process.bytes_stored);
    head(
        &mut o,
        "imvault_imanage_requests_total",
        "counter",
        "HTTP requests sent to iManage.",
    );
    let _ = writeln!(o, "imvault_imanage_requests_total {}", f.requests);
    head(
        &mut o,
        "imvault_imanage_throttled_total",
        "counter",
        "429 Too Many Requests answers from iManage.",
    );
    let _ = writeln!(o, "imvault_imanage_throttled_total {}", f.throttled);
    head(
        &mut o,
        "imvault_imanage_retries_total",
        "counter",
        "Requests repeated after a transient failure or a 429.",
    );
    let _ = writeln!(o, "imvault_imanage_retries_total {}", f.retries);
    head(
        &mut o,
        "imvault_imanage_signed_in",
        "gauge",
        "1 when the daemon is signed in to iManage.",
    );
    let _ = writeln!(o, "imvault_imanage_signed_in {}", u8::from(f.signed_in));
    head(
        &mut o,
        "imvault_last_success_timestamp_seconds",
        "gauge",
        "Time of the newest snapshot of each library.",
    );
    for (lib, t) in &f.last_success {
        let _ = writeln!(
            o,
            "imvault_last_success_timestamp_seconds{{library=\"{}\"}} {t}",
            escape(lib)
        );
    }
    head(
        &mut o,
        "imvault_job_duration_seconds",
        "histogram",
        "Durations of jobs finished by this process.",
    );
    let mut kinds: Vec<_> = f.process.durations.iter().collect();
    kinds.sort_by_key(|(k, _)| k.as_str());
    for (kind, h) in kinds {
        for (i, le) in DURATION_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                o,
                "imvault_job_duration_seconds_bucket{{kind=\"{kind}\",le=\"{le}\"}} {}",
                h.buckets.get(i).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(
            o,
            "imvault_job_duration_seconds_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            o,
            "imvault_job_duration_seconds_sum{{kind=\"{kind}\"}} {}",
            h.sum
        );
        let _ = writeln!(
            o,
            "imvault_job_duration_seconds_count{{kind=\"{kind}\"}} {}",
            h.count
        );
    }
    head(
        &mut o,
        "imvault_start_time_seconds",
        "gauge",
        "When this daemon started, seconds since the epoch.",
    );
    let _ = writeln!(o, "imvault_start_time_seconds {}", f.start_time);
    o
}

pub async fn serve(State(state): State<AppState>) -> Response {
    let counts = state.queue.counts().await;
    let snaps = state
        .queue
        .reader()
        .run("listing snapshots", |c| c.snapshots(None))
        .await;
    let (jobs, snaps) = match (counts, snaps) {
        (Ok(j), Ok(s)) => (j, s),
        (Err(e), _) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                crate::repo::error_chain(&e),
            )
                .into_response();
        }
        (_, Err(e)) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                crate::repo::error_chain(&e),
            )
                .into_response();
        }
    };
    let mut last_success = BTreeMap::new();
    for s in snaps {
        let t = s.row.time.timestamp_millis() as f64 / 1000.0;
        let e = last_success
            .entry(s.row.library.as_str().to_string())
            .or_insert(t);
        if t > *e {
            *e = t;
        }
    }
    let running: Vec<_> = state
        .running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    let live_bytes_read = running
        .iter()
        .flat_map(|r| r.live.snapshot().into_values())
        .map(|c| c.bytes_read)
        .sum();
    let client = state.client();
    let stats = client.as_ref().map(|c| c.stats());
    let figures = Figures {
        jobs,
        running: running.len() as u64,
        process: state.metrics.snapshot(),
        live_bytes_read,
        requests: stats.as_ref().map_or(0, |s| s.requests),
        throttled: stats.as_ref().map_or(0, |s| s.throttled),
        retries: stats.as_ref().map_or(0, |s| s.retries),
        last_success,
        start_time: state.started_at.timestamp_millis() as f64 / 1000.0,
        signed_in: client.is_some(),
    };
    let mut r = render(&figures).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_escaped_labels() {
        let m = crate::daemon::Metrics::default();
        m.job_finished(JobKind::Backup, 12.5, 0, 0);
        let process = MetricsInner {
            bytes_read: 10,
            durations: m.snapshot().durations,
            ..MetricsInner::default()
        };
        let text = render(&Figures {
            jobs: vec![(JobKind::Backup, JobState::Completed, 3)],
            process,
            live_bytes_read: 5,
            last_success: [("A\"B".to_string(), 1.5)].into(),
            ..Figures::default()
        });
        assert!(text.contains("imvault_jobs{kind=\"backup\",state=\"completed\"} 3\n"));
        assert!(text.contains("imvault_jobs{kind=\"restore\",state=\"failed\"} 0\n"));
        assert!(text.contains("imvault_bytes_read_total 15\n"));
        assert!(text.contains("imvault_last_success_timestamp_seconds{library=\"A\\\"B\"} 1.5\n"));
        assert!(
            text.contains("imvault_job_duration_seconds_bucket{kind=\"backup\",le=\"10\"} 0\n")
        );
        assert!(
            text.contains("imvault_job_duration_seconds_bucket{kind=\"backup\",le=\"60\"} 1\n")
        );
        assert!(text.contains("imvault_job_duration_seconds_count{kind=\"backup\"} 1\n"));
    }
}
